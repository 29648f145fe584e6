#!/usr/bin/env bash
# timeout: 420
#
# ext4 on a cvol volume survives online extent migrations under load.
#
#   * Volume fx: 20 extents of 4 MiB (region_sectors 1024: 8 regions per
#     extent) on two 128 MiB null_blk devices, half on each; ext4 on it.
#   * Before any migration, 24 files of random data (4 KiB - 512 KiB) are
#     written and their sha256 sums kept outside the filesystem.
#   * Load for LOAD_S seconds, all inside the filesystem at once:
#       - stress-ng --hdd 2 (O_DIRECT, sequential write + read, --verify);
#       - fio randwrite with crc32c verify (verify_backlog, O_DIRECT, 2 jobs
#         on their own files), finite runs one after another;
#       - a file churn of our own: files of random data are written (fsync),
#         renamed into place and the one 30 generations older deleted; every
#         5th step the page cache is dropped and an earlier file is read
#         back from the device and checked against its sha256.
#   * Mover, in the foreground while the load runs: two extents at a time
#     are migrated to a free physical extent on the OTHER device
#     (migrate_start, wait for ready, migrate_commit), so extents go back and
#     forth between the devices; a freed old place is reused later.
#   * Assertions: every migration reached ready and committed; stress-ng
#     exit 0 with no failure line; no fio run failed; no churn checksum
#     mismatch; no ext4 error / I/O error in the kernel log; map_get == the
#     mover's bookkeeping, generation == number of commits, no migration
#     left, both slots healthy; after umount `e2fsck -fn` is clean; after a
#     remount the 24 files written before the migrations and the last churn
#     files have their checksums.
# shellcheck disable=SC2046
source "$CVOL_ROOT/tests/vm/lib.sh"
source "$CVOL_ROOT/tests/vm/lib/migrate.bash"
source "$CVOL_ROOT/tests/vm/lib/fio.bash"

load_cvol
D=("$(mk_nullb 128)" "$(mk_nullb 128)")
W=/tmp/mx
MNT=/tmp/mx-mnt
mkdir -p $W $MNT
E=8192		# 4 MiB extents
RS=1024		# 8 regions per extent
NV=20
NP=32		# physical extents per device
LOAD_S=60

# Extents 0..9 on slot 0 pext 0..9, 10..19 on slot 1 pext 0..9.
declare -A MD MP NMOVES
for ((v = 0; v < NV; v++)); do
	MD[$v]=$((v / 10)) MP[$v]=$((v % 10)) NMOVES[$v]=0
done
FREE0=($(seq 10 $((NP - 1))))
FREE1=($(seq 10 $((NP - 1))))
check "create fx: $NV extents of 4 MiB over two null_blk devices" -- dmsetup create fx --table \
	"0 $((NV * E)) cvol mx-vol $E 2 ${D[0]} 0 ${D[1]} 0 6 map_runs 2 0:0:0:10 10:1:0:10 region_sectors $RS"
V=/dev/mapper/fx
check "mkfs.ext4" -- mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 $V
check "mount" -- mount -t ext4 $V $MNT

# Files written before the migrations.
mkdir -p $MNT/pre
for ((i = 0; i < 24; i++)); do
	head -c $(((RANDOM % 128 + 1) * 4096)) /dev/urandom >$MNT/pre/p$i
done
sync
(cd $MNT && sha256sum pre/p*) >$W/pre.sum
plan_note "pre-written: $(du -sh $MNT/pre | cut -f1) in 24 files; fs: $(df -h $MNT | tail -1)"

kmsg_mark ext4-load
STOP=$W/stop	# ends the churn loop
rm -f $STOP

# stress-ng, time-limited.
mkdir -p $MNT/sng
( cd $MNT/sng; rc=0; stress-ng --hdd 2 --hdd-bytes 4m --hdd-write-size 16k --hdd-opts direct,wr-seq,rd-seq --verify \
	--timeout ${LOAD_S}s --temp-path $MNT/sng --metrics-brief >$CVOL_OUT/stress-ng.txt 2>&1 || rc=$?
	echo $rc >$W/sng.rc ) &
SNG=$!

# fio with verification on files in the filesystem, finite runs until
# writer_stop. (Files of its own, not a region of a device: not
# fio_verify_args.)
mkdir -p $MNT/fio
fsjob() { # SEED
	echo --name=f --directory=$MNT/fio --filename_format='f.$jobnum' --ioengine=libaio --direct=1 \
		--verify=crc32c --verify_fatal=1 --verify_state_save=0 --verify_backlog=16 --rw=randwrite \
		--bssplit=4k/50:16k/30:64k/20 --iodepth=4 --numjobs=2 --size=4m --randseed="$1" --group_reporting
}
writer_start -o fio- fs 500 fsjob

# Our own churn with checksums.
mkdir -p $MNT/own
: >$W/own.sum
: >$W/own.bad
(
	i=0
	while [ ! -e $STOP ]; do
		i=$((i + 1))
		dd if=/dev/urandom of=$W/src bs=4k count=$((RANDOM % 64 + 1)) status=none
		s=$(sha256sum <$W/src | cut -d' ' -f1)
		dd if=$W/src of=$MNT/own/t bs=64k conv=fsync status=none
		mv $MNT/own/t $MNT/own/f$i
		echo "$s  own/f$i" >>$W/own.sum
		rm -f $MNT/own/f$((i - 30))
		if [ $((i % 5)) -eq 0 ] && [ $i -gt 3 ]; then
			echo 3 >/proc/sys/vm/drop_caches
			k=$((i - 3))
			s2=$(sha256sum <$MNT/own/f$k | cut -d' ' -f1)
			[ "$s2" = "$(awk -v f="own/f$k" '$2 == f { print $1 }' $W/own.sum)" ] || echo "f$k" >>$W/own.bad
		fi
	done
	echo $i >$W/own-last
) &
OWNPID=$!

# ---------------------------------------------------------------- mover ---
GEN=$(status_gen fx)
NCOMMIT=0
MOVEFAIL=0
# take_free SLOT: sets P2 to a random free pext of SLOT and removes it from
# the free list (called in this shell, not in $(...), as it edits the list).
take_free() {
	local -n fl=FREE$1
	local k=$((RANDOM % ${#fl[@]}))
	P2=${fl[k]}
	unset "fl[k]"
	fl=("${fl[@]}")
}
give_free() { local -n fl=FREE$1; fl+=("$2"); }
declare -a DST
MINROUNDS=12	# > NV/2: every extent moves there and back
round=0
t0=$(now_ns)
while kill -0 $SNG 2>/dev/null || [ $round -lt $MINROUNDS ]; do
	a=$(((2 * round) % NV))
	b=$(((2 * round + 1 + NV / 2) % NV))	# one from each half
	round=$((round + 1))
	for v in $a $b; do
		d2=$((1 - MD[$v]))
		take_free $d2
		p2=$P2
		DST[$v]="$d2 $p2"
		r=$(msg fx migrate_start $v $d2 $p2 2>&1) || { MOVEFAIL=$((MOVEFAIL + 1)); echo "# migrate_start $v $d2 $p2: $r"; }
	done
	for v in $a $b; do
		read -r d2 p2 <<<"${DST[$v]}"
		if ! e=$(wait_state fx $v ready 120 2>&1); then
			MOVEFAIL=$((MOVEFAIL + 1))
			echo "# extent $v -> $d2:$p2 not ready: $e"
			msg fx migrate_abort $v || true
			give_free $d2 $p2
			continue
		fi
		r=$(msg fx migrate_commit $v 2>&1) || r="error: $r"
		if [ "$r" != $((GEN + 1)) ]; then
			MOVEFAIL=$((MOVEFAIL + 1))
			echo "# migrate_commit $v (gen $GEN) -> '$r'"
			continue
		fi
		GEN=$r
		NCOMMIT=$((NCOMMIT + 1))
		give_free "${MD[$v]}" "${MP[$v]}"
		MD[$v]=$d2 MP[$v]=$p2
		NMOVES[$v]=$((NMOVES[$v] + 1))
	done
done
MOVE_MS=$(ms_since "$t0")
touch $STOP
writer_signal fs
wait $SNG || true
writer_stop fs
wait $OWNPID || true
plan_note "mover: $NCOMMIT commits in $round rounds, $MOVE_MS ms ($((MOVE_MS / (NCOMMIT ? NCOMMIT : 1))) ms per migration, 2 at a time)"
plan_note "moves per extent: $(for ((v = 0; v < NV; v++)); do printf '%s ' "${NMOVES[$v]}"; done)"
plan_note "fio runs: $(writer_runs fs); churn files: $(cat $W/own-last)"
assert_eq "no migration step failed" 0 "$MOVEFAIL"
assert_eq "every migration committed" $((2 * round)) "$NCOMMIT"
back=$(for ((v = 0; v < NV; v++)); do [ "${NMOVES[$v]}" -lt 2 ] || echo "$v"; done | wc -l)
[ "$back" -ge 2 ] && ok "$back extents went there and back (moved twice or more)" || fail "only $back extents moved twice"
assert_eq "stress-ng exit status" 0 "$(cat $W/sng.rc)"
assert_eq "stress-ng: no failure line" "" "$(grep -E 'fail:|incorrect data|unsuccessful' "$CVOL_OUT/stress-ng.txt" || true)"
assert_match "stress-ng: successful run" 'successful run completed' "$(cat "$CVOL_OUT/stress-ng.txt")"
assert_eq "no fio run failed" "" "$(writer_failed fs)"
[ "$(writer_runs fs)" -ge 1 ] && ok "fio ran $(writer_runs fs) times" || fail "no fio run completed"
assert_eq "no fio output reports an error" "" "$(fio_errors "$CVOL_OUT"/fio-*.txt)"
assert_eq "churn: no checksum mismatch on read-back during the load" "" "$(cat $W/own.bad)"
assert_eq "kernel log: no ext4 error, no I/O error during the load" "" \
	"$(kmsg_since_mark | grep -E 'EXT4-fs (error|warning)|I/O error|Buffer I/O|blk_update_request' || true)"

for ((v = 0; v < NV; v++)); do echo "$v ${MD[$v]} ${MP[$v]}"; done | runs_of >$W/runs-expected
assert_eq "map_get == the mover's bookkeeping" "$(runs_line <$W/runs-expected)" \
	"$(msg fx map_get 0 $NV)"
assert_eq "generation == number of commits" "$NCOMMIT" "$(status_gen fx)"
assert_eq "status: all mapped, both slots alive, no freeze, no migration" "$NV/$NV AA 0 0" \
	"$(dmsetup status fx | cut -d' ' -f5-8)"

check "umount" -- umount $MNT
blockdev --flushbufs $V
check "e2fsck -fn is clean" -- e2fsck -fn $V
e2fsck -fn $V >$CVOL_OUT/e2fsck.txt 2>&1 || true
check "mount again" -- mount -t ext4 $V $MNT
check "the 24 files written before the migrations have their checksums" -- \
	bash -c "cd $MNT && sha256sum --quiet -c $W/pre.sum"
last=$(cat $W/own-last)
awk -v lo=$((last - 29)) '{ split($2, a, "/f"); if (a[2] + 0 >= lo) print }' $W/own.sum >$W/own-live.sum
check "the last $(wc -l <$W/own-live.sum) churn files have their checksums" -- \
	bash -c "cd $MNT && sha256sum --quiet -c $W/own-live.sum"
assert_eq "exactly those churn files exist" "$(awk '{ print $2 }' $W/own-live.sum | sort)" \
	"$(cd $MNT && ls own/f* | sort)"
check "umount" -- umount $MNT
check "remove" -- dmsetup remove fx
assert_no_kernel_warning
finish
