#!/usr/bin/env bash
# timeout: 600
#
# Cluster-wide migration on one guest: two cvol devices with different
# volume uuids over the SAME backing devices and the same map stand for two
# hosts. Host A copies (migrate_start), host B follows (migrate_start ...
# follow: dual-writes only). A follower's write can race A's copy of its
# region, so B reports the regions it wrote (migrate_dirty) and they are
# copied again under a freeze of the extent on both hosts, then both
# commit.
#
#   * Slot 0 (the source) of both = dA, dm-delay over null_blk NA. Slot 1
#     (the destination, null_blk NB) is reached by each host on its own
#     path, as on real hosts: A through dAd (dm-delay: slows A's copy
#     writes), B through dB (linear, flakey error_writes in part 3).
#     Volumes fa (uuid fa-vol) and fb (uuid fb-vol): 8 extents of 1 MiB on
#     slot 0, region_sectors 128 (16 regions). migrate_throttle 1 on fa.
#   1. Extent 1: B follows first: ready within seconds, 16/16 copied, no
#      read of the source. A copies with its destination writes delayed
#      8 s: a write through B to region 0 while A copies region 0 lands on
#      src and dst, then A's copy puts the old data back over it on dst
#      (the race, reproduced). Writes through B to regions A has copied
#      land on both src and dst; migrate_dirty on B lists exactly the
#      regions B wrote; on A it lists A's writes. Bad input (no migration,
#      vext out of range, junk words, migrate_start ... junk, migrate_recopy
#      with bad runs) fails and changes nothing. The cutover (freeze both,
#      `migrate_dirty clear` on B, `migrate_recopy` of B's regions on A,
#      which copies them in A's kernel and reports ready again, commit both,
#      thaw) repairs the race: both read B's write after the old place is
#      garbaged.
#   2. Extent 2, the cutover: fio (crc32c, O_DIRECT) writes one half of the
#      extent through A and the other through B in back-to-back runs; B
#      follows, then A copies (its destination writes delayed 300 ms, so
#      B's writes race the copies); at A's ready both freeze the extent and
#      wait for the drain, A's kernel copies B's dirty regions again
#      (migrate_recopy), src == dst, both commit and thaw. Both maps point at
#      dst; no fio error; verify-only passes through A and B are clean, and
#      again after the old source place is overwritten with garbage.
#   3. Extent 3, follower destination write error (dB flakey): the user
#      write succeeds, B counts it (status errors, health W, state stays
#      ready), the region is in migrate_dirty; B's own kernel copies it
#      again (migrate_recopy on a follow migration: copy, then ready), both
#      commit and the data is at the new place.
#   4. A dirty list larger than libdevmapper's first buffer (16384
#      regions, every other one written): the whole list arrives, `clear`
#      clears it, a later write shows; abort of a follow migration.
#   5. A fenced host writes nowhere, not even a recopy: fb follows extent 4
#      (its destination garbage), is fenced, is asked to recopy all of it:
#      accepted, but the copied count stays 0 and the destination's bytes
#      do not move for 2 s; after lease + unfence the copy runs, ready, and
#      the destination equals the source.
# job() prints fio arguments that are meant to be split into words.
# shellcheck disable=SC2046
source "$CVOL_ROOT/tests/vm/lib.sh"
source "$CVOL_ROOT/tests/vm/lib/migrate.bash"
source "$CVOL_ROOT/tests/vm/lib/fio.bash"
W=/tmp/mfw
mkdir -p $W

load_cvol
modprobe dm_delay
modprobe dm_flakey
NA=$(mk_nullb 16)
NB=$(mk_nullb 16)
S=$(dev_sectors "$NA")
E=2048
EB=$((E * 512))
RS=128
RB=$((RS * 512))
NV=8

# A's path to the destination: its writes delayed by $1 ms.
a_dst_delay() { dm_reload dAd "0 $S delay $NB 0 0 $NB 0 $1"; }
dB_up() { dm_reload dB "0 $S linear $NB 0"; }
dB_down() { dm_reload dB "0 $S flakey $NB 0 0 3600 1 error_writes"; }
# raw RAWDEV PEXT OFF LEN: LEN bytes at byte OFF of physical extent PEXT.
raw() { dd if="$1" bs=4096 skip=$((($2 * EB + $3) / 4096)) count=$(($4 / 4096)) iflag=direct status=none; }
# put DM OFF BYTE LEN: one O_DIRECT write of LEN bytes of BYTE at byte OFF.
put() { fill_bytes "$3" "$4" | dd of="/dev/mapper/$1" bs="$4" iflag=fullblock seek="$2" oflag=direct,seek_bytes status=none; }
# recopy DM VEXT DIRTY: DM's kernel copies the regions of a migrate_dirty
# answer again, as the daemon has the copier do at the cutover; waits for
# the migration to be ready again.
recopy() {
	local dm=$1 x=$2
	set -- $3
	shift 2
	[ $# -gt 0 ] || return 0
	msg "$dm" migrate_recopy "$x" "$@" >/dev/null || return 1
	wait_mig "$dm" "$x" ready 30 >/dev/null
}

check "create dA (delay 0) over NA, dAd (delay 0) and dB (linear) over NB" -- bash -c \
	"dmsetup create dA --table '0 $S delay $NA 0 0 $NA 0 0' && dmsetup create dAd --table '0 $S delay $NB 0 0 $NB 0 0' &&
	 dmsetup create dB --table '0 $S linear $NB 0'"
for h in a b; do
	p=dB
	[ $h = b ] || p=dAd
	check "create f$h (uuid f$h-vol): 8 extents on slot 0 (dA), slot 1 = $p, region_sectors $RS" -- dmsetup create f$h --table \
		"0 $((NV * E)) cvol f$h-vol $E 2 /dev/mapper/dA 0 /dev/mapper/$p 0 5 map_runs 1 0:0:0:$NV region_sectors $RS"
done
assert_eq "fa: migrate_throttle 1" "1 8" "$(msg fa migrate_throttle 1)"
check "fill the volume (through fa)" -- bash -c \
	"head -c $((NV * EB)) /dev/urandom >$W/init.bin && dd if=$W/init.bin of=/dev/mapper/fa bs=$EB oflag=direct status=none"

# --- 1 ---
r0=$(dev_stat /dev/mapper/dA 1)
t0=$(now_ns)
check "1: fb: migrate_start 1 1 0 follow" -- msg fb migrate_start 1 1 0 follow
r=$(wait_mig fb 1 ready 10) || true
ms=$(ms_since "$t0")
assert_eq "1: fb ready, 16/16 copied, no error" "ready 16 16 0" "$r"
[ "$ms" -lt 5000 ] && ok "1: fb ready after $ms ms" || fail "1: fb ready only after $ms ms"
assert_eq "1: fb read nothing from the source" "$r0" "$(dev_stat /dev/mapper/dA 1)"
assert_eq "1: fb: migrate_dirty 1 before any write" "$RS 16" "$(msg fb migrate_dirty 1)"
check "1: A's destination writes delayed 8 s" -- a_dst_delay 8000
t0=$(now_ns)
check "1: fa: migrate_start 1 1 0" -- msg fa migrate_start 1 1 0
r=$(wait_mig fa 1 copy 10) || fail "1: fa not copying: '$r'"
# The copy of region 0 has read the source; its write waits in dAd.
sleep 0.3
check "1: write 4 KiB through fb to region 0 while A copies it" -- put fb $((EB + 4096)) 0x99 4096
plan_note "1: fb's write completed $(ms_since "$t0") ms after fa's migrate_start"
check "1: it is on the source" -- cmp <(fill_bytes 0x99 4096) <(raw "$NA" 1 4096 4096)
check "1: it is on the destination (B's own path)" -- cmp <(fill_bytes 0x99 4096) <(raw "$NB" 0 4096 4096)
check "1: A copied region 0" -- wait_copied fa 1 1 30
check "1: the race: A's copy put the old data back over it on the destination" -- \
	cmp <(dd if=$W/init.bin bs=4096 skip=$((EB / 4096 + 1)) count=1 status=none) <(raw "$NB" 0 4096 4096)
check "1: A's destination delay off" -- a_dst_delay 0
r=$(wait_mig fa 1 ready 30) || fail "1: fa not ready: '$r'"
# Every region is copied by A now and is not copied again.
check "1: write 4 KiB through fb to region 3" -- put fb $((EB + 3 * RB + 4096)) 0x5b 4096
check "1: write 64 KiB through fb across regions 7-8" -- put fb $((EB + 7 * RB + RB / 2)) 0x6c 65536
check "1: fb's write to region 3 is on the source" -- cmp <(fill_bytes 0x5b 4096) <(raw "$NA" 1 $((3 * RB + 4096)) 4096)
check "1: fb's write to region 3 is on the destination" -- cmp <(fill_bytes 0x5b 4096) <(raw "$NB" 0 $((3 * RB + 4096)) 4096)
check "1: fb's write to regions 7-8 is on the source" -- cmp <(fill_bytes 0x6c 65536) <(raw "$NA" 1 $((7 * RB + RB / 2)) 65536)
check "1: fb's write to regions 7-8 is on the destination" -- cmp <(fill_bytes 0x6c 65536) <(raw "$NB" 0 $((7 * RB + RB / 2)) 65536)
assert_eq "1: fb: migrate_dirty 1 lists regions 0, 3 and 7-8" "$RS 16 0:1 3:1 7:2" "$(msg fb migrate_dirty 1)"
check "1: write 4 KiB through fa to region 12" -- put fa $((EB + 12 * RB)) 0x7d 4096
assert_eq "1: fa: migrate_dirty 1 lists region 12" "$RS 16 12:1" "$(msg fa migrate_dirty 1)"

st0=$(dmsetup status fb)
tb0=$(dmsetup table fb)
kmsg_mark bad
for bad in "migrate_dirty 2" "migrate_dirty 8" "migrate_dirty 99999999999999999999" "migrate_dirty" \
	"migrate_dirty x" "migrate_dirty 1 junk" "migrate_dirty 1 clear extra" "migrate_dirty 1 CLEAR" \
	"migrate_dirty -1" "migrate_dirty 1x" "migrate_start 2 1 1 junk" "migrate_start 2 1 1 follow extra" \
	"migrate_start 2 1 1 FOLLOW" "migrate_start 2 1 1 follow1" "migrate_start 2 1 99 follow" \
	"migrate_start 1 1 1 follow" "migrate_start 2 2 1 follow" "migrate_start 3 1 0 follow" \
	"migrate_recopy 1" "migrate_recopy 1 0:0" "migrate_recopy 1 16:1" "migrate_recopy 1 15:2" \
	"migrate_recopy 1 0:1 x:1" "migrate_recopy 1 1" "migrate_recopy 1 1:1:1" "migrate_recopy 1 -1:1" \
	"migrate_recopy 1 0:+1" "migrate_recopy 1 4294967295:2" "migrate_recopy 2 0:1" "migrate_recopy 8 0:1"; do
	# shellcheck disable=SC2086
	check_fail "1: fb: '$bad' is refused" -- msg fb $bad
done
assert_eq "1: fb: status unchanged by the bad input" "$st0" "$(dmsetup status fb)"
assert_eq "1: fb: table unchanged by the bad input" "$tb0" "$(dmsetup table fb)"
assert_eq "1: fb: dirty list unchanged by the bad input" "$RS 16 0:1 3:1 7:2" "$(msg fb migrate_dirty 1)"
assert_match "1: the junk word is named in the log" "migrate_start: unknown word 'junk' \(only 'follow'\)" "$(kmsg_since_mark)"
assert_match "1: migrate_dirty without a migration is explained" "migrate_dirty: extent 2 is not migrating" "$(kmsg_since_mark)"
assert_match "1: migrate_recopy beyond the extent is explained" "migrate_recopy: regions 16\+1 are beyond the 16 of extent 1" "$(kmsg_since_mark)"
check_fail "1: fa: migrate_dirty 2 (no migration) fails" -- msg fa migrate_dirty 2

# The cutover repairs the race: region 0 is in fb's list.
GA=$(status_gen fa)
GB=$(status_gen fb)
IA=$(msg fa freeze 1 1)
IB=$(msg fb freeze 1 1)
check "1: freeze_wait fa and fb" -- bash -c "dmsetup message fa 0 freeze_wait $IA 10000 && dmsetup message fb 0 freeze_wait $IB 10000"
D=$(msg fb migrate_dirty 1 clear)
assert_eq "1: fb: migrate_dirty 1 clear prints the list" "$RS 16 0:1 3:1 7:2" "$D"
assert_eq "1: fb: migrate_dirty 1 after clear" "$RS 16" "$(msg fb migrate_dirty 1)"
check "1: fa's kernel copies fb's dirty regions again (migrate_recopy, then ready)" -- recopy fa 1 "$D"
check "1: under the freeze src == dst for the whole extent" -- cmp <(raw "$NA" 1 0 $EB) <(raw "$NB" 0 0 $EB)
assert_eq "1: fa: migrate_commit" $((GA + 1)) "$(msg fa migrate_commit 1 2>&1)"
assert_eq "1: fb: migrate_commit" $((GB + 1)) "$(msg fb migrate_commit 1 2>&1)"
check "1: thaw both" -- bash -c "dmsetup message fa 0 thaw $IA && dmsetup message fb 0 thaw $IB"
assert_eq "1: fa maps 1 to slot 1 pext 0" "1:1:0:1" "$(msg fa map_get 1 1)"
assert_eq "1: fb maps 1 to slot 1 pext 0" "1:1:0:1" "$(msg fb map_get 1 1)"
check_fail "1: fb: migrate_dirty 1 after the commit fails" -- msg fb migrate_dirty 1
check "1: garbage over the old source place" -- dd if=/dev/urandom of="$NA" bs=$EB seek=1 count=1 oflag=direct status=none
cp $W/init.bin $W/exp.bin
exp_put() { fill_bytes "$2" "$3" | dd of=$W/exp.bin bs=1 seek="$1" conv=notrunc status=none; }
exp_put $((EB + 4096)) 0x99 4096
exp_put $((EB + 3 * RB + 4096)) 0x5b 4096
exp_put $((EB + 7 * RB + RB / 2)) 0x6c 65536
exp_put $((EB + 12 * RB)) 0x7d 4096
for h in a b; do
	check "1: f$h reads the expected volume after the cutover (B's raced write included)" -- \
		cmp $W/exp.bin <(dd if=/dev/mapper/f$h bs=$EB iflag=direct status=none)
done

# --- 2 ---
job() { # SEED DM OFFSET [extra fio args]: 2 jobs over half an extent
	fio_verify_args -b 4k/70:8k/15:64k/15 -q 4 -j 2 -o "$3" "/dev/mapper/$2" $((EB / 2)) "$1" "${@:4}"
}
X=2
OA=$((X * EB))
OB=$((X * EB + EB / 2))
check "2: A's destination writes delayed 300 ms (B's writes race A's copies)" -- a_dst_delay 300
writer_start wa 7000 job fa $OA --verify_backlog=16
writer_start wb 8000 job fb $OB --verify_backlog=16
sleep 2
GA=$(status_gen fa)
GB=$(status_gen fb)
check "2: fb: migrate_start $X 1 1 follow (followers first)" -- msg fb migrate_start $X 1 1 follow
r=$(wait_mig fb $X ready 30) && ok "2: fb ready ($r)" || fail "2: fb not ready: '$r'"
check "2: fa: migrate_start $X 1 1" -- msg fa migrate_start $X 1 1
t0=$(now_ns)
r=$(wait_mig fa $X ready 180) && ok "2: fa ready after $(ms_since "$t0") ms ($r)" || fail "2: fa not ready: '$r'"
assert_eq "2: writers still running at the cutover" "yes yes" \
	"$(writer_alive wa && echo yes || echo no) $(writer_alive wb && echo yes || echo no)"
t0=$(now_ns)
IA=$(msg fa freeze $X 1)
IB=$(msg fb freeze $X 1)
check "2: fa: freeze_wait" -- msg fa freeze_wait "$IA" 10000
check "2: fb: freeze_wait" -- msg fb freeze_wait "$IB" 10000
D=$(msg fb migrate_dirty $X)
plan_note "2: fb dirty: $D"
set -- $D
[ $# -gt 2 ] && ok "2: fb wrote during the migration ($(($# - 2)) runs)" || fail "2: fb's dirty list is empty"
differ=0
for run in "${@:3}"; do
	cmp -s <(raw "$NA" $X $((${run%:*} * RB)) $((${run#*:} * RB))) \
		<(raw "$NB" 1 $((${run%:*} * RB)) $((${run#*:} * RB))) || differ=$((differ + 1))
done
plan_note "2: runs of fb's dirty regions where dst differed from src before the recopy (the race): $differ"
check "2: fa's kernel copies fb's dirty regions again" -- recopy fa $X "$D"
check "2: under the freeze src == dst for the whole extent" -- cmp <(raw "$NA" $X 0 $EB) <(raw "$NB" 1 0 $EB)
assert_eq "2: fa: migrate_commit" $((GA + 1)) "$(msg fa migrate_commit $X 2>&1)"
assert_eq "2: fb: migrate_commit" $((GB + 1)) "$(msg fb migrate_commit $X 2>&1)"
check "2: thaw fa" -- msg fa thaw "$IA"
check "2: thaw fb" -- msg fb thaw "$IB"
plan_note "2: the cutover held I/O for $(ms_since "$t0") ms"
check "2: A's destination delay off" -- a_dst_delay 0
assert_eq "2: fa maps $X to slot 1 pext 1" "$X:1:1:1" "$(msg fa map_get $X 1)"
assert_eq "2: fb maps $X to slot 1 pext 1" "$X:1:1:1" "$(msg fb map_get $X 1)"
sleep 3	# writes to the new place
writer_stop wa wb
plan_note "2: writer runs: fa $(writer_runs wa), fb $(writer_runs wb)"
assert_eq "2: no writer run failed" "" "$(writer_failed wa; writer_failed wb)"
assert_eq "2: no fio output reports an error" "" "$(fio_errors "$CVOL_OUT"/fio-w[ab]-*.txt)"
verify_both() {
	check "$1: verify-only pass through fa is clean" -- \
		fio $(job "$(writer_lastseed wa)" fa $OA) --verify_only --output="$CVOL_OUT/fio-$1-va.txt"
	check "$1: verify-only pass through fb is clean" -- \
		fio $(job "$(writer_lastseed wb)" fb $OB) --verify_only --output="$CVOL_OUT/fio-$1-vb.txt"
}
verify_both 2
check "2: fa's extent $X == fb's == raw dst" -- bash -c \
	"cmp <(dd if=/dev/mapper/fa bs=$EB skip=$X count=1 iflag=direct status=none) <(dd if=/dev/mapper/fb bs=$EB skip=$X count=1 iflag=direct status=none) &&
	 cmp <(dd if=/dev/mapper/fa bs=$EB skip=$X count=1 iflag=direct status=none) <(dd if=$NB bs=$EB skip=1 count=1 iflag=direct status=none)"
check "2: garbage over the old source place" -- dd if=/dev/urandom of="$NA" bs=$EB seek=$X count=1 oflag=direct status=none
verify_both 2g
check "2g: fa's extent $X still == raw dst" -- \
	cmp <(dd if=/dev/mapper/fa bs=$EB skip=$X count=1 iflag=direct status=none) <(raw "$NB" 1 0 $EB)

# --- 3 ---
X=3
GA=$(status_gen fa)
GB=$(status_gen fb)
check "3: fb: migrate_start $X 1 2 follow" -- msg fb migrate_start $X 1 2 follow
r=$(wait_mig fb $X ready 30) || fail "3: fb not ready: '$r'"
check "3: fa: migrate_start $X 1 2" -- msg fa migrate_start $X 1 2
r=$(wait_mig fa $X ready 60) || fail "3: fa not ready: '$r'"
assert_eq "3: fb: nothing dirty yet" "$RS 16" "$(msg fb migrate_dirty $X)"
check "3: dB fails writes (flakey error_writes)" -- dB_down
kmsg_mark dst-error
check "3: a write through fb to region 5 succeeds although dst fails" -- put fb $((X * EB + 5 * RB + 8192)) 0x77 4096
check "3: dB up again" -- dB_up
assert_eq "3: fb stays ready, 16/16, 1 error" "ready 16 16 1" "$(mig_of fb $X)"
assert_eq "3: fb health: W on slot 1" "AW" "$(health fb)"
assert_eq "3: fb: region 5 is dirty" "$RS 16 5:1" "$(msg fb migrate_dirty $X)"
assert_match "3: the log says the region is dirty" "region 5 is dirty until copied again" "$(kmsg_since_mark)"
check "3: the write is on the source" -- cmp <(fill_bytes 0x77 4096) <(raw "$NA" $X $((5 * RB + 8192)) 4096)
check_fail "3: the write is not on the destination" -- cmp -s <(fill_bytes 0x77 4096) <(raw "$NB" 2 $((5 * RB + 8192)) 4096)
IA=$(msg fa freeze $X 1)
IB=$(msg fb freeze $X 1)
check "3: freeze_wait fa and fb" -- bash -c "dmsetup message fa 0 freeze_wait $IA 10000 && dmsetup message fb 0 freeze_wait $IB 10000"
check "3: fb's own kernel copies its dirty region again (a follow migration)" -- \
	recopy fb $X "$(msg fb migrate_dirty $X)"
assert_eq "3: fb is ready again, 16/16" "ready 16 16 1" "$(mig_of fb $X)"
assert_eq "3: fa: migrate_commit" $((GA + 1)) "$(msg fa migrate_commit $X 2>&1)"
assert_eq "3: fb: migrate_commit" $((GB + 1)) "$(msg fb migrate_commit $X 2>&1)"
check "3: thaw both" -- bash -c "dmsetup message fa 0 thaw $IA && dmsetup message fb 0 thaw $IB"
assert_eq "3: fb maps $X to slot 1 pext 2" "$X:1:2:1" "$(msg fb map_get $X 1)"
exp_put $((X * EB + 5 * RB + 8192)) 0x77 4096
for h in a b; do
	check "3: f$h: extent $X reads as expected" -- cmp <(dd if=$W/exp.bin bs=$EB skip=$X count=1 status=none) \
		<(dd if=/dev/mapper/f$h bs=$EB skip=$X count=1 iflag=direct status=none)
done

# --- 4 ---
NC=$(mk_nullb 72)
ND=$(mk_nullb 72)
E4=131072
check "4: fo: one 64 MiB extent, region_sectors 8 (16384 regions)" -- dmsetup create fo --table \
	"0 $E4 cvol fo-vol $E4 2 $NC 0 $ND 0 5 map_runs 1 0:0:0:1 region_sectors 8"
check "4: fo: migrate_start 0 1 0 follow" -- msg fo migrate_start 0 1 0 follow
r=$(wait_mig fo 0 ready 30) || fail "4: fo not ready: '$r'"
check "4: write every other 4 KiB block" -- fio --name=w --filename=/dev/mapper/fo --ioengine=libaio \
	--direct=1 --rw=write:4k --bs=4k --iodepth=16 --size=64m --io_size=32m --output="$CVOL_OUT/fio-fo.txt"
L=$(msg fo migrate_dirty 0 clear)
plan_note "4: answer of ${#L} bytes"
[ ${#L} -gt 16384 ] && ok "4: the answer is larger than 16 KiB" || fail "4: the answer is only ${#L} bytes"
exp4=$(echo 8 16384; seq 0 2 16382 | sed 's/$/:1/')
assert_eq "4: the whole list arrived" "$(echo $exp4)" "$L"
assert_eq "4: clear cleared it" "8 16384" "$(msg fo migrate_dirty 0)"
check "4: write 4 KiB at region 1001" -- put fo $((1001 * 4096)) 0x42 4096
assert_eq "4: a write after the clear shows" "8 16384 1001:1" "$(msg fo migrate_dirty 0)"
check "4: abort fo (a follow migration)" -- msg fo migrate_abort 0
assert_eq "4: no migration left on fo" 0 "$(mig_count fo)"
check "4: the write is on the source" -- cmp <(fill_bytes 0x42 4096) <(dd if="$NC" bs=4096 skip=1001 count=1 iflag=direct status=none)

# --- 5 ---
X=4
check "5: garbage at the destination place (slot 1, pext 3)" -- \
	dd if=/dev/urandom of="$NB" bs=$EB seek=3 count=1 oflag=direct status=none
check "5: fb: migrate_start $X 1 3 follow" -- msg fb migrate_start $X 1 3 follow
r=$(wait_mig fb $X ready 30) || fail "5: fb not ready: '$r'"
check "5: fence fb" -- msg fb fence
d0=$(raw "$NB" 3 0 $EB | md5sum)
check "5: fenced fb accepts migrate_recopy $X 0:16" -- msg fb migrate_recopy $X 0:16
sleep 2
assert_eq "5: nothing copied while fenced" "copy 0 16 0" "$(mig_of fb $X)"
assert_eq "5: the destination's bytes did not move" "$d0" "$(raw "$NB" 3 0 $EB | md5sum)"
check "5: lease 60000 and unfence fb" -- bash -c "dmsetup message fb 0 lease 60000 && dmsetup message fb 0 unfence 1"
r=$(wait_mig fb $X ready 30) && ok "5: the copy ran after the unfence ($r)" || fail "5: fb not ready: '$r'"
check "5: the destination equals the source" -- cmp <(raw "$NA" $X 0 $EB) <(raw "$NB" 3 0 $EB)
check "5: abort fb's migration, lease off" -- bash -c "dmsetup message fb 0 migrate_abort $X && dmsetup message fb 0 lease 0"

check "remove" -- dmsetup remove fo fa fb dA dAd dB
assert_no_kernel_warning
finish
