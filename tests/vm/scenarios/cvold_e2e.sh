#!/usr/bin/env bash
# timeout: 600
#
# cvold + clusterctl end to end, with a real etcd in the guest:
#   * pv create on loop devices (labels), refusing a device with a file
#     system or an existing label unless --force; pools; volumes;
#   * human and --json output of every list/show command, exit codes of bad
#     input (nothing changes);
#   * `volume move --wait` of 8 extents while fio writes and verifies;
#     progress lines; the map in etcd (volume show --json) equals the
#     kernel's (dmsetup table) afterwards;
#   * kill -9 of cvold in the middle of an 8-extent move: the kernel keeps
#     the volume serving; the restarted cvold finishes the moves, etcd and
#     the kernel agree, the data verifies;
#   * a 16-extent move, twice what the kernel migrates at once: the moves
#     beyond the kernel's limit wait their turn (none is rolled back);
#   * online grow, `clusterctl events`, remove.
source "$CVOL_ROOT/tests/vm/lib.sh"
source "$CVOL_ROOT/tests/vm/lib/cvold.bash"
source "$CVOL_ROOT/tests/vm/lib/fio.bash"
trap cvold_on_exit EXIT

W=/tmp/e2e
rm -rf $W
mkdir -p $W
load_cvol
check "etcd starts" -- start_etcd
L0=$(mk_loop 160)
L1=$(mk_loop 160)
L2=$(mk_loop 64)
check "cvold starts and answers" -- start_cvold

plan_note "the control socket is root only"
nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
rc=0; nobody "$CLUSTERCTL" status >/dev/null 2>$W/err || rc=$?
assert_eq "non-root clusterctl: exit 6 (socket mode 0600)" 6 "$rc"
chmod 0666 "$CVOLD_SOCKET"
rc=0; nobody "$CLUSTERCTL" status >/dev/null 2>$W/err || rc=$?
assert_eq "non-root through an opened-up socket: exit 6 (SO_PEERCRED)" 6 "$rc"
assert_match "... and it says to run as root" "root" "$(cat $W/err)"
chmod 0600 "$CVOLD_SOCKET"

plan_note "pools and pvs"
check_cc "pool create p1" 0 pool create p1 --extent-size 4M
check_cc "pool create p1 again: conflict" 4 pool create p1
check_cc "pool create with a bad name: usage" 2 pool create 'bad/name'
check_cc "pv create in an unknown pool: not found" 3 pv create "$L0" --pool nope
check_cc "pv create $L0" 0 pv create "$L0" --pool p1 --name pvA
check_cc "pv create $L1" 0 pv create "$L1" --pool p1 --name pvB
check_cc "pv create $L0 again: conflict" 4 pv create "$L0" --pool p1 --name pvC
mkfs.ext4 -q "$L2"
check_cc "pv create over ext4 without --force: refused" 4 pv create "$L2" --pool p1 --name pvC
assert_match "the refusal says to use --force" "force" "$(cat "$CC_ERR")"
check "the ext4 file system is untouched" -- blkid -t TYPE=ext4 "$L2"
check_cc "pv list --json" 0 pv list --json
assert_eq "two pvs" 2 "$(jq '.pvs | length' "$CC_OUT")"
assert_eq "pvA has 39 extents of 4 MiB (160 MiB less the 1 MiB label area)" 39 \
	"$(jq '.pvs[] | select(.name == "pvA") | .extents' "$CC_OUT")"
check "the label is on disk" -- bash -c "head -c 8 $L0 | od -c | grep -q 'C   V   O   L   P   V'"
check_cc "pv list (table)" 0 pv list
assert_match "the table names pvA and its path" "pvA.*$L0" "$(cat "$CC_OUT")"

plan_note "volumes"
check_cc "volume create p1/v1 128M" 0 volume create p1/v1 --size 128M
check "/dev/mapper/p1-v1 exists" -- test -b /dev/mapper/p1-v1
assert_eq "its size is 128 MiB" $((128 << 20)) "$(blockdev --getsize64 /dev/mapper/p1-v1)"
check_cc "volume create p1/v1 again: conflict" 4 volume create p1/v1 --size 1M
check_cc "volume create in a missing pool: not found" 3 volume create nope/v --size 1M
check_cc "volume create bigger than the pool: conflict" 4 volume create p1/huge --size 10G
check_cc "volume create with a bad size: usage" 2 volume create p1/v2 --size 12Q
check_cc "volume list --json" 0 volume list --json
assert_eq "one volume" '["p1/v1"]' "$(jq -c '[.volumes[].name]' "$CC_OUT")"
check_cc "volume show" 0 volume show p1/v1
assert_match "human show has the device" "/dev/mapper/p1-v1" "$(cat "$CC_OUT")"

V=/dev/mapper/p1-v1
SIZE=$((128 << 20))
job() { # SEED [extra]
	fio_verify_args -b 4k "$V" "$SIZE" "$@"
}
check "fill + verify" -- fio $(job 100) --output="$CVOL_OUT/fio-0.txt"
writer_start -o fio- w 100 job --verify_backlog=64

"$CLUSTERCTL" events --json >$W/events 2>&1 &
EVPID=$!
sleep 1

# One "vext dev pext" line per mapped extent, from "vext:dev:pext:count" words.
per_extent() { awk -F: '{ for (i = 0; i < $4; i++) print $1 + i, $2, $3 + i }' | sort -n; }
kernel_runs() { # the live map (first segment)
	dmsetup table p1-v1 | head -n1 | sed 's/.* map_runs [0-9]* //' | tr ' ' '\n' | grep : | per_extent
}
etcd_runs() { # the same from etcd, through clusterctl
	"$CLUSTERCTL" volume show p1/v1 --json |
		jq -r '.runs[] | "\(.vext):\(if .pv == "pvA" then 0 else 1 end):\(.pext):\(.count)"' |
		per_extent
}
extents_on() { # PV FROM TO: how many of extents [FROM, TO) $CC_OUT maps to PV
	jq --arg pv "$1" --argjson a "$2" --argjson b "$3" '[.runs[] | select(.pv == $pv) |
		([.vext + .count, $b] | min) - ([.vext, $a] | max) | select(. > 0)] | add // 0' "$CC_OUT"
}
maps_agree() { [ "$(kernel_runs | xargs)" = "$(etcd_runs | xargs)" ]; }
moved_to() { # PV FROM TO: after a move --wait, extents [FROM, TO) are on PV and all is settled
	check_cc "volume show --json" 0 volume show p1/v1 --json
	assert_eq "extents $2-$(($3 - 1)) are on $1" $(($3 - $2)) "$(extents_on "$1" "$2" "$3")"
	assert_eq "no move left" 0 "$(jq '.moves | length' "$CC_OUT")"
	check "etcd's map equals the kernel's" -- maps_agree
	assert_eq "volume show's generation is the kernel's map_gen" \
		"$(dmsetup status p1-v1 | awk '{ print $4 }')" "$(jq '.generation' "$CC_OUT")"
}

plan_note "move under fio"
check_cc "volume move 0-7 to pvB --wait" 0 volume move p1/v1 --extent 0 --count 8 --to-pv pvB --wait
moved_to pvB 0 8
check_cc "move extent 0 back to pvA (the same extent again)" 0 volume move p1/v1 --extent 0 --to-pv pvA --wait
check_cc "volume show --json" 0 volume show p1/v1 --json
assert_eq "extent 0 is on pvA" 1 "$(extents_on pvA 0 1)"
check "etcd's map equals the kernel's" -- maps_agree

plan_note "kill -9 in the middle of a move"
check_cc "start moving 8-15 without waiting" 0 volume move p1/v1 --extent 8 --count 8 --to-pv pvB
kill_cvold KILL
ok "cvold killed"
check "the volume still serves I/O" -- dd if=$V of=/dev/null bs=1M count=16 iflag=direct
dmsetup status p1-v1 >$W/status-dead
check "cvold restarts" -- start_cvold
check "the restarted cvold finishes the moves" -- \
	wait_for 120 bash -c "'$CLUSTERCTL' volume show p1/v1 --json | jq -e '.moves | length == 0'"
check_cc "volume show --json" 0 volume show p1/v1 --json
assert_eq "extents 8-15 are on pvB" 8 "$(extents_on pvB 8 16)"
check "etcd's map equals the kernel's" -- maps_agree
check "no migration left in the kernel" -- bash -c "! dmsetup status p1-v1 | grep -Eq ':(start|copy|ready):'"

plan_note "a move of more extents than the kernel migrates at once (8)"
check_cc "volume move 16-31 (16 extents) to pvB --wait" 0 volume move p1/v1 --extent 16 --count 16 --to-pv pvB --wait
moved_to pvB 16 32

plan_note "etcd stops answering in the middle of a move"
# One region in flight and one migration at a time: the moves outlast the
# pause below.
check "throttle the copy" -- dmsetup message p1-v1 0 migrate_throttle 1 1
check_cc "start moving 24-27 back to pvA without waiting" 0 volume move p1/v1 --extent 24 --count 4 --to-pv pvA
kill -STOP "$etcd_pid"
check "cvold says the moves wait for etcd" -- wait_for 60 grep -q "waiting for etcd" "$CVOL_OUT/cvold.log"
sleep 2
kill -CONT "$etcd_pid"
check "the moves go on and complete (no restart)" -- \
	wait_for 120 bash -c "'$CLUSTERCTL' volume show p1/v1 --json | jq -e '.moves | length == 0'"
check "restore the throttle" -- dmsetup message p1-v1 0 migrate_throttle 16 8
moved_to pvA 24 28

plan_note "the same after a plain restart (no reload of a live volume)"
kill_cvold TERM
start_cvold
check "restart did not reload the live volume" -- bash -c "! tail -n 20 '$CVOL_OUT/cvold.log' | grep -q 'reloaded /dev/mapper/p1-v1'"

plan_note "online grow"
check_cc "volume resize to 160M" 0 volume resize p1/v1 --size 160M
assert_eq "the device is 160 MiB now" $((160 << 20)) "$(blockdev --getsize64 $V)"
check "write and read the new part" -- bash -c \
	"dd if=/dev/urandom of=$W/tail bs=1M count=32 2>/dev/null && dd if=$W/tail of=$V bs=1M seek=128 oflag=direct 2>/dev/null && cmp <(dd if=$V bs=1M skip=128 count=32 iflag=direct 2>/dev/null) $W/tail"
check_cc "shrink is refused" 4 volume resize p1/v1 --size 64M
check_cc "pv remove of a pv in use is refused" 4 pv remove pvA

exec 7<$V	# held open (fio reopens it between passes)
check_cc "volume remove while the device is open is refused" 4 volume remove p1/v1
check "... and the device is still there" -- test -b $V
exec 7<&-
writer_stop w
assert_eq "every fio writer pass verified" "" "$(writer_failed w)"
plan_note "fio passes during the moves: $(writer_runs w)"
check "final verify of the last pass" -- fio $(job 9999) --output="$CVOL_OUT/fio-final.txt"
kill $EVPID 2>/dev/null || true
wait $EVPID 2>/dev/null || true
assert_eq "events: 17 move_started (the stream ends with the killed daemon)" 17 "$(grep -c '"move_started"' $W/events || true)"
check "events: move_done seen" -- grep -q '"move_done"' $W/events
check "events: kernel migrate_ready seen" -- grep -q '"migrate_ready"' $W/events

check_cc "volume remove" 0 volume remove p1/v1
check "the device is gone" -- test ! -e $V
check_cc "pool show --json" 0 pool show p1 --json
assert_eq "all extents free again" "$(jq .total_extents "$CC_OUT")" "$(jq .free_extents "$CC_OUT")"
check_cc "pv remove pvB" 0 pv remove pvB
check "pvB's label is wiped" -- bash -c "! head -c 8 $L1 | grep -q CVOLPV"
check_cc "status" 0 status
assert_no_kernel_warning
finish
