#!/usr/bin/env bash
# timeout: 240
#
# What map_set promises about I/O in flight and I/O arriving meanwhile, made
# observable with dm-delay (every bio to slot 0 takes DELAY ms):
#   1. drain: a map_set of a mapped extent returns only after the I/O that
#      was in flight when it started has completed (it takes about as long
#      as the slow read still needs; without I/O it takes ~0.2 s);
#   2. hold: a write to the moving extent issued while map_set drains is
#      parked and then goes to the NEW location; the old location never sees
#      it;
#   3. timeout: with freeze_timeout_ms 500 and a read stuck longer, map_set
#      fails after ~0.5 s, the map and generation are unchanged, the reason
#      is logged, a write parked meanwhile goes to the OLD (unchanged)
#      location, and a later map_set succeeds;
#   4. dm suspend issued while a map_set drains and a write is parked
#      completes (no deadlock): the suspend cancels the drain (EAGAIN, map
#      unchanged) and the parked write lands at the old place.
source "$CVOL_ROOT/tests/vm/lib.sh"
source "$CVOL_ROOT/tests/vm/lib/remap.bash"

load_cvol
modprobe dm_delay
N0=$(mk_nullb 64)
N1=$(mk_nullb 64)
W=/tmp/dh
mkdir -p $W
DELAY=3000
check "dm-delay over $N0 (${DELAY} ms on every bio)" -- \
	dmsetup create slow --table "0 $(dev_sectors "$N0") delay $N0 0 $DELAY"
SLOW=/dev/mapper/slow
E=128
EB=$((E * 512))
PDEV=("$N0" "$N1") # slot 0 is $SLOW, whose data are on $N0 at the same sectors

# Volume X: 16 extents, 0..7 on slot 0 (slow) pext 0..7, 8..15 on slot 1.
check "create X" -- dmsetup create x --table \
	"0 $((16 * E)) cvol dh-x $E 2 $SLOW 0 $N1 0 4 map_runs 2 0:0:0:8 8:1:0:8"
# Volume Y: 4 extents on pext 100.., freeze_timeout_ms 500.
check "create Y (freeze_timeout_ms 500)" -- dmsetup create y --table \
	"0 $((4 * E)) cvol dh-y $E 2 $SLOW 0 $N1 0 6 map_runs 2 0:0:100:2 2:1:100:2 freeze_timeout_ms 500"
head -c $((16 * EB)) /dev/urandom >$W/x.bin
head -c $((4 * EB)) /dev/urandom >$W/y.bin
check "fill X (through the delay)" -- dd if=$W/x.bin of=/dev/mapper/x bs=1M oflag=direct status=none
check "fill Y" -- dd if=$W/y.bin of=/dev/mapper/y bs=256k oflag=direct status=none
head -c 4096 /dev/urandom >$W/p

# ext_equals SLOT PEXT FILE K: the extent at SLOT:PEXT (read below the
# delay) equals extent K of FILE.
ext_equals() {
	cmp -s <(dd if="${PDEV[$1]}" bs=$EB skip="$2" count=1 iflag=direct status=none) \
		<(dd if="$3" bs=$EB skip="$4" count=1 status=none)
}
copy_phys() { # SLOT PEXT SLOT2 PEXT2
	dd if="${PDEV[$1]}" of="${PDEV[$3]}" bs=$EB skip="$2" seek="$4" count=1 iflag=direct oflag=direct status=none
}
first4k_is_p() { # SLOT PEXT
	cmp -s $W/p <(dd if="${PDEV[$1]}" bs=4k skip=$(($2 * EB / 4096)) count=1 iflag=direct status=none)
}
slow_read() { dd if=/dev/mapper/$1 of=/dev/null bs=$EB skip="$2" count=1 iflag=direct status=none; }

# --- 0: baseline map_set time without I/O in flight ---
copy_phys 1 0 1 40
t0=$(now_ns)
check "baseline: map_set without I/O in flight" -- msg x map_set 0 "8:1:40"
BASE_MS=$(ms_since $t0)
plan_note "baseline map_set: $BASE_MS ms"

# --- 1: drain ---
copy_phys 0 1 1 20
bg_timed rd1 slow_read x 0
sleep 0.5
t0=$(now_ns)
r=$(msg x map_set 1 "1:1:20") && rc=0 || rc=$?
T1=$(ms_since $t0)
wait
plan_note "map_set with a slow read in flight: $T1 ms (read delay $DELAY ms)"
assert_eq "1: map_set succeeded, gen 2" "0 2" "$rc $r"
[ "$T1" -ge 1500 ] && ok "1: map_set waited for the read in flight ($T1 ms >= 1500)" ||
	fail "1: map_set returned after $T1 ms although a read was in flight for ~$((DELAY - 500)) ms more"
assert_eq "1: the slow read succeeded" 0 "$(rc_of rd1)"
check "1: extent 1 reads its data from the new place" -- \
	cmp <(dd if=/dev/mapper/x bs=$EB skip=1 count=1 iflag=direct status=none) \
	<(dd if=$W/x.bin bs=$EB skip=1 count=1 status=none)
check "1: ... which is slot 1 pext 20" -- ext_equals 1 20 $W/x.bin 1

# --- 2: a write during the drain is parked and goes to the new place ---
copy_phys 0 3 1 21
bg_timed rd2 slow_read x 2
sleep 0.5
MS_T0=$(now_ns)
bg_timed ms2 msg x map_set 2 "3:1:21"
sleep 0.7
W_T0=$(now_ns)
bg_timed wr2 dd if=$W/p of=/dev/mapper/x bs=4k seek=$((3 * EB / 4096)) oflag=direct status=none
wait
MS_END=$(job_end_ms ms2 "$MS_T0")
W_START=$(((W_T0 - MS_T0) / 1000000))
W_END=$(job_end_ms wr2 "$MS_T0")
plan_note "2: map_set 0..$MS_END ms, write issued at $W_START ms, done at $W_END ms"
assert_eq "2: map_set succeeded, gen 3" "0 3" "$(rc_of ms2) $(cat $W/ms2.out)"
assert_eq "2: the write succeeded" 0 "$(rc_of wr2)"
[ "$W_START" -lt "$MS_END" ] && ok "2: the write was issued while map_set was draining" ||
	fail "2: race window missed: write issued at $W_START ms, map_set done at $MS_END ms"
[ "$W_END" -ge "$((MS_END - 100))" ] && ok "2: the write completed only around/after the switch" ||
	fail "2: the write completed at $W_END ms, before map_set finished at $MS_END ms"
check "2: the write landed at the NEW place (slot 1 pext 21)" -- first4k_is_p 1 21
check_fail "2: the OLD place (slot 0 pext 3) did not get it" -- first4k_is_p 0 3
check "2: reading through X gives the written data" -- \
	cmp $W/p <(dd if=/dev/mapper/x bs=4k skip=$((3 * EB / 4096)) count=1 iflag=direct status=none)

# --- 3: timeout ---
copy_phys 0 101 1 110
bg_timed rd3 slow_read y 0
sleep 0.5
kmsg_mark "timeout"
MS_T0=$(now_ns)
bg_timed ms3 msg y map_set 0 "1:1:110"
sleep 0.2
bg_timed wr3 dd if=$W/p of=/dev/mapper/y bs=4k seek=$((1 * EB / 4096)) oflag=direct status=none
wait
T3=$(job_end_ms ms3 "$MS_T0")
plan_note "3: map_set with freeze_timeout_ms 500 returned after $T3 ms"
check_fail "3: map_set failed (in-flight read did not drain in 500 ms)" -- test "$(rc_of ms3)" = 0
[ "$T3" -ge 450 ] && [ "$T3" -lt "$((DELAY - 500))" ] && ok "3: it gave up after the timeout ($T3 ms)" ||
	fail "3: it returned after $T3 ms (timeout 500 ms, read needed ~$((DELAY - 500)) ms)"
assert_match "3: reason logged" 'cvol: dh-y: map_set: in-flight I/O did not drain in 500 ms; map unchanged' "$(kmsg_since_mark)"
assert_eq "3: generation unchanged" 0 "$(status_gen y)"
assert_eq "3: map unchanged" "0:0:100:2 2:1:100:2" "$(msg y map_get 0 4)"
assert_eq "3: the slow read succeeded" 0 "$(rc_of rd3)"
assert_eq "3: the write parked during the attempt succeeded" 0 "$(rc_of wr3)"
check "3: ... and went to the OLD place (slot 0 pext 101)" -- first4k_is_p 0 101
check_fail "3: ... not to the never-committed new place" -- first4k_is_p 1 110
check "3: a map_set now (nothing in flight) succeeds" -- msg y map_set 0 "3:-:0"
assert_eq "3: map after it" "0:0:100:2 2:1:100:1" "$(msg y map_get 0 4)"

# --- 4: dm suspend during a draining map_set with a parked write ---
copy_phys 0 5 1 22
bg_timed rd4 slow_read x 4
sleep 0.5
bg_timed ms4 msg x map_set 3 "5:1:22"
sleep 0.5
bg_timed wr4 dd if=$W/p of=/dev/mapper/x bs=4k seek=$((5 * EB / 4096)) oflag=direct status=none
sleep 0.2
t0=$(now_ns)
check "4: dmsetup suspend while map_set drains and a write is parked" -- timeout 30 dmsetup suspend x
SUS_MS=$(ms_since $t0)
check "4: resume" -- dmsetup resume x
wait
plan_note "4: suspend took $SUS_MS ms"
# The suspend cancels the drain (it waits under the lock the suspend needs):
# the map_set fails, the map is unchanged, the parked write runs on it.
check_fail "4: map_set failed (EAGAIN: a suspend began)" -- test "$(rc_of ms4)" = 0
assert_match "4: ... it says so" "Resource temporarily unavailable" "$(cat $W/ms4.out)"
assert_eq "4: read and write succeeded" "0 0" "$(rc_of rd4) $(rc_of wr4)"
assert_eq "4: gen 3 (unchanged)" 3 "$(status_gen x)"
check "4: the parked write landed at the old place" -- first4k_is_p 0 5
check_fail "4: not at the never-committed new place" -- first4k_is_p 1 22

# Same with a noflush suspend.
copy_phys 0 6 1 23
bg_timed rd5 slow_read x 7
sleep 0.5
bg_timed ms5 msg x map_set "$(status_gen x)" "6:1:23"
sleep 0.5
bg_timed wr5 dd if=$W/p of=/dev/mapper/x bs=4k seek=$((6 * EB / 4096)) oflag=direct status=none
sleep 0.2
check "4b: dmsetup suspend --noflush while map_set drains and a write is parked" -- timeout 30 dmsetup suspend --noflush x
check "4b: resume" -- dmsetup resume x
wait
check_fail "4b: map_set failed (EAGAIN)" -- test "$(rc_of ms5)" = 0
assert_eq "4b: read and write succeeded" "0 0" "$(rc_of rd5) $(rc_of wr5)"
check "4b: the parked write landed at the old place" -- first4k_is_p 0 6
check_fail "4b: not at the never-committed new place" -- first4k_is_p 1 23

assert_eq "X: status" "3 16/16 AA" "$(dmsetup status x | cut -d' ' -f4-6)"
check "remove" -- dmsetup remove x y slow
assert_no_kernel_warning
finish
