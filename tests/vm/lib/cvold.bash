# shellcheck shell=bash
# cvold.bash: the real cvold and clusterctl with a real etcd inside the
# guest. Source after tests/vm/lib.sh; see tests/vm/lib/README.md.
#
#   start_etcd              single-member etcd on 127.0.0.1:2379 (data on
#                           tmpfs, log in $CVOL_OUT/etcd.log); returns when
#                           it is healthy
#   start_cvold [ARG...]    cvold in the background, log appended to
#                           $CVOL_OUT/cvold.log; returns when the control
#                           socket answers
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
# cc_rc, cvold_pid, etcd_pid.

[ -z "${_CVOL_LIB_CVOLD:-}" ] || return 0
_CVOL_LIB_CVOLD=1

CVOLD=$CVOL_BUILD/bin/cvold
CLUSTERCTL=$CVOL_BUILD/bin/clusterctl
CVOLD_SOCKET=/run/cvol/cvold.sock
CC_OUT=$CVOL_OUT/cc.out
CC_ERR=$CVOL_OUT/cc.err
cvold_pid=
etcd_pid=

start_etcd() {
	ip link set lo up
	rm -rf /tmp/etcd-data
	etcd --name guest --data-dir /tmp/etcd-data \
		--listen-client-urls http://127.0.0.1:2379 \
		--advertise-client-urls http://127.0.0.1:2379 \
		--listen-peer-urls http://127.0.0.1:2380 \
		--initial-advertise-peer-urls http://127.0.0.1:2380 \
		--initial-cluster guest=http://127.0.0.1:2380 \
		>"$CVOL_OUT/etcd.log" 2>&1 &
	etcd_pid=$!
	wait_for 60 curl -sf http://127.0.0.1:2379/health
}

start_cvold() {
	# The guest's etcd speaks plain http (start_etcd): allowed explicitly.
	"$CVOLD" --socket "$CVOLD_SOCKET" --etcd-insecure "$@" >>"$CVOL_OUT/cvold.log" 2>&1 &
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
