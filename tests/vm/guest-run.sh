#!/usr/bin/env bash
# Job wrapper, runs INSIDE the test VM (chrooted into the host's read-only
# root) as root. run.sh generates <out>/guest-job.sh, which sets CVOL_ROOT,
# CVOL_OUT and CVOL_SCENARIO and execs this with the scenario's path.
#
# Prepares the environment the scenario contract in lib.sh promises, runs the
# scenario with bash -euo pipefail (stdout+stderr to the console and to
# $CVOL_OUT/tap.txt), saves the kernel log and exits with the scenario's
# status (init prints it as CVOL-JOB-RC=<rc>).
set -uo pipefail

scenario=$1

export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root TERM=dumb LANG=C.UTF-8
# No udev in the guest: libdevmapper must create /dev/mapper nodes itself and
# must not wait for udev cookies.
export DM_DISABLE_UDEV=1
export CVOL_BUILD=$CVOL_ROOT/build
export CVOL_KO=$CVOL_ROOT/dm-cvol.ko
export CVOL_IN_VM=1

# TCG is 10-50x slower than hardware; 60 s catches real hangs without firing
# on slow emulated I/O. (hung_task_panic=1 on the kernel command line ends the
# VM right after the report.)
sysctl -q -w kernel.hung_task_timeout_secs=60 || true

# dm_mod creates /dev/mapper/control through devtmpfs; loop makes
# /dev/loop-control appear (no udev to autoload it on first use).
modprobe dm_mod && modprobe loop ||
	echo "guest-run: warning: could not load dm_mod/loop" >&2
[ -c /dev/mapper/control ] || dmsetup mknodes >/dev/null 2>&1 || true

cd "$CVOL_ROOT" || exit 1
echo "CVOL-SCENARIO-START $CVOL_SCENARIO uptime=$(cut -d' ' -f1 /proc/uptime)"
bash -euo pipefail "$scenario" 2>&1 | tee "$CVOL_OUT/tap.txt"
rc=${PIPESTATUS[0]}
echo "CVOL-SCENARIO-END $CVOL_SCENARIO rc=$rc uptime=$(cut -d' ' -f1 /proc/uptime)"

# The full kernel log, taken last (lib.sh's EXIT trap also saves one; this
# copy also covers scenarios that do not source lib.sh).
dmesg >"$CVOL_OUT/dmesg.txt" 2>&1 || true
sync
exit "$rc"
