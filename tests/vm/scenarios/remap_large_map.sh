#!/usr/bin/env bash
# timeout: 400
#
# A large, highly fragmented map: 1M extents of 8 sectors (4 KiB) = 4 GiB
# virtual, over two 2.5 GiB memory-backed null_blk devices (they allocate
# memory only for what is written, and little is written here). The map
# has well over 100k runs, loaded through map_runs in one table line. The
# numbers are sanity ceilings under TCG, not benchmarks:
#   create < 20 s, dmsetup table < 20 s, reload of the same table < 30 s,
#   one-extent map_set on a live mapped extent: median of 20 < 1 s.
# Also checked: the table and map_get print exactly the generated runs, I/O
# to sampled extents lands at the mapped physical places, a second volume is
# filled by map_set messages of 10k items each. Numbers go to the console
# and to $CVOL_OUT/numbers.txt.
source "$CVOL_ROOT/tests/vm/lib.sh"
source "$CVOL_ROOT/tests/vm/lib/remap.bash"

load_cvol
D0=$(mk_nullb 2560)
D1=$(mk_nullb 2560)
W=/tmp/lm
mkdir -p $W
NUM=$CVOL_OUT/numbers.txt
: >"$NUM"
number() { # NAME VALUE UNIT
	echo "$1 $2 $3" >>"$NUM"
	plan_note "number: $1 = $2 $3"
}

E=8
NV=1048576
LEN=$((NV * E))
CAP=$((2560 * 2048 / E)) # physical extents per device: 655360
USE=$((NV / 2 + 8192))   # the map draws from pexts [0, USE) of each device
# Free for moves: pexts [USE, CAP) of each device.

# gen_runs SEED: runs of a shuffled map of NV extents over two devices
# (chunks of 1..19 extents, 4% of them reversed), merged to maximal runs
# exactly as the kernel prints them.
gen_runs() {
	awk -v seed="$1" -v nv="$NV" -v cap="$USE" '
	function emit(v, d, p, n) {
		if (open && v == sv + c && d == sd && p == sp + c) { c += n; return }
		if (open) printf "%d:%d:%d:%d\n", sv, sd, sp, c
		sv = v; sd = d; sp = p; c = n; open = 1
	}
	BEGIN {
		srand(seed)
		nc = 0
		for (d = 0; d < 2; d++)
			for (p = 0; p < cap; p += l) {
				l = 1 + int(rand() * 19)
				if (p + l > cap) l = cap - p
				nc++; cd[nc] = d; cp[nc] = p; cl[nc] = l
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
			if (rand() < 0.04)
				for (k = 0; k < l; k++) emit(v + k, cd[i], cp[i] + l - 1 - k, 1)
			else
				emit(v, cd[i], cp[i], l)
			v += l
		}
		if (open) printf "%d:%d:%d:%d\n", sv, sd, sp, c
		if (v < nv) { print "gen_runs: capacity too small" > "/dev/stderr"; exit 1 }
	}'
}

t0=$(now_ns)
gen_runs 77 >$W/runs
NR=$(wc -l <$W/runs)
cvol_table "$LEN" lm-vol "$E" "$D0 0 $D1 0" $W/runs >$W/table
number gen_ms "$(ms_since $t0)" ms
number runs "$NR" runs
number table_bytes "$(wc -c <$W/table)" bytes
[ "$NR" -ge 100000 ] && ok "the map has $NR runs (>= 100k)" || fail "only $NR runs"
assert_eq "the runs cover all $NV extents" $NV "$(awk -F: '{ s += $4 } END { print s }' $W/runs)"

t0=$(now_ns)
check "create the volume from a $(($(wc -c <$W/table) / 1024)) KiB table line" -- dmsetup create big $W/table
CREATE_MS=$(ms_since $t0)
number create_ms "$CREATE_MS" ms
[ "$CREATE_MS" -lt 20000 ] && ok "create took $CREATE_MS ms (< 20 s)" || fail "create took $CREATE_MS ms"
assert_eq "status: gen 0, all $NV mapped" "0 $NV/$NV AA" "$(dmsetup status big | cut -d' ' -f4-6)"

t0=$(now_ns)
dmsetup table big >$W/live-table
TABLE_MS=$(ms_since $t0)
number table_ms "$TABLE_MS" ms
[ "$TABLE_MS" -lt 20000 ] && ok "dmsetup table took $TABLE_MS ms (< 20 s)" || fail "dmsetup table took $TABLE_MS ms"
tr ' ' '\n' <$W/live-table | grep -E '^[0-9]+:[0-9]+:[0-9]+:[0-9]+$' >$W/live-runs || true
check "dmsetup table prints exactly the generated runs" -- cmp $W/runs $W/live-runs
assert_match "dmsetup table: map_gen 0, map_runs $NR" " map_gen 0 map_runs $NR " "$(head -c 300 $W/live-table)"

t0=$(now_ns)
msg big map_get 0 $NV >$W/map-get || true
number map_get_all_ms "$(ms_since $t0)" ms
check "map_get of all $NV extents equals the runs" -- cmp $W/runs <(tr ' ' '\n' <$W/map-get)

t0=$(now_ns)
check "reload with its own dmsetup table (adopts the volume, compares 1M entries)" -- \
	sh -c "dmsetup reload big $W/live-table && dmsetup suspend big && dmsetup resume big"
RELOAD_MS=$(ms_since $t0)
number reload_ms "$RELOAD_MS" ms
[ "$RELOAD_MS" -lt 30000 ] && ok "reload + suspend + resume took $RELOAD_MS ms (< 30 s)" || fail "reload took $RELOAD_MS ms"

# I/O at 64 sampled extents lands at the mapped physical places.
for i in $(seq 64); do echo $(((RANDOM * 32768 + RANDOM) % NV)); done | sort -un >$W/sample
awk -F: 'NR == FNR { want[$1] = 1; next }
	{ for (k in want) { v = k + 0; if (v >= $1 && v < $1 + $4) print v, $2, $3 + (v - $1) } }' \
	$W/sample $W/runs | sort -n >$W/sample-map
assert_eq "every sampled extent was found in the runs" "$(wc -l <$W/sample)" "$(wc -l <$W/sample-map)"
head -c 4096 /dev/urandom >$W/blk
bad=0
DEVS=("$D0" "$D1")
while read -r v d p; do
	dd if=$W/blk of=/dev/mapper/big bs=4k seek="$v" oflag=direct status=none
	cmp -s $W/blk <(dd if="${DEVS[$d]}" bs=4k skip="$p" count=1 iflag=direct status=none) ||
		{ bad=$((bad + 1)); echo "# extent $v not at $d:$p"; }
done <$W/sample-map
assert_eq "writes to $(wc -l <$W/sample-map) sampled extents landed at their mapped places" 0 "$bad"

# map_set latency on live mapped extents (each to a free physical extent;
# no I/O runs, so no copy is needed). Baseline: a map_get of one extent,
# which costs the same dmsetup process and ioctl.
lat=()
base=()
g=0
for i in $(seq 20); do
	read -r v d p <<<"$(sed -n "$(((i - 1) % $(wc -l <$W/sample-map) + 1))p" $W/sample-map)"
	t0=$(now_ns)
	msg big map_get "$v" 1 >/dev/null
	base+=($(($(now_ns) - t0)))
	t0=$(now_ns)
	r=$(msg big map_set $g "$v:$((1 - d)):$((USE + i))") || { fail "map_set $g $v failed"; break; }
	lat+=($(($(now_ns) - t0)))
	g=$r
done
median_ms() { printf '%s\n' "$@" | sort -n | awk '{ a[NR] = $1 } END { printf "%.1f", a[int((NR + 1) / 2)] / 1e6 }'; }
MS_MED=$(median_ms "${lat[@]}")
number map_set_median_ms "$MS_MED" ms
number map_set_max_ms "$(printf '%s\n' "${lat[@]}" | sort -n | tail -1 | awk '{ printf "%.1f", $1 / 1e6 }')" ms
number map_get_one_median_ms "$(median_ms "${base[@]}")" ms
assert_eq "20 map_sets: generation 20" 20 "$g"
awk -v m="$MS_MED" 'BEGIN { exit !(m < 1000) }' && ok "map_set median $MS_MED ms (< 1 s)" ||
	fail "map_set median $MS_MED ms"
assert_eq "status after the moves" "20 $NV/$NV AA" "$(dmsetup status big | cut -d' ' -f4-6)"
assert_eq "after 20 moves the table has at least as many runs as before" 1 \
	"$(dmsetup table big | awk -v n="$NR" '{ for (i = 1; i <= NF; i++) if ($i == "map_runs") { print ($(i + 1) >= n) ? 1 : 0; exit } }')"

# Two map_sets racing with the same expected generation: the volume
# serialises them, exactly one wins each round, the loser gets ESTALE, and
# the generation grows by exactly one per round.
g=$(status_gen big)
wins=0
for round in $(seq 10); do
	read -r v1 d1 _ <<<"$(sed -n "$((round + 20))p" $W/sample-map)"
	read -r v2 d2 _ <<<"$(sed -n "$((round + 40))p" $W/sample-map)"
	rm -f $W/race1.rc $W/race2.rc
	(rc=0; msg big map_set "$g" "$v1:$((1 - d1)):$((USE + 100 + round))" >$W/race1 2>&1 || rc=$?; echo $rc >$W/race1.rc) &
	(rc=0; msg big map_set "$g" "$v2:$((1 - d2)):$((USE + 200 + round))" >$W/race2 2>&1 || rc=$?; echo $rc >$W/race2.rc) &
	wait
	n=0
	[ "$(cat $W/race1.rc)" != 0 ] || n=$((n + 1))
	[ "$(cat $W/race2.rc)" != 0 ] || n=$((n + 1))
	[ "$n" = 1 ] && wins=$((wins + 1))
	g=$((g + 1))
done
assert_eq "10 rounds of two racing map_sets: exactly one winner each time" 10 "$wins"
assert_eq "generation grew by exactly 10" "$g" "$(status_gen big)"

# A second volume of 100k extents, mapped by 10 map_set messages of 10k
# single-extent items each (physical extents taken from the free area of
# device 1, in reverse order so nothing merges into runs).
NV2=100000
check "create an empty second volume" -- \
	dmsetup create big2 --table "0 $((NV2 * E)) cvol lm-vol2 $E 2 $D0 0 $D1 0"
assert_eq "second volume: 0 mapped" "0 0/$NV2 AA" "$(dmsetup status big2 | cut -d' ' -f4-6)"
for m in $(seq 0 9); do
	awk -v m=$m -v top=$((CAP - 1)) 'BEGIN {
		for (k = 0; k < 10000; k++) { v = m * 10000 + k; printf "%d:1:%d ", v, top - v } }' >$W/items.$m
done
t0=$(now_ns)
g=0
for m in $(seq 0 9); do
	g=$(msg big2 map_set $g $(<$W/items.$m)) || { fail "map_set message $m failed"; break; }
done
BATCH_MS=$(ms_since $t0)
number map_set_10x10k_items_ms "$BATCH_MS" ms
# Attribution: the same 10k words sent as a message the kernel rejects at
# once (map_get wants 2 arguments) cost dmsetup + the ioctl, not cvol.
t0=$(now_ns)
msg big2 map_get $(<$W/items.0) >/dev/null 2>&1 || true
number rejected_10k_word_message_ms "$(ms_since $t0)" ms
assert_eq "second volume: gen 10, all mapped" "10 $NV2/$NV2 AA" "$(dmsetup status big2 | cut -d' ' -f4-6)"
assert_eq "second volume: $NV2 runs (nothing merges)" "map_runs $NV2" \
	"$(dmsetup table big2 | grep -oE 'map_runs [0-9]+')"

check "remove both" -- dmsetup remove big big2
cat "$NUM"
assert_no_kernel_warning
finish
