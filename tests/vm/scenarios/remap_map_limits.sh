#!/usr/bin/env bash
# timeout: 240
# mem: 3072
#
# The extent map at the limits the target advertises (CVOL_MAX_EXTENTS =
# 2^27 extents per volume, 8 bytes of kernel memory per extent).
#   1. A table line with exactly 2^27 extents (and one with 2^27 + 1, which
#      must be refused) is within the limits: it must
#      load, or be refused with a clean error; either way the kernel must
#      log no WARNING (invariant 5).
#   2. A volume of 2^27 - 8 extents (a 1 GiB map in a 3 GiB guest) loads;
#      reloading it with the same line (no map_runs: it adopts the live map)
#      must not need a second full-size map: the reload must succeed without
#      invoking the OOM killer. (The reloading dmsetup runs with
#      oom_score_adj 1000 so that an OOM kill hits it, not the scenario.)
source "$CVOL_ROOT/tests/vm/lib.sh"
source "$CVOL_ROOT/tests/vm/lib/remap.bash"

load_cvol
NB=$(mk_nullb 64)

kmsg_mark "2^27 extents"
rc=0
dmsetup create m1 --table "0 1073741824 cvol ml-1 8 1 $NB 0" >/dev/null 2>&1 || rc=$?
plan_note "create with 2^27 extents: exit status $rc"
log=$(kmsg_since_mark)
assert_eq "2^27 extents (the advertised maximum): no kernel WARNING" "" \
	"$(grep -E 'WARNING:|BUG:|Call Trace' <<<"$log" | head -3 || true)"
if [ "$rc" -ne 0 ]; then
	assert_match "refused with a cvol reason" 'device-mapper: table: .*: cvol: ' "$log"
else
	check "remove it" -- dmsetup remove m1
fi
# The run's verdict also scans the whole kernel log; once a WARNING is
# there, every later step would be blamed on it. Keep going anyway: the
# second part is independent.

check_fail "2^27 + 1 extents are refused" -- dmsetup create m0 --table "0 $((1073741824 + 8)) cvol ml-0 8 1 $NB 0"
L=$((1073741824 - 64)) # 2^27 - 8 extents of 8 sectors
check "create a volume of 2^27-8 extents (1 GiB map)" -- dmsetup create m2 --table "0 $L cvol ml-2 8 1 $NB 0"
plan_note "$(free -m | sed -n 2p)"
kmsg_mark "reload"
rc=0
(echo 1000 >/proc/self/oom_score_adj && exec dmsetup reload m2 --table "0 $L cvol ml-2 8 1 $NB 0") \
	>/dev/null 2>&1 || rc=$?
log=$(kmsg_since_mark)
assert_eq "reload of the same line succeeds" 0 "$rc"
assert_eq "the reload did not invoke the OOM killer" "" "$(grep -E 'invoked oom-killer|Out of memory' <<<"$log" | head -2 || true)"
if [ "$rc" -eq 0 ]; then
	check "resume" -- dmsetup resume m2
fi
check "the device still works: status" -- dmsetup status m2
check "remove" -- dmsetup remove m2
finish
