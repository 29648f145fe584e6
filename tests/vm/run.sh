#!/usr/bin/env bash
# Runs cvol VM test scenarios in QEMU (TCG) guests.
#
#   tests/vm/run.sh [--timeout SEC] [--mem MB] [--slots N] [--smp N]
#                   [--serial] [-v] [scenario...]
#   tests/vm/run.sh --selftest
#
# No names: every tests/vm/scenarios/*.sh. A name is the file's basename
# without .sh; an argument with a slash is a path to a scenario file anywhere
# in the repo (the guest sees the repo read-only). Per scenario: timeout 300 s
# and 3072 MiB RAM by default; a "# timeout: N" / "# mem: N" comment line in
# the scenario overrides that, and --timeout/--mem override both.
#
# Scheduling. Most scenarios are one shell script after another process:
# under TCG a guest with one vCPU runs them about twice as fast as one with
# two (no cross-vCPU TLB flushes on every exec), so guests get one vCPU
# (--smp, CVOL_VM_SMP, default 1; "# smp: N" in a scenario that needs real
# parallel CPUs) and SLOTS of them run at the same time (--slots,
# CVOL_VM_SLOTS, default 2). Guests with more vCPUs run first, alone; then
# the rest, longest expected first, each to the slot with the least expected
# work (tests/vm/durations holds the expected seconds per
# scenario, as measured: each run writes tests/vm/out/durations.measured;
# a scenario missing there counts as half its timeout).
# A slot runs its scenarios one after another in ONE boot (guest-boot.sh):
# each scenario still starts on a clean guest (no process, namespace, /tmp
# file or kernel log line of the previous one), is timed out on its own, and
# is reported and checked for kernel warnings on its own. After a failure or
# a kernel warning the boot ends and the slot's remaining scenarios go on in
# a fresh boot. "# boot: own" in a scenario gives it a boot of its own;
# --serial (CVOL_VM_SERIAL=1) gives every scenario its own boot, in one
# slot, in the order named (the old behaviour, for debugging).
#
# -v (or CVOL_VM_VERBOSE=1) streams the consoles to stderr. CVOL_VM_QEMU_ARGS
# / CVOL_VM_APPEND add qemu arguments / kernel command line words.
#
# Results: tests/vm/out/<name>/ (console.log: this scenario's part of the
# boot's console; tap.txt, dmesg.txt, artefacts), kept after the run; each
# boot's full console and qemu command in tests/vm/out/.boots/<slot>-<n>/.
# One line per scenario, as soon as it is known,
#   PASS name (12.3s)
#   FAIL name (reason) — log: tests/vm/out/name/console.log
# and TIMING lines (boot and body seconds) for the test command's breakdown;
# then "N passed, N failed"; exit status 1 if any failed.
#
# A scenario FAILS if it exits nonzero, was killed at its timeout, its
# completion marker is missing (crash, hang, init error), or its part of the
# kernel log has a line from tests/vm/kernel-fail-patterns.
#
# --selftest checks the harness itself with throwaway scenarios (generated
# under tests/vm/out/.selftest-scenarios/): a clean one passes; a failed
# assertion, an unexpected error, a kernel crash, a kernel WARNING line and a
# timeout are each reported as FAIL; a failure in a shared boot does not
# touch the next scenario, which then runs in a fresh boot.
#
# The guest is the host's Debian kernel (scripts/kver.sh) with the host's
# root mounted read-only over 9p; see tests/vm/init, guest-boot.sh and
# guest-run.sh. KVM is not used: it does not work on the development
# machines.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
outbase=$here/out
patterns=$here/kernel-fail-patterns
durations=$here/durations

DEFAULT_TIMEOUT=300
DEFAULT_MEM=3072

opt_timeout=
opt_mem=
opt_smp=
slots=${CVOL_VM_SLOTS:-2}
smp=${CVOL_VM_SMP:-1}
serial=${CVOL_VM_SERIAL:-0}
verbose=${CVOL_VM_VERBOSE:-0}
selftest=0
names=()

usage() {
	sed -n '2,/^set -euo/{/^#/s/^# \{0,1\}//p}' "${BASH_SOURCE[0]}"
	exit "${1:-0}"
}

die() { echo "run.sh: $*" >&2; exit 2; }

parse_args() {
	while [ $# -gt 0 ]; do
		case "$1" in
		--timeout) opt_timeout=${2:?}; shift ;;
		--timeout=*) opt_timeout=${1#*=} ;;
		--mem) opt_mem=${2:?}; shift ;;
		--mem=*) opt_mem=${1#*=} ;;
		--slots) slots=${2:?}; shift ;;
		--slots=*) slots=${1#*=} ;;
		--smp) opt_smp=${2:?}; shift ;;
		--smp=*) opt_smp=${1#*=} ;;
		--serial) serial=1 ;;
		-v | --verbose) verbose=1 ;;
		--selftest) selftest=1 ;;
		-h | --help) usage 0 ;;
		-*) echo "run.sh: unknown option $1" >&2; usage 2 ;;
		*) names+=("$1") ;;
		esac
		shift
	done
	[[ -z "$opt_timeout" || "$opt_timeout" =~ ^[0-9]+$ ]] || die "--timeout needs seconds"
	[[ -z "$opt_mem" || "$opt_mem" =~ ^[0-9]+$ ]] || die "--mem needs MiB"
	[[ "$slots" =~ ^[1-9][0-9]*$ ]] || die "--slots needs a number >= 1"
	[[ -z "$opt_smp" || "$opt_smp" =~ ^[1-9][0-9]*$ ]] || die "--smp needs a number >= 1"
	[ "$serial" != 1 ] || slots=1
}

# Things that would otherwise fail every scenario in a confusing way.
preflight() {
	command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 missing: run scripts/install-deps.sh"
	krel=$("$root/scripts/kver.sh")
	kernel=/boot/vmlinuz-$krel
	[ -r "$kernel" ] || die "cannot read $kernel"
	# qemu's -fsdev/-serial syntax cannot quote these, the kernel command
	# line cannot carry spaces.
	case "$root" in *[,[:space:]]*) die "repo path '$root' has a comma or space" ;; esac
	initrd=$("$here/mkinitramfs.sh" "$krel")
}

# The guest's vCPUs for scenario FILE: --smp, else its "# smp: N", else
# the default.
scenario_smp() {
	local n
	[ -z "$opt_smp" ] || { echo "$opt_smp"; return; }
	n=$(scenario_param "$1" smp)
	echo "${n:-$smp}"
}

# Prints the value of a "# key: VALUE" line of a scenario file, if any.
scenario_param() {
	grep -m1 -E "^#[[:space:]]*$2:[[:space:]]*[0-9a-z]+[[:space:]]*$" "$1" |
		sed -E 's/^#[[:space:]]*[a-z]+:[[:space:]]*//; s/[[:space:]]*$//' || true
}

# ------------------------------------------------------------ one boot ---

# Boots one guest that runs the scenarios given as NAME FILE pairs, in that
# order; returns qemu's (or timeout's: 124) exit status. Sets boot_dir.
boot_seq=0
boot() {
	local slot=$1 vcpus=$2 i mem=0 tmo=60 m t name file rc=0
	shift 2
	local args=()
	for ((i = 1; i <= $#; i += 2)); do
		name=${!i}
		file=${*:i+1:1}
		m=${opt_mem:-$(scenario_param "$file" mem)}
		m=${m:-$DEFAULT_MEM}
		[ "$m" -le "$mem" ] || mem=$m
		t=${opt_timeout:-$(scenario_param "$file" timeout)}
		t=${t:-$DEFAULT_TIMEOUT}
		tmo=$((tmo + t + 20))
		args+=("$name" "$file" "$t")
		rm -rf "${outbase:?}/$name"
		mkdir -p "$outbase/$name"
	done
	# Slots and phases run in subshells of their own: only the file system
	# numbers boots uniquely.
	boot_seq=$((boot_seq + 1))
	mkdir -p "$outbase/.boots"
	boot_dir=$(mktemp -d "$outbase/.boots/$slot-$boot_seq-XXXX")
	{
		echo "# generated by tests/vm/run.sh"
		printf 'export CVOL_ROOT=%q\n' "$root"
		printf 'exec /bin/bash %q %q' "$root/tests/vm/guest-boot.sh" "$outbase"
		printf ' %q' "${args[@]}"
		echo
	} >"$boot_dir/guest-job.sh"

	local append=(
		console=ttyS0 printk.time=1 panic=-1 oops=panic
		# A hung task ends the run at once instead of at the timeout.
		hung_task_panic=1
		# TCG on a busy 2-core host stalls vCPUs for seconds; keep the
		# RCU/soft-lockup detectors for real stalls only.
		rcupdate.rcu_cpu_stall_timeout=60 watchdog_thresh=30
		mitigations=off 8250.nr_uarts=1
		"cvol.root=$root" "cvol.out=$outbase" "cvol.job=$boot_dir/guest-job.sh"
		${CVOL_VM_APPEND:-}
	)
	local qemu=(
		qemu-system-x86_64 -accel tcg,thread=multi -m "$mem" -smp "$vcpus"
		# Every feature TCG emulates (SSE4.2's crc32 for fio's verify,
		# ...): native helpers instead of long emulated sequences.
		-cpu max
		-nodefaults -no-user-config -no-reboot
		-display none -monitor none -serial "file:$boot_dir/console.log"
		-kernel "$kernel" -initrd "$initrd" -append "${append[*]}"
		# multidevs=remap: the host root spans several filesystems; without
		# it inode numbers collide and the guest's /proc breaks.
		-fsdev "local,id=hostroot,path=/,security_model=none,readonly=on,multidevs=remap"
		-device virtio-9p-pci,fsdev=hostroot,mount_tag=hostroot
		-fsdev "local,id=out,path=$outbase,security_model=none,multidevs=remap"
		-device virtio-9p-pci,fsdev=out,mount_tag=out
		${CVOL_VM_QEMU_ARGS:-}
	)
	{
		echo "kernel: $kernel"
		echo "initrd: $initrd"
		echo "timeout: $tmo"
		echo "scenarios: ${args[*]}"
		printf '%q ' "${qemu[@]}"
		echo
	} >"$boot_dir/run-info.txt"

	: >"$boot_dir/console.log"
	timeout --kill-after=10 "$tmo" "${qemu[@]}" </dev/null >>"$boot_dir/qemu.log" 2>&1 &
	qemu_pids[slot]=$!
	local tail_pid=
	if [ "$verbose" = 1 ]; then
		tail -n +1 -f --pid="${qemu_pids[slot]}" "$boot_dir/console.log" >&2 &
		tail_pid=$!
	fi
	wait "${qemu_pids[slot]}" || rc=$?
	qemu_pids[slot]=
	[ -z "$tail_pid" ] || wait "$tail_pid" 2>/dev/null || true
	boot_timeout=$tmo
	return "$rc"
}

# Prints scenario NAME's part of the boot console (CRs dropped): from its
# BEGIN marker to its RC marker, or to the end. A marker ends its line (a
# kernel message may have been printed in front of it).
console_part() {
	# awk reads to the end: an early exit would SIGPIPE tr, which fails
	# the pipeline under pipefail.
	tr -d '\r' <"$2" | awk -v b="CVOL-SCENARIO-BEGIN $1\$" -v e="CVOL-SCENARIO-RC $1 [0-9]+\$" '
		!done && $0 ~ b { on = 1 } on { print } on && $0 ~ e { on = 0; done = 1 }'
}

# True if scenario NAME was started in the boot whose console is FILE.
# (Not grep -q: under pipefail, tr's SIGPIPE would fail the pipeline.)
console_has_begun() {
	tr -d '\r' <"$2" | grep -aE "CVOL-SCENARIO-BEGIN $1\$" >/dev/null
}

# Kernel log lines matching a failure pattern. On the console, user output is
# mixed in, so only lines carrying a printk timestamp count (a scenario
# printing "BUG:" itself must not fail the run).
kernel_bad_lines() {
	local out=$1 pats
	pats=$(grep -vE '^(#|$)' "$patterns")
	{
		grep -aE '\[ *[0-9]+\.[0-9]{6}\] ' "$out/console.log" || true
		cat "$out/dmesg.txt" 2>/dev/null || true
	} | grep -aE -e "$pats" || true
}

# Prints why scenario NAME failed, or nothing if it passed. Its console part
# is already in OUT/console.log.
verdict() {
	local name=$1 out=$2 qrc=$3 console=$4 reasons=() line rc notok t
	line=$(grep -a -m1 'CVOL-INIT-ERROR' "$console" || true)
	[ -z "$line" ] || reasons+=("${line//$'\r'/}")
	rc=$(grep -aoE "CVOL-SCENARIO-RC $name [0-9]+\$" "$out/console.log" | tail -n1 | awk '{ print $3 }' || true)
	if [ -z "$rc" ]; then
		# It never finished: the guest crashed, hung or was killed.
		[ "$qrc" -ne 124 ] && [ "$qrc" -ne 137 ] || reasons+=("timeout after ${boot_timeout}s")
	elif [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
		t=${opt_timeout:-$(scenario_param "$file_of_current" timeout)}
		reasons+=("timeout after ${t:-$DEFAULT_TIMEOUT}s")
	fi
	line=$(kernel_bad_lines "$out" | sed -n 1p | sed -E 's/.*\[ *[0-9]+\.[0-9]+\] //' | cut -c1-100)
	[ -z "$line" ] || reasons+=("kernel: $line")
	if [ -z "$rc" ]; then
		reasons+=("no completion marker")
		[ "$qrc" -eq 0 ] || [ "$qrc" -eq 124 ] || [ "$qrc" -eq 137 ] ||
			reasons+=("qemu exit status $qrc, see qemu.log")
	elif [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] && [ "$rc" -ne 137 ]; then
		notok=$(grep -ac '^not ok ' "$out/tap.txt" 2>/dev/null || true)
		line=$(grep -a -m1 '^not ok ' "$out/tap.txt" 2>/dev/null | cut -c1-140 || true)
		reasons+=("exit status $rc${line:+, ${notok:-0} not ok, first: $line}")
	fi
	local IFS=';'
	echo "${reasons[*]}" | sed 's/;/; /g'
}

# Guest uptime in a START/END marker of scenario NAME in FILE.
marker_uptime() {
	grep -a -m1 -oE "CVOL-SCENARIO-$1 $2 (rc=[0-9]+ )?uptime=[0-9.]+" "$3" | sed 's/.*=//' || true
}

# ---------------------------------------------------------------- slots ---

qemu_pids=()
stop_qemu() {
	# timeout forwards the TERM to qemu.
	[ -z "${qemu_pids[$1]:-}" ] || kill "${qemu_pids[$1]}" 2>/dev/null || true
}

# One lock per slot, shared by every checkout on the host: at most `slots`
# guests at a time, however many runs are going. Slot 0's lock is the one
# older runners used.
slot_lock_file() { if [ "$1" -eq 0 ]; then echo /tmp/cvol-vm.lock; else echo "/tmp/cvol-vm.lock.$1"; fi; }

lock_slot() {
	local slot_fd
	[ "${CVOL_VM_NOLOCK:-0}" = 1 ] && return
	exec {slot_fd}>"$(slot_lock_file "$1")"
	if ! flock -n "$slot_fd"; then
		echo "run.sh: slot $1 waits for another VM run ($(slot_lock_file "$1"))" >&2
		flock "$slot_fd"
	fi
}

# Runs the scenarios given as NAME FILE pairs on slot SLOT: boots until each
# has a verdict. --all-slots (before the pairs): hold every slot's lock. Prints PASS/FAIL and TIMING lines; one file per verdict in
# $results.
run_slot() {
	local slot=$1 qrc name file out reason t0 secs begun start end k t
	shift
	local all=
	if [ "${1:-}" = --all-slots ]; then all=1; shift; fi
	local todo=("$@")
	trap 'stop_qemu "$slot"; exit 130' TERM INT
	if [ -n "$all" ]; then
		for ((k = 0; k < slots; k++)); do lock_slot "$k"; done
	else
		lock_slot "$slot"
	fi
	while [ ${#todo[@]} -gt 0 ]; do
		# Up to the next scenario that wants a boot of its own or another
		# number of vCPUs.
		local batch=("${todo[@]:0:2}") k smp0
		smp0=$(scenario_smp "${todo[1]}")
		if [ "$serial" != 1 ] && [ "$(scenario_param "${todo[1]}" boot)" != own ]; then
			for ((k = 2; k < ${#todo[@]}; k += 2)); do
				[ "$(scenario_param "${todo[k + 1]}" boot)" != own ] || break
				[ "$(scenario_smp "${todo[k + 1]}")" = "$smp0" ] || break
				batch+=("${todo[@]:k:2}")
			done
		fi
		qrc=0
		t0=$EPOCHREALTIME
		boot "$slot" "$smp0" "${batch[@]}" || qrc=$?
		secs=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
		echo "wall: ${secs}s qemu-rc: $qrc" >>"$boot_dir/run-info.txt"
		begun=0
		local bodies=0
		for ((k = 0; k < ${#batch[@]}; k += 2)); do
			name=${batch[k]}
			file=${batch[k + 1]}
			out=$outbase/$name
			console_has_begun "$name" "$boot_dir/console.log" || break # not reached: next boot
			begun=$((begun + 2))
			console_part "$name" "$boot_dir/console.log" >"$out/console.log"
			cp "$boot_dir/run-info.txt" "$out/run-info.txt"
			file_of_current=$file
			reason=$(verdict "$name" "$out" "$qrc" "$boot_dir/console.log")
			start=$(marker_uptime START "$name" "$out/console.log")
			end=$(marker_uptime END "$name" "$out/console.log")
			if [ -n "$start" ] && [ -n "$end" ]; then
				t=$(awk -v s="$start" -v e="$end" 'BEGIN { printf "%.1f", e - s }')
				bodies=$(awk -v a="$bodies" -v b="$t" 'BEGIN { print a + b }')
				printf 'TIMING vm-body\t%s\t%s\n' "$name" "$t"
				printf '%s %s\n' "$name" "${t%.*}" >>"$outbase/durations.measured"
			else
				t=$secs
			fi
			if [ -z "$reason" ]; then
				echo "PASS $name (${t}s)"
				echo pass >"$results/$name"
			else
				echo "FAIL $name ($reason) — log: ${out#"$root"/}/console.log"
				echo fail >"$results/$name"
			fi
		done
		printf 'TIMING vm-boot\tslot %s boot %s (%d scenarios)\t%s\n' "$slot" "$boot_seq" $((begun / 2)) \
			"$(awk -v w="$secs" -v b="$bodies" 'BEGIN { printf "%.1f", w - b }')"
		if [ "$begun" -eq 0 ]; then
			# The guest never reached the first scenario (init error, a
			# crash at boot): fail it rather than boot forever.
			name=${batch[0]}
			out=$outbase/$name
			cp "$boot_dir/console.log" "$out/console.log"
			file_of_current=${batch[1]}
			reason=$(verdict "$name" "$out" "$qrc" "$boot_dir/console.log")
			echo "FAIL $name (${reason:-the guest did not start it}) — log: ${out#"$root"/}/console.log"
			echo fail >"$results/$name"
			begun=2
		fi
		todo=("${todo[@]:begun}")
	done
}

# -------------------------------------------------------------- planning ---

# Expected seconds of scenario NAME FILE: tests/vm/durations, else half its
# timeout.
expected_secs() {
	local e t
	e=$(awk -v n="$1" '$1 == n { print $2; exit }' "$durations" 2>/dev/null || true)
	if [ -z "$e" ]; then
		t=$(scenario_param "$2" timeout)
		e=$(((${t:-$DEFAULT_TIMEOUT}) / 2))
	fi
	echo "${e%.*}"
}

resolve_scenarios() {
	local f
	if [ ${#names[@]} -eq 0 ]; then
		for f in "$here"/scenarios/*.sh; do
			[ -e "$f" ] && names+=("$(basename "$f" .sh)")
		done
	fi
}

results=
slot_pids=()
run_scenarios() {
	local n f passed=0 failed=0 i s best
	resolve_scenarios
	[ ${#names[@]} -gt 0 ] || die "no scenarios in $here/scenarios"
	preflight
	results=$outbase/.results
	rm -rf "$results" "$outbase/.boots" "$outbase/durations.measured"
	mkdir -p "$results"
	local plan=()
	for n in "${names[@]}"; do
		# A name, or a path to a scenario file outside scenarios/ (handy
		# while writing one).
		if [[ "$n" == */* ]]; then
			f=$(realpath -- "$n" 2>/dev/null || echo "$n")
			n=$(basename "$n" .sh)
		else
			n=${n%.sh}
			f=$here/scenarios/$n.sh
		fi
		if [ ! -f "$f" ]; then
			echo "FAIL $n (no such scenario: tests/vm/scenarios/$n.sh)"
			echo fail >"$results/$n"
			continue
		fi
		plan+=("$(expected_secs "$n" "$f") $n $f")
	done
	# Longest first.
	[ "$serial" = 1 ] || mapfile -t plan < <(printf '%s\n' "${plan[@]}" | sort -k1,1nr -k2,2)
	# Guests with several vCPUs take the whole host: they run first, one
	# after another, on slot 0 with every slot's lock held. Then the
	# one-vCPU guests, each scenario to the slot with the least expected
	# work.
	local wide=() narrow=()
	for s in "${plan[@]}"; do
		[ -n "$s" ] || continue
		if [ "$slots" -gt 1 ] && [ "$(scenario_smp "${s##* }")" -gt 1 ]; then
			wide+=("${s#* }")
		else
			narrow+=("$s")
		fi
	done
	if [ ${#wide[@]} -gt 0 ]; then
		# shellcheck disable=SC2046
		run_slot 0 --all-slots $(printf '%s\n' "${wide[@]}") &
		slot_pids+=($!)
		wait "${slot_pids[0]}" || true
		slot_pids=()
	fi
	local load=() lists=()
	for ((i = 0; i < slots; i++)); do load[i]=0; lists[i]=; done
	for s in "${narrow[@]}"; do
		best=0
		for ((i = 1; i < slots; i++)); do [ "${load[i]}" -ge "${load[best]}" ] || best=$i; done
		load[best]=$((load[best] + ${s%% *}))
		lists[best]+="${s#* }"$'\n'
	done
	for ((i = 0; i < slots; i++)); do
		[ -n "${lists[i]}" ] || continue
		# shellcheck disable=SC2046
		run_slot "$i" $(echo "${lists[i]}") &
		slot_pids+=($!)
	done
	for i in "${slot_pids[@]}"; do wait "$i" || true; done
	slot_pids=()
	# A scenario without a verdict (a slot's runner died) is a failure,
	# never a silent omission.
	for s in "${plan[@]}"; do
		n=${s#* }
		n=${n%% *}
		[ -e "$results/$n" ] && continue
		echo "FAIL $n (no verdict: the slot's runner stopped; see tests/vm/out/.boots/)"
		echo fail >"$results/$n"
	done
	for f in "$results"/*; do
		[ -e "$f" ] || continue
		if [ "$(cat "$f")" = pass ]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
	done
	echo "$passed passed, $failed failed"
	[ "$failed" -eq 0 ]
}

# ------------------------------------------------------------ selftest ---

# Writes throwaway scenario NAME with BODY (after the lib.sh source line).
selftest_scenario() {
	local dir=$outbase/.selftest-scenarios
	mkdir -p "$dir"
	{
		echo '#!/usr/bin/env bash'
		echo "$2"
		echo 'source "$CVOL_ROOT/tests/vm/lib.sh"'
		echo "$3"
	} >"$dir/$1.sh"
	echo "$dir/$1.sh"
}

# Runs scenario NAME FILE in a boot of its own on slot 0; prints its
# PASS/FAIL line, returns 0 on PASS.
run_one() {
	local line
	line=$(run_slot 0 "$1" "$2" | grep -E '^(PASS|FAIL) ' || true)
	echo "$line"
	[[ "$line" == PASS* ]]
}

# One selftest case: scenario NAME, header, body, expected PASS|FAIL, and an
# ERE the FAIL reason (or, for PASS, tap.txt) must match.
selftest_case() {
	local name=$1 header=$2 body=$3 want=$4 want_re=$5 file got=PASS line
	file=$(selftest_scenario "$name" "$header" "$body")
	last_reason=
	line=$(run_one "$name" "$file") || got=FAIL
	echo "  $line"
	if [ "$got" != "$want" ]; then
		st_fail "$name: expected $want, got $got"
	elif [ "$want" = FAIL ] && ! grep -qE -- "$want_re" <<<"$line"; then
		st_fail "$name: FAIL reason does not match /$want_re/"
	elif [ "$want" = PASS ] && ! grep -qE -- "$want_re" "$outbase/$name/tap.txt"; then
		st_fail "$name: tap.txt does not match /$want_re/"
	else
		st_pass "$name: reported $got as expected"
	fi
}

# Three scenarios in one slot: the first passes and leaves a file, a
# process and a kernel log line behind; the second sees none of them and
# fails; the third must still run, in a fresh boot, and pass.
selftest_shared_boot() {
	local a b c lines
	a=$(selftest_scenario selftest_shared_a '' '
echo leftover >/tmp/selftest-leftover
setsid sleep 1000 </dev/null >/dev/null 2>&1 &
echo "<6>selftest-shared-a-line" >/dev/kmsg
ok "leaves a file, a process and a kernel log line"')
	b=$(selftest_scenario selftest_shared_b '' '
check_fail "no file of the previous scenario" -- test -e /tmp/selftest-leftover
check_fail "no process of the previous scenario" -- pgrep -x sleep
check_fail "no kernel log line of the previous scenario" -- grep -q selftest-shared-a-line <(dmesg)
fail "deliberate failure ends the boot"')
	c=$(selftest_scenario selftest_shared_c '' '
ok "runs after a failure"')
	lines=$(run_slot 0 selftest_shared_a "$a" selftest_shared_b "$b" selftest_shared_c "$c" |
		grep -E '^(PASS|FAIL|TIMING vm-boot)' || true)
	sed 's/^/  /' <<<"$lines"
	if grep -q '^PASS selftest_shared_a ' <<<"$lines" &&
		grep -q '^FAIL selftest_shared_b .*exit status 1, 1 not ok, first: not ok 4 ' <<<"$lines" &&
		grep -q '^PASS selftest_shared_c ' <<<"$lines" &&
		[ "$(grep -c '^TIMING vm-boot' <<<"$lines")" -eq 2 ]; then
		st_pass "shared boot: a clean guest per scenario; after a failure a fresh boot"
	else
		st_fail "shared boot: expected PASS a, FAIL b (only its deliberate failure), PASS c, in 2 boots"
	fi
}

st_passed=0
st_failed=0
st_pass() { echo "PASS selftest $*"; st_passed=$((st_passed + 1)); }
st_fail() { echo "FAIL selftest $*"; st_failed=$((st_failed + 1)); }

run_selftest() {
	preflight
	results=$outbase/.results-selftest
	rm -rf "$results"
	mkdir -p "$results"
	# Small guests: the cases only need a shell.
	opt_mem=${opt_mem:-512}
	selftest_case selftest_pass '' '
ok "a passing assertion"
check "true succeeds" -- true
check_fail "false fails" -- false
assert_eq "equal strings" abc abc
assert_match "regex on any line" "^b+$" "$(printf "a\nbb\n")"
dev=$(mk_loop 16)
assert_match "mk_loop gives a loop device" "^/dev/loop[0-9]+$" "$dev"
nb=$(mk_nullb 16 4096)
assert_eq "null_blk size in sectors" 32768 "$(dev_sectors "$nb")"
kmsg_mark selftest
echo "<6>selftest-line" >/dev/kmsg
assert_match "kmsg_since_mark sees new lines" selftest-line "$(kmsg_since_mark)"
assert_no_kernel_warning
echo "BUG: WARNING: user output without a printk timestamp does not count"
finish' PASS '^# 9 ok, 0 failed$'
	[ -s "$outbase/selftest_pass/dmesg.txt" ] && st_pass "selftest_pass: dmesg.txt saved" ||
		st_fail "selftest_pass: no dmesg.txt"

	selftest_case selftest_assert_fails '' '
ok "fine"
assert_eq "deliberately wrong" 1 2
ok "continues after a failed assertion"' FAIL 'exit status 1, 1 not ok'

	selftest_case selftest_unexpected_error '' '
ok "fine"
false
ok "never reached"' FAIL 'exit status 1.*unexpected error at selftest_unexpected_error\.sh:[0-9]+'

	selftest_case selftest_crash '' '
echo c >/proc/sysrq-trigger
sleep 60' FAIL 'Kernel panic.*no completion marker'

	selftest_case selftest_kernel_warning '' '
# Written to the kernel log like a real WARN() header would be.
echo "<4>WARNING: CPU: 0 PID: 1 at selftest fake warning" >/dev/kmsg
ok "scenario itself is fine"' FAIL 'kernel: WARNING: CPU: 0 PID: 1 at selftest'

	selftest_case selftest_timeout '# timeout: 20' '
sleep 600' FAIL 'timeout after 20s'

	selftest_shared_boot

	echo "$st_passed passed, $st_failed failed"
	[ "$st_failed" -eq 0 ]
}

# ---------------------------------------------------------------- main ---

on_signal() {
	# Background jobs of a non-interactive shell ignore SIGINT: stop the
	# slots explicitly (each stops its qemu).
	[ ${#slot_pids[@]} -eq 0 ] || kill "${slot_pids[@]}" 2>/dev/null || true
	echo "run.sh: interrupted" >&2
	exit 130
}

main() {
	parse_args "$@"
	trap on_signal INT TERM
	mkdir -p "$outbase"
	if [ "$selftest" = 1 ]; then
		run_selftest
	else
		run_scenarios
	fi
}

main "$@"
