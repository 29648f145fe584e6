#!/usr/bin/env bash
# timeout: 420
# smp: 2
#
# Online migration (migrate_start / migrate_commit) of EVERY extent of a
# volume, twice (device A -> B, then B -> A at fresh places), 4 migrations
# at a time, under a continuous crc32c-verified fio writer. Proves that no
# acknowledged write is lost or misplaced by the copy / dual-write /
# cutover, and that nothing lands at an old place after migrate_done.
#
#   * Volume mv: 16 extents of 1 MiB, region_sectors 256 (8 regions of
#     128 KiB per extent), all on slot 0 (null_blk A) in shuffled order;
#     slot 1 is null_blk B.
#   * Writer loop: fio randwrite, crc32c verify with verify_backlog, 4 jobs
#     on disjoint quarters, iodepth 8, 4k/16k/64k/256k blocks aligned to 4k
#     (64k and 256k ones straddle regions and extents), O_DIRECT libaio;
#     finite runs one after another, each with a new seed.
#   * Mover: keeps 4 migrations running; polls `dmsetup status` until one is
#     `ready`, commits it (the printed generation must be the previous + 1),
#     overwrites the OLD physical extent with random bytes, starts the next.
#   * Assertions: every migration reached ready and committed, no fio run
#     failed or reported an error, the final verify-only pass is clean; the
#     bytes read through dm equal, extent by extent, the raw bytes at the
#     place map_get reports; map_get == the mover's bookkeeping; gen == 32;
#     status: no freeze, no migration, health AA; events: one migrate_ready
#     (dst slot and pext) and one migrate_done (old slot and pext) per
#     migration, no migrate_failed / dst_write_error, no gap.
#   * Self-checks (the test can fail): a map_set of one extent to a place
#     holding garbage makes the verify-only pass fail; the per-extent raw
#     comparison fails against an old (garbaged) place.
# job() prints fio arguments that are meant to be split into words.
# shellcheck disable=SC2046
source "$CVOL_ROOT/tests/vm/lib.sh"
source "$CVOL_ROOT/tests/vm/lib/migrate.bash"
source "$CVOL_ROOT/tests/vm/lib/events.bash"
source "$CVOL_ROOT/tests/vm/lib/fio.bash"
W=/tmp/mfv
mkdir -p $W

load_cvol
D=("$(mk_nullb 40)" "$(mk_nullb 24)")	# A: 16 + 16 fresh + spare, B: 16 + garbage spares
E=2048		# 1 MiB extents
EB=$((E * 512))
RS=256		# region_sectors
NV=16
CONC=4
UUID=mfv-vol

check "event listener" -- ev_listen ev
gen_map 41 $NV "$NV 0" 4 0.3 >$W/map
runs_of <$W/map >$W/runs
declare -A MD MP
while read -r v d p; do MD[$v]=$d MP[$v]=$p; done <$W/map
cvol_table $((NV * E)) $UUID $E "${D[0]} 0 ${D[1]} 0" $W/runs region_sectors $RS >$W/table
check "create mv ($(wc -l <$W/runs) runs on slot 0, region_sectors $RS)" -- dmsetup create mv $W/table
V=/dev/mapper/mv

job() { # SEED [extra fio args]
	fio_verify_args -b 4k/40:16k/30:64k/20:256k/10 "$V" $((NV * EB)) "$@"
}
check "initial fill + verify" -- fio $(job 3000) --output="$CVOL_OUT/fio-0.txt"
writer_start -o fio- w 3000 job --verify_backlog=64
sleep 2

# The migration plan: pass 1 moves every extent to B (shuffled places
# 0..15), pass 2 back to A at fresh places 16..31 (shuffled).
seq 1 5000 >$W/randsrc
paste -d' ' <(seq 0 $((NV - 1)) | shuf --random-source=$W/randsrc) \
	<(seq 0 $((NV - 1)) | shuf --random-source=<(seq 7 9000)) |
	awk '{ print $1, 1, $2 }' >$W/plan1
paste -d' ' <(seq 0 $((NV - 1)) | shuf --random-source=<(seq 3 7000)) \
	<(seq 16 $((16 + NV - 1)) | shuf --random-source=<(seq 11 8000)) |
	awk '{ print $1, 0, $2 }' >$W/plan2

GEN=$(status_gen mv)
GEN0=$GEN
NCOMMIT=0
NBAD=0
MAXCONC=0
PARTIAL=0
: >$W/expect-ready
: >$W/expect-done
declare -A ACT=()	# vext -> "dst_dev dst_pext"

# run_plan FILE: migrate every "vext dst_dev dst_pext" of FILE, CONC at a
# time; a pass starts only after the previous one is committed.
run_plan() {
	local -a q
	local v d p s c n line st t0 r
	mapfile -t q <"$1"
	t0=$(now_ns)
	while [ ${#q[@]} -gt 0 ] || [ ${#ACT[@]} -gt 0 ]; do
		while [ ${#ACT[@]} -lt $CONC ] && [ ${#q[@]} -gt 0 ]; do
			read -r v d p <<<"${q[0]}"
			q=("${q[@]:1}")
			if r=$(msg mv migrate_start "$v" "$d" "$p" 2>&1); then
				ACT[$v]="$d $p"
			else
				NBAD=$((NBAD + 1))
				echo "# migrate_start $v $d $p failed: $r"
			fi
		done
		mapfile -t st < <(mig_entries mv)
		[ ${#st[@]} -le $MAXCONC ] || MAXCONC=${#st[@]}
		local -A seen=()
		for line in "${st[@]}"; do
			read -r v s c n _ <<<"$line"
			seen[$v]=1
			[ -n "${ACT[$v]:-}" ] || { NBAD=$((NBAD + 1)); echo "# unexpected migration in status: $line"; continue; }
			[ "$s" != copy ] || [ "$c" = 0 ] || [ "$c" = "$n" ] || PARTIAL=$((PARTIAL + 1))
			case $s in
			ready)
				read -r d p <<<"${ACT[$v]}"
				r=$(msg mv migrate_commit "$v" 2>&1) || r="error: $r"
				if [ "$r" != $((GEN + 1)) ]; then
					NBAD=$((NBAD + 1))
					echo "# migrate_commit $v (gen $GEN) -> '$r'"
					# EAGAIN (went back to copy): try again later.
					[ "$(mig_of mv "$v")" != none ] || unset "ACT[$v]"
					continue
				fi
				GEN=$r
				NCOMMIT=$((NCOMMIT + 1))
				echo "$v $d $p" >>$W/expect-ready
				echo "$v ${MD[$v]} ${MP[$v]}" >>$W/expect-done
				# The old place is free now: garbage it.
				dd if=/dev/urandom of="${D[${MD[$v]}]}" bs=$EB seek="${MP[$v]}" count=1 \
					oflag=direct status=none
				MD[$v]=$d MP[$v]=$p
				unset "ACT[$v]"
				;;
			failed | abort)
				NBAD=$((NBAD + 1))
				echo "# migration of $v: $line"
				;;
			esac
		done
		# A migration that vanished without a commit (failed and ended).
		for v in "${!ACT[@]}"; do
			if [ -z "${seen[$v]:-}" ]; then
				NBAD=$((NBAD + 1))
				echo "# migration of $v vanished"
				unset "ACT[$v]"
			fi
		done
		if [ "$(ms_since "$t0")" -gt 150000 ]; then
			NBAD=$((NBAD + 1))
			echo "# pass $1 did not finish in 150 s: $(dmsetup status mv)"
			return 0
		fi
		sleep 0.1
	done
}

t0=$(now_ns)
run_plan $W/plan1
P1_MS=$(ms_since "$t0")
assert_eq "after pass 1 every extent is on slot 1" "" "$(msg mv map_get 0 $NV | expand_runs | awk '$2 != 1')"
run_plan $W/plan2
MOVE_MS=$(ms_since "$t0")
WRITER_ALIVE=$(writer_alive w && echo yes || echo no)
writer_stop w
RUNS=$(writer_runs w)
plan_note "mover: $NCOMMIT commits in $MOVE_MS ms (pass 1: $P1_MS ms), at most $MAXCONC migrations at once, $PARTIAL polls saw a partly copied extent; writer runs: $RUNS"
assert_eq "no migration step failed" 0 "$NBAD"
assert_eq "all $((2 * NV)) migrations committed" $((2 * NV)) "$NCOMMIT"
assert_eq "$CONC migrations ran at once" $CONC "$MAXCONC"
assert_eq "the writer was still running when the last commit returned" yes "$WRITER_ALIVE"
[ "$RUNS" -ge 2 ] && ok "the writer ran throughout ($RUNS runs)" || fail "the writer ran only $RUNS times"
assert_eq "no writer run failed" "" "$(writer_failed w)"
assert_eq "no fio output reports an error" "" "$(fio_errors "$CVOL_OUT"/fio-*.txt)"
check "final verify-only pass of the last run ($(writer_lastseed w)) is clean" -- \
	fio $(job "$(writer_lastseed w)") --verify_only --output="$CVOL_OUT/fio-final.txt"

for v in $(seq 0 $((NV - 1))); do echo "$v ${MD[$v]} ${MP[$v]}"; done | runs_of >$W/runs-expected
assert_eq "map_get == the mover's bookkeeping (all on slot 0 at 16..31)" \
	"$(runs_line <$W/runs-expected)" "$(msg mv map_get 0 $NV)"
assert_eq "every extent ended on slot 0 at a fresh place" "" \
	"$(msg mv map_get 0 $NV | expand_runs | awk '$2 != 0 || $3 < 16')"
assert_eq "status: gen $GEN, all mapped, health AA, no freeze, no migration" "$GEN $NV/$NV AA 0 0" \
	"$(dmsetup status mv | cut -d' ' -f4-8)"
assert_eq "gen == number of commits" "$((GEN0 + 2 * NV))" "$GEN"

# The bytes through dm == the raw bytes at the mapped place, per extent.
dd if=$V of=$W/vol.img bs=$EB iflag=direct status=none
ext_matches() { # V SLOT PEXT
	cmp -s <(raw_ext "${D[$2]}" "$3" $E) <(dd if=$W/vol.img bs=$EB skip="$1" count=1 status=none)
}
bad=
while read -r v d p; do ext_matches "$v" "$d" "$p" || bad+=" $v"; done < <(msg mv map_get 0 $NV | expand_runs)
assert_eq "every extent's dm content == the raw bytes at its map_get place" "" "$bad"

# Events.
sleep 0.5
ev_of ev $UUID >$CVOL_OUT/events.jsonl
assert_eq "events: one migrate_ready per migration, with its dst slot and pext" \
	"$(sort -n $W/expect-ready)" \
	"$(jq -r 'select(.type == "migrate_ready") | "\(.vext) \(.dev_slot) \(.value)"' $CVOL_OUT/events.jsonl | sort -n)"
assert_eq "events: one migrate_done per migration, with the old slot and pext" \
	"$(sort -n $W/expect-done)" \
	"$(jq -r 'select(.type == "migrate_done") | "\(.vext) \(.dev_slot) \(.value)"' $CVOL_OUT/events.jsonl | sort -n)"
assert_eq "events: no migrate_failed, dst_write_error, dev_error, gap" "" \
	"$(jq -r 'select(.type == "migrate_failed" or .type == "dst_write_error" or .type == "dev_error") | .type' $CVOL_OUT/events.jsonl;
	   grep -c '"type":"gap"' $W/ev.jsonl | grep -v '^0$' || true)"
assert_eq "events_seq: nothing lost" 0 "$(msg mv events_seq | cut -d' ' -f2)"

# Self-checks: the checks above can fail.
v=5
check_fail "self-check: the raw comparison fails against extent $v's first (garbaged) place" -- \
	ext_matches $v "$(awk -v v=$v '$1 == v { print $2 }' $W/map)" "$(awk -v v=$v '$1 == v { print $3 }' $W/map)"
dd if=/dev/urandom of="${D[1]}" bs=$EB seek=20 count=1 oflag=direct status=none
check "self-check: map_set extent $v to a place holding garbage (slot 1, 20)" -- msg mv map_set "$GEN" "$v:1:20"
check_fail "self-check: the verify-only pass now fails" -- \
	fio $(job "$(writer_lastseed w)") --verify_only --output="$CVOL_OUT/fio-selfcheck.txt"
ev_stop ev
check "remove" -- dmsetup remove mv
assert_no_kernel_warning
finish
