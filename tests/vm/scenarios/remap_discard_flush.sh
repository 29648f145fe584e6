#!/usr/bin/env bash
# timeout: 300
#
# Discard, write-zeroes, unmapped extents, the partial last extent, flush
# fan-out and FUA writes.
#
# blkdiscard always runs with -f: without it, it first probes the device
# for signatures, reading its start and end, which fails on a volume whose
# last extent is unmapped.
#
# Backing: loop devices on files of an ext4 (they support discard: a punched
# hole reads back as zeroes, and write-zeroes). Volume A: extent 64 sectors, 300 extents, the
# last one partial (40 of 64 sectors), 4 slots with slot 1 empty, fully
# mapped with a shuffled map, filled with random data.
#   * blkdiscard -f -o/-l over 4 extents starting and ending mid-extent, and
#     blkdiscard -z over 5 extents: the volume reads back as before with
#     exactly that range zeroed, and each backing device equals its copy from
#     before with exactly the mapped physical pieces zeroed (nothing else on
#     any device changed);
#   * I/O at the very end of the volume (the partial extent) works and lands
#     at the mapped physical place; I/O past the end fails;
#   * an fsync of the dm device sends one flush to EVERY present device (the
#     flush counter, field 16 of /sys/block/X/stat, grows by exactly the
#     number of fsyncs), skips the empty slot without harm, and flushes no
#     device outside the table;
#   * O_DIRECT|O_DSYNC (FUA) writes complete and verify (fio crc32c).
# Volumes B (no unmapped_zero) and C (unmapped_zero), partly mapped:
#   * reading an unmapped extent fails with EIO on B, returns zeroes on C;
#   * writing an unmapped extent fails on both; discarding one succeeds;
#   * failed I/O to unmapped extents is not counted as a device error.
source "$CVOL_ROOT/tests/vm/lib.sh"
source "$CVOL_ROOT/tests/vm/lib/remap.bash"

load_cvol
# Loop devices over files on ext4 (on a null_blk): ext4 implements both
# PUNCH_HOLE (discard) and ZERO_RANGE (write-zeroes with NOUNMAP, which
# BLKZEROOUT sends); tmpfs lacks ZERO_RANGE, and the block layer would then
# fall back to writing zero pages, leaving WRITE_ZEROES through cvol untested.
modprobe ext4
EXT_DEV=$(mk_nullb 128)
mkfs.ext4 -q -F "$EXT_DEV"
mkdir -p /tmp/ext4
mount -t ext4 "$EXT_DEV" /tmp/ext4
mk_ext4_loop() {
	local f
	f=$(mktemp /tmp/ext4/loop.XXXXXX)
	truncate -s "${1}M" "$f"
	losetup -f --show --direct-io=on "$f"
}
L0=$(mk_ext4_loop 16)
L1=$(mk_ext4_loop 16)
L2=$(mk_ext4_loop 16)
L3=$(mk_ext4_loop 16) # not in any table: must never see a flush from us
W=$CVOL_OUT/work
T=/tmp/df
mkdir -p "$W" "$T"

E=64
NV=300
PART=40
LEN=$(((NV - 1) * E + PART))
SDEV=("$L0" - "$L1" "$L2")
SOFF=(0 0 8 0)

gen_map 9 "$NV" "110 0 110 110" 5 0.3 >"$W/mapA"
runs_of <"$W/mapA" >"$W/runsA"
cvol_table "$LEN" df-a "$E" "$L0 0 - 0 $L1 8 $L2 0" "$W/runsA" >"$W/tableA"
check "create volume A (4 slots, slot 1 empty, partial last extent)" -- dmsetup create va "$W/tableA"
check "fill A with random data" -- dd if=/dev/urandom of=/dev/mapper/va bs=512 count=$LEN oflag=direct status=none
QA=$(sysfs_dir /dev/mapper/va)/queue
assert_match "A supports discard" '^[1-9]' "$(cat $QA/discard_max_bytes)"
plan_note "A: discard_max_bytes $(cat $QA/discard_max_bytes), write_zeroes_max_bytes $(cat $QA/write_zeroes_max_bytes)"

# pieces S N: the physical pieces "slot sector count" behind virtual
# sectors [S, S+N) of volume A.
pieces() {
	awk -v S="$1" -v N="$2" -v E="$E" -v offs="${SOFF[*]}" '
	BEGIN { split(offs, of, " ") }
	{
		vs = $1 * E; a = (S > vs ? S : vs); b = (S + N < vs + E ? S + N : vs + E)
		if (a < b) print $2, of[$2 + 1] + $3 * E + (a - vs), b - a
	}' "$W/mapA"
}

snapshot_all() {
	drop_cache /dev/mapper/va "$L0" "$L1" "$L2"
	dd if=/dev/mapper/va of=$T/va bs=64k iflag=direct status=none
	for s in 0 2 3; do dd if="${SDEV[$s]}" of=$T/dev$s bs=1M iflag=direct status=none; done
}

# zero_expect S N: zero [S, S+N) in the volume image and the mapped pieces
# in the device images.
zero_expect() {
	dd if=/dev/zero of=$T/va bs=512 seek="$1" count="$2" conv=notrunc status=none
	local slot sec cnt
	while read -r slot sec cnt; do
		dd if=/dev/zero of=$T/dev$slot bs=512 seek="$sec" count="$cnt" conv=notrunc status=none
	done < <(pieces "$1" "$2")
}

compare_all() {
	local what=$1 s
	drop_cache /dev/mapper/va "$L0" "$L1" "$L2"
	check "$what: volume A reads back as expected (range zeroed, rest intact)" -- \
		cmp <(dd if=/dev/mapper/va bs=64k iflag=direct status=none) $T/va
	for s in 0 2 3; do
		check "$what: device of slot $s equals its old image with exactly the mapped pieces zeroed" -- \
			cmp "${SDEV[$s]}" $T/dev$s
	done
}

# --- discard over 4 extents, mid-extent to mid-extent ---
S=$((10 * E + 8))
N=$((3 * E + 24))
plan_note "discard virtual sectors [$S, $((S + N))): pieces $(pieces $S $N | tr '\n' ',')"
assert_eq "the discard range maps to 4 physical pieces" 4 "$(pieces $S $N | wc -l)"
snapshot_all
check_fail "self-check: the range holds data before the discard" -- is_zero /dev/mapper/va $S $N
check "blkdiscard -f -o $((S * 512)) -l $((N * 512))" -- blkdiscard -f -o $((S * 512)) -l $((N * 512)) /dev/mapper/va
zero_expect $S $N
compare_all "discard"

# --- write-zeroes over 5 extents ---
S=$((100 * E + 16))
N=$((4 * E + 8))
assert_eq "the zeroout range maps to 5 physical pieces" 5 "$(pieces $S $N | wc -l)"
snapshot_all
check_fail "self-check: the range holds data before blkdiscard -z" -- is_zero /dev/mapper/va $S $N
check "blkdiscard -z (write zeroes) -o $((S * 512)) -l $((N * 512))" -- \
	blkdiscard -f -z -o $((S * 512)) -l $((N * 512)) /dev/mapper/va
zero_expect $S $N
compare_all "write-zeroes"

# --- the partial last extent ---
read -r _ tslot tpext <<<"$(grep "^$((NV - 1)) " "$W/mapA")"
TAIL=$((SOFF[tslot] + tpext * E))
head -c $((PART * 512)) /dev/urandom >$T/tail
check "write the whole partial last extent ($PART sectors) through A" -- \
	dd if=$T/tail of=/dev/mapper/va bs=512 seek=$((LEN - PART)) oflag=direct status=none
check "read it back through A" -- \
	cmp $T/tail <(dd if=/dev/mapper/va bs=512 skip=$((LEN - PART)) count=$PART iflag=direct status=none)
check "it is at physical extent $tpext of slot $tslot" -- \
	cmp $T/tail <(dd if="${SDEV[$tslot]}" bs=512 skip=$TAIL count=$PART iflag=direct status=none)
head -c 32768 /dev/urandom >$T/cross
check "a 32 KiB write ending exactly at the volume end (2 extents)" -- \
	dd if=$T/cross of=/dev/mapper/va bs=32k seek=$((LEN * 512 - 32768)) oflag=direct,seek_bytes status=none
check "reads back" -- cmp $T/cross <(dd if=/dev/mapper/va bs=32k skip=$((LEN * 512 - 32768)) count=1 iflag=direct,skip_bytes status=none)
check_fail "a write past the end fails" -- \
	dd if=$T/cross of=/dev/mapper/va bs=4k count=1 seek=$((LEN / 8)) oflag=direct status=none
assert_eq "a read at the end returns nothing" 0 \
	"$(dd if=/dev/mapper/va bs=4k skip=$((LEN / 8)) count=1 iflag=direct status=none | wc -c)"
check "discard the partial last extent" -- blkdiscard -f -o $(((LEN - PART) * 512)) -l $((PART * 512)) /dev/mapper/va
drop_cache "${SDEV[$tslot]}"
check "the partial extent is zero on its device" -- is_zero "${SDEV[$tslot]}" $TAIL $PART

# --- flush fan-out ---
declare -A FC0
for d in "$L0" "$L1" "$L2" "$L3"; do FC0[$d]=$(flush_count "$d"); done
assert_match "flush counters exist (6.1 stat field 16)" '^[0-9]+$' "${FC0[$L0]}"
NF=3
for i in $(seq $NF); do sync /dev/mapper/va; done
for d in "$L0" "$L1" "$L2"; do
	assert_eq "$NF fsyncs of A: $NF flushes reached $d" $NF $(($(flush_count "$d") - FC0[$d]))
done
assert_eq "no flush reached $L3 (not in the table)" 0 $(($(flush_count "$L3") - FC0[$L3]))
assert_match "A: no device errors, slot 1 empty" " A-AA( |$)" "$(dmsetup status va)"

# --- FUA writes ---
check "fio O_DIRECT|O_DSYNC (FUA) randwrite + crc32c verify over all of A" -- \
	fio --name=fua --filename=/dev/mapper/va --rw=randwrite --bs=4k --direct=1 --sync=1 \
	--ioengine=psync --size=$((LEN * 512)) --io_size=2M --verify=crc32c --do_verify=1 \
	--verify_fatal=1 --output="$CVOL_OUT/fio-fua.txt"
assert_match "fio: no errors" 'err= *0' "$(cat "$CVOL_OUT/fio-fua.txt")"
check "fio libaio iodepth 8 FUA writes across extents (16k at 8k alignment) + verify" -- \
	fio --name=fua2 --filename=/dev/mapper/va --rw=randwrite --bs=16k --blockalign=8k --direct=1 \
	--sync=1 --ioengine=libaio --iodepth=8 --size=$((LEN * 512)) --io_size=2M --verify=crc32c \
	--do_verify=1 --verify_fatal=1 --output="$CVOL_OUT/fio-fua2.txt"

# --- unmapped extents: B (errors) and C (unmapped_zero) ---
# 64 extents; 0..9 on L0, 20..29 on L1, the rest unmapped. B's data areas
# start at sector 16384, C's at 24576 (behind A's).
printf '0:0:0:10\n20:1:0:10\n' >"$W/runsBC"
cvol_table $((64 * E)) df-b "$E" "$L0 16384 $L1 16384" "$W/runsBC" >"$W/tableB"
cvol_table $((64 * E)) df-c "$E" "$L0 24576 $L1 24576" "$W/runsBC" unmapped_zero >"$W/tableC"
check "create B" -- dmsetup create vb "$W/tableB"
check "create C (unmapped_zero)" -- dmsetup create vc "$W/tableC"
assert_eq "B status: 20 of 64 mapped" "0 20/64 AA" "$(dmsetup status vb | cut -d' ' -f4-6)"
for v in b c; do
	check "$v: write the mapped extents 0..9" -- \
		dd if=/dev/urandom of=/dev/mapper/v$v bs=32k count=10 oflag=direct status=none
done

out=$(dd if=/dev/mapper/vb of=/dev/null bs=4k skip=$((15 * 8)) count=1 iflag=direct 2>&1) && rc=0 || rc=$?
assert_match "B: reading an unmapped extent fails with EIO" 'Input/output error' "$out"
check_fail "B: a read crossing from mapped extent 9 into unmapped 10 fails" -- \
	dd if=/dev/mapper/vb of=/dev/null bs=8k count=1 iflag=direct,skip_bytes skip=$((10 * 32768 - 4096)) status=none
out=$(dd if=/dev/zero of=/dev/mapper/vb bs=4k seek=$((15 * 8)) count=1 oflag=direct 2>&1) && rc=0 || rc=$?
assert_match "B: writing an unmapped extent fails with EIO" 'Input/output error' "$out"
check "B: discarding unmapped extents 12..18 succeeds" -- blkdiscard -f -o $((12 * 32768)) -l $((7 * 32768)) /dev/mapper/vb
check "B: discarding mapped 8,9 + unmapped 10,11 succeeds" -- blkdiscard -f -o $((8 * 32768)) -l $((4 * 32768)) /dev/mapper/vb
drop_cache "$L0"
check "B: mapped extents 8,9 were discarded on L0" -- is_zero "$L0" $((16384 + 8 * E)) $((2 * E))
check_fail "B: write-zeroes of an unmapped extent fails" -- \
	blkdiscard -f -z -o $((40 * 32768)) -l 32768 /dev/mapper/vb
check "B: mapped extents still read fine" -- dd if=/dev/mapper/vb of=/dev/null bs=32k count=8 iflag=direct status=none

drop_cache /dev/mapper/vc
check "C: an unmapped extent reads as zeroes" -- is_zero /dev/mapper/vc $((15 * E)) $E
check "C: the whole unmapped tail 30..63 reads as zeroes" -- is_zero /dev/mapper/vc $((30 * E)) $((34 * E))
check "C: a read crossing mapped 9 -> unmapped 10 gives data then zeroes" -- bash -c "
	dd if=/dev/mapper/vc bs=512 skip=$((10 * E - 8)) count=16 iflag=direct status=none >$T/x &&
	cmp -n 4096 $T/x <(dd if=$L0 bs=512 skip=$((24576 + 10 * E - 8)) count=8 iflag=direct status=none) &&
	cmp -i 4096:0 -n 4096 $T/x /dev/zero"
out=$(dd if=/dev/zero of=/dev/mapper/vc bs=4k seek=$((15 * 8)) count=1 oflag=direct 2>&1) && rc=0 || rc=$?
assert_match "C: writing an unmapped extent still fails with EIO" 'Input/output error' "$out"
check "C: discarding an unmapped extent succeeds" -- blkdiscard -f -o $((15 * 32768)) -l 32768 /dev/mapper/vc
assert_eq "B: failed I/O to unmapped extents is no device error" "0 20/64 AA" "$(dmsetup status vb | cut -d' ' -f4-6)"
assert_eq "C: status" "0 20/64 AA" "$(dmsetup status vc | cut -d' ' -f4-6)"

# Flush fan-out of B: only its two devices.
for d in "$L0" "$L1" "$L2" "$L3"; do FC0[$d]=$(flush_count "$d"); done
sync /dev/mapper/vb
assert_eq "fsync of B: one flush to L0, one to L1, none to L2/L3" "1 1 0 0" \
	"$(for d in "$L0" "$L1" "$L2" "$L3"; do echo -n "$(($(flush_count "$d") - FC0[$d])) "; done | sed 's/ $//')"

# --- unmapping a live extent (map_set to "-") ---
check "B: read extent 5 before unmapping it" -- dd if=/dev/mapper/vb of=/dev/null bs=32k skip=5 count=1 iflag=direct status=none
assert_eq "B: map_set 5:-:0 unmaps a mapped extent (gen 1)" 1 "$(msg vb map_set 0 "5:-:0")"
assert_eq "B: status 19/64" "1 19/64 AA" "$(dmsetup status vb | cut -d' ' -f4-6)"
assert_eq "B: map_get shows the hole" "4:0:4:1 6:0:6:4" "$(msg vb map_get 4 6)"
check_fail "B: the unmapped extent 5 now fails to read" -- \
	dd if=/dev/mapper/vb of=/dev/null bs=32k skip=5 count=1 iflag=direct status=none
assert_eq "C: map_set 5:-:0 on C" 1 "$(msg vc map_set 0 "5:-:0")"
check "C: extent 5 now reads as zeroes" -- is_zero /dev/mapper/vc $((5 * E)) $E
C5=$(sum_region "$L0" $((24576 + 5 * E)) $E)
assert_eq "C: map it back to the same place (gen 2)" 2 "$(msg vc map_set 1 "5:0:5")"
assert_eq "C: the data is back (the physical extent was not touched)" "$C5" \
	"$(sum_region /dev/mapper/vc $((5 * E)) $E)"

# --- discard / write-zeroes on a non-power-of-2 extent size ---
# Volume N: extent 24 sectors, 100 extents, slots L1/L2 at sector 13312
# (between A's and B's areas), shuffled map.
gen_map 13 100 "60 60" 4 0.3 | runs_of >"$W/runsN"
cvol_table 2400 df-n 24 "$L1 13312 $L2 13312" "$W/runsN" >"$W/tableN"
check "create N (extent 24 sectors)" -- dmsetup create vn "$W/tableN"
check "fill N" -- dd if=/dev/urandom of=/dev/mapper/vn bs=1200k count=1 oflag=direct status=none
drop_cache /dev/mapper/vn
dd if=/dev/mapper/vn of=$T/vn bs=1200k iflag=direct status=none
S=$((10 * 24 + 8))
N=$((5 * 24))
check "N: blkdiscard over 6 extents of 24 sectors" -- blkdiscard -f -o $((S * 512)) -l $((N * 512)) /dev/mapper/vn
dd if=/dev/zero of=$T/vn bs=512 seek=$S count=$N conv=notrunc status=none
S=$((50 * 24 + 16))
N=$((3 * 24 + 8))
check "N: blkdiscard -z over 5 extents of 24 sectors" -- blkdiscard -f -z -o $((S * 512)) -l $((N * 512)) /dev/mapper/vn
dd if=/dev/zero of=$T/vn bs=512 seek=$S count=$N conv=notrunc status=none
drop_cache /dev/mapper/vn
check "N: the volume reads back with exactly those ranges zeroed" -- \
	cmp <(dd if=/dev/mapper/vn bs=1200k iflag=direct status=none) $T/vn

# --- a volume whose only slot is empty ---
check "create E: one empty slot, nothing mapped, unmapped_zero" -- \
	dmsetup create ve --table "0 1024 cvol df-e 64 1 - 0 1 unmapped_zero"
assert_eq "E: status" "0 0/16 -" "$(dmsetup status ve | cut -d' ' -f4-6)"
check "E: fsync (no device to flush)" -- sync /dev/mapper/ve
check "E: reads zeroes" -- is_zero /dev/mapper/ve 0 1024
check_fail "E: write fails" -- dd if=/dev/zero of=/dev/mapper/ve bs=4k count=1 oflag=direct status=none
check_fail "E: map_set onto the empty slot fails" -- msg ve map_set 0 "0:0:0"

for v in a b c n e; do check "remove v$v" -- dmsetup remove v$v; done
check "detach the ext4-backed loop devices and unmount" -- sh -c \
	"losetup -d $L0 $L1 $L2 $L3 && umount /tmp/ext4"
assert_no_kernel_warning
finish
