#!/usr/bin/env bash
# timeout: 300
#
# Table reloads and the live map. The map lives in the volume (keyed by the
# uuid), not in a table instance, so:
#   * a reload of the same uuid without map_runs adopts the live map;
#   * `dmsetup table` output reloaded as is round-trips (same table after
#     suspend/resume);
#   * a reload whose map_gen differs from the live generation fails, with the
#     reason in the kernel log, and nothing changes;
#   * a reload whose map_runs differ from the live map fails;
#   * map_set bumps the generation; the old `dmsetup table` then no longer
#     loads;
#   * remove + create from a saved `dmsetup table` gives the same device
#     (data, map, generation);
#   * map_get equals the runs in the table;
#   * device slots can be filled and emptied by reloads while the map does
#     not use them; a table lacking a slot the map uses is refused at load,
#     and at resume if a map_set started using the slot after the load.
source "$CVOL_ROOT/tests/vm/lib.sh"
source "$CVOL_ROOT/tests/vm/lib/remap.bash"

load_cvol
D0=$(mk_nullb 32)
D1=$(mk_nullb 32)
D2=$(mk_nullb 32)
D3=$(mk_nullb 32)
W=$CVOL_OUT/work
mkdir -p "$W"

E=64
NV=600
LEN=$((NV * E))
UUID=rl-vol
# slot: device offset. Slot 1 starts empty.
SLOT_DEV=("$D0" - "$D1" "$D2")
SLOT_OFF=(8 0 0 2048)
DEVS="$D0 8 - 0 $D1 0 $D2 2048"
DEVS_NOSLOT1=$DEVS
DEVS_SLOT1="$D0 8 $D3 0 $D1 0 $D2 2048"

gen_map 5 "$NV" "300 0 300 300" 5 0.3 >"$W/map"
runs_of <"$W/map" >"$W/runs"
plan_note "$(wc -l <"$W/runs") runs"

# Sector of physical extent P of slot S on its device.
phys_sector() { echo $((SLOT_OFF[$1] + $2 * E)); }
# Copies one extent between physical locations (quiesced: no I/O runs).
copy_extent() {
	dd if="${SLOT_DEV[$1]}" of="${SLOT_DEV[$3]}" bs=512 skip="$(phys_sector "$1" "$2")" \
		seek="$(phys_sector "$3" "$4")" count=$E iflag=direct oflag=direct status=none
}
live_table() { dmsetup table cv; }
vol_sum() { drop_cache /dev/mapper/cv; md5sum </dev/mapper/cv | cut -d' ' -f1; }
tables_present() { dmsetup info cv | sed -n 's/^Tables present: *//p'; }

cvol_table "$LEN" "$UUID" "$E" "$DEVS" "$W/runs" >"$W/table0"
check "create the volume" -- dmsetup create cv "$W/table0"
check "fill it with random data" -- dd if=/dev/urandom of=/dev/mapper/cv bs=64k count=$((LEN / 128)) oflag=direct status=none
SUM=$(vol_sum)
T0=$(live_table)
assert_eq "dmsetup table: map_gen 0 and the runs that were loaded" \
	"$(runs_line <"$W/runs")" "$(table_runs cv | runs_line)"
assert_eq "table gen is 0" 0 "$(table_gen cv)"
assert_match "table names the empty slot as '- 0'" " $E 4 [0-9]+:[0-9]+ 8 - 0 [0-9]+:[0-9]+ 0 [0-9]+:[0-9]+ 2048 " "$T0"
assert_eq "map_get 0 $NV equals the table's runs" "$(table_runs cv | runs_line)" "$(msg cv map_get 0 $NV)"

# --- reload without map_runs adopts the live map ---
check "reload: same line without any features" -- dmsetup reload cv --table "0 $LEN cvol $UUID $E 4 $DEVS"
assert_eq "inactive table present" "LIVE & INACTIVE" "$(tables_present)"
check "suspend + resume" -- sh -c 'dmsetup suspend cv && dmsetup resume cv'
assert_eq "table identical after reload without map_runs" "$T0" "$(live_table)"
assert_eq "data identical after reload without map_runs" "$SUM" "$(vol_sum)"

# --- round trip of dmsetup table ---
check "reload: dmsetup table output fed back" -- dmsetup reload cv --table "$T0"
check "suspend + resume" -- sh -c 'dmsetup suspend cv && dmsetup resume cv'
assert_eq "round trip: table unchanged" "$T0" "$(live_table)"
check "reload with --noflush suspend" -- sh -c "dmsetup reload cv --table '$T0' && dmsetup suspend --noflush cv && dmsetup resume cv"
assert_eq "round trip with noflush: table unchanged" "$T0" "$(live_table)"

# --- wrong map_gen ---
kmsg_mark "wrong gen"
check_fail "reload with map_gen 7 (live is 0) fails" -- \
	dmsetup reload cv --table "${T0/ map_gen 0 / map_gen 7 }"
assert_match "kernel log names the reason" 'device-mapper: table: .*cvol: Map generation mismatch' "$(kmsg_since_mark)"
assert_eq "no inactive table left behind" "LIVE" "$(tables_present)"
assert_eq "live table unchanged" "$T0" "$(live_table)"
assert_match "device still active (not suspended)" '^State: +ACTIVE' "$(dmsetup info cv)"

# --- differing map_runs ---
first=$(head -1 "$W/runs")
IFS=: read -r fv fd fp fc <<<"$first"
moved="$fv:$fd:$((310)):$fc"
kmsg_mark "differing runs"
check_fail "reload with one run moved elsewhere fails" -- \
	dmsetup reload cv --table "${T0/ $first / $moved }"
assert_match "kernel log: map_runs differ" 'cvol: map_runs differ from the live map' "$(kmsg_since_mark)"
# The same table with the first run left out (map_runs and the feature
# count one smaller).
dropped=$(echo "$T0" | awk '{
	out = ""
	for (i = 1; i <= NF; i++) {
		w = $i
		if ($(i + 1) == "map_gen") w = w - 1
		if ($(i - 1) == "map_runs") { w = w - 1; out = out " " w; i++; continue }
		out = out (i > 1 ? " " : "") w
	}
	print out
}')
assert_eq "the shortened table has one run less" "$(($(table_runs cv | wc -l) - 1))" \
	"$(echo "$dropped" | tr ' ' '\n' | grep -cE '^[0-9]+:[0-9]+:[0-9]+:[0-9]+$')"
kmsg_mark "missing run"
check_fail "reload with one run missing fails" -- dmsetup reload cv --table "$dropped"
assert_match "kernel log: map_runs differ" 'cvol: map_runs differ from the live map' "$(kmsg_since_mark)"
# The same map written with one run split in two (not maximal, same
# extents): it restates the live map, so it loads.
split=$(echo "$T0" | awk '{
	out = ""; done = 0
	for (i = 1; i <= NF; i++) {
		w = $i
		if ($(i + 1) == "map_gen") w = w + 1
		if ($(i - 1) == "map_runs") w = w + 1
		if (!done && split(w, a, ":") == 4 && a[4] >= 2) {
			h = int(a[4] / 2)
			w = a[1] ":" a[2] ":" a[3] ":" h " " (a[1] + h) ":" a[2] ":" (a[3] + h) ":" (a[4] - h)
			done = 1
		}
		out = out (i > 1 ? " " : "") w
	}
	print out
}')
assert_eq "the split table has one run more" "$(($(table_runs cv | wc -l) + 1))" \
	"$(echo "$split" | tr ' ' '\n' | grep -cE '^[0-9]+:[0-9]+:[0-9]+:[0-9]+$')"
check "reload with one run split in two (same map) works" -- \
	sh -c "dmsetup reload cv --table '$split' && dmsetup suspend cv && dmsetup resume cv"
assert_eq "the table prints maximal runs again" "$T0" "$(live_table)"
# The live table with its first run listed twice: overlapping runs.
dup=$(echo "$T0" | awk -v r="$first" '{
	out = ""
	for (i = 1; i <= NF; i++) {
		w = $i
		if ($(i + 1) == "map_gen") w = w + 1
		if ($(i - 1) == "map_runs") w = (w + 1) " " r
		out = out (i > 1 ? " " : "") w
	}
	print out
}')
kmsg_mark "dup run"
check_fail "reload with the first run listed twice fails" -- dmsetup reload cv --table "$dup"
assert_match "kernel log: runs overlap" 'cvol: map_runs: runs overlap' "$(kmsg_since_mark)"
check_fail "reload with map_runs 0 (an empty map) fails" -- \
	dmsetup reload cv --table "0 $LEN cvol $UUID $E 4 $DEVS 2 map_runs 0"
check_fail "reload with another extent size fails" -- \
	dmsetup reload cv --table "0 $LEN cvol $UUID $((E * 2)) 4 $DEVS"
check_fail "reload with another length fails" -- \
	dmsetup reload cv --table "0 $((LEN + E)) cvol $UUID $E 4 $DEVS"
check_fail "reload lacking a device slot the map uses fails" -- \
	dmsetup reload cv --table "0 $LEN cvol $UUID $E 4 $D0 8 - 0 - 0 $D2 2048"
assert_match "kernel log: live map uses a missing slot" 'cvol: Live map uses a device slot this table does not have' "$(kmsg_since_mark)"
check_fail "a second dm device with the same uuid fails" -- \
	dmsetup create cv_dup --table "0 $LEN cvol $UUID $E 4 $DEVS"
assert_match "kernel log: uuid in use" 'cvol: Volume uuid is in use by another device' "$(kmsg_since_mark)"
check_fail "  ... and left no device behind" -- dmsetup info cv_dup
assert_eq "after all refused reloads: no inactive table" "LIVE" "$(tables_present)"
assert_eq "after all refused reloads: live table unchanged" "$T0" "$(live_table)"
assert_eq "after all refused reloads: data unchanged" "$SUM" "$(vol_sum)"
assert_eq "after all refused reloads: status" "0 $NV/$NV A-AA" "$(dmsetup status cv | cut -d' ' -f4-6)"

# --- map_set bumps the generation; the old table no longer loads ---
# Move the first run's first extent to pext 310 of its slot, data copied
# first (nothing else does I/O now).
copy_extent "$fd" "$fp" "$fd" 310
assert_eq "map_set returns the new generation 1" 1 "$(msg cv map_set 0 "$fv:$fd:310")"
assert_eq "table gen is 1" 1 "$(table_gen cv)"
assert_eq "status gen is 1" 1 "$(status_gen cv)"
assert_eq "data unchanged by the move" "$SUM" "$(vol_sum)"
assert_match "map_get shows the moved extent" "^$fv:$fd:310:1( |$)" "$(msg cv map_get "$fv" 1)"
T1=$(live_table)
assert_eq "map_get 0 $NV equals the table's runs after map_set" "$(table_runs cv | runs_line)" "$(msg cv map_get 0 $NV)"
kmsg_mark "stale table"
check_fail "reload with the table saved before map_set (gen 0) fails" -- dmsetup reload cv --table "$T0"
assert_match "kernel log: generation mismatch" 'cvol: Map generation mismatch' "$(kmsg_since_mark)"
check_fail "reload of the old runs with the new gen fails" -- dmsetup reload cv --table "${T0/ map_gen 0 / map_gen 1 }"
assert_eq "live table is the post-map_set one" "$T1" "$(live_table)"
check "reload with the current table works" -- sh -c "dmsetup reload cv --table '$T1' && dmsetup suspend cv && dmsetup resume cv"
assert_eq "table unchanged by that reload" "$T1" "$(live_table)"
# An idempotent map_set (the extent is already there) changes nothing.
assert_eq "map_set of the current mapping keeps gen 1" 1 "$(msg cv map_set 1 "$fv:$fd:310")"

# --- filling and emptying a device slot by reload ---
check "reload filling empty slot 1 with a device" -- sh -c \
	"dmsetup reload cv --table '0 $LEN cvol $UUID $E 4 $DEVS_SLOT1' && dmsetup suspend cv && dmsetup resume cv"
assert_eq "status shows 4 alive devices, gen 1" "1 $NV/$NV AAAA" "$(dmsetup status cv | cut -d' ' -f4-6)"
assert_eq "runs unchanged by the slot reload" "$(echo "$T1" | tr ' ' '\n' | grep -E '^[0-9]+:[0-9]+:[0-9]+:[0-9]+$')" \
	"$(table_runs cv)"
assert_eq "data unchanged by the slot reload" "$SUM" "$(vol_sum)"
# Put one extent on slot 1: a table without slot 1 is refused at load. Move
# it back, load such a table, then put the extent on slot 1 again through
# the live table before resuming: the resume must refuse the new table.
SLOT_DEV[1]=$D3
read -r v2 d2 p2 <<<"$(sed -n 10p "$W/map")"
copy_extent "$d2" "$p2" 1 0
assert_eq "map_set extent $v2 onto slot 1" 2 "$(msg cv map_set 1 "$v2:1:0")"
check_fail "reload without slot 1 while the map uses it: refused at load" -- \
	dmsetup reload cv --table "0 $LEN cvol $UUID $E 4 $DEVS_NOSLOT1"
copy_extent 1 0 "$d2" "$p2"
assert_eq "map_set extent $v2 back" 3 "$(msg cv map_set 2 "$v2:$d2:$p2")"
check "load a table without slot 1 (slot unused now)" -- \
	dmsetup reload cv --table "0 $LEN cvol $UUID $E 4 $DEVS_NOSLOT1"
copy_extent "$d2" "$p2" 1 0
assert_eq "map_set extent $v2 onto slot 1 again, through the live table" 4 "$(msg cv map_set 3 "$v2:1:0")"
kmsg_mark "bad resume"
check_fail "resume of the table without slot 1 is refused (preresume)" -- dmsetup resume cv
assert_match "kernel log: cannot resume" 'cvol: rl-vol: cannot resume: Live map uses a device slot' "$(kmsg_since_mark)"
check "recover: load a table with slot 1 and resume" -- sh -c \
	"dmsetup reload cv --table '0 $LEN cvol $UUID $E 4 $DEVS_SLOT1' && dmsetup resume cv"
assert_match "device active again" '^State: +ACTIVE' "$(dmsetup info cv)"
assert_eq "status after recovery" "4 $NV/$NV AAAA" "$(dmsetup status cv | cut -d' ' -f4-6)"
assert_eq "data unchanged through the refused resume" "$SUM" "$(vol_sum)"
assert_match "map_get shows extent $v2 on slot 1" "^$v2:1:0:1$" "$(msg cv map_get "$v2" 1)"

# --- remove and recreate from the saved table ---
T2=$(live_table)
check "remove the device" -- dmsetup remove cv
check "recreate it from the saved dmsetup table" -- dmsetup create cv --table "$T2"
assert_eq "recreated: same table (map, gen 4)" "$T2" "$(live_table)"
assert_eq "recreated: same data" "$SUM" "$(vol_sum)"
assert_eq "recreated: status" "4 $NV/$NV AAAA" "$(dmsetup status cv | cut -d' ' -f4-6)"
assert_eq "recreated: map_get equals the table's runs" "$(table_runs cv | runs_line)" "$(msg cv map_get 0 $NV)"
check_fail "recreated: map_set with the pre-recreate stale gen 3 fails" -- msg cv map_set 3 "$v2:1:1"

check "remove" -- dmsetup remove cv
assert_no_kernel_warning
finish
