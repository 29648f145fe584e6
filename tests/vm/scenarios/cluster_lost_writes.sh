#!/bin/bash
# timeout: 1200
# smp: 2
# boot: own
# mem: 3072
# No acknowledged write is lost through a cluster move, at scale and under
# host faults (cvold hosts in network namespaces, 3-member etcd, shared loop
# devices, 1 MiB extents; fio crc32c writers on h1..h3 all along):
#   1. `volume move --count 64 --wait` on three hosts: every move of the
#      volume queues behind the kernel's migration limit instead of being
#      rolled back; it ends with exit 0, nobody fenced or failed.
#   2. A follower (h3) writes the moving extent and its daemon is killed
#      (SIGKILL) after the copy, before the freeze: its kernel lease fences
#      it, its etcd lease expires, the controller takes it out and re-copies
#      the whole extent; every write h3 had acknowledged is read back
#      through the other hosts' devices.
#   3. Two of five hosts (h4, h5) write the moving extent and never answer
#      the freeze: both are excluded at once (one lease TTL for both), the
#      change completes for the other three, and every write h4 and h5 had
#      acknowledged is read back through another host's device.
# Every writer pass verifies; every kernel map equals etcd's at the end.
source "$CVOL_ROOT/tests/vm/lib.sh"
source "$CVOL_ROOT/tests/vm/lib/cluster.bash"
source "$CVOL_ROOT/tests/vm/lib/acked.bash"

W=/tmp/cluster_lost_writes
mkdir -p $W
EXT_BLOCKS=256 # 4 KiB blocks in a 1 MiB extent
load_cvol

# Five namespaces: h4 and h5 join for part 3.
# Every re-copy answered "not done yet" first and polled by the controller
# (--recopy-inline-ms 0): the path a large extent takes, here on a small one.
CLUSTER_NAMESPACES=5 CLUSTER_PV_MB=160 CLUSTER_EXTENT=1M CLUSTER_VOLUME=96M \
	CLUSTER_CVOLD_ARGS="--recopy-inline-ms 0" cluster_three_hosts
CLUSTER_CLEANUP_HOOKS+=("touch $W/k3.stop $W/s4.stop $W/s5.stop")

# fio on the first 48 extents (16 per host); the acked writers use 80 and 81.
writers_start p-v $((48 << 20))
sleep 2

nobody_fenced() {
	! cat "$CVOL_OUT"/events-h*.log | grep -qE '"type":"(fenced|host_fenced|member_fenced|host_excluded)"'
}
members_state() { # I: "host state fail_count" per member, through host I
	"$CLUSTERCTL" --socket "/run/cvol/h$1.sock" member list --json |
		jq -r '[.members[] | "\(.host) \(.state) \(.fail_count)"] | join(", ")'
}

plan_note "1. volume move --count 64 --wait on three hosts, under fio verify"
t0=$(date +%s)
check_hctl "move extents 0-63 to pvB" 0 1 volume move p/v --extent 0 --count 64 --to-pv pvB --wait
plan_note "64 moves took $(($(date +%s) - t0)) s"
check "nobody was fenced or excluded" -- nobody_fenced
assert_eq "every member active, no failure" "h1 active 0, h2 active 0, h3 active 0" "$(members_state 1)"
assert_eq "every move finished" "64" "$(grep -c '"type":"move_done"' "$CVOL_OUT/events-h1.log")"
assert_eq "no move rolled back" "0" "$(grep -c '"type":"move_failed"' "$CVOL_OUT/events-h1.log" || true)"
MAP=$(etcd_map 1 p/v)
assert_eq "extents 0-63 are on pvB" "64" \
	"$(for v in $(seq 0 63); do extent_place "$v" "$MAP"; done | grep -c '^1 ')"
for i in 1 2 3; do
	assert_eq "h$i's kernel map is etcd's" "$MAP" "$(host_map $i p-v)"
done

plan_note "2. follower h3 writes the moving extent; its daemon is killed between copy and freeze"
acked_start k3 /dev/mapper/p-v@h3 $((80 * EXT_BLOCKS)) $EXT_BLOCKS 1 0
check "h3's acked writer runs" -- wait_for 60 bash -c "[ \$(wc -l <$W/k3.acked) -ge 20 ]"
host_fault 1 stall_at:freeze
check_hctl "start moving extent 80 to pvC" 0 1 volume move p/v --extent 80 --to-pv pvC
check "the copy ends and h1 stalls before the freeze" -- wait_for 60 host_fault_fired 1
acked_before=$(acked_writes k3)
host_kill 3 KILL
check "h3's kernel lease fences its volume" -- wait_for 30 bash -c "dmsetup status p-v@h3 | grep -q fenced"
plan_note "h3 acknowledged $(($(acked_writes k3) - acked_before)) writes between the kill and its fence"
check "the move of extent 80 completes without h3" -- wait_for 120 bash -c \
	"grep '\"move_done\"' $CVOL_OUT/events-h1.log | grep -q '\"vext\":80,'"
assert_match "h3 was excluded from it" '"excluded":\["h3"\]' \
	"$(grep '"move_done"' "$CVOL_OUT/events-h1.log" | grep '"vext":80,')"
assert_match "the whole extent was re-copied" '"whole":true' "$(grep change_recopied "$CVOL_OUT/events-h1.log" | tail -n1)"
assert_match "h1's kernel copied the whole extent again (migrate_recopy, polled)" '"bytes":1048576' \
	"$(grep change_recopied "$CVOL_OUT/events-h1.log" | grep 'moves/p/v/00000000000000000080#' | tail -n1)"
if grep '"host_unresponsive"' "$CVOL_OUT/events-h1.log" | grep -q '"h3"'; then
	plan_note "h3 still held its lease at the freeze: excluded as silent"
else
	plan_note "h3's lease had expired by the freeze: excluded as a recorded follower gone"
fi
check "h3 restarts" -- host_start 3
host_events_start 3
check "h3's volume is unfenced after re-integration" -- wait_for 60 bash -c "! dmsetup status p-v@h3 | grep -q fenced"
n=$(acked_writes k3)
check "h3's acked writer goes on" -- wait_for 60 bash -c "[ \$(wc -l <$W/k3.acked) -ge $((n + 10)) ]"
acked_stop k3
plan_note "h3 acknowledged $(acked_writes k3) writes to extent 80"
check "every write h3 acknowledged reads back through h1" -- \
	acked_check k3 /dev/mapper/p-v@h1 $((80 * EXT_BLOCKS)) $EXT_BLOCKS
check "and through h2" -- acked_check k3 /dev/mapper/p-v@h2 $((80 * EXT_BLOCKS)) $EXT_BLOCKS

plan_note "3. two of five hosts (h4, h5) write the moving extent and never answer the freeze"
for i in 4 5; do
	check "h$i starts" -- host_start "$i"
	host_events_start "$i"
	check "p-v@h$i appears" -- wait_for 30 test -b "/dev/mapper/p-v@h$i"
done
check "five active members" -- wait_for 60 bash -c \
	"$CLUSTERCTL --socket /run/cvol/h1.sock member list --json | jq -e '[.members[] | select(.state == \"active\")] | length == 5'"
acked_start s4 /dev/mapper/p-v@h4 $((81 * EXT_BLOCKS)) $EXT_BLOCKS 2 0
acked_start s5 /dev/mapper/p-v@h5 $((81 * EXT_BLOCKS)) $EXT_BLOCKS 2 1
check "h4's and h5's acked writers run" -- wait_for 60 bash -c \
	"[ \$(wc -l <$W/s4.acked) -ge 20 ] && [ \$(wc -l <$W/s5.acked) -ge 20 ]"
P0=$(writer_passes)
host_fault 4 peer_silent:freeze
host_fault 5 peer_silent:freeze
t0=$(date +%s)
check_hctl "move extent 81 to pvC completes for the other three" 0 1 \
	volume move p/v --extent 81 --to-pv pvC --wait
plan_note "the move with two silent hosts took $(($(date +%s) - t0)) s (lease TTL ${CLUSTER_LEASE_TTL:-5} s)"
DONE=$(grep '"move_done"' "$CVOL_OUT/events-h1.log" | grep '"vext":81,')
assert_match "h4 and h5 were excluded" '"excluded":\["h[45]","h[45]"\]' "$DONE"
check "both in one exclusion (one TTL for both)" -- \
	grep -qE 'taking (h4, h5|h5, h4) out of the change' "$CVOL_OUT/cvold-h1.log"
assert_match "the whole extent was re-copied" '"whole":true' "$(grep change_recopied "$CVOL_OUT/events-h1.log" | tail -n1)"
for i in 1 2 3; do
	assert_match "h$i stayed active" "h$i active" "$(members_state 1)"
done
check "the writers of h1..h3 went on meanwhile" -- bash -c "[ '$(writer_passes)' != '$P0' ]"
for i in 4 5; do
	check "h$i is active again (re-integrated)" -- wait_for 90 bash -c \
		"$CLUSTERCTL --socket /run/cvol/h1.sock member list --json | jq -e '.members[] | select(.host == \"h$i\" and .state == \"active\")'"
	check "h$i's volume is unfenced" -- wait_for 60 bash -c "! dmsetup status p-v@h$i | grep -q fenced"
done
n4=$(acked_writes s4)
check "h4's acked writer goes on" -- wait_for 60 bash -c "[ \$(wc -l <$W/s4.acked) -ge $((n4 + 10)) ]"
acked_stop s4 s5
plan_note "acknowledged writes to extent 81: h4 $(acked_writes s4), h5 $(acked_writes s5)"
for name in s4 s5; do
	check "every write $name acknowledged reads back through h2" -- \
		acked_check "$name" /dev/mapper/p-v@h2 $((81 * EXT_BLOCKS)) $EXT_BLOCKS
done

writers_stop
assert_eq "every fio writer pass verified" "" "$(writer_failures)"
plan_note "fio writer passes (h1 h2 h3): $(writer_passes)"
MAP=$(etcd_map 1 p/v)
for i in 1 2 3 4 5; do
	assert_eq "h$i's kernel map is etcd's" "$MAP" "$(host_map $i p-v)"
	assert_eq "nothing frozen or migrating on h$i" "0 0" "$(dmsetup status "p-v@h$i" | awk '{print $7, $8}')"
done
assert_eq "extent 80 is on pvC" 2 "$(extent_place 80 "$MAP" | cut -d' ' -f1)"
assert_eq "extent 81 is on pvC" 2 "$(extent_place 81 "$MAP" | cut -d' ' -f1)"
check_hctl "status" 0 1 status --json
assert_eq "no move left" "0" "$(jq '.moves | length' "$CC_OUT")"
check_hctl "pool show" 0 1 pool show p --json
assert_eq "free = total - 96" "$(($(jq .total_extents "$CC_OUT") - 96))" "$(jq .free_extents "$CC_OUT")"
for i in 1 2 3 4 5; do host_events_stop "$i"; done
assert_no_kernel_warning
finish
