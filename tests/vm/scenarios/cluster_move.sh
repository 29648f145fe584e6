#!/bin/bash
# timeout: 900
# smp: 2
# boot: own
# mem: 3072
# Three cvold hosts (network namespaces h1..h3) over three shared loop
# devices and a 3-member etcd. Each host writes its own third of one volume
# through its own device (fio crc32c, O_DIRECT) while the Primary moves
# extents of every third: every host dual-writes (follow), the Primary
# copies, the cutover is a cluster freeze + dirty re-copy + apply + release.
# Then all three hosts write interleaved blocks of the same four extents
# (overlapping ranges) while those move.
# Asserts: no fio error, a clean verify of each third through ANOTHER host's
# device, all three kernels' maps equal etcd's, the old places are free, and
# the event streams show each step on each host.
source "$CVOL_ROOT/tests/vm/lib.sh"
source "$CVOL_ROOT/tests/vm/lib/cluster.bash"

W=/tmp/cluster_move
mkdir -p $W
load_cvol

plan_note "cluster: 3 namespaces, 3-member etcd, 3 shared devices"
check "network up" -- cluster_net_up 3
check "etcd cluster up" -- start_etcd_cluster
mapfile -t DEVS < <(shared_devices 3 160)
assert_eq "three shared devices" 3 "${#DEVS[@]}"
for i in 1 2 3; do
	check "h$i starts" -- host_start "$i"
	sleep 1	# join in order: h1 Primary, h2 Secondary, h3 Alternate
done
for i in 1 2 3; do host_events_start "$i"; done

check_hctl "member list on h2" 0 2 member list --json
assert_eq "three members in rank order" "h1 h2 h3" "$(jq -r '[.members[].host] | join(" ")' "$CC_OUT")"
assert_eq "roles" "primary secondary alternate" "$(jq -r '[.members[].role] | join(" ")' "$CC_OUT")"
assert_eq "all active" "active active active" "$(jq -r '[.members[].state] | join(" ")' "$CC_OUT")"
assert_eq "every link up from h2" "true true true" "$(jq -r '[.members[].links[0].up] | join(" ")' "$CC_OUT")"
check_hctl "member list (table)" 0 3 member list
assert_match "table names the primary" "h1 +primary +active" "$(cat "$CC_OUT")"

check_hctl "pool create" 0 1 pool create p --extent-size 4M
check_hctl "pv create A" 0 1 pv create "${DEVS[0]}" --pool p --name pvA
check_hctl "pv create B" 0 1 pv create "${DEVS[1]}" --pool p --name pvB
check_hctl "pv create C" 0 1 pv create "${DEVS[2]}" --pool p --name pvC
check_hctl "volume create p/v 96M on h1" 0 1 volume create p/v --size 96M
for i in 1 2 3; do
	check "p-v@h$i appears on h$i" -- wait_for 30 test -b "/dev/mapper/p-v@h$i"
done
# A non-primary forwards a move to the Primary; the Primary's verdict on
# bad input comes back as it is, naming the Primary, and changes nothing.
MAP0=$(etcd_map 1 p/v)
check_hctl "an out-of-range move given to h2 is refused by the Primary" 2 2 volume move p/v --extent 99
assert_match "the error names the Primary and the range" "Primary \(h1\).*outside" "$(cat "$CC_ERR")"
check_hctl "a move to an unknown pv given to h3 is refused" 3 3 volume move p/v --extent 0 --to-pv nosuch
assert_eq "the refused moves changed nothing" "$MAP0" "$(etcd_map 1 p/v)"

SIZE=$((96 << 20))
THIRD=$((SIZE / 3))
job() { # HOST THIRD SEED [extra]: host's device, one third of the volume
	local h=$1 t=$2 seed=$3
	shift 3
	echo --name=w$h --filename=/dev/mapper/p-v@h$h --ioengine=libaio --direct=1 \
		--verify=crc32c --verify_fatal=1 --verify_state_save=0 --rw=randwrite --bs=4k \
		--iodepth=4 --size=$THIRD --offset=$((t * THIRD)) --randseed="$seed" "$@"
}
for i in 1 2 3; do
	check "h$i fills and verifies its third" -- fio $(job $i $((i - 1)) $((10 * i))) \
		--output="$CVOL_OUT/fio-fill-$i.txt"
done

# Writer loop w<I>: host I's passes over its third.
third_pass() { job "$2" $(($2 - 1)) "$1" --verify_backlog=64 --runtime=4 --time_based; } # SEED HOST
for i in 1 2 3; do writer_start -o "fio-h$i-" "w$i" $((10 * i)) third_pass "$i"; done
sleep 2

plan_note "moves under three writers: extents 1-2 (h1's third), 9-10 (h2's), 17-18 (h3's)"
check_hctl "move 1-2 to pvB" 0 1 volume move p/v --extent 1 --count 2 --to-pv pvB --wait
check_hctl "move 9-10 to pvC, given to h2 (forwarded to the Primary)" 0 2 \
	volume move p/v --extent 9 --count 2 --to-pv pvC --wait
assert_match "h2 forwarded the move to h1" '"primary":"h1".*"type":"move_forwarded"' \
	"$(cat "$CVOL_OUT/events-h2.log")"
assert_match "h1 ran it" '"type":"move_done","vext":10' "$(cat "$CVOL_OUT/events-h1.log")"
check_hctl "move 17-18 to pvB" 0 1 volume move p/v --extent 17 --count 2 --to-pv pvB --wait
check_hctl "move 1 again, to pvC" 0 1 volume move p/v --extent 1 --to-pv pvC --wait
sleep 2
writer_stop w1 w2 w3
assert_eq "every writer pass verified" "" "$(writer_failures w)"
plan_note "writer passes: h1 $(writer_runs w1) h2 $(writer_runs w2) h3 $(writer_runs w3)"

# A last full pass per third through its own host, then read each third
# back through the next host's device (another kernel volume, the same
# shared devices).
for i in 1 2 3; do
	check "h$i rewrites its third once more" -- fio $(job $i $((i - 1)) $((100 * i))) \
		--output="$CVOL_OUT/fio-last-$i.txt"
done
for i in 1 2 3; do
	o=$((i % 3 + 1))
	check "h$i's third verifies through h$o's device" -- \
		fio $(job $i $((i - 1)) $((100 * i)) --verify_only) --filename=/dev/mapper/p-v@h$o \
		--output="$CVOL_OUT/fio-verify-$i.txt"
done

etcd_runs=$(etcd_map 1 p/v)
for i in 1 2 3; do
	assert_eq "h$i's kernel map is etcd's" "$etcd_runs" "$(host_map $i p-v)"
done
assert_match "extent 1 is on pvC" "(^| )1 2 " "$etcd_runs"
assert_match "extent 9 is on pvC" "(^| )9 2 " "$etcd_runs"
assert_match "extent 17 is on pvB" "(^| )17 1 " "$etcd_runs"
for i in 1 2 3; do
	assert_eq "nothing frozen or migrating on h$i" "0 0" "$(dmsetup status "p-v@h$i" | awk '{print $7, $8}')"
done
check_hctl "status" 0 1 status --json
assert_eq "no move left" "0" "$(jq '.moves | length' "$CC_OUT")"
check_hctl "pool show" 0 1 pool show p --json
assert_eq "free = total - 24" "$(($(jq .total_extents "$CC_OUT") - 24))" "$(jq .free_extents "$CC_OUT")"

plan_note "overlapping writers: all three hosts write interleaved 4 KiB blocks of extents 4-7 while those move"
# Host I writes the blocks 3k+I-1 of the region (write, skip 8 KiB): every
# 1 MiB region of the moving extents is written by all three hosts, so the
# re-copy must cover the union of three hosts' dirty regions.
OVL_OFF=$((4 << 22))
OVL_SIZE=$((4 << 22))
overlap_job() { # HOST SEED [extra]
	local h=$1 seed=$2
	shift 2
	echo --name=o$h --filename=/dev/mapper/p-v@h$h --ioengine=libaio --direct=1 \
		--verify=crc32c --verify_fatal=1 --verify_state_save=0 --rw=write:8k --bs=4k \
		--iodepth=4 --offset=$((OVL_OFF + (h - 1) * 4096)) --size=$((OVL_SIZE - (h - 1) * 4096)) \
		--randseed="$seed" "$@"
}
# Writer loop o<I>: host I's interleaved blocks.
overlap_pass() { overlap_job "$2" "$1" --verify_backlog=64 --runtime=3 --time_based; } # SEED HOST
for i in 1 2 3; do writer_start -o "fio-overlap-h$i-" "o$i" $((50 * i)) overlap_pass "$i"; done
sleep 2
check_hctl "move extents 4-7 (written by all three hosts) to pvC" 0 1 \
	volume move p/v --extent 4 --count 4 --to-pv pvC --wait
sleep 1
writer_stop o1 o2 o3
assert_eq "every overlapping pass verified" "" "$(writer_failures o)"
for i in 1 2 3; do
	check "h$i rewrites its interleaved blocks" -- fio $(overlap_job $i $((500 * i))) \
		--output="$CVOL_OUT/fio-overlap-last-$i.txt"
done
for i in 1 2 3; do
	o=$((i % 3 + 1))
	check "h$i's interleaved blocks verify through h$o's device" -- \
		fio $(overlap_job $i $((500 * i)) --verify_only) --filename=/dev/mapper/p-v@h$o \
		--output="$CVOL_OUT/fio-overlap-verify-$i.txt"
done
etcd_runs=$(etcd_map 1 p/v)
for i in 1 2 3; do
	assert_eq "h$i's kernel map is etcd's after the overlapping moves" "$etcd_runs" "$(host_map $i p-v)"
done
for v in 4 5 6 7; do
	assert_eq "extent $v is on pvC" 2 "$(extent_place $v "$etcd_runs" | cut -d' ' -f1)"
done

plan_note "changes made on one host reach the others: grow, a new volume, its removal"
check_hctl "grow p/v by 8M on h1" 0 1 volume resize p/v --size +8M
for i in 2 3; do
	check "p-v@h$i grows to 104M" -- wait_for 30 bash -c \
		"[ \$(blockdev --getsize64 /dev/mapper/p-v@h$i) -eq $((104 << 20)) ]"
done
check_hctl "volume create p/w 8M on h2" 0 2 volume create p/w --size 8M
for i in 1 3; do
	check "p-w@h$i appears" -- wait_for 30 test -b "/dev/mapper/p-w@h$i"
done
check_hctl "volume remove p/w on h3" 0 3 volume remove p/w
for i in 1 2; do
	check "p-w@h$i goes away" -- wait_for 30 bash -c "! dmsetup info p-w@h$i >/dev/null 2>&1"
done

sleep 1
for i in 1 2 3; do host_events_stop "$i"; done
for step in follow copy freeze apply release; do
	assert_match "h1 events: step $step" "\"step\":\"$step\"" "$(cat "$CVOL_OUT/events-h1.log")"
done
assert_match "h1 events: recopy" "change_recopied" "$(cat "$CVOL_OUT/events-h1.log")"
assert_eq "h1 events: 11 moves done" 11 "$(grep -c '"move_done"' "$CVOL_OUT/events-h1.log")"
for i in 2 3; do
	assert_eq "h$i froze 11 times" 11 "$(grep -c '"cluster_frozen"' "$CVOL_OUT/events-h$i.log")"
	assert_eq "h$i applied 11 times" 11 "$(grep -c '"cluster_applied"' "$CVOL_OUT/events-h$i.log")"
	assert_eq "h$i released 11 times" 11 "$(grep -c '"cluster_released"' "$CVOL_OUT/events-h$i.log")"
	assert_match "h$i migrated (kernel events)" "migrate_ready" "$(cat "$CVOL_OUT/events-h$i.log")"
done
for i in 1 2 3; do
	assert_eq "h$i was never fenced" 0 "$(grep -c '"host_fenced"' "$CVOL_OUT/events-h$i.log" || true)"
done
assert_no_kernel_warning
finish
