# shellcheck shell=bash
# lib.sh: the entry point of the cvol VM test library. Source it first thing:
#
#     #!/usr/bin/env bash
#     # timeout: 300      (optional: per-boot limit in seconds, default 300)
#     # mem: 3072         (optional: guest RAM in MiB, default 3072)
#     source "$CVOL_ROOT/tests/vm/lib.sh"
#     source "$CVOL_ROOT/tests/vm/lib/remap.bash"    (topical parts, if needed)
#     load_cvol
#     dev=$(mk_nullb 256)
#     check "create a cvol device" -- dmsetup create v0 --table "0 ... cvol ..."
#     finish
#
# It sets the shell options and sources the core of tests/vm/lib/: tap.bash
# (assertions, traps), kernel.bash (module, kernel log), devices.bash
# (backing and helper devices, cleanup), jobs.bash (background jobs,
# polling, time). The topical parts (fio, events, remap, migrate, cvold,
# cluster) are sourced by the scenarios that need them. Every file and
# function, with its contract: tests/vm/lib/README.md.
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
# TAP ASSERTIONS (tap.bash; each prints "ok N - desc" / "not ok N - desc" and
# returns 0, so a failed assertion is recorded and the scenario continues;
# the final exit status is then 1): plan_note, ok, fail, check DESC -- CMD,
# check_fail DESC -- CMD, assert_eq DESC EXPECTED ACTUAL, assert_match DESC
# REGEX ACTUAL, finish. An unexpected command failure (set -e) counts as a
# failure, prints file:line and the command, and ends the scenario through
# the EXIT trap, which runs cleanup_devices (a failed rmmod of dm_cvol, a
# leaked reference, is a failure) and prints the TAP summary.
#
# SETUP HELPERS: load_cvol, mk_loop SIZE_MIB, mk_nullb SIZE_MIB [BS],
# dev_sectors DEV, kmsg_mark [LABEL], kmsg_since_mark,
# assert_no_kernel_warning [DESC] [--since-mark], cleanup_devices.

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

CVOL_LIB=$CVOL_ROOT/tests/vm/lib
source "$CVOL_LIB/tap.bash"
source "$CVOL_LIB/kernel.bash"
source "$CVOL_LIB/devices.bash"
source "$CVOL_LIB/jobs.bash"
