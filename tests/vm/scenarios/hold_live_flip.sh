# Live map_set under load: 16 extents have two identical physical copies,
# two fio jobs read the volume at QD16 while extents are flipped between the
# copies as fast as dmsetup allows. Every flip holds, drains and releases
# bios that are in flight right then. Asserts: no I/O error, every flip
# bumped the generation, the data read back is unchanged, no kernel warning.
# timeout: 240
source "$CVOL_ROOT/tests/vm/lib.sh"
load_cvol
cd /tmp
a=$(mk_nullb 256)
# 16 extents of 1 MiB at pext 0..15; identical copy at pext 100..115
dd if=/dev/urandom of=$a bs=1M count=16 oflag=direct status=none
dd if=$a of=$a bs=1M count=16 seek=100 iflag=direct oflag=direct status=none
dmsetup create v1 --table "0 32768 cvol vol1 2048 1 $a 0 3 map_runs 1 0:0:0:16"
md5=$(md5sum < /dev/mapper/v1)
fio --name=r --filename=/dev/mapper/v1 --rw=randrw --rwmixwrite=0 --bs=4k --iodepth=16 --ioengine=libaio --direct=1 --time_based --runtime=25 --numjobs=2 --group_reporting --output=$CVOL_OUT/fio.txt &
fpid=$!
g=0; n=0; t0=$(date +%s%N)
while kill -0 $fpid 2>/dev/null; do
  v=$((RANDOM % 16))
  cur=$(dmsetup message v1 0 map_get $v 1 | cut -d: -f3)
  if [ "$cur" -ge 100 ]; then p=$v; else p=$((v+100)); fi
  g=$(dmsetup message v1 0 map_set $g $v:0:$p) || { fail "map_set $v"; break; }
  n=$((n+1))
done
t1=$(date +%s%N)
wait $fpid && ok "fio ok" || fail "fio errors"
grep -E "err=|iops" $CVOL_OUT/fio.txt | head -5
echo "map_sets=$n gen=$g avg_us=$(( (t1-t0)/1000/n ))"
[ "$n" -ge 10 ] && ok "$n live flips during the load" || fail "only $n flips"
assert_eq "gen" "$n" "$g"
assert_eq "data" "$md5" "$(md5sum < /dev/mapper/v1)"
dmsetup status v1
dmsetup remove v1

# The drain really waits for in-flight writes, and a write that arrives
# during the hold lands at the NEW location. Writes to the backing device
# take 2 s (dm-delay), so the order of events is wide apart even under TCG.
b=$(mk_nullb 64)
dmsetup create slow --table "0 $(dev_sectors "$b") delay $b 0 0 $b 0 2000"
dmsetup create v2 --table "0 8192 cvol vol2 2048 1 /dev/mapper/slow 0 3 map_runs 1 0:0:0:4"
head -c 4096 /dev/urandom >/tmp/A; head -c 4096 /dev/urandom >/tmp/B
dd if=/tmp/A of=/dev/mapper/v2 bs=4k count=1 oflag=direct status=none &
wa=$!
sleep 0.5					# A is now in flight, at pext 0
t0=$(date +%s%N)
dmsetup message v2 0 map_set 0 0:0:9 >/tmp/gen &
ms=$!
sleep 0.5					# the hold is up, waiting for A
dd if=/tmp/B of=/dev/mapper/v2 bs=4k count=1 seek=1 oflag=direct status=none &
wb=$!
wait $ms; t1=$(date +%s%N)
wait $wa; wait $wb
assert_eq "map_set returned generation 1" 1 "$(cat /tmp/gen)"
took=$(( (t1 - t0) / 1000000 ))
echo "map_set took $took ms with a 2 s write in flight"
[ "$took" -ge 1000 ] && ok "map_set waited for the in-flight write to drain" ||
	fail "map_set returned after $took ms: it did not wait for the in-flight write"
# pext 0 is at sector 0 of b, pext 9 at sector 9*2048.
check "A, in flight before the hold, landed at the old location" -- \
	cmp -n 4096 /tmp/A "$b"
check "B, issued during the hold, landed at the new location" -- \
	cmp -n 4096 /tmp/B <(dd if="$b" bs=4k skip=$((9 * 256 + 1)) count=1 iflag=direct status=none)
check "B did not touch the old location" -- \
	cmp -s <(head -c 4096 /dev/zero) <(dd if="$b" bs=4k skip=1 count=1 iflag=direct status=none)
dmsetup remove v2 slow
assert_no_kernel_warning
finish
