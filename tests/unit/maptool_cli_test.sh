#!/usr/bin/env bash
# cvol-maptool as the VM tests use it: expected outputs and exit codes.
# Usage: maptool_cli_test.sh <path to cvol-maptool>
set -uo pipefail
tool=${1:?usage: $0 <cvol-maptool>}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0

fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }

# expect_out <expected stdout> <command...>
expect_out() {
	local want=$1 got
	shift
	got=$("$@" 2>"$tmp/err") || fail "$* exited $? ($(cat "$tmp/err"))"
	[ "$got" = "$want" ] || fail "$*: got [$got] want [$want]"
}

# expect_rc <code> <stderr substring> <command...>
expect_rc() {
	local want=$1 msg=$2 rc
	shift 2
	"$@" >"$tmp/out" 2>"$tmp/err" </dev/null
	rc=$?
	[ "$rc" = "$want" ] || fail "$*: exit $rc, want $want"
	grep -qF -- "$msg" "$tmp/err" || fail "$*: stderr lacks [$msg]: $(cat "$tmp/err")"
}

# table: linear and striped layouts.
expect_out "0 64 cvol vol1 8 2 /dev/vdb 2048 7:16 0 4 map_runs 2 0:0:0:4 4:1:0:4" \
	"$tool" table --uuid vol1 --extent-sectors 8 --extents 8 --dev /dev/vdb:2048 --dev 7:16:0
expect_out "0 32 cvol v 8 2 /dev/a 0 /dev/b 0 6 map_runs 4 0:0:0:1 1:1:0:1 2:0:1:1 3:1:1:1" \
	"$tool" table --uuid v --extent-sectors 8 --extents 4 --dev /dev/a:0 --dev /dev/b:0 --layout striped
expect_out "0 100 cvol v 8 3 /dev/a 0 - 0 /dev/b 0 9 map_gen 5 map_runs 2 0:0:0:2 2:2:0:2 freeze_timeout_ms 100 unmapped_zero" \
	"$tool" table --uuid v --extent-sectors 8 --extents 4 --dev /dev/a:0 --dev -:0 --dev /dev/b:0 \
	--len 100 --map-gen 5 --freeze-timeout-ms 100 --unmapped-zero
expect_out "0 16 cvol v 8 1 /dev/a 0" \
	"$tool" table --uuid v --extent-sectors 8 --extents 2 --dev /dev/a:0 --no-runs

# A random table is reproducible and passes check unchanged.
"$tool" table --uuid r --extent-sectors 16 --extents 500 --dev /dev/a:0 --dev /dev/b:8 \
	--layout random --seed 7 --dev-extents 400 --unmapped-percent 10 >"$tmp/random" ||
	fail "random table"
"$tool" table --uuid r --extent-sectors 16 --extents 500 --dev /dev/a:0 --dev /dev/b:8 \
	--layout random --seed 7 --dev-extents 400 --unmapped-percent 10 | cmp -s - "$tmp/random" ||
	fail "random table not reproducible"
expect_out "$(cat "$tmp/random")" "$tool" check -i "$tmp/random"
[ "$("$tool" expand -i "$tmp/random" | wc -l)" = 450 ] || fail "expand count"

# runs and expand read tables (also with a dmsetup name prefix) and runs.
echo "vol1: 0 48 cvol v 8 1 /dev/a 0 4 map_runs 2 0:0:3:2 3:0:5:1" >"$tmp/t"
expect_out $'0:0:3:2\n3:0:5:1' "$tool" runs -i "$tmp/t"
expect_out $'0 0 3\n1 0 4\n3 0 5' bash -c "'$tool' runs -i '$tmp/t' | '$tool' expand"
echo "0:0:3:1 1:0:4:1" >"$tmp/nonmaximal"
expect_out "0:0:3:2" "$tool" runs -i "$tmp/nonmaximal"
expect_out $'0 0 3\n1 0 4\n3 0 5' "$tool" expand -i "$tmp/t"
expect_out "" "$tool" expand -i /dev/null

# diff: messages with generations, items only, splitting.
echo "0:0:0:4" >"$tmp/from"
echo "0:0:0:1 1:1:7:2" >"$tmp/to"
expect_out "map_set 3 1:1:7:2 3:-:0" "$tool" diff --from "$tmp/from" --to "$tmp/to" --gen 3
expect_out $'1:1:7:2\n3:-:0' "$tool" diff --from "$tmp/from" --to "$tmp/to" --items-only --max-items 1
expect_out $'map_set 3 1:1:7:2\nmap_set 4 3:-:0' \
	"$tool" diff --from "$tmp/from" --to "$tmp/to" --gen 3 --max-bytes 40
expect_out "" "$tool" diff --from "$tmp/from" --to "$tmp/from" --gen 3
echo "0 32 cvol v 8 2 /dev/a 0 /dev/b 0 5 map_gen 7 map_runs 1 0:0:0:4" >"$tmp/from_table"
expect_out "map_set 7 1:1:7:2 3:-:0" "$tool" diff --from "$tmp/from_table" --to "$tmp/to"

# linear-equivalent.
expect_out $'0 16 linear /dev/a 24\n16 8 error\n24 8 linear /dev/a 40\n32 16 error' \
	"$tool" linear-equivalent -i "$tmp/t"

# status.
expect_out $'map_gen=4\nmapped=3\ntotal=6\nhealth=A-' \
	bash -c "echo '0 48 cvol 4 3/6 A-' | '$tool' status"

# Usage errors exit 2 and say what to do; other errors exit 1.
expect_rc 2 "Usage: cvol-maptool <command>" "$tool"
expect_rc 2 'unknown command "frob"' "$tool" frob
expect_rc 2 "--uuid is required" "$tool" table --extent-sectors 8 --extents 4 --dev a:0
expect_rc 2 "at least one --dev" "$tool" table --uuid v --extent-sectors 8 --extents 4
expect_rc 2 "expected PATH:OFFSET" "$tool" table --uuid v --extent-sectors 8 --extents 4 --dev /dev/a
expect_rc 2 '--extents "0x4": hex' "$tool" table --uuid v --extent-sectors 8 --extents 0x4 --dev a:0
expect_rc 2 'extent_sectors "12"' "$tool" table --uuid v --extent-sectors 12 --extents 4 --dev a:0
expect_rc 2 "unrecognised option" "$tool" table --bogus
expect_rc 2 "Try 'cvol-maptool diff --help'" "$tool" diff --from "$tmp/from"
expect_rc 2 "give --gen G or --items-only" "$tool" diff --from "$tmp/from" --to "$tmp/to"
expect_rc 2 "the devices hold 2 extents" \
	"$tool" runs --extents 4 --dev a:0 --dev-extents 2
expect_rc 1 "cannot open" "$tool" expand -i "$tmp/missing"
expect_rc 1 "device index 3 out of range" bash -c "echo 'v 8 1 /dev/a 0 3 map_runs 1 0:3:0:1' | '$tool' check"
expect_rc 1 'run "0:0:0": expected' bash -c "echo '0:0:0' | '$tool' expand"
expect_rc 1 "unknown character" bash -c "echo '1 1/1 Z' | '$tool' status"

# --help for every command exits 0.
for cmd in table runs diff expand linear-equivalent check status; do
	"$tool" "$cmd" --help >"$tmp/out" 2>&1 || fail "$cmd --help exited $?"
	grep -q "Usage: cvol-maptool $cmd" "$tmp/out" || fail "$cmd --help has no usage line"
done
"$tool" --help >/dev/null || fail "--help exited $?"

if [ "$failures" -ne 0 ]; then
	echo "$failures failure(s)" >&2
	exit 1
fi
echo "maptool_cli: all passed"
