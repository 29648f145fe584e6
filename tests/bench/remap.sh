# Benchmark (runs inside the test VM): the cvol hot path against dm-linear
# and the raw device, and the latency of a one-extent map_set.
#
# All three devices sit on the same memory-backed null_blk, and the rounds
# are interleaved (raw, linear, cvol, raw, linear, cvol, ...) so that TCG's
# drift hits every device alike; we report medians of ROUNDS runs.
# timeout: 1500
# mem: 3072
source "$CVOL_ROOT/tests/vm/lib.sh"
cd /tmp

ROUNDS=${CVOL_BENCH_ROUNDS:-5}
RUNTIME=${CVOL_BENCH_RUNTIME:-4}
EXT=2048				# 1 MiB extents
SIZE_MB=1024
out=$CVOL_OUT/bench.txt
: >"$out"

say() { echo "$*" | tee -a "$out"; }

load_cvol
nb=$(mk_nullb $SIZE_MB)
sectors=$(dev_sectors "$nb")
nr_ext=$((sectors / EXT))

# Touch every page once so no round pays null_blk's first-write allocation.
dd if=/dev/zero of="$nb" bs=1M count=$SIZE_MB oflag=direct status=none

dmsetup create blin --table "0 $sectors linear $nb 0"
# A shuffled map: every virtual extent lands somewhere else, so the lookup
# is exercised for real rather than being an identity.
runs=$(python3 - "$nr_ext" <<'EOF'
import random, sys
n = int(sys.argv[1])
perm = list(range(n))
random.Random(7).shuffle(perm)
print(" ".join(f"{v}:0:{p}:1" for v, p in enumerate(perm)))
EOF
)
dmsetup create bcvol --table "0 $sectors cvol bench $EXT 1 $nb 0 $((nr_ext + 2)) map_runs $nr_ext $runs"

declare -A dev=([raw]=$nb [linear]=/dev/mapper/blin [cvol]=/dev/mapper/bcvol)
results=$CVOL_OUT/iops.csv
: >"$results"

run_fio() {	# <device> <rw> <iodepth> -> IOPS
	fio --name=b --filename="$1" --rw="$2" --bs=4k --iodepth="$3" \
		--ioengine=io_uring --direct=1 --time_based --runtime="$RUNTIME" \
		--randrepeat=0 --norandommap --output-format=json 2>/dev/null |
		python3 -c 'import json,sys; j=json.load(sys.stdin)["jobs"][0]; print(int(j["read"]["iops"]+j["write"]["iops"]))'
}

for round in $(seq 1 "$ROUNDS"); do
	for rw in randread randwrite; do
		for qd in 1 32; do
			for d in raw linear cvol; do
				iops=$(run_fio "${dev[$d]}" $rw $qd)
				echo "$rw,$qd,$d,$iops" >>"$results"
			done
		done
	done
	echo "# round $round done"
done

say ""
say "4 KiB random I/O on null_blk (memory_backed), io_uring, O_DIRECT, ${RUNTIME}s x $ROUNDS interleaved rounds; median IOPS"
python3 - "$results" <<'EOF' | tee -a "$out"
import csv, statistics, sys
rows = list(csv.reader(open(sys.argv[1])))
med = {}
for rw, qd, d, iops in rows:
    med.setdefault((rw, qd, d), []).append(int(iops))
print(f"{'workload':<16}{'raw':>9}{'linear':>9}{'cvol':>9}{'cvol/linear':>13}{'cvol/raw':>10}   spread(cvol)")
for rw in ("randread", "randwrite"):
    for qd in ("1", "32"):
        m = {d: statistics.median(med[(rw, qd, d)]) for d in ("raw", "linear", "cvol")}
        c = med[(rw, qd, "cvol")]
        print(f"{rw+' QD'+qd:<16}{m['raw']:>9.0f}{m['linear']:>9.0f}{m['cvol']:>9.0f}"
              f"{m['cvol']/m['linear']:>13.2f}{m['cvol']/m['raw']:>10.2f}   {min(c)}..{max(c)}")
EOF
ok "hot path benchmark ran"
dmsetup remove bcvol blin

# map_set latency of one live extent, on a 1K-extent and a 1M-extent
# volume.  dmsetup's own process cost is measured with a no-op message
# (map_get of one extent) and printed beside it.
ms_now() { date +%s%N; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

bench_map_set() {	# <name> <extents> <extent_sectors> <device>
	local name=$1 n=$2 ext=$3 d=$4 i v g t0 t1 lat=() nop=()
	dmsetup create "$name" --table "0 $((n * ext)) cvol $name $ext 1 $d 0 3 map_runs 1 0:0:0:$n"
	g=0
	for i in $(seq 1 11); do
		# Move one live extent out to a spare physical extent past the
		# volume's own, and back: two timed live changes per sample.
		v=$((i * 7919 % n))
		for p in $((n + 1)) "$v"; do
			t0=$(ms_now)
			g=$(dmsetup message "$name" 0 map_set "$g" "$v:0:$p")
			t1=$(ms_now)
			lat+=($(( (t1 - t0) / 1000 )))
		done
		t0=$(ms_now)
		dmsetup message "$name" 0 map_get "$v" 1 >/dev/null
		t1=$(ms_now)
		nop+=($(( (t1 - t0) / 1000 )))
	done
	assert_eq "$name: 22 live changes bumped the generation 22 times" 22 "$g"
	local m_set m_nop
	m_set=$(printf '%s\n' "${lat[@]}" | median)
	m_nop=$(printf '%s\n' "${nop[@]}" | median)
	say "$(printf '%-22s map_set(live) median %7d us   no-op message median %7d us   difference %7d us' \
		"$name ($n extents)" "$m_set" "$m_nop" $((m_set - m_nop)))"
	dmsetup remove "$name"
}

say ""
say "one-extent map_set on a mapped extent (hold, drain, switch, release), 22 samples"
big_nb=$(mk_nullb 4100)		# memory-backed: pages appear only when written
bench_map_set ms1k 1024 8 "$nb"
bench_map_set ms1m 1048576 8 "$big_nb"
ok "map_set latency measured"

t0=$(ms_now)
dmsetup create big --table "0 $((1048576 * 8)) cvol big 8 1 $big_nb 0 3 map_runs 1 0:0:0:1048576"
t1=$(ms_now)
say "create of a 1M-extent volume: $(( (t1 - t0) / 1000000 )) ms"
t0=$(ms_now)
dmsetup table big >/dev/null
t1=$(ms_now)
say "dmsetup table of it: $(( (t1 - t0) / 1000000 )) ms"
dmsetup remove big
finish
