# shellcheck shell=bash
# events.bash: the cvol event stream (cvol-events, generic netlink family
# "cvol", group "events", one JSON object per line). Source after
# tests/vm/lib.sh; see tests/vm/lib/README.md.
#
# A listener has a NAME; its files are in the scenario's work directory $W:
# NAME.jsonl (the events), NAME.err, NAME.ready, NAME.pid.
#   ev_listen NAME [ARG...] start cvol-events ARG... (e.g. --uuid U) in the
#                           background; returns once it is subscribed (10 s
#                           at most; then its stderr goes to ours)
#   ev_listen_netns NAME [ARG...]
#                           the same in a new network namespace
#   ev_listen_wrapped NAME WRAPPER...
#                           the same, run under WRAPPER (e.g. setpriv)
#   ev_pid NAME             the listener's pid
#   ev_stop NAME            stop it
#   ev_of NAME UUID [TYPE]  the events of one volume (of one type), JSON lines
#   ev_wait NAME UUID TYPE VEXT SECS
#                           until an event TYPE for VEXT came (SECS*10 polls)
#   ev_wait_count NAME UUID N
#                           until N events of UUID came (200 polls, 0.1 s)
#   ev_no_gaps NAME UUID    the seq numbers of UUID's events are 1.. without
#                           gaps or repeats
#   ev_normalise FILE       the events of FILE with the migration event types
#                           by name (an older cvol-events prints a type it
#                           does not know as "unknown_<n>")

[ -z "${_CVOL_LIB_EVENTS:-}" ] || return 0
_CVOL_LIB_EVENTS=1

EV=$CVOL_BUILD/bin/cvol-events
# A command ev_listen runs cvol-events under (ev_listen_netns sets it).
_EV_WRAP=()

ev_listen() {
	local name=$1 i
	shift
	rm -f "$W/$name.ready"
	"${_EV_WRAP[@]}" "$EV" "$@" --ready-file "$W/$name.ready" >"$W/$name.jsonl" 2>"$W/$name.err" &
	echo $! >"$W/$name.pid"
	for ((i = 0; i < 100; i++)); do
		[ -e "$W/$name.ready" ] && return 0
		sleep 0.1
	done
	cat "$W/$name.err" >&2
	return 1
}
ev_listen_netns() {
	local -a _EV_WRAP=(unshare -n)
	ev_listen "$@"
}
ev_listen_wrapped() { # NAME WRAPPER... (no listener arguments)
	local name=$1
	shift
	local -a _EV_WRAP=("$@")
	ev_listen "$name"
}
ev_pid() { cat "$W/$1.pid"; }
ev_stop() { kill "$(cat "$W/$1.pid")" 2>/dev/null || true; }

ev_of() {
	if [ -n "${3:-}" ]; then
		jq -c --arg u "$2" --arg t "$3" 'select(.uuid == $u and .type == $t)' "$W/$1.jsonl"
	else
		jq -c --arg u "$2" 'select(.uuid == $u)' "$W/$1.jsonl"
	fi
}

ev_wait() {
	local i
	for ((i = 0; i < $5 * 10; i++)); do
		[ -n "$(ev_of "$1" "$2" "$3" | jq -c --argjson v "$4" 'select(.vext == $v)')" ] && return 0
		sleep 0.1
	done
	return 1
}

_ev_count_ge() { [ "$(ev_of "$1" "$2" | wc -l)" -ge "$3" ]; }
ev_wait_count() { poll 200 0.1 _ev_count_ge "$@"; }

ev_no_gaps() {
	ev_of "$1" "$2" | jq -s -e 'map(.seq) as $s | $s == [range(1; ($s | length) + 1)]' >/dev/null
}

# The jq filter of ev_normalise, from the uapi header's enum (its order is
# the type numbering).
_EV_NORM_JQ=$(awk -v want="MIGRATE_STARTED MIGRATE_READY MIGRATE_DONE MIGRATE_FAILED MIGRATE_ABORTED DST_WRITE_ERROR" '
	/^enum cvol_event_type/ { f = 1; n = 0; next }
	f && /}/ { f = 0 }
	f && /CVOL_EV_/ { name = $1; sub(/,$/, "", name); num[name] = n++ }
	END {
		k = split(want, w, " ")
		for (i = 1; i <= k; i++) {
			name = "CVOL_EV_" w[i]
			if (name in num)
				printf "if .type == \"unknown_%s\" or .type == \"%s\" then .type = \"%s\" else . end | ", num[name], num[name], tolower(w[i])
		}
		print "."
	}' "$CVOL_ROOT/include/uapi/linux/dm-cvol.h")

ev_normalise() { jq -c "$_EV_NORM_JQ" "$1"; }
