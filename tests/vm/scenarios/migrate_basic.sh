#!/usr/bin/env bash
# timeout: 300
#
# Online migration, the basic path on the real kernel:
#   A. idle: migrate_start -> start/copy/ready in the status with progress,
#      migrate_started and migrate_ready events; commit -> new generation,
#      map_changed + migrate_done (old location), the extent reads the same,
#      the destination holds the bytes; the source is free (overwritten with
#      garbage, the volume still reads right).
#   B. under a writer: a writer rewrites the migrating extent with known
#      blocks while it migrates (on null_blk the copy is usually done before
#      the first write, so these are mostly dual-writes; writes that meet a
#      region being copied are migrate_races' job), then commit: every
#      block reads back what was written last, through the volume and on
#      the raw destination.
#   C. several migrations at once, max_migrations, throttle response.
#   D. commit before ready is refused, nothing changes.
source "$CVOL_ROOT/tests/vm/lib.sh"
source "$CVOL_ROOT/tests/vm/lib/migrate.bash"
source "$CVOL_ROOT/tests/vm/lib/events.bash"

load_cvol
A=$(mk_nullb 64)
B=$(mk_nullb 64)
W=/tmp/mb
mkdir -p $W
E=2048		# 1 MiB extents
EB=$((E * 512))
RS=256		# 128 KiB regions: 8 per extent

ev_listen ev --uuid mb-v
sleep 1

check "create v: 8 extents on A" -- dmsetup create v --table \
	"0 $((8 * E)) cvol mb-v $E 2 $A 0 $B 0 5 map_runs 1 0:0:0:8 region_sectors $RS"
head -c $((8 * EB)) /dev/urandom >$W/v.bin
check "fill v" -- dd if=$W/v.bin of=/dev/mapper/v bs=1M oflag=direct status=none


# --- A: idle ---
check "A: migrate_start 3 -> B:5" -- msg v migrate_start 3 1 5
check "A: ready" -- wait_state v 3 ready
assert_eq "A: status: ready, 8/8 regions, no errors" "ready 8 8 0" "$(mig_of v 3)"
assert_eq "A: one migration listed" 1 "$(mig_count v)"
assert_eq "A: the map is unchanged before the commit" "0:0:0:8" "$(msg v map_get 0 8)"
g=$(status_gen v)
assert_eq "A: commit gives the next generation" $((g + 1)) "$(msg v migrate_commit 3)"
assert_eq "A: map after the commit" "0:0:0:3 3:1:5:1 4:0:4:4" "$(msg v map_get 0 8)"
assert_eq "A: no migration left" 0 "$(mig_count v)"
assert_eq "A: the destination holds extent 3" "$(head -c $((4 * EB)) $W/v.bin | tail -c $EB | md5sum | cut -d' ' -f1)" \
	"$(sum_region "$B" $((5 * E)) $E)"
dd if=/dev/urandom of="$A" bs=$EB seek=3 count=1 oflag=direct status=none
assert_eq "A: the volume reads right after the source is overwritten" "$(md5sum <$W/v.bin | cut -d' ' -f1)" \
	"$(dd if=/dev/mapper/v bs=1M iflag=direct status=none | md5sum | cut -d' ' -f1)"
assert_eq "A: health" "AA" "$(health v)"

# --- B: a writer during the copy ---
# One region at a time: the copy is as slow as it gets here.
assert_eq "B: throttle 1 region" "1 8" "$(msg v migrate_throttle 1)"
B_OFF=$((5 * EB))
check "B: migrate_start 5 -> B:9" -- msg v migrate_start 5 1 9
# 4 KiB blocks at random offsets of extent 5, each with a unique pattern;
# the last write of each block is remembered.
declare -A LAST
for ((k = 0; k < 300; k++)); do
	blk=$((RANDOM % (EB / 4096)))
	printf '%08d-%08d' "$k" "$blk" | head -c 4096 >$W/blk
	head -c $((4096 - 17)) /dev/urandom >>$W/blk	# after the 17-byte tag
	dd if=$W/blk of=/dev/mapper/v bs=4096 seek=$((B_OFF / 4096 + blk)) count=1 \
		oflag=direct conv=notrunc status=none
	LAST[$blk]=$(md5sum <$W/blk | cut -d' ' -f1)
	[ $((k % 50)) -eq 0 ] && echo "# after $k writes: $(mig_of v 5)"
done
check "B: ready" -- wait_state v 5 ready
g=$(status_gen v)
assert_eq "B: commit" $((g + 1)) "$(msg v migrate_commit 5)"
bad=0
for blk in "${!LAST[@]}"; do
	got=$(dd if=/dev/mapper/v bs=4096 skip=$((B_OFF / 4096 + blk)) count=1 iflag=direct status=none | md5sum | cut -d' ' -f1)
	raw=$(sum_region "$B" $((9 * E + blk * 8)) 8)
	[ "$got" = "${LAST[$blk]}" ] && [ "$raw" = "${LAST[$blk]}" ] || bad=$((bad + 1))
done
assert_eq "B: every written block reads its last write (volume and raw destination; ${#LAST[@]} blocks)" 0 "$bad"

# --- C: several at once ---
assert_eq "C: throttle 16 regions, 2 migrations" "16 2" "$(msg v migrate_throttle 16 2)"
check "C: migrate 0 -> B:20" -- msg v migrate_start 0 1 20
check "C: migrate 1 -> B:21" -- msg v migrate_start 1 1 21
check_fail "C: a third is refused (max 2)" -- msg v migrate_start 2 1 22
check "C: 0 ready" -- wait_state v 0 ready
check "C: 1 ready" -- wait_state v 1 ready
# --- D: commit before ready ---
check "D: throttle 1" -- msg v migrate_throttle 1 8
check "D: migrate 2 -> B:22" -- msg v migrate_start 2 1 22
g=$(status_gen v)
st=$(mig_of v 2)
st=${st%% *}
if [ "$st" != ready ]; then
	check_fail "D: commit of a migration that is not ready ($st) fails" -- msg v migrate_commit 2
	assert_eq "D: generation unchanged" "$g" "$(status_gen v)"
fi
check "D: 2 ready" -- wait_state v 2 ready
for x in 0 1 2; do check "C/D: commit $x" -- msg v migrate_commit $x; done
assert_eq "C/D: map" "0:1:20:3 3:1:5:1 4:0:4:1 5:1:9:1 6:0:6:2" "$(msg v map_get 0 8)"
check "the whole volume reads without error" -- dd if=/dev/mapper/v of=/dev/null bs=1M iflag=direct status=none
assert_eq "extents 0-2 read as written" "$(head -c $((3 * EB)) $W/v.bin | md5sum | cut -d' ' -f1)" \
	"$(dd if=/dev/mapper/v bs=1M count=3 iflag=direct status=none | md5sum | cut -d' ' -f1)"

sleep 1
ev_stop ev
T=$(jq -r '.type' $W/ev.jsonl | grep migrate | tr '\n' ' ')
plan_note "events: $T"
assert_eq "events of extent 3: started ready done" "migrate_started migrate_ready migrate_done" \
	"$(jq -r 'select(.vext == 3 and (.type | startswith("migrate"))) | .type' $W/ev.jsonl | tr '\n' ' ' | sed 's/ $//')"
assert_eq "migrate_done of 3 names the old place 0:3" "0 3" \
	"$(jq -r 'select(.vext == 3 and .type == "migrate_done") | "\(.dev_slot) \(.value)"' $W/ev.jsonl)"
check "remove" -- dmsetup remove v
finish
