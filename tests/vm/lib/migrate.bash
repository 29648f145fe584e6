# shellcheck shell=bash
# migrate.bash: the migrations in the cvol status (online extent migration,
# target 1.2). Source after tests/vm/lib.sh; it sources remap.bash. See
# tests/vm/lib/README.md.
#
# One migration entry of the status is <vext>:<state>:<copied>/<regions>:
# <errors>; states start, copy, ready, failed, abort. Here it is printed as
# "state copied regions errors" (mig_of) or "vext state copied regions
# errors" (mig_entries); "none" means no migration of that extent.
#   mig_entries DM          one line "vext state copied regions errors" per
#                           migration
#   mig_count DM            the number of migrations
#   mig_list DM             "<#migrations> [raw entries...]" as in the status
#   mig_of DM VEXT          VEXT's "state copied regions errors", or "none"
# Waiting (every one polls the status every 0.1 s and prints the last
# "state copied regions errors" it saw, or "none"):
#   wait_mig DM VEXT STATE SECS
#                           until VEXT's migration is in STATE ("none":
#                           gone); a deadline of SECS wall-clock seconds
#   wait_state DM VEXT STATE SECS
#                           the same, with up to SECS*10 polls (slower than
#                           SECS under load); on timeout a line on stderr
#   wait_copied DM VEXT MIN SECS
#                           until VEXT's migration has copied MIN regions or
#                           is ready; fails at once when there is none; up
#                           to SECS*10 polls, a line on stderr on failure

[ -z "${_CVOL_LIB_MIGRATE:-}" ] || return 0
_CVOL_LIB_MIGRATE=1

# shellcheck source=remap.bash
source "$CVOL_ROOT/tests/vm/lib/remap.bash"

# The one parser of the migration part of the status. MODE: all (every
# entry), one (VEXT's, or "none"), count, list. Field 7 is #freezes, so
# #migrations is field 8 + #freezes.
_mig_status() {
	dmsetup status "$1" | awk -v mode="$2" -v v="${3:-}" '{
		i = 8 + $7; n = $i
		if (mode == "count") { print n; exit }
		if (mode == "list") { s = n; for (k = 1; k <= n; k++) s = s " " $(i + k); print s; exit }
		for (k = 1; k <= n; k++) {
			split($(i + k), a, ":"); split(a[3], c, "/")
			if (mode == "all")
				print a[1], a[2], c[1], c[2], a[4]
			else if (a[1] == v) {
				print a[2], c[1], c[2], a[4]
				exit
			}
		}
		if (mode == "one") print "none"
	}'
}

mig_entries() { _mig_status "$1" all; }
mig_count() { _mig_status "$1" count; }
mig_list() { _mig_status "$1" list; }
mig_of() { _mig_status "$1" one "$2"; }

wait_mig() {
	local dm=$1 v=$2 want=$3 secs=$4 s t0
	t0=$(now_ns)
	while :; do
		s=$(mig_of "$dm" "$v")
		if [ "${s%% *}" = "$want" ]; then
			echo "$s"
			return 0
		fi
		if [ "$(ms_since "$t0")" -ge $((secs * 1000)) ]; then
			echo "$s"
			return 1
		fi
		sleep 0.1
	done
}

wait_state() {
	local dm=$1 v=$2 st=$3 t=${4:-30} e i
	for ((i = 0; i < t * 10; i++)); do
		e=$(mig_of "$dm" "$v")
		if [ "${e%% *}" = "$st" ]; then
			echo "$e"
			return 0
		fi
		sleep 0.1
	done
	echo "$e"
	echo "timeout waiting for $st on $v; last: '$e'" >&2
	return 1
}

wait_copied() {
	local dm=$1 v=$2 min=$3 t=$4 e i
	for ((i = 0; i < t * 10; i++)); do
		e=$(mig_of "$dm" "$v")
		[ "$e" != none ] || { echo "$e"; echo "no migration on $v" >&2; return 1; }
		set -- $e
		if [ "$1" = ready ] || { [ "$1" = copy ] && [ "$2" -ge "$min" ]; }; then
			echo "$e"
			return 0
		fi
		sleep 0.1
	done
	echo "$e"
	echo "timeout; last: $e" >&2
	return 1
}
