# The README's main job, run inside the test VM by scripts/demo.sh: etcd,
# cvold and clusterctl on one host; a pool over three labelled devices, a
# volume with live data, and a live move of two extents while fio rewrites
# and verifies the volume.
# timeout: 600
source "$CVOL_ROOT/tests/vm/lib.sh"
source "$CVOL_ROOT/tests/vm/lib/cvold.bash"
trap cvold_cleanup EXIT
cd /tmp		# fio keeps its verify state files in the working directory

step() { printf '\n== %s\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }

step "load dm-cvol, start etcd and cvold, make three 96 MiB devices"
load_cvol
start_etcd
start_cvold
a=$(mk_loop 96); b=$(mk_loop 96); c=$(mk_loop 96)
cc=$CLUSTERCTL
run $cc status

step "a pool with 4 MiB extents over three labelled physical volumes"
run $cc pool create demo --extent-size 4M
run $cc pv create "$a" --pool demo --name pv-a
run $cc pv create "$b" --pool demo --name pv-b
run $cc pv create "$c" --pool demo --name pv-c
run $cc pv list

step "a 64 MiB volume; it is a plain device-mapper device"
run $cc volume create demo/data --size 64M
run $cc volume show demo/data
run dmsetup table demo-data

step "write 64 MiB of live data with fio and verify it (crc32c)"
V=/dev/mapper/demo-data
fio --name=fill --filename=$V --rw=write --bs=256k --direct=1 --ioengine=libaio \
	--iodepth=8 --verify=crc32c --do_verify=1 --output="$CVOL_OUT/fio-fill.txt"
check "fio wrote and verified the whole volume" -- grep -q "err= 0" "$CVOL_OUT/fio-fill.txt"

step "move extents 7 and 8 live to pv-c while fio rewrites and verifies the volume"
$cc events >"$CVOL_OUT/events.txt" 2>&1 &
evpid=$!
fio --name=live --filename=$V --rw=randwrite --bs=4k --direct=1 --ioengine=libaio \
	--iodepth=16 --verify=crc32c --verify_fatal=1 --verify_backlog=64 --size=64M \
	--output="$CVOL_OUT/fio-live.txt" &
fiopid=$!
sleep 2
run $cc volume move demo/data --extent 7 --count 2 --to-pv pv-c --wait
check "fio, which kept writing through the move, verified every block" -- wait $fiopid
check "fio saw no error" -- grep -q "err= 0" "$CVOL_OUT/fio-live.txt"
kill $evpid 2>/dev/null || true

step "where the extents are now (etcd's record and the kernel agree)"
run $cc volume show demo/data
run dmsetup table demo-data
cctl volume show demo/data --json
assert_eq "extents 7-8 are on pv-c" "pv-c" \
	"$(jq -r '.runs[] | select(.vext <= 7 and .vext + .count > 8) | .pv' "$CC_OUT")"
step "the events of the move"
grep -E 'move_|migrate_' "$CVOL_OUT/events.txt" || true

run $cc pool show demo
assert_no_kernel_warning
finish
