#!/usr/bin/env bash
# timeout: 400
#
# Equivalence with dm-linear. Two identical sets of three zeroed null_blk
# devices; on set A two cvol volumes with shuffled multi-device maps, on set B
# the dm-linear devices that express the same maps segment by segment. The
# same deterministic O_DIRECT write stream (fio, fixed randseed, fresh random
# data per I/O, mixed block sizes so that I/Os straddle extents) goes to a
# cvol volume and to its linear twin; afterwards the backing devices of both
# sets must be byte-identical, and reading through cvol and through linear
# must give the same bytes.
#
#   vol pow2: extent 128 sectors (64 KiB, shift fast path), 1000 extents, the
#             last one partial (72 of 128 sectors), data area at sector 2048
#             of each device, physical extents 0..383 used
#   vol np2:  extent 24 sectors (12 KiB, division path), 9000 extents, the
#             last one partial (16 of 24), data area at sector 53248 of each
#             device (behind the pow2 volume's area), physical extents
#             0..3199 used
# Both maps: chunks of 1..6 physical extents over all 3 devices, shuffled, a
# third of them in reverse physical order.
source "$CVOL_ROOT/tests/vm/lib.sh"
source "$CVOL_ROOT/tests/vm/lib/remap.bash"

load_cvol

DEV_MIB=64
A=() B=()
for i in 0 1 2; do A+=("$(mk_nullb $DEV_MIB)"); done
for i in 0 1 2; do B+=("$(mk_nullb $DEV_MIB)"); done
plan_note "set A (cvol): ${A[*]}  set B (linear): ${B[*]}"

W=$CVOL_OUT/work
mkdir -p "$W"

# name uuid ext nvext partial offset cap seed
VOLS=(
	"pow2 eq-pow2 128 1000 72 2048 384 11"
	"np2 eq-np2 24 9000 16 53248 3200 22"
)

for spec in "${VOLS[@]}"; do
	read -r name uuid ext nv part off cap seed <<<"$spec"
	len=$(((nv - 1) * ext + part))
	# The two areas must not overlap on the devices.
	[ "$name" != pow2 ] || [ $((off + cap * ext)) -le 53248 ] || { fail "layout overlap"; finish; }

	gen_map "$seed" "$nv" "$cap $cap $cap" 6 0.33 >"$W/$name.map"
	runs_of <"$W/$name.map" >"$W/$name.runs"
	nruns=$(wc -l <"$W/$name.runs")
	ndevs=$(cut -d' ' -f2 "$W/$name.map" | sort -u | wc -l)
	nrev=$(awk -F: '$4 == 1' "$W/$name.runs" | wc -l)
	plan_note "$name: extent $ext, $nv extents, len $len sectors, $nruns runs ($nrev of length 1)"
	[ "$nruns" -ge $((nv / 8)) ] && [ "$ndevs" -eq 3 ] && [ "$nrev" -ge 10 ] &&
		ok "$name: the map is fragmented over all 3 devices" ||
		fail "$name: map not fragmented enough ($nruns runs, $ndevs devs)"

	cvol_table "$len" "$uuid" "$ext" "${A[0]} $off ${A[1]} $off ${A[2]} $off" "$W/$name.runs" \
		>"$W/$name.cvol.table"
	linear_table "$ext" "$len" "${B[*]}" "$off $off $off" <"$W/$name.runs" >"$W/$name.linear.table"
	check "$name: create cvol volume" -- dmsetup create "cv_$name" "$W/$name.cvol.table"
	check "$name: create dm-linear twin ($nruns segments)" -- \
		dmsetup create "lin_$name" "$W/$name.linear.table"
	assert_eq "$name: cvol size" "$len" "$(dev_sectors /dev/mapper/cv_$name)"
	assert_eq "$name: linear size" "$len" "$(dev_sectors /dev/mapper/lin_$name)"
	assert_eq "$name: status: gen 0, all extents mapped, 3 devices alive" \
		"0 $nv/$nv AAA" "$(dmsetup status cv_$name | cut -d' ' -f4-6)"
	assert_eq "$name: map_get of the whole volume equals the runs loaded" \
		"$(runs_line <"$W/$name.runs")" \
		"$(msg cv_$name map_get 0 "$nv")"
done

# fio job: deterministic given the seed: one job, iodepth 1, fresh random
# buffer contents per I/O from the seeded generator, no time-dependent
# scrambling. Pass 1: 4k-aligned, 4k..64k. Pass 2: 512-byte-aligned, odd
# sizes (straddles every boundary of the 24-sector extents).
fio_stream() {
	local dev=$1 len=$2 tag=$3
	fio --name=p1 --filename="$dev" --rw=randwrite \
		--bssplit=4k/30:8k/20:20k/20:64k/30 --blockalign=4k \
		--ioengine=psync --iodepth=1 --direct=1 --randseed=1234 \
		--refill_buffers=1 --scramble_buffers=0 --verify=0 \
		--size=$((len * 512)) --io_size=$((len * 512 * 3 / 4)) \
		--output="$CVOL_OUT/fio-$tag-p1.txt" &&
		fio --name=p2 --filename="$dev" --rw=randwrite \
			--bsrange=512-12k --blockalign=512 \
			--ioengine=psync --iodepth=1 --direct=1 --randseed=4321 \
			--refill_buffers=1 --scramble_buffers=0 --verify=0 \
			--size=$((len * 512)) --io_size=4M \
			--output="$CVOL_OUT/fio-$tag-p2.txt" &&
		dd if="$W/tail.bin" of="$dev" bs=4k seek=$((len / 8 - 16)) oflag=direct status=none
}
# The last 64 KiB of each volume (the partial last extent and the extents
# before it) get a fixed write, so the tail is surely covered.
head -c 65536 /dev/urandom >"$W/tail.bin"

for spec in "${VOLS[@]}"; do
	read -r name uuid ext nv part off cap seed <<<"$spec"
	len=$(((nv - 1) * ext + part))
	t0=$(now_ns)
	check "$name: fio write stream to cvol" -- fio_stream /dev/mapper/cv_$name "$len" cv_$name
	t1=$(now_ns)
	check "$name: fio write stream to dm-linear" -- fio_stream /dev/mapper/lin_$name "$len" lin_$name
	plan_note "$name: fio cvol $((($t1 - t0) / 1000000)) ms, linear $((($(now_ns) - t1) / 1000000)) ms"
	assert_match "$name: fio on cvol reports no error" 'err= *0' "$(cat "$CVOL_OUT/fio-cv_$name-p1.txt")"
	# The last partial extent must have been written too (fio covers the
	# last 4k-aligned blocks): its data lies on the device of the last run.
	check_fail "$name: volume tail is not all zeroes" -- \
		is_zero /dev/mapper/cv_$name $((len - part)) "$part"
done

# Both sets must now hold exactly the same bytes. (Buffered reads of the
# backing devices: drop their page cache first, every time.)
drop_cache "${A[@]}" "${B[@]}"
for i in 0 1 2; do
	check_fail "device $i of set A was written (not all zero)" -- \
		cmp -s -n $((DEV_MIB << 20)) "${A[$i]}" /dev/zero
	check "device $i: set A (cvol) and set B (linear) are byte-identical" -- \
		cmp "${A[$i]}" "${B[$i]}"
done

for spec in "${VOLS[@]}"; do
	read -r name _ <<<"$spec"
	drop_cache /dev/mapper/cv_$name /dev/mapper/lin_$name
	check "$name: reading through cvol equals reading through dm-linear" -- \
		cmp /dev/mapper/cv_$name /dev/mapper/lin_$name
	# Also with O_DIRECT reads of odd size and offset (split by dm at each
	# extent boundary).
	check "$name: O_DIRECT reads of 28 KiB blocks at a 6 KiB offset agree" -- \
		cmp <(dd if=/dev/mapper/cv_$name bs=28k iflag=direct,skip_bytes skip=6144 count=600 status=none) \
		<(dd if=/dev/mapper/lin_$name bs=28k iflag=direct,skip_bytes skip=6144 count=600 status=none)
	assert_eq "$name: no device errors, map unchanged (gen 0)" "0 AAA" \
		"$(dmsetup status cv_$name | awk '{ print $4, $6 }')"
done

# A deliberate misplacement must be caught by this very comparison: move one
# extent of the pow2 volume to a free physical extent (map_set on an
# unmapped-destination, same data is NOT copied), write one block through
# cvol and linear at the same offset, and the sets must differ.
read -r _ _ ext nv _ off _ _ <<<"${VOLS[0]}"
v=$(($(head -1 "$W/pow2.map" | cut -d' ' -f1)))
check "self-check: remap extent $v of pow2 to the unused physical extent 390 of device 0" -- \
	msg cv_pow2 map_set 0 "$v:0:390"
dd if=/dev/urandom of=/tmp/blk bs=4k count=1 status=none
dd if=/tmp/blk of=/dev/mapper/cv_pow2 bs=4k seek=$((v * ext / 8)) oflag=direct status=none
dd if=/tmp/blk of=/dev/mapper/lin_pow2 bs=4k seek=$((v * ext / 8)) oflag=direct status=none
drop_cache "${A[@]}" "${B[@]}"
check_fail "self-check: after a remap without copy the sets differ (the comparison can fail)" -- \
	cmp -s "${A[0]}" "${B[0]}"
check "self-check: the block landed at physical extent 390 of device 0" -- \
	cmp /tmp/blk <(dd if="${A[0]}" bs=512 skip=$((off + 390 * ext)) count=8 iflag=direct status=none)

for spec in "${VOLS[@]}"; do
	read -r name _ <<<"$spec"
	check "$name: remove cvol" -- dmsetup remove cv_$name
	check "$name: remove linear" -- dmsetup remove lin_$name
done
assert_no_kernel_warning
finish
