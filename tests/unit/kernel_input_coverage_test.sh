#!/usr/bin/env bash
# The "Malformed input the VM scenarios try" section of docs/target.md is
# what scripts/kernel-input-coverage makes of the scenarios as they are (so
# the counts cannot rot), and the script recognises every form of expected
# failure the scenarios use (a small scenario of each form, below).
# Usage: kernel_input_coverage_test.sh <source root>
set -uo pipefail
root=${1:?usage: $0 <source root>}
tool=$root/scripts/kernel-input-coverage
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0

fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }

# 1. The doc is up to date.
if ! "${PYTHON:-python3}" "$tool" --root "$root" --check "$root/docs/target.md"; then
	fail "docs/target.md is out of date: run scripts/kernel-input-coverage --update docs/target.md"
fi

# 2. The forms, on a copy of the kernel sources and one made-up scenario.
mkdir -p "$tmp/kernel" "$tmp/include/uapi/linux" "$tmp/tests/vm/scenarios"
cp "$root"/kernel/*.c "$tmp/kernel/"
cp "$root/include/uapi/linux/dm-cvol.h" "$tmp/include/uapi/linux/"
cat >"$tmp/tests/vm/scenarios/forms.sh" <<'EOF'
GEN=1
EINVAL='Invalid argument'
msg v fence
check "a good message does not count" -- msg v freeze 0 1
check_fail "check_fail msg" -- msg v thaw x
check_fail "check_fail dmsetup message" -- dmsetup message v 0 "unfence y"
for m in "lease x" "lease 1 2 3"; do
	check_fail "loop $m" -- msg v $m
done
bg_timed j1 msg v map_set $GEN 1:0:1
check_fail "a job" -- test "$(rc_of j1)" = 0
bad_table "extent size in hex" "Invalid extent size" "0 8 cvol u 0x8 1 /dev/x 0"
bad_msg "bad_msg" migrate_commit x
bad "$EINVAL" "bad" migrate_abort x
expect_dmctl_error "dmctl" "dm message .*Invalid argument" message v stats x 1
check_fail "reload with map_gen 7" -- dmsetup reload v --table "0 8 cvol u 8 1 /dev/x 0 2 map_gen 7"
check_fail "dm_reload" -- dm_reload v "0 8 cvol u 8 1 /dev/x 8 2 region_sectors x"
check_fail "a device that never exists" -- msg nosuchdev map_get 0 1
EOF
out=$("${PYTHON:-python3}" "$tool" --root "$tmp") || fail "the script failed on the made-up scenario"
expect_count() { # KIND NAME N
	grep -qE "^$1 +$(sed 's/[.[\*^$()+?{|]/\\&/g' <<<"$2") +$3\$" <<<"$out" ||
		fail "want $1 $2 = $3, got: $(grep -E "^$1 +$2 " <<<"$out")"
}
for v in thaw unfence map_set migrate_commit migrate_abort stats; do
	expect_count msg "$v" 1
done
expect_count msg lease 2
expect_count msg freeze 0
expect_count msg map_get 0
expect_count table extent_sectors 1
expect_count table map_gen 1
expect_count table region_sectors 1
grep -q 'forms.sh:14: migrate_abort x  \[EINVAL; ' <<<"$out" || fail "bad's errno not seen"
grep -q 'forms.sh:11: map_set \$GEN 1:0:1$' <<<"$out" || fail "the job's message not seen"
grep -q 'forms.sh:8: lease 1 2 3  \[extra word/' <<<"$out" || fail "the extra word not seen"

[ "$failures" -eq 0 ] || { echo "$failures failure(s)" >&2; exit 1; }
echo "kernel_input_coverage: ok"
