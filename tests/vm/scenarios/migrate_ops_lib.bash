# shellcheck shell=bash
# migrate_ops_lib.bash: helpers of the migrate_lifecycle.sh and
# migrate_ext4.sh VM scenarios. Not a scenario itself (run.sh only picks up
# *.sh). Source it after lib.sh and remap_lib.bash.
#
# Status (target 1.2.0):
#   <start> <len> cvol <gen> <mapped>/<extents> <health> <#freezes> [freeze]...
#       <#migrations> [<vext>:<state>:<copied>/<regions>:<errors>]...
#       <event_seq> <lost> <lease>
# Field 7 is #freezes, so #migrations is field 8 + #freezes.

# mig_list DMNAME: "<#migrations> [entries...]" from the status.
mig_list() {
	dmsetup status "$1" | awk '{ i = 8 + $7; n = $i; s = n; for (k = 1; k <= n; k++) s = s " " $(i + k); print s }'
}

# mig_entry DMNAME VEXT: "<state> <copied> <regions> <errors>" of the
# migration of VEXT, or nothing when there is none.
mig_entry() {
	dmsetup status "$1" | awk -v v="$2" '{
		i = 8 + $7; n = $i
		for (k = 1; k <= n; k++) {
			split($(i + k), a, ":")
			if (a[1] == v) { split(a[3], c, "/"); print a[2], c[1], c[2], a[4]; exit }
		}
	}'
}

# wait_copied DMNAME VEXT MIN TIMEOUT_S: waits until the migration of VEXT
# has copied at least MIN regions (or is ready); prints its entry. Fails
# on timeout or when the migration is gone.
wait_copied() {
	local dm=$1 v=$2 min=$3 t=$4 e i
	for ((i = 0; i < t * 10; i++)); do
		e=$(mig_entry "$dm" "$v")
		[ -n "$e" ] || { echo "no migration on $v" >&2; return 1; }
		set -- $e
		if [ "$1" = ready ] || { [ "$1" = copy ] && [ "$2" -ge "$min" ]; }; then
			echo "$e"
			return 0
		fi
		sleep 0.1
	done
	echo "timeout; last: $e" >&2
	return 1
}

# wait_state DMNAME VEXT STATE TIMEOUT_S: waits until the migration of VEXT
# is in STATE; prints its entry.
wait_state() {
	local dm=$1 v=$2 st=$3 t=$4 e i
	for ((i = 0; i < t * 10; i++)); do
		e=$(mig_entry "$dm" "$v")
		if [ "${e%% *}" = "$st" ]; then
			echo "$e"
			return 0
		fi
		sleep 0.1
	done
	echo "timeout waiting for $st on $v; last: '$e'" >&2
	return 1
}

# dev_stat DEV FIELD: field of /sys/.../stat (1 reads, 5 writes completed).
dev_stat() { awk -v f="$2" '{ print $f }' "$(sysfs_dir "$1")/stat"; }

# Event type numbers of the migration events, from the uapi header (in
# case cvol-events is older than the kernel and prints "unknown_<n>").
_mig_ev_num() {
	awk -v want="$1" '
		/^enum cvol_event_type/ { f = 1; n = 0; next }
		f && /CVOL_EV_/ { name = $1; sub(/,$/, "", name); if (name == want) { print n; exit } n++ }
		f && /}/ { exit }' "$CVOL_ROOT/include/uapi/linux/dm-cvol.h"
}
MIG_EV_JQ_NORM=$(
	for t in MIGRATE_STARTED MIGRATE_READY MIGRATE_DONE MIGRATE_FAILED MIGRATE_ABORTED DST_WRITE_ERROR; do
		n=$(_mig_ev_num "CVOL_EV_$t")
		lc=$(echo "$t" | tr 'A-Z' 'a-z')
		[ -z "$n" ] || printf 'if .type == "unknown_%s" or .type == "%s" then .type = "%s" else . end | ' "$n" "$n" "$lc"
	done
	echo .
)

# ev_listen FILE UUID: cvol-events for UUID in the background into FILE
# (JSON lines), returning once subscribed. Sets EV_PID.
ev_listen() {
	local f=$1 u=$2 i
	rm -f "$f.ready"
	"$CVOL_BUILD/bin/cvol-events" --uuid "$u" --ready-file "$f.ready" >"$f" 2>"$f.err" &
	EV_PID=$!
	for ((i = 0; i < 100; i++)); do
		[ -e "$f.ready" ] && return 0
		sleep 0.1
	done
	cat "$f.err" >&2
	return 1
}

# ev_all FILE: the events with migration types normalised to their names.
ev_all() { jq -c "$MIG_EV_JQ_NORM" "$1"; }
