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
# for sure. Control first: the same load with libaio (no REQ_NOWAIT).
source "$CVOL_ROOT/tests/vm/lib.sh"
source "$CVOL_ROOT/tests/vm/lib/remap.bash"

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
check "remove" -- dmsetup remove v
assert_no_kernel_warning
finish
