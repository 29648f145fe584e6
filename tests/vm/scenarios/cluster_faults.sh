#!/bin/bash
# timeout: 1200
# smp: 2
# boot: own
# mem: 3072
# Members that stop answering, and a controller that dies after each phase,
# on three cvold hosts with fio writers on every host (test faults armed
# through each daemon's fault file, docs/cluster.md "Fault injection"):
#   A. h3 keeps renewing its lease but never answers the freeze: the
#      controller revokes h3's lease, waits a TTL (h3 fences itself), excludes
#      it, re-copies the whole extent and commits for the rest; h3 re-joins
#      and re-integrates onto the new map.
#   B. h2 froze but never answers the difference (apply): the same, in the
#      apply step.
#   C. The Primary dies (SIGKILL) right after each phase -- follow done,
#      copy done, hosts frozen, new map committed, applied -- and the next
#      Primary rolls the change back (before the commit) or forward (after);
#      no host stays frozen; the dead host restarts, thaws the freeze its
#      predecessor held and re-integrates.
# Every writer pass verifies; every host's map equals etcd's at the end.
source "$CVOL_ROOT/tests/vm/lib.sh"
source "$CVOL_ROOT/tests/vm/lib/cluster.bash"

TTL=${CLUSTER_LEASE_TTL:-5}
load_cvol
cluster_three_hosts

writers_start p-v $((48 << 20))
sleep 2

events_of() { cat "$CVOL_OUT/events-h$1.log"; }
# The first live host other than $1, to ask.
other_than() { for j in 1 2 3; do [ "$j" = "$1" ] || { host_alive "$j" && echo "$j" && return; }; done; }
primary() { # prints the Primary's number, asked of host $1
	"$CLUSTERCTL" --socket /run/cvol/h$1.sock member list --json | jq -r '.members[0].host' | tr -d h
}
active() { # host I is active, as host J sees it
	"$CLUSTERCTL" --socket /run/cvol/h$2.sock member list --json |
		jq -e ".members[] | select(.host == \"h$1\" and .state == \"active\")" >/dev/null
}
no_moves() { "$CLUSTERCTL" --socket /run/cvol/h$1.sock status --json | jq -e '.moves | length == 0' >/dev/null; }
unfrozen() { dmsetup status "p-v@h$1" | awk '{ exit !($7 == 0 && $8 == 0) }'; }
unfenced() { ! dmsetup status "p-v@h$1" | grep -q fenced; }
maps_agree() { # every live host's kernel map is etcd's (read through host $1)
	local e j
	e=$(etcd_map "$1" p/v)
	for j in 1 2 3; do
		[ "$(host_map "$j" p-v)" = "$e" ] || return 1
	done
}

# A and B: a member that keeps its lease but does not answer one request.
silent_member() { # HOST REQUEST VEXT
	local h=$1 req=$2 v=$3 t0
	plan_note "h$h never answers '$req' while the Primary moves extent $v"
	host_fault "$h" "peer_silent:$req"
	t0=$(date +%s)
	check_hctl "move of extent $v to pvC completes without h$h" 0 1 \
		volume move p/v --extent "$v" --to-pv pvC --wait
	plan_note "the move took $(($(date +%s) - t0)) s (a TTL of $TTL s of it waiting for h$h to fence)"
	check "h$h's fault fired" -- host_fault_fired "$h"
	local ev
	ev=$(events_of 1 | grep "\"h$h\"")
	assert_match "h1: h$h unresponsive" '"host_unresponsive"' "$ev"
	assert_match "h1: h$h's lease revoked" '"host_lease_revoked"' "$ev"
	assert_match "h1: h$h excluded" '"host_excluded"' "$ev"
	assert_match "h$h fenced itself" '"member_fenced"' "$(events_of "$h")"
	check "h$h is active again" -- wait_for 60 active "$h" 1
	check "h$h's volume is unfenced" -- wait_for 30 unfenced "$h"
	check "every map is etcd's" -- wait_for 30 maps_agree 1
	assert_eq "extent $v is on pvC (slot 2)" 2 "$(extent_place "$v" "$(etcd_map 1 p/v)" | cut -d' ' -f1)"
}
silent_member 3 freeze 9
assert_match "h1 re-copied the whole extent (h3 excluded)" '"whole":true' \
	"$(events_of 1 | grep change_recopied | tail -n1)"
silent_member 2 apply 5

# C: the Primary dies right after a phase.
N=0
crash_after() { # FAULT VEXT OUTCOME(done|rolled_back)
	local fault=$1 v=$2 want=$3 p q before t0 t_thaw j
	N=$((N + 1))
	p=$(primary 1 2>/dev/null || primary 2)
	plan_note "C$N: the Primary h$p dies at '$fault' (extent $v)"
	before=$(extent_place "$v" "$(etcd_map "$p" p/v)")
	host_fault "$p" "$fault"
	check_hctl "C$N: start moving extent $v to pvC on h$p" 0 "$p" volume move p/v --extent "$v" --to-pv pvC
	check "C$N: h$p died at '$fault'" -- wait_for 60 bash -c "! kill -0 ${HOST_PID[p]} 2>/dev/null"
	t0=$(date +%s)
	host_kill "$p" KILL
	q=$(other_than "$p")
	check "C$N: a new Primary ends the change" -- wait_for 90 no_moves "$q"
	for j in 1 2 3; do
		[ "$j" = "$p" ] && continue
		check "C$N: nothing frozen or migrating on h$j" -- unfrozen "$j"
	done
	t_thaw=$(($(date +%s) - t0))
	plan_note "C$N: change ended $t_thaw s after the crash"
	check "C$N: ended within 3 TTLs, not by the kernel's freeze timeout" -- test "$t_thaw" -le $((3 * TTL + 10))
	assert_match "C$N: the new Primary took the change over" '"change_taken_over"' \
		"$(cat "$CVOL_OUT"/events-h[1-3].log | grep "\"from_epoch\"" | tail -n1)"
	local after
	after=$(extent_place "$v" "$(etcd_map "$q" p/v)")
	if [ "$want" = done ]; then
		assert_eq "C$N: rolled forward: extent $v on pvC" 2 "$(echo "$after" | cut -d' ' -f1)"
	else
		assert_eq "C$N: rolled back: extent $v where it was" "$before" "$after"
	fi
	check "C$N: h$p restarts" -- host_start "$p"
	host_events_start "$p"
	check "C$N: h$p is active again" -- wait_for 60 active "$p" "$q"
	check "C$N: h$p's volume is unfenced" -- wait_for 30 unfenced "$p"
	# A freeze the killed daemon held is thawed at re-integration, not by
	# its 30 s timeout.
	check "C$N: nothing frozen on the restarted h$p" -- wait_for 3 unfrozen "$p"
	check "C$N: every map is etcd's" -- wait_for 30 maps_agree "$q"
}
crash_after crash_at:copy 0 rolled_back
crash_after crash_at:freeze 1 rolled_back
crash_after crash_in:freeze 2 rolled_back
crash_after crash_at:apply 3 done
crash_after crash_at:release 10 done
sleep 3

writers_stop
assert_eq "every writer pass verified" "" "$(writer_failures)"
plan_note "writer passes (h1 h2 h3): $(writer_passes)"
check "every map is etcd's at the end" -- maps_agree 1
for i in 1 2 3; do host_events_stop "$i"; done
assert_no_kernel_warning
finish
