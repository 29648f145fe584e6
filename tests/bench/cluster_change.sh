#!/usr/bin/env bash
# timeout: 1200
# mem: 3072
#
# Benchmark (runs inside the test VM): one cluster allocation change, i.e.
# `clusterctl volume move --wait` of one 4 MiB extent on the Primary, with 3
# and with 8 hosts, idle and under load, against a single-host move of one
# extent (cvold without --host) in the same guest and the same run.
#
#   move ms   command to release: from just before clusterctl starts until
#             `volume move --wait` returns (the Primary's move_done is a few
#             ms before that; the step table shows it)
#   pause ms  the longest 4 KiB O_DIRECT probe write to the moving extent
#             that overlapped the move (a small C probe, QD1, one write per
#             PROBE_GAP_US, compiled here), on the Primary's device and on
#             the last-joined host's device; the larger of the two.  Single
#             host: the probe on its one device.  The QD1 probe sees a
#             freeze as ONE long write, so "2nd" (the second-longest write
#             in the same window) shows what else the window held: noise and
#             smaller stalls.
#   held ms   per host, cluster_frozen -> cluster_released from the daemons'
#             own event log lines (median over the cluster's hosts)
#
# Layout: two clusters at once, so that 3 and 8 hosts interleave rep by rep:
# hosts h1-h3 (etcd prefix /cvol/c3/, pool p3) and h4-h11 (prefix /cvol/c8/, pool p8),
# network namespaces cvh1..cvh11 (tests/vm/lib/cluster.bash), one 3-member
# etcd for all, plus a single-host cvold in the root namespace (prefix
# /cvol/single/, pool ps, --instance s). Each cluster/daemon has its own two
# shared loop pvs and a 64 MiB volume; extent MOVE_EXT moves back and forth
# between them. The other cluster's daemons stay up (idle) during a
# measurement: the same background for every configuration.
#
# Load: one fio per configuration with one job per host device (block devices
# are not namespaced: /dev/mapper/p8-v@h7 IS host h7's kernel volume),
# random 4 KiB writes over the whole volume, O_DIRECT, QD4, capped at
# LOAD_IOPS per host: on real hardware each host brings its own CPUs, here 12
# daemons, 3 etcd members and the load share 2 TCG vCPUs. At 150 IOPS per
# host the 8-host load starved etcd (leader elections for 6 s, every kernel
# lease expired, the move was rolled back), so the default is 50.
#
# Robustness settings for the TCG guest, none of which is on the timed path
# of a move that succeeds: lease TTL 20 s (a daemon fences itself after
# TTL/2 without a renewal: an etcd leader election under load must not fence
# every host), --etcd-timeout 5, --cluster-freeze-timeout-ms 40000 (>= 2 TTL).
# A configuration whose move fails is not measured again (its cluster may be
# fenced); the report says so.
#
# Order per repetition: idle (single, c3, c8, rotated each rep), then load
# (same rotation). Medians over REPS reps; ratios cluster/single and 8/3.
# Knobs (environment, or the same NAME=value word on the kernel command line,
# e.g. CVOL_VM_APPEND="CC_REPS=1" for a quick run): CC_REPS (5),
# CC_LOAD_IOPS (50), CC_PROBE_GAP_US (2000), CC_LEASE_TTL (20), CC_BUDGET_S
# (660: no new rep starts after this many seconds of measuring, so a guest
# slowed down by a busy host still ends inside the VM timeout).
#
# A move during which any host of its configuration was fenced, found
# unresponsive or excluded, a kernel lease expired, or etcd elected a leader
# is "disturbed": listed, and left out of the medians (it measures the
# failure handling, not the change).
#
# Output: $CVOL_OUT/bench.txt (tables), cluster_change.csv (one row per move),
# cvold-*.log (events), fio-*.json (load).
source "$CVOL_ROOT/tests/vm/lib.sh"
source "$CVOL_ROOT/tests/vm/lib/cluster.bash"

# A knob from the environment, else from a NAME=value word on the kernel
# command line (run.sh passes no environment into the guest), else DEFAULT.
knob() {
	local name=$1 def=$2 w v=${!1:-}
	if [ -z "$v" ]; then
		for w in $(cat /proc/cmdline); do
			case "$w" in "$name="*) v=${w#*=} ;; esac
		done
	fi
	echo "${v:-$def}"
}

REPS=$(knob CC_REPS 5)
LOAD_IOPS=$(knob CC_LOAD_IOPS 50)
PROBE_GAP_US=$(knob CC_PROBE_GAP_US 2000)
BUDGET_S=$(knob CC_BUDGET_S 660)
PROBE_MIN_US=1000		# the probe logs only writes at least this long
export CLUSTER_LEASE_TTL
CLUSTER_LEASE_TTL=$(knob CC_LEASE_TTL 20)	# see "Robustness settings" above
EXT_MB=4
VOL_MB=64
PV_MB=96
MOVE_EXT=5
W=/tmp/cc
out=$CVOL_OUT/bench.txt
runs=$W/runs.csv

mkdir -p $W
: >"$out"
: >"$runs"
say() { echo "$*" | tee -a "$out"; }

# Configurations: the socket of the daemon that runs the move (the Primary),
# pool, host numbers (load: every host; probes: first and last).
CFGS=(single c3 c8)
declare -A SOCK=([single]=$CVOLD_SOCKET [c3]=/run/cvol/h1.sock [c8]=/run/cvol/h4.sock)
declare -A POOL=([single]=ps [c3]=p3 [c8]=p8)
declare -A HOSTS=([single]=s [c3]="1 2 3" [c8]="4 5 6 7 8 9 10 11")
declare -A PROBE_HOSTS=([single]=s [c3]="1 3" [c8]="4 11")

dev_of() { # CFG HOST: that host's dm device of the configuration's volume
	if [ "$2" = s ]; then echo "/dev/mapper/${POOL[$1]}-v@s"; else echo "/dev/mapper/${POOL[$1]}-v@h$2"; fi
}
ctl() { # CFG ARGS...: clusterctl on the configuration's Primary
	local cfg=$1
	shift
	"$CLUSTERCTL" --socket "${SOCK[$cfg]}" "$@"
}

# ------------------------------------------------------------ probe ---

# QD1 4 KiB O_DIRECT writes, one per GAP_US (a busy loop would take a vCPU
# from the daemons being measured; the gap bounds the error of a pause to
# GAP_US). Times are CLOCK_REALTIME, the clock of $EPOCHREALTIME and of
# cvold's event time_ns.
build_probe() {
	cat >$W/ccprobe.c <<'EOF'
/* ccprobe DEV OFF GAP_US MIN_US: writes 4 KiB O_DIRECT blocks to DEV from
 * byte OFF (cycling over 1 MiB), one every GAP_US, until SIGTERM; prints
 * "start_ns lat_ns" for each write of at least MIN_US, then
 * "# n <writes> p50_us <median> max_us <max>". */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stop;
static void on_term(int s) { (void)s; stop = 1; }
static uint64_t now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_REALTIME, &t);
	return (uint64_t)t.tv_sec * 1000000000ull + t.tv_nsec;
}
static int cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}
int main(int argc, char **argv)
{
	struct sigaction sa;
	size_t cap = 1u << 22, n = 0;
	uint32_t *lat = malloc(cap * sizeof(*lat));
	void *buf;
	unsigned k;
	int fd;

	if (argc != 5) {
		fprintf(stderr, "usage: ccprobe DEV OFF GAP_US MIN_US\n");
		return 2;
	}
	off_t off = strtoll(argv[2], NULL, 10);
	unsigned gap = strtoul(argv[3], NULL, 10);
	uint64_t min_ns = strtoull(argv[4], NULL, 10) * 1000;
	fd = open(argv[1], O_WRONLY | O_DIRECT);
	if (fd < 0 || !lat || posix_memalign(&buf, 4096, 4096)) {
		perror("ccprobe: setup");
		return 1;
	}
	memset(buf, 0x5a, 4096);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_term;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	for (k = 0; !stop; k++) {
		uint64_t t0 = now_ns(), d;

		if (pwrite(fd, buf, 4096, off + (off_t)(k % 256) * 4096) != 4096) {
			perror("ccprobe: pwrite");
			return 1;
		}
		d = now_ns() - t0;
		if (n < cap)
			lat[n++] = d / 1000 > UINT32_MAX ? UINT32_MAX : d / 1000;
		if (d >= min_ns)
			printf("%llu %llu\n", (unsigned long long)t0, (unsigned long long)d);
		if (gap)
			usleep(gap);
	}
	qsort(lat, n, sizeof(*lat), cmp);
	printf("# n %zu p50_us %u max_us %u\n", n, n ? lat[n / 2] : 0, n ? lat[n - 1] : 0);
	return 0;
}
EOF
	gcc -O2 -Wall -o $W/ccprobe $W/ccprobe.c
}

PROBE_PIDS=()
probes_start() { # CFG TAG: one probe per probe host, on the moving extent
	local cfg=$1 tag=$2 h
	PROBE_PIDS=()
	for h in ${PROBE_HOSTS[$cfg]}; do
		$W/ccprobe "$(dev_of "$cfg" "$h")" $((MOVE_EXT * EXT_MB << 20)) "$PROBE_GAP_US" "$PROBE_MIN_US" \
			>"$W/probe-$tag-$h.txt" &
		PROBE_PIDS+=($!)
	done
}
probes_stop() {
	local p
	for p in "${PROBE_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	for p in "${PROBE_PIDS[@]}"; do wait "$p" || true; done
	PROBE_PIDS=()
}

# ------------------------------------------------------------- load ---

LOAD_PID=
load_start() { # CFG JSON_OUT: fio random writes on every host of CFG
	local cfg=$1 h jobs=()
	for h in ${HOSTS[$cfg]}; do
		jobs+=(--name="h$h" --filename="$(dev_of "$cfg" "$h")")
	done
	fio --rw=randwrite --bs=4k --ioengine=libaio --direct=1 --iodepth=4 \
		--rate_iops="$LOAD_IOPS" --time_based --runtime=900 --randrepeat=0 \
		--norandommap --output-format=json --output="$2" "${jobs[@]}" \
		>/dev/null 2>&1 &
	LOAD_PID=$!
	sleep 3		# fio's start-up under TCG: every job issuing before we measure
}
load_stop() {
	[ -n "$LOAD_PID" ] || return 0
	kill -INT "$LOAD_PID" 2>/dev/null || true
	wait "$LOAD_PID" || true
	LOAD_PID=
}

# Whatever a failed run leaves behind must stop before lib.sh removes the
# dm devices (the hooks run before cluster_cleanup and cvold_cleanup).
bench_stop_all() {
	probes_stop
	load_stop
}
CLUSTER_CLEANUP_HOOKS+=(bench_stop_all)

# ------------------------------------------------------------ setup ---

pool_setup() { # CFG: pool, two pvs, the volume, prefilled; on its Primary
	local cfg=$1 p=${POOL[$1]} a b
	local -a pvs
	mapfile -t pvs < <(shared_devices 2 "$PV_MB")
	[ ${#pvs[@]} -eq 2 ] || return 1
	a=${pvs[0]} b=${pvs[1]}
	ctl "$cfg" pool create "$p" --extent-size ${EXT_MB}M >/dev/null &&
		ctl "$cfg" pv create "$a" --pool "$p" --name "${p}A" >/dev/null &&
		ctl "$cfg" pv create "$b" --pool "$p" --name "${p}B" >/dev/null &&
		ctl "$cfg" volume create "$p/v" --size ${VOL_MB}M >/dev/null
}

cluster_up() { # CFG: start its hosts in order (the first one is the Primary)
	local cfg=$1 h
	for h in ${HOSTS[$cfg]}; do
		host_start "$h" --etcd-prefix "/cvol/$cfg/" --etcd-timeout 5 \
			--cluster-freeze-timeout-ms $((CLUSTER_LEASE_TTL * 2000)) || return 1
		sleep 1	# join in order: rank = join order
	done
}

wait_devices() { # CFG: the volume on every host of CFG
	local cfg=$1 h
	for h in ${HOSTS[$cfg]}; do
		wait_for 60 test -b "$(dev_of "$cfg" "$h")" || return 1
	done
}

load_cvol
build_probe
ok "probe built"
n_hosts=11
check "network: $n_hosts namespaces" -- cluster_net_up $n_hosts
check "etcd cluster up" -- start_etcd_cluster
check "3-host cluster h1-h3 up" -- cluster_up c3
check "8-host cluster h4-h11 up" -- cluster_up c8
# The single-host daemon logs in to the cluster's etcd as h1 (the users'
# role covers /cvol/ only).
CVOLD_ETCD_ARGS=(--etcd-endpoints "$ETCD_ENDPOINTS" --etcd-cacert "$CLUSTER_PKI/ca.crt"
	--etcd-cert "$CLUSTER_PKI/cvol-h1.crt" --etcd-key "$CLUSTER_PKI/cvol-h1.key"
	--etcd-user cvol-h1 --etcd-password-file "$CLUSTER_PKI/cvol-h1.etcd-password")
check "single-host cvold up" -- start_cvold --etcd-prefix /cvol/single/ --instance s
check_hctl "member list of c3 (on h2)" 0 2 member list --json
assert_eq "c3: h1 is the Primary of 3" "h1 primary 3" "$(jq -r '"\(.members[0].host) \(.members[0].role) \(.members | length)"' "$CC_OUT")"
check_hctl "member list of c8 (on h5)" 0 5 member list --json
assert_eq "c8: h4 is the Primary of 8" "h4 primary 8" "$(jq -r '"\(.members[0].host) \(.members[0].role) \(.members | length)"' "$CC_OUT")"
for cfg in "${CFGS[@]}"; do
	check "$cfg: pool, pvs, volume" -- pool_setup "$cfg"
	check "$cfg: the volume on every host" -- wait_devices "$cfg"
	check "$cfg: volume prefilled" -- dd if=/dev/urandom of="$(dev_of "$cfg" "${PROBE_HOSTS[$cfg]%% *}")" \
		bs=1M count=$VOL_MB oflag=direct status=none
done
# The guest's room for 8 hosts: every daemon's RSS, and what is left.
rss=$(ps -o rss= -p "$(printf '%s,' "${HOST_PID[@]}" "$cvold_pid" | sed 's/,$//')" | awk '{s += $1; if ($1 > m) m = $1} END {printf "%d MiB total, %d MiB largest", s / 1024, m / 1024}')
avail=$(awk '/MemAvailable/ {printf "%d", $2 / 1024}' /proc/meminfo)
plan_note "12 cvold: $rss; MemAvailable $avail MiB of $(awk '/MemTotal/ {printf "%d", $2 / 1024}' /proc/meminfo)"

# ------------------------------------------------------- measurement ---

other_pv() { # CFG: the pv the moving extent is NOT on now
	local cfg=$1 cur
	cur=$(ctl "$cfg" volume show "${POOL[$cfg]}/v" --json |
		jq -r --argjson x $MOVE_EXT '.runs[] | select(.vext <= $x and $x < .vext + .count) | .pv')
	case "$cur" in
	"${POOL[$cfg]}A") echo "${POOL[$cfg]}B" ;;
	"${POOL[$cfg]}B") echo "${POOL[$cfg]}A" ;;
	*) echo "other_pv: extent $MOVE_EXT of $cfg is on '$cur'" >&2; return 1 ;;
	esac
}

measure() { # CFG LOAD REP: one timed move, probes running, load if asked
	local cfg=$1 load=$2 rep=$3 tag=$1-$2-$3 to t0 t1 n0 n1 rc=0 fio_json=
	to=$(other_pv "$cfg")
	if [ "$load" = load ]; then
		fio_json=$CVOL_OUT/fio-$tag.json
		load_start "$cfg" "$fio_json"
	fi
	# The cost of any command on this daemon (clusterctl's start, the
	# socket, one etcd read): the floor under the move's "submit" step.
	n0=$EPOCHREALTIME
	ctl "$cfg" status --json >/dev/null
	n1=$EPOCHREALTIME
	probes_start "$cfg" "$tag"
	sleep 0.5	# the probes' own start before the window opens
	t0=$EPOCHREALTIME
	timeout 300 "$CLUSTERCTL" --socket "${SOCK[$cfg]}" --json --timeout 0 \
		volume move "${POOL[$cfg]}/v" --extent $MOVE_EXT --to-pv "$to" --wait \
		>"$W/move-$tag.out" 2>&1 || rc=$?
	t1=$EPOCHREALTIME
	sleep 0.3	# the write parked in the freeze completes after the thaw
	probes_stop
	load_stop
	echo "$cfg,$load,$rep,$t0,$t1,$rc,$to,$fio_json,$n0,$n1" >>"$runs"
	echo "# rep $rep $cfg $load: $(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.0f", (b - a) * 1000}') ms, rc $rc, to $to"
	if [ "$rc" != 0 ]; then
		sed 's/^/#   /' "$W/move-$tag.out"
		BROKEN[$cfg]=1
	fi
	sleep 1		# let the last release's etcd writes settle
}

# Each member logs "elected leader" once per election it sees.
etcd_elections() { cat "$CVOL_OUT"/etcd-e*.log | grep -c 'elected leader' || true; }
declare -A BROKEN=()
elections0=$(etcd_elections)
# One unmeasured move per configuration first: the first move of a fresh
# daemon pays one-time costs (peer connections, first page faults) that no
# later one does.
for cfg in "${CFGS[@]}"; do
	check "$cfg: warm-up move" -- ctl "$cfg" volume move "${POOL[$cfg]}/v" --extent $MOVE_EXT \
		--to-pv "$(other_pv "$cfg")" --wait
done
t_start=$EPOCHREALTIME
reps_done=0
for ((rep = 1; rep <= REPS; rep++)); do
	if awk -v a="$t_start" -v b="$EPOCHREALTIME" -v m="$BUDGET_S" 'BEGIN {exit !(b - a > m)}'; then
		plan_note "time budget of $BUDGET_S s used up: $reps_done of $REPS reps"
		break
	fi
	# Rotate the order each rep: no configuration always follows another.
	order=("${CFGS[@]:$(((rep - 1) % 3))}" "${CFGS[@]:0:$(((rep - 1) % 3))}")
	for load in idle load; do
		for cfg in "${order[@]}"; do
			[ -n "${BROKEN[$cfg]:-}" ] || measure "$cfg" "$load" "$rep"
		done
	done
	reps_done=$rep
done
t_meas=$(awk -v a="$t_start" -v b="$EPOCHREALTIME" 'BEGIN {printf "%.0f", b - a}')
elections=$((($(etcd_elections) - elections0 + 2) / 3))
plan_note "measured in $t_meas s"

assert_eq "every move succeeded" "0" "$(awk -F, '$6 != 0' "$runs" | wc -l)"
[ -n "${BROKEN[c3]:-}" ] || for h in 1 2 3; do
	assert_eq "h$h's map is etcd's" "$(etcd_map 1 p3/v)" "$(host_map "$h" p3-v)"
done
[ -n "${BROKEN[c8]:-}" ] || for h in 4 5 6 7 8 9 10 11; do
	assert_eq "h$h's map is etcd's" "$(etcd_map 4 p8/v)" "$(host_map "$h" p8-v)"
done
fenced=$(cat "$CVOL_OUT"/cvold-h*.log | grep -c '"type":"host_fenced"' || true)
unresp=$(cat "$CVOL_OUT"/cvold-h*.log | grep -c '"type":"host_unresponsive"' || true)
assert_eq "no host was fenced or found unresponsive" "0 0" "$fenced $unresp"
assert_eq "no etcd leader election during the measurements" 0 "$elections"

# ------------------------------------------------------------ report ---

say ""
say "Cluster allocation change: one ${EXT_MB} MiB extent of a ${VOL_MB} MiB volume, \`clusterctl volume move --wait\`"
say "on the Primary, 3 and 8 hosts (namespaces, shared loop pvs on tmpfs, 3-member etcd), against a"
say "single-host cvold move in the same guest; $REPS interleaved reps; load = fio randwrite 4k QD4"
say "O_DIRECT on every host's device, ${LOAD_IOPS} IOPS per host; probe = 4 KiB O_DIRECT QD1 writes to"
say "the moving extent every ${PROBE_GAP_US} us on the Primary and the last host. Times in ms, median (min..max)."
say "Lease TTL ${CLUSTER_LEASE_TTL} s. $reps_done of $REPS reps in $t_meas s; etcd leader elections in them: $elections;"
say "host_fenced events: $fenced, host_unresponsive: $unresp${BROKEN[*]:+; not measured after a failed move: ${!BROKEN[*]}}."
say "Daemons: $rss; guest MemAvailable after setup $avail MiB."
# The binaries are whatever build/ holds: say which, numbers change with them.
say "Binaries: $(for f in "$CVOLD" "$CLUSTERCTL" "$CVOL_KO"; do
	printf '%s %s %.12s; ' "${f##*/}" "$(date -u -r "$f" +%FT%TZ)" "$(md5sum <"$f")"
done)"
python3 - "$runs" "$W" "$CVOL_OUT" "$MOVE_EXT" "$PROBE_MIN_US" <<'EOF' | tee -a "$out"
import csv, glob, json, os, re, statistics, sys

runs_file, W, OUT, X, MIN_US = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
HOSTS = {"single": ["s"], "c3": ["1", "2", "3"], "c8": [str(i) for i in range(4, 12)]}
PRIMARY = {"single": "s", "c3": "1", "c8": "4"}
NAME = {"single": "single host", "c3": "3 hosts", "c8": "8 hosts"}

def events(h):
    """Every event a daemon logged, (time_s, dict), from its log lines."""
    path = f"{OUT}/cvold.log" if h == "s" else f"{OUT}/cvold-h{h}.log"
    ev = []
    for line in open(path, errors="replace"):
        i = line.find("event {")
        if i < 0:
            continue
        try:
            e = json.loads(line[i + 6:])
        except ValueError:
            continue
        ev.append((e["time_ns"] / 1e9, e))
    return ev

EV = {h: events(h) for hs in HOSTS.values() for h in hs}
# Failure handling that, inside a move's window, makes it measure something
# else than the change.
DISTURB = {"host_fenced", "member_fenced", "host_unresponsive", "host_excluded", "lease_expired",
           "change_taken_over", "move_failed", "stale_epoch_refused"}
ELECTIONS = []
for path in glob.glob(f"{OUT}/etcd-e*.log"):
    for line in open(path, errors="replace"):
        if "elected leader" in line:
            m = re.search(r'"ts":"([0-9-]+T[0-9:.]+)Z"', line)
            if m:
                from datetime import datetime, timezone
                ELECTIONS.append(datetime.fromisoformat(m.group(1)).replace(tzinfo=timezone.utc).timestamp())

def probe(path, t0, t1):
    """Longest and second-longest probe write overlapping [t0, t1] (ms)."""
    lat = []
    for line in open(path):
        if line.startswith("#"):
            continue
        s, d = (int(v) for v in line.split())
        if s / 1e9 <= t1 and (s + d) / 1e9 >= t0:
            lat.append(d / 1e6)
    lat.sort(reverse=True)
    return (lat[0] if lat else 0.0), (lat[1] if len(lat) > 1 else 0.0)

rows = []
for cfg, load, rep, t0, t1, rc, to, fio, n0, n1 in csv.reader(open(runs_file)):
    t0, t1 = float(t0), float(t1)
    tag = f"{cfg}-{load}-{rep}"
    r = {"cfg": cfg, "load": load, "rep": int(rep), "rc": int(rc), "move": (t1 - t0) * 1000}
    pauses = {}
    for h in (["s"] if cfg == "single" else [PRIMARY[cfg], HOSTS[cfg][-1]]):
        pauses[h] = probe(f"{W}/probe-{tag}-{h}.txt", t0, t1)
    r["pause"] = max(p[0] for p in pauses.values())
    r["second"] = max(p[1] for p in pauses.values())
    r["pause_primary"] = pauses[PRIMARY[cfg]][0]
    r["pause_last"] = pauses[HOSTS[cfg][-1]][0]
    # The Primary's events of this move: inside the window, this extent.
    win = [e for t, e in EV[PRIMARY[cfg]] if t0 - 0.5 <= t <= t1 + 0.5]
    def first(typ, step=None, **kw):
        for e in win:
            if e["type"] == typ and (step is None or e.get("step") == step) and e.get("vext", X) == X \
                    and all(e.get(k) == v for k, v in kw.items()):
                return e["time_ns"] / 1e9
        return None
    ms = lambda a, b: (b - a) * 1000 if a is not None and b is not None else None
    t_started, t_done = first("move_started"), first("move_done")
    steps = {}
    if cfg == "single":
        t_ready = first("migrate_ready")
        steps = {"submit": ms(t0, t_started), "copy": ms(t_started, t_ready),
                 "commit": ms(t_ready, t_done), "return": ms(t_done, t1)}
        r["held"] = None
    else:
        change = next((e["change"] for e in win if e["type"] == "change_step" and e.get("vext") == X), None)
        t_rec = int(change.rsplit("#", 1)[1]) / 1e9 if change else None
        st = {s: first("change_step", s) for s in ("follow", "copy", "freeze", "apply", "release")}
        t_recopied = next((e["time_ns"] / 1e9 for e in win
                           if e["type"] == "change_recopied" and e.get("change") == change), None)
        steps = {"submit": ms(t0, t_rec), "record": ms(t_rec, t_started), "start": ms(t_started, st["follow"]),
                 "follow": ms(st["follow"], st["copy"]), "copy": ms(st["copy"], st["freeze"]),
                 "freeze": ms(st["freeze"], t_recopied), "commit": ms(t_recopied, st["apply"]),
                 "apply": ms(st["apply"], st["release"]), "release": ms(st["release"], t_done),
                 "return": ms(t_done, t1)}
        held = []
        for h in HOSTS[cfg]:
            fz = [t for t, e in EV[h] if e["type"] == "cluster_frozen" and e.get("change") == change]
            rl = [t for t, e in EV[h] if e["type"] == "cluster_released" and e.get("change") == change]
            if fz and rl:
                held.append((rl[0] - fz[0]) * 1000)
        r["held"] = statistics.median(held) if held else None
        r["held_max"] = max(held) if held else None
    steps["noop"] = (float(n1) - float(n0)) * 1000
    r["steps"] = steps
    seen = {}
    for h in HOSTS[cfg]:
        for t, e in EV[h]:
            if e["type"] in DISTURB and t0 <= t <= t1:
                # The host the event is about (the Primary reports others).
                seen.setdefault(e["type"], set()).add(str(e.get("host") or "h" + h).lstrip("h"))
    why = [f"{k}@h" + "+".join(sorted(v, key=lambda x: (len(x), x))) for k, v in sorted(seen.items())]
    if any(t0 <= t <= t1 for t in ELECTIONS):
        why.append("etcd election")
    r["disturbed"] = " ".join(why)
    r["fio_iops"] = None
    if fio:
        t = open(fio).read()
        j = json.loads(t[t.index("{"):])      # fio prints a line first on SIGINT
        r["fio_iops"] = statistics.median(x["write"]["iops"] for x in j["jobs"])
        r["fio_p99"] = max(x["write"]["clat_ns"]["percentile"].get("99.000000", 0) for x in j["jobs"]) / 1e6
    rows.append(r)

with open(f"{OUT}/cluster_change.csv", "w") as f:
    keys = ["cfg", "load", "rep", "rc", "disturbed", "move", "pause", "second", "pause_primary", "pause_last", "held"]
    skeys = ["noop", "submit", "record", "start", "follow", "copy", "freeze", "commit", "apply", "release", "return"]
    f.write(",".join(keys + skeys) + "\n")
    for r in rows:
        f.write(",".join("" if r.get(k) is None else (f"{r[k]:.1f}" if isinstance(r[k], float) else str(r[k]))
                         for k in keys))
        f.write("," + ",".join("" if r["steps"].get(k) is None else f"{r['steps'][k]:.0f}" for k in skeys) + "\n")

good = [r for r in rows if r["rc"] == 0 and not r["disturbed"]]
def sel(cfg, load):
    return [r for r in good if r["cfg"] == cfg and r["load"] == load]
def med(v):
    v = [x for x in v if x is not None]
    return statistics.median(v) if v else None
def cell(v, w=19):
    v = [x for x in v if x is not None]
    if not v:
        return f"{'-':>{w}}"
    m = statistics.median(v)
    s = f"{m:.0f} ({min(v):.0f}..{max(v):.0f})" if m >= 10 else f"{m:.1f} ({min(v):.1f}..{max(v):.1f})"
    if m == 0:
        s = f"<{MIN_US / 1000:.0f}"
    return f"{s:>{w}}"

print()
print(f"{'config':<18}{'n':>3}{'move ms':>21}{'pause ms':>21}{'2nd ms':>19}{'held ms':>19}"
      f"{'pause prim/last':>17}{'fio IOPS/host':>15}")
M = {}
for load in ("idle", "load"):
    for cfg in ("single", "c3", "c8"):
        x = sel(cfg, load)
        M[(cfg, load)] = {k: med([r.get(k) for r in x]) for k in ("move", "pause", "held")}
        pl = f"{med([r['pause_primary'] for r in x]) or 0:.0f}/{med([r['pause_last'] for r in x]) or 0:.0f}" \
            if cfg != "single" and x else "-"
        iops = med([r.get("fio_iops") for r in x])
        print(f"{NAME[cfg] + ' ' + load:<18}{len(x):>3}{cell([r['move'] for r in x], 21)}"
              f"{cell([r['pause'] for r in x], 21)}{cell([r['second'] for r in x])}"
              f"{cell([r.get('held') for r in x])}{pl:>17}{(f'{iops:.0f}' if iops else '-'):>15}")
for r in rows:
    if r["rc"] != 0 or r["disturbed"]:
        print(f"left out: {NAME[r['cfg']]} {r['load']} rep {r['rep']}: "
              + (f"exit {r['rc']}" if r["rc"] else f"{r['move']:.0f} ms, disturbed by {r['disturbed']}"))
print()
print("ratios of medians            move   pause")
def ratio(a, b, k):
    return f"{M[a][k] / M[b][k]:.2f}" if M[a][k] and M[b][k] else "-"
for load in ("idle", "load"):
    for a, b, label in (("c3", "single", "3 hosts / single"), ("c8", "single", "8 hosts / single"),
                        ("c8", "c3", "8 hosts / 3 hosts")):
        print(f"{label + ' ' + load:<26}{ratio((a, load), (b, load), 'move'):>8}{ratio((a, load), (b, load), 'pause'):>8}")
for cfg in ("single", "c3", "c8"):
    print(f"{NAME[cfg] + ' load / idle':<26}{ratio((cfg, 'load'), (cfg, 'idle'), 'move'):>8}"
          f"{ratio((cfg, 'load'), (cfg, 'idle'), 'pause'):>8}")

print()
print("Where the time goes (Primary's events; medians, ms):")
print("  cluster: submit = command start -> move record built; record = -> move_started (etcd commit,")
print("  reload, activate); start = -> step follow written; follow = every other host starts dual-writing;")
print("  copy = Primary's kernel copy to ready; freeze = every host freezes + drains +")
print("  dirty re-copy; commit = new map to etcd; apply / release = every host switches / thaws, record")
print("  deleted; return = move_done -> clusterctl returns. single: submit = -> move_started; copy = -> ready;")
print("  commit = ready -> move_done (etcd map, migrate_commit, record deleted). noop = a")
print("  `clusterctl status` on the same daemon just before (not part of the move).")
skeys = ["noop", "submit", "record", "start", "follow", "copy", "freeze", "commit", "apply", "release", "return"]
print(f"{'config':<18}" + "".join(f"{k:>9}" for k in skeys))
for load in ("idle", "load"):
    for cfg in ("single", "c3", "c8"):
        x = sel(cfg, load)
        vals = []
        for k in skeys:
            m = med([r["steps"].get(k) for r in x])
            vals.append(f"{m:>9.0f}" if m is not None else f"{'-':>9}")
        print(f"{NAME[cfg] + ' ' + load:<18}" + "".join(vals))
EOF
ok "cluster change benchmark ran"
assert_no_kernel_warning
finish
