# shellcheck shell=bash
# remap.bash: extent maps as text, cvol tables, messages and the status
# fields of the cvol target. Source after tests/vm/lib.sh; see
# tests/vm/lib/README.md.
#
# Maps are handled in two text forms, both sorted by virtual extent:
#   expanded: one line "v d p" per mapped extent (unmapped extents absent)
#   runs:     one line "v:d:p:c" per maximal run, exactly as the kernel
#             prints them in `dmsetup table` and `map_get` (consecutive
#             virtual extents on one device at consecutive physical extents)
# The generators are plain awk on purpose: an implementation independent of
# the project's own C++ map code (libcvol / cvol-maptool) is the oracle here.
#
#   gen_map SEED NVEXT "CAP0 CAP1 ..." [MAXCHUNK] [REVFRAC] [HOLEFRAC]
#                           a shuffled expanded map (see below)
#   runs_of                 expanded map on stdin -> maximal runs
#   expand_runs             runs on stdin (lines or words) -> expanded map
#   runs_line               lines on stdin -> one line, space separated
#   linear_table EXT LEN "DEV0 ..." "OFF0 ..."
#                           runs on stdin -> the equivalent dm-linear table
#   cvol_table LEN UUID EXT "DEV0 OFF0 ..." RUNSFILE [FEATURE...]
#                           a one-line cvol table with map_runs from RUNSFILE
#   table_runs DM           the runs of the live table, one per line
#   table_gen DM            map_gen of the live table
#   msg DM ARGS...          dmsetup message DM 0 ARGS... (prints the answer)
# Status (`dmsetup status` of target 1.2: <start> <len> cvol <gen>
# <mapped>/<extents> <health> <#freezes> [freeze]... <#migrations>
# [migration]... <event_seq> <lost> <lease>):
#   status_gen DM           the generation (field 4)
#   health DM               the health string, one character per slot

[ -z "${_CVOL_LIB_REMAP:-}" ] || return 0
_CVOL_LIB_REMAP=1

# gen_map SEED NVEXT "CAP0 CAP1 ..." [MAXCHUNK] [REVFRAC] [HOLEFRAC]
#   Prints an expanded map of NVEXT virtual extents over devices whose data
#   areas hold CAPi physical extents (0 for an empty slot). Each device's
#   physical space is cut into chunks of 1..MAXCHUNK extents, the chunks of
#   all devices are shuffled, and virtual extents are assigned chunk after
#   chunk; a fraction REVFRAC of the chunks is used in reverse physical order
#   (which yields runs of length 1). With HOLEFRAC > 0, that fraction of the
#   chunks is skipped in virtual space (the extents stay unmapped). Fails if
#   the capacity is too small.
gen_map() {
	awk -v seed="$1" -v nv="$2" -v caps="$3" -v maxchunk="${4:-6}" \
		-v revfrac="${5:-0.3}" -v holefrac="${6:-0}" '
	BEGIN {
		srand(seed)
		n = split(caps, cap, " ")
		nc = 0
		for (i = 1; i <= n; i++) {
			p = 0
			while (p < cap[i]) {
				l = 1 + int(rand() * maxchunk)
				if (p + l > cap[i]) l = cap[i] - p
				nc++; cd[nc] = i - 1; cp[nc] = p; cl[nc] = l
				p += l
			}
		}
		for (i = nc; i > 1; i--) {
			j = 1 + int(rand() * i)
			t = cd[i]; cd[i] = cd[j]; cd[j] = t
			t = cp[i]; cp[i] = cp[j]; cp[j] = t
			t = cl[i]; cl[i] = cl[j]; cl[j] = t
		}
		v = 0
		for (i = 1; i <= nc && v < nv; i++) {
			l = cl[i]
			if (v + l > nv) l = nv - v
			if (holefrac > 0 && rand() < holefrac) { v += l; continue }
			rev = rand() < revfrac
			for (k = 0; k < l; k++)
				printf "%d %d %d\n", v + k, cd[i], rev ? cp[i] + l - 1 - k : cp[i] + k
			v += l
		}
		if (v < nv) {
			print "gen_map: capacity too small for " nv " extents" > "/dev/stderr"
			exit 1
		}
	}'
}

runs_of() {
	awk '
	{
		if (open && $1 == sv + c && $2 == sd && $3 == sp + c) { c++; next }
		if (open) printf "%d:%d:%d:%d\n", sv, sd, sp, c
		sv = $1; sd = $2; sp = $3; c = 1; open = 1
	}
	END { if (open) printf "%d:%d:%d:%d\n", sv, sd, sp, c }'
}

expand_runs() {
	tr ' ' '\n' | awk -F: 'NF == 4 { for (i = 0; i < $4; i++) printf "%d %d %d\n", $1 + i, $2, $3 + i }'
}

# (The form of map_get's answer, for comparisons with a runs file.)
runs_line() { tr '\n' ' ' | sed 's/ $//'; }

# linear_table EXT LEN "DEV0 DEV1 ..." "OFF0 OFF1 ..." : one segment per
# run, the last one cut at LEN. The runs must cover [0, LEN) without holes.
linear_table() {
	awk -v E="$1" -v LEN="$2" -v devs="$3" -v offs="$4" '
	BEGIN { split(devs, dv, " "); split(offs, of, " ") }
	{
		split($0, a, ":")
		s = a[1] * E; l = a[4] * E
		if (s + l > LEN) l = LEN - s
		printf "%d %d linear %s %d\n", s, l, dv[a[2] + 1], of[a[2] + 1] + a[3] * E
	}'
}

cvol_table() {
	local len=$1 uuid=$2 ext=$3 devs=$4 runsfile=$5 nr ndev
	shift 5
	local -a d=($devs)
	ndev=$((${#d[@]} / 2))
	nr=$(grep -c . "$runsfile" || true)
	echo "0 $len cvol $uuid $ext $ndev $devs $((2 + nr + $#)) map_runs $nr $(tr '\n' ' ' <"$runsfile")$*" |
		sed 's/ *$//'
}

table_runs() {
	dmsetup table "$1" | awk '{
		for (i = 1; i <= NF; i++) if ($i == "map_runs") { n = $(i + 1); for (k = 1; k <= n; k++) print $(i + 1 + k); exit }
	}'
}

table_gen() {
	dmsetup table "$1" | awk '{ for (i = 1; i <= NF; i++) if ($i == "map_gen") { print $(i + 1); exit } }'
}

msg() {
	local dev=$1
	shift
	dmsetup message "$dev" 0 "$@"
}

status_gen() { dmsetup status "$1" | awk '{ print $4 }'; }
health() { dmsetup status "$1" | awk '{ print $6 }'; }
