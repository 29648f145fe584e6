#!/usr/bin/env bash
# timeout: 420
#
# Online migration to a destination that fails (dm-flakey with
# error_writes, switched deterministically by table reloads under a
# noflush suspend: "up" = linear, "down" = flakey 0 3600 error_writes),
# under a continuous crc32c-verified fio writer. Proves that destination
# write errors never fail a user write, that copies are retried, that a
# migration survives a transient failure and fails cleanly (source stays
# authoritative) on a permanent one.
#
#   * Volume mf: 8 extents of 1 MiB, region_sectors 512 (4 regions),
#     migrate_throttle 1 (one region per copy: one error per attempt), all
#     on slot 0 (null_blk A); slot 1 is the dm device fb over null_blk B
#     (destination of A), slot 2 fc over null_blk C (destination of B, C).
#   A1. dst down from the start: copies fail and are retried (state copy;
#       status errors >= 2 at ready); dst up: the migration gets ready.
#   A2. dst flapping after ready (flakey 1 s up / 1 s down): fio's
#       dual-writes to the extent fail -> dst_write_error (vext, slot), the
#       status errors grow; dst up: ready again (a second migrate_ready; the
#       regions are copied again), migrate_commit works,
#       migrate_done carries the old place; health shows W for slot 1.
#   B1. dst down for good, migration started then: after the retries
#       migrate_failed (value >= 10 copy errors), the migration disappears
#       from the status, map_get and gen are unchanged.
#   B2. dst down for good after ready (dual-writes fail, then the re-copies):
#       same outcome.
#   C.  dst up again: a new migration to the same place as B1 completes.
#   * Throughout: no fio run failed, no fio error (no user write saw an
#     error); the final verify-only pass is clean; every extent's bytes
#     through dm equal the raw bytes at its map_get place; slot 0 stays A.
# job() prints fio arguments that are meant to be split into words.
# shellcheck disable=SC2046
source "$CVOL_ROOT/tests/vm/lib.sh"
source "$CVOL_ROOT/tests/vm/lib/migrate.bash"
source "$CVOL_ROOT/tests/vm/lib/events.bash"
source "$CVOL_ROOT/tests/vm/lib/fio.bash"
W=/tmp/mfl
mkdir -p $W

load_cvol
modprobe dm_flakey
A=$(mk_nullb 16)
BR=$(mk_nullb 16)
CR=$(mk_nullb 16)
BS=$(dev_sectors "$BR")
E=2048
EB=$((E * 512))
NV=8
UUID=mfl-vol
PDEV=("$A" "$BR" "$CR")

fb_up() { dm_reload fb "0 $BS linear $BR 0"; }
fb_down() { dm_reload fb "0 $BS flakey $BR 0 0 3600 1 error_writes"; }
# Writes fail 1 s out of every 2 s: a copy retry always finds an up second
# within its backoffs, so the migration cannot hit its retry limit however
# long the test takes to react.
fb_flap() { dm_reload fb "0 $BS flakey $BR 0 1 1 1 error_writes"; }
# fc: the destination of B and C (fb holds extent 2 after A).
fc_up() { dm_reload fc "0 $BS linear $CR 0"; }
fc_down() { dm_reload fc "0 $BS flakey $CR 0 0 3600 1 error_writes"; }

check "event listener" -- ev_listen ev
check "create fb, fc (linear over B, C for now)" -- bash -c \
	"dmsetup create fb --table '0 $BS linear $BR 0' && dmsetup create fc --table '0 $BS linear $CR 0'"
check "create mf: 8 extents on slot 0, slot 1 = fb, slot 2 = fc" -- dmsetup create mf --table \
	"0 $((NV * E)) cvol $UUID $E 3 $A 0 /dev/mapper/fb 0 /dev/mapper/fc 0 5 map_runs 1 0:0:0:$NV region_sectors 512"
V=/dev/mapper/mf
# One region in flight: one copy error per attempt, so the retry limit (10)
# is ~8 s of backoff away.
assert_eq "migrate_throttle 1" "1 8" "$(msg mf migrate_throttle 1)"

job() { # SEED [extra fio args]
	fio_verify_args "$V" $((NV * EB)) "$@"
}
check "initial fill + verify" -- fio $(job 4000) --output="$CVOL_OUT/fio-0.txt"
writer_start -o fio- w 4000 job --verify_backlog=64
sleep 2
GEN0=$(status_gen mf)
evs() { ev_of ev $UUID "$1" | jq -r --argjson v "$2" 'select(.vext == $v) | "\(.dev_slot) \(.value)"'; }
# commit_when_ready V: wait for ready and commit; retry on EAGAIN (a
# destination error between the poll and the drain). Prints the generation.
commit_when_ready() {
	local i r
	for i in 1 2 3 4 5; do
		wait_mig mf "$1" ready 60 >/dev/null || return 1
		if r=$(msg mf migrate_commit "$1" 2>/dev/null); then
			echo "$r"
			return 0
		fi
	done
	return 1
}

# --- A1: dst down from the start ---
# The "up" table is loaded beforehand so that bringing the destination back
# is one resume: the retry budget (~8 s) must not depend on how slow the
# guest is.
check "A1: fb down (error_writes)" -- fb_down
check "A1: linear loaded as fb's next table" -- dmsetup load fb --table "0 $BS linear $BR 0"
t0=$(now_ns)
check "A1: migrate_start 2 -> slot 1 pext 2" -- msg mf migrate_start 2 1 2
sleep 0.5
s=$(mig_of mf 2)
check "A1: fb up again (resume swaps in linear)" -- dmsetup resume fb
plan_note "A1: destination down for $(ms_since "$t0") ms; status before it came back: '$s'"
assert_eq "A1: copying while the destination fails" copy "${s%% *}"
r=$(wait_mig mf 2 ready 60) && ok "A1: ready after the destination came back ($r)" ||
	fail "A1: not ready after the destination came back: '$r'"
read -r _ c n er1 <<<"$r"
assert_eq "A1: every region copied" "$n" "$c"
[ "${er1:-0}" -ge 2 ] && ok "A1: copy errors counted, copies retried ($er1 errors)" ||
	fail "A1: status errors '$er1' (want >= 2)"
assert_eq "A1: one migrate_ready (dst slot 1, pext 2)" "1 2" "$(evs migrate_ready 2)"

# --- A2: dst flapping after ready: dual-writes fail ---
check "A2: fb flapping (writes fail 1 s of 2)" -- fb_flap
check "A2: fio's dual-write to the destination fails: dst_write_error for extent 2" -- \
	ev_wait ev $UUID dst_write_error 2 30
s2=$(mig_of mf 2)
check "A2: fb up" -- fb_up
read -r _ _ _ er2 <<<"$s2"
[ "${er2:-0}" -gt "${er1:-0}" ] && ok "A2: status errors grew ($er1 -> $er2)" || fail "A2: status errors '$er1' -> '$er2'"
assert_eq "A2: dst_write_error names slot 1" 1 "$(evs dst_write_error 2 | head -1 | cut -d' ' -f1)"
plan_note "A2: status after the dst write error: '$s2'"
G=$(commit_when_ready 2) || G=error
assert_eq "A2: migrate_commit after ready again: gen $((GEN0 + 1))" $((GEN0 + 1)) "$G"
n=$(evs migrate_ready 2 | wc -l)
[ "$n" -ge 2 ] && ok "A2: ready again after the recopy ($n migrate_ready events)" || fail "A2: $n migrate_ready events"
assert_eq "A2: map_get 2 -> slot 1 pext 2" "2:1:2:1" "$(msg mf map_get 2 1)"
sleep 0.3
assert_eq "A2: migrate_done: old slot 0, old pext 2" "0 2" "$(evs migrate_done 2)"
H=$(health mf)
assert_eq "A2: health: slot 0 A, slot 1 W, slot 2 A" AWA "$H"

# --- B1: dst down for good from the start ---
check "B1: fc down" -- fc_down
check "B1: migrate_start 5 -> slot 2 pext 5" -- msg mf migrate_start 5 2 5
t0=$(now_ns)
seen=
while [ "$(ms_since "$t0")" -lt 40000 ]; do
	s=$(mig_of mf 5)
	seen+=" ${s%% *}"
	[ "$s" != none ] || break
	sleep 0.2
done
B1_MS=$(ms_since "$t0")
plan_note "B1: states over $B1_MS ms:$(tr ' ' '\n' <<<"$seen" | uniq | tr '\n' ' ')"
assert_eq "B1: the migration ended" none "$s"
check "B1: migrate_failed event for extent 5" -- ev_wait ev $UUID migrate_failed 5 5
read -r fs fv <<<"$(evs migrate_failed 5)"
assert_eq "B1: migrate_failed names slot 2" 2 "$fs"
[ "${fv:-0}" -ge 10 ] && ok "B1: migrate_failed after $fv copy errors" || fail "B1: migrate_failed value '$fv' (want >= 10)"
assert_eq "B1: extent 5 still on the source" "5:0:5:1" "$(msg mf map_get 5 1)"
assert_eq "B1: gen unchanged" $((GEN0 + 1)) "$(status_gen mf)"
check_fail "B1: migrate_commit 5 now fails (no migration)" -- msg mf migrate_commit 5

# --- B2: dst down for good after ready ---
check "B2: fc up" -- fc_up
check "B2: migrate_start 6 -> slot 2 pext 6" -- msg mf migrate_start 6 2 6
r=$(wait_mig mf 6 ready 60) && ok "B2: ready" || fail "B2: not ready: '$r'"
check "B2: fc down" -- fc_down
t0=$(now_ns)
r=$(wait_mig mf 6 none 60) && ok "B2: the migration ended after $(ms_since "$t0") ms" ||
	fail "B2: the migration did not end: '$r'"
check "B2: dst_write_error for extent 6 (dual-write failed)" -- ev_wait ev $UUID dst_write_error 6 5
check "B2: migrate_failed for extent 6" -- ev_wait ev $UUID migrate_failed 6 5
assert_eq "B2: extent 6 still on the source" "6:0:6:1" "$(msg mf map_get 6 1)"
assert_eq "B2: gen unchanged" $((GEN0 + 1)) "$(status_gen mf)"

# --- C: the destination recovers ---
check "C: fc up" -- fc_up
check "C: migrate_start 5 -> slot 2 pext 5 again (the place is free)" -- msg mf migrate_start 5 2 5
G=$(commit_when_ready 5) || G=error
assert_eq "C: committed: gen $((GEN0 + 2))" $((GEN0 + 2)) "$G"
assert_eq "C: map_get 5 -> slot 2 pext 5" "5:2:5:1" "$(msg mf map_get 5 1)"

WRITER_ALIVE=$(writer_alive w && echo yes || echo no)
writer_stop w
RUNS=$(writer_runs w)
plan_note "writer runs: $RUNS"
assert_eq "the writer ran throughout" yes "$WRITER_ALIVE"
assert_eq "no writer run failed" "" "$(writer_failed w)"
assert_eq "no fio output reports an error (no user write failed)" "" "$(fio_errors "$CVOL_OUT"/fio-*.txt)"
check "final verify-only pass of the last run ($(writer_lastseed w)) is clean" -- \
	fio $(job "$(writer_lastseed w)") --verify_only --output="$CVOL_OUT/fio-final.txt"
dd if=$V of=$W/vol.img bs=$EB iflag=direct status=none
bad=
while read -r v d p; do
	cmp -s <(raw_ext "${PDEV[$d]}" "$p" $E) <(dd if=$W/vol.img bs=$EB skip="$v" count=1 status=none) || bad+=" $v"
done < <(msg mf map_get 0 $NV | expand_runs)
assert_eq "every extent's dm content == the raw bytes at its map_get place" "" "$bad"
assert_eq "map_get: 2 and 5 moved, the rest stayed" "0:0:0:2 2:1:2:1 3:0:3:2 5:2:5:1 6:0:6:2" "$(msg mf map_get 0 $NV)"
assert_eq "status: gen, mapped, slot 0 A, no freeze, no migration" "$((GEN0 + 2)) $NV/$NV A 0 0" \
	"$(dmsetup status mf | awk '{ print $4, $5, substr($6, 1, 1), $7, $8 }')"
ev_of ev $UUID >$CVOL_OUT/events.jsonl
plan_note "events: $(jq -r .type $CVOL_OUT/events.jsonl | sort | uniq -c | awk '{ printf "%s=%s ", $2, $1 }')"
assert_eq "events: no gap" 0 "$(grep -c '"type":"gap"' $W/ev.jsonl || true)"
ev_stop ev
check "remove" -- dmsetup remove mf fb fc
assert_no_kernel_warning
finish
