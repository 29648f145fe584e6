#!/usr/bin/env bash
# timeout: 200
#
# Device health must reflect real device errors only. Since the target
# declares DM_TARGET_NOWAIT, io_uring submits REQ_NOWAIT bios; a device
# that is momentarily out of tags completes such a bio with BLK_STS_AGAIN
# (would block), which io_uring retries transparently: the application sees
# no error, and the device has none. The status health character of that
# device must stay 'A'.
#
# The device: a null_blk with ONE tag (hw_queue_depth 1) and timer
# completion after 200 us, so that 128 requests in flight exhaust its tags
# for sure. Control first: the same load with libaio (no REQ_NOWAIT). Then
# the same device as a migration's destination (dual-writes).
source "$CVOL_ROOT/tests/vm/lib.sh"
source "$CVOL_ROOT/tests/vm/lib/migrate.bash"

load_cvol
mk_nullb 1 >/dev/null # loads null_blk + configfs the harness's way
i=0
while [ -e /sys/kernel/config/nullb/nullb$i ] || [ -e /dev/nullb$i ]; do i=$((i + 1)); done
d=/sys/kernel/config/nullb/nullb$i
mkdir "$d"
echo 256 >"$d/size"
echo 1 >"$d/memory_backed"
echo 1 >"$d/hw_queue_depth"
echo 2 >"$d/irqmode"
echo 200000 >"$d/completion_nsec"
echo 1 >"$d/power"
NB=/dev/nullb$i
for _ in $(seq 50); do [ -b "$NB" ] && break; sleep 0.1; done
check "null_blk with one tag: $NB" -- test -b "$NB"
check "create a cvol volume on it" -- \
	dmsetup create v --table "0 262144 cvol nw-vol 128 1 $NB 0 3 map_runs 1 0:0:0:2048"

load() { # ENGINE
	fio --name=nw --filename=/dev/mapper/v --ioengine="$1" --iodepth=128 --direct=1 \
		--rw=randwrite --bs=4k --size=64M --io_size=4M --output="$CVOL_OUT/fio-$1.txt"
}
check "libaio, iodepth 128: fio succeeds" -- load libaio
assert_match "libaio: fio reports no error" 'err= *0' "$(cat "$CVOL_OUT/fio-libaio.txt")"
assert_eq "libaio: health stays A" "0 2048/2048 A" "$(dmsetup status v | cut -d' ' -f4-6)"
check "io_uring, iodepth 128: fio succeeds" -- load io_uring
assert_match "io_uring: fio reports no error" 'err= *0' "$(cat "$CVOL_OUT/fio-io_uring.txt")"
assert_eq "io_uring: health stays A (BLK_STS_AGAIN is not a device error)" "0 2048/2048 A" \
	"$(dmsetup status v | cut -d' ' -f4-6)"

# During a migration every write to a copied region is cloned to the
# destination. A REQ_NOWAIT clone that finds the one-tag device busy would
# come back "would block", which is no destination error either; the
# write must be retried without REQ_NOWAIT instead (io_uring does that).
N0=$(mk_nullb 64)
check "create m: 4 extents of 1 MiB on $N0; slot 1 the one-tag device" -- dmsetup create m --table \
	"0 8192 cvol nw-mig 2048 2 $N0 0 $NB 0 3 map_runs 1 0:0:0:4"
check "migrate extent 0 to the one-tag device, follow (every write is dual)" -- \
	msg m migrate_start 0 1 10 follow
mload() {
	fio --name=nwm --filename=/dev/mapper/m --ioengine=io_uring --iodepth=32 --direct=1 \
		--rw=randwrite --bs=4k --size=1M --io_size=8M --output="$CVOL_OUT/fio-mig.txt"
}
check "io_uring, iodepth 32, writes to the migrating extent: fio succeeds" -- mload
assert_match "migration: fio reports no error" 'err= *0' "$(cat "$CVOL_OUT/fio-mig.txt")"
assert_eq "migration: health stays AA (a would-block clone is no destination error)" AA "$(health m)"
assert_eq "migration: no errors counted" 0 "$(mig_of m 0 | awk '{ print $4 }')"
check "abort" -- msg m migrate_abort 0
check "remove" -- dmsetup remove v m
assert_no_kernel_warning
finish
