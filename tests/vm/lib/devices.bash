# shellcheck shell=bash
# devices.bash: backing block devices, helper dm devices, raw access and
# the final cleanup. Sourced by tests/vm/lib.sh (core); see
# tests/vm/lib/README.md. All of them return nonzero on error (under set -e
# that ends the scenario as a failure) unless said otherwise.
#
#   mk_loop SIZE_MIB        sparse file on /tmp (tmpfs) + loop device
#                           (--direct-io=on when the backing fs allows it);
#                           prints /dev/loopN
#   mk_nullb SIZE_MIB [BS]  memory-backed null_blk via configfs (discard on
#                           when supported, BS default 512); prints /dev/nullbN
#   dev_sectors DEV         size in 512-byte sectors (blockdev --getsz)
#   dm_reload [--flush] DM TABLE...
#                           load TABLE into helper dm device DM (delay,
#                           flakey, linear...) and swap it in: suspend
#                           --noflush (a plain suspend with --flush), resume
#   sysfs_dir DEV           /sys/dev/block/MAJ:MIN of a block device node
#                           (works for /dev/mapper nodes without udev)
#   dev_stat DEV FIELD      a field of its sysfs stat (1 reads, 5 writes
#                           completed, 16 flushes completed on 6.1)
#   flush_count DEV         completed flush requests ("none" if the kernel
#                           does not count them)
#   drop_cache DEV...       forget the page cache of block devices (writes
#                           through a dm device do not invalidate the cache of
#                           the devices below it: needed before a buffered
#                           read of a backing device)
#   raw_ext DEV PEXT EXT_SECTORS [OFFSET_SECTORS]
#                           the bytes of physical extent PEXT (O_DIRECT)
#   sum_region DEV START NR md5 of sectors [START, START+NR) (O_DIRECT)
#   is_zero DEV START NR    true if those sectors read as zeroes
#   fill_bytes BYTE LEN     LEN bytes of value BYTE (e.g. 0xa5) on stdout
#   cleanup_devices         kill leftover background jobs, remove all dm
#                           devices, loop devices, null_blk devices, and
#                           rmmod dm_cvol; each leftover is a TAP failure (a
#                           failed unload catches leaked references). Run by
#                           the EXIT trap.

[ -z "${_CVOL_LIB_DEVICES:-}" ] || return 0
_CVOL_LIB_DEVICES=1

mk_loop() {
	local size=${1:?usage: mk_loop SIZE_MIB} file dev
	modprobe loop 2>/dev/null || true
	file=$(mktemp /tmp/cvol-loop.XXXXXX.img) || return 1
	truncate -s "${size}M" "$file" || return 1
	# tmpfs on 6.1 has no O_DIRECT, so --direct-io=on fails there; fall back
	# to buffered loop (still page-cache-on-RAM, fine for correctness tests).
	dev=$(losetup -f --show --direct-io=on "$file" 2>/dev/null) ||
		dev=$(losetup -f --show "$file") || return 1
	echo "$dev"
}

_cvol_nullb_cfg=/sys/kernel/config/nullb
_cvol_configfs() {
	modprobe configfs 2>/dev/null || true
	if ! grep -q ' /sys/kernel/config configfs ' /proc/mounts; then
		mount -t configfs configfs /sys/kernel/config || return 1
	fi
}

mk_nullb() {
	local size=${1:?usage: mk_nullb SIZE_MIB [BLOCKSIZE]} bs=${2:-512} d i=0 name dev
	_cvol_configfs || return 1
	# nr_devices=0: only configfs-made devices, none of the 250 GB default one.
	if [ ! -d "$_cvol_nullb_cfg" ]; then
		modprobe null_blk nr_devices=0 || return 1
	fi
	# 6.1 names the disk after the configfs item (older kernels used
	# nullb<index>): call the item nullbN so both agree.
	while [ -e "$_cvol_nullb_cfg/nullb$i" ] || [ -e "/dev/nullb$i" ]; do
		i=$((i + 1))
	done
	name=nullb$i
	d=$_cvol_nullb_cfg/$name
	mkdir "$d" || return 1
	echo "$size" >"$d/size" || return 1
	echo "$bs" >"$d/blocksize" || return 1
	echo 1 >"$d/memory_backed" || return 1
	if [ -e "$d/discard" ]; then echo 1 >"$d/discard" || return 1; fi
	echo 1 >"$d/power" || return 1
	# devtmpfs creates the node during add_disk; allow a moment anyway.
	for _ in $(seq 50); do
		for dev in "/dev/$name" "/dev/nullb$(cat "$d/index")"; do
			if [ -b "$dev" ]; then
				echo "$dev"
				return 0
			fi
		done
		sleep 0.1
	done
	echo "mk_nullb: no block device for $d" >&2
	return 1
}

dev_sectors() { blockdev --getsz "${1:?usage: dev_sectors DEV}"; }

# A noflush suspend keeps bios that are held or in flight on the helper
# device (they are requeued, not failed), so a fault can be switched on and
# off under load.
dm_reload() {
	local suspend=(dmsetup suspend --noflush) dm
	if [ "$1" = --flush ]; then
		suspend=(dmsetup suspend)
		shift
	fi
	dm=$1
	shift
	dmsetup load "$dm" --table "$*" && "${suspend[@]}" "$dm" && dmsetup resume "$dm"
}

sysfs_dir() {
	local mm
	mm=$(stat -L -c '%t %T' "$1") || return 1
	set -- $mm
	echo "/sys/dev/block/$((16#$1)):$((16#$2))"
}

dev_stat() { awk -v f="$2" '{ print $f }' "$(sysfs_dir "$1")/stat"; }

flush_count() {
	awk '{ print ($16 == "" ? "none" : $16) }' "$(sysfs_dir "$1")/stat"
}

drop_cache() { blockdev --flushbufs "$@"; }

raw_ext() {
	dd if="$1" bs=512 skip=$((${4:-0} + $2 * $3)) count="$3" iflag=direct status=none
}

sum_region() {
	dd if="$1" bs=512 skip="$2" count="$3" iflag=direct status=none | md5sum | cut -d' ' -f1
}

is_zero() {
	cmp -s -n $(($3 * 512)) <(dd if="$1" bs=512 skip="$2" count="$3" iflag=direct status=none) /dev/zero
}

fill_bytes() { head -c "$2" /dev/zero | tr '\0' "\\$(printf '%03o' "$1")"; }

# Reports problems as TAP failures (a device that cannot be removed, or a
# module that cannot be unloaded, usually means a leaked reference).
cleanup_devices() {
	local pids left d f
	pids=$(jobs -p)
	if [ -n "$pids" ]; then
		kill $pids 2>/dev/null || true
		sleep 0.5
		kill -9 $pids 2>/dev/null || true
		wait 2>/dev/null || true
	fi
	if [ -c /dev/mapper/control ]; then
		dmsetup remove_all >/dev/null 2>&1 || dmsetup remove_all --force >/dev/null 2>&1 || true
		left=$(dmsetup ls 2>/dev/null | grep -v '^No devices found' || true)
		[ -z "$left" ] || { fail "cleanup: dm devices left: $(echo $left)"; }
	fi
	if [ -e /dev/loop-control ]; then
		losetup -D 2>/dev/null || true
		left=$(losetup -n -O NAME 2>/dev/null || true)
		[ -z "$left" ] || fail "cleanup: loop devices left: $(echo $left)"
	fi
	rm -f /tmp/cvol-loop.*.img
	if [ -d "$_cvol_nullb_cfg" ]; then
		for d in "$_cvol_nullb_cfg"/*/; do
			[ -d "$d" ] || continue
			echo 0 >"$d/power" 2>/dev/null || true
			rmdir "$d" 2>/dev/null || fail "cleanup: cannot remove null_blk $(basename "$d")"
		done
	fi
	if grep -q '^dm_cvol ' /proc/modules; then
		rmmod dm_cvol 2>/dev/null || fail "cleanup: rmmod dm_cvol failed (leaked reference?)"
	fi
	return 0
}
