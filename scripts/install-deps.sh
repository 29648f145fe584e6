#!/usr/bin/env bash
# Installs every Debian package the build, the VM harness, the tests and the
# benchmarks need. Idempotent: a second run only checks.
set -euo pipefail

pkgs=(
	build-essential make cmake pkg-config bc flex bison libelf-dev
	linux-image-amd64 linux-headers-amd64 linux-source-6.1
	qemu-system-x86 busybox-static kmod cpio gzip
	dmsetup libdevmapper-dev
	libnl-3-dev libnl-genl-3-dev
	libboost-program-options-dev libboost-dev libabsl-dev
	libgtest-dev libgmock-dev
	fio e2fsprogs util-linux xxd python3 perl jq iproute2
	stress-ng lvm2
	etcd-server etcd-client curl libcurl4-openssl-dev nlohmann-json3-dev
	libssl-dev systemd
	clang libclang-rt-14-dev llvm
)

missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
		missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "install-deps: need root to install: ${missing[*]}" >&2
		exit 1
	fi
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# checkpatch.pl comes from the source tarball; unpack just the scripts once.
src=/usr/src/linux-source-6.1
if [ ! -x "$src/scripts/checkpatch.pl" ]; then
	tarball=$(ls /usr/src/linux-source-6.1.tar.* 2>/dev/null | head -n1)
	mkdir -p "$src"
	tar -C /usr/src -xf "$tarball" \
		linux-source-6.1/scripts linux-source-6.1/drivers/md \
		linux-source-6.1/include/linux/device-mapper.h 2>/dev/null ||
		tar -C /usr/src -xf "$tarball"
fi
