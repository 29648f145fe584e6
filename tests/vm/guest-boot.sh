#!/usr/bin/env bash
# Runs INSIDE the test VM: the scenarios one boot was given, one after
# another, each through guest-run.sh exactly as if it had the VM alone.
#
#   guest-boot.sh OUTBASE NAME FILE TIMEOUT [NAME FILE TIMEOUT]...
#
# run.sh writes the boot's guest-job.sh, which sets CVOL_ROOT and execs this.
# Per scenario, on the console (each marker on its own line):
#   CVOL-SCENARIO-BEGIN <name>
#   ... guest-run.sh's output (START/END markers with the guest uptime) ...
#   CVOL-SCENARIO-RC <name> <rc>      (124/137: killed at its timeout)
# Its results go to OUTBASE/<name>/ (tap.txt, dmesg.txt, artefacts).
#
# A scenario starts on a clean guest: the previous one passed, its kernel
# log had no failure line, and what it may have left behind is gone (no
# process of its own, no network namespace, empty /tmp, /root, /var/tmp,
# /run/cvol, the kernel log cleared, so its dmesg.txt is its own). After a
# failure or a kernel warning the boot ends; run.sh starts the scenarios not
# yet run in a fresh boot, so one failure never spoils the next scenario.
set -uo pipefail
# PID 1's PATH has no sbin directories (modprobe).
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

outbase=$1
shift
patterns=$CVOL_ROOT/tests/vm/kernel-fail-patterns
mounts0=

kernel_log_bad() {
	grep -E -v '^(#|$)' "$patterns" | grep -qaE -f - "$1" 2>/dev/null
}

# Every process but PID 1, this shell and kernel threads (no cmdline).
kill_leftovers() {
	local p pid left=()
	for p in /proc/[0-9]*; do
		pid=${p#/proc/}
		[ "$pid" -ne 1 ] && [ "$pid" -ne $$ ] && [ "$pid" -ne "$BASHPID" ] || continue
		[ -s "$p/cmdline" ] || continue
		left+=("$pid:$(tr '\0' ' ' <"$p/cmdline" 2>/dev/null | cut -c1-60)")
		kill -9 "$pid" 2>/dev/null || true
	done
	[ ${#left[@]} -eq 0 ] || echo "guest-boot: killed leftover processes: ${left[*]}"
}

# Empties a tmpfs directory, keeping the repo if it lives below it.
empty_dir() {
	local e
	for e in "$1"/* "$1"/.[!.]*; do
		[ -e "$e" ] || [ -L "$e" ] || continue
		case "$CVOL_ROOT/" in "$e"/*) continue ;; esac
		rm -rf "$e" 2>/dev/null || true
	done
}

reset_guest() {
	local ns
	kill_leftovers
	for ns in $(ip netns list 2>/dev/null | cut -d' ' -f1); do ip netns delete "$ns" 2>/dev/null || true; done
	# `ip netns add` makes /run/netns a mount point of its own.
	while umount /run/netns 2>/dev/null; do :; done
	for ns in $(ip -o link show type bridge 2>/dev/null | awk -F': ' '{ print $2 }'); do
		ip link delete "$ns" 2>/dev/null || true
	done
	empty_dir /tmp
	empty_dir /var/tmp
	empty_dir /root
	rm -rf /run/cvol
	dmesg -C
}

while [ $# -ge 3 ]; do
	name=$1 file=$2 tmo=$3
	shift 3
	if [ -z "$mounts0" ]; then
		# mk_nullb mounts configfs when it is not: mount it for every one.
		# (/sys/kernel/config appears when the configfs module loads.)
		modprobe configfs 2>/dev/null
		mountpoint -q /sys/kernel/config || mount -t configfs configfs /sys/kernel/config
		mounts0=$(cut -d' ' -f2 /proc/mounts | sort)
	fi
	echo
	echo "CVOL-SCENARIO-BEGIN $name"
	# timeout signals its whole process group: the scenario's children too.
	CVOL_OUT=$outbase/$name CVOL_SCENARIO=$name \
		timeout --kill-after=10 "$tmo" /bin/bash "$CVOL_ROOT/tests/vm/guest-run.sh" "$file" </dev/null
	rc=$?
	echo
	echo "CVOL-SCENARIO-RC $name $rc"
	[ "$rc" -eq 0 ] || break
	if kernel_log_bad "$outbase/$name/dmesg.txt"; then
		echo "guest-boot: $name left a kernel warning: the next scenario gets a fresh boot"
		break
	fi
	reset_guest
	# A mount it did not undo: the next scenario gets a fresh boot.
	if [ "$(cut -d' ' -f2 /proc/mounts | sort)" != "$mounts0" ]; then
		echo "guest-boot: $name left mounts: $(cut -d' ' -f2 /proc/mounts | sort | comm -13 <(echo "$mounts0") - | xargs)"
		break
	fi
done
sync
exit 0
