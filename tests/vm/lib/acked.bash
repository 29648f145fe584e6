# shellcheck shell=bash
# acked.bash: writers that log every acknowledged write, and the check that
# each one is still there. fio's verify proves a pass reads back what it
# wrote through the same device; this proves, block by block, that a write
# acknowledged before a fault is what another host reads after it (a stale
# copy of an older block passes a checksum, but not this).
#
#   acked_start NAME DEV FIRST N STRIDE PHASE
#       a background loop that writes the 4 KiB blocks FIRST+PHASE,
#       FIRST+PHASE+STRIDE, ... (< FIRST+N) of DEV round and round, one
#       O_DIRECT|O_DSYNC dd each, every block holding the line
#       "NAME <seq> <block>"; "<block> <seq>" goes to $W/NAME.acked only
#       after dd returned success. A write held by a fence just waits.
#   acked_writes NAME     how many writes were acknowledged so far
#   acked_stop NAME...    ends the loops after their current write
#   acked_check NAME DEV FIRST N
#       reads blocks FIRST..FIRST+N-1 of DEV (any host's device) and fails,
#       listing the blocks, unless each block NAME wrote holds NAME's last
#       acknowledged sequence number for it or a later one (a write in
#       flight when the loop stopped may have landed too).
[ -n "${_CVOL_ACKED_BASH:-}" ] && return 0
_CVOL_ACKED_BASH=1

declare -gA _ACKED_PID=()

acked_start() {
	local name=${1:?usage: acked_start NAME DEV FIRST N STRIDE PHASE} dev=$2 first=$3 n=$4
	local stride=$5 phase=$6
	: "${W:?acked_start: set W first}"
	rm -f "$W/$name.acked" "$W/$name.stop"
	: >"$W/$name.acked"
	(
		seq=0
		while [ ! -e "$W/$name.stop" ]; do
			for ((b = phase; b < n; b += stride)); do
				seq=$((seq + 1))
				if printf '%s %08d %06d\n' "$name" "$seq" "$b" |
					dd of="$dev" bs=4096 seek=$((first + b)) conv=sync oflag=direct,dsync \
						status=none 2>/dev/null; then
					echo "$b $seq" >>"$W/$name.acked"
				fi
				[ -e "$W/$name.stop" ] && break
			done
		done
	) &
	_ACKED_PID[$name]=$!
}

acked_writes() { wc -l <"$W/${1:?usage: acked_writes NAME}.acked"; }

acked_stop() {
	local name
	for name; do touch "$W/$name.stop"; done
	for name; do wait "${_ACKED_PID[$name]}" 2>/dev/null || true; done
}

acked_check() {
	local name=${1:?usage: acked_check NAME DEV FIRST N} dev=$2 first=$3 n=$4
	dd if="$dev" bs=4096 skip="$first" count="$n" iflag=direct status=none >"$W/$name.read" ||
		return 1
	# One record per block: "<block> <name> <seq>" of what the block holds.
	perl -e 'local $/ = \4096; my $i = 0;
		while (<STDIN>) { my ($w, $s) = /^(\S+) (\d{8}) \d{6}\n/ ? ($1, $2 + 0) : ("-", 0);
			print "$i $w $s\n"; $i++ }' <"$W/$name.read" >"$W/$name.found"
	awk -v name="$name" '
		NR == FNR { if ($2 > acked[$1]) acked[$1] = $2; next }
		{ who[$1] = $2; seq[$1] = $3 }
		END {
			for (b in acked) if (who[b] != name || seq[b] < acked[b]) {
				printf "block %d: acknowledged %s %d, holds %s %d\n", b, name, acked[b], who[b], seq[b]
				bad++
			}
			exit bad > 0
		}' "$W/$name.acked" "$W/$name.found"
}
