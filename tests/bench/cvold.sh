#!/usr/bin/env bash
# timeout: 900
#
# cvold/clusterctl benchmark (issue 5), command to completion, wall clock:
#   create  `clusterctl volume create p/big --size 1T` on a 1.1 TiB pv
#           (sparse file on tmpfs, loop device), against `lvm lvcreate -L 1T
#           -Zn` on an identical pv and `dmsetup create` of a 1 TiB
#           dm-linear table (the kernel part alone). Each rep removes again.
#   move    `clusterctl volume move p/small --extent 0 --to-pv X --wait` of
#           one 4 MiB extent of an idle volume on null_blk, against `lvm
#           pvmove -i 1` of one 4 MiB extent and dd of 4 MiB O_DIRECT between
#           the raw devices.
# Interleaved reps; medians; ratios against dm-linear / dd (raw) and LVM.
source "$CVOL_ROOT/tests/vm/lib.sh"
source "$CVOL_ROOT/tests/vm/lib/cvold.bash"
source "$CVOL_ROOT/tests/bench/lib.bash"
trap cvold_cleanup EXIT
REPS=${REPS:-5}
out=$CVOL_OUT/bench.txt
: >"$out"
say() { echo "$*" | tee -a "$out"; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

load_cvol
check "etcd" -- start_etcd
check "cvold" -- start_cvold
for f in c l; do truncate -s 1100G /tmp/sparse-$f.img; done
bc=$(losetup -f --show /tmp/sparse-c.img)
bl=$(losetup -f --show /tmp/sparse-l.img)
na=$(mk_nullb 64); nb=$(mk_nullb 64); la=$(mk_nullb 64); lb=$(mk_nullb 64)
cc=$CLUSTERCTL

check "pool + 1.1 TiB pv" -- bash -c "$cc pool create p --extent-size 4M && $cc pv create $bc --pool p --name big"
check "null_blk pvs" -- bash -c "$cc pv create $na --pool p --name na && $cc pv create $nb --pool p --name nb"

lvm_setup "$bl" "$la" "$lb"
lvmlog=$CVOL_OUT/lvm.log
lvm pvcreate -y -ff "$bl" "$la" "$lb" >>"$lvmlog" 2>&1
lvm vgcreate -s 4m vgbig "$bl" >>"$lvmlog" 2>&1
lvm vgcreate -s 4m vgs "$la" "$lb" >>"$lvmlog" 2>&1
ok "LVM set up"

# ---- create 1 TiB
T=$((1 << 40))
linear_table="0 $((T / 512)) linear $bl 2048"
: >$CVOL_OUT/c.ms; : >$CVOL_OUT/l.ms; : >$CVOL_OUT/d.ms
for ((r = 0; r < REPS; r++)); do
	t=$(date +%s%N); $cc volume create p/big --size 1T >/dev/null && ms_since $t >>$CVOL_OUT/c.ms
	$cc volume remove p/big >/dev/null
	t=$(date +%s%N); lvm lvcreate -y -Zn -Wn -L 1t -n big vgbig >>"$lvmlog" 2>&1 && ms_since $t >>$CVOL_OUT/l.ms
	lvm lvremove -y vgbig/big >>"$lvmlog" 2>&1
	t=$(date +%s%N); dmsetup create lin --table "$linear_table" && ms_since $t >>$CVOL_OUT/d.ms
	dmsetup remove lin
done
c=$(median <$CVOL_OUT/c.ms); l=$(median <$CVOL_OUT/l.ms); d=$(median <$CVOL_OUT/d.ms)
assert_eq "every create timed" "$REPS $REPS $REPS" \
	"$(wc -l <$CVOL_OUT/c.ms) $(wc -l <$CVOL_OUT/l.ms) $(wc -l <$CVOL_OUT/d.ms)"
say "create a 1 TiB volume (command to completion), $REPS interleaved reps, medians:"
say "  clusterctl volume create     $c ms"
say "  lvm lvcreate -Zn             $l ms   (cvol/lvm $(awk -v a=$c -v b=$l 'BEGIN{printf "%.2f", a/b}'))"
say "  dmsetup create (dm-linear)   $d ms   (cvol/linear $(awk -v a=$c -v b=$d 'BEGIN{printf "%.2f", a/b}'))"

# ---- one-extent move, idle
check "small volume" -- $cc volume create p/small --size 32M
dd if=/dev/urandom of=/dev/mapper/p-small bs=1M count=32 oflag=direct status=none
lvm lvcreate -y -Zn -Wn -L 32m -n small vgs "$la" >>"$lvmlog" 2>&1
dd if=/dev/urandom of=/dev/mapper/vgs-small bs=1M count=32 oflag=direct status=none
: >$CVOL_OUT/cm.ms; : >$CVOL_OUT/lm.ms; : >$CVOL_OUT/dd.ms
cur=$($cc volume show p/small --json | jq -r '.runs[] | select(.vext == 0) | .pv')
lcur=$la
for ((r = 0; r < REPS; r++)); do
	to=$([ "$cur" = na ] && echo nb || echo na)
	t=$(date +%s%N); timeout 120 $cc volume move p/small --extent 0 --to-pv $to --wait >>$CVOL_OUT/move.log 2>&1 && ms_since $t >>$CVOL_OUT/cm.ms
	echo "rep $r: cvol move to $to: $(tail -n1 $CVOL_OUT/cm.ms) ms"
	cur=$to
	lto=$([ "$lcur" = "$la" ] && echo "$lb" || echo "$la")
	t=$(date +%s%N); timeout 120 lvm pvmove -i 1 "$lcur:0" "$lto" >>"$lvmlog" 2>&1 && ms_since $t >>$CVOL_OUT/lm.ms
	echo "rep $r: pvmove to $lto: $(tail -n1 $CVOL_OUT/lm.ms) ms"
	lcur=$lto
	t=$(date +%s%N); dd if=$na of=$nb bs=4M count=1 iflag=direct oflag=direct status=none && ms_since $t >>$CVOL_OUT/dd.ms
done
cm=$(median <$CVOL_OUT/cm.ms); lm=$(median <$CVOL_OUT/lm.ms); dm=$(median <$CVOL_OUT/dd.ms)
assert_eq "every cvol move timed" "$REPS" "$(wc -l <$CVOL_OUT/cm.ms)"
assert_eq "every pvmove timed" "$REPS" "$(wc -l <$CVOL_OUT/lm.ms)"
say ""
say "move one 4 MiB extent of an idle volume (command to completion), $REPS reps, medians:"
say "  clusterctl volume move --wait  $cm ms"
say "  lvm pvmove -i 1 (one extent)   $lm ms   (cvol/lvm $(awk -v a=$cm -v b=$lm 'BEGIN{printf "%.2f", a/b}'))"
say "  dd 4 MiB O_DIRECT raw          $dm ms   (cvol/raw $(awk -v a=$cm -v b=$dm 'BEGIN{printf "%.2f", a/b}'))"
check "the moved volume reads back" -- dd if=/dev/mapper/p-small of=/dev/null bs=1M iflag=direct status=none
assert_no_kernel_warning
finish
