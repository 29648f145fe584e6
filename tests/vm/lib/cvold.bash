# shellcheck shell=bash
# cvold.bash: the real cvold and clusterctl with a real etcd inside the
# guest. Source after tests/vm/lib.sh; see tests/vm/lib/README.md.
#
#   start_etcd              single-member etcd on https://127.0.0.1:2379
#                           (data on tmpfs, log in $CVOL_OUT/etcd.log): TLS
#                           with client certificates and auth on, as in
#                           production (docs/security.md); certificates and
#                           the user cvol-guest in $GUEST_PKI; returns when
#                           it is healthy
#   start_cvold [ARG...]    cvold in the background with $CVOLD_ETCD_ARGS
#                           (default: the guest etcd's URL, certificate and
#                           user), log appended to $CVOL_OUT/cvold.log;
#                           returns when the control socket answers
#   kill_cvold [SIG]        stop it (default TERM; KILL for a crash) and wait
#   cctl ARG...             clusterctl; stdout in $CC_OUT, stderr in $CC_ERR,
#                           exit status in $cc_rc (never fails the shell)
#   check_cc DESC RC ARG... TAP: clusterctl ARG... exits RC; on failure its
#                           output is shown
#   cvold_cleanup           kill_cvold, stop etcd
#   cvold_on_exit           an EXIT trap: cvold_cleanup, then lib.sh's own
#                           handler (`trap cvold_on_exit EXIT`; a plain
#                           `trap cvold_cleanup EXIT` would skip the device
#                           cleanup and the TAP summary)
# Variables: CVOLD, CLUSTERCTL (the binaries), CVOLD_SOCKET, CC_OUT, CC_ERR,
# cc_rc, cvold_pid, etcd_pid, GUEST_PKI, GUEST_ETCD, CVOLD_ETCD_ARGS.

[ -z "${_CVOL_LIB_CVOLD:-}" ] || return 0
_CVOL_LIB_CVOLD=1

CVOLD=$CVOL_BUILD/bin/cvold
CLUSTERCTL=$CVOL_BUILD/bin/clusterctl
CVOLD_SOCKET=/run/cvol/cvold.sock
CC_OUT=$CVOL_OUT/cc.out
CC_ERR=$CVOL_OUT/cc.err
cvold_pid=
etcd_pid=
GUEST_PKI=/tmp/cvol-guest-pki
GUEST_ETCD=https://127.0.0.1:2379
CVOLD_ETCD_ARGS=(--etcd-endpoints "$GUEST_ETCD" --etcd-cacert "$GUEST_PKI/ca.crt"
	--etcd-cert "$GUEST_PKI/cvol-guest.crt" --etcd-key "$GUEST_PKI/cvol-guest.key"
	--etcd-user cvol-guest --etcd-password-file "$GUEST_PKI/cvol-guest.etcd-password")
# etcdctl's own TLS: the admin client (CN root) of whichever etcd runs.
: "${ETCDCTL_CACERT:=$GUEST_PKI/ca.crt}" "${ETCDCTL_CERT:=$GUEST_PKI/root.crt}" \
	"${ETCDCTL_KEY:=$GUEST_PKI/root.key}"
export ETCDCTL_CACERT ETCDCTL_CERT ETCDCTL_KEY

start_etcd() {
	local certs=$CVOL_ROOT/scripts/cvol-certs
	ip link set lo up
	rm -rf /tmp/etcd-data "$GUEST_PKI"
	mkdir -p "$GUEST_PKI"
	"$certs" ca "$GUEST_PKI" >/dev/null && "$certs" etcd "$GUEST_PKI" guest 127.0.0.1 >/dev/null &&
		"$certs" host "$GUEST_PKI" guest >/dev/null && "$certs" client "$GUEST_PKI" root >/dev/null ||
		return 1
	# Peers on the loopback only (one member): plain http there. bcrypt
	# cost 4: see cluster.bash.
	etcd --name guest --data-dir /tmp/etcd-data \
		--listen-client-urls "$GUEST_ETCD" --advertise-client-urls "$GUEST_ETCD" \
		--cert-file "$GUEST_PKI/etcd-guest.crt" --key-file "$GUEST_PKI/etcd-guest.key" \
		--trusted-ca-file "$GUEST_PKI/ca.crt" --client-cert-auth --bcrypt-cost 4 \
		--listen-peer-urls http://127.0.0.1:2380 \
		--initial-advertise-peer-urls http://127.0.0.1:2380 \
		--initial-cluster guest=http://127.0.0.1:2380 \
		>"$CVOL_OUT/etcd.log" 2>&1 &
	etcd_pid=$!
	wait_for 60 etcdctl --endpoints "$GUEST_ETCD" --command-timeout=3s endpoint health || return 1
	"$CVOL_ROOT/scripts/cvol-etcd-auth" --endpoints "$GUEST_ETCD" --cacert "$GUEST_PKI/ca.crt" \
		--cert "$GUEST_PKI/root.crt" --key "$GUEST_PKI/root.key" \
		--root-password-file "$GUEST_PKI/root.password" --out "$GUEST_PKI" guest \
		>>"$CVOL_OUT/etcd-auth.log" 2>&1
}

start_cvold() {
	"$CVOLD" --socket "$CVOLD_SOCKET" "${CVOLD_ETCD_ARGS[@]}" "$@" >>"$CVOL_OUT/cvold.log" 2>&1 &
	cvold_pid=$!
	wait_for 60 "$CLUSTERCTL" status
}

kill_cvold() {
	[ -n "$cvold_pid" ] || return 0
	kill -"${1:-TERM}" "$cvold_pid" 2>/dev/null || true
	wait "$cvold_pid" 2>/dev/null || true
	cvold_pid=
}

cc_rc=0
cctl() {
	cc_rc=0
	"$CLUSTERCTL" "$@" >"$CC_OUT" 2>"$CC_ERR" || cc_rc=$?
	return 0
}

check_cc() {
	local desc=$1 want=$2
	shift 2
	cctl "$@"
	if [ "$cc_rc" -eq "$want" ]; then
		ok "$desc"
	else
		fail "$desc (clusterctl $*: exit $cc_rc, wanted $want)"
		sed 's/^/#   out: /' "$CC_OUT" | head -n 20
		sed 's/^/#   err: /' "$CC_ERR" | head -n 20
	fi
}

cvold_cleanup() {
	kill_cvold TERM
	[ -n "$etcd_pid" ] && kill "$etcd_pid" 2>/dev/null || true
}

# Stops the daemon before lib.sh's handler removes the devices it holds.
cvold_on_exit() {
	local rc=$?
	set +eE
	trap - ERR
	cvold_cleanup
	_cvol_exit_with "$rc"
}
