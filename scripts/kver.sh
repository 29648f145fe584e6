#!/usr/bin/env bash
# Prints the release of the Debian kernel image that the test VM boots: the
# newest /boot/vmlinuz-*-amd64 that has matching headers. Never the host's
# running kernel (the development hosts run a kernel we cannot load into).
set -euo pipefail
best=
for img in /boot/vmlinuz-*-amd64; do
	[ -e "$img" ] || continue
	rel=${img#/boot/vmlinuz-}
	[ -d "/lib/modules/$rel/build" ] || continue
	best=$rel
done
if [ -z "$best" ]; then
	echo "kver: no /boot/vmlinuz-*-amd64 with /lib/modules/<rel>/build; run scripts/install-deps.sh" >&2
	exit 1
fi
echo "$best"
