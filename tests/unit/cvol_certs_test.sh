#!/usr/bin/env bash
# scripts/cvol-certs and the usage of scripts/cvol-etcd-auth (which the
# store tests run against a real etcd): certificates verify against their
# CA, carry the right names and key usages, keys are private, a second run
# keeps what is valid, and usage errors exit 2.
# Usage: cvol_certs_test.sh <scripts dir>
set -uo pipefail
scripts=${1:?usage: $0 <scripts dir>}
certs=$scripts/cvol-certs
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0

fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
ok() { "$@" >"$tmp/out" 2>&1 || fail "$* exited $? ($(cat "$tmp/out"))"; }

# expect_rc <code> <command...>
expect_rc() {
	local want=$1 rc
	shift
	"$@" >"$tmp/out" 2>&1 </dev/null
	rc=$?
	[ "$rc" = "$want" ] || fail "$*: exit $rc, want $want ($(cat "$tmp/out"))"
}

# has <file.crt> <text>: the certificate's text shows <text>.
has() {
	openssl x509 -in "$1" -noout -text | grep -qF -- "$2" || fail "$1 lacks [$2]"
}

mode() { stat -c %a "$1"; }

d=$tmp/pki
ok "$certs" ca "$d"
ok "$certs" etcd "$d" e1 10.0.0.1 10.0.0.2
ok "$certs" host "$d" h1
ok "$certs" client "$d" root

for crt in ca etcd-e1 cvol-h1 root; do
	openssl verify -CAfile "$d/ca.crt" "$d/$crt.crt" >/dev/null 2>&1 || fail "$crt does not verify"
	[ "$(mode "$d/$crt.key")" = 600 ] || fail "$crt.key has mode $(mode "$d/$crt.key")"
done
has "$d/ca.crt" "CA:TRUE"
has "$d/ca.crt" "Certificate Sign"
has "$d/etcd-e1.crt" "DNS:e1, IP Address:10.0.0.1, IP Address:10.0.0.2, IP Address:127.0.0.1"
has "$d/etcd-e1.crt" "TLS Web Server Authentication, TLS Web Client Authentication"
has "$d/etcd-e1.crt" "CA:FALSE"
has "$d/cvol-h1.crt" "DNS:h1"
has "$d/cvol-h1.crt" "TLS Web Server Authentication, TLS Web Client Authentication"
has "$d/root.crt" "TLS Web Client Authentication"
# A gateway client certificate must have no CN (etcd refuses it with auth on).
subject=$(openssl x509 -in "$d/cvol-h1.crt" -noout -subject)
case $subject in *CN*) fail "host certificate has a CN: $subject" ;; esac
case $subject in *cvol-h1*) ;; *) fail "host certificate subject lacks cvol-h1: $subject" ;; esac
openssl x509 -in "$d/root.crt" -noout -subject | grep -q "CN = root" || fail "client CN is not root"
# The key matches its certificate.
[ "$(openssl x509 -in "$d/cvol-h1.crt" -noout -pubkey)" = "$(openssl pkey -in "$d/cvol-h1.key" -pubout)" ] ||
	fail "cvol-h1.key does not match cvol-h1.crt"

# A second run keeps what is valid; --force issues anew.
before=$(openssl x509 -in "$d/cvol-h1.crt" -noout -serial)
ok "$certs" host "$d" h1
grep -q "^kept" "$tmp/out" || fail "second run did not keep cvol-h1: $(cat "$tmp/out")"
[ "$before" = "$(openssl x509 -in "$d/cvol-h1.crt" -noout -serial)" ] || fail "cvol-h1 re-issued"
ok "$certs" --force host "$d" h1
[ "$before" != "$(openssl x509 -in "$d/cvol-h1.crt" -noout -serial)" ] || fail "--force kept cvol-h1"
ok "$certs" ca "$d"
grep -q "^kept" "$tmp/out" || fail "second run made a new CA"

# A certificate from another CA is not kept: it is issued anew by ours.
ok "$certs" ca "$tmp/other"
ok "$certs" host "$tmp/other" h2
cp "$tmp/other/cvol-h2.crt" "$tmp/other/cvol-h2.key" "$d/"
ok "$certs" host "$d" h2
openssl verify -CAfile "$d/ca.crt" "$d/cvol-h2.crt" >/dev/null 2>&1 || fail "foreign cvol-h2 kept"

# Usage and failures.
expect_rc 2 "$certs"
expect_rc 2 "$certs" bogus "$d"
expect_rc 2 "$certs" host "$d"
expect_rc 2 "$certs" --days x host "$d" h3
expect_rc 1 "$certs" host "$tmp/no-ca" h1
expect_rc 1 "$certs" host "$d" "bad/name"
expect_rc 1 "$certs" etcd "$d" e2 not-an-ip
expect_rc 2 "$scripts/cvol-etcd-auth"
expect_rc 2 "$scripts/cvol-etcd-auth" --endpoints https://127.0.0.1:1 --out "$tmp"

if [ "$failures" -ne 0 ]; then
	echo "$failures failure(s)" >&2
	exit 1
fi
echo "cvol-certs: all checks passed"
