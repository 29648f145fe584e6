#!/usr/bin/env bash
# Runs the benchmarks in the test VM and prints their tables. Not part of
# the pass/fail test run: under TCG a single number proves nothing, so every
# benchmark interleaves the devices it compares and reports medians.
#   tests/bench/run.sh [benchmark...]
# Default: remap (hot path, map_set), pause (the pause of a one-extent move
# against a dm-linear suspend/resume, and I/O outside a frozen range),
# migrate (online migration of 32 extents: copy MB/s against dd and LVM
# pvmove, foreground fio IOPS/latency during it), then any other
# tests/bench/*.sh but run.sh. Each benchmark is one VM boot; the
# tables are in tests/vm/out/<benchmark>/bench.txt.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
benches=("$@")
if [ ${#benches[@]} -eq 0 ]; then
	benches=(remap pause migrate)
	for f in "$here"/*.sh; do
		b=$(basename "$f" .sh)
		case " run ${benches[*]} " in *" $b "*) ;; *) benches+=("$b") ;; esac
	done
fi
rc=0
for b in "${benches[@]}"; do
	# Two vCPUs, as every number in docs/testing.md was measured with.
	bash "$here/../vm/run.sh" --smp 2 "$here/$b.sh" || rc=1
	echo "---- $b ----"
	cat "$here/../vm/out/$b/bench.txt" 2>/dev/null || echo "(no results)"
done
exit $rc
