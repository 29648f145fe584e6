#!/bin/bash
# timeout: 900
# smp: 2
# boot: own
# mem: 3072
# Issue 17 on the real stack: three hosts over a 3-member etcd that speaks
# only TLS (client certificates required) with auth (a user per host), and
# peer links with a certificate per host.
#   A. etcd: no certificate, a certificate without a token, a wrong
#      password, plain http: all refused; a host's user cannot write
#      outside the cvol prefix.
#   B. The peer link: host h2 claiming to be the Primary h1, h2 sending a
#      controller step as itself, a certificate of another CA, an address
#      that answers with another host's certificate: all refused, and the
#      refused controller step is an event on its target.
#   C. 2000 idle connections to the Primary's peer port from two
#      addresses, each reopened as the server closes it, while two moves
#      run: the Primary's descriptors stay bounded, the moves complete,
#      nobody is fenced, the refusals and handshake timeouts are logged.
source "$CVOL_ROOT/tests/vm/lib.sh"
source "$CVOL_ROOT/tests/vm/lib/cluster.bash"

W=/tmp/cluster_security
mkdir -p $W
load_cvol

plan_note "cluster: 3 namespaces, TLS + auth etcd, hosts with certificates"
cluster_three_hosts

# --- A. etcd --------------------------------------------------------------
E1=$(etcd_endpoint 1)
range='{"key":"L2N2b2wv","range_end":"L2N2b2ww"}' # /cvol/ .. /cvol0
check "etcd refuses a client without a certificate" -- \
	bash -c "! curl -sS --max-time 5 --cacert $CLUSTER_PKI/ca.crt $E1/v3/kv/range -d '$range' >$W/nocert 2>&1"
check "etcd gives a certificate without a token nothing" -- \
	bash -c "! curl -sSf --max-time 5 --cacert $CLUSTER_PKI/ca.crt --cert $CLUSTER_PKI/cvol-h2.crt \
		--key $CLUSTER_PKI/cvol-h2.key $E1/v3/kv/range -d '$range' | grep -q kvs"
check "a wrong password gets no token" -- \
	bash -c "! curl -sS --max-time 5 --cacert $CLUSTER_PKI/ca.crt --cert $CLUSTER_PKI/cvol-h2.crt \
		--key $CLUSTER_PKI/cvol-h2.key $E1/v3/auth/authenticate \
		-d '{\"name\":\"cvol-h2\",\"password\":\"not-it\"}' | grep -q token"
check "plain http is refused" -- \
	bash -c "! curl -sSf --max-time 5 ${E1/https:/http:}/v3/kv/range -d '$range' >/dev/null 2>&1"
check "h2's user cannot write outside the cvol prefix" -- \
	bash -c "! etcdctl --endpoints $E1 --user cvol-h2:\$(cat $CLUSTER_PKI/cvol-h2.etcd-password) \
		put /not-cvol/x y 2>$W/perm && grep -qi 'permission denied' $W/perm"
check "h2's user can write inside it" -- \
	etcdctl --endpoints "$E1" --user "cvol-h2:$(cat "$CLUSTER_PKI/cvol-h2.etcd-password")" \
	put /cvol/harness-probe y

# --- B. the peer link -----------------------------------------------------
check_hctl "member list" 0 2 member list --json
EPOCH=$(jq -r .epoch "$CC_OUT")
assert_match "an epoch" '^[0-9]+$' "$EPOCH"
# peercall I ARGS...: cvol-peercall from host I's namespace with its own
# certificate (exit 0 OK, 1 refused, 3 no answer); output in $W/pc.
pc_rc=0
peercall() {
	local i=$1
	shift
	pc_rc=0
	in_host "$i" "$CVOL_BUILD/bin/cvol-peercall" --cacert "$CLUSTER_PKI/ca.crt" \
		--cert "${PC_CERT:-$CLUSTER_PKI/cvol-h$i.crt}" --key "${PC_KEY:-$CLUSTER_PKI/cvol-h$i.key}" \
		--cluster-secret-file "$CLUSTER_SECRET" "$@" >"$W/pc" 2>&1 || pc_rc=$?
}
release='{"change":"/cvol/moves/p/v/0#1"}'
peercall 1 --host h3 --address "$(host_ip 3):7450" --type release --epoch "$EPOCH" --body "$release"
assert_eq "the Primary's own release reaches h3's handler" 0 "$pc_rc"
assert_match "and is answered" '"released":false' "$(cat $W/pc)"
peercall 2 --host h3 --address "$(host_ip 3):7450" --type release --epoch "$EPOCH" --body "$release" --from h1
assert_eq "h2 claiming to be h1 is refused" 1 "$pc_rc"
assert_match "PERMISSION_DENIED: names h1, certificate h2" \
	"names 'h1' as its sender.*certificate is that of h2.*PERMISSION_DENIED" "$(cat $W/pc)"
peercall 2 --host h3 --address "$(host_ip 3):7450" --type freeze --epoch "$EPOCH" --body "$release"
assert_eq "h2 sending a controller step as itself is refused" 1 "$pc_rc"
assert_match "PERMISSION_DENIED: not the Primary" "the Primary of epoch $EPOCH is 'h1'.*PERMISSION_DENIED" "$(cat $W/pc)"
check "h3 published the refusal" -- wait_for 10 grep -q '"controller_impersonation_refused"' "$CVOL_OUT/events-h3.log"
peercall 2 --host h1 --address "$(host_ip 3):7450" --type ping
assert_eq "an address answering with another host's certificate: no answer" 3 "$pc_rc"
mkdir -p $W/other && "$CVOL_ROOT/scripts/cvol-certs" ca "$W/other" >/dev/null &&
	"$CVOL_ROOT/scripts/cvol-certs" host "$W/other" h2 >/dev/null
PC_CERT=$W/other/cvol-h2.crt PC_KEY=$W/other/cvol-h2.key peercall 2 --host h3 --address "$(host_ip 3):7450" --type ping
assert_eq "a certificate of another CA: no answer" 3 "$pc_rc"
peercall 2 --host h3 --address "$(host_ip 3):7450" --type ping
assert_eq "h2 as itself: ping answered" 0 "$pc_rc"

# --- C. a flood of idle connections -----------------------------------------
H1_PID=${HOST_PID[1]}
FDS0=$(ls /proc/$H1_PID/fd | wc -l)
cat >$W/flood.py <<'PY'
# Holds N connections open from each source address and opens a new one
# for every one the server closes, until killed; counts in a file.
import resource, select, socket, sys, time
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
host, port, n, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
sources = sys.argv[5:]
opened = failed = 0
held = {}  # fd -> (socket, source)
poller = select.poll()  # select() stops at descriptor 1024
def connect(src):
    global opened, failed
    s = socket.socket()
    s.setblocking(False)
    s.bind((src, 0))
    try:
        s.connect((host, port))
    except BlockingIOError:
        pass
    except OSError:
        failed += 1
        s.close()
        return
    opened += 1
    held[s.fileno()] = (s, src)
    poller.register(s.fileno(), select.POLLIN | select.POLLHUP | select.POLLERR)
for src in sources:
    for _ in range(n):
        connect(src)
last = 0
closed = []
while True:
    for fd, _ in poller.poll(200):
        s, src = held[fd]
        try:
            if s.recv(4096):
                continue
        except BlockingIOError:
            continue
        except OSError:
            pass
        poller.unregister(fd)
        del held[fd]
        s.close()
        closed.append(src)
    # At most 25 new connections a round (about 100 a second): a flood,
    # not a busy loop that takes the emulated guest's CPU from everyone.
    for src in closed[:25]:
        connect(src)
    del closed[:25]
    time.sleep(0.2)
    if time.time() - last > 0.5:
        last = time.time()
        open(out, "w").write(f"opened {opened} failed {failed} held {len(held)}\n")
PY
# From two addresses (the bridge and an alias), 1000 each, reopened as the
# server closes them, for as long as the moves below run.
ip addr add 10.77.0.200/24 dev "$CLUSTER_BRIDGE"
python3 $W/flood.py "$(host_ip 1)" 7450 1000 $W/flood.count "$CLUSTER_BRIDGE_IP" 10.77.0.200 \
	>$W/flood.out 2>&1 &
FLOOD=$!
CLUSTER_CLEANUP_HOOKS+=("kill $FLOOD 2>/dev/null")
check "the flood has opened its first 2000 connections" -- \
	wait_for 120 awk '$2 >= 2000 { ok = 1 } END { exit !ok }' $W/flood.count
plan_note "flood: $(cat $W/flood.count)"
check_hctl "a move under the flood completes" 0 1 volume move p/v --extent 1 --count 2 --to-pv pvB --wait
check_hctl "a move given to h2 (forwarded to h1) completes" 0 2 volume move p/v --extent 5 --to-pv pvC --wait
FDS1=$(ls /proc/$H1_PID/fd | wc -l)
plan_note "flood after the moves: $(cat $W/flood.count)"
check "the flood went on during the moves (new connections after the first 2000)" -- \
	awk '$2 > 2100 { ok = 1 } END { exit !ok }' $W/flood.count
plan_note "h1's descriptors: $FDS0 before, $FDS1 under the flood"
check "h1's descriptors stay bounded (under 400)" -- test "$FDS1" -lt 400
check "h1 logged the refusals" -- grep -q "refused a connection from $CLUSTER_BRIDGE_IP" "$CVOL_OUT/cvold-h1.log"
check "h1 logged the handshake timeouts" -- grep -q "no TLS handshake within" "$CVOL_OUT/cvold-h1.log"
check_hctl "member list under the flood" 0 3 member list --json
assert_eq "all active" "active active active" "$(jq -r '[.members[].state] | join(" ")' "$CC_OUT")"
kill $FLOOD 2>/dev/null; wait $FLOOD 2>/dev/null || true
for i in 1 2 3; do
	assert_eq "h$i was never fenced" 0 "$(grep -c '"host_fenced"' "$CVOL_OUT/events-h$i.log" || true)"
done
for i in 1 2 3; do
	assert_eq "h$i's map equals etcd's" "$(etcd_map 1 p/v)" "$(host_map "$i" p-v)"
done
