#!/usr/bin/env bash
# timeout: 360
# smp: 2
#
# Moving extents under verified fio load with freeze / freeze_wait / map_set /
# thaw (the path the daemon uses), one extent at a time.
#
#   * Volume hv: 48 extents of 256 KiB, shuffled map over two null_blk
#     devices (physical extents 0..31 of each used at first).
#   * Writer loop: fio randwrite, crc32c verify with verify_backlog, 4 jobs
#     on disjoint quarters, iodepth 8, 4k/16k/64k blocks (some straddle
#     extents), O_DIRECT libaio; finite runs one after another, each with a
#     new seed, per-I/O latency logs with offsets and unix-epoch timestamps.
#   * Mover, in the foreground: every extent once in shuffled order, then 16
#     random extra moves: freeze V 1 -> freeze_wait -> dd (O_DIRECT) of the
#     old physical extent to a fresh one on the other device -> map_set (no
#     drain of its own) -> keep the freeze ~0.3 s longer -> thaw -> overwrite
#     the OLD physical extent with garbage. A write that landed at the old
#     place, or was not held while the copy ran, would be lost and caught by
#     the verification.
#   * Assertions: no fio run failed, no fio error; a final verify-only pass
#     of the writer's last run over the whole volume is clean; every extent
#     was moved; map_get == the mover's bookkeeping; gen == number of moves,
#     no freeze left, no device errors. Hold timing from the fio latency
#     logs: every I/O that fio issued to an extent while it was frozen (after
#     `freeze` returned, before `thaw` was called) completed only after the
#     thaw was called (none violates this), and such held I/Os, writes among
#     them, exist. Self-check: a map_set to a garbage place without a copy
#     makes the verify-only pass fail.
# job() prints fio arguments that are meant to be split into words.
# shellcheck disable=SC2046
source "$CVOL_ROOT/tests/vm/lib.sh"
source "$CVOL_ROOT/tests/vm/lib/remap.bash"
source "$CVOL_ROOT/tests/vm/lib/fio.bash"

load_cvol
D=("$(mk_nullb 64)" "$(mk_nullb 64)")
W=/tmp/hfv
mkdir -p $W
E=512		# 256 KiB extents
EB=$((E * 512))
NV=48
NEXTRA=16
HOLD_EXTRA=0.3	# seconds a freeze is kept after map_set

gen_map 17 $NV "32 32" 4 0.3 >$W/map
runs_of <$W/map >$W/runs
declare -A MD MP NMOVES
while read -r v d p; do MD[$v]=$d MP[$v]=$p NMOVES[$v]=0; done <$W/map
NEXT=(32 32)	# fresh physical extents per device; never reused
cvol_table $((NV * E)) hfv-vol $E "${D[0]} 0 ${D[1]} 0" $W/runs >$W/table
check "create hv ($(wc -l <$W/runs) runs over 2 devices)" -- dmsetup create hv $W/table
V=/dev/mapper/hv

job() { # SEED [extra fio args]
	fio_verify_args "$V" $((NV * EB)) "$@"
}
check "initial fill + verify" -- fio $(job 2000) --output="$CVOL_OUT/fio-0.txt"

# The writer's passes log every I/O with its offset and time (lat-<pass>).
writer_job() { # SEED
	job "$1" --verify_backlog=64 --write_lat_log=$W/lat-$WRITER_PASS --log_offset=1 --log_unix_epoch=1
}
writer_start -o fio- w 2000 writer_job
sleep 1

GEN=$(status_gen hv)
NMOVE=0
MOVEFAIL=0
: >$W/moves
# move V: freeze, drain, copy to a fresh place on the other device, map_set,
# hold a bit longer, thaw, garbage the old place. Records
# "V t_frozen t_thaw_called t_thawed" (ms) in $W/moves.
move() {
	local v=$1 d=${MD[$1]} p=${MP[$1]} d2 p2 id r tf tt tt2
	d2=$((1 - d))
	p2=${NEXT[$d2]}
	NEXT[$d2]=$((p2 + 1))
	id=$(msg hv freeze "$v" 1) || { MOVEFAIL=$((MOVEFAIL + 1)); echo "# freeze $v failed"; return 0; }
	tf=$(now_ms)
	r=$(msg hv freeze_wait "$id" 5000) || r=error
	if [ "$r" != drained ]; then
		MOVEFAIL=$((MOVEFAIL + 1))
		echo "# freeze_wait $id (extent $v): '$r'"
		msg hv thaw "$id" || true
		return 0
	fi
	dd if="${D[$d]}" of="${D[$d2]}" bs=$EB skip="$p" seek="$p2" count=1 \
		iflag=direct oflag=direct status=none
	r=$(msg hv map_set "$GEN" "$v:$d2:$p2") || r=error
	if [ "$r" != $((GEN + 1)) ]; then
		MOVEFAIL=$((MOVEFAIL + 1))
		echo "# map_set $GEN $v:$d2:$p2 -> '$r'"
		msg hv thaw "$id" || true
		return 0
	fi
	GEN=$r
	MD[$v]=$d2 MP[$v]=$p2
	NMOVES[$v]=$((NMOVES[$v] + 1))
	NMOVE=$((NMOVE + 1))
	sleep $HOLD_EXTRA
	tt=$(now_ms)
	msg hv thaw "$id" || { MOVEFAIL=$((MOVEFAIL + 1)); echo "# thaw $id failed"; }
	tt2=$(now_ms)
	echo "$v $tf $tt $tt2" >>$W/moves
	dd if=/dev/urandom of="${D[$d]}" bs=$EB seek="$p" count=1 oflag=direct status=none
}

t0=$(now_ns)
seq 1 5000 >$W/randsrc	# a fixed shuffle
for v in $(seq 0 $((NV - 1)) | shuf --random-source=$W/randsrc); do move "$v"; done
for ((k = 0; k < NEXTRA; k++)); do move $((RANDOM % NV)); done
MOVE_MS=$(ms_since "$t0")
writer_stop w
RUNS=$(writer_runs w)
plan_note "mover: $NMOVE moves in $MOVE_MS ms ($((MOVE_MS / (NMOVE ? NMOVE : 1))) ms each); writer runs: $RUNS"
assert_eq "no move step failed" 0 "$MOVEFAIL"
assert_eq "all $((NV + NEXTRA)) moves done, one map_set each" $((NV + NEXTRA)) "$NMOVE"
[ "$RUNS" -ge 3 ] && ok "the writer ran throughout ($RUNS runs)" || fail "the writer ran only $RUNS times"
assert_eq "no writer run failed" "" "$(writer_failed w)"
assert_eq "no fio output reports an error" "" "$(fio_errors "$CVOL_OUT"/fio-*.txt)"
check "final verify-only pass of the last run ($(writer_lastseed w)) is clean" -- \
	fio $(job "$(writer_lastseed w)") --verify_only --output="$CVOL_OUT/fio-final.txt"
never=$(for v in $(seq 0 $((NV - 1))); do [ "${NMOVES[$v]}" -gt 0 ] || echo "$v"; done)
assert_eq "every extent was moved at least once" "" "$never"
for v in $(seq 0 $((NV - 1))); do echo "$v ${MD[$v]} ${MP[$v]}"; done | runs_of >$W/runs-expected
assert_eq "map_get == the mover's bookkeeping" "$(runs_line <$W/runs-expected)" \
	"$(msg hv map_get 0 $NV)"
assert_eq "status: gen $GEN, all mapped, devices alive, no freeze" "$GEN $NV/$NV AA 0" \
	"$(dmsetup status hv | cut -d' ' -f4-7)"
assert_eq "gen == number of moves" "$NMOVE" "$GEN"

# Hold timing from fio's per-I/O latency logs: "t_complete_ms, lat_ns, ddir,
# bs, offset, prio". issue = complete - lat. An I/O issued to a frozen extent
# strictly inside [t_frozen + M, t_thaw_called - M] must complete at or after
# t_thaw_called - M (M = 3 ms of clock granularity).
cat $W/lat-*_lat.*.log >$W/lat-all.log
awk -v EB=$EB -v M=3 '
	NR == FNR { n[$1]++; tf[$1, n[$1]] = $2; tt[$1, n[$1]] = $3; next }
	{
		gsub(",", "")
		tc = $1; ti = tc - $2 / 1e6; off = $5; bs = $4
		if ($2 > maxlat) maxlat = $2
		for (v = int(off / EB); v <= int((off + bs - 1) / EB); v++)
			for (k = 1; k <= n[v]; k++) {
				if (ti <= tf[v, k] + M || ti >= tt[v, k] - M) continue
				if (tc >= tt[v, k] - M) {
					held[$3]++
					if ($2 > maxheld) maxheld = $2
					if (!seen[v, k]++) moves_held++
				} else {
					bad++
					if (bad <= 10) printf "VIOLATION extent %d freeze [%d,%d]: ddir %d off %d issued %.1f completed %d\n", v, tf[v, k], tt[v, k], $3, off, ti, tc
				}
			}
		total++
	}
	END {
		printf "SUMMARY ios %d held_writes %d held_reads %d moves_with_held_io %d violations %d max_lat_ms %.1f max_held_ms %.1f\n",
			total, held[1], held[0], moves_held, bad, maxlat / 1e6, maxheld / 1e6
	}' $W/moves $W/lat-all.log >$W/holdcheck
cp $W/holdcheck $W/moves "$CVOL_OUT/"
sed 's/^/# /' $W/holdcheck
read -r _ _ nios _ hw _ hr _ mh _ viol _ maxlat _ maxheld < <(grep '^SUMMARY' $W/holdcheck)
[ "$nios" -gt 1000 ] && ok "latency logs cover $nios I/Os" || fail "latency logs cover only $nios I/Os"
assert_eq "no I/O issued to a frozen extent completed before the thaw" 0 "$viol"
[ "$hw" -ge 1 ] && ok "$hw writes (and $hr reads) issued to a frozen extent were held until the thaw ($mh of $NMOVE moves)" ||
	fail "no write was seen held by a freeze ($hr reads, $mh moves)"


# Self-check: the final verification does catch misrouted data. Move one
# extent through the same freeze path to a garbage place WITHOUT copying.
v=5
d2=$((1 - MD[$v]))
p2=${NEXT[$d2]}
dd if=/dev/urandom of="${D[$d2]}" bs=$EB seek="$p2" count=1 oflag=direct status=none
id=$(msg hv freeze $v 1)
msg hv freeze_wait "$id" 5000 >/dev/null
check "self-check: map_set extent $v to a garbage place without a copy" -- msg hv map_set "$GEN" "$v:$d2:$p2"
check "self-check: thaw" -- msg hv thaw "$id"
check_fail "self-check: the verify-only pass now fails" -- \
	fio $(job "$(writer_lastseed w)") --verify_only --output="$CVOL_OUT/fio-selfcheck.txt"
check "remove" -- dmsetup remove hv
assert_no_kernel_warning
finish
