# The README's main job, run inside the test VM by scripts/demo.sh: a cvol
# volume over three devices, live data, a live migration of two extents.
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

step "migrate extents 7 and 8 live to device 2 while fio rewrites the volume"
devs=("$a" "$b" "$c")
before=$(dmsetup message demo 0 map_get 7 1)
echo "extent 7 is at $before (vext:dev:pext:count)"
src_dev=$(echo "$before" | cut -d: -f2); src_pext=$(echo "$before" | cut -d: -f3)
# Random 4k writes over the whole volume, each block checksummed; fio
# reads everything back and verifies it when the writes are done.
fio --name=writer --filename=/dev/mapper/demo --rw=randwrite --bs=4k --direct=1 \
	--ioengine=libaio --iodepth=8 --size=48M --verify=crc32c --do_verify=1 \
	--output="$CVOL_OUT/fio-write.txt" &
writer=$!
sleep 2
dmsetup message demo 0 migrate_start 7 2 40
dmsetup message demo 0 migrate_start 8 2 41
for i in $(seq 1 600); do
	st=$(dmsetup status demo)
	echo "status: $st"
	[ "$(echo "$st" | grep -oE ' [78]:ready:' | wc -l)" -eq 2 ] && break
	sleep 0.5
done
echo "migrate_commit 7 -> generation $(dmsetup message demo 0 migrate_commit 7)"
echo "migrate_commit 8 -> generation $(dmsetup message demo 0 migrate_commit 8)"
wait "$writer"
check "fio rewrote and verified the volume across both migrations" -- grep -q "err= 0" "$CVOL_OUT/fio-write.txt"
assert_eq "extents 7-8 now live on device 2 at 40-41" "7:2:40:2" "$(dmsetup message demo 0 map_get 7 2)"

step "prove I/O goes to the new place: scribble over the old one, verify again"
dd if=/dev/zero of="${devs[$src_dev]}" bs=1M seek=$((1 + src_pext)) count=1 oflag=direct status=none
# The writer's job again, verify only: the same blocks, the same checksums.
fio --name=writer --filename=/dev/mapper/demo --rw=randwrite --bs=4k --direct=1 \
	--ioengine=libaio --iodepth=8 --size=48M --verify=crc32c --verify_only \
	--output="$CVOL_OUT/fio-verify.txt"
check "all 48 MiB verify after the old location was zeroed" -- grep -q "err= 0" "$CVOL_OUT/fio-verify.txt"

step "the table shows the live map; a reload keeps it"
dmsetup table demo
t=$(dmsetup table demo | cut -d' ' -f4-)
dmsetup reload demo --table "0 $((48 * 2048)) cvol $t"
dmsetup suspend --noflush demo && dmsetup resume demo
assert_eq "map unchanged by the reload" "7:2:40:2" "$(dmsetup message demo 0 map_get 7 2)"
dmsetup status demo
dmsetup remove demo
assert_no_kernel_warning
finish
