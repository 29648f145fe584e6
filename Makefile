# Top-level driver. `make` builds the kernel module against the Debian kernel
# the test VM boots (KDIR= overrides) and the userspace with CMake.
SHELL := /bin/bash
KREL  ?= $(shell scripts/kver.sh 2>/dev/null)
KDIR  ?= /lib/modules/$(KREL)/build
BUILD ?= build
JOBS  ?= $(shell nproc)
CHECKPATCH ?= /usr/src/linux-source-6.1/scripts/checkpatch.pl

.PHONY: all deps module userspace test unit fuzz vm-test bench demo checkpatch clean

all: module userspace

deps:
	@bash scripts/install-deps.sh

module:
	@test -d "$(KDIR)" || { echo "no kernel headers at '$(KDIR)'; run: make deps" >&2; exit 1; }
	$(MAKE) -C $(KDIR) M=$(CURDIR) modules

userspace:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	cmake --build $(BUILD) -j $(JOBS)

unit: userspace
	ctest --test-dir $(BUILD) --output-on-failure

# The libFuzzer targets (tests/fuzz/, clang with ASan/UBSan in build-fuzz/),
# each for 250k runs over a copy of its seed corpus; findings go to
# build-logs/fuzz/. FUZZ_ARGS is passed on, e.g. FUZZ_ARGS="--runs 2000000 status".
fuzz:
	CC=clang CXX=clang++ cmake -S . -B build-fuzz -DCVOL_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	cmake --build build-fuzz -j $(JOBS) --target cvol_fuzzers
	bash tests/fuzz/run.sh $(FUZZ_ARGS)

checkpatch:
	@$(CHECKPATCH) --no-tree --quiet --terse -f kernel/*.c kernel/*.h include/uapi/linux/dm-cvol.h

# The README's test command: installs what it needs, builds, runs everything,
# ends with "N passed, N failed".
test:
	@bash tests/run-tests.sh

# One VM scenario by name: make vm-test T=remap_basic
vm-test: module userspace
	@bash tests/vm/run.sh $(T)

bench: deps module userspace
	@bash tests/bench/run.sh

demo:
	@bash scripts/demo.sh

clean:
	-$(MAKE) -C $(KDIR) M=$(CURDIR) clean
	rm -rf $(BUILD) build-*
