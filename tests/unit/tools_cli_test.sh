#!/usr/bin/env bash
# cvol-dmctl and cvol-events without a kernel: usage errors, input errors
# and the error when there is no device-mapper or no dm-cvol. The ioctl and
# netlink paths themselves run in the VM scenario dmclient_roundtrip.
# Usage: tools_cli_test.sh <cvol-dmctl> <cvol-events>
set -uo pipefail
dmctl=${1:?usage: $0 <cvol-dmctl> <cvol-events>}
events=${2:?usage: $0 <cvol-dmctl> <cvol-events>}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0

fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }

# expect_rc <code> <stderr substring> <command...>
expect_rc() {
	local want=$1 msg=$2 rc
	shift 2
	"$@" >"$tmp/out" 2>"$tmp/err" </dev/null
	rc=$?
	[ "$rc" = "$want" ] || fail "$*: exit $rc, want $want ($(cat "$tmp/err"))"
	grep -qF -- "$msg" "$tmp/err" || fail "$*: stderr lacks [$msg]: $(cat "$tmp/err")"
}

# cvol-dmctl: usage errors exit 2.
expect_rc 2 "Usage: cvol-dmctl" "$dmctl"
expect_rc 2 'unknown command "frob"' "$dmctl" frob x
expect_rc 2 "missing the device NAME" "$dmctl" status
expect_rc 2 "either --table or --table-file" "$dmctl" create v0
expect_rc 2 "either --table or --table-file" "$dmctl" create v0 --table "0 8 zero" --table-file /dev/null
expect_rc 2 "missing the message TEXT" "$dmctl" message v0
expect_rc 2 '--sector "x"' "$dmctl" message v0 --sector x map_get 0 1
expect_rc 2 "unrecognised option" "$dmctl" remove v0 --bogus
"$dmctl" --help >"$tmp/out" 2>&1 || fail "--help exited $?"
"$dmctl" message --help | grep -q -- "--sector" || fail "message --help lacks --sector"

# Table errors are found before any ioctl: exit 1 with the reason.
expect_rc 1 "the table has no lines" "$dmctl" create v0 --table ""
expect_rc 1 "cannot read table file" "$dmctl" create v0 --table-file "$tmp/nonexistent"
printf '# comment\n\n' >"$tmp/empty"
expect_rc 1 "the table has no lines" "$dmctl" reload v0 --table-file "$tmp/empty"
expect_rc 1 "cvol-dmctl create:" "$dmctl" create v0 --table "zero 8"

# A device that does not exist (or no device-mapper at all): exit 1, the
# operation and the name in the message.
expect_rc 1 'dm status "cvol-cli-test-nonexistent"' "$dmctl" status cvol-cli-test-nonexistent
expect_rc 1 'dm remove "cvol-cli-test-nonexistent"' "$dmctl" remove cvol-cli-test-nonexistent
expect_rc 1 'dm message "map_get 0 1" to "cvol-cli-test-nonexistent"' \
	"$dmctl" message cvol-cli-test-nonexistent map_get 0 1
# The migration verbs (target 1.2) go through as they are written.
expect_rc 1 'dm message "migrate_start 3 1 600" to "cvol-cli-test-nonexistent"' \
	"$dmctl" message cvol-cli-test-nonexistent migrate_start 3 1 600
expect_rc 1 'dm message "migrate_throttle 16 8" to "cvol-cli-test-nonexistent"' \
	"$dmctl" message cvol-cli-test-nonexistent -- migrate_throttle 16 8

# cvol-events.
expect_rc 2 '--count "-1"' "$events" --count -1
expect_rc 2 '--timeout-ms "1s"' "$events" --timeout-ms 1s
expect_rc 2 "unrecognised option" "$events" --bogus
"$events" --count 0 || fail "--count 0 should exit 0 at once"
"$events" --help | grep -q -- "--ready-file" || fail "--help lacks --ready-file"
rc=0
"$events" --timeout-ms 1 --ready-file "$tmp/ready" >"$tmp/out" 2>"$tmp/err" || rc=$?
case $rc in
1) grep -qF 'family "cvol" is not registered' "$tmp/err" ||
	fail "no family: unclear error: $(cat "$tmp/err")"
   [ ! -e "$tmp/ready" ] || fail "ready file created without a subscription" ;;
3) [ -e "$tmp/ready" ] || fail "subscribed but no ready file" ;; # dm-cvol loaded here
*) fail "cvol-events --timeout-ms 1: exit $rc: $(cat "$tmp/err")" ;;
esac

[ "$failures" -eq 0 ] && echo "tools_cli: all passed"
exit $((failures > 0))
