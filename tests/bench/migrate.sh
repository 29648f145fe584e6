# Benchmark (runs inside the test VM): online migration of N extents with
# migrate_start / migrate_commit, against a raw dd copy of the same amount
# and against the anchor, LVM2 pvmove (dm-mirror + kcopyd, one 2 MiB region
# at a time), idle and under a foreground fio load.
#
# Devices: four memory-backed null_blk devices, all made the same way by
# mk_nullb (512 B blocks) and written once in full first, so no run pays
# null_blk's first-write page allocation:
#   CA, CB  the cvol volume "mcvol" (2 slots: 0 = CA, 1 = CB, both offset 0;
#           N extents of EXT_MIB, identity map on one slot) and, behind the
#           volume's area, the dd copy area (same size, same two devices)
#   LA, LB  two LVM PVs of VG "vgm"; LV "lv" of the same size on one of them
# Every variant moves the same amount (N * EXT_MIB) from one device to its
# twin and back in the next move (the devices are identical), so the
# direction alternates.
#
# Variants (interleaved; the order rotates every repetition):
#   idle:  cvol-default (migrate_throttle 16 8 = the defaults), cvol-tuned
#          (CVOL_BENCH_MIG_TUNED, default "64 32"), dd (bs=1M, O_DIRECT both
#          sides, dd's own elapsed time), pvmove
#   load:  fio randrw 4k QD16 io_uring O_DIRECT over the whole volume / LV,
#          time based; idle-cvol / idle-lv are the same fio with nothing
#          moving for IDLE_S seconds; cvol-default, cvol-tuned, pvmove move
#          while it runs.  fio logs every I/O's total latency with a
#          CLOCK_REALTIME stamp (log_unix_epoch); IOPS, p99 and max are taken
#          over exactly the window of the move (first migrate_start .. last
#          migrate_commit returned; pvmove start .. exit), after WARM_S of
#          fio warm-up.
#
# cvol's control plane is migbench.c (libdevmapper in one process, status
# polled every POLL_MS, each extent committed as soon as it is seen ready,
# at most max_migrations at once, the next started when one commits).
#   to ready  = first migrate_start .. last extent seen "ready" in status
#   to done   = .. last migrate_commit returned (the data is moved)
# pvmove:
#   to ready  = command start .. its mirror (vgm-pvmove0) fully in sync
#               (polled by migbench watch every POLL_MS)
#   to done   = command start .. exit (LV switched to the new PV)
#   mirror    = mirror first seen .. fully in sync (the kernel copy alone;
#               LVM's start-up, metadata commits and its 1 s poll excluded)
# Idle cvol moves are checked: the map says slot <dst> afterwards and the
# destination (zeroed before the move) equals the source byte for byte.
# Anything the migration does wrong (refused start, state failed, no
# progress, wrong map or data) fails the run with the evidence; the harness
# fails it on any kernel WARNING / hung task too.
#
# LVM in the guest: a private lvm.conf (lvm_setup in tests/bench/lib.bash
# says why each setting) whose filter accepts only LA and LB, so LVM never
# scans the cvol devices. pvmove polls in the foreground, -i 1: its 1 s
# interval bounds "to done".
# timeout: 900
# mem: 3072
source "$CVOL_ROOT/tests/vm/lib.sh"
source "$CVOL_ROOT/tests/bench/lib.bash"
cd /tmp

# Knobs: tests/vm/run.sh does not pass the host's environment into the
# guest, so these defaults are what runs unless you edit them here.
REPS=${CVOL_BENCH_MIG_REPS:-3}
N=${CVOL_BENCH_MIG_EXTENTS:-32}
EXT_MIB=${CVOL_BENCH_MIG_EXT_MIB:-4}
read -r TUNED_R TUNED_M <<<"${CVOL_BENCH_MIG_TUNED:-64 32}"
DEF_R=16 DEF_M=8			# the documented defaults, set explicitly
IDLE_S=${CVOL_BENCH_MIG_IDLE_S:-5}	# window of the idle fio baselines
WARM_S=3				# fio start-up before a window opens
QD=${CVOL_BENCH_MIG_QD:-16}
POLL_MS=10
MIB=$((N * EXT_MIB))			# moved per variant
ES=$((EXT_MIB * 2048))			# extent sectors
out=$CVOL_OUT/bench.txt
res=$CVOL_OUT/migrate.csv
: >"$out"
echo "phase,variant,rep,ready_s,done_s,mirror_s,iops,p99_us,max_us,ios" >"$res"

say() { echo "$*" | tee -a "$out"; }

gcc -O2 -Wall -o /tmp/migbench "$CVOL_ROOT/tests/bench/migbench.c" -ldevmapper

load_cvol
modprobe dm_mirror
ca=$(mk_nullb $((2 * MIB)))
cb=$(mk_nullb $((2 * MIB)))
la=$(mk_nullb $((MIB + 32)))
lb=$(mk_nullb $((MIB + 32)))
for d in "$ca" "$cb" "$la" "$lb"; do
	dd if=/dev/zero of="$d" bs=1M count=$(($(dev_sectors "$d") / 2048)) oflag=direct status=none
done
plan_note "devices: cvol $ca $cb, lvm $la $lb; $N x $EXT_MIB MiB = $MIB MiB per move"

# ---- cvol volume: slot 0 = CA, slot 1 = CB; data on slot 0 first.
vol=/dev/mapper/mcvol
dmsetup create mcvol --table "0 $((N * ES)) cvol mbench $ES 2 $ca 0 $cb 0 3 map_runs 1 0:0:0:$N"
dd if=/dev/urandom of="$vol" bs=1M count="$MIB" oflag=direct status=none
cvol_side=0
cdev=("$ca" "$cb")

# ---- LVM
lvm_setup "$la" "$lb"
lvmlog=$CVOL_OUT/lvm.log
: >"$lvmlog"
lvm pvcreate -y -ff "$la" "$lb" >>"$lvmlog" 2>&1
lvm vgcreate -s 4m vgm "$la" "$lb" >>"$lvmlog" 2>&1
lvm lvcreate -y -Zn -Wn -L "${MIB}m" -n lv vgm "$la" >>"$lvmlog" 2>&1
lv=/dev/mapper/vgm-lv
[ -b "$lv" ] || { fail "LVM: no $lv (see lvm.log)"; finish; }
dd if=/dev/urandom of="$lv" bs=1M count="$MIB" oflag=direct status=none
lv_side=0
ldev=("$la" "$lb")
dd_side=0
ok "setup: cvol volume and LVM LV of $MIB MiB each"

# ---- the moves.  Each sets R_READY R_DONE R_MIRROR (seconds) and W0 W1
# (the window, epoch seconds).

move_cvol() {	# <def|tuned> <idle|load>
	local r m dst=$((1 - cvol_side)) line
	if [ "$1" = def ]; then r=$DEF_R m=$DEF_M; else r=$TUNED_R m=$TUNED_M; fi
	if [ "$2" = idle ]; then	# make the copy check meaningful
		dd if=/dev/zero of="${cdev[$dst]}" bs=1M count="$MIB" oflag=direct status=none
	fi
	# migbench gives up after 120 s without progress; the outer timeout
	# catches a message that never returns.  Either way: evidence, no retry.
	if ! timeout -k 5 150 /tmp/migbench cvol mcvol "$N" "$dst" "$POLL_MS" 120 "$r" "$m" >/tmp/mb.out 2>/tmp/mb.err; then
		fail "cvol migration ($1, $2, rep $rep) did not complete"
		sed 's/^/#   /' /tmp/mb.err
		tail -n 5 /tmp/mb.out | sed 's/^/#   /'
		echo "#   status: $(timeout 10 dmsetup status mcvol 2>&1)"
		echo w >/proc/sysrq-trigger	# blocked tasks, with stacks
		echo "#   dmesg:"
		dmesg | tail -n 80 | sed 's/^/#   /'
		cp /tmp/mb.out "$CVOL_OUT/migbench-failed.out"
		finish
	fi
	cp /tmp/mb.out "$CVOL_OUT/migbench-$1-$2-$rep.out"
	line=$(grep '^result ' /tmp/mb.out)
	read -r _ _ W0 _ R_READY _ R_DONE _ W1 _ <<<"$line"
	R_MIRROR=
	assert_eq "cvol $1 $2 rep $rep: map on slot $dst" "0:$dst:0:$N" "$(dmsetup message mcvol 0 map_get 0 "$N")"
	assert_match "cvol $1 $2 rep $rep: no migration left" \
		"^0 $((N * ES)) cvol [0-9]+ $N/$N AA 0 0 " "$(dmsetup status mcvol)"
	if [ "$2" = idle ]; then
		check "cvol $1 rep $rep: destination = source" -- \
			cmp <(dd if="${cdev[$cvol_side]}" bs=1M count="$MIB" iflag=direct status=none) \
			<(dd if="${cdev[$dst]}" bs=1M count="$MIB" iflag=direct status=none)
	fi
	cvol_side=$dst
}

move_dd() {
	local dst=$((1 - dd_side))
	dd if="${cdev[$dd_side]}" of="${cdev[$dst]}" bs=1M count="$MIB" skip="$MIB" seek="$MIB" \
		iflag=direct oflag=direct 2>/tmp/dd.err
	# "134217728 bytes (134 MB, 128 MiB) copied, 0.61 s, 220 MB/s"
	R_DONE=$(sed -n 's/.* copied, \([0-9.e+-]*\) s,.*/\1/p' /tmp/dd.err)
	R_READY=$R_DONE R_MIRROR='' W0='' W1=''
	dd_side=$dst
}

move_pvmove() {	# <idle|load>
	local src=${ldev[$lv_side]} dst=${ldev[$((1 - lv_side))]} wpid t0 t1 seen synced rc=0
	/tmp/migbench watch vgm-pvmove0 "$POLL_MS" 300 >/tmp/watch.out &
	wpid=$!
	t0=$EPOCHREALTIME
	lvm pvmove -i 1 "$src" "$dst" >/tmp/pvmove.log 2>&1 || rc=$?
	t1=$EPOCHREALTIME
	kill -TERM "$wpid" 2>/dev/null || true
	wait "$wpid" || true
	{ echo "== pvmove $1 rep $rep rc=$rc"; cat /tmp/pvmove.log /tmp/watch.out; } >>"$lvmlog"
	if [ "$rc" != 0 ]; then
		fail "pvmove $src $dst ($1, rep $rep) exited $rc"
		sed 's/^/#   /' /tmp/pvmove.log
		finish
	fi
	read -r _ _ seen _ synced _ <"/tmp/watch.out"
	W0=$t0 W1=$t1
	R_DONE=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.6f", b - a }')
	if awk -v s="$seen" -v y="$synced" 'BEGIN { exit !(s > 0 && y > 0) }'; then
		R_READY=$(awk -v a="$t0" -v y="$synced" 'BEGIN { printf "%.6f", y - a }')
		R_MIRROR=$(awk -v s="$seen" -v y="$synced" 'BEGIN { printf "%.6f", y - s }')
	else
		R_READY='' R_MIRROR=''	# the mirror was never seen in sync
	fi
	lv_side=$((1 - lv_side))
	assert_match "pvmove $1 rep $rep: LV now on $dst" "$dst" \
		"$(lvm lvs --noheadings -o devices vgm/lv 2>>"$lvmlog")"
}

fio_start() {	# <device> <tag>
	rm -f /tmp/fl_lat.*.log
	fio --name=fg --filename="$1" --rw=randrw --bs=4k --iodepth="$QD" \
		--ioengine=io_uring --direct=1 --time_based --runtime=900 \
		--randrepeat=0 --norandommap --write_lat_log=/tmp/fl \
		--log_unix_epoch=1 --disable_slat=1 --disable_clat=1 \
		--output-format=json --output="$CVOL_OUT/fio-$2.json" >/dev/null 2>&1 &
	fio_pid=$!
	sleep "$WARM_S"
}

fio_stop() {
	kill -INT "$fio_pid"
	wait "$fio_pid" || true
}

# IOPS, p99 and max (us) of the total latency of the I/Os completed in
# [W0, W1], and their number.
fio_window() {
	python3 - /tmp/fl_lat.1.log "$W0" "$W1" <<'EOF'
import math, sys
t0, t1 = float(sys.argv[2]) * 1000, float(sys.argv[3]) * 1000
lat = []
for line in open(sys.argv[1]):
    f = line.split(",")
    if t0 <= int(f[0]) <= t1:
        lat.append(int(f[1]))
lat.sort()
n = len(lat)
if n == 0:
    print("0 0 0 0")
else:
    print(f"{n / ((t1 - t0) / 1000):.0f} {lat[max(0, math.ceil(0.99 * n) - 1)] // 1000} {lat[-1] // 1000} {n}")
EOF
}

record() {	# <phase> <variant> [iops p99 max n]
	echo "$1,$2,$rep,${R_READY:-},${R_DONE:-},${R_MIRROR:-},${3:-},${4:-},${5:-},${6:-}" >>"$res"
}

rotate() {	# <k> <items...>: the items rotated left by k
	local k=$1
	shift
	local a=("$@") i
	for ((i = 0; i < ${#a[@]}; i++)); do echo "${a[$(((i + k) % ${#a[@]}))]}"; done
}

for rep in $(seq 1 "$REPS"); do
	for v in $(rotate "$rep" cvol-def cvol-tuned dd pvmove); do
		case $v in
		cvol-def) move_cvol def idle ;;
		cvol-tuned) move_cvol tuned idle ;;
		dd) move_dd ;;
		pvmove) move_pvmove idle ;;
		esac
		record idle "$v"
	done
	for v in $(rotate "$rep" idle-cvol cvol-def cvol-tuned idle-lv pvmove); do
		case $v in
		idle-cvol | cvol-*) fio_start "$vol" "$v-$rep" ;;
		*) fio_start "$lv" "$v-$rep" ;;
		esac
		case $v in
		idle-*)
			W0=$EPOCHREALTIME
			sleep "$IDLE_S"
			W1=$EPOCHREALTIME
			R_READY='' R_DONE='' R_MIRROR=''
			;;
		cvol-def) move_cvol def load ;;
		cvol-tuned) move_cvol tuned load ;;
		pvmove) move_pvmove load ;;
		esac
		fio_stop
		# shellcheck disable=SC2046
		record load "$v" $(fio_window)
	done
	echo "# migrate rep $rep done"
done

say ""
say "Online migration of $N x $EXT_MIB MiB extents ($MIB MiB) between two memory-backed null_blk"
say "devices (guest: QEMU TCG, $(nproc) vCPUs, $(($(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024)) MiB, kernel $(uname -r));"
say "$REPS interleaved repetitions, medians; MB/s = 10^6 bytes/s. cvol default = migrate_throttle"
say "$DEF_R $DEF_M, tuned = $TUNED_R $TUNED_M (regions in flight, max migrations); region 1 MiB."
say "pvmove = LVM $(lvm version 2>/dev/null | awk '/LVM version/ {print $3}') (dm-mirror, 2 MiB regions, one at a time), -i 1."
say "fio: randrw 4k QD$QD io_uring O_DIRECT over the whole volume/LV; IOPS, p99 and max of the"
say "total latency over the move's window (idle baselines: a ${IDLE_S}s window, nothing moving)."
python3 - "$res" "$MIB" <<'EOF' | tee -a "$out"
import csv, statistics, sys
mib = int(sys.argv[2])
mb = mib * 1048576 / 1e6
rows = list(csv.DictReader(open(sys.argv[1])))
def col(phase, v, k):
    return [float(r[k]) for r in rows if r["phase"] == phase and r["variant"] == v and r[k] != ""]
def med(phase, v, k):
    x = col(phase, v, k)
    return statistics.median(x) if x else float("nan")
def rate(s):
    return mb / s if s and s == s else float("nan")
def f(x, w=9, p=2):
    return f"{x:>{w}.{p}f}" if x == x else f"{'-':>{w}}"
S = {}
print()
print("Idle copy                  to ready s     MB/s   to done s     MB/s   MB/s vs dd  spread done s")
for v, name in (("cvol-def", "cvol default"), ("cvol-tuned", "cvol tuned"), ("dd", "dd bs=1M direct"),
                ("pvmove", "pvmove")):
    rd, dn = med("idle", v, "ready_s"), med("idle", v, "done_s")
    S[v] = (rd, dn)
    d = col("idle", v, "done_s")
    print(f"{name:<26}{f(rd, 11, 3)}{f(rate(rd))}{f(dn, 12, 3)}{f(rate(dn))}{f(rate(dn) / rate(med('idle', 'dd', 'done_s')), 13)}"
          + (f"  {min(d):.3f}..{max(d):.3f}" if d else ""))
mi = med("idle", "pvmove", "mirror_s")
print(f"{'pvmove mirror only':<26}{f(mi, 11, 3)}{f(rate(mi))}")
dd = S["dd"][1]
pv = S["pvmove"]
print()
print("ratios (MB/s)              cvol/dd ready  cvol/dd done  cvol/pvmove ready  cvol/pvmove done")
for v, name in (("cvol-def", "cvol default"), ("cvol-tuned", "cvol tuned")):
    rd, dn = S[v]
    print(f"{name:<26}{f(dd / rd, 14)}{f(dd / dn, 14)}{f(pv[0] / rd, 19)}{f(pv[1] / dn, 18)}")
print()
print("Under fio load             done s     MB/s  fg IOPS  IOPS/idle  p99 ms  p99/idle  max ms  max/idle")
L = {}
for v, name, base in (("idle-cvol", "idle cvol volume", "idle-cvol"), ("cvol-def", "cvol default", "idle-cvol"),
                      ("cvol-tuned", "cvol tuned", "idle-cvol"), ("idle-lv", "idle LVM LV", "idle-lv"),
                      ("pvmove", "pvmove", "idle-lv")):
    dn = med("load", v, "done_s")
    io, p99, mx = (med("load", v, k) for k in ("iops", "p99_us", "max_us"))
    bi, bp, bm = (med("load", base, k) for k in ("iops", "p99_us", "max_us"))
    L[v] = (dn, io, p99, mx, io / bi, p99 / bp, mx / bm)
    print(f"{name:<26}{f(dn, 6, 3)}{f(rate(dn))}{f(io, 9, 0)}{f(io / bi, 11)}{f(p99 / 1000, 8)}{f(p99 / bp, 10)}"
          f"{f(mx / 1000, 8, 1)}{f(mx / bm, 10)}")
print(f"{'pvmove to ready / mirror':<26}{f(med('load', 'pvmove', 'ready_s'), 6, 3)} / {med('load', 'pvmove', 'mirror_s'):.3f} s")
print()
print("ratios under load          cvol/pvmove MB/s  cvol/pvmove fg IOPS  cvol/pvmove max lat")
for v, name in (("cvol-def", "cvol default"), ("cvol-tuned", "cvol tuned")):
    print(f"{name:<26}{f(L['pvmove'][0] / L[v][0], 16)}{f(L[v][1] / L['pvmove'][1], 21)}{f(L[v][3] / L['pvmove'][3], 21)}")
print()
kv = {"mib": mib, "reps": len(col("idle", "dd", "done_s"))}
for v, k in (("cvol-def", "cvol_def"), ("cvol-tuned", "cvol_tuned"), ("dd", "dd"), ("pvmove", "pvmove")):
    kv[f"idle_{k}_ready_mbs"] = round(rate(S[v][0]), 1)
    kv[f"idle_{k}_done_mbs"] = round(rate(S[v][1]), 1)
kv["idle_pvmove_mirror_mbs"] = round(rate(mi), 1)
for v, k in (("cvol-def", "cvol_def"), ("cvol-tuned", "cvol_tuned")):
    kv[f"ratio_{k}_dd"] = round(dd / S[v][1], 3)
    kv[f"ratio_{k}_pvmove"] = round(pv[1] / S[v][1], 3)
for v, k in (("cvol-def", "cvol_def"), ("cvol-tuned", "cvol_tuned"), ("pvmove", "pvmove")):
    dn, io, p99, mx, ri, rp, rm = L[v]
    kv[f"load_{k}_mbs"] = round(rate(dn), 1)
    kv[f"load_{k}_iops_frac"] = round(ri, 3)
    kv[f"load_{k}_p99_ms"] = round(p99 / 1000, 2)
    kv[f"load_{k}_max_ms"] = round(mx / 1000, 1)
for k in ("idle-cvol", "idle-lv"):
    kv[f"load_{k.replace('-', '_')}_iops"] = round(L[k][1])
print("MIGBENCH " + " ".join(f"{k}={v}" for k, v in kv.items()))
EOF
ok "migration benchmark ran"
dmsetup remove mcvol
lvm vgremove -y -ff vgm >>"$lvmlog" 2>&1 || fail "vgremove (see lvm.log)"
finish
