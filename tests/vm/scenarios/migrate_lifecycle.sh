#!/usr/bin/env bash
# timeout: 420
#
# The life cycle of online extent migrations (migrate_start / _commit /
# _abort / _throttle) under verified fio load, and what suspend, reload and
# removal do to a migration in the middle of its copy.
#
#   Volume mv: 17 extents of 1 MiB, region_sectors 64 (32 regions per
#   extent); slot 0 and 1 null_blk, slot 2 a dm-delay over null_blk whose
#   READS take DELAY ms (so a copy from it, with migrate_throttle 1 region
#   in flight, takes seconds and can be caught half-way), slot 3 null_blk,
#   slot 4 empty. Extents 3, 7, 11, 15 live on slot 2 (one per fio job's
#   quarter), 0..15 otherwise on slot 0, extent 16 unmapped (outside fio's
#   range). Writer: fio randwrite, crc32c verify with verify_backlog, 4 jobs,
#   O_DIRECT libaio, finite runs one after another, each with a new seed.
#
#   A. a normal dm suspend half-way through a copy: while suspended, the
#      copied count in the status does not move and neither the source nor
#      the destination device sees any I/O; after the resume copying goes
#      on, the migration becomes ready and commits (map_get, generation).
#   B. half-way through a copy: a reload that drops the destination's slot
#      is refused (no inactive table); a noflush reload with the live table
#      (dmsetup table) + suspend --noflush + resume keeps the migration,
#      which completes and commits.
#   C. migrate_abort half-way: no migration left, map and generation
#      unchanged (source still mapped), a migrate_aborted event with the
#      copied regions; the destination extent is then reused by a new
#      migration of another extent, which commits.
#   D. bad input changes nothing: ~30 refused messages (unmapped extent,
#      empty slot, pext beyond the device, the source itself, a pext used by
#      another extent / another migration, twice on one extent, beyond
#      max_migrations, commit before ready = EAGAIN, commit/abort without a
#      migration, malformed migrate_throttle, map_set on migrating extents,
#      syntax); after each: table, status (copy progress masked) and map
#      identical, errno as documented.
#   E. dmsetup remove with two migrations in progress (one copying to slot 2
#      with 1.5 s writes) returns promptly; a fresh create from the saved
#      table (same uuid) has no migration, the same map and generation, its
#      data verifies, and new migrations to the removed migrations'
#      destinations complete and commit.
#   Finally: fio verify-only pass clean, health A for every present slot,
#   migration events in order without gaps, no kernel warning.
# job() prints fio arguments that are meant to be split into words.
# shellcheck disable=SC2046
source "$CVOL_ROOT/tests/vm/lib.sh"
source "$CVOL_ROOT/tests/vm/lib/migrate.bash"
source "$CVOL_ROOT/tests/vm/lib/events.bash"
source "$CVOL_ROOT/tests/vm/lib/fio.bash"

load_cvol
modprobe dm_delay
N0=$(mk_nullb 64)
N1=$(mk_nullb 64)
N2=$(mk_nullb 16)
N3=$(mk_nullb 16)
W=/tmp/ml
mkdir -p $W
E=2048		# 1 MiB extents
EB=$((E * 512))
RS=64		# 32 KiB regions: 32 per extent
NREG=$((E / RS))
NV=17		# extent 16 stays unmapped
NF=16		# fio covers extents 0..15
DELAY=300	# ms per read of slot 2 (parts A-C)
S2=$(dev_sectors "$N2")

check "dm-delay 'slow' over $N2: reads ${DELAY} ms" -- \
	dmsetup create slow --table "0 $S2 delay $N2 0 $DELAY $N2 0 0"
SLOW=/dev/mapper/slow
# slow_delay READ_MS [WRITE_MS]: change the delays of slot 2.
slow_delay() { dm_reload --flush slow "0 $S2 delay $N2 0 $1 $N2 0 ${2:-0}"; }

check "events listener" -- ev_listen ev --uuid ml-vol
RUNS="0:0:0:3 3:2:0:1 4:0:4:3 7:2:1:1 8:0:8:3 11:2:2:1 12:0:12:3 15:2:3:1"
check "create mv: $NV extents, 5 slots (slot 2 slow, slot 4 empty), $NREG regions per extent" -- \
	dmsetup create mv --table \
	"0 $((NV * E)) cvol ml-vol $E 5 $N0 0 $N1 0 $SLOW 0 $N3 0 - 0 12 map_runs 8 $RUNS region_sectors $RS"
V=/dev/mapper/mv

job() { # SEED [extra fio args]
	fio_verify_args "$V" $((NF * EB)) "$@"
}
check "initial fill + verify" -- fio $(job 3000) --output="$CVOL_OUT/fio-0.txt"
writer_start -o fio- w 3000 job --verify_backlog=16
sleep 1

assert_match "migrate_throttle 1: one region in flight, 8 migrations" '^1 8$' "$(msg mv migrate_throttle 1)"

# midway DESC ENTRY: the migration entry shows a copy in progress.
midway() {
	local st c r e
	read -r st c r e <<<"$2"
	if [ "$st" = copy ] && [ "$c" -ge 1 ] && [ "$c" -lt "$r" ]; then
		ok "$1: caught half-way ($c/$r regions copied)"
	else
		fail "$1: not caught half-way: '$2'"
	fi
}
copied() { echo "$1" | awk '{ print $2 }'; }

# ------------------------------------------------------------------ A ---
plan_note "--- A: normal suspend and resume half-way through a copy ---"
G=$(status_gen mv)
t0=$(now_ns)
check "A: migrate_start 3 1 10 (slot 2 -> slot 1)" -- msg mv migrate_start 3 1 10
e=$(wait_copied mv 3 2 60) || e=none
midway A "$e"
ts=$(now_ns)
check "A: dmsetup suspend (normal)" -- dmsetup suspend mv
plan_note "A: suspend took $(ms_since "$ts") ms"
c1=$(mig_of mv 3)
r1=$(dev_stat $SLOW 1)
w1=$(dev_stat "$N1" 5)
sleep 3
c2=$(mig_of mv 3)
r2=$(dev_stat $SLOW 1)
w2=$(dev_stat "$N1" 5)
assert_eq "A: copied count does not move while suspended" "$c1" "$c2"
assert_eq "A: no read of the source device while suspended" "$r1" "$r2"
assert_eq "A: no write to the destination device while suspended" "$w1" "$w2"
check "A: resume" -- dmsetup resume mv
n1=$(copied "$c1")
check "A: copying goes on after the resume (beyond $n1)" -- wait_copied mv 3 $((n1 + 1)) 60
check "A: the migration becomes ready" -- wait_state mv 3 ready 120
plan_note "A: start to ready $(ms_since "$t0") ms (3 s of it suspended)"
assert_eq "A: migrate_commit 3 prints generation $((G + 1))" $((G + 1)) "$(msg mv migrate_commit 3 2>&1)"
assert_eq "A: map_get 3: slot 1 pext 10" "3:1:10:1" "$(msg mv map_get 3 1)"
assert_eq "A: no migration left" 0 "$(mig_list mv)"

# ------------------------------------------------------------------ B ---
plan_note "--- B: noflush reload half-way through a copy ---"
G=$(status_gen mv)
t0=$(now_ns)
check "B: migrate_start 7 3 0 (slot 2 -> slot 3)" -- msg mv migrate_start 7 3 0
e=$(wait_copied mv 7 2 60) || e=none
midway "B" "$e"
T=$(dmsetup table mv)
TBAD=$(awk '{ $13 = "-"; $14 = 0; print }' <<<"$T")
[ "$TBAD" != "$T" ] && ok "B: table without slot 3 built" || fail "B: could not build a table without slot 3"
check_fail "B: a reload that drops slot 3 (the destination) is refused" -- dmsetup reload mv --table "$TBAD"
assert_match "B: no inactive table after the refused reload" 'Tables present: *LIVE$' "$(dmsetup info mv)"
assert_match "B: the migration is unaffected" '^(copy|ready) ' "$(mig_of mv 7)"
check "B: reload with the live table" -- dmsetup reload mv --table "$T"
check "B: suspend --noflush" -- dmsetup suspend --noflush mv
assert_match "B: the migration is listed while suspended" '^(copy|ready) ' "$(mig_of mv 7)"
check "B: resume" -- dmsetup resume mv
assert_eq "B: the new table is the same" "$T" "$(dmsetup table mv)"
check "B: the migration becomes ready" -- wait_state mv 7 ready 120
plan_note "B: start to ready $(ms_since "$t0") ms"
assert_eq "B: migrate_commit 7 prints generation $((G + 1))" $((G + 1)) "$(msg mv migrate_commit 7 2>&1)"
assert_eq "B: map_get 7: slot 3 pext 0" "7:3:0:1" "$(msg mv map_get 7 1)"
assert_eq "B: no migration left" 0 "$(mig_list mv)"

# ------------------------------------------------------------------ C ---
plan_note "--- C: migrate_abort half-way ---"
check "C: migrate_start 11 1 20 (slot 2 -> slot 1)" -- msg mv migrate_start 11 1 20
e=$(wait_copied mv 11 2 60) || e=none
midway "C" "$e"
cC=$(copied "$e")
G=$(status_gen mv)
M=$(msg mv map_get 0 $NV)
t0=$(now_ns)
check "C: migrate_abort 11" -- msg mv migrate_abort 11
plan_note "C: migrate_abort took $(ms_since "$t0") ms (seen $cC/$NREG copied before)"
assert_eq "C: no migration left" 0 "$(mig_list mv)"
assert_eq "C: map unchanged" "$M" "$(msg mv map_get 0 $NV)"
assert_eq "C: extent 11 still on the source" "11:2:2:1" "$(msg mv map_get 11 1)"
assert_eq "C: generation unchanged" "$G" "$(status_gen mv)"
abort_ev() { ev_normalise $W/ev.jsonl | jq -c 'select(.type == "migrate_aborted" and .vext == 11)'; }
for ((i = 0; i < 100; i++)); do [ -z "$(abort_ev)" ] || break; sleep 0.1; done
a=$(abort_ev)
assert_eq "C: one migrate_aborted event for extent 11, destination slot 1" "1 1" \
	"$(jq -s -r '"\(length) \(.[0].dev_slot)"' <<<"$a")"
av=$(jq -s -r '.[0].value // -1' <<<"$a")
[ "$av" -ge "$cC" ] && [ "$av" -le "$NREG" ] && ok "C: its value, $av regions copied, is in [$cC, $NREG]" ||
	fail "C: migrate_aborted value '$av' not in [$cC, $NREG]"
check_fail "C: migrate_commit 11 after the abort fails" -- msg mv migrate_commit 11
G=$(status_gen mv)
check "C: the destination 1:20 is reused: migrate_start 15 1 20" -- msg mv migrate_start 15 1 20
check "C: that migration becomes ready" -- wait_state mv 15 ready 120
assert_eq "C: migrate_commit 15 prints generation $((G + 1))" $((G + 1)) "$(msg mv migrate_commit 15 2>&1)"
assert_eq "C: map_get 15: slot 1 pext 20" "15:1:20:1" "$(msg mv map_get 15 1)"

# ------------------------------------------------------------------ D ---
plan_note "--- D: bad input changes nothing ---"
check "D: slot 2 reads now take 3000 ms" -- slow_delay 3000
assert_match "D: migrate_throttle 16 8" '^16 8$' "$(msg mv migrate_throttle 16 8)"
check "D: migrate_start 0 1 30 (slot 0 -> slot 1)" -- msg mv migrate_start 0 1 30
check "D: extent 0's migration becomes ready" -- wait_state mv 0 ready 60
assert_match "D: migrate_throttle 1 8" '^1 8$' "$(msg mv migrate_throttle 1 8)"
check "D: migrate_start 11 1 40 (slow source)" -- msg mv migrate_start 11 1 40
check "D: extent 11 is copying" -- wait_state mv 11 copy 30
# snap: table, status with the copy progress masked, map.
snap() {
	dmsetup table mv
	dmsetup status mv | sed -E 's/([0-9]+:(start|copy):)[0-9]+\//\1X\//g'
	msg mv map_get 0 $NV
}
BASE=$(snap)
plan_note "D: baseline status: $(dmsetup status mv)"
NCASE=0
# bad ERRNO_ERE DESC WORDS...: the message fails with ERRNO_ERE in dmsetup's
# error line, and nothing changes. The words go to dmsetup as ONE argument
# (dm splits it), so that "-1" is not taken for an option.
bad() {
	local re=$1 desc=$2 out rc=0 now err p=()
	shift 2
	NCASE=$((NCASE + 1))
	out=$(dmsetup message mv 0 "$*" 2>&1) || rc=$?
	[ "$rc" -ne 0 ] || p+=("the message SUCCEEDED: '$out'")
	[[ "$out" =~ $re ]] || p+=("error is not /$re/: '$out'")
	now=$(snap)
	[ "$now" = "$BASE" ] || p+=("state changed: $(diff <(echo "$BASE") <(echo "$now") | tr '\n' ' ' || true)")
	err=${out#*failed: }
	err=${err%%$'\n'*}
	if [ ${#p[@]} -eq 0 ]; then
		ok "D$NCASE: '$*' ($desc) fails ($err), nothing changed"
	else
		fail "D$NCASE: '$*' ($desc)"
		printf '#   %s\n' "${p[@]}"
	fi
}
ENODEV='No such device'
ERANGE='Numerical result out of range'
EINVAL='Invalid argument'
EEXIST='File exists'
EBUSY='Device or resource busy'
EAGAIN='Resource temporarily unavailable'
ENOENT='No such file or directory'
SYNTAX="$EINVAL|$ERANGE"
tD=$(now_ns)
bad "$ENODEV" "unmapped extent" migrate_start 16 1 45
bad "$ENODEV" "empty slot 4" migrate_start 5 4 0
bad "$SYNTAX" "pext 64, beyond the 64 MiB slot 1" migrate_start 5 1 64
bad "$SYNTAX" "pext 2^40" migrate_start 5 1 1099511627776
bad "$EEXIST" "destination = the source" migrate_start 5 0 5
bad "$EEXIST" "pext of extent 3" migrate_start 5 1 10
bad "$EEXIST" "pext of extent 7 on slot 3" migrate_start 5 3 0
bad "$EEXIST" "destination of the copying migration of 11" migrate_start 5 1 40
bad "$EEXIST" "destination of the ready migration of 0" migrate_start 5 1 30
bad "$EBUSY" "extent 11 migrating (copy)" migrate_start 11 1 45
bad "$EBUSY" "extent 0 migrating (ready)" migrate_start 0 1 45
bad "$EAGAIN" "commit before ready" migrate_commit 11
assert_match "D: extent 11 is still copying (so that was before ready)" '^copy ' "$(mig_of mv 11)"
bad "$ENOENT" "commit without a migration" migrate_commit 5
bad "$ENOENT" "abort without a migration" migrate_abort 5
bad "$ENOENT" "commit on the unmapped extent" migrate_commit 16
# (max_migrations only now: a start refused for it might hide the other
# reasons above)
assert_match "D: migrate_throttle 1 2 (two migrations are running)" '^1 2$' "$(msg mv migrate_throttle 1 2)"
bad "$EBUSY" "beyond max_migrations 2" migrate_start 5 1 45
bad "$SYNTAX" "throttle 0" migrate_throttle 0
bad "$SYNTAX" "throttle 1025" migrate_throttle 1025
bad "$SYNTAX" "throttle in hex" migrate_throttle 0x10
bad "$SYNTAX" "throttle negative" migrate_throttle -1
bad "$SYNTAX" "max_migrations 0" migrate_throttle 4 0
bad "$SYNTAX" "max_migrations 65" migrate_throttle 4 65
bad "$SYNTAX" "throttle with a third word" migrate_throttle 4 4 4
bad "$SYNTAX" "throttle without a number" migrate_throttle
bad "$EBUSY" "map_set of the copying extent" map_set "$(status_gen mv)" 11:0:20
bad "$EBUSY" "map_set of the ready extent" map_set "$(status_gen mv)" 0:0:20
bad "$EBUSY" "map_set of a run that covers extent 11" map_set "$(status_gen mv)" 10:0:20:2
bad "$EBUSY" "map_set unmapping extent 11" map_set "$(status_gen mv)" 11:-:0
bad "$SYNTAX" "start: missing pext" migrate_start 5 1
bad "$SYNTAX" "start: hex extent" migrate_start 0x5 1 45
bad "$SYNTAX" "start: extent 17, beyond the volume" migrate_start 17 1 45
bad "$SYNTAX|$ENODEV" "start: slot 5 of 5" migrate_start 5 5 45
bad "$SYNTAX" "start: a fourth word" migrate_start 5 1 45 1
bad "$SYNTAX" "commit: no extent" migrate_commit
bad "$SYNTAX" "abort: not a number" migrate_abort x
bad "$EBUSY" "again beyond max_migrations (the bad throttles changed nothing)" migrate_start 5 1 45
plan_note "D: $NCASE cases in $(ms_since "$tD") ms; extent 11 now: $(mig_of mv 11)"
check "D: slot 2 reads take 300 ms again" -- slow_delay 300
G=$(status_gen mv)
assert_eq "D: migrate_commit 0 prints generation $((G + 1))" $((G + 1)) "$(msg mv migrate_commit 0 2>&1)"
assert_eq "D: map_get 0: slot 1 pext 30" "0:1:30:1" "$(msg mv map_get 0 1)"

# ------------------------------------------------------------------ E ---
plan_note "--- E: remove with migrations in progress ---"
writer_stop w
RUNS_DONE=$(writer_runs w)
plan_note "writer: $RUNS_DONE fio runs during A-D"
[ "$RUNS_DONE" -ge 2 ] && ok "the writer ran throughout ($RUNS_DONE runs)" || fail "the writer ran only $RUNS_DONE times"
assert_eq "no writer run failed" "" "$(writer_failed w)"
assert_eq "no fio output reports an error" "" "$(fio_errors "$CVOL_OUT"/fio-*.txt)"
# (11 may be ready by now: the writer took a while to stop.) A copy to
# slot 2 with 1500 ms writes, one region at a time, is surely in progress.
check "E: slot 2 reads and writes take 1500 ms" -- slow_delay 1500 1500
check "E: migrate_start 5 2 0 (to the slow slot)" -- msg mv migrate_start 5 2 0
check "E: extent 5 is copying" -- wait_state mv 5 copy 30
ML=$(mig_list mv)
assert_match "E: two migrations in progress (11, and 5 copying)" '^2 .*5:copy:' "$ML"
plan_note "E: migrations at removal: $ML"
T=$(dmsetup table mv)
G=$(status_gen mv)
M=$(msg mv map_get 0 $NV)
cp $W/ev.jsonl $W/ev-before-remove.jsonl
t0=$(now_ns)
check "E: dmsetup remove with migrations in progress" -- timeout 120 dmsetup remove mv
TRM=$(ms_since "$t0")
plan_note "E: remove took $TRM ms"
[ "$TRM" -lt 30000 ] && ok "E: remove returned in $TRM ms" || fail "E: remove took $TRM ms"
check_fail "E: mv is gone" -- dmsetup info mv
check "E: slot 2 fast again" -- slow_delay 0 0
check "E: create mv again from the saved table (same uuid)" -- dmsetup create mv --table "$T"
assert_eq "E: no migration after the re-create" 0 "$(mig_list mv)"
assert_eq "E: same generation" "$G" "$(status_gen mv)"
assert_eq "E: same map (extents 5 and 11 at their sources)" "$M" "$(msg mv map_get 0 $NV)"
check "E: verify-only pass of the last run ($(writer_lastseed w)) is clean" -- \
	fio $(job "$(writer_lastseed w)") --verify_only --output="$CVOL_OUT/fio-final.txt"
assert_match "E: migrate_throttle 16 8" '^16 8$' "$(msg mv migrate_throttle 16 8)"
check "E: migrate_start 5 2 0 (the destination of the copy the removal killed)" -- msg mv migrate_start 5 2 0
check "E: migrate_start 11 1 40 (the other removed migration's destination)" -- msg mv migrate_start 11 1 40
check "E: 5 becomes ready" -- wait_state mv 5 ready 60
check "E: 11 becomes ready" -- wait_state mv 11 ready 60
assert_eq "E: migrate_commit 5 prints generation $((G + 1))" $((G + 1)) "$(msg mv migrate_commit 5 2>&1)"
assert_eq "E: migrate_commit 11 prints generation $((G + 2))" $((G + 2)) "$(msg mv migrate_commit 11 2>&1)"
assert_eq "E: map_get 5: slot 2 pext 0; 11: slot 1 pext 40" "5:2:0:1 11:1:40:1" \
	"$(msg mv map_get 5 1) $(msg mv map_get 11 1)"
check "E: verify-only pass after those commits is clean" -- \
	fio $(job "$(writer_lastseed w)") --verify_only --output="$CVOL_OUT/fio-final2.txt"
assert_eq "status: all 16 mapped, every present slot alive, no freeze, no migration" "16/17 AAAA- 0 0" \
	"$(dmsetup status mv | cut -d' ' -f5-8)"

# --------------------------------------------------------------- events ---
ev_normalise $W/ev-before-remove.jsonl >$CVOL_OUT/events.jsonl
cp $W/ev.jsonl $CVOL_OUT/events-raw.jsonl
evs() { jq -r "select(.vext == $1) | $2" $CVOL_OUT/events.jsonl | tr '\n' ' ' | sed 's/ $//'; }
assert_eq "events of extent 3 (A): types" "migrate_started migrate_ready map_changed migrate_done" "$(evs 3 .type)"
assert_eq "events of extent 3 (A): started dst 1, $NREG regions; ready dst 1 pext 10; done old slot 2 pext 0" \
	"1:$NREG 1:10 2:0" "$(jq -r 'select(.vext == 3 and (.type | startswith("migrate_"))) | "\(.dev_slot):\(.value)"' \
		$CVOL_OUT/events.jsonl | tr '\n' ' ' | sed 's/ $//')"
assert_eq "events of extent 7 (B): types" "migrate_started migrate_ready map_changed migrate_done" "$(evs 7 .type)"
assert_match "events of extent 11 (C, D): types" '^migrate_started migrate_aborted migrate_started( migrate_ready)?$' "$(evs 11 .type)"
assert_eq "events of extent 15 (C): types" "migrate_started migrate_ready map_changed migrate_done" "$(evs 15 .type)"
assert_eq "no migrate_failed, dst_write_error or gap event" "" \
	"$(jq -r 'select(.type == "migrate_failed" or .type == "dst_write_error" or .type == "gap") | .type' $CVOL_OUT/events.jsonl)"
check "event seq numbers 1.. without gaps before the removal" -- \
	jq -s -e 'map(.seq) as $s | $s == [range(1; ($s | length) + 1)]' $CVOL_OUT/events.jsonl
ev_stop ev
check "remove" -- dmsetup remove mv slow
assert_no_kernel_warning
finish
