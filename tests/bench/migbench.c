// SPDX-License-Identifier: GPL-2.0
/*
 * migbench: control plane of tests/bench/migrate.sh (compiled in the test
 * VM at bench time against libdevmapper, so no dmsetup process start-up,
 * ~150 ms under TCG, is part of any number).
 *
 *   migbench cvol NAME N DST_SLOT POLL_MS TIMEOUT_S REGIONS MAXM
 *   migbench watch NAME POLL_MS TIMEOUT_S
 *
 * cvol: sets "migrate_throttle REGIONS MAXM", then migrates virtual extents
 * 0..N-1 of the cvol device NAME to slot DST_SLOT, extent i to physical
 * extent i, the way a daemon would: at most MAXM migrations at once; the
 * status is polled every POLL_MS; an extent seen in state "ready" is
 * committed at once and the next one started.  Prints
 *   ext <vext> start_ms <t> ready_ms <t> commit_ms <t>      (per extent)
 *   result t0 <epoch s> ready_s <s> done_s <s> end <epoch s> polls <n> eagain <n>
 * ready_s = from the first migrate_start until the last extent was seen
 * ready, done_s = until the last migrate_commit returned.  Any other
 * failure (a start refused, a migration in state "failed", a commit error
 * other than EAGAIN, no progress for TIMEOUT_S) prints the last status line
 * and the error to stderr and exits 3: the benchmark reports that, it does
 * not work around it.
 *
 * watch: waits for the dm device NAME (an LVM pvmove mirror, e.g.
 * vg-pvmove0) to appear, polls its status every POLL_MS and prints
 *   watch seen <epoch s> synced <epoch s|0> regions <in_sync>/<total> polls <n>
 * when all its regions are in sync, when it disappears, on SIGTERM, or
 * after TIMEOUT_S.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <libdevmapper.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_EXT 4096

static char last_status[65536];

static double now_s(void)
{
	struct timespec ts;

	/* REALTIME: fio's latency log (log_unix_epoch) uses the same clock. */
	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void sleep_ms(unsigned int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "migbench: ");
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nmigbench: last status: %s\n", last_status);
	exit(3);
}

/* libdevmapper would print every expected EAGAIN / ENXIO: keep quiet. */
static void quiet_log(int level, const char *file, int line, int dm_errno,
		      const char *f, ...)
{
	(void)level; (void)file; (void)line; (void)dm_errno; (void)f;
}

static struct dm_task *task(int type, const char *name)
{
	struct dm_task *dmt = dm_task_create(type);

	if (!dmt || !dm_task_set_name(dmt, name))
		die("dm_task_create");
	dm_task_no_open_count(dmt);
	return dmt;
}

/* Sends a message; returns 0 or the errno, copies the response. */
static int msg(const char *name, const char *text, char *resp, size_t len)
{
	struct dm_task *dmt = task(DM_DEVICE_TARGET_MSG, name);
	const char *r;
	int err = 0;

	if (!dm_task_set_sector(dmt, 0) || !dm_task_set_message(dmt, text))
		die("dm_task_set_message");
	if (!dm_task_run(dmt)) {
		err = dm_task_get_errno(dmt);
		if (!err)
			err = EIO;
	} else if (resp) {
		r = dm_task_get_message_response(dmt);
		snprintf(resp, len, "%s", r ? r : "");
	}
	dm_task_destroy(dmt);
	return err;
}

/* The status params of the single target, or -errno. */
static int status(const char *name, char *buf, size_t len)
{
	struct dm_task *dmt = task(DM_DEVICE_STATUS, name);
	uint64_t start, length;
	char *type = NULL, *params = NULL;
	int err;

	if (!dm_task_run(dmt)) {
		err = dm_task_get_errno(dmt);
		dm_task_destroy(dmt);
		return -(err ? err : EIO);
	}
	dm_get_next_target(dmt, NULL, &start, &length, &type, &params);
	snprintf(buf, len, "%s", params ? params : "");
	dm_task_destroy(dmt);
	return 0;
}

enum { M_IDLE, M_RUN, M_READY, M_DONE };

struct ext {
	int state;
	double start, ready, commit;
};

static struct ext ext[MAX_EXT];

/*
 * Status 1.2.0: <gen> <mapped>/<extents> <health> <#freezes> [freeze]...
 * <#migrations> [<vext>:<state>:<copied>/<regions>:<errors>]... <seq> <lost>
 * <lease>.  Marks running extents seen "ready"; dies on "failed".
 */
static void parse_migrations(unsigned int n)
{
	char buf[sizeof(last_status)], *save = NULL, *tok;
	unsigned long nf, nm, i;

	snprintf(buf, sizeof(buf), "%s", last_status);
	tok = strtok_r(buf, " ", &save);		/* gen */
	tok = tok ? strtok_r(NULL, " ", &save) : NULL;	/* mapped/extents */
	tok = tok ? strtok_r(NULL, " ", &save) : NULL;	/* health */
	tok = tok ? strtok_r(NULL, " ", &save) : NULL;	/* #freezes */
	if (!tok)
		die("status parse");
	nf = strtoul(tok, NULL, 10);
	for (i = 0; i < nf; i++)
		if (!strtok_r(NULL, " ", &save))
			die("status parse (freezes)");
	tok = strtok_r(NULL, " ", &save);
	if (!tok)
		die("status parse (#migrations)");
	nm = strtoul(tok, NULL, 10);
	for (i = 0; i < nm; i++) {
		unsigned long v;
		char state[16];

		tok = strtok_r(NULL, " ", &save);
		if (!tok || sscanf(tok, "%lu:%15[a-z]:", &v, state) != 2)
			die("status parse (migration %lu)", i);
		if (v >= n)
			continue;
		if (!strcmp(state, "failed"))
			die("migration of extent %lu failed", v);
		if (!strcmp(state, "ready") && ext[v].state == M_RUN) {
			ext[v].state = M_READY;
			ext[v].ready = now_s();
		}
	}
}

static int cvol(int argc, char **argv)
{
	const char *name;
	unsigned int n, dst, poll_ms, timeout_s, regions, maxm, i;
	unsigned int next = 0, running = 0, done = 0, polls = 0, eagain = 0;
	double t0, last_ready = 0, last_commit = 0, progress;
	char text[128], resp[256];
	int err;

	if (argc != 9)
		return 2;
	name = argv[2];
	n = strtoul(argv[3], NULL, 10);
	dst = strtoul(argv[4], NULL, 10);
	poll_ms = strtoul(argv[5], NULL, 10);
	timeout_s = strtoul(argv[6], NULL, 10);
	regions = strtoul(argv[7], NULL, 10);
	maxm = strtoul(argv[8], NULL, 10);
	if (!n || n > MAX_EXT || !maxm)
		return 2;

	snprintf(text, sizeof(text), "migrate_throttle %u %u", regions, maxm);
	err = msg(name, text, resp, sizeof(resp));
	if (err)
		die("%s: %s", text, strerror(err));
	printf("throttle %s\n", resp);

	t0 = progress = now_s();
	while (done < n) {
		int changed = 0;

		while (next < n && running < maxm) {
			snprintf(text, sizeof(text), "migrate_start %u %u %u",
				 next, dst, next);
			err = msg(name, text, NULL, 0);
			if (err)
				die("%s: %s", text, strerror(err));
			ext[next].state = M_RUN;
			ext[next].start = now_s();
			next++;
			running++;
			changed = 1;
		}
		err = status(name, last_status, sizeof(last_status));
		if (err)
			die("status: %s", strerror(-err));
		polls++;
		parse_migrations(n);
		for (i = 0; i < next; i++) {
			if (ext[i].state != M_READY)
				continue;
			snprintf(text, sizeof(text), "migrate_commit %u", i);
			err = msg(name, text, resp, sizeof(resp));
			if (err == EAGAIN) {	/* back to copy: wait again */
				ext[i].state = M_RUN;
				eagain++;
				continue;
			}
			if (err)
				die("%s: %s", text, strerror(err));
			ext[i].state = M_DONE;
			ext[i].commit = now_s();
			if (ext[i].ready > last_ready)
				last_ready = ext[i].ready;
			last_commit = ext[i].commit;
			running--;
			done++;
			changed = 1;
		}
		if (changed)
			progress = now_s();
		else if (now_s() - progress > timeout_s)
			die("no progress for %u s (%u of %u committed)",
			    timeout_s, done, n);
		if (done < n && !changed)
			sleep_ms(poll_ms);
	}
	for (i = 0; i < n; i++)
		printf("ext %u start_ms %.1f ready_ms %.1f commit_ms %.1f\n", i,
		       (ext[i].start - t0) * 1e3, (ext[i].ready - t0) * 1e3,
		       (ext[i].commit - t0) * 1e3);
	printf("result t0 %.6f ready_s %.6f done_s %.6f end %.6f polls %u eagain %u\n",
	       t0, last_ready - t0, last_commit - t0, last_commit, polls, eagain);
	return 0;
}

static volatile sig_atomic_t stop;

static void on_term(int sig)
{
	(void)sig;
	stop = 1;
}

static int watch(int argc, char **argv)
{
	const char *name;
	unsigned int poll_ms, timeout_s, polls = 0;
	unsigned long a = 0, b = 0;
	double t0 = now_s(), seen = 0, synced = 0;
	char *p;

	if (argc != 5)
		return 2;
	name = argv[2];
	poll_ms = strtoul(argv[3], NULL, 10);
	timeout_s = strtoul(argv[4], NULL, 10);
	signal(SIGTERM, on_term);
	signal(SIGINT, on_term);
	while (!stop && now_s() - t0 < timeout_s) {
		int err = status(name, last_status, sizeof(last_status));

		polls++;
		if (err) {
			if (seen)
				break;		/* pvmove is over: mirror gone */
			sleep_ms(poll_ms);
			continue;
		}
		if (!seen)
			seen = now_s();
		/* mirror: <#devs> <dev>... <in_sync>/<total> <#health> ... */
		for (p = strtok(last_status, " "); p; p = strtok(NULL, " "))
			if (strchr(p, '/') && sscanf(p, "%lu/%lu", &a, &b) == 2)
				break;
		if (b && a == b) {
			synced = now_s();
			break;
		}
		sleep_ms(poll_ms);
	}
	printf("watch seen %.6f synced %.6f regions %lu/%lu polls %u\n",
	       seen, synced, a, b, polls);
	return 0;
}

int main(int argc, char **argv)
{
	int rc = 2;

	dm_udev_set_sync_support(0);
	dm_log_with_errno_init(quiet_log);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc > 1 && !strcmp(argv[1], "cvol"))
		rc = cvol(argc, argv);
	else if (argc > 1 && !strcmp(argv[1], "watch"))
		rc = watch(argc, argv);
	if (rc == 2)
		fprintf(stderr, "usage: migbench cvol NAME N DST_SLOT POLL_MS TIMEOUT_S REGIONS MAXM\n"
				"       migbench watch NAME POLL_MS TIMEOUT_S\n");
	return rc;
}
