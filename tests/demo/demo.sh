# The README's main job, run inside the test VM by scripts/demo.sh: a cvol
# volume over three devices, live data, a live remap of an extent.
# timeout: 600
source "$CVOL_ROOT/tests/vm/lib.sh"
cd /tmp		# fio keeps its verify state files in the working directory

step() { printf '\n== %s\n' "$*"; }

step "load dm-cvol and make three 64 MiB devices"
load_cvol
a=$(mk_loop 64); b=$(mk_loop 64); c=$(mk_loop 64)
echo "devices: $a $b $c"

step "a 48 MiB volume, 1 MiB extents, striped over the three devices"
table=$("$CVOL_BUILD/bin/cvol-maptool" table --uuid demo --extent-sectors 2048 \
	--extents 48 --dev "$a:2048" --dev "$b:2048" --dev "$c:2048" --layout striped)
echo "$table"
dmsetup create demo --table "$table"
dmsetup status demo

step "write 48 MiB of live data with fio and verify it (crc32c)"
fio --name=fill --filename=/dev/mapper/demo --rw=write --bs=256k --direct=1 \
	--ioengine=libaio --iodepth=8 --verify=crc32c --do_verify=1 \
	--output="$CVOL_OUT/fio-fill.txt"
check "fio wrote and verified the whole volume" -- grep -q "err= 0" "$CVOL_OUT/fio-fill.txt"

step "remap extent 7 live to device 2, physical extent 40, while fio reads"
before=$(dmsetup message demo 0 map_get 7 1)
echo "extent 7 is at $before (vext:dev:pext:count)"
src_dev=$(echo "$before" | cut -d: -f2); src_pext=$(echo "$before" | cut -d: -f3)
devs=("$a" "$b" "$c")
fio --name=reader --filename=/dev/mapper/demo --rw=read --bs=256k --direct=1 \
	--ioengine=libaio --iodepth=4 --verify=crc32c --verify_only \
	--time_based --runtime=8 --output="$CVOL_OUT/fio-read.txt" &
reader=$!
sleep 2
# Reads only, so a plain copy is consistent; writers need migration (next issue).
dd if="${devs[$src_dev]}" of="$c" bs=1M skip=$((1 + src_pext)) seek=$((1 + 40)) \
	count=1 iflag=direct oflag=direct status=none
gen=$(dmsetup status demo | cut -d" " -f4)	# status: <start> <len> cvol <gen> ...
new=$(dmsetup message demo 0 map_set "$gen" 7:2:40)
echo "map_set returned generation $new"
wait "$reader"
check "fio read-verify ran clean across the remap" -- grep -q "err= 0" "$CVOL_OUT/fio-read.txt"
assert_eq "extent 7 now lives on device 2 at 40" "7:2:40:1" "$(dmsetup message demo 0 map_get 7 1)"

step "prove I/O goes to the new place: scribble over the old one, verify again"
dd if=/dev/zero of="${devs[$src_dev]}" bs=1M seek=$((1 + src_pext)) count=1 oflag=direct status=none
fio --name=verify --filename=/dev/mapper/demo --rw=read --bs=256k --direct=1 \
	--ioengine=libaio --verify=crc32c --verify_only --output="$CVOL_OUT/fio-verify.txt"
check "all 48 MiB verify after the old location was zeroed" -- grep -q "err= 0" "$CVOL_OUT/fio-verify.txt"

step "the table shows the live map; a reload keeps it"
dmsetup table demo
t=$(dmsetup table demo | cut -d' ' -f4-)
dmsetup reload demo --table "0 $((48 * 2048)) cvol $t"
dmsetup suspend --noflush demo && dmsetup resume demo
assert_eq "map unchanged by the reload" "7:2:40:1" "$(dmsetup message demo 0 map_get 7 1)"
dmsetup status demo
dmsetup remove demo
assert_no_kernel_warning
finish
