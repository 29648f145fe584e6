#!/usr/bin/env bash
# timeout: 300
#
# The kernel lease on the real kernel:
#   A. renewed in time it never fences; I/O flows. (The lease is 3 s: a
#      dmsetup call under TCG can stall for over a second.)
#   B. not renewed, the volume fences itself after the lease: new writes and
#      reads are held (not failed), status says fenced, the log says why;
#      unfence is refused until the lease is renewed or disarmed, then
#      releases them with the right data; an older epoch is refused.
#   C. fence by message; noflush suspend keeps the held write; a normal
#      suspend fails it (a fenced volume must not write) and does not hang.
#   D. policy "error": fenced I/O fails at once; lease 0 disarms.
source "$CVOL_ROOT/tests/vm/lib.sh"
source "$CVOL_ROOT/tests/vm/lib/remap.bash"

load_cvol
N0=$(mk_nullb 64)
W=/tmp/hl
mkdir -p $W
E=128
EB=$((E * 512))
check "create v: 8 extents" -- dmsetup create v --table \
	"0 $((8 * E)) cvol hl-v $E 1 $N0 0 3 map_runs 1 0:0:0:8"
head -c 4096 /dev/urandom >$W/p
head -c 4096 /dev/urandom >$W/q

wr() { dd if="$1" of=/dev/mapper/v bs=4k seek=$(($2 * EB / 4096)) oflag=direct status=none; }
rd_is() { cmp -s "$1" <(dd if=/dev/mapper/v bs=4k skip=$(($2 * EB / 4096)) count=1 iflag=direct status=none); }
lease_state() { dmsetup status v | awk '{ print $NF }'; }

assert_eq "no lease at first" none "$(lease_state)"

# --- A ---
check "A: lease 3000" -- msg v lease 3000
assert_eq "A: armed" armed "$(lease_state)"
for i in 1 2 3 4 5 6; do
	sleep 0.5
	msg v lease 3000
	plan_note "renewed at uptime $(cut -d' ' -f1 /proc/uptime)"
done
assert_eq "A: renewed every 0.5 s for 3 s: still armed" armed "$(lease_state)"
bg wA dd if=$W/p of=/dev/mapper/v bs=4k oflag=direct status=none
check "A: a write works" -- wait_job wA 10
# From here on a failure must not leave I/O held forever.
done_ wA || msg v unfence 1000000

# --- B ---
kmsg_mark expiry
t0=$(now_ns)
while [ "$(lease_state)" != fenced ] && [ "$(ms_since $t0)" -lt 10000 ]; do sleep 0.1; done
TF=$(ms_since $t0)
assert_eq "B: fenced once the lease ran out" fenced "$(lease_state)"
[ "$TF" -ge 2000 ] && ok "B: after $TF ms (lease 3000 ms, last renewal just before)" || fail "B: fenced after $TF ms"
assert_match "B: the log says why" "cvol: hl-v: fenced \(lease expired\): new I/O is held until unfence" "$(kmsg_since_mark)"
bg wB wr $W/q 3
bg rB rd_is $W/p 0
sleep 1.5
check_fail "B: a write is held while fenced" -- done_ wB
check_fail "B: a read is held while fenced" -- done_ rB
check_fail "B: unfence is refused while the lease has run out" -- msg v unfence 5
check "B: lease 0 (the lease is given up on purpose)" -- msg v lease 0
check "B: unfence 5" -- msg v unfence 5
check "B: the held write completes" -- wait_job wB 10
check "B: the held read completes" -- wait_job rB 10
assert_eq "B: both succeeded" "0 0" "$(rc_of wB) $(rc_of rB)"
check "B: the write is there" -- rd_is $W/q 3
assert_eq "B: lease state none after unfence" none "$(lease_state)"
check_fail "B: unfence with an older epoch (4) is refused" -- msg v unfence 4
check "B: unfence with the same epoch is fine (idempotent)" -- msg v unfence 5

# --- C ---
check "C: fence" -- msg v fence
assert_eq "C: fenced" fenced "$(lease_state)"
bg wC wr $W/p 4
sleep 1
check_fail "C: write held" -- done_ wC
check "C: noflush suspend while fenced with a held write" -- timeout 20 dmsetup suspend --noflush v
check "C: resume" -- dmsetup resume v
sleep 1
check_fail "C: the write is held again after resume" -- done_ wC
check "C: normal suspend returns" -- timeout 20 dmsetup suspend v
check "C: the held write has ended" -- wait_job wC 10
check_fail "C: ... with an error (a fenced volume does not write)" -- test "$(rc_of wC)" = 0
check "C: resume" -- dmsetup resume v
assert_eq "C: still fenced after resume" fenced "$(lease_state)"
bg wC2 wr $W/p 5
sleep 1
check_fail "C: a new write is held (not failed) after resume" -- done_ wC2
check "C: unfence 6" -- msg v unfence 6
check "C: it completes" -- wait_job wC2 10
assert_eq "C: successfully" 0 "$(rc_of wC2)"
check "C: the failed write did not land" -- bash -c "! cmp -s $W/p <(dd if=$N0 bs=4k skip=$((4 * EB / 4096)) count=1 iflag=direct status=none)"

# --- D ---
check "D: lease 500 error" -- msg v lease 500 error
sleep 1.5
assert_eq "D: fenced" fenced "$(lease_state)"
check_fail "D: a write fails at once" -- timeout 5 dd if=$W/p of=/dev/mapper/v bs=4k seek=$((6 * EB / 4096)) oflag=direct status=none
check_fail "D: a read fails at once" -- timeout 5 dd if=/dev/mapper/v of=/dev/null bs=4k count=1 iflag=direct status=none
check_fail "D: unfence 7 is refused: the lease ran out" -- msg v unfence 7
check "D: lease 0" -- msg v lease 0
check "D: unfence 7" -- msg v unfence 7
check "D: I/O works again" -- timeout 10 dd if=$W/p of=/dev/mapper/v bs=4k seek=$((6 * EB / 4096)) oflag=direct status=none
check "D: lease 500, then lease 0 disarms" -- msg v lease 500
check "D: lease 0" -- msg v lease 0
sleep 1.2
assert_eq "D: not fenced" none "$(lease_state)"
assert_eq "D: health unchanged (fenced I/O is no device error)" A "$(health v)"

check "remove" -- dmsetup remove v
assert_no_kernel_warning
finish
