#!/usr/bin/env bash
# timeout: 420
#
# freeze / freeze_wait / thaw on the real kernel:
#   A. I/O outside a frozen range completes while it is frozen (it would not
#      if the whole device were held); I/O inside completes only after thaw,
#      with the right data; status lists the freeze.
#   B. freeze -> drained -> map_set -> thaw: the held write lands at the NEW
#      place, map_set needs no drain of its own.
#   C. overlapping and adjacent freezes: a bio is released only when no
#      freeze covers its extent any more.
#   D. drain: freeze_wait returns only after a slow write in flight (dm-delay)
#      completed.
#   E. a freeze thaws itself after its timeout and says so in the log.
#   F. noflush suspend keeps the freeze (held write requeued, held again
#      after resume); a normal suspend ends it, fails the held write and
#      fences the volume (the freeze's owner was changing the map).
#   G. @stats_create during a freeze returns once the freeze times out.
#   H. 300 concurrent single-extent freezes, thawed in random order.
#   I. bad input: errors, nothing changes.
#   J. removing a device with a freeze in place (no I/O held).
source "$CVOL_ROOT/tests/vm/lib.sh"
source "$CVOL_ROOT/tests/vm/lib/remap.bash"

load_cvol
modprobe dm_delay
N0=$(mk_nullb 64)
N1=$(mk_nullb 64)
W=/tmp/hf
mkdir -p $W
E=128		# 64 KiB extents
EB=$((E * 512))
PDEV=("$N0" "$N1")

check "create v: 16 extents on slot 0, slot 1 free" -- dmsetup create v --table \
	"0 $((16 * E)) cvol hf-v $E 2 $N0 0 $N1 0 3 map_runs 1 0:0:0:16"
head -c $((16 * EB)) /dev/urandom >$W/v.bin
check "fill v" -- dd if=$W/v.bin of=/dev/mapper/v bs=64k oflag=direct status=none
head -c 4096 /dev/urandom >$W/p

wr_ext() { dd if=$W/p of=/dev/mapper/v bs=4k seek=$(($1 * EB / 4096)) oflag=direct status=none; }
rd_ext() { dd if=/dev/mapper/v of=/dev/null bs=4k skip=$(($1 * EB / 4096)) count=1 iflag=direct status=none; }
first4k_is_p() { # SLOT PEXT
	cmp -s $W/p <(dd if="${PDEV[$1]}" bs=4k skip=$(($2 * EB / 4096)) count=1 iflag=direct status=none)
}
freezes() { dmsetup status "$1" | awk '{ print $7 }'; }
info_tail() { dmsetup status "$1" | cut -d' ' -f7-; }

# --- A ---
id=$(msg v freeze 4 2)
assert_eq "A: freeze returns id 1" 1 "$id"
assert_eq "A: freeze_wait says drained" drained "$(msg v freeze_wait "$id" 5000)"
assert_eq "A: status lists the drained freeze" "1 1:4:2:drained 0" "$(info_tail v | cut -d' ' -f1-3)"
bg wA wr_ext 5
bg rA rd_ext 4
t0=$(now_ns)
for x in 0 3 6 15; do
	check "A: write to extent $x (outside) completes while 4-5 are frozen" -- \
		timeout 10 dd if=$W/p of=/dev/mapper/v bs=4k seek=$((x * EB / 4096)) oflag=direct status=none
	check "A: read of extent $x completes" -- \
		timeout 10 dd if=/dev/mapper/v of=/dev/null bs=4k skip=$((x * EB / 4096)) count=1 iflag=direct status=none
done
plan_note "A: 8 outside I/Os took $(ms_since $t0) ms"
sleep 1
check_fail "A: the write to extent 5 is still held" -- done_ wA
check_fail "A: the read of extent 4 is still held" -- done_ rA
check "A: thaw" -- msg v thaw "$id"
check "A: the held write completes after thaw" -- wait_job wA 10
check "A: the held read completes after thaw" -- wait_job rA 10
assert_eq "A: both succeeded" "0 0" "$(rc_of wA) $(rc_of rA)"
check "A: the write landed at slot 0 pext 5" -- first4k_is_p 0 5
assert_eq "A: no freeze left" 0 "$(freezes v)"
check_fail "A: thaw of a thawed freeze fails" -- msg v thaw "$id"

# --- B ---
dd if=$N0 of=$N1 bs=$EB skip=7 seek=3 count=1 iflag=direct oflag=direct status=none
id=$(msg v freeze 7 1)
check "B: drained" -- msg v freeze_wait "$id" 5000
bg wB wr_ext 7
sleep 0.5
g=$(status_gen v)
t0=$(now_ns)
assert_eq "B: map_set of the frozen extent" "$((g + 1))" "$(msg v map_set "$g" 7:1:3)"
plan_note "B: map_set on a drained freeze took $(ms_since $t0) ms (dmsetup included)"
check_fail "B: the write is still held after map_set" -- done_ wB
check "B: thaw" -- msg v thaw "$id"
check "B: the held write completes" -- wait_job wB 10
check "B: it landed at the NEW place (slot 1 pext 3)" -- first4k_is_p 1 3
check_fail "B: not at the old place (slot 0 pext 7)" -- first4k_is_p 0 7

# --- C ---
a=$(msg v freeze 8 4)
b=$(msg v freeze 10 4)
c=$(msg v freeze 14 2)
for i in $a $b $c; do msg v freeze_wait "$i" 5000 >/dev/null; done
assert_eq "C: three freezes listed" "3 $a:8:4:drained $b:10:4:drained $c:14:2:drained" "$(info_tail v | cut -d' ' -f1-4)"
bg c9 wr_ext 9
bg c11 wr_ext 11
bg c13 wr_ext 13
bg c14 wr_ext 14
sleep 1
check "C: thaw the first (8-11)" -- msg v thaw "$a"
check "C: extent 9 (only under the first) is released" -- wait_job c9 10
sleep 0.5
check_fail "C: extent 11 (also under the second) is still held" -- done_ c11
check_fail "C: extent 13 still held" -- done_ c13
check_fail "C: extent 14 (adjacent freeze) still held" -- done_ c14
check "C: thaw the second (10-13)" -- msg v thaw "$b"
check "C: extent 11 released" -- wait_job c11 10
check "C: extent 13 released" -- wait_job c13 10
sleep 0.5
check_fail "C: extent 14 still held" -- done_ c14
check "C: thaw the third" -- msg v thaw "$c"
check "C: extent 14 released" -- wait_job c14 10
assert_eq "C: all writes succeeded" "0 0 0 0" "$(rc_of c9) $(rc_of c11) $(rc_of c13) $(rc_of c14)"

# --- D: drain waits for a slow write in flight ---
check "D: dm-delay over $N1 (2000 ms writes)" -- \
	dmsetup create slow --table "0 $(dev_sectors "$N1") delay $N1 0 0 $N1 0 2000"
check "D: volume s, 4 extents on the delayed device" -- dmsetup create s --table \
	"0 $((4 * E)) cvol hf-s $E 1 /dev/mapper/slow 0 3 map_runs 1 0:0:0:4"
bg dW dd if=$W/p of=/dev/mapper/s bs=4k seek=$((2 * EB / 4096)) oflag=direct status=none
sleep 0.3
t0=$(now_ns)
id=$(msg s freeze 2 1)
assert_eq "D: just after freeze it is draining" "1 $id:2:1:draining" "$(info_tail s | cut -d' ' -f1-2)"
check "D: freeze_wait" -- msg s freeze_wait "$id" 10000
DR=$(ms_since $t0)
check "D: the slow write had completed when the drain was reported" -- done_ dW
[ "$DR" -ge 1200 ] && ok "D: drain took $DR ms (write needed ~1700 ms more)" || fail "D: drained after $DR ms, before the slow write could finish"
check_fail "D: freeze_wait with a 1 ms timeout on a draining freeze fails" -- \
	bash -c "dd if=$W/p of=/dev/mapper/s bs=4k seek=$((3 * EB / 4096)) oflag=direct status=none & sleep 0.3; i=\$(dmsetup message s 0 freeze 3 1); dmsetup message s 0 freeze_wait \$i 1; rc=\$?; dmsetup message s 0 thaw \$i; wait; exit \$rc"
check "D: thaw" -- msg s thaw "$id"

# --- E: timeout ---
kmsg_mark timeout
id=$(msg v freeze 2 1 1500)
bg wE wr_ext 2
t0=$(now_ns)
check "E: the held write completes by itself" -- wait_job wE 15
TE=$(ms_since $t0)
[ "$TE" -ge 1000 ] && ok "E: released after $TE ms (timeout 1500)" || fail "E: released after $TE ms, before the 1500 ms timeout"
assert_eq "E: the write succeeded" 0 "$(rc_of wE)"
assert_eq "E: the freeze is gone" 0 "$(freezes v)"
assert_match "E: the timeout is logged" "cvol: hf-v: freeze $id of extents 2\+1 timed out; thawed" "$(kmsg_since_mark)"
check_fail "E: thaw after the timeout fails (no such freeze)" -- msg v thaw "$id"

# --- F: suspend ---
id=$(msg v freeze 1 1)
msg v freeze_wait "$id" 5000 >/dev/null
bg wF wr_ext 1
sleep 0.5
check "F: noflush suspend with a held write" -- timeout 20 dmsetup suspend --noflush v
check "F: resume" -- dmsetup resume v
sleep 1
check_fail "F: after a noflush suspend the write is held again" -- done_ wF
assert_eq "F: and the freeze is still there" 1 "$(freezes v)"
check "F: normal suspend with a held write returns" -- timeout 20 dmsetup suspend v
check "F: the write has ended" -- wait_job wF 10
check "F: resume" -- dmsetup resume v
check_fail "F: ... with an error: it must not run on the map the freeze's owner was changing" -- \
	test "$(rc_of wF)" = 0
assert_eq "F: a normal suspend ended the freeze" 0 "$(freezes v)"
assert_eq "F: and fenced the volume" fenced "$(dmsetup status v | awk '{ print $NF }')"
check_fail "F: thaw of the broken freeze fails" -- msg v thaw "$id"
bg wF2 wr_ext 1
sleep 0.5
check_fail "F: new I/O is held until unfence" -- done_ wF2
check "F: unfence 1" -- msg v unfence 1
check "F: the write completes" -- wait_job wF2 10
assert_eq "F: successfully" 0 "$(rc_of wF2)"

# --- G: @stats_create during a freeze ---
id=$(msg v freeze 3 1 3000)
bg wG wr_ext 3
sleep 0.3
t0=$(now_ns)
check "G: @stats_create during a freeze returns" -- timeout 60 dmsetup message v 0 @stats_create - /1
TG=$(ms_since $t0)
[ "$TG" -lt 20000 ] && ok "G: it took $TG ms (freeze timeout 3000 ms)" || fail "G: @stats_create took $TG ms"
check "G: the held write completed" -- wait_job wG 10
check "G: @stats_delete" -- dmsetup message v 0 @stats_delete 0

# --- H: many freezes ---
check "H: create h (400 extents)" -- dmsetup create h --table \
	"0 $((400 * E)) cvol hf-h $E 1 $N1 0 3 map_runs 1 0:0:100:400"
ids=()
for ((x = 0; x < 300; x++)); do ids+=("$(msg h freeze $x 1 600000)"); done
assert_eq "H: 300 freezes" 300 "$(freezes h)"
sleep 1
n=$(dmsetup status h | tr ' ' '\n' | grep -c ':drained$' || true)
assert_eq "H: all drained" 300 "$n"
for i in $(printf '%s\n' "${ids[@]}" | shuf); do msg h thaw "$i"; done
assert_eq "H: none left" 0 "$(freezes h)"
check "H: I/O to every frozen extent works again" -- dd if=/dev/mapper/h of=/dev/null bs=$EB count=300 iflag=direct status=none

# --- I: bad input ---
ST=$(dmsetup status v)
for m in "freeze 16 1" "freeze 15 2" "freeze 0 0" "freeze 0 1 0" "freeze 0 1 3600001" \
	"freeze x 1" "freeze 0" "freeze 0 1 10 10" "freeze_wait 1" "freeze_wait 99 100" \
	"freeze_wait 1 0" "thaw" "thaw 99" "thaw -1" "stats 0 17" "stats 0 1 clearx" \
	"dev_stats now" "lease" "lease 3600001" "lease 10 maybe" "unfence" "fence now" \
	"events_seq 1"; do
	# shellcheck disable=SC2086
	check_fail "I: '$m' is refused" -- msg v $m
done
assert_eq "I: status unchanged" "$ST" "$(dmsetup status v)"

# --- J: remove with a freeze in place ---
id=$(msg s freeze 0 4)
check "J: remove a device that has a freeze (no I/O held)" -- dmsetup remove s
check "J: remove the rest" -- dmsetup remove v h slow

assert_no_kernel_warning
finish
