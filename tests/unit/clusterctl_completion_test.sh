#!/bin/bash
# The clusterctl bash completion: it parses, completes nouns, verbs and
# options, and completes names from `clusterctl ... list --json` (a stub
# stands in for clusterctl and cvold).
set -u
completion=$1
fail=0

bash -n "$completion" || { echo "FAIL: bash -n $completion"; exit 1; }
source "$completion"

stub=$(mktemp)
trap 'rm -f "$stub"' EXIT
cat > "$stub" <<'STUB'
#!/bin/bash
case "$*" in
  *"volume list --json") echo '{"volumes":[{"name":"pool1/vol1","runs":[{"pv":"pv1"}]},{"name":"pool1/db"}]}' ;;
  *"pool list --json") echo '{"pools":[{"name":"pool1"},{"name":"fast"}]}' ;;
  *"pv list --json") echo '{"pvs":[{"name":"pv1"},{"name":"pv2"}]}' ;;
  *) exit 5 ;;
esac
STUB
chmod +x "$stub"

# expect "<words...>" "<expected COMPREPLY, space separated>"
expect() {
    local line=$1 want=$2
    read -r -a COMP_WORDS <<< "$line"
    [[ $line == *" " ]] && COMP_WORDS+=("")
    COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))
    COMPREPLY=()
    _clusterctl
    local got="${COMPREPLY[*]}"
    if [[ $got != "$want" ]]; then
        echo "FAIL: '$line' completed to '$got', want '$want'"
        fail=1
    else
        echo "ok: '$line' -> '$got'"
    fi
}

expect "clusterctl vol" "volume"
expect "clusterctl p" "pv pool"
expect "clusterctl volume " "create list show resize remove move"
expect "clusterctl volume re" "resize remove"
expect "clusterctl --json volume cr" "create"
expect "clusterctl volume move p/v --w" "--wait"
expect "clusterctl pool create p --ext" "--extent-size"
expect "clusterctl help vo" "volume"
expect "$stub volume show " "pool1/vol1 pool1/db"
expect "$stub volume show pool1/v" "pool1/vol1"
expect "$stub pool show f" "fast"
expect "$stub pv remove " "pv1 pv2"
expect "$stub volume list --pool " "pool1 fast"
expect "$stub volume move pool1/vol1 --extent 1 --to-pv pv" "pv1 pv2"
# Without jq the same names come from the JSON text.
command() { if [[ $1 == -v && $2 == jq ]]; then return 1; fi; builtin command "$@"; }
expect "$stub volume show " "pool1/vol1 pool1/db"
unset -f command
# No daemon: no names, no noise.
expect "/bin/false volume show " ""

exit $fail
