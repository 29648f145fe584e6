#!/usr/bin/env bash
# timeout: 300
#
# A fenced host writes nowhere, on the real kernel:
#   A. a migration's copier stops at the fence: with one region in flight
#      to a destination behind a 300 ms dm-delay and a crc32c fio writer on
#      the volume, fence_drained arrives, then neither the destination's
#      bytes nor the copied count move; unfence resumes the copy, commit,
#      and every writer pass verifies.
#   B. a lease that runs out while fenced: unfence is refused until the
#      lease is renewed (or disarmed); renewed, it is armed and its timer
#      fences again when it runs out (no I/O needed).
#   C. a reload may not put another device behind a slot that maps
#      extents or is a migration's destination, at load or at resume (a
#      map_set between the two); replace_slot permits it; an unused slot
#      may change; replace_slot of an empty or missing slot is refused.
#   D. cluster epochs: a message with an older epoch= than one seen fails
#      (ESTALE) and changes nothing; a newer one raises it, for unfence too.
#   E. freeze_wait is capped (10 s) and returns when a suspend begins.
#   F. a table with "fenced" (1.5) creates a volume fenced: status and
#      table say so, a write is held until lease + unfence, then lands; a
#      reload with "fenced" does not fence the live volume; "fenced" twice
#      is refused.
source "$CVOL_ROOT/tests/vm/lib.sh"
source "$CVOL_ROOT/tests/vm/lib/migrate.bash"
source "$CVOL_ROOT/tests/vm/lib/events.bash"
source "$CVOL_ROOT/tests/vm/lib/fio.bash"

load_cvol
W=/tmp/fh
mkdir -p $W
E=2048 # 1 MiB extents, 32 regions of 64 sectors
N0=$(mk_nullb 64)
N1=$(mk_nullb 64)
N2=$(mk_nullb 64)
check "listener" -- ev_listen a --uuid fh-v
lease_state() { dmsetup status "$1" | awk '{ print $NF }'; }
devno() { printf '%d:%d' "0x$(stat -c %t "$1")" "0x$(stat -c %T "$1")"; }

# --- A: the copier stops at the fence ---
check "dst: dm-delay, 300 ms on writes" -- \
	dmsetup create dly --table "0 $(dev_sectors "$N1") delay $N1 0 0 $N1 0 300"
check "source extent 0: random data" -- \
	dd if=/dev/urandom of="$N0" bs=1M count=1 oflag=direct status=none
check "create v: 4 extents on slot 0, slot 1 the delayed device" -- dmsetup create v --table \
	"0 $((4 * E)) cvol fh-v $E 2 $N0 0 /dev/mapper/dly 0 5 map_runs 1 0:0:0:4 region_sectors 64"
check "one region in flight at a time" -- msg v migrate_throttle 1
job() { fio_verify_args -q 8 /dev/mapper/v $((4 * E * 512)) "$@"; }
writer_start wv 100 job
check "migrate extent 0 to slot 1, pext 2, under a verifying writer" -- msg v migrate_start 0 1 2
check "a few regions copied" -- wait_copied v 0 3 60
check "fence" -- msg v fence
drained() { [ -n "$(ev_of a fh-v fence_drained)" ]; }
check "fence_drained arrives (the copy and the writes in flight ended)" -- poll 300 0.1 drained
assert_eq "A: the events: migrate_started fenced fence_drained" "migrate_started fenced fence_drained" \
	"$(ev_of a fh-v | jq -r .type | xargs)"
assert_eq "A: fenced and fence_drained carry the fence's number" "1 1" \
	"$(ev_of a fh-v fenced | jq -r .id) $(ev_of a fh-v fence_drained | jq -r .id)"
c1=$(mig_of v 0 | awk '{ print $2 }')
s1=$(sum_region "$N1" $((2 * E)) $E)
sleep 2
c2=$(mig_of v 0 | awk '{ print $2 }')
s2=$(sum_region "$N1" $((2 * E)) $E)
assert_eq "A: copied count frozen while fenced ($c1 of 32)" "$c1" "$c2"
assert_eq "A: the destination did not change while fenced" "$s1" "$s2"
[ "$c1" -lt 32 ] && ok "A: the copy was cut short ($c1 < 32)" || fail "A: all copied before the fence"
assert_eq "A: status says fenced" fenced "$(lease_state v)"
check "A: unfence 1" -- msg v unfence 1
check "A: the copy resumes and completes" -- wait_state v 0 ready 60
check "A: commit" -- msg v migrate_commit 0
check "A: the writer stops" -- writer_stop wv
[ "$(writer_runs wv)" -ge 1 ] && ok "A: $(writer_runs wv) verified writer passes" || fail "A: no writer pass"
assert_eq "A: every pass verified (nothing lost across fence, unfence and commit)" "" "$(writer_failed wv)"
assert_eq "A: extent 0 is read from the destination" "$(sum_region "$N1" $((2 * E)) $E)" \
	"$(dd if=/dev/mapper/v bs=1M count=1 iflag=direct status=none | md5sum | cut -d' ' -f1)"
assert_eq "A: health" AA "$(health v)"

# --- B: a lease that runs out while fenced ---
check "B: fence" -- msg v fence
check "B: lease 1000" -- msg v lease 1000
sleep 3
check_fail "B: unfence after the lease ran out is refused" -- msg v unfence 5
assert_eq "B: still fenced" fenced "$(lease_state v)"
bg wB dd if=/dev/zero of=/dev/mapper/v bs=4k count=1 oflag=direct status=none
sleep 1
check_fail "B: a write is held" -- done_ wB
check "B: lease 4000 (renewed)" -- msg v lease 4000
check "B: unfence 5 now" -- msg v unfence 5
assert_eq "B: armed" armed "$(lease_state v)"
check "B: the held write completes" -- wait_job wB 10
kmsg_mark lease-b
is_fenced() { [ "$(lease_state v)" = fenced ]; }
check "B: the timer fences when the lease runs out, without I/O" -- poll 100 0.1 is_fenced
assert_match "B: the log says why" "cvol: fh-v: fenced \(lease expired\)" "$(kmsg_since_mark)"
check_fail "B: unfence refused again" -- msg v unfence 6
check "B: lease 0 disarms" -- msg v lease 0
check "B: unfence 6" -- msg v unfence 6
assert_eq "B: no lease" none "$(lease_state v)"

# --- C: reloads keep the devices under extents ---
T=$(dmsetup table v | cut -d' ' -f4-)
table_with() { # SLOT0 SLOT1 [FEATURES]
	echo "0 $((4 * E)) cvol fh-v $E 2 $1 0 $2 0 ${3:-0}"
}
check_fail "C: slot 0 (maps extents) onto another device: refused" -- \
	dmsetup reload v --table "$(table_with "$N2" /dev/mapper/dly)"
check "C: slot 1 maps extent 0 now; unchanged is fine" -- \
	dmsetup reload v --table "$(table_with "$N0" /dev/mapper/dly)"
check "C: resume" -- dmsetup resume v
check_fail "C: slot 1 onto $N2: refused" -- dmsetup reload v --table "$(table_with "$N0" "$N2")"
check_fail "C: replace_slot 2 (no such slot): refused" -- \
	dmsetup reload v --table "$(table_with "$N0" /dev/mapper/dly "2 replace_slot 2")"
check "C: a copy of $N1 on $N2 (the same data by another path)" -- \
	dd if="$N1" of="$N2" bs=1M oflag=direct status=none
check "C: replace_slot 1 permits it" -- \
	dmsetup reload v --table "$(table_with "$N0" "$N2" "2 replace_slot 1")"
check "C: resume" -- dmsetup resume v
assert_eq "C: slot 1 is $N2 now" "$(devno "$N2")" "$(dmsetup table v | awk '{ print $9 }')"
assert_eq "C: extent 0 reads the same" "$(sum_region "$N1" $((2 * E)) $E)" \
	"$(dd if=/dev/mapper/v bs=1M count=1 iflag=direct status=none | md5sum | cut -d' ' -f1)"
check "C: move extent 0 back to slot 0 (pext 3); slot 1 is unused" -- msg v map_set "$(status_gen v)" 0:0:3
check "C: an unused slot may change device" -- dmsetup reload v --table "$(table_with "$N0" "$N1")"
check "C: resume" -- dmsetup resume v
check "C: load a table with slot 1 on $N2 while it is unused" -- \
	dmsetup reload v --table "$(table_with "$N0" "$N2")"
check "C: map_set puts extent 1 on slot 1" -- msg v map_set "$(status_gen v)" 1:1:0
check_fail "C: the resume refuses the table (slot 1 now maps an extent)" -- dmsetup resume v
check_fail "C: map_set through the live table that failed to resume is refused" -- \
	msg v map_set "$(status_gen v)" 2:1:1
check_fail "C: so is migrate_start" -- msg v migrate_start 2 1 1
check "C: a table that keeps slot 1 loads" -- dmsetup reload v --table "$(table_with "$N0" "$N1")"
check "C: and resumes" -- dmsetup resume v
check "C: extent 1 back to slot 0" -- msg v map_set "$(status_gen v)" 1:0:1
check "C: a migration to slot 1, its only user" -- msg v migrate_start 2 1 5
check_fail "C: the destination slot of a migration may not change" -- \
	dmsetup reload v --table "$(table_with "$N0" "$N2")"
check "C: abort the migration" -- msg v migrate_abort 2

# --- D: epochs ---
id=$(msg v freeze 3 1 epoch=10)
check "D: freeze with epoch=10: $id" -- test -n "$id"
check_fail "D: thaw with epoch=9: stale" -- msg v thaw "$id" epoch=9
assert_eq "D: the freeze is still there" 1 "$(dmsetup status v | awk '{ print $7 }')"
check "D: thaw with epoch=10" -- msg v thaw "$id" epoch=10
check_fail "D: epoch=x is invalid" -- msg v map_set "$(status_gen v)" 3:0:3 epoch=x
check_fail "D: a map_set with epoch=20 and a bad item fails" -- msg v map_set "$(status_gen v)" 3:7:3 epoch=20
check_fail "D: epoch 2^48 is refused" -- msg v thaw 1 epoch=281474976710656
id=$(msg v freeze 3 1 epoch=11)
check "D: ... and raised nothing: epoch=11 still works" -- msg v thaw "$id" epoch=11
g=$(status_gen v)
check_fail "D: map_set with epoch=9: stale" -- msg v map_set "$g" 3:0:9 epoch=9
assert_eq "D: ... and the map is unchanged" "$g" "$(status_gen v)"
check "D: migrate_start with epoch=12" -- msg v migrate_start 3 1 6 epoch=12
check_fail "D: migrate_abort with epoch=11: stale" -- msg v migrate_abort 3 epoch=11
check_fail "D: migrate_dirty clear with epoch=11: stale" -- msg v migrate_dirty 3 clear epoch=11
check "D: migrate_dirty clear with epoch=12" -- msg v migrate_dirty 3 clear epoch=12
check "D: migrate_abort with epoch=12" -- msg v migrate_abort 3 epoch=12
check "D: fence" -- msg v fence
check_fail "D: unfence 11 (older than 12): stale" -- msg v unfence 11
check "D: unfence 12" -- msg v unfence 12

# --- E: freeze_wait ---
check_fail "E: freeze_wait over 10000 ms is refused" -- msg v freeze_wait 1 10001
check "E: a device whose I/O takes 4 s" -- dmsetup create dly2 --table \
	"0 $(dev_sectors "$N2") delay $N2 0 4000"
check "E: slot 1 (unused) onto it" -- dmsetup reload v --table "$(table_with "$N0" /dev/mapper/dly2)"
check "E: resume" -- dmsetup resume v
check "E: extent 1 on slot 1" -- msg v map_set "$(status_gen v)" 1:1:0
bg rE dd if=/dev/mapper/v of=/dev/null bs=4k skip=$((E / 8)) count=1 iflag=direct status=none
sleep 0.5
id=$(msg v freeze 1 1)
bg_timed fwE msg v freeze_wait "$id" 10000
sleep 0.5
t0=$(now_ns)
check "E: noflush suspend" -- timeout 30 dmsetup suspend --noflush v
check "E: freeze_wait has returned" -- wait_job fwE 30
check_fail "E: ... without drained" -- test "$(rc_of fwE)" = 0
plan_note "E: freeze_wait ended $(job_end_ms fwE "$t0") ms after the suspend began"
check "E: resume" -- dmsetup resume v
check "E: the read completes" -- wait_job rE 30
check "E: thaw" -- msg v thaw "$id"

# --- F: a volume created fenced ---
TF="0 $((4 * E)) cvol fh-f $E 1 $N0 0"
check_fail "F: 'fenced' twice is refused" -- dmsetup create f --table "$TF 5 map_runs 1 0:0:40:4 fenced fenced"
check "F: create f with 'fenced'" -- dmsetup create f --table "$TF 4 map_runs 1 0:0:40:4 fenced"
assert_eq "F: f is fenced from the start" fenced "$(lease_state f)"
assert_match "F: its table says fenced" " fenced$" "$(dmsetup table f)"
fill_bytes 0x3c 4096 >$W/f.bin
bg wF dd if=$W/f.bin of=/dev/mapper/f bs=4096 oflag=direct status=none
sleep 1
check_fail "F: a write is held" -- done_ wF
check "F: lease 60000, unfence 1" -- bash -c "dmsetup message f 0 lease 60000 && dmsetup message f 0 unfence 1"
assert_eq "F: armed" armed "$(lease_state f)"
check "F: the held write completes" -- wait_job wF 10
check "F: ... and landed at pext 40" -- \
	cmp $W/f.bin <(dd if="$N0" bs=4096 skip=$((40 * 256)) count=1 iflag=direct status=none)
check "F: reload f with the same table ('fenced' included)" -- \
	bash -c "dmsetup reload f --table '$TF 4 map_runs 1 0:0:40:4 fenced' && dmsetup resume f"
assert_eq "F: the live volume is not fenced by the reload" armed "$(lease_state f)"
check "F: a write completes at once" -- timeout 10 dd if=/dev/zero of=/dev/mapper/f bs=4k count=1 oflag=direct status=none
check "F: lease 0, remove f" -- bash -c "dmsetup message f 0 lease 0 && dmsetup remove f"

ev_stop a
check "remove" -- dmsetup remove v dly dly2
assert_no_kernel_warning
finish
