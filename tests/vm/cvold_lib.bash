# shellcheck shell=bash
# Helpers for scenarios that run the real cvold and clusterctl with a real
# etcd inside the guest. Source after lib.sh.
#
#   start_etcd            single-member etcd on 127.0.0.1:2379 (data on tmpfs)
#   start_cvold           cvold in the background, log in $CVOL_OUT/cvold.log;
#                         returns when the control socket answers
#   kill_cvold [SIG]      stops it (default TERM; KILL for a crash)
#   cctl ARGS...          clusterctl; stdout in $CC_OUT, stderr in $CC_ERR,
#                         exit code in $cc_rc (never fails the shell)
#   wait_for SECS CMD...  polls CMD every 0.2 s until it succeeds

CVOLD=$CVOL_BUILD/bin/cvold
CLUSTERCTL=$CVOL_BUILD/bin/clusterctl
CVOLD_SOCKET=/run/cvol/cvold.sock
CC_OUT=$CVOL_OUT/cc.out
CC_ERR=$CVOL_OUT/cc.err
cvold_pid=
etcd_pid=

wait_for() {
	local secs=$1 i
	shift
	for ((i = 0; i < secs * 5; i++)); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.2
	done
	return 1
}

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
	"$CVOLD" --socket "$CVOLD_SOCKET" "$@" >>"$CVOL_OUT/cvold.log" 2>&1 &
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

# check_cc DESC EXPECTED_RC ARGS...: one TAP line; on failure shows output.
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

_cvold_setrc() { return "$1"; }

# The EXIT trap for a scenario that runs cvold: stop the daemon first, then
# lib.sh's own handler (device cleanup, module unload, TAP summary) with the
# scenario's exit status. `trap cvold_cleanup EXIT` alone would replace
# lib.sh's handler and skip all of that.
cvold_on_exit() {
	local rc=$?
	cvold_cleanup
	_cvold_setrc "$rc"
	_cvol_on_exit
}
