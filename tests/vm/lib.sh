# shellcheck shell=bash
# lib.sh: helpers for cvol VM test scenarios. Source it first thing:
#
#     #!/usr/bin/env bash
#     # timeout: 300      (optional: per-boot limit in seconds, default 300)
#     # mem: 3072         (optional: guest RAM in MiB, default 3072)
#     source "$CVOL_ROOT/tests/vm/lib.sh"
#     load_cvol
#     dev=$(mk_nullb 256)
#     check "create a cvol device" -- dmsetup create v0 --table "0 ... cvol ..."
#     finish
#
# SCENARIO CONTRACT
#   * A scenario is tests/vm/scenarios/<name>.sh. `tests/vm/run.sh <name>`
#     boots a fresh VM (QEMU TCG, Debian kernel, host root read-only over 9p)
#     and runs it there with `bash -euo pipefail`, as root, cwd = repo root,
#     stdin = /dev/null. One boot per scenario.
#   * Environment: CVOL_ROOT (repo root; read-only in the guest), CVOL_OUT
#     (writable results dir for this scenario, = tests/vm/out/<name>/ on the
#     host), CVOL_BUILD ($CVOL_ROOT/build, the CMake build dir), CVOL_KO
#     ($CVOL_ROOT/dm-cvol.ko), DM_DISABLE_UDEV=1 (there is no udev: dmsetup
#     and libdevmapper create /dev/mapper nodes themselves), CVOL_SCENARIO
#     (the name), PATH with /usr/sbin:/sbin, HOME=/root (tmpfs).
#     Writable places: /tmp, /run, /var/tmp, /root, /dev/shm (tmpfs, guest
#     RAM) and $CVOL_OUT. dm_mod and loop are loaded; /dev/mapper/control
#     exists.
#   * The scenario passes when it exits 0, AND init printed the completion
#     marker, AND the kernel log has no BUG:/WARNING:/Oops/hung task/... line
#     (tests/vm/kernel-fail-patterns), AND the boot finished within the
#     timeout. Kernel warnings therefore fail a run even if every assertion
#     passed.
#   * Output: stdout+stderr go to the console log (tests/vm/out/<name>/
#     console.log) and to $CVOL_OUT/tap.txt. The EXIT trap saves dmesg to
#     $CVOL_OUT/dmesg.txt. Put extra artefacts in $CVOL_OUT.
#
# TAP ASSERTIONS (print "ok N - desc" / "not ok N - desc"; all return 0, so a
# failed assertion records a failure and the scenario continues; the final
# exit status is then 1)
#   plan_note MSG...                 print "# MSG"
#   ok DESC                          record a pass
#   fail DESC                        record a failure
#   check DESC -- CMD ARGS...        pass if CMD exits 0 (its output is shown
#                                    as "# " lines only when it fails)
#   check_fail DESC -- CMD ARGS...   pass if CMD exits nonzero
#   assert_eq DESC EXPECTED ACTUAL   pass if the strings are equal
#   assert_match DESC REGEX ACTUAL   pass if any line of ACTUAL matches the
#                                    extended regex (grep -E semantics)
#   finish                           end the scenario: exit 1 if anything
#                                    failed, else 0. Optional: the EXIT trap
#                                    does the same if the scenario just ends.
#   An unexpected command failure (set -e) counts as a failure and prints the
#   file:line and the command, then the scenario ends through the EXIT trap.
#   Counters live in a file, so assertions made in subshells and pipelines
#   (`... | while read ...; do ok ...; done`) count too.
#
# SETUP HELPERS (return nonzero on error, which under set -e ends the
# scenario as a failure)
#   load_cvol               modprobe dm_mod + dm-cvol's depends, insmod $CVOL_KO
#                           unless dm_cvol is already loaded
#   mk_loop SIZE_MIB        sparse file on /tmp (tmpfs) + loop device
#                           (--direct-io=on when the backing fs allows it);
#                           prints /dev/loopN
#   mk_nullb SIZE_MIB [BS]  memory-backed null_blk via configfs (discard on
#                           when supported, BS default 512); prints /dev/nullbN
#   dev_sectors DEV         size in 512-byte sectors (blockdev --getsz)
#   kmsg_mark [LABEL]       put a marker into the kernel log
#   kmsg_since_mark         print kernel log lines after the last marker
#   assert_no_kernel_warning [DESC] [--since-mark]
#                           fail if dmesg has a kernel-fail-patterns line
#   cleanup_devices         kill leftover background jobs, remove all dm
#                           devices, loop devices, null_blk devices, and
#                           rmmod dm_cvol (a failed unload = a failure: it
#                           catches leaked references). Run by the EXIT trap.

set -Eeuo pipefail
# Without this, set -e is off inside $(...) and `dev=$(mk_loop 64)` would
# carry on after a failing step.
shopt -s inherit_errexit

if [ "${CVOL_IN_VM:-}" != 1 ]; then
	# cleanup_devices runs `dmsetup remove_all` and `losetup -D`: never on a
	# developer's machine.
	echo "lib.sh: only runs inside the test VM (use tests/vm/run.sh)" >&2
	exit 2
fi

: "${CVOL_ROOT:?}" "${CVOL_OUT:?}"
: "${CVOL_BUILD:=$CVOL_ROOT/build}" "${CVOL_KO:=$CVOL_ROOT/dm-cvol.ko}"
export CVOL_BUILD CVOL_KO

_CVOL_STATE=/tmp/.cvol-lib.$$
mkdir -p "$_CVOL_STATE"
: >"$_CVOL_STATE/results"
_CVOL_PATTERNS=$CVOL_ROOT/tests/vm/kernel-fail-patterns
_CVOL_FINISHING=
_CVOL_ERR_SEEN=

# ---------------------------------------------------------------- TAP ---

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

# ------------------------------------------------------- kernel log ---

_CVOL_MARK=
kmsg_mark() {
	_CVOL_MARK="CVOL-MARK-$$-$RANDOM$RANDOM"
	echo "<6>$_CVOL_MARK ${*:-}" >/dev/kmsg
}

kmsg_since_mark() {
	if [ -z "$_CVOL_MARK" ]; then
		echo "kmsg_since_mark: no kmsg_mark yet" >&2
		return 1
	fi
	dmesg | sed -n "/$_CVOL_MARK/,\$p" | tail -n +2
}

# Prints the kernel log lines that match a failure pattern.
_cvol_kernel_bad_lines() { grep -E -v '^#' "$_CVOL_PATTERNS" | grep -E -f - || true; }

assert_no_kernel_warning() {
	local desc="no kernel warnings in dmesg" since= log bad
	for a in "$@"; do
		case "$a" in
		--since-mark) since=1 ;;
		*) desc=$a ;;
		esac
	done
	if [ -n "$since" ]; then log=$(kmsg_since_mark); else log=$(dmesg); fi
	bad=$(_cvol_kernel_bad_lines <<<"$log")
	if [ -z "$bad" ]; then
		ok "$desc"
	else
		fail "$desc"
		_cvol_diag <<<"$bad"
	fi
	return 0
}

# ------------------------------------------------------------ setup ---

load_cvol() {
	modprobe dm_mod || return 1
	if grep -q '^dm_cvol ' /proc/modules; then return 0; fi
	if [ ! -f "$CVOL_KO" ]; then
		echo "load_cvol: $CVOL_KO not built (run: make module)" >&2
		return 1
	fi
	# insmod does not resolve dependencies: load them first.
	local dep
	for dep in $(modinfo -F depends "$CVOL_KO" | tr ',' ' '); do
		modprobe "$dep" || return 1
	done
	insmod "$CVOL_KO" || return 1
}

mk_loop() {
	local size=${1:?usage: mk_loop SIZE_MIB} file dev
	modprobe loop 2>/dev/null || true
	file=$(mktemp /tmp/cvol-loop.XXXXXX.img) || return 1
	truncate -s "${size}M" "$file" || return 1
	# tmpfs on 6.1 has no O_DIRECT, so --direct-io=on fails there; fall back
	# to buffered loop (still page-cache-on-RAM, fine for correctness tests).
	dev=$(losetup -f --show --direct-io=on "$file" 2>/dev/null) ||
		dev=$(losetup -f --show "$file") || return 1
	echo "$dev"
}

_cvol_nullb_cfg=/sys/kernel/config/nullb
_cvol_configfs() {
	modprobe configfs 2>/dev/null || true
	if ! grep -q ' /sys/kernel/config configfs ' /proc/mounts; then
		mount -t configfs configfs /sys/kernel/config || return 1
	fi
}

mk_nullb() {
	local size=${1:?usage: mk_nullb SIZE_MIB [BLOCKSIZE]} bs=${2:-512} d i=0 name dev
	_cvol_configfs || return 1
	# nr_devices=0: only configfs-made devices, none of the 250 GB default one.
	if [ ! -d "$_cvol_nullb_cfg" ]; then
		modprobe null_blk nr_devices=0 || return 1
	fi
	# 6.1 names the disk after the configfs item (older kernels used
	# nullb<index>): call the item nullbN so both agree.
	while [ -e "$_cvol_nullb_cfg/nullb$i" ] || [ -e "/dev/nullb$i" ]; do
		i=$((i + 1))
	done
	name=nullb$i
	d=$_cvol_nullb_cfg/$name
	mkdir "$d" || return 1
	echo "$size" >"$d/size" || return 1
	echo "$bs" >"$d/blocksize" || return 1
	echo 1 >"$d/memory_backed" || return 1
	if [ -e "$d/discard" ]; then echo 1 >"$d/discard" || return 1; fi
	echo 1 >"$d/power" || return 1
	# devtmpfs creates the node during add_disk; allow a moment anyway.
	for _ in $(seq 50); do
		for dev in "/dev/$name" "/dev/nullb$(cat "$d/index")"; do
			if [ -b "$dev" ]; then
				echo "$dev"
				return 0
			fi
		done
		sleep 0.1
	done
	echo "mk_nullb: no block device for $d" >&2
	return 1
}

dev_sectors() { blockdev --getsz "${1:?usage: dev_sectors DEV}"; }

# Reports problems as TAP failures (a device that cannot be removed, or a
# module that cannot be unloaded, usually means a leaked reference).
cleanup_devices() {
	local pids left d f
	pids=$(jobs -p)
	if [ -n "$pids" ]; then
		kill $pids 2>/dev/null || true
		sleep 0.5
		kill -9 $pids 2>/dev/null || true
		wait 2>/dev/null || true
	fi
	if [ -c /dev/mapper/control ]; then
		dmsetup remove_all >/dev/null 2>&1 || dmsetup remove_all --force >/dev/null 2>&1 || true
		left=$(dmsetup ls 2>/dev/null | grep -v '^No devices found' || true)
		[ -z "$left" ] || { fail "cleanup: dm devices left: $(echo $left)"; }
	fi
	if [ -e /dev/loop-control ]; then
		losetup -D 2>/dev/null || true
		left=$(losetup -n -O NAME 2>/dev/null || true)
		[ -z "$left" ] || fail "cleanup: loop devices left: $(echo $left)"
	fi
	rm -f /tmp/cvol-loop.*.img
	if [ -d "$_cvol_nullb_cfg" ]; then
		for d in "$_cvol_nullb_cfg"/*/; do
			[ -d "$d" ] || continue
			echo 0 >"$d/power" 2>/dev/null || true
			rmdir "$d" 2>/dev/null || fail "cleanup: cannot remove null_blk $(basename "$d")"
		done
	fi
	if grep -q '^dm_cvol ' /proc/modules; then
		rmmod dm_cvol 2>/dev/null || fail "cleanup: rmmod dm_cvol failed (leaked reference?)"
	fi
	return 0
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

trap '_cvol_on_err $? $LINENO "$BASH_COMMAND"' ERR
trap _cvol_on_exit EXIT
