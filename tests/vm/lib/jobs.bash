# shellcheck shell=bash
# jobs.bash: background jobs, polling and time. Sourced by tests/vm/lib.sh
# (core); see tests/vm/lib/README.md.
#
# Background jobs keep their files in the scenario's work directory $W
# (set it before the first bg):
#   bg NAME CMD...          run CMD in the background; its output goes to
#                           $W/NAME.out, its exit status to $W/NAME.rc when
#                           it ends
#   bg_timed NAME CMD...    the same, and the end time (now_ns) in
#                           $W/NAME.end, written before NAME.rc
#   done_ NAME              NAME has ended
#   rc_of NAME              its exit status
#   wait_job NAME SECS      true once NAME has ended (SECS*10 polls, 0.1 s
#                           apart); false if it has not by then
#   job_end_ms NAME T0_NS   ms from T0_NS to the end of bg_timed job NAME
# Polling:
#   wait_for SECS CMD...    run CMD (output discarded) every 0.2 s until it
#                           succeeds; false after SECS*5 tries
#   poll TRIES STEP CMD...  run CMD up to TRIES times, sleeping STEP s after
#                           each failure; true as soon as it succeeds
# Time (wall clock, `date`):
#   now_ns / now_ms         the time in ns / ms
#   ms_since T0_NS          ms since T0_NS

[ -z "${_CVOL_LIB_JOBS:-}" ] || return 0
_CVOL_LIB_JOBS=1

now_ns() { date +%s%N; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }
ms_since() { echo $((($(now_ns) - $1) / 1000000)); }

# The job body: a subshell, so that the exit status is written whatever CMD
# does. ($1: "timed" to record the end time.)
_cvol_bg() {
	local timed=$1 name=$2
	shift 2
	# A leftover NAME.rc would make done_ true at once. (Tested first: rm is
	# an exec, ~0.1 s under TCG, and job names are rarely reused.)
	[ ! -e "$W/$name.rc" ] || rm -f "$W/$name.rc"
	(
		rc=0
		"$@" >"$W/$name.out" 2>&1 || rc=$?
		[ -z "$timed" ] || now_ns >"$W/$name.end"
		echo $rc >"$W/$name.rc"
	) &
}
bg() { _cvol_bg "" "$@"; }
bg_timed() { _cvol_bg timed "$@"; }
done_() { [ -e "$W/$1.rc" ]; }
rc_of() { cat "$W/$1.rc"; }
job_end_ms() { echo $((($(cat "$W/$1.end") - $2) / 1000000)); }

poll() {
	local tries=$1 step=$2 i
	shift 2
	for ((i = 0; i < tries; i++)); do
		"$@" && return 0
		sleep "$step"
	done
	return 1
}

wait_for() {
	local secs=$1
	shift
	poll $((secs * 5)) 0.2 _cvol_quiet "$@"
}
_cvol_quiet() { "$@" >/dev/null 2>&1; }

wait_job() { poll $(($2 * 10)) 0.1 done_ "$1"; }
