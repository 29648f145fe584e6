#!/usr/bin/env bash
# timeout: 300
# smp: 2
#
# Live remapping under verified fio load (O_DIRECT, crc32c, libaio).
#
# Design (why the data copies are correct): the target has no user-visible
# freeze yet, so an extent may only be copied while nothing writes it.
#   * Volume: 512 extents of 64 KiB over 3 null_blk devices, shuffled map.
#     Region A = extents 0..255, region B = extents 256..511.
#   * Phase 1: a fio write job fills region B (crc32c headers, fixed seed).
#     From then on nothing writes region B.
#   * Phase 2, concurrently:
#       - writer loop over region A: fio randwrite + verify (--verify_backlog,
#         2 jobs, iodepth 8, mixed sizes), one finite run after another, each
#         with a new seed (so a lost write shows up as a block of the
#         previous run: wrong seed/crc);
#       - reader loop over region B: fio --verify_only (same job as phase 1):
#         re-reads and checks all of region B, run after run;
#       - the remapper, in the foreground:
#         B moves (live, no quiesce needed): extents of region B are only
#           read, so copying old->new physical location through the backing
#           devices is exact even while the reader runs; then map_set (the
#           target holds the extent, drains the reads in flight, switches),
#           then the OLD location is overwritten with garbage at once. A read
#           still routed to the old place after map_set returned would fail
#           the reader's verification.
#         A moves (under writes): region A is written all the time, so it is
#           quiesced with `dmsetup suspend` (dm holds new bios and waits for
#           those in flight), copied, map_set (messages work on a suspended
#           device), the old location overwritten with garbage, resumed.
#       Some moves are runs of 3 extents and some messages carry several
#       items.
#   * Phase 3: final verify_only passes over region B (phase 1 job) and
#     region A (the writer's last run), a direct read-back check of every
#     moved extent against its new physical location, and the status.
source "$CVOL_ROOT/tests/vm/lib.sh"
source "$CVOL_ROOT/tests/vm/lib/remap.bash"
source "$CVOL_ROOT/tests/vm/lib/fio.bash"

load_cvol
D=("$(mk_nullb 64)" "$(mk_nullb 64)" "$(mk_nullb 64)")
W=$CVOL_OUT/work
mkdir -p "$W"
E=128
EB=$((E * 512))
NV=512
LEN=$((NV * E))
HALF=$((NV / 2))

gen_map 31 "$NV" "256 256 256" 6 0.3 >"$W/map"
runs_of <"$W/map" >"$W/runs"
declare -A MD MP
while read -r v d p; do MD[$v]=$d MP[$v]=$p; done <"$W/map"
NEXT=(256 256 256) # fresh destination pexts per device (initial map uses < 256)
cvol_table "$LEN" fv-vol "$E" "${D[0]} 0 ${D[1]} 0 ${D[2]} 0" "$W/runs" >"$W/table"
check "create the volume ($(wc -l <"$W/runs") runs)" -- dmsetup create cv "$W/table"
V=/dev/mapper/cv

# Region B: one job, written once (seed 4242), then only read.
read -ra JOB_B <<<"$(fio_verify_args -n regionB -b 16k -q 4 -j 1 -o $((HALF * EB)) $V $((HALF * EB)) 4242)"
job_a() { # SEED [extra fio args]: region A, 2 jobs
	fio_verify_args -n regionA -j 2 $V $((HALF * EB)) "$@"
}

check "phase 1: fio fills region B (crc32c headers)" -- \
	fio "${JOB_B[@]}" --do_verify=0 --output="$CVOL_OUT/fio-b-fill.txt"
check "phase 1: region B verifies (verify_only)" -- \
	fio "${JOB_B[@]}" --verify_only --output="$CVOL_OUT/fio-b-verify0.txt"
check "phase 1: initial fill of region A" -- fio $(job_a 1000) --output="$CVOL_OUT/fio-a-0.txt"

# writer loop over region A
writer_start a 1000 job_a --verify_backlog=128
# reader loop over region B (the same job each pass: the seed is ignored)
reader_job() { echo "${JOB_B[@]}" --verify_only --loops=4; }
writer_start b 0 reader_job
sleep 2

GEN=0
MOVED=()
MSGS=0
# dest_dev V: another device than the one V is on now.
dest_dev() { echo $(((MD[$1] + 1 + RANDOM % 2) % 3)); }
copy_ext() { # d p d2 p2 count
	dd if="${D[$1]}" of="${D[$3]}" bs=$EB skip=$2 seek=$4 count=$5 iflag=direct oflag=direct status=none
}
garbage() { # d p count
	dd if=/dev/urandom of="${D[$1]}" bs=$EB seek=$2 count=$3 oflag=direct status=none
}
# move QUIESCE SPEC...: moves the extents named by each SPEC ("V" or "V+N"
# for N extents from V) to fresh physical extents on another device, copying
# the data first, all in ONE map_set message; then overwrites the old
# locations with garbage. All devices have data offset 0.
move() {
	local quiesce=$1 items=() olds=() v n d2 p2 k r
	shift
	for spec in "$@"; do
		v=${spec%+*}
		n=1
		[ "$spec" = "$v" ] || n=${spec#*+}
		d2=$(dest_dev "$v")
		p2=${NEXT[$d2]}
		NEXT[$d2]=$((p2 + n))
		for ((k = 0; k < n; k++)); do
			copy_ext "${MD[$((v + k))]}" "${MP[$((v + k))]}" "$d2" $((p2 + k)) 1
			olds+=("${MD[$((v + k))]}:${MP[$((v + k))]}")
			MD[$((v + k))]=$d2 MP[$((v + k))]=$((p2 + k))
			MOVED+=($((v + k)))
		done
		items+=("$v:$d2:$p2:$n")
	done
	MSGS=$((MSGS + 1))
	r=$(msg cv map_set $GEN "${items[@]}") || { fail "map_set $GEN ${items[*]} failed"; return 0; }
	[ "$r" = $((GEN + 1)) ] || fail "map_set returned gen '$r', expected $((GEN + 1))"
	GEN=$r
	for o in "${olds[@]}"; do garbage "${o%:*}" "${o#*:}" 1; done
	echo "# moved ${items[*]} -> gen $GEN${quiesce:+ (under suspend)}"
}

t0=$(now_ns)
NB=0 NA=0
for round in 1 2 3 4 5 6; do
	# B: two single extents in one message, then a 3-extent run (live)
	v1=$((HALF + RANDOM % HALF))
	v2=$((HALF + RANDOM % HALF))
	[ $v1 -ne $v2 ] || v2=$(((v1 + 1 - HALF) % HALF + HALF))
	move "" $v1 $v2
	move "" "$((HALF + RANDOM % (HALF - 3)))+3"
	NB=$((NB + 5))
	# A: quiesced by a dm suspend
	dmsetup suspend cv
	va=$((RANDOM % (HALF - 3)))
	move s $va || true
	NA=$((NA + 1))
	if [ $((round % 2)) -eq 1 ]; then
		move s "$(((va + 100) % (HALF - 3)))+3" || true
		NA=$((NA + 3))
	fi
	dmsetup resume cv
	sleep 1
done
REMAP_MS=$(ms_since $t0)
writer_stop a b
AR=$(writer_runs a)
BR=$(writer_runs b)
plan_note "remap phase ${REMAP_MS} ms: $GEN map_sets, $NB region-B and $NA region-A extent moves; writer runs $AR, reader runs $BR"
assert_eq "every map_set ($MSGS) bumped the generation by one" "$MSGS" "$GEN"
[ "$AR" -ge 2 ] && ok "the writer ran throughout ($AR runs)" || fail "writer ran only $AR times"
[ "$BR" -ge 2 ] && ok "the reader ran throughout ($BR runs)" || fail "reader ran only $BR times"
assert_eq "writer (region A, verify_backlog) had no failed run" "" "$(writer_failed a)"
assert_eq "reader (region B, verify_only) had no failed run" "" "$(writer_failed b)"
assert_eq "no fio output reports an error" "" "$(fio_errors "$CVOL_OUT"/fio-*.txt)"

# Phase 3
check "final: region B verifies (verify_only)" -- \
	fio "${JOB_B[@]}" --verify_only --output="$CVOL_OUT/fio-b-final.txt"
check "final: region A verifies against the writer's last run" -- \
	fio $(job_a "$(writer_lastseed a)") --verify_only --output="$CVOL_OUT/fio-a-final.txt"
bad=0
for v in $(printf '%s\n' "${MOVED[@]}" | sort -un); do
	cmp -s <(dd if=$V bs=$EB skip=$v count=1 iflag=direct status=none) \
		<(dd if="${D[${MD[$v]}]}" bs=$EB skip="${MP[$v]}" count=1 iflag=direct status=none) ||
		{ bad=$((bad + 1)); echo "# extent $v does not read from ${MD[$v]}:${MP[$v]}"; }
done
assert_eq "every moved extent ($(printf '%s\n' "${MOVED[@]}" | sort -u | wc -l)) reads from its new physical location" 0 "$bad"
# The live map equals the bookkeeping.
for v in $(seq 0 $((NV - 1))); do echo "$v ${MD[$v]} ${MP[$v]}"; done | runs_of >"$W/runs-expected"
assert_eq "map_get equals the expected map" "$(runs_line <"$W/runs-expected")" \
	"$(msg cv map_get 0 $NV)"
assert_eq "status: gen $GEN, all mapped, no device errors" "$GEN $NV/$NV AAA" "$(dmsetup status cv | cut -d' ' -f4-6)"

# Self-check: the verification does catch misrouted data. Move one extent of
# region B to a fresh location WITHOUT copying it (the location holds
# garbage): verify_only of region B must now fail.
v=$((HALF + 7))
d2=$(dest_dev $v)
garbage "$d2" "${NEXT[$d2]}" 1
check "self-check: map_set extent $v to a garbage location without copy" -- \
	msg cv map_set $GEN "$v:$d2:${NEXT[$d2]}"
check_fail "self-check: region B verification now fails" -- \
	fio "${JOB_B[@]}" --verify_only --output="$CVOL_OUT/fio-b-selfcheck.txt"
check "remove" -- dmsetup remove cv
assert_no_kernel_warning
finish
