#!/usr/bin/env bash
# timeout: 420
#
# Events on the real kernel, read with cvol-events (generic netlink family
# "cvol", group "events"):
#   A. every kind the target raises here arrives, with the right fields:
#      freeze_drained (id, range), map_changed (generation), freeze_timeout,
#      freeze_broken and fenced (normal suspend), unfenced (epoch),
#      lease_expired, dev_error (slot), held_failed, fence_drained.
#   B. under fio load, 100 freeze/map_set/thaw cycles on one volume: events
#      arrive in order, without gaps, one freeze_drained per freeze;
#      events_seq agrees with the last event and reports nothing lost.
#   C. only the initial network namespace has them, and only CAP_SYS_ADMIN
#      may listen: a listener elsewhere or without it fails to subscribe.
#   D. each batch raises a dm event (dmsetup event number moves; dmsetup
#      wait returns).
source "$CVOL_ROOT/tests/vm/lib.sh"
source "$CVOL_ROOT/tests/vm/lib/remap.bash"
source "$CVOL_ROOT/tests/vm/lib/events.bash"

load_cvol
N0=$(mk_nullb 128)
N1=$(mk_nullb 128)
W=/tmp/he
mkdir -p $W
E=128
EB=$((E * 512))

check "listener A in the root namespace" -- ev_listen a
check_fail "C: no listener in another network namespace (the family is in the initial one only)" -- \
	ev_listen_netns c
assert_match "C: ... it says so" "initial network namespace" "$(cat $W/c.err)"
check_fail "C: no listener without CAP_SYS_ADMIN" -- \
	ev_listen_wrapped c2 setpriv --inh-caps=-sys_admin --bounding-set=-sys_admin
assert_match "C: ... it says so" "CAP_SYS_ADMIN" "$(cat $W/c2.err)"

check "create a: 8 extents, slot 1 is a dm error device" -- dmsetup create bad --table "0 $(dev_sectors "$N1") error"
check "create v" -- dmsetup create v --table \
	"0 $((8 * E)) cvol he-v $E 2 $N0 0 /dev/mapper/bad 0 3 map_runs 1 0:0:0:8"
EVNR0=$(dmsetup info -c --noheadings -o events v)

# --- A ---
id=$(msg v freeze 2 3)
msg v freeze_wait "$id" 5000 >/dev/null
g=$(status_gen v)
msg v map_set "$g" 2:0:20:2 >/dev/null
msg v thaw "$id"
id2=$(msg v freeze 5 1 1000)
sleep 2
id3=$(msg v freeze 6 1)
dmsetup suspend v
dmsetup resume v
msg v unfence 7	# the suspend broke a freeze: fenced
msg v lease 300
sleep 1.5
msg v lease 0	# it ran out; unfence only once it is disarmed (or renewed)
msg v unfence 8
dd if=/dev/zero of=/dev/mapper/v bs=4k count=1 oflag=direct status=none || true	# extent 0 is on slot 0: fine
g=$(status_gen v)
msg v map_set "$g" 7:1:0 >/dev/null
dd if=/dev/zero of=/dev/mapper/v bs=4k seek=$((7 * EB / 4096)) count=1 oflag=direct status=none 2>/dev/null &&
	fail "A: a write to the error device succeeded" || ok "A: a write to the error device failed"
msg v fence
dd if=/dev/zero of=/dev/mapper/v bs=4k count=1 oflag=direct status=none 2>/dev/null &
DDPID=$!
sleep 1
dmsetup suspend v
wait $DDPID || true	# not a bare wait: the listeners run in the background
dmsetup resume v
msg v unfence 9
check "A: 18 events arrived" -- ev_wait_count a he-v 18
ev_of a he-v >$CVOL_OUT/events-a.jsonl
# fence_drained comes from a worker, after its fence but maybe after later
# events: checked apart.
jq -c 'select(.type != "fence_drained")' $CVOL_OUT/events-a.jsonl >$W/a-ordered.jsonl
T=$(jq -r '.type' $W/a-ordered.jsonl | tr '\n' ' ')
assert_eq "A: types in order" "freeze_drained map_changed freeze_drained freeze_timeout freeze_drained fenced freeze_broken unfenced lease_expired unfenced map_changed dev_error fenced held_failed unfenced " "$T"
nth() { sed -n "$1p" $W/a-ordered.jsonl; }
assert_eq "A: freeze_drained: id, vext, count" "$id 2 3" "$(nth 1 | jq -r '"\(.id) \(.vext) \(.count)"')"
assert_eq "A: map_changed: generation, range" "$((g + 1)) 7 1" "$(nth 11 | jq -r '"\(.value) \(.vext) \(.count)"')"
assert_eq "A: first map_changed: generation 1, range 2+2" "1 2 2" "$(nth 2 | jq -r '"\(.value) \(.vext) \(.count)"')"
assert_eq "A: freeze_timeout: id $id2" "$id2 5 1" "$(nth 4 | jq -r '"\(.id) \(.vext) \(.count)"')"
assert_eq "A: fenced by the suspend that broke a freeze (value 1)" 1 "$(nth 6 | jq -r .value)"
assert_eq "A: freeze_broken: id $id3" "$id3 6 1" "$(nth 7 | jq -r '"\(.id) \(.vext) \(.count)"')"
assert_eq "A: unfenced: epoch 7" 7 "$(nth 8 | jq -r .value)"
assert_eq "A: lease_expired: the lease" 300 "$(nth 9 | jq -r .value)"
assert_eq "A: dev_error: slot 1" 1 "$(nth 12 | jq -r .dev_slot)"
assert_eq "A: fenced by the message (value 0)" 0 "$(nth 13 | jq -r .value)"
assert_eq "A: held_failed: 1 bio" 1 "$(nth 14 | jq -r .value)"
assert_eq "A: dm name and device" "v $(dmsetup info -c --noheadings -o major,minor --separator : v)" \
	"$(nth 1 | jq -r '"\(.dm_name) \(.dm_dev)"')"
# Each fence (the suspend's, the lease's, the message's) drained once.
assert_eq "A: one fence_drained after each fence" "$(jq -r 'select(.type == "fenced" or .type == "lease_expired") | .seq' \
	$CVOL_OUT/events-a.jsonl | xargs)" "$(jq -s -r '. as $e | [range(length)] | map(select($e[.].type == "fence_drained")) |
	map(. as $i | [$e[0:$i][] | select(.type == "fenced" or .type == "lease_expired")] | (last | .seq)) | .[]' \
	$CVOL_OUT/events-a.jsonl | xargs)"
check "A: no gaps" -- ev_no_gaps a he-v
assert_eq "A: events_seq" "18 0" "$(msg v events_seq)"
assert_eq "A: status: event seq, lost, lease" "18 0 none" "$(dmsetup status v | awk '{ print $(NF-2), $(NF-1), $NF }')"
EVNR1=$(dmsetup info -c --noheadings -o events v)
[ "$EVNR1" -gt "$EVNR0" ] && ok "D: dm event number moved ($EVNR0 -> $EVNR1)" || fail "D: dm event number stayed $EVNR0"
dmsetup wait v "$EVNR1" >$W/wait.out 2>&1 &
WPID=$!
sleep 0.5
msg v freeze_wait "$(msg v freeze 0 1)" 5000 >/dev/null
check "D: dmsetup wait returns after the next event" -- timeout 10 bash -c "while kill -0 $WPID 2>/dev/null; do sleep 0.1; done"
msg v thaw "$(dmsetup status v | awk '{ print $8 }' | cut -d: -f1)"

# --- B: under load ---
check "create w: 64 extents" -- dmsetup create w --table \
	"0 $((64 * E)) cvol he-w $E 1 $N0 0 3 map_runs 1 0:0:1000:64"
fio --name=load --filename=/dev/mapper/w --direct=1 --ioengine=libaio --iodepth=8 \
	--rw=randrw --bs=4k --time_based --runtime=600 --output=$W/fio.out >/dev/null 2>&1 &
FIO=$!
sleep 1
n=100
t0=$(now_ns)
for ((k = 0; k < n; k++)); do
	x=$((k % 64))
	i=$(msg w freeze $x 1)
	msg w freeze_wait "$i" 10000 >/dev/null
	g=$(status_gen w)
	# Alternate between two physical places per extent; nothing is
	# verified here (see hold_fio_verify), only the events.
	msg w map_set "$g" "$x:0:$((1000 + 64 * ((k / 64 + 1) % 2) + x))" >/dev/null
	msg w thaw "$i"
done
plan_note "B: $n freeze/map_set/thaw cycles under load in $(ms_since $t0) ms"
kill $FIO
wait $FIO || true
check "B: $((2 * n)) events" -- ev_wait_count a he-w $((2 * n))
check "B: no gaps, in order" -- ev_no_gaps a he-w
assert_eq "B: $n freeze_drained" $n "$(ev_of a he-w | jq -r 'select(.type == "freeze_drained")' | jq -s length)"
assert_eq "B: freeze ids 1..$n in order" "$(seq 1 $n | tr '\n' ' ')" \
	"$(ev_of a he-w | jq -r 'select(.type == "freeze_drained") | .id' | tr '\n' ' ')"
assert_eq "B: map_changed generations 1..$n in order" "$(seq 1 $n | tr '\n' ' ')" \
	"$(ev_of a he-w | jq -r 'select(.type == "map_changed") | .value' | tr '\n' ' ')"
assert_eq "B: events_seq: $((2 * n)), none lost" "$((2 * n)) 0" "$(msg w events_seq)"
ev_of a he-w | jq -r 'select(.type == "freeze_drained") | .value' | sort -n >$W/drain-ms
plan_note "B: drain ms under load: median $(sed -n "$((n / 2))p" $W/drain-ms), max $(tail -1 $W/drain-ms)"
check "B: no gap line from cvol-events" -- bash -c "! grep -q '\"type\":\"gap\"' $W/a.jsonl"

check "listener A still running" -- kill -0 "$(ev_pid a)"
ev_stop a
check "remove" -- dmsetup remove v w bad
assert_no_kernel_warning
finish
