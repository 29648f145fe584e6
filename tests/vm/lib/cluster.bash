# shellcheck shell=bash
# cluster.bash: several cvold "hosts" inside ONE guest, each in its own
# network namespace, over shared loop/null_blk devices, with a 3-member etcd.
# Source after tests/vm/lib.sh; it sources cvold.bash and fio.bash. See
# tests/vm/lib/README.md.
#
#     source "$CVOL_ROOT/tests/vm/lib.sh"
#     source "$CVOL_ROOT/tests/vm/lib/cluster.bash"
#
# Sourcing installs the EXIT trap: cluster_cleanup (daemons, event streams,
# etcd, namespaces, bridge), then cvold_cleanup, then lib.sh's own exit
# handling (cleanup_devices removes dm/loop/null_blk devices and unloads
# dm_cvol, the TAP summary), so dm devices are removed only after every
# daemon is gone. Do not replace the trap; to run something of your own
# first, append a command string to CLUSTER_CLEANUP_HOOKS.
#
# NETWORK (root namespace: bridge cvbr0 10.77.0.1/24; host I: namespace cvh<I>,
# eth0 = 10.77.0.(10+I)/24, veth peer cvh<I>-br on the bridge)
#   cluster_net_up N          bridge + N namespaces cvh1..cvhN, lo up
#                             everywhere; loads bridge/veth. Sets
#                             CLUSTER_FIREWALL to iptables, nft or "" (the
#                             guest has neither today: a plan_note says so;
#                             tc (sch_netem) is there)
#   host_ip I                 prints 10.77.0.(10+I)
#   host_ns I                 prints cvh<I>
#   in_host I CMD...          runs CMD in host I's namespace
#   host_ping I IP            one ping from host I (busybox ping: the guest
#                             has no iputils), 1 s wait
#   link_down I / link_up I   cut / restore host I's link (bridge side veth)
# ETCD (3 members e1 e2 e3 in the root namespace, on 10.77.0.1 and 127.0.0.1;
# client ports 2379/2479/2579, peer ports 2380/2480/2580; data in
# /tmp/etcd-e<i>, logs in $CVOL_OUT/etcd-e<i>.log)
#   start_etcd_cluster        starts all three (new cluster, heartbeat 100 ms,
#                             election 1 s), waits until `endpoint health`
#                             passes for all; exports ETCD_ENDPOINTS
#                             (https://10.77.0.1:2379,...:2479,...:2579): TLS
#                             with client certificates (--client-cert-auth)
#                             (the members' own links plain http), auth enabled
#                             (scripts/cvol-etcd-auth: user cvol-h<I> per
#                             host of cluster_net_up, role cvol on /cvol/);
#                             certificates made by cluster_pki first
#   cluster_pki               scripts/cvol-certs into $CLUSTER_PKI: the CA,
#                             members e1..e3, hosts h1..h<CLUSTER_HOSTS>
#                             (cvol-h<I>.crt/.key), the admin client root;
#                             every etcdctl of a scenario uses root's
#                             certificate (ETCDCTL_CACERT/CERT/KEY, exported)
#   etcd_endpoint I           prints member I's client URL
#   etcd_stop I               SIGTERM member I and wait for it
#   etcd_start I [--no-wait]  restart member I on its data dir (state
#                             existing); waits (30 s) until it is healthy,
#                             which needs a quorum: --no-wait when it cannot
#                             have one
#   etcd_has_quorum [SECS]    a linearizable put + get with a SECS (default 2)
#                             command timeout succeeds
#   ectl ARGS...              etcdctl --endpoints $ETCD_ENDPOINTS ARGS... (as root)
# MAPS ("vext slot pext" per mapped extent, one line, for comparisons)
#   host_map I DM             host I's live map of DM@h<I> (first segment)
#   etcd_map I POOL/VOL       the volume's map in etcd, through host I
# HOSTS (cvold per namespace; control socket /run/cvol/h<I>.sock; a
# Unix socket path works from any namespace, so hctl runs in the root one)
#   cluster_secret_file       writes a fresh random 32-byte secret as 64 hex
#                             chars (no newline) to /tmp/cvol-cluster.secret,
#                             mode 0600; prints the path
#   host_start I [ARGS...]    cvold --host h<I> --instance h<I> --socket ...
#                             --peer-listen <ip>:7450 --cluster-secret-file
#                             ... --etcd-endpoints $ETCD_ENDPOINTS, host I's
#                             certificate (etcd client and peer links), user
#                             cvol-h<I> and its password file, --lease-ttl-s ${CLUSTER_LEASE_TTL:-5} ARGS in cvh<I>, log
#                             appended to $CVOL_OUT/cvold-h<I>.log; waits
#                             (60 s) for `clusterctl status`; fails at once if
#                             the daemon exits. Pid in HOST_PID[I]. Writes the
#                             secret file first if there is none.
#   host_kill I [SIG]         signal host I's cvold (default TERM) and wait
#                             for it (not for STOP; a stopped daemon gets a
#                             CONT after the signal so TERM takes effect)
#   host_stop I / host_cont I SIGSTOP / SIGCONT (a frozen host)
#   host_fault I NAME         arm one test fault of host I's daemon (it runs
#                             with CVOLD_FAULT_FILE=/run/cvol/h<I>.fault;
#                             names in docs/cluster.md, "Fault injection")
#   host_fault_fired I        the armed fault has fired (the file is gone)
#   host_alive I              its cvold is running (possibly stopped)
#   hctl I ARGS...            cctl --socket /run/cvol/h<I>.sock ARGS...
#                             ($CC_OUT, $CC_ERR, $cc_rc as cctl)
#   check_hctl DESC RC I ARGS...  one TAP line like check_cc
#   host_events_start I       `clusterctl --socket ... events --json` in the
#                             background, appended to $CVOL_OUT/events-h<I>.log
#   host_events_stop I        stops that stream
#   extent_place VEXT MAP     "slot pext" of VEXT in such a map
# DEVICES
#   shared_devices N SIZE_MB  N loop devices on tmpfs (mk_loop), one
#                             per line. Block devices are not namespaced: all
#                             hosts see the same /dev/loopN.
# WRITERS (fio crc32c verify, O_DIRECT, randwrite 4k, iodepth 4; fio.bash's
# writer loops h1..h3)
#   writers_start DM BYTES    on each host I of 1..3, 3 s fio passes over the
#                             I-th third of BYTES of /dev/mapper/DM@h<I>
#                             until writers_stop; pass n's output in
#                             $CVOL_OUT/fio-h<I>-<n>.txt. Installs a cleanup
#                             hook (unfence everything, kill fio)
#   writers_stop              ends the passes and waits for them
#   writer_failures [PREFIX]  the failed passes ("h<I> pass <n>"), if any
#   writer_passes [PREFIX]    passes done so far per host: "N1 N2 N3"
#                             (PREFIX: of writer loops PREFIX1..PREFIX3 that
#                             a scenario started itself with writer_start)
# CLEANUP
#   cluster_cleanup           kills every host daemon (CONT, then KILL), the
#                             event streams and the etcd members; deletes the
#                             namespaces, veths and the bridge; removes etcd
#                             data, the secret and the certificates.
#                             Idempotent; works on a
#                             partial setup.
#
# Variables: CLUSTER_HOSTS (N of cluster_net_up), HOST_PID[I], EVENTS_PID[I],
# ETCD_PID[I], ETCD_ENDPOINTS, CLUSTER_SECRET, CLUSTER_PKI, CLUSTER_FIREWALL.

[ -z "${_CVOL_LIB_CLUSTER:-}" ] || return 0
_CVOL_LIB_CLUSTER=1

# shellcheck source=cvold.bash
source "$CVOL_ROOT/tests/vm/lib/cvold.bash"
# shellcheck source=fio.bash
source "$CVOL_ROOT/tests/vm/lib/fio.bash"

CLUSTER_BRIDGE=cvbr0
CLUSTER_BRIDGE_IP=10.77.0.1
CLUSTER_SECRET=/tmp/cvol-cluster.secret
CLUSTER_PKI=/tmp/cvol-pki
export ETCDCTL_CACERT=$CLUSTER_PKI/ca.crt ETCDCTL_CERT=$CLUSTER_PKI/root.crt \
	ETCDCTL_KEY=$CLUSTER_PKI/root.key
CLUSTER_HOSTS=0
CLUSTER_FIREWALL=
CLUSTER_CLEANUP_HOOKS=()
declare -a HOST_PID=() EVENTS_PID=() ETCD_PID=()
ETCD_ENDPOINTS=

# ------------------------------------------------------------ network ---

host_ip() { echo "10.77.0.$((10 + ${1:?usage: host_ip I}))"; }
host_ns() { echo "cvh${1:?usage: host_ns I}"; }
in_host() {
	local i=${1:?usage: in_host I CMD...}
	shift
	ip netns exec "cvh$i" "$@"
}

if command -v ping >/dev/null; then _CLUSTER_PING=(ping); else _CLUSTER_PING=(busybox ping); fi
host_ping() {
	local i=${1:?usage: host_ping I IP} ip=${2:?usage: host_ping I IP}
	ip netns exec "cvh$i" "${_CLUSTER_PING[@]}" -q -c 1 -W 1 "$ip" >/dev/null 2>&1
}

cluster_net_up() {
	local n=${1:?usage: cluster_net_up N} i ns
	# Modules, or built in: either way the ip commands below tell.
	modprobe bridge 2>/dev/null || true
	modprobe veth 2>/dev/null || true
	ip link set lo up || return 1
	if ! ip link show "$CLUSTER_BRIDGE" >/dev/null 2>&1; then
		ip link add "$CLUSTER_BRIDGE" type bridge || return 1
		ip addr add "$CLUSTER_BRIDGE_IP/24" dev "$CLUSTER_BRIDGE" || return 1
	fi
	ip link set "$CLUSTER_BRIDGE" up || return 1
	for ((i = 1; i <= n; i++)); do
		ns=cvh$i
		ip netns add "$ns" || return 1
		ip -n "$ns" link set lo up || return 1
		ip link add "$ns-br" type veth peer name eth0 netns "$ns" || return 1
		ip link set "$ns-br" master "$CLUSTER_BRIDGE" || return 1
		ip link set "$ns-br" up || return 1
		ip -n "$ns" addr add "$(host_ip "$i")/24" dev eth0 || return 1
		ip -n "$ns" link set eth0 up || return 1
	done
	CLUSTER_HOSTS=$n
	if command -v iptables >/dev/null; then
		CLUSTER_FIREWALL=iptables
	elif command -v nft >/dev/null; then
		CLUSTER_FIREWALL=nft
	else
		CLUSTER_FIREWALL=
		plan_note "no iptables or nft in the guest: link faults only by link_down/link_up (or tc)"
	fi
}

link_down() { ip link set "cvh${1:?usage: link_down I}-br" down; }
link_up() { ip link set "cvh${1:?usage: link_up I}-br" up; }

# --------------------------------------------------------------- etcd ---

_etcd_cport() { echo $((2279 + 100 * $1)); }
_etcd_pport() { echo $((2280 + 100 * $1)); }
etcd_endpoint() { echo "https://$CLUSTER_BRIDGE_IP:$(_etcd_cport "${1:?usage: etcd_endpoint I}")"; }

cluster_pki() {
	local certs=$CVOL_ROOT/scripts/cvol-certs i
	mkdir -p "$CLUSTER_PKI" || return 1
	"$certs" ca "$CLUSTER_PKI" >/dev/null || return 1
	for i in 1 2 3; do "$certs" etcd "$CLUSTER_PKI" "e$i" "$CLUSTER_BRIDGE_IP" >/dev/null || return 1; done
	for ((i = 1; i <= (CLUSTER_HOSTS > 3 ? CLUSTER_HOSTS : 3); i++)); do
		"$certs" host "$CLUSTER_PKI" "h$i" >/dev/null || return 1
	done
	"$certs" client "$CLUSTER_PKI" root >/dev/null
}

_etcd_run() { # I STATE
	local i=$1 state=$2 cp pp initial=
	cp=$(_etcd_cport "$i")
	pp=$(_etcd_pport "$i")
	for j in 1 2 3; do
		initial+="${initial:+,}e$j=http://$CLUSTER_BRIDGE_IP:$(_etcd_pport "$j")"
	done
	# bcrypt cost 4 (the least): logins cost ~40x less than the default 10
	# in the emulated guest; nothing here guards against password guessing.
	# The members' own (raft) links stay plain http on the guest's bridge:
	# every write crosses them twice, and TLS there costs the emulated
	# guest CPU the scenarios need; what cvol talks to, the client port, is
	# TLS with client certificates and auth as in production.
	etcd --name "e$i" --data-dir "/tmp/etcd-e$i" \
		--logger zap --log-outputs stderr \
		--listen-client-urls "https://$CLUSTER_BRIDGE_IP:$cp,https://127.0.0.1:$cp" \
		--advertise-client-urls "https://$CLUSTER_BRIDGE_IP:$cp" \
		--listen-peer-urls "http://$CLUSTER_BRIDGE_IP:$pp,http://127.0.0.1:$pp" \
		--initial-advertise-peer-urls "http://$CLUSTER_BRIDGE_IP:$pp" \
		--cert-file "$CLUSTER_PKI/etcd-e$i.crt" --key-file "$CLUSTER_PKI/etcd-e$i.key" \
		--trusted-ca-file "$CLUSTER_PKI/ca.crt" --client-cert-auth \
		--bcrypt-cost 4 \
		--initial-cluster "$initial" \
		--initial-cluster-token cvol-test-cluster \
		--initial-cluster-state "$state" \
		--heartbeat-interval 100 --election-timeout 1000 \
		>>"$CVOL_OUT/etcd-e$i.log" 2>&1 &
	ETCD_PID[i]=$!
}

ectl() { etcdctl --endpoints "$ETCD_ENDPOINTS" "$@"; }

start_etcd_cluster() {
	local i
	ip link show "$CLUSTER_BRIDGE" >/dev/null 2>&1 || {
		echo "start_etcd_cluster: no $CLUSTER_BRIDGE (cluster_net_up first)" >&2
		return 1
	}
	cluster_pki || {
		echo "start_etcd_cluster: cannot make the certificates" >&2
		return 1
	}
	ETCD_ENDPOINTS=
	for i in 1 2 3; do
		rm -rf "/tmp/etcd-e$i"
		ETCD_ENDPOINTS+="${ETCD_ENDPOINTS:+,}$(etcd_endpoint "$i")"
	done
	export ETCD_ENDPOINTS
	for i in 1 2 3; do _etcd_run "$i" new; done
	wait_for 90 etcdctl --endpoints "$ETCD_ENDPOINTS" --command-timeout=3s endpoint health || {
		echo "start_etcd_cluster: not healthy after 90 s (logs: $CVOL_OUT/etcd-e*.log)" >&2
		etcdctl --endpoints "$ETCD_ENDPOINTS" endpoint health >&2 || true
		return 1
	}
	cluster_etcd_users $(seq -f 'h%g' 1 $((CLUSTER_HOSTS > 3 ? CLUSTER_HOSTS : 3)))
}

# cluster_etcd_users HOST...: their etcd users (and auth on, the first time).
cluster_etcd_users() {
	"$CVOL_ROOT/scripts/cvol-etcd-auth" --endpoints "$ETCD_ENDPOINTS" \
		--cacert "$CLUSTER_PKI/ca.crt" --cert "$CLUSTER_PKI/root.crt" --key "$CLUSTER_PKI/root.key" \
		--root-password-file "$CLUSTER_PKI/root.password" --out "$CLUSTER_PKI" "$@" \
		>>"$CVOL_OUT/etcd-auth.log" 2>&1 || {
		echo "cluster_etcd_users: cvol-etcd-auth failed (log: $CVOL_OUT/etcd-auth.log)" >&2
		tail -n 5 "$CVOL_OUT/etcd-auth.log" >&2
		return 1
	}
}

etcd_stop() {
	local i=${1:?usage: etcd_stop I} pid=${ETCD_PID[${1:-0}]:-}
	[ -n "$pid" ] || return 0
	kill -TERM "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	ETCD_PID[i]=
}

etcd_start() {
	local i=${1:?usage: etcd_start I [--no-wait]}
	if [ -n "${ETCD_PID[i]:-}" ] && kill -0 "${ETCD_PID[i]}" 2>/dev/null; then
		echo "etcd_start: e$i is running" >&2
		return 1
	fi
	_etcd_run "$i" existing
	[ "${2:-}" != --no-wait ] || return 0
	wait_for 30 etcdctl --endpoints "$(etcd_endpoint "$i")" --command-timeout=3s endpoint health
}

# Every member alive but silent (SIGSTOP): clients time out, nobody refuses
# a connection, so a host cannot tell this from being cut off, and fences.
etcd_pause_all() { local i; for i in 1 2 3; do kill -STOP "${ETCD_PID[i]}"; done; }
etcd_resume_all() { local i; for i in 1 2 3; do kill -CONT "${ETCD_PID[i]}"; done; }

etcd_has_quorum() {
	local t=${1:-2} v=q$RANDOM$RANDOM
	etcdctl --endpoints "$ETCD_ENDPOINTS" --dial-timeout=1s --command-timeout="${t}s" \
		put /cvol-harness/quorum-probe "$v" >/dev/null 2>&1 || return 1
	[ "$(etcdctl --endpoints "$ETCD_ENDPOINTS" --dial-timeout=1s --command-timeout="${t}s" \
		get --print-value-only /cvol-harness/quorum-probe 2>/dev/null)" = "$v" ]
}

# -------------------------------------------------------------- hosts ---

cluster_secret_file() {
	local hex
	hex=$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n') || return 1
	[ "${#hex}" -eq 64 ] || return 1
	(umask 077 && printf '%s' "$hex" >"$CLUSTER_SECRET") || return 1
	chmod 0600 "$CLUSTER_SECRET" || return 1
	echo "$CLUSTER_SECRET"
}

_host_sock() { echo "/run/cvol/h$1.sock"; }

host_alive() {
	local pid=${HOST_PID[${1:?usage: host_alive I}]:-}
	[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null
}

host_start() {
	local i=${1:?usage: host_start I [ARGS...]} pid t
	shift
	: "${ETCD_ENDPOINTS:?host_start: start_etcd_cluster first}"
	if host_alive "$i"; then
		echo "host_start: h$i is running (pid ${HOST_PID[i]})" >&2
		return 1
	fi
	[ -f "$CLUSTER_SECRET" ] || cluster_secret_file >/dev/null || return 1
	# A host beyond those start_etcd_cluster knew: its certificate and user.
	if [ ! -f "$CLUSTER_PKI/cvol-h$i.etcd-password" ]; then
		"$CVOL_ROOT/scripts/cvol-certs" host "$CLUSTER_PKI" "h$i" >/dev/null || return 1
		cluster_etcd_users "h$i" || return 1
	fi
	mkdir -p /run/cvol
	echo "=== host_start h$i $(date +%T.%N) args: $*" >>"$CVOL_OUT/cvold-h$i.log"
	# ip netns exec execs the command in place: $! is cvold's own pid.
	# host_fault arms the daemon's test faults through its fault file.
	CVOLD_FAULT_FILE=$(_host_fault_file "$i") \
		ip netns exec "cvh$i" "$CVOLD" --host "h$i" --instance "h$i" \
		--socket "$(_host_sock "$i")" \
		--peer-listen "$(host_ip "$i"):7450" \
		--cluster-secret-file "$CLUSTER_SECRET" \
		--etcd-endpoints "$ETCD_ENDPOINTS" --etcd-cacert "$CLUSTER_PKI/ca.crt" \
		--etcd-cert "$CLUSTER_PKI/cvol-h$i.crt" --etcd-key "$CLUSTER_PKI/cvol-h$i.key" \
		--etcd-user "cvol-h$i" --etcd-password-file "$CLUSTER_PKI/cvol-h$i.etcd-password" \
		--lease-ttl-s "${CLUSTER_LEASE_TTL:-5}" "$@" \
		>>"$CVOL_OUT/cvold-h$i.log" 2>&1 &
	pid=$!
	HOST_PID[i]=$pid
	for ((t = 0; t < 300; t++)); do
		if "$CLUSTERCTL" --socket "$(_host_sock "$i")" --timeout 5 status >/dev/null 2>&1; then
			return 0
		fi
		if ! kill -0 "$pid" 2>/dev/null; then
			wait "$pid" 2>/dev/null || true
			HOST_PID[i]=
			echo "host_start: h$i exited during start-up (log: $CVOL_OUT/cvold-h$i.log):" >&2
			tail -n 5 "$CVOL_OUT/cvold-h$i.log" >&2
			return 1
		fi
		sleep 0.2
	done
	echo "host_start: h$i does not answer after 60 s" >&2
	return 1
}

host_kill() {
	local i=${1:?usage: host_kill I [SIG]} sig=${2:-TERM} pid
	pid=${HOST_PID[i]:-}
	[ -n "$pid" ] || return 0
	kill -"$sig" "$pid" 2>/dev/null || true
	case "$sig" in STOP | SIGSTOP | 19 | CONT | SIGCONT | 18) return 0 ;; esac
	# A stopped process keeps a TERM pending until it runs again.
	kill -CONT "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	HOST_PID[i]=
}

_host_fault_file() { echo "/run/cvol/h$1.fault"; }

# host_fault I NAME: host I's daemon misbehaves once as NAME says (see
# docs/cluster.md, "Fault injection"); host_fault_fired I: it has.
host_fault() { echo "${2:?usage: host_fault I NAME}" >"$(_host_fault_file "${1:?}")"; }
host_fault_fired() { [ ! -e "$(_host_fault_file "${1:?usage: host_fault_fired I}")" ]; }

host_stop() { host_kill "${1:?usage: host_stop I}" STOP; }
host_cont() { host_kill "${1:?usage: host_cont I}" CONT; }

hctl() {
	local i=${1:?usage: hctl I ARGS...}
	shift
	# --socket is a global option: before the noun (clusterctl accepts it
	# after the noun too).
	cctl --socket "$(_host_sock "$i")" "$@"
}

check_hctl() {
	local desc=$1 want=$2 i=$3
	shift 3
	check_cc "$desc" "$want" --socket "$(_host_sock "$i")" "$@"
}

host_events_start() {
	local i=${1:?usage: host_events_start I}
	host_events_stop "$i"
	# The stream has no reply timeout; it ends when cvold goes away.
	"$CLUSTERCTL" --socket "$(_host_sock "$i")" events --json \
		>>"$CVOL_OUT/events-h$i.log" 2>&1 &
	EVENTS_PID[i]=$!
}

host_events_stop() {
	local i=${1:?usage: host_events_stop I} pid=${EVENTS_PID[${1:-0}]:-}
	[ -n "$pid" ] || return 0
	kill -TERM "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	EVENTS_PID[i]=
}

# --------------------------------------------------------------- maps ---

# One "vext slot pext" triple per mapped extent, all on one line, sorted:
# the form in which a host's live map and etcd's map are compared.
_per_extent() { awk -F: '{ for (i = 0; i < $4; i++) print $1 + i, $2, $3 + i }' | sort -n | xargs; }

# host_map I DM: the live map of host I's device DM@h<I> (its first segment).
host_map() {
	dmsetup table "${2:?usage: host_map I DM}@h${1:?}" | head -n1 |
		sed 's/.* map_runs [0-9]* //' | tr ' ' '\n' | grep : | _per_extent
}

# etcd_map I POOL/VOL: the volume's map in etcd, read through host I, with
# pv names turned into their slots.
etcd_map() {
	local i=${1:?usage: etcd_map I POOL/VOL} vol=${2:?usage: etcd_map I POOL/VOL} slots
	slots=$("$CLUSTERCTL" --socket "$(_host_sock "$i")" pv list --json |
		jq -c '[.pvs[] | {(.name): .slot}] | add')
	"$CLUSTERCTL" --socket "$(_host_sock "$i")" volume show "$vol" --json |
		jq -r --argjson s "$slots" '.runs[] | "\(.vext):\($s[.pv]):\(.pext):\(.count)"' | _per_extent
}

# extent_place VEXT MAP: "slot pext" of VEXT in a map of "vext slot pext"
# triples (host_map, etcd_map).
extent_place() {
	echo "${2?usage: extent_place VEXT MAP}" |
		awk -v v="${1:?}" '{ for (i = 1; i + 2 <= NF; i += 3) if ($i == v) print $(i + 1), $(i + 2) }'
}

# The common stage of the three-host scenarios: network, etcd, hosts h1..h3
# (each with its event stream), pool p of three 96 MiB shared pvs
# (pvA/pvB/pvC, paths in DEVS), and volume p/v of 48 MiB on every host.
# CLUSTER_NAMESPACES (3), CLUSTER_PV_MB (96), CLUSTER_EXTENT (4M) and
# CLUSTER_VOLUME (48M) change the stage (more namespaces: for hosts
# started later); CLUSTER_CVOLD_ARGS are more cvold options for h1-h3.
cluster_three_hosts() {
	local i
	check "network up" -- cluster_net_up "${CLUSTER_NAMESPACES:-3}"
	check "etcd cluster up" -- start_etcd_cluster
	mapfile -t DEVS < <(shared_devices 3 "${CLUSTER_PV_MB:-96}")
	for i in 1 2 3; do
		# shellcheck disable=SC2086 # CLUSTER_CVOLD_ARGS is a list of words
		check "h$i starts" -- host_start "$i" ${CLUSTER_CVOLD_ARGS:-}
		sleep 1
	done
	for i in 1 2 3; do host_events_start "$i"; done
	check_hctl "pool create" 0 1 pool create p --extent-size "${CLUSTER_EXTENT:-4M}"
	check_hctl "pv create A" 0 1 pv create "${DEVS[0]}" --pool p --name pvA
	check_hctl "pv create B" 0 1 pv create "${DEVS[1]}" --pool p --name pvB
	check_hctl "pv create C" 0 1 pv create "${DEVS[2]}" --pool p --name pvC
	check_hctl "volume create p/v ${CLUSTER_VOLUME:-48M}" 0 1 volume create p/v --size "${CLUSTER_VOLUME:-48M}"
	for i in 1 2 3; do
		check "p-v@h$i appears" -- wait_for 30 test -b "/dev/mapper/p-v@h$i"
	done
}

# ------------------------------------------------------------ writers ---

# Host I's pass with SEED: 3 s over the I-th third of its device.
_cluster_writer_job() { # SEED I DM THIRD_BYTES
	local seed=$1 i=$2 dm=$3 third=$4
	fio_verify_args -n "w$i" -b 4k -q 4 -j 1 -o $(((i - 1) * third)) "/dev/mapper/$dm@h$i" "$third" "$seed" \
		--verify_backlog=64 --runtime=3 --time_based
}

writers_start() {
	local dm=${1:?usage: writers_start DM BYTES} bytes=${2:?usage: writers_start DM BYTES} i
	# On an early exit: stop the writers and release anything held, so the
	# devices can be removed.
	CLUSTER_CLEANUP_HOOKS+=("writer_signal h1 h2 h3; for d in /dev/mapper/$dm@h*; do dmsetup message \"\${d##*/}\" 0 unfence 999999999 2>/dev/null; done; pkill -KILL fio; sleep 1")
	for i in 1 2 3; do
		writer_start -o "fio-h$i-" "h$i" $((10 * i)) _cluster_writer_job "$i" "$dm" $((bytes / 3))
	done
}

writers_stop() { writer_stop h1 h2 h3; }

# (PREFIX: writer loops of a scenario's own named PREFIX1..PREFIX3)
writer_failures() {
	local i
	for i in 1 2 3; do writer_failed "${1:-h}$i" | sed "s/^/h$i pass /"; done
}
writer_passes() {
	local i
	for i in 1 2 3; do writer_runs "${1:-h}$i"; done | xargs
}

# ------------------------------------------------------------ devices ---

# Loop devices (like null_blk) are global, not per network namespace: every
# host daemon sees and opens the same /dev/loopN, which is what shared
# storage looks like to a cluster.
shared_devices() {
	local n=${1:?usage: shared_devices N SIZE_MB} size=${2:?usage: shared_devices N SIZE_MB} i
	for ((i = 0; i < n; i++)); do
		mk_loop "$size" || return 1
	done
}

# ------------------------------------------------------------ cleanup ---

cluster_cleanup() {
	local i pid ns l
	for i in "${!HOST_PID[@]}"; do
		pid=${HOST_PID[i]}
		[ -n "$pid" ] || continue
		kill -CONT "$pid" 2>/dev/null || true
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	HOST_PID=()
	for i in "${!EVENTS_PID[@]}"; do
		pid=${EVENTS_PID[i]}
		[ -n "$pid" ] || continue
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	EVENTS_PID=()
	for i in "${!ETCD_PID[@]}"; do
		pid=${ETCD_PID[i]}
		[ -n "$pid" ] || continue
		kill -CONT "$pid" 2>/dev/null || true
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	ETCD_PID=()
	rm -rf /tmp/etcd-e1 /tmp/etcd-e2 /tmp/etcd-e3 "$CLUSTER_PKI"
	# Found by name, not from the state above: also cleans a partial setup.
	for ns in $(ip netns list 2>/dev/null | awk '$1 ~ /^cvh[0-9]+$/ {print $1}' || true); do
		ip netns del "$ns" 2>/dev/null || true
	done
	# Deleting a namespace destroys its eth0 and so the veth pair; a veth
	# whose namespace is still held by some process is deleted here.
	for l in $(ip -o link show 2>/dev/null | awk -F': ' '{sub(/@.*/, "", $2); print $2}' | grep -E '^cvh[0-9]+-br$' || true); do
		ip link del "$l" 2>/dev/null || true
	done
	ip link del "$CLUSTER_BRIDGE" 2>/dev/null || true
	rm -f "$CLUSTER_SECRET"
	CLUSTER_HOSTS=0
	return 0
}

_cluster_on_exit() {
	local rc=$? h
	set +eE
	trap - ERR
	for h in "${CLUSTER_CLEANUP_HOOKS[@]}"; do eval "$h"; done
	cluster_cleanup
	cvold_cleanup
	_cvol_exit_with "$rc"
}

trap _cluster_on_exit EXIT
