# shellcheck shell=bash
# tap.bash: TAP assertions, their counters, and the ERR/EXIT traps.
# Sourced by tests/vm/lib.sh (core); see tests/vm/lib/README.md.
#
#   plan_note MSG...                 print "# MSG"
#   ok DESC / fail DESC              record a pass / a failure
#   check DESC -- CMD ARGS...        pass if CMD exits 0 (its output is shown
#                                    as "# " lines only when it fails)
#   check_fail DESC -- CMD ARGS...   pass if CMD exits nonzero
#   assert_eq DESC EXPECTED ACTUAL   pass if the strings are equal
#   assert_match DESC REGEX ACTUAL   pass if any line of ACTUAL matches the
#                                    extended regex (grep -E semantics)
#   finish                           exit 1 if anything failed, else 0
# Every assertion returns 0: a failure is recorded and the scenario goes
# on. The counters live in a file, so assertions made in subshells and
# pipelines count too. An unexpected command failure (set -e) counts as a
# failure; the EXIT trap cleans up (cleanup_devices), saves dmesg and prints
# the plan line and "# N ok, M failed".

[ -z "${_CVOL_LIB_TAP:-}" ] || return 0
_CVOL_LIB_TAP=1

_CVOL_STATE=/tmp/.cvol-lib.$$
mkdir -p "$_CVOL_STATE"
: >"$_CVOL_STATE/results"
_CVOL_FINISHING=
_CVOL_ERR_SEEN=

plan_note() { echo "# $*"; }

# Appends one result and prints its TAP line. One short append per result,
# so concurrent subshells cannot lose counts. Builtins only: every exec costs
# ~0.1 s under TCG.
_cvol_record() {
	local verdict=$1 desc=$2 n lines
	echo "$verdict" >>"$_CVOL_STATE/results"
	mapfile -t lines <"$_CVOL_STATE/results"
	n=${#lines[@]}
	if [ "$verdict" = ok ]; then
		echo "ok $n - $desc"
	else
		echo "not ok $n - $desc"
	fi
}

_cvol_count() {
	local lines l n=0
	mapfile -t lines <"$_CVOL_STATE/results"
	for l in "${lines[@]}"; do [ "$l" != "$1" ] || n=$((n + 1)); done
	echo "$n"
}

# Prints text as TAP diagnostics ("# " lines), at most the last 40 lines.
_cvol_diag() { tail -n 40 | sed 's/^/#   /'; }

ok() { _cvol_record ok "$*"; }
fail() { _cvol_record fail "$*"; }

# Splits "DESC -- CMD..." (the -- is required so that descriptions can have
# spaces without quoting mistakes going unnoticed).
_cvol_split_check() {
	if [ $# -lt 3 ] || [ "$2" != "--" ]; then
		echo "usage: ${FUNCNAME[1]} DESC -- CMD [ARGS...]" >&2
		return 1
	fi
}

check() {
	_cvol_split_check "$@" || { fail "bad check call: $*"; return 0; }
	local desc=$1 log rc=0
	shift 2
	log=$_CVOL_STATE/out.$BASHPID
	"$@" >"$log" 2>&1 || rc=$?
	if [ "$rc" -eq 0 ]; then
		ok "$desc"
	else
		fail "$desc"
		echo "#   command failed (exit $rc): $*"
		_cvol_diag <"$log"
	fi
	return 0
}

check_fail() {
	_cvol_split_check "$@" || { fail "bad check_fail call: $*"; return 0; }
	local desc=$1 log rc=0
	shift 2
	log=$_CVOL_STATE/out.$BASHPID
	"$@" >"$log" 2>&1 || rc=$?
	if [ "$rc" -ne 0 ]; then
		ok "$desc"
	else
		fail "$desc"
		echo "#   command succeeded but should have failed: $*"
		_cvol_diag <"$log"
	fi
	return 0
}

assert_eq() {
	local desc=$1 expected=$2 actual=$3
	if [ "$expected" = "$actual" ]; then
		ok "$desc"
	else
		fail "$desc"
		echo "#   expected: '$expected'"
		echo "#   actual:   '$actual'"
	fi
	return 0
}

assert_match() {
	local desc=$1 regex=$2 actual=$3 line found=
	# Per line like grep -E, but with bash's [[ =~ ]] (ERE, no exec).
	while IFS= read -r line; do
		if [[ $line =~ $regex ]]; then found=1; break; fi
	done <<<"$actual"
	if [ -n "$found" ]; then
		ok "$desc"
	else
		fail "$desc"
		echo "#   regex:  $regex"
		echo "#   actual:"
		_cvol_diag <<<"$actual"
	fi
	return 0
}

finish() {
	_CVOL_FINISHING=1
	if [ "$(_cvol_count fail)" -gt 0 ]; then exit 1; fi
	exit 0
}

# ------------------------------------------------------------ traps ---

# An unexpected failure under set -e. In a subshell ($(...), pipelines) only
# print where it happened: the failure reaches the main shell, which counts it.
_cvol_on_err() {
	local rc=$1 line=$2 cmd=$3 i where= file=${BASH_SOURCE[1]##*/}
	for ((i = 1; i < ${#FUNCNAME[@]}; i++)); do
		where+=" <- ${FUNCNAME[i]}@${BASH_SOURCE[i]##*/}:${BASH_LINENO[i - 1]}"
	done
	if [ "$BASH_SUBSHELL" -gt 0 ]; then
		echo "# error in subshell at $file:$line: '$cmd' exited $rc" >&2
		return
	fi
	_CVOL_ERR_SEEN=1
	fail "unexpected error at $file:$line: '$cmd' exited $rc"
	# Call chain, only when the error was inside a function.
	[ "${#FUNCNAME[@]}" -le 2 ] || echo "#   at$where"
}

# The EXIT handler: device cleanup (devices.bash), the saved kernel log and
# the TAP summary. It reads the scenario's exit status from $?; a handler
# that runs something first (cvold.bash, cluster.bash) ends with
# `_cvol_exit_with "$rc"` to hand that status on.
_cvol_on_exit() {
	local rc=$? failed passed
	set +eE
	trap - ERR
	if [ "$rc" -ne 0 ] && [ -z "$_CVOL_FINISHING" ] && [ -z "$_CVOL_ERR_SEEN" ]; then
		fail "scenario exited with status $rc"
	fi
	cleanup_devices
	dmesg >"$CVOL_OUT/dmesg.txt" 2>&1
	failed=$(_cvol_count fail)
	passed=$(_cvol_count ok)
	echo "1..$((passed + failed))"
	echo "# $passed ok, $failed failed"
	rm -rf "$_CVOL_STATE"
	if [ "$failed" -gt 0 ] || { [ "$rc" -ne 0 ] && [ -z "$_CVOL_FINISHING" ]; }; then
		exit 1
	fi
	exit 0
}

_cvol_setrc() { return "$1"; }

# _cvol_exit_with RC: _cvol_on_exit as if the scenario had exited with RC.
# errexit goes first: under set -e, _cvol_setrc's nonzero status would end
# the shell right there, before any cleanup or summary.
_cvol_exit_with() {
	set +eE
	trap - ERR
	_cvol_setrc "$1"
	_cvol_on_exit
}

trap '_cvol_on_err $? $LINENO "$BASH_COMMAND"' ERR
trap _cvol_on_exit EXIT
