#!/usr/bin/env bash
# Runs the libFuzzer targets of build-fuzz/ (tests/fuzz/CMakeLists.txt) for
# a fixed number of runs each (default 250000), two at a time, each over a fresh copy of its
# checked-in seed corpus (tests/fuzz/corpus/<name>/ is never written to).
#
#   tests/fuzz/run.sh [--build DIR] [--out DIR] [--runs N] [--max-time S]
#                     [--jobs J] [name...]
#
# Prints one line per target, "PASS fuzz: <name> ..." or "FAIL fuzz: <name>
# ...", with the crash input's path on failure, and "TIMING fuzz<TAB><name>
# <TAB><seconds>" for tests/run-tests.sh's breakdown. A target fails if
# libFuzzer found a crash, a sanitizer report, a leak or a timeout (its log:
# <out>/<name>.log; its input: <out>/<name>/crash-*, leak-*, timeout-*).
# --max-time is a safety cap on one target's wall time, not the plan: a
# target stopped by it passes, and its line says how many runs it did.
# Exit status: 0 if every target passed.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=$root/build-fuzz
out=$root/build-logs/fuzz
runs=250000
max_time=150
jobs=2
names=()
while [ $# -gt 0 ]; do
	case "$1" in
	--build) build=$(realpath "$2"); shift 2 ;;
	--out) out=$(realpath -m "$2"); shift 2 ;;
	--runs) runs=$2; shift 2 ;;
	--max-time) max_time=$2; shift 2 ;;
	--jobs) jobs=$2; shift 2 ;;
	-h | --help) sed -n '2,17p' "$0"; exit 0 ;;
	-*) echo "run.sh: unknown option $1" >&2; exit 2 ;;
	*) names+=("$1"); shift ;;
	esac
done
corpus_root=$root/tests/fuzz/corpus
if [ ${#names[@]} -eq 0 ]; then
	# Longest first (measured), so the two lanes end together.
	names=(daemon_config records peer_message etcd_gateway)
	for d in "$corpus_root"/*/; do
		case " ${names[*]} " in *" $(basename "$d") "*) ;; *) names+=("$(basename "$d")") ;; esac
	done
fi

# A finding aborts at once, with a stack; leaks are findings too.
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

# Runs target $1; prints its verdict line and its TIMING line.
run_one() {
	local name=$1 bin=$build/fuzz/$1_fuzz dir=$out/$1 log=$out/$1.log
	local t0 rc=0 secs execs found
	rm -rf "$dir" "$log" "$dir.verdict"
	mkdir -p "$dir/corpus"
	echo fail >"$dir.verdict"
	if [ ! -x "$bin" ]; then
		echo "FAIL fuzz: $name (no fuzzer at ${bin#"$root"/}; build it with make fuzz)"
		return
	fi
	cp -r "$corpus_root/$name/." "$dir/corpus/"
	t0=$EPOCHREALTIME
	"$bin" -runs="$runs" -max_total_time="$max_time" -timeout=25 -rss_limit_mb=2048 \
		-print_final_stats=1 -artifact_prefix="$dir/" "$dir/corpus" >"$log" 2>&1 || rc=$?
	secs=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
	printf 'TIMING fuzz\t%s (%s runs)\t%s\n' "$name" "${execs:-?}" "$secs"
	found=$(find "$dir" -maxdepth 1 -type f \( -name 'crash-*' -o -name 'leak-*' \
		-o -name 'timeout-*' -o -name 'oom-*' -o -name 'slow-unit-*' \) | head -n 1)
	if [ "$rc" -eq 0 ] && [ -z "$found" ]; then
		local note=
		if [ -n "$execs" ] && [ "$execs" -lt "$runs" ]; then
			note=", stopped by --max-time $max_time"
		fi
		echo "PASS fuzz: $name (${execs:-?} runs in ${secs}s$note)"
		echo pass >"$dir.verdict"
	else
		echo "FAIL fuzz: $name (exit $rc after ${secs}s; input: ${found:-none saved}; log: $log)"
		grep -m 1 -E '^(==[0-9]+==ERROR|.*runtime error:|fuzz invariant violated|ALARM|SUMMARY)' "$log" |
			sed 's/^/    /' || true
	fi
}

mkdir -p "$out"
failed=0
running=0
for name in "${names[@]}"; do
	if [ "$running" -ge "$jobs" ]; then
		wait -n || true
		running=$((running - 1))
	fi
	run_one "$name" &
	running=$((running + 1))
done
wait
for name in "${names[@]}"; do
	[ "$(cat "$out/$name.verdict" 2>/dev/null)" = pass ] || failed=1
done
exit "$failed"
