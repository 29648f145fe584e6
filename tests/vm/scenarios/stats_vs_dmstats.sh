#!/usr/bin/env bash
# timeout: 420
#
# cvol load counters (`stats`, `dev_stats`) against dm-stats as the oracle.
#
# Volume sv: 64 extents of 1 MiB, shuffled map over two null_blk devices
# (slots 0 and 1), slot 2 empty. dm-stats region over the whole device with
# one area per extent (`@stats_create - 2048`). Every fio I/O is O_DIRECT,
# 4k or 64k, aligned to its size, so no I/O crosses an extent boundary and
# cvol (which counts per bio after dm splits at extents) and dm-stats (which
# counts the bio dm receives) see the same I/Os. dm-stats counters are kept
# cumulative; every comparison is against the difference of two dm-stats
# snapshots.
#
#   W1  mixed workload (seq write 64k, seq read 4k, rand write 4k, rand read
#       64k, rand rw 4k/64k) on all 64 extents: `stats 0 64 clear` == dm-stats
#       per extent (reads, writes, read sectors, write sectors); dev_stats
#       per slot == the sums over the extents on that slot (also seq_ios);
#       latency sums > 0, mean per I/O between 1 us and 1 s.
#   W2  clear window, sequential jobs only: counts == only W2; seq_ios >= 90%
#       of the I/Os per extent, per job and per device.
#   W3  clear window, random 4k only (one job on a single 1 MiB extent, one
#       over 40 extents): seq_ios <= 10%.
#   DZ  discard and zeroout of whole extents count as writes (== dm-stats).
#   W4  fio (time based, 4 s) in the background while `stats 0 64 clear` and `dev_stats clear`
#       run in a loop: the sum of all windows == dm-stats over W4 (nothing
#       lost, nothing counted twice).
#   R1  quiet `dmsetup suspend --noflush` + reload of `dmsetup table` (slot 2
#       filled by a third device) + resume: stats and dev_stats unchanged,
#       new slot at zero; then W5 after it counts on top.
#   R2  the same reload while fio runs: totals still == dm-stats.
#   BIG a 4096-extent volume: a ~60 KiB `stats ... clear` response (dmsetup
#       retries with a bigger buffer) is complete and clears exactly once.
#   BAD bad input fails and changes nothing (also `... clear` variants).
source "$CVOL_ROOT/tests/vm/lib.sh"
source "$CVOL_ROOT/tests/vm/lib/remap.bash"

load_cvol
N0=$(mk_nullb 64)
N1=$(mk_nullb 64)
N2=$(mk_nullb 64)
W=$CVOL_OUT/work
mkdir -p "$W"
E=2048		# 1 MiB extents
NV=64
V=/dev/mapper/sv

gen_map 5 $NV "40 40" 4 0.3 >"$W/map"
runs_of <"$W/map" >"$W/runs"
cvol_table $((NV * E)) sv-vol $E "$N0 0 $N1 0 - 0" "$W/runs" >"$W/table"
check "create sv ($(wc -l <"$W/runs") runs over 2 devices, slot 2 empty)" -- dmsetup create sv "$W/table"
plan_note "extents per slot: $(awk '{ n[$2]++ } END { for (d in n) printf "%s:%d ", d, n[d] }' "$W/map")"
RID=$(dmsetup message sv 0 @stats_create - $E)
plan_note "dm-stats region $RID"

# ---------------------------------------------------------------- helpers ---

# cv_stats [clear]: `stats 0 64 [clear]` as lines "v r w rs ws seq" for every
# extent (zero entries filled in). Fails on a malformed answer.
cv_stats() {
	msg sv stats 0 $NV "$@" | awk -v nv=$NV '
	{
		if ($1 != 1) { print "extents_per_entry " $1 > "/dev/stderr"; exit 1 }
		for (i = 2; i <= NF; i++) {
			if (split($i, a, ":") != 6) { print "bad entry " $i > "/dev/stderr"; exit 1 }
			r[a[1]] = a[2] " " a[3] " " a[4] " " a[5] " " a[6]
		}
	}
	END { for (v = 0; v < nv; v++) print v, (v in r ? r[v] : "0 0 0 0 0") }'
}
# dm_snap: dm-stats per area as lines "v r w rs ws".
dm_snap() {
	dmsetup message sv 0 @stats_print "$RID" | awk -v E=$E '
	{ split($1, a, "+"); printf "%d %s %s %s %s\n", a[1] / E, $2, $6, $4, $8 }'
}
# sub FILE_B FILE_A: B - A, columnwise (same first column).
sub() { awk 'NR == FNR { for (i = 2; i <= NF; i++) a[$1, i] = $i; next }
	{ printf "%s", $1; for (i = 2; i <= NF; i++) printf " %d", $i - a[$1, i]; print "" }' "$2" "$1"; }
# add FILE...: columnwise sums over files of "v ..." lines.
add() { awk '{ k[$1] = 1; for (i = 2; i <= NF; i++) s[$1, i] += $i; if (NF > nf) nf = NF }
	END { for (v in k) { printf "%s", v; for (i = 2; i <= nf; i++) printf " %d", s[v, i]; print "" } }' "$@" | sort -n; }
# noseq: drop the seq column of cv_stats lines.
noseq() { cut -d' ' -f1-5 "$@"; }
# dev_of_ext FILE: extent lines "v c1 c2..." -> per-slot sums "slot c1 c2 ..."
# for slots 0 and 1, using the map.
dev_of_ext() {
	awk 'NR == FNR { d[$1] = $2; next }
	{ for (i = 2; i <= NF; i++) s[d[$1], i] += $i; if (NF > nf) nf = NF }
	END { for (k = 0; k <= 1; k++) { printf "%d", k; for (i = 2; i <= nf; i++) printf " %d", s[k, i]; print "" } }' "$W/map" "$1"
}
# cv_dev [clear]: dev_stats as lines "slot r w rs ws rns wns seq err".
cv_dev() { msg sv dev_stats "$@" | tr ' ' '\n' | grep . | tr ':' ' '; }
# dev_rwsec FILE: "slot r w rs ws" of cv_dev lines for slots 0 and 1.
dev_rwsec() { awk '$1 <= 1 { print $1, $2, $3, $4, $5 }' "$1"; }
# cmp_files DESC EXPECTED_FILE ACTUAL_FILE: equal, else show differing lines.
cmp_files() {
	local a b
	a=$(cat "$2")
	b=$(cat "$3")
	if [ "$a" = "$b" ]; then
		ok "$1"
	else
		fail "$1"
		diff <(echo "$a") <(echo "$b") | head -20 | sed 's/^/#   /'
	fi
}
fio_run() { # NAME JOB-ARGS...: deterministic O_DIRECT run, output saved
	local name=$1
	shift
	fio --filename=$V --ioengine=libaio --direct=1 --randrepeat=1 --output="$CVOL_OUT/fio-$name.txt" "$@"
}

# Nothing ran yet: both start at zero (dmsetup create does no I/O).
cv_stats clear >/dev/null
cv_dev clear >/dev/null
dm_snap >"$W/dm0"

# --------------------------------------------------------------------- W1 ---
check "W1: fio mixed workload over all 64 extents" -- fio_run w1 \
	--name=seqw --rw=write --bs=64k --offset=0 --size=8M --iodepth=4 \
	--name=seqr --rw=read --bs=4k --offset=8M --size=4M --iodepth=4 \
	--name=randw --rw=randwrite --bs=4k --offset=12M --size=20M --number_ios=1500 --iodepth=8 --randseed=11 \
	--name=randr --rw=randread --bs=64k --offset=32M --size=16M --number_ios=300 --iodepth=4 --randseed=12 \
	--name=mixed --rw=randrw --bssplit=4k/60:64k/40 --blockalign=64k --norandommap=1 \
	--offset=48M --size=16M --number_ios=800 --iodepth=8 --randseed=13
dm_snap >"$W/dm1"
sub "$W/dm1" "$W/dm0" >"$W/dm-w1"
cv_dev >"$W/dev-w1"
cv_stats clear >"$W/cv-w1"
noseq "$W/cv-w1" >"$W/cv-w1.rw"
cmp_files "W1: per-extent reads/writes/sectors == dm-stats for all 64 extents" "$W/dm-w1" "$W/cv-w1.rw"
plan_note "W1 totals (r w rs ws seq): $(awk '{ for (i = 2; i <= 6; i++) s[i] += $i } END { print s[2], s[3], s[4], s[5], s[6] }' "$W/cv-w1")"
assert_eq "W1: every extent saw I/O" 0 "$(awk '$2 + $3 == 0' "$W/cv-w1" | wc -l)"
dev_of_ext "$W/cv-w1" >"$W/cvdev-w1"
cmp_files "W1: dev_stats per slot r/w/sectors == sums over its extents" \
	<(cut -d' ' -f1-5 "$W/cvdev-w1") <(dev_rwsec "$W/dev-w1")
assert_eq "W1: dev_stats seq_ios per slot == sum over its extents" \
	"$(awk '{ print $1, $6 }' "$W/cvdev-w1")" "$(awk '$1 <= 1 { print $1, $8 }' "$W/dev-w1")"
assert_eq "W1: dev_stats lists slots 0 and 1 only (slot 2 empty), no errors" "0 0
1 0" "$(awk '{ print $1, $9 }' "$W/dev-w1")"
awk '$1 <= 1 {
	for (rw = 0; rw < 2; rw++) {
		n = $(2 + rw); ns = $(6 + rw)
		if (n == 0 || ns <= 0) { print "slot " $1 " dir " rw ": " n " ios, " ns " ns"; continue }
		m = ns / n
		if (m < 1000 || m > 1e9) print "slot " $1 " dir " rw ": mean " m " ns"
	}
}' "$W/dev-w1" >"$W/lat-bad"
plan_note "W1 mean latency (ns) per slot r/w: $(awk '$1 <= 1 { printf "%d:%d/%d ", $1, $6 / ($2 ? $2 : 1), $7 / ($3 ? $3 : 1) }' "$W/dev-w1")"
assert_eq "W1: latency sums > 0, mean per I/O in [1 us, 1 s] (both slots, both directions)" "" "$(cat "$W/lat-bad")"
assert_eq "W1: after 'stats clear' all extents read zero" "1" "$(msg sv stats 0 $NV)"

# --------------------------------------------------------------------- W2 ---
cv_dev clear >/dev/null
check "W2: sequential jobs (4k writes on extents 0-1, 64k reads on 40-47)" -- fio_run w2 \
	--name=seqw4k --rw=write --bs=4k --offset=0 --size=2M --iodepth=4 \
	--name=seqr64k --rw=read --bs=64k --offset=40M --size=8M --iodepth=4
dm_snap >"$W/dm2"
sub "$W/dm2" "$W/dm1" >"$W/dm-w2"
cv_dev clear >"$W/dev-w2"
cv_stats clear >"$W/cv-w2"
cmp_files "W2: counts after clear == only the W2 I/O (dm-stats delta)" "$W/dm-w2" <(noseq "$W/cv-w2")
assert_eq "W2: only extents 0,1,40..47 have counts" "0 1 $(seq -s' ' 40 47)" \
	"$(awk '$2 + $3 > 0 { printf "%s%s", s, $1; s = " " }' "$W/cv-w2")"
assert_eq "W2: extents 0-1: 512 writes of 8 sectors" "512 4096" \
	"$(awk '$1 <= 1 { w += $3; s += $5 } END { print w, s }' "$W/cv-w2")"
seqpct() { awk -v lo="$2" -v hi="$3" '$1 >= lo && $1 <= hi { n += $2 + $3; q += $6 } END { printf "%d %d %d\n", q, n, n ? 100 * q / n : -1 }' "$1"; }
read -r q n p < <(seqpct "$W/cv-w2" 0 1)
[ "$p" -ge 90 ] && ok "W2: seq write job: $q of $n I/Os sequential ($p%)" || fail "W2: seq write job: only $q of $n sequential"
read -r q n p < <(seqpct "$W/cv-w2" 40 47)
[ "$p" -ge 90 ] && ok "W2: seq read job: $q of $n I/Os sequential ($p%)" || fail "W2: seq read job: only $q of $n sequential"
bad=$(awk '$1 <= 1 && $2 + $3 > 0 && $8 * 10 < 9 * ($2 + $3) { print "slot " $1 ": " $8 " of " $2 + $3 }' "$W/dev-w2")
assert_eq "W2: dev_stats seq_ios >= 90% on every slot with I/O" "" "$bad"
plan_note "W2 dev_stats: $(tr '\n' ' ' <"$W/dev-w2")"

# --------------------------------------------------------------------- W3 ---
check "W3: random 4k jobs (one 1 MiB extent: 20; extents 24-63)" -- fio_run w3 \
	--name=rand1 --rw=randwrite --bs=4k --offset=20M --size=1M --iodepth=4 --randseed=21 \
	--name=rand40 --rw=randread --bs=4k --offset=24M --size=40M --number_ios=1000 --iodepth=4 --randseed=22
dm_snap >"$W/dm3"
sub "$W/dm3" "$W/dm2" >"$W/dm-w3"
cv_dev clear >"$W/dev-w3"
cv_stats clear >"$W/cv-w3"
cmp_files "W3: counts == only the W3 I/O" "$W/dm-w3" <(noseq "$W/cv-w3")
read -r q n p < <(seqpct "$W/cv-w3" 20 20)
assert_eq "W3: extent 20 got 256 writes" 256 "$n"
[ "$q" -le $((n / 10)) ] && ok "W3: random 4k on one extent: $q of $n sequential" || fail "W3: random 4k on one extent: $q of $n sequential (> 10%)"
read -r q n p < <(seqpct "$W/cv-w3" 24 63)
[ "$q" -le $((n / 10)) ] && ok "W3: random 4k over 40 extents: $q of $n sequential" || fail "W3: random over 40 extents: $q of $n sequential"
bad=$(awk '$1 <= 1 && $8 * 10 > $2 + $3 { print "slot " $1 ": " $8 " of " $2 + $3 }' "$W/dev-w3")
assert_eq "W3: dev_stats seq_ios <= 10% on every slot" "" "$bad"
assert_eq "W3: dev_stats per slot == sums over extents" "$(dev_of_ext <(noseq "$W/cv-w3"))" "$(dev_rwsec "$W/dev-w3")"

# --------------------------------------------------------------------- DZ ---
# Discard and write-zeroes are counted as writes, per extent (cvol splits
# them at extents itself; dm-stats counts one I/O per area a bio touches).
# (Flushes are not exercised: null_blk has no volatile cache, so the block
# layer completes them before they reach dm.)
check "DZ: blkdiscard of extents 4-6" -- blkdiscard -f -o $((4 * E * 512)) -l $((3 * E * 512)) $V
check "DZ: zeroout (blkdiscard -z) of extents 8-9" -- blkdiscard -f -z -o $((8 * E * 512)) -l $((2 * E * 512)) $V
dm_snap >"$W/dmdz"
sub "$W/dmdz" "$W/dm3" >"$W/dm-dz"
cv_dev clear >"$W/dev-dz"
cv_stats clear >"$W/cv-dz"
cmp_files "DZ: counts == dm-stats" "$W/dm-dz" <(noseq "$W/cv-dz")
# (without BLKZEROOUT support below, the kernel writes zero pages: several
# writes per extent)
assert_eq "DZ: one discard per extent 4,5,6, 2048 sectors written to 8,9, nothing else" \
	"4 0 1 0 2048;5 0 1 0 2048;6 0 1 0 2048;8 0 w 0 2048;9 0 w 0 2048;" \
	"$(awk '$2 + $3 > 0 { printf "%s %s %s %s %s;", $1, $2, ($1 >= 8 && $3 >= 1) ? "w" : $3, $4, $5 }' "$W/cv-dz")"
assert_eq "DZ: dev_stats == sums over extents" "$(dev_of_ext <(noseq "$W/cv-dz"))" "$(dev_rwsec "$W/dev-dz")"

# --------------------------------------------------------------------- W4 ---
# Background fio; clears race with I/O. Windows of both kinds are summed.
rm -f "$W"/win-* "$W"/dwin-* "$W/w4.rc"
( rc=0; fio_run w4 \
	--time_based=1 --runtime=4 \
	--name=a --rw=randrw --bssplit=4k/70:64k/30 --blockalign=64k --norandommap=1 \
	--offset=0 --size=32M --iodepth=8 --randseed=31 \
	--name=b --rw=write --bs=4k --offset=32M --size=4M --iodepth=4 \
	--name=c --rw=randread --bs=4k --offset=36M --size=28M --iodepth=8 --randseed=32 \
	|| rc=$?; echo $rc >"$W/w4.rc" ) &
FPID=$!
nw=0
while [ ! -e "$W/w4.rc" ]; do
	nw=$((nw + 1))
	cv_stats clear >"$W/win-$nw"
	cv_dev clear >"$W/dwin-$nw"
	sleep 0.05
done
wait $FPID || true
assert_eq "W4: fio ran fine" 0 "$(cat "$W/w4.rc")"
nw=$((nw + 1))
cv_stats clear >"$W/win-$nw"
cv_dev clear >"$W/dwin-$nw"
busy=0
for ((i = 1; i <= nw; i++)); do
	[ "$(awk '{ s += $2 + $3 } END { print s + 0 }' "$W/win-$i")" -eq 0 ] || busy=$((busy + 1))
done
[ "$busy" -ge 3 ] && ok "W4: $busy of $nw clear windows had I/O" || fail "W4: only $busy of $nw clear windows had I/O (clears did not race with I/O)"
dm_snap >"$W/dm4"
sub "$W/dm4" "$W/dmdz" >"$W/dm-w4"
add "$W"/win-* >"$W/cv-w4"
cmp_files "W4: sum of $nw per-extent windows == dm-stats over W4" "$W/dm-w4" <(noseq "$W/cv-w4")
add "$W"/dwin-* >"$W/dev-w4"
assert_eq "W4: sum of $nw dev_stats windows == per-slot sums of dm-stats" \
	"$(dev_of_ext "$W/dm-w4")" "$(dev_rwsec "$W/dev-w4")"
assert_eq "W4: dev seq_ios windows sum == extent seq_ios windows sum" \
	"$(dev_of_ext "$W/cv-w4" | awk '{ print $1, $6 }')" "$(awk '$1 <= 1 { print $1, $8 }' "$W/dev-w4")"
assert_eq "W4: after the last clear everything is zero" "1" "$(msg sv stats 0 $NV)"

# --------------------------------------------------------------------- R1 ---
check "R1: some I/O to have counters to keep" -- fio_run r1a \
	--name=x --rw=randrw --bs=4k --offset=0 --size=64M --number_ios=600 --iodepth=4 --randseed=41
cv_stats >"$W/cv-r1-before"
cv_dev >"$W/dev-r1-before"
DN2=$(stat -L -c '%t %T' "$N2" | { read -r a b; echo "$((16#$a)):$((16#$b))"; })
dmsetup table sv | sed "s/ - 0 / $DN2 0 /" >"$W/table-r1"
plan_note "R1 reload table: $(cut -c1-120 "$W/table-r1")..."
check "R1: suspend --noflush" -- dmsetup suspend --noflush sv
check "R1: reload the dmsetup table output (slot 2 now $N2)" -- dmsetup reload sv "$W/table-r1"
check "R1: resume" -- dmsetup resume sv
cmp_files "R1: per-extent stats unchanged by the reload" "$W/cv-r1-before" <(cv_stats)
cv_dev >"$W/dev-r1-after"
cmp_files "R1: dev_stats of slots 0,1 unchanged (incl. latency sums)" "$W/dev-r1-before" <(awk '$1 <= 1' "$W/dev-r1-after")
assert_eq "R1: slot 2 present, at zero" "2 0 0 0 0 0 0 0 0" "$(awk '$1 == 2' "$W/dev-r1-after")"
check "R1: W5 after the reload" -- fio_run w5 \
	--name=x --rw=randrw --bssplit=4k/50:64k/50 --blockalign=64k --norandommap=1 \
	--offset=0 --size=64M --number_ios=800 --iodepth=8 --randseed=42
dm_snap >"$W/dm5"
sub "$W/dm5" "$W/dm4" >"$W/dm-r1"
cv_dev >"$W/dev-r1"
cv_stats >"$W/cv-r1"
cmp_files "R1: per-extent stats == dm-stats across the reload" "$W/dm-r1" <(noseq "$W/cv-r1")
assert_eq "R1: dev_stats == per-slot sums of dm-stats across the reload" \
	"$(dev_of_ext "$W/dm-r1")" "$(dev_rwsec "$W/dev-r1")"

# --------------------------------------------------------------------- R2 ---
rm -f "$W/r2.rc"
( rc=0; fio_run r2 --name=x --rw=randrw --bs=4k --offset=0 --size=64M --time_based=1 \
	--runtime=5 --iodepth=8 --randseed=51 || rc=$?; echo $rc >"$W/r2.rc" ) &
FPID=$!
sleep 2
dmsetup table sv >"$W/table-r2"
check "R2: suspend --noflush under I/O" -- dmsetup suspend --noflush sv
check "R2: reload" -- dmsetup reload sv "$W/table-r2"
check "R2: resume" -- dmsetup resume sv
r2_during=$([ -e "$W/r2.rc" ] && echo after || echo during)
wait $FPID || true
assert_eq "R2: fio ran fine" 0 "$(cat "$W/r2.rc")"
[ "$r2_during" = during ] && ok "R2: the reload happened while fio ran" || fail "R2: fio had finished before the reload"
dm_snap >"$W/dm6"
sub "$W/dm6" "$W/dm4" >"$W/dm-r2"
cv_dev >"$W/dev-r2"
cv_stats >"$W/cv-r2"
cmp_files "R2: per-extent stats == dm-stats across a reload under I/O" "$W/dm-r2" <(noseq "$W/cv-r2")
assert_eq "R2: dev_stats == per-slot sums of dm-stats" "$(dev_of_ext "$W/dm-r2")" "$(dev_rwsec "$W/dev-r2")"

# -------------------------------------------------------------------- BAD ---
ST=$(msg sv stats 0 $NV)
DS=$(msg sv dev_stats)
for m in "stats 0 65" "stats 0 0" "stats 0 1 bogus" "dev_stats x" "stats 0 65 clear" \
	"stats 64 1" "stats 64 1 clear" "stats 0 1 clear clear" "stats 0" "stats" \
	"stats 0x0 1" "stats 0 1x" "dev_stats clear x" "dev_stats clearx" "stats 1 18446744073709551615 clear"; do
	# shellcheck disable=SC2086
	check_fail "BAD: '$m' is refused" -- msg sv $m
done
assert_eq "BAD: per-extent stats unchanged" "$ST" "$(msg sv stats 0 $NV)"
assert_eq "BAD: dev_stats unchanged" "$DS" "$(msg sv dev_stats)"
assert_eq "stats of a sub-range: entries only from that range" \
	"$(echo "$ST" | tr ' ' '\n' | awk -F: 'NR == 1 || ($1 >= 10 && $1 < 13)' | tr '\n' ' ' | sed 's/ $//')" \
	"$(msg sv stats 10 3)"

# -------------------------------------------------------------------- BIG ---
# A response larger than dmsetup's first buffer: the kernel must not clear
# on the truncated attempt (libdevmapper repeats the message with a larger
# buffer), and must clear exactly once on the full one.
N3=$(mk_nullb 16)
check "BIG: create sb, 4096 extents of 4 KiB" -- dmsetup create sb --table \
	"0 $((4096 * 8)) cvol sv-big 8 1 $N3 0 3 map_runs 1 0:0:0:4096"
check "BIG: one sequential 4k write per extent" -- \
	fio --name=big --filename=/dev/mapper/sb --ioengine=libaio --direct=1 --rw=write --bs=4k \
	--iodepth=4 --output="$CVOL_OUT/fio-big.txt"
msg sb stats 0 4096 clear >"$W/big"
plan_note "BIG: stats response $(wc -c <"$W/big") bytes"
assert_eq "BIG: all 4096 entries 'v:0:1:0:8:1'" \
	"1 $(seq 0 4095 | sed 's/$/:0:1:0:8:1/' | tr '\n' ' ' | sed 's/ $//')" "$(cat "$W/big")"
assert_eq "BIG: cleared exactly once (nothing left)" 1 "$(msg sb stats 0 4096)"
assert_eq "BIG: dev_stats" "0:0:4096:0:32768" "$(msg sb dev_stats | cut -d: -f1-5)"

check "remove" -- dmsetup remove sv sb
assert_no_kernel_warning
finish
