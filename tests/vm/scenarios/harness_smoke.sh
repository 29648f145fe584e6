#!/usr/bin/env bash
# timeout: 240
#
# Proves the VM harness without the cvol module: block devices (null_blk,
# loop), stock device-mapper targets (linear, flakey, delay) through dmsetup
# without udev, and data verification with dd and fio (O_DIRECT, crc32c).
source "$CVOL_ROOT/tests/vm/lib.sh"

plan_note "kernel $(uname -r), $(nproc) CPUs"
check "dm_mod loaded, /dev/mapper/control exists" -- test -c /dev/mapper/control
check "/proc works for dmsetup (version)" -- dmsetup version

nb=$(mk_nullb 64 4096)
assert_match "mk_nullb gives a null_blk device" '^/dev/nullb[0-9]+$' "$nb"
assert_eq "null_blk is 64 MiB" 131072 "$(dev_sectors "$nb")"
assert_eq "null_blk has 4 KiB logical blocks" 4096 "$(blockdev --getss "$nb")"

lo=$(mk_loop 64)
assert_match "mk_loop gives a loop device" '^/dev/loop[0-9]+$' "$lo"
assert_eq "loop device is 64 MiB" 131072 "$(dev_sectors "$lo")"

# dm-linear concatenating both: 128 MiB, the seam at 64 MiB.
kmsg_mark "linear"
check "create dm-linear over null_blk + loop" -- dmsetup create smoke_lin --table \
	"0 131072 linear $nb 0
131072 131072 linear $lo 0"
check "/dev/mapper node made without udev" -- test -b /dev/mapper/smoke_lin
assert_eq "dm-linear is 128 MiB" 262144 "$(dev_sectors /dev/mapper/smoke_lin)"
assert_match "dmsetup table shows both legs" '^131072 131072 linear' \
	"$(dmsetup table smoke_lin)"

# dd across the seam, read back through the loop device underneath.
head -c 1M /dev/urandom >/tmp/pattern
check "dd write across the seam" -- dd if=/tmp/pattern of=/dev/mapper/smoke_lin \
	bs=64k seek=1016 oflag=direct status=none
check "read back through dm-linear" -- cmp -n 1048576 /tmp/pattern \
	<(dd if=/dev/mapper/smoke_lin bs=64k skip=1016 count=16 iflag=direct status=none)
check "second half landed on the loop device" -- cmp -n 524288 \
	<(tail -c 524288 /tmp/pattern) <(dd if="$lo" bs=64k count=8 iflag=direct status=none)

check "fio crc32c verify over dm-linear (O_DIRECT, libaio)" -- fio --name=smoke \
	--filename=/dev/mapper/smoke_lin --ioengine=libaio --direct=1 --rw=randwrite \
	--bs=4k --iodepth=8 --size=16M --offset=56M --verify=crc32c --do_verify=1 \
	--verify_fatal=1 --output="$CVOL_OUT/fio-linear.txt"
assert_match "fio reported no errors" 'err= *0' "$(cat "$CVOL_OUT/fio-linear.txt")"
assert_no_kernel_warning "no kernel warnings from the linear steps" --since-mark
check "remove dm-linear" -- dmsetup remove smoke_lin

# Fault targets of the stock kernel, used by the later cvol fault tests.
size=$(dev_sectors "$nb")
check "create dm-flakey (up 5s, down 1s)" -- dmsetup create smoke_flakey --table \
	"0 $size flakey $nb 0 5 1"
assert_match "dm-flakey table loaded" 'flakey' "$(dmsetup table smoke_flakey)"
check "create dm-delay (20 ms)" -- dmsetup create smoke_delay --table \
	"0 $size delay $lo 0 20"
check "I/O through dm-delay" -- dd if=/dev/mapper/smoke_delay of=/dev/null bs=4k \
	count=4 iflag=direct status=none
check "dm-error rejects I/O" -- dmsetup create smoke_err --table "0 8 error"
check_fail "read from dm-error fails" -- dd if=/dev/mapper/smoke_err of=/dev/null \
	bs=4k count=1 iflag=direct status=none

check "remove all dm devices" -- dmsetup remove_all
assert_no_kernel_warning
finish
