#!/usr/bin/env bash
# THE test command (`make test`, CI's .ci/run). Runs, in order, and counts
# each item as one test:
#   1. scripts/install-deps.sh                      (1 test)
#   2. make module                                  (1 test)
#   3. the userspace executables the VMs use        (1 test)
#   4. make checkpatch: no ERROR lines              (1 test; warnings allowed)
#   5. tests/vm/run.sh, every VM scenario           (1 test per scenario)
#   6. the rest of build/ (the test programs)       (1 test) and its ctest
#                                                   (1 test per ctest test)
#   7. if CMakeLists.txt has CVOL_SANITIZE: build build-san with
#      -DCVOL_SANITIZE=ON (1 test) and its ctest    (1 test per ctest test)
#   8. if tests/fuzz/ exists: build the libFuzzer targets in build-fuzz with
#      clang and -DCVOL_FUZZ=ON (1 test), then run each for 250k runs over a
#      copy of its seed corpus (tests/fuzz/run.sh; 1 test per target)
# The builds of 6, 7 and 8 run in the background at nice 19 from step 4 on,
# while the guests run (the guests take the CPU whenever they want it); their
# tests run after the guests, on a quiet machine.
# A failing step does not stop the later ones. The last line of output is
# exactly "N passed, N failed" (", N skipped" appended only when a test was
# really skipped, e.g. GTEST_SKIP); the exit status is 1 if anything failed.
# Before it, a time breakdown: every step, ctest program, VM boot and
# scenario body, longest first (also in build-logs/timings.tsv).
# Logs of the build steps: build-logs/.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
logs=$root/build-logs # matches .gitignore's /build-*/
mkdir -p "$logs"
jobs=$(nproc)

passed=0
failed=0
skipped=0
failures=()

pass() { passed=$((passed + 1)); echo "PASS $*"; }

# The time breakdown printed at the end: one "KIND<TAB>NAME<TAB>SECONDS"
# line per item (steps, ctest binaries, VM boots and scenario bodies).
timings=$logs/timings.tsv
: >"$timings"
timing() { printf '%s\t%s\t%s\n' "$1" "$2" "$3" >>"$timings"; }
failt() { failed=$((failed + 1)); failures+=("$*"); echo "FAIL $*"; }
skip() { skipped=$((skipped + 1)); echo "SKIP $*"; }

now() { echo "$EPOCHREALTIME"; }
since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }

phase_t0=
phase() {
	phase_t0=$(now)
	echo
	echo "=== $*"
}
phase_end() {
	local secs
	secs=$(since "$phase_t0")
	echo "--- $1 done in ${secs}s"
	timing phase "$1" "$secs"
}

# Counts step NAME that exited RC, its output in LOG: on failure the log's
# tail is printed (CI keeps only stdout). Sets step_ok.
step_ok=
step_result() {
	local name=$1 rc=$2 log=$3
	if [ "$rc" -eq 0 ]; then
		step_ok=1
		pass "$name"
	else
		step_ok=
		failt "$name (exit $rc; log: ${log#"$root"/})"
		tail -n 60 "$log" | sed 's/^/    /'
	fi
}

# Runs a command with its output in build-logs/NAME.log; one test NAME.
step() {
	local name=$1 log=$logs/$1.log rc=0 t0
	shift
	t0=$(now)
	"$@" >"$log" 2>&1 || rc=$?
	timing step "$name" "$(since "$t0")"
	step_result "$name" "$rc" "$log"
}

# A step that runs in the background at the lowest CPU priority while the
# VM scenarios run (they leave some CPU idle while guests wait); the
# scenarios keep the CPU whenever they want it. bg_step_finish waits for it
# and counts it like step.
bg_step_start() {
	local name=$1
	shift
	(
		# Children inherit it; "$@" may be a shell function.
		renice -n 19 -p "$BASHPID" >/dev/null
		t0=$(now)
		rc=0
		"$@" >"$logs/$name.log" 2>&1 || rc=$?
		echo "$rc $(since "$t0")" >"$logs/$name.result"
	) &
	bg_pids[$name]=$!
}
bg_step_finish() {
	local name=$1 log=$logs/$1.log rc secs
	wait "${bg_pids[$name]}" || true
	read -r rc secs <"$logs/$name.result" || { rc=1 secs=0; }
	timing step "$name (in the background, nice 19)" "$secs"
	step_result "$name" "$rc" "$log"
}
declare -A bg_pids=()

# checkpatch exits 1 on warnings too: only ERROR lines fail the test. A
# nonzero exit with neither errors nor warnings means checkpatch itself broke
# (e.g. no kernel sources yet), which also fails.
checkpatch() {
	local log=$logs/checkpatch.log rc=0 errors warnings t0
	t0=$(now)
	make --no-print-directory checkpatch >"$log" 2>&1 || rc=$?
	timing step checkpatch "$(since "$t0")"
	errors=$(grep -c 'ERROR:' "$log" || true)
	warnings=$(grep -c 'WARNING:' "$log" || true)
	if [ "$errors" -gt 0 ]; then
		failt "checkpatch: $errors ERROR(s) in kernel/ (log: build-logs/checkpatch.log)"
		grep 'ERROR:' "$log" | head -n 30 | sed 's/^/    /'
	elif [ "$rc" -ne 0 ] && [ "$warnings" -eq 0 ]; then
		failt "checkpatch: did not run (exit $rc)"
		tail -n 20 "$log" | sed 's/^/    /'
	else
		pass "checkpatch: no ERRORs ($warnings warning(s))"
	fi
}

# Runs ctest in build dir $1 and counts its tests from the JUnit report,
# names prefixed with $2.
ctest_dir() {
	local dir=$1 prefix=$2 junit=$logs/$2-junit.xml line verdict name t0
	rm -f "$junit"
	if [ ! -f "$dir/CTestTestfile.cmake" ]; then
		failt "$prefix: no ctest tests in $dir"
		return
	fi
	t0=$(now)
	ctest --test-dir "$dir" --output-on-failure -j "$jobs" --timeout 600 \
		--output-junit "$junit" >"$logs/$prefix.log" 2>&1 || true
	timing ctest "$prefix (wall, -j $jobs)" "$(since "$t0")"
	ctest_binary_times "$dir" "$junit" "$prefix"
	if [ ! -s "$junit" ]; then
		failt "$prefix: ctest produced no report (log: build-logs/$prefix.log)"
		tail -n 40 "$logs/$prefix.log" | sed 's/^/    /'
		return
	fi
	# Passing tests are only counted (there are hundreds); failed and skipped
	# ones are listed by name.
	local total=0 np=0 nf=0 ns=0
	while IFS=$'\t' read -r verdict name; do
		total=$((total + 1))
		case "$verdict" in
		pass) passed=$((passed + 1)); np=$((np + 1)) ;;
		skip) skip "$prefix: $name"; ns=$((ns + 1)) ;;
		*) failt "$prefix: $name"; nf=$((nf + 1)) ;;
		esac
	done < <(junit_results "$junit")
	echo "$prefix: $total ctest tests: $np passed, $nf failed, $ns skipped"
	if [ "$total" -eq 0 ]; then
		failt "$prefix: ctest found no tests"
	elif [ "$nf" -gt 0 ]; then
		# The parallel log interleaves tests: rerun the failed ones alone to
		# show their output (they stay counted as failed either way).
		echo "    rerunning the failed tests serially (full log: build-logs/$prefix.log):"
		ctest --test-dir "$dir" --rerun-failed --output-on-failure --timeout 600 2>&1 |
			tail -n 200 | sed 's/^/    /' || true
	fi
}

# Prints "pass|fail|skip<TAB>name" for each testcase of a ctest JUnit file.
junit_results() {
	python3 - "$1" <<'EOF'
import sys
import xml.etree.ElementTree as ET
for tc in ET.parse(sys.argv[1]).getroot().iter("testcase"):
    status = tc.get("status", "run")
    if tc.find("failure") is not None or tc.find("error") is not None or status == "fail":
        v = "fail"
    elif tc.find("skipped") is not None or status in ("notrun", "disabled"):
        v = "skip"
    else:
        v = "pass"
    print(f"{v}\t{tc.get('name')}")
EOF
}

# Adds one timing line per test program: the sum of its tests' times in
# the JUnit report (with -j N, these add up to more than the wall time).
ctest_binary_times() {
	[ -s "$2" ] || return 0
	ctest --test-dir "$1" --show-only=json-v1 2>/dev/null | python3 -c '
import json, os, sys
import xml.etree.ElementTree as ET
prog = {}
for t in json.load(sys.stdin).get("tests", []):
    cmd = t.get("command") or ["?"]
    exe = os.path.basename(cmd[0])
    if exe == "bash" and len(cmd) > 1:
        exe = os.path.basename(cmd[1])
    prog[t["name"]] = exe
sums = {}
for tc in ET.parse(sys.argv[1]).getroot().iter("testcase"):
    exe = prog.get(tc.get("name"), "?")
    n, s = sums.get(exe, (0, 0.0))
    sums[exe] = (n + 1, s + float(tc.get("time") or 0))
for exe, (n, s) in sums.items():
    print(f"ctest\t{sys.argv[2]}: {exe} ({n} tests)\t{s:.1f}")
' "$2" "$3" >>"$timings" || true
}

# The breakdown table, longest first, and the total.
print_timings() {
	echo
	echo "=== time breakdown (seconds, longest first)"
	sort -t $'\t' -k3,3 -g -r "$timings" |
		awk -F'\t' '{ printf "%8.1f  %-6s %s\n", $3, $1, $2 }'
}

# The executables the VM scenarios and the demo use (they pull in every
# library).
VM_TOOLS=(cvold clusterctl cvol-dmctl cvol-events cvol-maptool)
userspace_tools_build() {
	cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null &&
		cmake --build build -j "$jobs" --target "${VM_TOOLS[@]}"
}

# Runs in the background (bg_step_start): the rest of build/ (the test
# programs), then build-san, then the fuzz targets in build-fuzz; the last
# two write their own results (<name>.result) for background_result. Its
# exit status is build/'s.
background_builds() {
	local rc=0
	cmake --build build -j "$jobs" || rc=$?
	if grep -q CVOL_SANITIZE CMakeLists.txt 2>/dev/null; then
		background_build build-userspace-sanitize sanitize_build
	fi
	if [ -f tests/fuzz/CMakeLists.txt ]; then
		background_build build-fuzz fuzz_build
	fi
	return "$rc"
}

# Runs command $2 with its output in build-logs/$1.log and "rc seconds" in
# build-logs/$1.result.
background_build() {
	local name=$1 t0 rc=0
	shift
	t0=$(now)
	"$@" >"$logs/$name.log" 2>&1 || rc=$?
	echo "$rc $(since "$t0")" >"$logs/$name.result"
}
sanitize_build() {
	cmake -S . -B build-san -DCVOL_SANITIZE=ON >/dev/null &&
		cmake --build build-san -j "$jobs"
}
# Only the fuzzers and the libraries under them, with clang: the parsers
# themselves carry ASan, UBSan and the fuzzer's coverage.
fuzz_build() {
	CC=clang CXX=clang++ cmake -S . -B build-fuzz -DCVOL_FUZZ=ON \
		-DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null &&
		cmake --build build-fuzz -j "$jobs" --target cvol_fuzzers
}

# Counts build $1 that background_builds ran. Sets step_ok.
background_result() {
	local name=$1 log=$logs/$1.log rc secs
	read -r rc secs <"$logs/$name.result" 2>/dev/null || { rc=1 secs=0; }
	timing step "$name (in the background, nice 19)" "$secs"
	step_result "$name" "$rc" "$log"
}

# Streams tests/fuzz/run.sh's output; its PASS/FAIL lines are the tests.
# Findings (crash, leak, timeout inputs) stay in build-logs/fuzz/<name>/.
fuzz_targets() {
	local line n=0
	while IFS= read -r line; do
		case "$line" in
		"PASS "*) echo "$line"; passed=$((passed + 1)); n=$((n + 1)) ;;
		"FAIL "*) echo "$line"; failed=$((failed + 1)); n=$((n + 1)); failures+=("${line#FAIL }") ;;
		"TIMING "*) printf '%s\n' "${line#TIMING }" >>"$timings" ;;
		*) echo "$line" ;;
		esac
	done < <(bash tests/fuzz/run.sh --build build-fuzz --out "$logs/fuzz" 2>&1 || true)
	if [ "$n" -eq 0 ]; then
		failt "fuzz: tests/fuzz/run.sh ran no target"
	fi
}

# Streams run.sh's output; its PASS/FAIL lines are the tests.
vm_scenarios() {
	local line n=0
	while IFS= read -r line; do
		echo "$line"
		case "$line" in
		"PASS "*) passed=$((passed + 1)); n=$((n + 1)) ;;
		"FAIL "*) failed=$((failed + 1)); n=$((n + 1)); failures+=("vm: ${line#FAIL }") ;;
		"TIMING "*) printf '%s\n' "${line#TIMING }" >>"$timings" ;;
		esac
	done < <(bash tests/vm/run.sh 2>&1 || true)
	# run.sh exits 2 before running anything when the host cannot run VMs.
	if [ "$n" -eq 0 ]; then
		failt "vm: tests/vm/run.sh ran no scenario"
	fi
}

main() {
	local t0
	t0=$(now)

	phase "dependencies"
	step deps bash scripts/install-deps.sh
	phase_end dependencies

	phase "build"
	step "build-module" make --no-print-directory module
	# What the VM scenarios run first; the test programs (half the
	# compile), then the sanitizer tree, build in the background while the
	# guests run, and their tests run after the guests.
	step "build-userspace-tools" userspace_tools_build
	local tools_ok=$step_ok
	bg_step_start "build-userspace" background_builds
	phase_end build

	phase "hygiene"
	checkpatch
	phase_end hygiene

	phase "VM scenarios (QEMU TCG)"
	if [ -n "$tools_ok" ]; then
		vm_scenarios
	else
		failt "vm: not run, the userspace tools did not build"
	fi
	phase_end "VM scenarios"

	phase "unit tests"
	bg_step_finish "build-userspace"
	if [ -n "$step_ok" ]; then
		ctest_dir build unit
	else
		failt "unit: not run, userspace build failed"
	fi
	phase_end "unit tests"

	if grep -q CVOL_SANITIZE CMakeLists.txt 2>/dev/null; then
		phase "unit tests under ASan/UBSan (build-san)"
		background_result build-userspace-sanitize
		if [ -n "$step_ok" ]; then
			ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1} \
			UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
				ctest_dir build-san unit-san
		else
			failt "unit-san: not run, sanitizer build failed"
		fi
		phase_end "sanitizer unit tests"
	fi

	if [ -f tests/fuzz/CMakeLists.txt ]; then
		phase "fuzz targets, 250k runs each (build-fuzz)"
		background_result build-fuzz
		if [ -n "$step_ok" ]; then
			fuzz_targets
		else
			failt "fuzz: not run, the fuzz build failed"
		fi
		phase_end "fuzz targets"
	fi

	print_timings
	echo
	echo "=== total time $(since "$t0")s"
	if [ ${#failures[@]} -gt 0 ]; then
		echo "Failed:"
		printf '  %s\n' "${failures[@]}"
	fi
	if [ "$skipped" -gt 0 ]; then
		echo "$passed passed, $failed failed, $skipped skipped"
	else
		echo "$passed passed, $failed failed"
	fi
	[ "$failed" -eq 0 ]
}

main "$@"
