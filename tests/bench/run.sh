#!/usr/bin/env bash
# Runs the benchmarks in the test VM and prints their tables. Not part of
# the pass/fail test run: under TCG a single number proves nothing, so every
# benchmark interleaves the devices it compares and reports medians.
#   tests/bench/run.sh [benchmark...]     (default: every tests/bench/*.sh but run.sh)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
benches=("$@")
if [ ${#benches[@]} -eq 0 ]; then
	for f in "$here"/*.sh; do
		[ "$(basename "$f")" = run.sh ] || benches+=("$(basename "$f" .sh)")
	done
fi
rc=0
for b in "${benches[@]}"; do
	bash "$here/../vm/run.sh" "$here/$b.sh" || rc=1
	echo "---- $b ----"
	cat "$here/../vm/out/$b/bench.txt" 2>/dev/null || echo "(no results)"
done
exit $rc
