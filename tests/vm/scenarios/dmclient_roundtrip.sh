#!/usr/bin/env bash
# timeout: 400
#
# cvol-dmctl (libcvol's DmClient over libdevmapper) and cvol-events (the
# generic netlink listener) against the real target:
#   * create from a table file with a uuid; /dev/mapper node made without
#     udev; status and table equal dmsetup's, status has the 1.1 fields;
#   * map_get / map_set / stats / dev_stats / events_seq through message,
#     responses as the kernel sends them; a refused message is exit 1 with
#     the device, the operation and the errno text on stderr;
#   * noflush reloads while a writer runs: no I/O error, data intact, the
#     device never left suspended, a refused reload changes nothing;
#   * freeze / freeze_wait / thaw with a cvol-events listener started via
#     --ready-file: a freeze_drained JSON line with the freeze's id arrives;
#     a listener filtering on another uuid sees nothing (exit 3);
#   * remove; bad input (unknown device, bad tables, bad messages) is exit 1
#     and one readable line on stderr, and leaves no device behind.
source "$CVOL_ROOT/tests/vm/lib.sh"

DMCTL=$CVOL_BUILD/bin/cvol-dmctl
EVENTS=$CVOL_BUILD/bin/cvol-events
MAPTOOL=$CVOL_BUILD/bin/cvol-maptool
W=$CVOL_OUT/work
rm -rf "$W"
mkdir -p "$W"

load_cvol
D0=$(mk_nullb 64)
D1=$(mk_nullb 64)

E=64     # sectors per extent
NV=1024  # extents: 512 on each device, linear; pext 512.. of both are free
LEN=$((NV * E))
UUID=rt-vol
NAME=rt

# Runs cvol-dmctl; stdout to $W/out, stderr to $W/err, exit code in $rc.
rc=0
dmctl() {
	rc=0
	"$DMCTL" "$@" >"$W/out" 2>"$W/err" || rc=$?
}
# Exit 1, and stderr is one line that starts with "cvol-dmctl <cmd>:" and
# matches REGEX.
expect_dmctl_error() {
	local desc=$1 regex=$2
	shift 2
	dmctl "$@"
	assert_eq "$desc: exit 1" 1 "$rc"
	assert_eq "$desc: one line on stderr" 1 "$(wc -l <"$W/err")"
	assert_match "$desc: readable error" "^cvol-dmctl $1: $regex" "$(cat "$W/err")"
	plan_note "  stderr: $(cat "$W/err")"
}
state_of() { dmsetup info "$1" | sed -n 's/^State: *//p'; }
tables_present() { dmsetup info "$1" | sed -n 's/^Tables present: *//p'; }

"$MAPTOOL" table --uuid "$UUID" --extent-sectors $E --extents $NV \
	--dev "$D0:0" --dev "$D1:0" >"$W/table"
plan_note "table: $(cut -c1-120 "$W/table")..."

# --- create, status, table ---
dmctl create "$NAME" --table-file "$W/table" --uuid "CVOL-$UUID"
assert_eq "create from a table file: exit 0" 0 "$rc"
assert_eq "create: nothing on stderr" "" "$(cat "$W/err")"
assert_eq "device is ACTIVE" ACTIVE "$(state_of $NAME)"
assert_match "dm uuid set" "^UUID: CVOL-$UUID$" "$(dmsetup info $NAME)"
check "/dev/mapper/$NAME exists without udev" -- test -b /dev/mapper/$NAME

dmctl table "$NAME"
assert_eq "table: exit 0" 0 "$rc"
assert_eq "table equals dmsetup table" "$(dmsetup table $NAME)" "$(cat "$W/out")"
T0=$(cat "$W/out")
dmctl status "$NAME"
assert_eq "status: exit 0" 0 "$rc"
assert_eq "status equals dmsetup status" "$(dmsetup status $NAME)" "$(cat "$W/out")"
assert_match "status 1.1: gen 0, all mapped, 2 alive, no freezes/migrations, lease none" \
	"^0 $LEN cvol 0 $NV/$NV AA 0 0 [0-9]+ 0 none$" "$(cat "$W/out")"

# --- messages ---
dmctl message "$NAME" map_get 0 $NV
assert_eq "map_get: exit 0" 0 "$rc"
assert_eq "map_get 0 $NV: the two linear runs" "0:0:0:512 512:1:0:512" "$(cat "$W/out")"
assert_eq "map_get equals dmsetup message's response" \
	"$(dmsetup message $NAME 0 map_get 0 $NV)" "$(cat "$W/out")"

check "fill the volume with random data" -- \
	dd if=/dev/urandom of=/dev/mapper/$NAME bs=64k count=$((LEN / 128)) oflag=direct status=none
# Move extent 3 to dev 1 pext 600: copy first (nothing else does I/O).
check "copy extent 3 to dev 1 pext 600" -- dd if="$D0" of="$D1" bs=512 skip=$((3 * E)) \
	seek=$((600 * E)) count=$E iflag=direct oflag=direct status=none
SUM=$(md5sum </dev/mapper/$NAME | cut -d' ' -f1)
dmctl message "$NAME" map_set 0 3:1:600
assert_eq "map_set 0 3:1:600: exit 0" 0 "$rc"
assert_eq "map_set returns generation 1" 1 "$(cat "$W/out")"
dmctl message "$NAME" map_get 3 1
assert_eq "map_get 3 1 shows the move" "3:1:600:1" "$(cat "$W/out")"
assert_eq "data unchanged by the move" "$SUM" "$(md5sum </dev/mapper/$NAME | cut -d' ' -f1)"
dmctl message "$NAME" -- map_set 1 "3:1:600"
assert_eq "map_set after -- works too (idempotent, gen stays 1)" "0 1" "$rc $(cat "$W/out")"

expect_dmctl_error "stale map_set generation" \
	"dm message \"map_set 0 4:1:601\" to \"$NAME\": .*(Invalid argument|Device or resource busy|Stale)" \
	message "$NAME" map_set 0 4:1:601
expect_dmctl_error "unknown verb" "dm message \"frobnicate\" to \"$NAME\": .*Invalid argument" \
	message "$NAME" frobnicate
expect_dmctl_error "map_get with hex" "dm message \"map_get 0x0 1\" to \"$NAME\": " \
	message "$NAME" map_get 0x0 1
dmctl message "$NAME" map_get 3 1
assert_eq "refused messages changed nothing" "3:1:600:1" "$(cat "$W/out")"

dmctl message "$NAME" stats 0 $NV
assert_eq "stats: exit 0" 0 "$rc"
assert_match "stats response: extents_per_entry 1 and entries" '^1( [0-9]+(:[0-9]+){5})+$' "$(cat "$W/out")"
dmctl message "$NAME" dev_stats
assert_match "dev_stats response: slots 0 and 1" '^0(:[0-9]+){8} 1(:[0-9]+){8}$' "$(cat "$W/out")"
dmctl message "$NAME" events_seq
assert_match "events_seq response: <seq> <lost>" '^[0-9]+ 0$' "$(cat "$W/out")"

# --- noflush reload under a writer ---
head -c $((16 << 20)) /dev/urandom >"$W/pattern"
: >"$W/dd.err"
: >"$W/reload.err"
(
	for i in $(seq 1 12); do
		dd if="$W/pattern" of=/dev/mapper/$NAME bs=64k oflag=direct status=none ||
			{ echo "dd $i: exit $?" >>"$W/dd.err"; exit 1; }
	done
) &
writer=$!
reloads=0
reload_fail=
T1=$("$DMCTL" table $NAME)
while kill -0 "$writer" 2>/dev/null; do
	if "$DMCTL" reload $NAME --table "$T1" 2>>"$W/reload.err"; then
		reloads=$((reloads + 1))
	else
		reload_fail=1
		break
	fi
done
wr=0
wait "$writer" || wr=$?
plan_note "$reloads noflush reloads while the writer ran"
assert_eq "writer: no I/O error during the reloads" "0 " "$wr $(cat "$W/dd.err")"
assert_eq "every reload succeeded" "" "$reload_fail$(cat "$W/reload.err")"
if [ "$reloads" -ge 1 ]; then ok "at least one reload overlapped the writer"; else fail "no reload overlapped the writer"; fi
assert_eq "device ACTIVE after the reloads" ACTIVE "$(state_of $NAME)"
assert_eq "no inactive table left" LIVE "$(tables_present $NAME)"
assert_eq "table unchanged by the reloads" "$T1" "$("$DMCTL" table $NAME)"
assert_eq "written data intact" "$(md5sum <"$W/pattern" | cut -d' ' -f1)" \
	"$(head -c $((16 << 20)) /dev/mapper/$NAME | md5sum | cut -d' ' -f1)"

expect_dmctl_error "reload with a stale map_gen" "dm reload \"$NAME\": .*(Stale file handle|Invalid argument)" \
	reload "$NAME" --table "${T1/ map_gen 1 / map_gen 0 }"
assert_eq "refused reload: device ACTIVE" ACTIVE "$(state_of $NAME)"
assert_eq "refused reload: no inactive table" LIVE "$(tables_present $NAME)"
assert_eq "refused reload: table unchanged" "$T1" "$("$DMCTL" table $NAME)"

# --- freeze and events ---
rm -f "$W/ready" "$W/ready2"
"$EVENTS" --ready-file "$W/ready" --uuid "$UUID" --timeout-ms 8000 >"$W/events.json" 2>"$W/events.err" &
listener=$!
"$EVENTS" --ready-file "$W/ready2" --uuid some-other-volume --timeout-ms 4000 >"$W/other.json" 2>&1 &
other=$!
for _ in $(seq 100); do
	[ -e "$W/ready" ] && [ -e "$W/ready2" ] && break
	sleep 0.1
done
check "both listeners subscribed (ready files)" -- test -e "$W/ready" -a -e "$W/ready2"

dmctl message "$NAME" freeze 0 1
assert_eq "freeze 0 1: exit 0" 0 "$rc"
FID=$(cat "$W/out")
assert_match "freeze returns an id" '^[0-9]+$' "$FID"
dmctl message "$NAME" freeze_wait "$FID" 10000
assert_eq "freeze_wait: drained" "0 drained" "$rc $(cat "$W/out")"
assert_match "status lists the drained freeze" \
	" 1 $FID:0:1:drained 0 [0-9]+ 0 none$" "$("$DMCTL" status $NAME)"
dmctl message "$NAME" thaw "$FID"
assert_eq "thaw: exit 0, no response" "0 " "$rc $(cat "$W/out")"
assert_match "status: no freezes after thaw" " AA 0 0 [0-9]+ 0 none$" "$("$DMCTL" status $NAME)"
expect_dmctl_error "thaw of a thawed freeze" "dm message \"thaw $FID\" to \"$NAME\": " \
	message "$NAME" thaw "$FID"
expect_dmctl_error "freeze_wait of a thawed freeze (ENOENT)" \
	"dm message \"freeze_wait $FID 100\" to \"$NAME\": .*No such file or directory" \
	message "$NAME" freeze_wait "$FID" 100

lr=0
wait "$listener" || lr=$?
assert_eq "listener ends by its idle timeout (exit 3)" 3 "$lr"
plan_note "events: $(cat "$W/events.json")"
drained=$(grep '"type":"freeze_drained"' "$W/events.json" || true)
assert_eq "exactly one freeze_drained line" 1 "$(grep -c . <<<"$drained")"
majmin=$(dmsetup info -c --noheadings -o major,minor $NAME)
assert_match "freeze_drained: seq, id, volume, dm dev, range" \
	"^\{\"seq\":[0-9]+,\"type\":\"freeze_drained\",\"uuid\":\"$UUID\",\"dm_name\":\"[^\"]*\",\"dm_dev\":\"$majmin\",\"time_ns\":[0-9]+,\"id\":$FID,\"vext\":0,\"count\":1(,\"value\":[0-9]+)?,\"lost\":0\}$" \
	"$drained"
# CVOL_ATTR_DM_NAME is "the dm device's name" (uapi), i.e. what dmsetup
# calls it, not dm_device_name()'s "major:minor".
assert_match "freeze_drained: dm_name is the dm device name" "\"dm_name\":\"$NAME\"" "$drained"
assert_eq "no gap lines" 0 "$(grep -c '"type":"gap"' "$W/events.json" || true)"
assert_eq "listener stderr empty" "" "$(cat "$W/events.err")"
seq_json=$(sed -n 's/^{"seq":\([0-9]*\),"type":"freeze_drained".*/\1/p' <<<"$drained")
dmctl message "$NAME" events_seq
seq_now=$(cut -d' ' -f1 "$W/out")
if [ -n "$seq_json" ] && [ "$seq_now" -ge "$seq_json" ]; then
	ok "events_seq ($seq_now) has reached the event's seq ($seq_json)"
else
	fail "events_seq '$seq_now' below the event's seq '$seq_json'"
fi
or=0
wait "$other" || or=$?
assert_eq "listener for another uuid: nothing, exit 3" "3 " "$or $(cat "$W/other.json")"

# --- remove ---
dmctl remove "$NAME"
assert_eq "remove: exit 0" "0 " "$rc $(cat "$W/err")"
check_fail "device gone" -- dmsetup info $NAME
check_fail "/dev/mapper/$NAME gone" -- test -e /dev/mapper/$NAME

# --- bad input ---
expect_dmctl_error "status of an unknown device" 'dm status "nosuch": ' status nosuch
expect_dmctl_error "table of an unknown device" 'dm table "nosuch": ' table nosuch
expect_dmctl_error "remove of an unknown device" 'dm remove "nosuch": .*No such device or address' remove nosuch
expect_dmctl_error "message to an unknown device" 'dm message "map_get 0 1" to "nosuch": ' \
	message nosuch map_get 0 1
expect_dmctl_error "reload of an unknown device" 'dm reload "nosuch": ' \
	reload nosuch --table "$(head -1 "$W/table")"
expect_dmctl_error "create with a missing device path" 'dm create "bad": .*' \
	create bad --table "0 $LEN cvol bad-vol $E 1 /dev/nonexistent 0"
expect_dmctl_error "create with a bad extent size" 'dm create "bad": .*Invalid argument \(the reason is in the kernel log\)' \
	create bad --table "0 $LEN cvol bad-vol 63 1 $D0 0"
expect_dmctl_error "create with an unknown target type" 'dm create "bad": .*' \
	create bad --table "0 $LEN no_such_target x"
expect_dmctl_error "create with a malformed line" 'start sector "zero"' \
	create bad --table "zero 8 cvol x"
check_fail "no device 'bad' left behind" -- dmsetup info bad
dmctl create "$NAME" --table-file "$W/table"
dmctl create "$NAME" --table-file "$W/table"
assert_eq "second create of the same name: exit 1" 1 "$rc"
assert_match "  ... device or resource busy / exists" "dm create \"$NAME\": .*(exists|busy)" "$(cat "$W/err")"
check "remove it" -- "$DMCTL" remove "$NAME"

assert_no_kernel_warning
finish
