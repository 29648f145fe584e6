# Benchmark (runs inside the test VM): the pause that I/O sees when one
# extent is moved, cvol (freeze -> freeze_wait -> map_set -> thaw) against
# the anchor, a dm-linear reload + suspend + resume (an LVM pvmove step);
# then the latency of I/O outside a frozen range, with and without a freeze.
#
# The control plane runs in one small C program (pausebench.c, compiled
# here against libdevmapper), so dmsetup's process start-up (~150 ms under
# TCG) is not part of any number.  A probe thread in that program writes
# 4 KiB O_DIRECT blocks to the moved extent in a loop; a move's pause is the
# longest probe write that overlapped the window in which I/O is held.  Both
# devices sit on the same memory-backed null_blk, and the configurations
# are interleaved round by round (cvol idle, linear idle, cvol load, linear
# load, ...); "load" is fio randrw QD16 over the whole device at the same
# time.  Medians and p99 (nearest rank) over every move.
# timeout: 900
# mem: 3072
source "$CVOL_ROOT/tests/vm/lib.sh"
cd /tmp

ROUNDS=${CVOL_BENCH_PAUSE_ROUNDS:-5}
MOVES=${CVOL_BENCH_PAUSE_MOVES:-12}	# per configuration and round
GAP_MS=100				# between moves
LAT_ROUNDS=${CVOL_BENCH_LAT_ROUNDS:-5}
LAT_RUNTIME=${CVOL_BENCH_RUNTIME:-4}
EXT=2048				# 1 MiB extents
NEXT=1000				# extents in the volume
V=500					# the extent that moves
out=$CVOL_OUT/bench.txt
: >"$out"

say() { echo "$*" | tee -a "$out"; }

gcc -O2 -Wall -o /tmp/pausebench "$CVOL_ROOT/tests/bench/pausebench.c" -ldevmapper -lpthread

load_cvol
nb=$(mk_nullb 1024)
# Touch every page once so no run pays null_blk's first-write allocation.
dd if=/dev/zero of="$nb" bs=1M count=1024 oflag=direct status=none

sectors=$((NEXT * EXT))
# cvol: identity map of NEXT extents; V moves between pext V and a spare.
dmsetup create pcvol --table "0 $sectors cvol pbench $EXT 1 $nb 0 3 map_runs 1 0:0:0:$NEXT"
# linear: three segments, the middle one (extent V) alternating between the
# same two places; both tables have the same shape.
mk_table() {	# <pext of extent V>
	echo "0 $((V * EXT)) linear $nb 0"
	echo "$((V * EXT)) $EXT linear $nb $(($1 * EXT))"
	echo "$(((V + 1) * EXT)) $((sectors - (V + 1) * EXT)) linear $nb $(((V + 1) * EXT))"
}
mk_table $V >/tmp/table.a
mk_table $((NEXT + 1)) >/tmp/table.b
dmsetup create plin </tmp/table.a

declare -A dev=([cvol]=/dev/mapper/pcvol [linear]=/dev/mapper/plin)
res=$CVOL_OUT/pause.csv
: >"$res"

start_load() {	# <device> <fio json output>
	fio --name=load --filename="$1" --rw=randrw --bs=4k --iodepth=16 \
		--ioengine=io_uring --direct=1 --time_based --runtime=600 \
		--randrepeat=0 --norandommap --output-format=json --output="$2" \
		>/dev/null 2>&1 &
	load_pid=$!
	sleep 2		# fio's own start-up under TCG
}

stop_load() {
	kill -INT "$load_pid"
	wait "$load_pid" || true
}

run_moves() {	# <d> <load>
	local d=$1 load=$2 args
	if [ "$d" = cvol ]; then
		args=(cvol "${dev[cvol]}" pcvol "$MOVES" $GAP_MS $((V * EXT * 512)) $V $((NEXT + 1)) $V)
	else
		args=(linear "${dev[linear]}" plin "$MOVES" $GAP_MS $((V * EXT * 512)) /tmp/table.b /tmp/table.a)
	fi
	[ "$load" = idle ] || start_load "${dev[$d]}" "$CVOL_OUT/load-$d-$round.json"
	/tmp/pausebench "${args[@]}" >/tmp/pb.out
	[ "$load" = idle ] || stop_load
	awk -v d="$d" -v l="$load" '$1 == "move" { print d "," l "," $4 "," $6 "," $8 "," $10 "," $12 "," $14 "," $16 }
		$1 == "probe" { print "# " d " " l " probe: " $0 }' /tmp/pb.out >>"$res"
}

gen0=$(dmsetup status pcvol | awk '{print $4}')
for round in $(seq 1 "$ROUNDS"); do
	for load in idle load; do
		for d in cvol linear; do
			run_moves $d $load
		done
	done
	echo "# pause round $round done"
done
gen1=$(dmsetup status pcvol | awk '{print $4}')
assert_eq "every cvol move bumped the map generation" $((ROUNDS * MOVES * 2)) $((gen1 - gen0))
assert_match "no freeze left behind" "^0 $sectors cvol [0-9]+ [0-9]+/[0-9]+ A 0 " "$(dmsetup status pcvol)"
check "extent $V is back where it started" -- \
	bash -c "dmsetup message pcvol 0 map_get $V 1 | grep -qx '$V:0:$V:1'"

say ""
say "Pause seen by a 4 KiB O_DIRECT writer to the moved extent (null_blk, 1 MiB extents)"
say "cvol: freeze -> freeze_wait -> map_set -> thaw; linear: reload -> suspend -> resume;"
say "all over libdevmapper in one process; $ROUNDS interleaved rounds x $MOVES moves per configuration;"
say "load = fio randrw 4k QD16 io_uring over the whole device. Times in us; p99 = nearest rank."
python3 - "$res" <<'EOF' | tee -a "$out"
import csv, math, statistics, sys
rows = [r for r in csv.reader(open(sys.argv[1])) if not r[0].startswith("#")]
def pct(v, p):
    v = sorted(v)
    return v[max(0, math.ceil(p / 100 * len(v)) - 1)]
cols = ["pause", "ctl", "ref", "a", "b", "c", "d"]
data = {}
for r in rows:
    k = (r[0], r[1])
    for i, c in enumerate(cols):
        data.setdefault(k, {}).setdefault(c, []).append(int(r[2 + i]))
print(f"{'config':<13}{'moves':>6}{'pause p50':>11}{'pause p99':>11}{'ctl p50':>9}{'ctl p99':>9}"
      f"{'noise p50':>11}{'noise p99':>11}   step medians")
steps = {"cvol": ("freeze", "freeze_wait", "map_set", "thaw"),
         "linear": ("reload", "suspend", "resume", None)}
for load in ("idle", "load"):
    for d in ("cvol", "linear"):
        x = data[(d, load)]
        st = " ".join(f"{n} {statistics.median(x[c]):.0f}" for n, c in zip(steps[d], "abcd") if n)
        print(f"{d+' '+load:<13}{len(x['pause']):>6}{statistics.median(x['pause']):>11.0f}"
              f"{pct(x['pause'], 99):>11}{statistics.median(x['ctl']):>9.0f}{pct(x['ctl'], 99):>9}"
              f"{statistics.median(x['ref']):>11.0f}{pct(x['ref'], 99):>11}   {st}")
print()
print("ratio cvol/linear        pause p50  pause p99    ctl p50    ctl p99")
for load in ("idle", "load"):
    c, l = data[("cvol", load)], data[("linear", load)]
    r = lambda k, f: f(c[k]) / f(l[k])
    p99 = lambda v: pct(v, 99)
    print(f"{load:<22}{r('pause', statistics.median):>11.2f}{r('pause', p99):>11.2f}"
          f"{r('ctl', statistics.median):>11.2f}{r('ctl', p99):>11.2f}")
print("(noise = the longest probe write in an equally long window just before each move)")
EOF
python3 - "$CVOL_OUT" "$ROUNDS" <<'EOF' | tee -a "$out"
import json, statistics, sys
iops = {}
for d in ("cvol", "linear"):
    for r in range(1, int(sys.argv[2]) + 1):
        t = open(f"{sys.argv[1]}/load-{d}-{r}.json").read()
        j = json.loads(t[t.index("{"):])["jobs"][0]	# fio prints a line first on SIGINT
        iops.setdefault(d, []).append(j["read"]["iops"] + j["write"]["iops"])
print("load fio IOPS over the moves, median of rounds: " +
      ", ".join(f"{d} {statistics.median(v):.0f}" for d, v in iops.items()))
EOF
rcu=$(/tmp/pausebench rcu 50)
say "RCU grace period in this guest (membarrier GLOBAL = synchronize_rcu, idle): $rcu"
ok "pause benchmark ran"

# I/O outside a frozen range: randread QD1 on extents 200..999 while a
# freeze (with one write parked in it) holds extents 0..99, against no
# freeze; interleaved, the order swapped every round.
lat_fio() {	# <json out>
	fio --name=o --filename="${dev[cvol]}" --offset=$((200 * EXT * 512)) \
		--size=$(((NEXT - 200) * EXT * 512)) --rw=randread --bs=4k \
		--iodepth=1 --ioengine=io_uring --direct=1 --time_based \
		--runtime="$LAT_RUNTIME" --randrepeat=0 --norandommap \
		--output-format=json --output="$1" >/dev/null 2>&1
}
lat=$CVOL_OUT/outside.csv
: >"$lat"
for round in $(seq 1 "$LAT_ROUNDS"); do
	if [ $((round % 2)) = 1 ]; then order="frozen free"; else order="free frozen"; fi
	for m in $order; do
		if [ "$m" = frozen ]; then
			id=$(dmsetup message pcvol 0 freeze 0 100 60000)
			dmsetup message pcvol 0 freeze_wait "$id" 10000 >/dev/null
			dd if=/dev/zero of="${dev[cvol]}" bs=4k count=1 oflag=direct status=none &
			dd_pid=$!
			sleep 0.5
		fi
		lat_fio /tmp/lat.json
		if [ "$m" = frozen ]; then
			assert_match "the freeze is held during the run" " 1 $id:0:100:" "$(dmsetup status pcvol)"
			dmsetup message pcvol 0 thaw "$id" >/dev/null
			wait "$dd_pid"
		fi
		python3 - "$m" /tmp/lat.json <<'EOF' >>"$lat"
import json, sys
r = json.load(open(sys.argv[2]))["jobs"][0]["read"]
p = r["clat_ns"]["percentile"]
print(f'{sys.argv[1]},{int(r["iops"])},{p["50.000000"]},{p["99.000000"]}')
EOF
	done
done

say ""
say "Randread 4k QD1 (io_uring) on extents 200..999 of the cvol device, with a freeze on extents 0..99"
say "(one write parked in it) vs none; ${LAT_RUNTIME}s x $LAT_ROUNDS interleaved rounds; medians of the per-run clat"
python3 - "$lat" <<'EOF' | tee -a "$out"
import csv, statistics, sys
d = {}
for m, iops, p50, p99 in csv.reader(open(sys.argv[1])):
    d.setdefault(m, []).append((int(iops), int(p50), int(p99)))
print(f"{'':<14}{'IOPS':>8}{'clat p50 us':>13}{'clat p99 us':>13}   p99 spread us")
med = {}
for m in ("free", "frozen"):
    v = d[m]
    med[m] = [statistics.median(x[i] for x in v) for i in range(3)]
    p99s = [x[2] / 1000 for x in v]
    print(f"{'no freeze' if m == 'free' else 'freeze held':<14}{med[m][0]:>8.0f}{med[m][1]/1000:>13.1f}"
          f"{med[m][2]/1000:>13.1f}   {min(p99s):.1f}..{max(p99s):.1f}")
print(f"{'held/none':<14}{med['frozen'][0]/med['free'][0]:>8.2f}{med['frozen'][1]/med['free'][1]:>13.2f}"
      f"{med['frozen'][2]/med['free'][2]:>13.2f}")
EOF
ok "outside-range latency measured"
dmsetup remove pcvol plin
finish
