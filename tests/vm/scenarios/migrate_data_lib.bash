# shellcheck shell=bash
# migrate_data_lib.bash: helpers of the migrate_fio_verify, migrate_flakey and
# migrate_races VM scenarios (online
# extent migration, target 1.2). Not a scenario itself (run.sh only picks up
# *.sh). Source it after lib.sh and remap_lib.bash.
#
# INFO status (target 1.2):
#   <gen> <mapped>/<extents> <health> <#freezes> [freeze]... <#migrations>
#   [<vext>:<state>:<copied>/<regions>:<errors>]... <event_seq> <lost> <lease>
# `dmsetup status` prefixes "<start> <len> cvol", so the gen is field 4.

# mig_entries DM: one line "vext state copied regions errors" per migration.
mig_entries() {
	dmsetup status "$1" | awk '{
		i = 7 + $7 + 1; n = $i
		for (k = 1; k <= n; k++) {
			split($(i + k), a, ":"); split(a[3], b, "/")
			print a[1], a[2], b[1], b[2], a[4]
		}
	}'
}

# mig_count DM: number of migrations in the status.
mig_count() { dmsetup status "$1" | awk '{ i = 7 + $7 + 1; print $i }'; }

# mig_of DM VEXT: "state copied regions errors" of VEXT's migration, or "none".
mig_of() {
	local l
	l=$(mig_entries "$1" | awk -v v="$2" '$1 == v { print $2, $3, $4, $5 }')
	echo "${l:-none}"
}

# health DM: the health string (one character per slot).
health() { dmsetup status "$1" | awk '{ print $6 }'; }

# wait_mig DM VEXT STATE SECONDS: poll the status (every 0.1 s) until VEXT's
# migration is in STATE ("none" = gone). Returns 1 on timeout; prints the last
# "state copied regions errors" seen.
wait_mig() {
	local dm=$1 v=$2 want=$3 secs=$4 s t0
	t0=$(date +%s%N)
	while :; do
		s=$(mig_of "$dm" "$v")
		if [ "${s%% *}" = "$want" ]; then
			echo "$s"
			return 0
		fi
		if [ $((($(date +%s%N) - t0) / 1000000)) -ge $((secs * 1000)) ]; then
			echo "$s"
			return 1
		fi
		sleep 0.1
	done
}

# Event listener (cvol-events, JSON lines). ev_listen NAME: start it in the
# background into $W/NAME.jsonl; returns once it is subscribed.
EV=${CVOL_BUILD:-$CVOL_ROOT/build}/bin/cvol-events
ev_listen() {
	local name=$1 i
	rm -f "$W/$name.ready"
	"$EV" --ready-file "$W/$name.ready" >"$W/$name.jsonl" 2>"$W/$name.err" &
	echo $! >"$W/$name.pid"
	for ((i = 0; i < 100; i++)); do
		[ -e "$W/$name.ready" ] && return 0
		sleep 0.1
	done
	cat "$W/$name.err" >&2
	return 1
}
ev_stop() { kill "$(cat "$W/$1.pid")" 2>/dev/null || true; }
# ev_of NAME UUID [TYPE]: the JSON events of one volume (of one type).
ev_of() {
	if [ -n "${3:-}" ]; then
		jq -c --arg u "$2" --arg t "$3" 'select(.uuid == $u and .type == $t)' "$W/$1.jsonl"
	else
		jq -c --arg u "$2" 'select(.uuid == $u)' "$W/$1.jsonl"
	fi
}
# ev_wait NAME UUID TYPE VEXT SECONDS: wait until an event TYPE for VEXT came.
ev_wait() {
	local i
	for ((i = 0; i < $5 * 10; i++)); do
		[ -n "$(ev_of "$1" "$2" "$3" | jq -c --argjson v "$4" 'select(.vext == $v)')" ] && return 0
		sleep 0.1
	done
	return 1
}

# raw_ext DEV PEXT EXT_SECTORS [OFFSET_SECTORS]: the bytes of physical extent
# PEXT of a slot (O_DIRECT, so no stale page cache) on stdout.
raw_ext() {
	dd if="$1" bs=512 skip=$((${4:-0} + $2 * $3)) count="$3" iflag=direct status=none
}

# flakey/linear/delay reloads of a helper dm device: load, noflush suspend,
# resume.
dm_reload() {
	local dm=$1
	shift
	dmsetup load "$dm" --table "$*" && dmsetup suspend --noflush "$dm" && dmsetup resume "$dm"
}
