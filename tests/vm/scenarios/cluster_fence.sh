#!/bin/bash
# timeout: 900
# smp: 2
# boot: own
# mem: 3072
# Fencing and controller failure on three cvold hosts (namespaces h1..h3,
# 3-member etcd, shared loop devices), with fio writers on every host:
#   1. h3's daemon is SIGSTOPped past its lease while the Primary moves an
#      extent h3 writes: h3 does not answer, the controller waits for its
#      lease to expire (its kernel lease has fenced its volume by then),
#      excludes it and re-copies the whole extent; h3's held writes never
#      reach the old place; after SIGCONT h3 re-integrates (loads the new
#      map, unfences) and its writer goes on and verifies.
#   2. The Primary (h1) is SIGSTOPped in the middle of a step (a test fault
#      holds it just before it sends 'freeze'): h2 takes over with a higher
#      epoch and rolls the change back; nothing stays frozen or migrating;
#      after SIGCONT h1's late requests are refused as stale, it revokes
#      nobody's lease, and it rejoins last.
#   3. kill -9 of a host's daemon in the middle of a move: its kernel lease
#      fences the volume, the move completes without it (excluded), a
#      restarted daemon re-integrates and the writer goes on.
# Every writer pass verifies; the maps of all hosts equal etcd's at the end.
source "$CVOL_ROOT/tests/vm/lib.sh"
source "$CVOL_ROOT/tests/vm/lib/cluster.bash"

# A lease long enough that a stopped host is still a member when the move
# begins (a command can take seconds in TCG): it must then be excluded.
export CLUSTER_LEASE_TTL=10
load_cvol
cluster_three_hosts

writers_start p-v $((48 << 20))
sleep 2

# The sector of extent VEXT's current place on its device, and that device.
place_of() { # VEXT
	dmsetup table p-v@h1 | head -n1 | awk -v v="$1" '{
		for (i = 1; i <= NF; i++) if ($i == "map_runs") m = i
		for (i = m + 2; i <= NF && $i ~ /:/; i++) {
			split($i, r, ":")
			if (v >= r[1] && v < r[1] + r[4]) { slot = r[2]; pext = r[3] + v - r[1] }
		}
		print $(7 + 2 * slot), $(8 + 2 * slot) + pext * 8192
	}'
}
sum_at() { # MAJOR:MINOR SECTOR: md5 of the 4 MiB extent there
	local dev
	dev=/dev/$(sed -n 's/^DEVNAME=//p' "/sys/dev/block/$1/uevent")
	dd if="$dev" iflag=direct bs=512 skip="$2" count=8192 status=none | md5sum | cut -d' ' -f1
}

plan_note "1. h3 stopped past its lease during a move of an extent it writes"
read -r OLD_DEV OLD_SECTOR <<<"$(place_of 9)"
host_stop 3
t0=$(date +%s)
check_hctl "move extent 9 (h3's third) to pvC completes without h3" 0 1 volume move p/v --extent 9 --to-pv pvC --wait
plan_note "move with h3 stopped took $(($(date +%s) - t0)) s"
check "h3's kernel fenced its volume (lease expired)" -- \
	bash -c "dmsetup status p-v@h3 | grep -q fenced"
OLD_SUM=$(sum_at "$OLD_DEV" "$OLD_SECTOR")
check_hctl "member list without h3" 0 1 member list --json
assert_eq "h3 is no member" "h1 h2" "$(jq -r '[.members[].host] | join(" ")' "$CC_OUT")"
assert_match "h1 saw h3 unresponsive" '"host_unresponsive".*"h3"|"host":"h3".*"host_unresponsive"' "$(cat "$CVOL_OUT/events-h1.log")"
assert_match "h1 excluded h3" '"type":"host_excluded"' "$(grep h3 "$CVOL_OUT/events-h1.log")"
assert_match "the whole extent was re-copied" '"whole":true' "$(grep change_recopied "$CVOL_OUT/events-h1.log")"
host_cont 3
check "h3 becomes active again" -- wait_for 60 bash -c \
	"$CLUSTERCTL --socket /run/cvol/h3.sock member list --json | jq -e '.members[] | select(.host == \"h3\" and .state == \"active\")'"
check "h3's volume is unfenced" -- bash -c "! dmsetup status p-v@h3 | grep -q fenced"
hctl 3 member list --json
assert_eq "h3 rejoined last, with one failure" "alternate 1" \
	"$(jq -r '.members[] | select(.host == "h3") | "\(.role) \(.fail_count)"' "$CC_OUT")"
sleep 4	# h3's writer runs on the new map
assert_eq "h3's writes never reached the old place" "$OLD_SUM" "$(sum_at "$OLD_DEV" "$OLD_SECTOR")"
assert_match "h3 re-integrated" '"host_reintegrated"' "$(cat "$CVOL_OUT/events-h3.log")"

plan_note "2. the Primary stopped in the middle of a step, then resumed"
# h1's controller stalls right before it sends 'freeze' (a test fault); it
# is SIGSTOPped meanwhile, so its requests arrive after h2 took over.
host_fault 1 stall_before:freeze
check_hctl "start moving extent 2 on h1 (no wait)" 0 1 volume move p/v --extent 2 --to-pv pvB
check "h1 records the freeze step of extent 2" -- wait_for 60 bash -c \
	"grep '\"step\":\"freeze\"' $CVOL_OUT/events-h1.log | grep -q '\"vext\":2,'"
# Stopped only once it is inside the stall (the fault file is gone): a
# stop before it (in the step's etcd reads) would let the controller see
# at once, when continued, that it is deposed, and send nothing.
check "h1's controller stalls before sending 'freeze'" -- wait_for 30 host_fault_fired 1
host_stop 1
check "h2 becomes the Primary" -- wait_for 60 bash -c \
	"$CLUSTERCTL --socket /run/cvol/h2.sock member list --json | jq -e '.members[0].host == \"h2\"'"
check "h2 ends the change (no move left)" -- wait_for 90 bash -c \
	"$CLUSTERCTL --socket /run/cvol/h2.sock status --json | jq -e '.moves | length == 0'"
assert_match "h2 took the change over" '"change_taken_over"|"step":"follow"' "$(cat "$CVOL_OUT/events-h2.log")"
for i in 2 3; do
	check "nothing frozen or migrating on h$i" -- bash -c \
		"dmsetup status p-v@h$i | awk '{ exit !(\$7 == 0 && \$8 == 0) }'"
done
host_cont 1
check "h1's late 'freeze' is refused as stale on h2 or h3" -- wait_for 60 bash -c \
	"cat $CVOL_OUT/events-h2.log $CVOL_OUT/events-h3.log | grep stale_epoch_refused | grep -q '\"request\":\"freeze\"'"
check "h1 is active again, as a non-primary" -- wait_for 60 bash -c \
	"$CLUSTERCTL --socket /run/cvol/h2.sock member list --json | jq -e '.members[0].host == \"h2\" and ([.members[] | select(.host == \"h1\" and .state == \"active\")] | length == 1)'"
assert_eq "the deposed h1 revoked nobody's lease" "" \
	"$(grep -h host_lease_revoked "$CVOL_OUT/events-h1.log" | grep -v '"h3"' || true)"
for i in 2 3; do
	check "h$i is still active (never fenced by the deposed h1)" -- bash -c \
		"$CLUSTERCTL --socket /run/cvol/h2.sock member list --json | jq -e '.members[] | select(.host == \"h$i\" and .state == \"active\")'"
done

plan_note "3. kill -9 of h3's daemon in the middle of a move of an extent it writes"
P=$("$CLUSTERCTL" --socket /run/cvol/h2.sock member list --json | jq -r '.members[0].host' | tr -d h)
check_hctl "start moving extent 10 (h3's third) on the Primary h$P" 0 "$P" \
	volume move p/v --extent 10 --to-pv pvB
host_kill 3 KILL
check "h3's kernel lease fences its volume" -- wait_for 30 bash -c "dmsetup status p-v@h3 | grep -q fenced"
check "the move completes without h3" -- wait_for 120 bash -c \
	"grep '\"move_done\"' $CVOL_OUT/events-h$P.log | grep -q '\"vext\":10'"
assert_match "h3 was excluded from it" '"excluded":\["h3"\]' \
	"$(grep '"move_done"' "$CVOL_OUT/events-h$P.log" | grep '"vext":10')"
check "h3 restarts" -- host_start 3
check "h3's volume is unfenced after re-integration" -- wait_for 60 bash -c "! dmsetup status p-v@h3 | grep -q fenced"
sleep 4

writers_stop
assert_eq "every writer pass verified" "" "$(writer_failures)"
plan_note "writer passes (h1 h2 h3): $(writer_passes)"

etcd_runs=$(etcd_map 2 p/v)
for i in 1 2 3; do
	assert_eq "h$i's kernel map is etcd's" "$etcd_runs" "$(host_map $i p-v)"
done
assert_eq "extent 9 is on pvC" 2 "$(extent_place 9 "$etcd_runs" | cut -d' ' -f1)"
assert_eq "extent 10 is on pvB" 1 "$(extent_place 10 "$etcd_runs" | cut -d' ' -f1)"
for i in 1 2 3; do host_events_stop "$i"; done
assert_no_kernel_warning
finish
