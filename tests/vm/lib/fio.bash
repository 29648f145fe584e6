# shellcheck shell=bash
# fio.bash: crc32c-verified fio jobs and the background writer loop.
# Source after tests/vm/lib.sh; see tests/vm/lib/README.md.
#
#   fio_verify_args [-n NAME] [-b BLOCKS] [-q IODEPTH] [-j NUMJOBS]
#                   [-o OFFSET] FILE SIZE SEED [FIO_ARG...]
#       prints the fio arguments (to be split into words: `fio $(...)`) of
#       a randwrite job with crc32c verification (verify_fatal, O_DIRECT,
#       libaio, no verify state files: the cwd is read-only) over the region
#       [OFFSET, OFFSET+SIZE) bytes of FILE, cut into NUMJOBS equal slices,
#       one per job, with random seed SEED, then FIO_ARG... Defaults: NAME w,
#       BLOCKS 4k/50:16k/30:64k/20, IODEPTH 8, NUMJOBS 4, OFFSET 0. BLOCKS
#       with a "/" is a --bssplit (blocks aligned to 4k), else a --bs.
#       The same SEED gives the same blocks: `fio $(fio_verify_args ... SEED)
#       --verify_only` checks what the run with SEED wrote last.
#   writer_start [-o OUTPREFIX] NAME SEED0 JOBFN [ARG...]
#       background loop of fio runs, one after another until writer_stop:
#       pass i (1, 2, ...) runs `fio $(JOBFN SEED0+i ARG...)
#       --output=$CVOL_OUT/OUTPREFIX<i>.txt` (OUTPREFIX default fio-NAME-);
#       JOBFN sees the pass number in $WRITER_PASS. A failed run (fio's
#       exit status) is recorded, the loop goes on.
#   writer_signal NAME...   ask the loops to end after their current pass
#   writer_stop NAME...     writer_signal, then wait for them to end
#   writer_alive NAME       its loop is still running
#   writer_runs NAME        passes done so far (0 before the first)
#   writer_failed NAME      the numbers of the failed passes, one per line
#   writer_lastseed NAME    the seed of the last pass done
#   fio_errors FILE...      the fio output files that report an error
#                           (err=, verify: bad, bad magic, crc32c failure)

[ -z "${_CVOL_LIB_FIO:-}" ] || return 0
_CVOL_LIB_FIO=1

fio_verify_args() {
	local OPTIND OPTARG opt name=w blocks=4k/50:16k/30:64k/20 qd=8 jobs=4 off=0
	local file size seed bsargs
	while getopts n:b:q:j:o: opt; do
		case $opt in
		n) name=$OPTARG ;;
		b) blocks=$OPTARG ;;
		q) qd=$OPTARG ;;
		j) jobs=$OPTARG ;;
		o) off=$OPTARG ;;
		*) return 1 ;;
		esac
	done
	shift $((OPTIND - 1))
	file=$1 size=$2 seed=$3
	shift 3
	if [[ $blocks == */* ]]; then
		bsargs="--bssplit=$blocks --blockalign=4k"
	else
		bsargs="--bs=$blocks"
	fi
	echo --name="$name" --filename="$file" --ioengine=libaio --direct=1 --verify=crc32c --verify_fatal=1 \
		--verify_state_save=0 --rw=randwrite $bsargs --iodepth="$qd" --numjobs="$jobs" \
		--offset="$off" --size=$((size / jobs)) --offset_increment=$((size / jobs)) \
		--randseed="$seed" --group_reporting "$@"
}

# The loops' bookkeeping: NAME.stop (ends the loop), NAME.failed,
# NAME.lastseed, NAME.runs.
WRITER_DIR=/tmp/cvol-writers
declare -gA _WRITER_PID=()

writer_start() {
	local out='' name seed0 jobfn
	if [ "$1" = -o ]; then
		out=$2
		shift 2
	fi
	name=$1 seed0=$2 jobfn=$3
	shift 3
	out=${out:-fio-$name-}
	mkdir -p "$WRITER_DIR"
	rm -f "$WRITER_DIR/$name".*
	(
		WRITER_PASS=1
		while [ ! -e "$WRITER_DIR/$name.stop" ]; do
			# shellcheck disable=SC2046 # JOBFN prints words
			fio $("$jobfn" $((seed0 + WRITER_PASS)) "$@") --output="$CVOL_OUT/$out$WRITER_PASS.txt" ||
				echo "$WRITER_PASS" >>"$WRITER_DIR/$name.failed"
			echo $((seed0 + WRITER_PASS)) >"$WRITER_DIR/$name.lastseed"
			echo "$WRITER_PASS" >"$WRITER_DIR/$name.runs"
			WRITER_PASS=$((WRITER_PASS + 1))
		done
	) &
	_WRITER_PID[$name]=$!
}

writer_signal() {
	local name files=()
	for name; do files+=("$WRITER_DIR/$name.stop"); done
	touch "${files[@]}"
}

writer_stop() {
	local name
	writer_signal "$@"
	for name; do wait "${_WRITER_PID[$name]}" 2>/dev/null || true; done
}

writer_alive() { kill -0 "${_WRITER_PID[$1]}" 2>/dev/null; }
writer_runs() { cat "$WRITER_DIR/$1.runs" 2>/dev/null || echo 0; }
writer_failed() { cat "$WRITER_DIR/$1.failed" 2>/dev/null || true; }
writer_lastseed() { cat "$WRITER_DIR/$1.lastseed"; }

fio_errors() { grep -lE 'err= *[1-9]|verify: bad|bad magic|crc32c: verify failed' "$@" || true; }
