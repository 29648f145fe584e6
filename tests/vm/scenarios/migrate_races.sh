#!/usr/bin/env bash
# timeout: 420
#
# Writes racing the migration copier, with the race windows widened by
# dm-delay under the backing devices. Proves that a write to a migrating
# extent is never lost whatever the copier is doing (region not copied,
# being copied, copied), that a write to a region being copied waits for
# that copy, and that a write to a copied region goes to both places.
#
#   * Slots: dA = dm-delay over null_blk A, dB = dm-delay over null_blk B;
#     the delays are changed by reloads (noflush suspend).
#   * Volume mr: 8 extents of 1 MiB, region_sectors 128 (16 regions of
#     64 KiB), all on slot 0; migrate_throttle 1 (one region in flight),
#     so the copy advances in many steps while writes are in flight.
#   A. source writes delayed 300 ms (reads 100 ms): fio (crc32c verify, verify_backlog,
#      4 jobs on disjoint quarters of extent 1, 4k/8k/64k blocks, some
#      straddling regions, iodepth 8, O_DIRECT) writes extent 1 in
#      back-to-back runs while it migrates to slot 1; commit while the
#      writer runs; the old place is garbaged; the writer goes on.
#   B. the same for extent 2 with the DESTINATION's writes delayed 300 ms
#      (every copy and every dual-write is slow).
#      For A and B: the copy was seen part-done (copied strictly between 0
#      and 16) while the writer ran, no fio error, the verify-only pass of
#      the last run is clean, the dm bytes == the raw bytes at the new place.
#   C. volume mt (64 KiB extents = one region each): source READS delayed
#      5 s, so a copy takes >= 5 s. A 4 KiB O_DIRECT write issued while the
#      copy of its region runs completes only after that copy (latency
#      >= 1 s, completion >= start + 5 s; the same write to an extent that
#      is not migrating takes < 0.5 s); afterwards both the source and the
#      destination hold it, and after the commit the extent reads back as
#      expected.
#   D. destination writes delayed 1 s: after ready, a write to the extent
#      takes >= 1 s (a dual-write completes when both have) and lands on
#      both the source and the destination before the commit.
# job() prints fio arguments that are meant to be split into words.
# shellcheck disable=SC2046
source "$CVOL_ROOT/tests/vm/lib.sh"
source "$CVOL_ROOT/tests/vm/lib/migrate.bash"
source "$CVOL_ROOT/tests/vm/lib/fio.bash"
W=/tmp/mra
mkdir -p $W

load_cvol
modprobe dm_delay
NA=$(mk_nullb 48)
NB=$(mk_nullb 48)
S=$(dev_sectors "$NA")
E=2048
EB=$((E * 512))
NV=8
UUID=mr-vol

# set_delay DM READ_MS WRITE_MS (DM is dA or dB)
set_delay() {
	local raw=$NA
	[ "$1" = dA ] || raw=$NB
	dm_reload "$1" "0 $S delay $raw 0 $2 $raw 0 $3"
}
check "create dA, dB (no delay yet)" -- bash -c \
	"dmsetup create dA --table '0 $S delay $NA 0 0 $NA 0 0' && dmsetup create dB --table '0 $S delay $NB 0 0 $NB 0 0'"
check "create mr: 8 extents on slot 0, region_sectors 128" -- dmsetup create mr --table \
	"0 $((NV * E)) cvol $UUID $E 2 /dev/mapper/dA 0 /dev/mapper/dB 0 5 map_runs 1 0:0:0:$NV region_sectors 128"
assert_eq "migrate_throttle 1 (one region in flight)" "1 8" "$(msg mr migrate_throttle 1)"
V=/dev/mapper/mr

job() { # SEED EXT [extra fio args]: 4 jobs on the quarters of extent EXT
	fio_verify_args -b 4k/70:8k/15:64k/15 -o $(($2 * EB)) "$V" "$EB" "$1" "${@:3}"
}
check "initial fill + verify of extents 1 and 2" -- \
	bash -c "fio $(job 5000 1) --output=$CVOL_OUT/fio-fill1.txt && fio $(job 5001 2) --output=$CVOL_OUT/fio-fill2.txt"

# race NAME EXT DST_PEXT: writer on EXT, migrate EXT -> slot 1 DST_PEXT
# under it, commit, garbage the old place, check.
race() {
	local name=$1 x=$2 dp=$3 t0 s r c n partial=0 seen='' gen ready_ms
	writer_start "$name" $((6000 + 100 * x)) job "$x" --verify_backlog=16
	sleep 2
	gen=$(status_gen mr)
	check "$name: migrate_start $x -> slot 1 pext $dp" -- msg mr migrate_start "$x" 1 "$dp"
	t0=$(now_ns)
	while :; do
		s=$(mig_of mr "$x")
		read -r st c n _ <<<"$s"
		[ "$st" = copy ] && [ "$c" -gt 0 ] && [ "$c" -lt "$n" ] && partial=$((partial + 1))
		seen+=" $c"
		[ "$st" = ready ] || [ "$st" = none ] || [ "$st" = failed ] && break
		[ "$(ms_since "$t0")" -lt 120000 ] || break
		sleep 0.1
	done
	ready_ms=$(ms_since "$t0")
	plan_note "$name: '$s' after $ready_ms ms; copied counts seen:$(tr ' ' '\n' <<<"$seen" | uniq | tr '\n' ' ')"
	assert_eq "$name: ready" ready "$st"
	[ "$partial" -gt 0 ] && ok "$name: the copy was seen part-done $partial times" ||
		fail "$name: the copy was never seen part-done"
	sleep 2	# dual-writes
	assert_eq "$name: writer still running at the commit" yes "$(writer_alive "$name" && echo yes || echo no)"
	t0=$(now_ns)
	r=$(msg mr migrate_commit "$x" 2>&1) || r="error: $r"
	plan_note "$name: migrate_commit took $(ms_since "$t0") ms"
	assert_eq "$name: migrate_commit under writes: gen $((gen + 1))" $((gen + 1)) "$r"
	assert_eq "$name: map_get $x -> slot 1 pext $dp" "$x:1:$dp:1" "$(msg mr map_get "$x" 1)"
	# The old place is free only if the commit went through.
	[ "$r" != $((gen + 1)) ] ||
		dd if=/dev/urandom of="$NA" bs=$EB seek="$x" count=1 oflag=direct status=none
	sleep 2	# writes to the new place
	writer_stop "$name"
	plan_note "$name: writer runs: $(writer_runs "$name")"
	[ "$(writer_runs "$name")" -ge 2 ] && ok "$name: the writer ran throughout" ||
		fail "$name: the writer ran only $(writer_runs "$name") times"
	assert_eq "$name: no writer run failed" "" "$(writer_failed "$name")"
	assert_eq "$name: no fio output reports an error" "" "$(fio_errors "$CVOL_OUT"/fio-"$name"-*.txt)"
	check "$name: verify-only pass of the last run is clean" -- \
		fio $(job "$(writer_lastseed "$name")" "$x") --verify_only --output="$CVOL_OUT/fio-$name-final.txt"
	check "$name: dm bytes of extent $x == raw bytes at slot 1 pext $dp" -- \
		cmp <(raw_ext "$NB" "$dp" $E) <(dd if=$V bs=$EB skip="$x" count=1 iflag=direct status=none)
}

# --- A: slow source writes ---
check "A: source writes delayed 300 ms (reads 100 ms: each region copy takes a while)" -- set_delay dA 100 300
race A 1 0
check "A: source delay off" -- set_delay dA 0 0
# --- B: slow destination writes ---
check "B: destination writes delayed 300 ms" -- set_delay dB 0 300
race B 2 1
check "B: destination delay off" -- set_delay dB 0 0
check "extents 1 and 2 moved, the rest stayed" -- \
	test "$(msg mr map_get 0 $NV)" = "0:0:0:1 1:1:0:2 3:0:3:5"

# --- C, D: timing on a volume of one-region extents ---
cat >$W/tw.py <<'EOF'
# tw.py DEV OFFSET BYTE: one 4 KiB O_DIRECT write of BYTE; prints the wall
# clock (ns) just before and just after the write.
import mmap, os, sys, time
dev, off, b = sys.argv[1], int(sys.argv[2]), int(sys.argv[3], 0)
buf = mmap.mmap(-1, 4096)
buf.write(bytes([b]) * 4096)
fd = os.open(dev, os.O_WRONLY | os.O_DIRECT)
t0 = time.time_ns()
os.pwrite(fd, buf, off)
t1 = time.time_ns()
os.close(fd)
print(t0, t1)
EOF
tw() { python3 $W/tw.py "$@"; }
E2=128
EB2=$((E2 * 512))
OFF=32768	# 16 MiB into A and B, clear of mr
check "create mt: 4 extents of 64 KiB (one region each) on slot 0 at 16 MiB" -- dmsetup create mt --table \
	"0 $((4 * E2)) cvol mt-vol $E2 2 /dev/mapper/dA $OFF /dev/mapper/dB $OFF 5 map_runs 1 0:0:0:4 region_sectors $E2"
T=/dev/mapper/mt
head -c $((4 * EB2)) /dev/urandom >$W/t.bin
check "fill mt" -- dd if=$W/t.bin of=$T bs=$EB2 oflag=direct status=none
# raw4k RAWDEV PEXT BLOCK: 4 KiB block BLOCK of physical extent PEXT of mt.
raw4k() { dd if="$1" bs=512 skip=$((OFF + $2 * E2 + $3 * 8)) count=8 iflag=direct status=none; }

# --- C ---
check "C: source reads delayed 5 s" -- set_delay dA 5000 0
read -r b0 b1 < <(tw $T $((3 * EB2 + 4096)) 0x11)
BASE_MS=$(((b1 - b0) / 1000000))
[ $BASE_MS -lt 500 ] && ok "C: a write to a non-migrating extent takes $BASE_MS ms" ||
	fail "C: a write to a non-migrating extent takes $BASE_MS ms"
ts=$(now_ns)
check "C: migrate_start mt 0 -> slot 1 pext 0" -- msg mt migrate_start 0 1 0
r=$(wait_mig mt 0 copy 5) || fail "C: not copying: '$r'"
sleep 0.3
read -r ti tw_ < <(tw $T $((3 * 4096)) 0xa5)
r=$(wait_mig mt 0 ready 30) || fail "C: not ready: '$r'"
tr_=$(now_ns)
ISSUE_MS=$(((ti - ts) / 1000000))
LAT_MS=$(((tw_ - ti) / 1000000))
DONE_MS=$(((tw_ - ts) / 1000000))
plan_note "C: write issued $ISSUE_MS ms after migrate_start, latency $LAT_MS ms, completed at $DONE_MS ms; ready seen at $(((tr_ - ts) / 1000000)) ms"
[ $ISSUE_MS -lt 4000 ] && ok "C: the write was issued while the copy ran ($ISSUE_MS ms < 4000)" ||
	fail "C: the write was issued too late to test anything ($ISSUE_MS ms)"
[ $LAT_MS -ge 1000 ] && ok "C: the write waited for the copy (latency $LAT_MS ms)" ||
	fail "C: the write did not wait for the copy (latency $LAT_MS ms)"
[ $DONE_MS -ge 4900 ] && ok "C: it completed after the copy's 5 s source read ($DONE_MS ms)" ||
	fail "C: it completed before the copy could have ($DONE_MS ms after migrate_start)"
check "C: the write is on the source" -- cmp <(fill_bytes 0xa5 4096) <(raw4k "$NA" 0 3)
check "C: the write is on the destination (released after the copy, then dual-written)" -- \
	cmp <(fill_bytes 0xa5 4096) <(raw4k "$NB" 0 3)
check "C: source reads no longer delayed" -- set_delay dA 0 0
G=$(status_gen mt)
assert_eq "C: commit" $((G + 1)) "$(msg mt migrate_commit 0)"
cp $W/t.bin $W/t.exp
fill_bytes 0xa5 4096 | dd of=$W/t.exp bs=4096 seek=3 conv=notrunc status=none
fill_bytes 0x11 4096 | dd of=$W/t.exp bs=4096 seek=$((3 * EB2 / 4096 + 1)) conv=notrunc status=none
check "C: extent 0 reads back as expected after the commit" -- \
	cmp <(dd if=$W/t.exp bs=$EB2 count=1 status=none) <(dd if=$T bs=$EB2 count=1 iflag=direct status=none)

# --- D ---
check "D: destination writes delayed 1 s" -- set_delay dB 0 1000
read -r b0 b1 < <(tw $T $((EB2 + 6 * 4096)) 0x22)
BASE_MS=$(((b1 - b0) / 1000000))
[ $BASE_MS -lt 500 ] && ok "D: before the migration a write to extent 1 takes $BASE_MS ms" ||
	fail "D: before the migration a write to extent 1 takes $BASE_MS ms"
check "D: migrate_start mt 1 -> slot 1 pext 1" -- msg mt migrate_start 1 1 1
r=$(wait_mig mt 1 ready 30) && ok "D: ready" || fail "D: not ready: '$r'"
read -r ti tw_ < <(tw $T $((EB2 + 5 * 4096)) 0x5a)
LAT_MS=$(((tw_ - ti) / 1000000))
plan_note "D: write to the ready extent: $LAT_MS ms"
[ $LAT_MS -ge 950 ] && ok "D: the dual-write waited for the slow destination ($LAT_MS ms)" ||
	fail "D: the write completed before the destination's 1 s write ($LAT_MS ms)"
check "D: before the commit the write is on the source" -- cmp <(fill_bytes 0x5a 4096) <(raw4k "$NA" 1 5)
check "D: before the commit the write is on the destination" -- cmp <(fill_bytes 0x5a 4096) <(raw4k "$NB" 1 5)
G=$(status_gen mt)
assert_eq "D: commit" $((G + 1)) "$(msg mt migrate_commit 1)"
check "D: destination delay off" -- set_delay dB 0 0
fill_bytes 0x22 4096 | dd of=$W/t.exp bs=4096 seek=$((EB2 / 4096 + 6)) conv=notrunc status=none
fill_bytes 0x5a 4096 | dd of=$W/t.exp bs=4096 seek=$((EB2 / 4096 + 5)) conv=notrunc status=none
check "D: mt reads back as expected" -- cmp $W/t.exp <(dd if=$T bs=$EB2 iflag=direct status=none)
assert_eq "mt: map_get" "0:1:0:2 2:0:2:2" "$(msg mt map_get 0 4)"
assert_eq "status mt: no migration, health AA" "4/4 AA 0 0" "$(dmsetup status mt | cut -d' ' -f5-8)"
assert_eq "status mr: no migration, health AA" "$NV/$NV AA 0 0" "$(dmsetup status mr | cut -d' ' -f5-8)"
check "remove" -- dmsetup remove mt mr dA dB
assert_no_kernel_warning
finish
