#!/usr/bin/env bash
# The README's main job: installs what it needs, builds the module and the
# tools, and runs the demo (tests/demo/demo.sh) in a QEMU guest booting
# Debian's kernel. The guest's console is streamed so you can watch it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
make module userspace
exec bash tests/vm/run.sh -v tests/demo/demo.sh
