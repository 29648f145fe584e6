# shellcheck shell=bash
# kernel.bash: the module and the kernel log. Sourced by tests/vm/lib.sh
# (core); see tests/vm/lib/README.md.
#
#   load_cvol               modprobe dm_mod + dm-cvol's depends, insmod
#                           $CVOL_KO unless dm_cvol is already loaded
#   kmsg_mark [LABEL]       put a marker into the kernel log
#   kmsg_since_mark         print the kernel log lines after the last marker
#   assert_no_kernel_warning [DESC] [--since-mark]
#                           TAP: fail if dmesg (or the part after the last
#                           marker) has a tests/vm/kernel-fail-patterns line

[ -z "${_CVOL_LIB_KERNEL:-}" ] || return 0
_CVOL_LIB_KERNEL=1

_CVOL_PATTERNS=$CVOL_ROOT/tests/vm/kernel-fail-patterns
_CVOL_MARK=

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
	local desc="no kernel warnings in dmesg" since= log bad a
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
