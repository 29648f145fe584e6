#!/usr/bin/env bash
# Builds the test VM's initramfs and prints its path.
#
#   tests/vm/mkinitramfs.sh [KERNEL_RELEASE]     (default: scripts/kver.sh)
#
# Contents: static busybox, tests/vm/init as /init, and the virtio + 9p
# modules of that kernel, with /modules.list giving a dependency-sorted load
# order (computed with `modinfo -F depends`, so a different kernel still gets a
# correct order). The result is cached under tests/vm/.cache/, keyed by the
# kernel release and a hash of everything that goes in, so it is rebuilt when
# the kernel, the init script, this script or busybox change.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
krel=${1:-$("$root/scripts/kver.sh")}
cache=$here/.cache
init=$here/init
moddir=/lib/modules/$krel

# The modules the init needs; their dependencies are added automatically.
roots=(virtio_pci 9pnet_virtio 9p)

die() { echo "mkinitramfs: $*" >&2; exit 1; }

find_busybox() {
	local b
	for b in /bin/busybox /usr/bin/busybox; do
		if [ -x "$b" ] && file -L "$b" 2>/dev/null | grep -q 'statically linked'; then
			echo "$b"
			return
		fi
	done
	die "no static busybox (apt-get install busybox-static)"
}

# Prints "name<TAB>file" for every module needed, dependencies first.
# modinfo reports "(builtin)" for built-in modules: those need no loading.
declare -A seen=()
tmp=
resolve() {
	local m=${1//-/_} file deps d
	[ -n "${seen[$m]:-}" ] && return
	seen[$m]=1
	file=$(modinfo -k "$krel" -F filename "$m" 2>/dev/null) ||
		die "module $m not found for kernel $krel"
	[ "$file" = "(builtin)" ] && return
	deps=$(modinfo -k "$krel" -F depends "$m")
	for d in ${deps//,/ }; do
		resolve "$d"
	done
	printf '%s\t%s\n' "$m" "$file"
}

# Copies a module into the image, decompressing .ko.{xz,zst,gz} because
# busybox insmod only takes plain ELF.
copy_module() {
	local name=$1 file=$2 dst=$3/lib/modules/$1.ko
	case "$file" in
	*.ko) cp "$file" "$dst" ;;
	*.ko.xz) xz -dc "$file" >"$dst" ;;
	*.ko.zst) zstd -qdc "$file" >"$dst" ;;
	*.ko.gz) gzip -dc "$file" >"$dst" ;;
	*) die "unknown module format: $file" ;;
	esac
}

main() {
	[ -d "$moddir" ] || die "no $moddir (kernel $krel not installed?)"
	local busybox mods key out name file
	busybox=$(find_busybox)
	mods=$(for m in "${roots[@]}"; do resolve "$m"; done)

	key=$( {
		echo "$krel"
		cat "$init" "${BASH_SOURCE[0]}"
		sha256sum "$busybox"
		cut -f2 <<<"$mods" | xargs sha256sum
	} | sha256sum | cut -c1-16)
	out=$cache/initramfs-$krel-$key.cpio.gz
	if [ -s "$out" ]; then
		echo "$out"
		return
	fi

	mkdir -p "$cache"
	tmp=$(mktemp -d "$cache/build.XXXXXX")
	trap 'rm -rf "$tmp" "$tmp.img"' EXIT
	mkdir -p "$tmp"/{bin,dev,proc,sys,newroot,lib/modules}
	cp "$busybox" "$tmp/bin/busybox"
	ln -s busybox "$tmp/bin/sh" # for /init's #!/bin/sh; init installs the rest
	install -m 755 "$init" "$tmp/init"
	while IFS=$'\t' read -r name file; do
		copy_module "$name" "$file" "$tmp"
		echo "$name" >>"$tmp/modules.list"
	done <<<"$mods"

	(cd "$tmp" && find . -print0 | LC_ALL=C sort -z |
		cpio --null -o -H newc --quiet --owner 0:0) | gzip -9 >"$tmp.img"
	# Old images for other keys are stale: drop them. mv is atomic, so a
	# concurrent run sees either no image or a complete one.
	rm -f "$cache"/initramfs-"$krel"-*.cpio.gz
	mv "$tmp.img" "$out"
	echo "mkinitramfs: built $out (modules: $(tr '\n' ' ' <"$tmp/modules.list"))" >&2
	echo "$out"
}

main
