#!/usr/bin/env bash
# timeout: 600
#
# The multi-host harness itself (tests/vm/lib/cluster.bash), without the
# cluster options cvold is still growing:
#   * 3 network namespaces on a bridge: everyone reaches the bridge and the
#     other hosts; link_down 2 cuts h2 off (h3 still reachable), link_up 2
#     restores it;
#   * a 3-member etcd: put/get from inside every namespace, one leader of 3;
#     two members stopped: no quorum (within the probe's timeout), a
#     serializable read still answers from member 1; one member back: quorum
#     back, the data intact;
#   * the cluster secret file (mode 0600, 64 hex chars);
#   * host daemons: cvold (through a shim that drops the cluster options it
#     does not know yet) started in a namespace, its pid and netns, hctl,
#     the event stream, SIGSTOP/SIGCONT, kill -9;
#   * cluster_cleanup leaves no namespace, bridge, veth, etcd or cvold.
source "$CVOL_ROOT/tests/vm/lib.sh"
source "$CVOL_ROOT/tests/vm/lib/cluster.bash"

plan_note "network (t=${SECONDS} s)"
check "cluster_net_up 3" -- cluster_net_up 3
assert_eq "host_ip 2" 10.77.0.12 "$(host_ip 2)"
assert_match "bridge cvbr0 has 10.77.0.1/24" "inet 10\.77\.0\.1/24" "$(ip -o addr show dev cvbr0)"
assert_eq "three namespaces" "cvh1 cvh2 cvh3" "$(ip netns list | awk '{print $1}' | sort | xargs)"
for i in 1 2 3; do
	assert_match "h$i: eth0 has $(host_ip $i)/24" "inet $(host_ip $i)/24" "$(in_host $i ip -o addr show dev eth0)"
	assert_match "h$i: lo is up" "UP" "$(in_host $i ip -o link show dev lo)"
	check "h$i pings the bridge" -- host_ping $i 10.77.0.1
	for j in 1 2 3; do
		[ "$i" != "$j" ] || continue
		check "h$i pings h$j" -- host_ping $i "$(host_ip $j)"
	done
done
check "the root namespace pings h3" -- "${_CLUSTER_PING[@]}" -q -c 1 -W 1 "$(host_ip 3)"
plan_note "firewall for link faults: ${CLUSTER_FIREWALL:-none}"

check "link_down 2" -- link_down 2
check_fail "h1 cannot reach h2 with h2's link down" -- host_ping 1 "$(host_ip 2)"
check_fail "h2 cannot reach the bridge" -- host_ping 2 10.77.0.1
check "h1 still reaches h3" -- host_ping 1 "$(host_ip 3)"
check "link_up 2" -- link_up 2
check "h1 reaches h2 again" -- wait_for 10 host_ping 1 "$(host_ip 2)"
check "h2 reaches the bridge again" -- host_ping 2 10.77.0.1

plan_note "etcd (t=${SECONDS} s)"
t0=$SECONDS
check "start_etcd_cluster" -- start_etcd_cluster
plan_note "etcd cluster healthy after $((SECONDS - t0)) s"
assert_eq "ETCD_ENDPOINTS" "https://10.77.0.1:2379,https://10.77.0.1:2479,https://10.77.0.1:2579" "$ETCD_ENDPOINTS"
check "the members answer on 127.0.0.1 too" -- \
	etcdctl --endpoints https://127.0.0.1:2379,https://127.0.0.1:2479,https://127.0.0.1:2579 endpoint health
for i in 1 2 3; do
	check "h$i: etcdctl put" -- in_host $i etcdctl --endpoints "$ETCD_ENDPOINTS" put /harness/h$i "from-h$i"
done
for i in 1 2 3; do
	j=$((i % 3 + 1))
	assert_eq "h$i: etcdctl get of h$j's key" "from-h$j" \
		"$(in_host $i etcdctl --endpoints "$ETCD_ENDPOINTS" get --print-value-only /harness/h$j)"
done
st=$(ectl endpoint status -w simple)
printf '%s\n' "$st" | sed 's/^/# /'
assert_eq "endpoint status: 3 members" 3 "$(grep -c . <<<"$st")"
assert_eq "endpoint status: one leader" 1 "$(awk -F', ' '$5 == "true"' <<<"$st" | wc -l)"
assert_eq "member list: 3 started" 3 "$(ectl member list | grep -c ', started, ')"

check "etcd_has_quorum with 3 members" -- etcd_has_quorum
check "etcd_stop 2" -- etcd_stop 2
check "etcd_has_quorum with 2 members" -- wait_for 10 etcd_has_quorum
check "etcd_stop 3" -- etcd_stop 3
t0=$SECONDS
rc=0; etcd_has_quorum 2 || rc=$?
el=$((SECONDS - t0))
assert_eq "etcd_has_quorum fails with 1 member of 3" 1 "$rc"
check "... within its timeout (took $el s)" -- test "$el" -le 6
assert_eq "a serializable read still answers from member 1" from-h2 \
	"$(etcdctl --endpoints "$(etcd_endpoint 1)" --command-timeout=3s get --consistency=s --print-value-only /harness/h2)"
check_fail "a linearizable read from member 1 does not" -- \
	etcdctl --endpoints "$(etcd_endpoint 1)" --command-timeout=2s get /harness/h2
t0=$SECONDS
check "etcd_start 2 (waits until healthy)" -- etcd_start 2
plan_note "member 2 healthy after $((SECONDS - t0)) s"
check "quorum is back" -- wait_for 10 etcd_has_quorum
for i in 1 2 3; do
	assert_eq "/harness/h$i intact" "from-h$i" "$(ectl get --print-value-only /harness/h$i)"
done
check "etcd_start 3" -- etcd_start 3
assert_eq "member 3 has the data" from-h1 \
	"$(etcdctl --endpoints "$(etcd_endpoint 3)" get --consistency=s --print-value-only /harness/h1)"
rc=0; etcd_start 1 --no-wait 2>/dev/null || rc=$?
assert_eq "etcd_start of a running member is refused" 1 "$rc"

plan_note "secret (t=${SECONDS} s)"
sf=$(cluster_secret_file)
assert_eq "cluster_secret_file path" /tmp/cvol-cluster.secret "$sf"
assert_eq "mode 600" 600 "$(stat -c %a "$sf")"
assert_match "64 hex chars" '^[0-9a-f]{64}$' "$(cat "$sf")"
assert_eq "exactly 64 bytes" 64 "$(stat -c %s "$sf")"
s1=$(cat "$sf")
cluster_secret_file >/dev/null
check "a second call writes a new secret" -- test "$s1" != "$(cat "$sf")"

plan_note "devices (t=${SECONDS} s)"
mapfile -t devs < <(shared_devices 2 32)
assert_eq "shared_devices 2 32: two devices" 2 "${#devs[@]}"
check "h1 sees ${devs[0]} with 32 MiB" -- test "$(in_host 1 blockdev --getsize64 "${devs[0]}")" = $((32 << 20))
check "h3 sees ${devs[1]}" -- in_host 3 test -b "${devs[1]}"

plan_note "host daemons, cvold through a shim that drops the cluster options (t=${SECONDS} s)"
load_cvol
REAL_CVOLD=$CVOLD
cat >/tmp/cvold-shim <<EOF
#!/bin/bash
# Drops the options cvold does not have yet; exec keeps the pid.
a=()
while [ \$# -gt 0 ]; do
	case \$1 in
	--host | --instance | --peer-listen | --cluster-secret-file | --lease-ttl-s) shift 2 ;;
	*) a+=("\$1"); shift ;;
	esac
done
exec "$REAL_CVOLD" "\${a[@]}"
EOF
chmod +x /tmp/cvold-shim
CVOLD=/tmp/cvold-shim
for i in 1 2; do
	check "host_start $i" -- host_start $i --etcd-prefix /cvol/harness-h$i/
done
rc=0; host_start 1 2>/dev/null || rc=$?
assert_eq "host_start of a running host is refused" 1 "$rc"
assert_eq "HOST_PID[1] is cvold itself (ip netns exec execs)" cvold "$(cat /proc/${HOST_PID[1]}/comm)"
assert_eq "h1's cvold runs in namespace cvh1" "$(in_host 1 readlink /proc/self/ns/net)" \
	"$(readlink /proc/${HOST_PID[1]}/ns/net)"
check "h2's cvold is not in the root namespace" -- \
	test "$(readlink /proc/self/ns/net)" != "$(readlink /proc/${HOST_PID[2]}/ns/net)"
check_hctl "hctl 1 status" 0 1 status
check_hctl "hctl 2 --json status" 0 2 --json status
check "... is JSON" -- jq -e . "$CC_OUT"
check_hctl "hctl 3 status: no such daemon" 5 3 status
check_hctl "h1: pool create p1" 0 1 pool create p1 --extent-size 4M
check_hctl "h2 (its own etcd prefix) has no pool p1" 3 2 pool show p1
check "the shim passed the endpoints: p1 is in etcd" -- bash -c "etcdctl --endpoints $ETCD_ENDPOINTS get --prefix --keys-only /cvol/harness-h1/ | grep -q p1"

host_events_start 1
sleep 1
check "the event stream of h1 runs" -- kill -0 "${EVENTS_PID[1]}"
check_hctl "h1: pool create p2" 0 1 pool create p2 --extent-size 4M
check "events-h1.log gets pool_created p2" -- \
	wait_for 10 bash -c "grep '\"type\":\"pool_created\"' '$CVOL_OUT/events-h1.log' | grep -q '\"pool\":\"p2\"'"
check "host_stop 1" -- host_stop 1
assert_eq "h1 is stopped (state T)" T "$(awk '{print $3}' /proc/${HOST_PID[1]}/stat)"
hctl 1 --timeout 2 status
check "a stopped h1 does not answer within 2 s (exit $cc_rc)" -- test "$cc_rc" -ne 0
check "host_cont 1" -- host_cont 1
check_hctl "h1 answers again" 0 1 status
h2pid=${HOST_PID[2]}
check "host_kill 2 KILL" -- host_kill 2 KILL
check_fail "h2 is gone" -- host_alive 2
check_fail "its pid is gone" -- kill -0 "$h2pid"
check "host_start 2 again (log appended)" -- host_start 2 --etcd-prefix /cvol/harness-h2/
assert_eq "h2's log has two starts" 2 "$(grep -c '^=== host_start h2' "$CVOL_OUT/cvold-h2.log")"
h2pid=${HOST_PID[2]}
host_stop 2
check "host_kill 2 (TERM) ends a stopped daemon" -- host_kill 2
check_fail "h2 is gone after TERM" -- kill -0 "$h2pid"
evpid=${EVENTS_PID[1]}
host_events_stop 1
check_fail "host_events_stop 1 ended the stream" -- kill -0 "$evpid"

plan_note "cleanup (t=${SECONDS} s)"
h1pid=${HOST_PID[1]}
etcdpids="${ETCD_PID[*]}"
check "cluster_cleanup" -- cluster_cleanup
check "cluster_cleanup twice" -- cluster_cleanup
assert_eq "no cvh namespace left" "" "$(ip netns list | grep cvh || true)"
check_fail "no bridge left" -- ip link show cvbr0
assert_eq "no veth left" "" "$(ip -o link show | grep -E 'cvh[0-9]+-br' || true)"
check_fail "h1's cvold is gone" -- kill -0 "$h1pid"
left=
for p in $etcdpids; do kill -0 "$p" 2>/dev/null && left+=" $p"; done
assert_eq "no etcd member process left" "" "$left"
assert_eq "no etcd process at all" "" "$(pgrep -x etcd || true)"
check_fail "no secret left" -- test -e /tmp/cvol-cluster.secret
check_fail "no etcd data left" -- test -e /tmp/etcd-e1
check "cluster_net_up again after cleanup (1 host)" -- cluster_net_up 1
check "h1 pings the bridge" -- host_ping 1 10.77.0.1
check "cluster_cleanup" -- cluster_cleanup

plan_note "the EXIT trap of a scenario that fails half-way (a nested scenario)"
# It ends with lib.sh's cleanup too (losetup -D, rmmod dm_cvol): last.
mkdir -p /tmp/inner-out
rc=0
cat >/tmp/inner-out/inner.sh <<'EOF'
source "$CVOL_ROOT/tests/vm/lib.sh"
source "$CVOL_ROOT/tests/vm/lib/cluster.bash"
cluster_net_up 2
ip netns exec cvh1 sleep 600 &
HOST_PID[1]=$!
echo "fake-host-pid ${HOST_PID[1]}"
false
echo "not reached"
EOF
CVOL_OUT=/tmp/inner-out bash -euo pipefail /tmp/inner-out/inner.sh >/tmp/inner-out/log 2>&1 || rc=$?
sed 's/^/#   inner: /' /tmp/inner-out/log
assert_eq "the nested scenario fails (exit 1)" 1 "$rc"
assert_match "... as an unexpected error" "^not ok 1 - unexpected error" "$(cat /tmp/inner-out/log)"
fake=$(awk '/^fake-host-pid/ {print $2}' /tmp/inner-out/log)
check_fail "its host process was killed" -- kill -0 "${fake:-999999}"
assert_eq "its namespaces are gone" "" "$(ip netns list | grep cvh || true)"
check_fail "its bridge is gone" -- ip link show cvbr0
finish
