// SPDX-License-Identifier: GPL-2.0
/*
 * pausebench: the pause that I/O to one extent sees while that extent is
 * moved, for tests/bench/pause.sh (compiled in the test VM at bench time).
 *
 *   pausebench cvol   DEV NAME MOVES GAP_MS PROBE_OFF VEXT PEXT_A PEXT_B
 *   pausebench linear DEV NAME MOVES GAP_MS PROBE_OFF TABLE_A TABLE_B
 *   pausebench rcu N
 *
 * A probe thread writes 4 KiB O_DIRECT blocks in a loop to DEV at
 * PROBE_OFF (bytes; it cycles over the 1 MiB from there) and records each
 * write's submit and completion time.  The main thread does MOVES moves,
 * GAP_MS apart, over libdevmapper in this process (no dmsetup start-up):
 *
 *   cvol:   freeze VEXT 1 -> freeze_wait -> map_set VEXT:0:<PEXT_A|B> -> thaw
 *           (alternating between PEXT_A and PEXT_B)
 *   linear: reload TABLE_A|TABLE_B (files with table lines; I/O still flows)
 *           -> suspend -> resume, as an LVM pvmove step does
 *
 * and prints, per move, one line
 *   move <i> pause_us <p> ctl_us <c> ref_us <r> a_us <..> b_us <..> c_us <..> d_us <..>
 * pause = the longest probe write that overlapped the window in which I/O
 * is held (freeze..thaw, suspend..resume); ctl = the length of that window
 * as the control plane saw it; ref = the longest probe write in an equally
 * long window just before the move (the noise floor); a..d = the time of
 * each step (cvol: freeze, freeze_wait, map_set, thaw; linear: reload,
 * suspend, resume, 0).  Finally "probe writes <n> median_us <m>".
 * The first move goes to PEXT_A / TABLE_A.
 *
 * rcu: times N membarrier(MEMBARRIER_CMD_GLOBAL) calls, each of which is
 * one synchronize_rcu() in the kernel (on more than one CPU), and prints
 * "rcu_gp n <N> median_us <m> p99_us <p> max_us <x>".
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <libdevmapper.h>
#include <linux/membarrier.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define MAX_SAMPLES (4u << 20)
#define BLK 4096

struct sample { uint64_t start, end; };

static struct sample *samples;
static volatile unsigned int nr_samples;
static volatile int stop;
static int probe_fd;
static off_t probe_off;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static void die(const char *what)
{
	fprintf(stderr, "pausebench: %s failed\n", what);
	exit(1);
}

static void *probe(void *arg)
{
	unsigned int k = 0;
	void *buf;

	(void)arg;
	if (posix_memalign(&buf, BLK, BLK))
		die("posix_memalign");
	memset(buf, 0x5a, BLK);
	while (!stop) {
		uint64_t t0 = now_ns();
		off_t off = probe_off + (off_t)(k++ % 256) * BLK;

		if (pwrite(probe_fd, buf, BLK, off) != BLK) {
			perror("pausebench: probe pwrite");
			exit(1);
		}
		if (nr_samples < MAX_SAMPLES) {
			samples[nr_samples].start = t0;
			samples[nr_samples].end = now_ns();
			__atomic_store_n(&nr_samples, nr_samples + 1,
					 __ATOMIC_RELEASE);
		}
	}
	free(buf);
	return NULL;
}

/* The longest probe write that overlapped [a, b]. */
static uint64_t longest(uint64_t a, uint64_t b)
{
	unsigned int i, n = __atomic_load_n(&nr_samples, __ATOMIC_ACQUIRE);
	uint64_t m = 0;

	for (i = n; i-- > 0;) {
		if (samples[i].end < a)
			break;
		if (samples[i].start <= b && samples[i].end - samples[i].start > m)
			m = samples[i].end - samples[i].start;
	}
	return m;
}

static struct dm_task *task(int type, const char *name)
{
	struct dm_task *dmt = dm_task_create(type);

	if (!dmt || !dm_task_set_name(dmt, name))
		die("dm_task_create");
	dm_task_no_open_count(dmt);
	return dmt;
}

static void run(struct dm_task *dmt, const char *what)
{
	if (!dm_task_run(dmt)) {
		fprintf(stderr, "pausebench: %s: %s\n", what,
			strerror(dm_task_get_errno(dmt)));
		exit(1);
	}
}

/* Sends a target message; returns the response as a number. */
static unsigned long long msg(const char *name, const char *text)
{
	struct dm_task *dmt = task(DM_DEVICE_TARGET_MSG, name);
	const char *resp;
	unsigned long long v = 0;

	if (!dm_task_set_sector(dmt, 0) || !dm_task_set_message(dmt, text))
		die("dm_task_set_message");
	run(dmt, text);
	resp = dm_task_get_message_response(dmt);
	if (resp)
		v = strtoull(resp, NULL, 10);
	dm_task_destroy(dmt);
	return v;
}

/* The map generation: field 4 of the status line ("gen" first). */
static unsigned long long cvol_gen(const char *name)
{
	struct dm_task *dmt = task(DM_DEVICE_STATUS, name);
	uint64_t start, len;
	char *type, *params;
	unsigned long long gen;

	run(dmt, "status");
	dm_get_next_target(dmt, NULL, &start, &len, &type, &params);
	if (!params || sscanf(params, "%llu", &gen) != 1)
		die("status parse");
	dm_task_destroy(dmt);
	return gen;
}

static void reload(const char *name, const char *file)
{
	struct dm_task *dmt = task(DM_DEVICE_RELOAD, name);
	unsigned long long start, len;
	char type[64], params[4096], line[4200];
	FILE *f = fopen(file, "r");

	if (!f)
		die("open table");
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%llu %llu %63s %4095[^\n]", &start, &len,
			   type, params) != 4)
			die("table line parse");
		if (!dm_task_add_target(dmt, start, len, type, params))
			die("dm_task_add_target");
	}
	fclose(f);
	run(dmt, "reload");
	dm_task_destroy(dmt);
}

static void simple(int type, const char *name, const char *what)
{
	struct dm_task *dmt = task(type, name);

	run(dmt, what);
	dm_task_destroy(dmt);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static int rcu_gp(unsigned int n)
{
	uint64_t *lat = calloc(n ? n : 1, sizeof(*lat));
	unsigned int i;

	if (!lat || !n)
		die("rcu N");
	for (i = 0; i < n; i++) {
		uint64_t t0 = now_ns();

		if (syscall(__NR_membarrier, MEMBARRIER_CMD_GLOBAL, 0, 0))
			die("membarrier");
		lat[i] = now_ns() - t0;
	}
	qsort(lat, n, sizeof(*lat), cmp_u64);
	printf("rcu_gp n %u median_us %llu p99_us %llu max_us %llu\n", n,
	       (unsigned long long)lat[n / 2] / 1000,
	       (unsigned long long)lat[(n * 99 + 99) / 100 - 1] / 1000,
	       (unsigned long long)lat[n - 1] / 1000);
	return 0;
}

int main(int argc, char **argv)
{
	const char *mode, *dev, *name;
	unsigned int moves, gap_ms, i, n;
	unsigned long long vext = 0, pext[2] = { 0, 0 }, gen = 0, id;
	const char *table[2] = { NULL, NULL };
	pthread_t thr;
	char text[256];

	if (argc == 3 && !strcmp(argv[1], "rcu"))
		return rcu_gp(strtoul(argv[2], NULL, 10));
	if (argc != 10 && !(argc == 9 && !strcmp(argv[1], "linear"))) {
		fprintf(stderr, "usage: pausebench cvol DEV NAME MOVES GAP_MS PROBE_OFF VEXT PEXT_A PEXT_B\n"
				"       pausebench linear DEV NAME MOVES GAP_MS PROBE_OFF TABLE_A TABLE_B\n"
				"       pausebench rcu N\n");
		return 2;
	}
	mode = argv[1];
	dev = argv[2];
	name = argv[3];
	moves = strtoul(argv[4], NULL, 10);
	gap_ms = strtoul(argv[5], NULL, 10);
	probe_off = strtoll(argv[6], NULL, 10);
	if (!strcmp(mode, "cvol")) {
		vext = strtoull(argv[7], NULL, 10);
		pext[0] = strtoull(argv[8], NULL, 10);
		pext[1] = strtoull(argv[9], NULL, 10);
	} else if (!strcmp(mode, "linear") && argc == 9) {
		table[0] = argv[7];
		table[1] = argv[8];
	} else {
		fprintf(stderr, "pausebench: unknown mode %s\n", mode);
		return 2;
	}

	dm_udev_set_sync_support(0);
	dm_log_init_verbose(0);
	samples = calloc(MAX_SAMPLES, sizeof(*samples));
	probe_fd = open(dev, O_WRONLY | O_DIRECT);
	if (!samples || probe_fd < 0)
		die("open probe device");
	if (pthread_create(&thr, NULL, probe, NULL))
		die("pthread_create");
	if (table[0] == NULL)
		gen = cvol_gen(name);
	usleep(gap_ms * 1000);

	for (i = 0; i < moves; i++) {
		uint64_t t[5], hold0, hold1, ref;

		if (table[0] == NULL) {
			t[0] = now_ns();
			snprintf(text, sizeof(text), "freeze %llu 1 10000", vext);
			id = msg(name, text);
			t[1] = now_ns();
			snprintf(text, sizeof(text), "freeze_wait %llu 10000", id);
			msg(name, text);
			t[2] = now_ns();
			snprintf(text, sizeof(text), "map_set %llu %llu:0:%llu",
				 gen, vext, pext[i % 2]);
			gen = msg(name, text);
			t[3] = now_ns();
			snprintf(text, sizeof(text), "thaw %llu", id);
			msg(name, text);
			t[4] = now_ns();
			hold0 = t[0];
		} else {
			t[0] = now_ns();
			reload(name, table[i % 2]);
			t[1] = now_ns();
			simple(DM_DEVICE_SUSPEND, name, "suspend");
			t[2] = now_ns();
			simple(DM_DEVICE_RESUME, name, "resume");
			t[3] = now_ns();
			t[4] = t[3];
			hold0 = t[1];
		}
		hold1 = t[4];
		/* Let the write parked at the thaw complete before looking. */
		usleep(gap_ms * 1000);
		ref = longest(hold0 - (hold1 - hold0) - gap_ms * 500000ull,
			      hold0 - gap_ms * 500000ull);
		printf("move %u pause_us %llu ctl_us %llu ref_us %llu a_us %llu b_us %llu c_us %llu d_us %llu\n",
		       i, (unsigned long long)longest(hold0, hold1) / 1000,
		       (unsigned long long)(hold1 - hold0) / 1000,
		       (unsigned long long)ref / 1000,
		       (unsigned long long)(t[1] - t[0]) / 1000,
		       (unsigned long long)(t[2] - t[1]) / 1000,
		       (unsigned long long)(t[3] - t[2]) / 1000,
		       (unsigned long long)(t[4] - t[3]) / 1000);
		fflush(stdout);
	}
	stop = 1;
	pthread_join(thr, NULL);

	n = nr_samples;
	{
		uint64_t *lat = malloc((size_t)n * sizeof(*lat));

		if (!lat)
			die("malloc");
		for (i = 0; i < n; i++)
			lat[i] = samples[i].end - samples[i].start;
		qsort(lat, n, sizeof(*lat), cmp_u64);
		printf("probe writes %u median_us %llu\n", n,
		       n ? (unsigned long long)lat[n / 2] / 1000 : 0);
		free(lat);
	}
	return 0;
}
