#!/usr/bin/env bash
# scripts/cvol-etcd-auth against a real etcd (TLS, client certificates):
# users and password files made; a second cluster sharing the etcd with the
# same host names is refused unless it takes its own --user-prefix (it
# would lock the first cluster's hosts out, or join their role); a missing
# password file for an existing user needs --rotate-password; a password
# file that is a symbolic link is never written through.
# Usage: cvol_etcd_auth_test.sh <repository root>
set -uo pipefail
root=${1:?usage: $0 <repository root>}
tmp=$(mktemp -d)
etcd_pid=
trap '[ -z "$etcd_pid" ] || kill "$etcd_pid" 2>/dev/null; rm -rf "$tmp"' EXIT
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
cd "$tmp" || exit 1
certs=$root/scripts/cvol-certs
"$certs" ca . >/dev/null && "$certs" etcd . e1 127.0.0.1 >/dev/null &&
	"$certs" client . root >/dev/null || { echo "FAIL: cvol-certs" >&2; exit 1; }
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
cp=$(port) pp=$(port)
etcd --name e1 --data-dir "$tmp/data" --listen-client-urls "https://127.0.0.1:$cp" \
	--advertise-client-urls "https://127.0.0.1:$cp" --listen-peer-urls "http://127.0.0.1:$pp" \
	--initial-advertise-peer-urls "http://127.0.0.1:$pp" --initial-cluster "e1=http://127.0.0.1:$pp" \
	--cert-file etcd-e1.crt --key-file etcd-e1.key --trusted-ca-file ca.crt --client-cert-auth \
	--bcrypt-cost 4 >"$tmp/etcd.log" 2>&1 &
etcd_pid=$!
for _ in $(seq 100); do
	etcdctl --endpoints "https://127.0.0.1:$cp" --cacert ca.crt --cert root.crt --key root.key \
		endpoint health >/dev/null 2>&1 && break
	sleep 0.1
done
auth() {
	"$root/scripts/cvol-etcd-auth" --endpoints "https://127.0.0.1:$cp" --cacert ca.crt \
		--cert root.crt --key root.key --root-password-file root.pw "$@" >"$tmp/out" 2>&1
}
auth --out c1 h1 h2 || fail "first cluster: $(cat "$tmp/out")"
for f in c1/cvol-h1.etcd-password c1/cvol-h2.etcd-password root.pw; do
	[ "$(stat -c %a "$f" 2>/dev/null)" = 600 ] || fail "$f not mode 600"
done
before=$(cat c1/cvol-h1.etcd-password)
auth --out c2 --prefix /c2/ --role cvol-c2 h1 && fail "a second cluster reused cvol-h1"
grep -q "exists but" "$tmp/out" || fail "no reason given: $(cat "$tmp/out")"
etcdctl --endpoints "https://127.0.0.1:$cp" --cacert ca.crt --cert root.crt --key root.key \
	--user "cvol-h1:$before" get /cvol/x >/dev/null 2>&1 || fail "cvol-h1's password changed"
auth --out c2 --prefix /c2/ --role cvol-c2 --user-prefix c2- h1 ||
	fail "with its own --user-prefix: $(cat "$tmp/out")"
[ -s c2/c2-h1.etcd-password ] || fail "no c2/c2-h1.etcd-password"
rm c1/cvol-h2.etcd-password
auth --out c1 h2 && fail "a missing password file of an existing user was replaced silently"
auth --out c1 --rotate-password h2 || fail "--rotate-password: $(cat "$tmp/out")"
[ -s c1/cvol-h2.etcd-password ] || fail "no new password file"
ln -s "$tmp/elsewhere" c1/cvol-h3.etcd-password
auth --out c1 h3 && fail "wrote a password through a symbolic link"
[ ! -e "$tmp/elsewhere" ] || fail "the link's target was written"
[ "$failures" -eq 0 ] && echo "ok"
exit $((failures > 0))
