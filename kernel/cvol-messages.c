// SPDX-License-Identifier: GPL-2.0
/*
 * Copyright (C) 2026 The cvol authors.
 *
 * The messages (dmsetup message <dev> 0 <verb> ...): each handler checks
 * its words completely, then calls the concern that acts.  The cluster
 * protocol's messages may carry an epoch= word, checked here first.  See
 * docs/target.md.
 */
#include "cvol.h"

#include <linux/sched/mm.h>
#include <linux/slab.h>

/* map_get <vext> <count> */
static int msg_map_get(struct cvol_target *tc, unsigned int argc, char **argv,
		       char *result, unsigned int maxlen)
{
	struct cvol_volume *vol = tc->vol;
	u64 vext, count;

	if (argc != 3 || cvol_parse_u64(argv[1], &vext) ||
	    cvol_parse_u64(argv[2], &count) || !count) {
		DMWARN_LIMIT("%s: usage: map_get <vext> <count>", vol->uuid);
		return -EINVAL;
	}
	if (vext >= vol->nr_extents || count > vol->nr_extents - vext) {
		DMWARN_LIMIT("%s: map_get: range beyond the %llu extents",
			     vol->uuid, vol->nr_extents);
		return -ERANGE;
	}
	mutex_lock(&vol->ctl_lock);
	cvol_emit_runs(vol, vext, count, result, maxlen);
	mutex_unlock(&vol->ctl_lock);
	return 1;
}

/* map_set <expect_gen> <vext>:<dev>:<pext>[:<count>]... */
static int msg_map_set(struct cvol_target *tc, unsigned int argc, char **argv,
		       char *result, unsigned int maxlen)
{
	struct cvol_volume *vol = tc->vol;
	unsigned int i, n = argc - 2, sz = 0;
	struct cvol_item *items;
	u64 expect_gen, gen;
	char *error;
	int r;

	if (argc < 3 || cvol_parse_u64(argv[1], &expect_gen)) {
		DMWARN_LIMIT("%s: usage: map_set <expect_gen> <vext>:<dev>:<pext>[:<count>]...",
			     vol->uuid);
		return -EINVAL;
	}
	items = kvmalloc_array(n, sizeof(*items), GFP_KERNEL);
	if (!items)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		r = cvol_parse_item(argv[i + 2], false, true, &items[i]);
		if (r) {
			DMWARN_LIMIT("%s: map_set: invalid item '%s'", vol->uuid,
				     argv[i + 2]);
			goto out;
		}
		r = cvol_check_item(tc, vol->nr_extents, &items[i], &error);
		if (r) {
			DMWARN_LIMIT("%s: map_set: item '%s': %s", vol->uuid,
				     argv[i + 2], error);
			goto out;
		}
	}
	r = cvol_sort_and_check_overlap(items, n);
	if (r) {
		DMWARN_LIMIT("%s: map_set: items overlap", vol->uuid);
		goto out;
	}
	r = cvol_map_set(tc, expect_gen, items, n, &gen);
	if (!r) {
		DMEMIT("%llu", gen);
		r = 1;
	}
out:
	kvfree(items);
	return r;
}

/* Parses <vext> <count> at @argv and checks the range. */
static int parse_range(struct cvol_volume *vol, char **argv, u64 *vext,
		       u64 *count)
{
	if (cvol_parse_u64(argv[0], vext) || cvol_parse_u64(argv[1], count) ||
	    !*count)
		return -EINVAL;
	if (*vext >= vol->nr_extents || *count > vol->nr_extents - *vext)
		return -ERANGE;
	return 0;
}

static int parse_timeout(const char *s, unsigned int *ms)
{
	if (cvol_parse_uint(s, ms) || !*ms || *ms > CVOL_MAX_FREEZE_TIMEOUT_MS)
		return -EINVAL;
	return 0;
}

/* freeze <vext> <count> [timeout_ms] */
static int msg_freeze(struct cvol_target *tc, unsigned int argc, char **argv,
		      char *result, unsigned int maxlen)
{
	struct cvol_volume *vol = tc->vol;
	unsigned int timeout = tc->freeze_timeout_ms, sz = 0;
	u64 vext, count, id;
	int r;

	if (argc < 3 || argc > 4)
		return -EINVAL;
	r = parse_range(vol, argv + 1, &vext, &count);
	if (!r && argc == 4)
		r = parse_timeout(argv[3], &timeout);
	if (r)
		return r;
	r = cvol_freeze(vol, vext, count, timeout, &id);
	if (r)
		return r;
	DMEMIT("%llu", id);
	return 1;
}

/* freeze_wait <id> <timeout_ms> */
static int msg_freeze_wait(struct cvol_target *tc, unsigned int argc,
			   char **argv, char *result, unsigned int maxlen)
{
	unsigned int timeout, sz = 0;
	u64 id;
	int r;

	if (argc != 3 || cvol_parse_u64(argv[1], &id) ||
	    cvol_parse_uint(argv[2], &timeout) || !timeout ||
	    timeout > CVOL_MAX_FREEZE_WAIT_MS)
		return -EINVAL;
	r = cvol_freeze_wait(tc->vol, id, timeout);
	if (r)
		return r;
	DMEMIT("%s", CVOL_FREEZE_DRAINED);
	return 1;
}

/* thaw <id> */
static int msg_thaw(struct cvol_target *tc, unsigned int argc, char **argv,
		    char *result, unsigned int maxlen)
{
	u64 id;

	if (argc != 2 || cvol_parse_u64(argv[1], &id))
		return -EINVAL;
	return cvol_thaw(tc->vol, id);
}

static int parse_clear(const char *s, bool *clear)
{
	if (strcmp(s, CVOL_ARG_CLEAR))
		return -EINVAL;
	*clear = true;
	return 0;
}

/* stats <vext> <count> [clear] */
static int msg_stats(struct cvol_target *tc, unsigned int argc, char **argv,
		     char *result, unsigned int maxlen)
{
	bool clear = false;
	u64 vext, count;
	int r;

	if (argc < 3 || argc > 4)
		return -EINVAL;
	r = parse_range(tc->vol, argv + 1, &vext, &count);
	if (!r && argc == 4)
		r = parse_clear(argv[3], &clear);
	if (r)
		return r;
	return cvol_stats_msg(tc, vext, count, clear, result, maxlen);
}

/* dev_stats [clear] */
static int msg_dev_stats(struct cvol_target *tc, unsigned int argc,
			 char **argv, char *result, unsigned int maxlen)
{
	bool clear = false;

	if (argc > 2 || (argc == 2 && parse_clear(argv[1], &clear)))
		return -EINVAL;
	return cvol_dev_stats_msg(tc, clear, result, maxlen);
}

/* lease <ms> [hold|error] */
static int msg_lease(struct cvol_target *tc, unsigned int argc, char **argv,
		     char *result, unsigned int maxlen)
{
	bool fence_error = false;
	unsigned int ms;

	if (argc < 2 || argc > 3 || cvol_parse_uint(argv[1], &ms) ||
	    ms > CVOL_MAX_LEASE_MS)
		return -EINVAL;
	if (argc == 3) {
		if (!strcmp(argv[2], CVOL_LEASE_ERROR))
			fence_error = true;
		else if (strcmp(argv[2], CVOL_LEASE_HOLD))
			return -EINVAL;
	}
	return cvol_lease(tc->vol, ms, fence_error);
}

static int msg_fence(struct cvol_target *tc, unsigned int argc, char **argv,
		     char *result, unsigned int maxlen)
{
	if (argc != 1)
		return -EINVAL;
	cvol_fence(tc->vol, CVOL_EV_FENCED, CVOL_FENCE_BY_MESSAGE);
	return 0;
}

/* unfence <epoch> */
static int msg_unfence(struct cvol_target *tc, unsigned int argc,
		       char **argv, char *result, unsigned int maxlen)
{
	u64 epoch;

	int r;

	if (argc != 2 || cvol_parse_u64(argv[1], &epoch))
		return -EINVAL;
	r = cvol_unfence(tc->vol, epoch);
	/* The copier skipped its turns while fenced. */
	if (!r && READ_ONCE(tc->vol->migrations.nr))
		cvol_migrate_kick(tc->vol);
	return r;
}

static int msg_events_seq(struct cvol_target *tc, unsigned int argc,
			  char **argv, char *result, unsigned int maxlen)
{
	unsigned int sz = 0;
	u64 seq, lost;

	if (argc != 1)
		return -EINVAL;
	cvol_events_seq(tc->vol, &seq, &lost);
	DMEMIT("%llu %llu", seq, lost);
	return 1;
}

/* migrate_start <vext> <dst_dev> <dst_pext> [follow] */
static int msg_migrate_start(struct cvol_target *tc, unsigned int argc,
			     char **argv, char *result, unsigned int maxlen)
{
	bool follow = false;
	unsigned int dev;
	u64 vext, pext;

	if (argc < 4 || argc > 5 || cvol_parse_u64(argv[1], &vext) ||
	    cvol_parse_uint(argv[2], &dev) || cvol_parse_u64(argv[3], &pext))
		return -EINVAL;
	if (argc == 5) {
		if (strcmp(argv[4], CVOL_ARG_FOLLOW)) {
			DMWARN_LIMIT("%s: migrate_start: unknown word '%s' (only '%s')",
				     tc->vol->uuid, argv[4], CVOL_ARG_FOLLOW);
			return -EINVAL;
		}
		follow = true;
	}
	if (vext >= tc->vol->nr_extents)
		return -ERANGE;
	return cvol_migrate_start(tc, vext, dev, pext, follow);
}

static int parse_vext(struct cvol_target *tc, unsigned int argc, char **argv,
		      u64 *vext)
{
	if (argc != 2 || cvol_parse_u64(argv[1], vext))
		return -EINVAL;
	return *vext < tc->vol->nr_extents ? 0 : -ERANGE;
}

/* migrate_commit <vext> */
static int msg_migrate_commit(struct cvol_target *tc, unsigned int argc,
			      char **argv, char *result, unsigned int maxlen)
{
	unsigned int sz = 0;
	u64 vext, gen;
	int r;

	r = parse_vext(tc, argc, argv, &vext);
	if (!r)
		r = cvol_migrate_commit(tc, vext, &gen);
	if (r)
		return r;
	DMEMIT("%llu", gen);
	return 1;
}

/* migrate_abort <vext> */
static int msg_migrate_abort(struct cvol_target *tc, unsigned int argc,
			     char **argv, char *result, unsigned int maxlen)
{
	u64 vext;
	int r;

	r = parse_vext(tc, argc, argv, &vext);
	return r ? r : cvol_migrate_abort(tc, vext);
}

/* migrate_dirty <vext> [clear] */
static int msg_migrate_dirty(struct cvol_target *tc, unsigned int argc,
			     char **argv, char *result, unsigned int maxlen)
{
	bool clear = false;
	u64 vext;
	int r;

	if (argc < 2 || argc > 3)
		return -EINVAL;
	r = parse_vext(tc, 2, argv, &vext);
	if (!r && argc == 3)
		r = parse_clear(argv[2], &clear);
	return r ? r : cvol_migrate_dirty(tc, vext, clear, result, maxlen);
}

/* migrate_recopy <vext> <r0>:<count>... */
static int msg_migrate_recopy(struct cvol_target *tc, unsigned int argc,
			      char **argv, char *result, unsigned int maxlen)
{
	struct cvol_region_run *runs;
	unsigned int i, n;
	u64 vext;
	int r;

	if (argc < 3)
		return -EINVAL;
	r = parse_vext(tc, 2, argv, &vext);
	if (r)
		return r;
	n = argc - 2;
	runs = kvmalloc_array(n, sizeof(*runs), GFP_KERNEL);
	if (!runs)
		return -ENOMEM;
	for (i = 0; i < n && !r; i++)
		r = cvol_parse_region_run(argv[i + 2], &runs[i]);
	if (!r)
		r = cvol_migrate_recopy(tc, vext, runs, n);
	kvfree(runs);
	return r;
}

/* migrate_throttle <regions_in_flight> [<max_migrations>] */
static int msg_migrate_throttle(struct cvol_target *tc, unsigned int argc,
				char **argv, char *result, unsigned int maxlen)
{
	unsigned int regions, migs = 0, sz = 0;

	if (argc < 2 || argc > 3 || cvol_parse_uint(argv[1], &regions) ||
	    (argc == 3 && cvol_parse_uint(argv[2], &migs)))
		return -EINVAL;
	if (!regions || regions > CVOL_MAX_COPY_REGIONS ||
	    (argc == 3 && (!migs || migs > CVOL_MAX_MIGRATIONS)))
		return -ERANGE;
	cvol_migrate_throttle(tc->vol, regions, migs);
	DMEMIT("%u %u", regions, READ_ONCE(tc->vol->migrations.max));
	return 1;
}

typedef int (*msg_fn)(struct cvol_target *tc, unsigned int argc, char **argv,
		      char *result, unsigned int maxlen);

/*
 * Messages of the cluster protocol take an optional last "epoch=<n>".
 * Those that put extents on a device slot go only through the instance
 * that resumed: a table whose resume failed is live, but its devices
 * were never checked against the volume's.
 */
static const struct {
	const char *verb;
	msg_fn fn;
	const char *usage;
	bool epoch;
	bool resumed_only;
} messages[] = {
	{ CVOL_MSG_MAP_SET, msg_map_set, NULL, true, true },
	{ CVOL_MSG_MAP_GET, msg_map_get, NULL },
	{ CVOL_MSG_FREEZE, msg_freeze, "<vext> <count> [timeout_ms] [epoch=<n>]",
	  true },
	{ CVOL_MSG_FREEZE_WAIT, msg_freeze_wait, "<id> <timeout_ms>" },
	{ CVOL_MSG_THAW, msg_thaw, "<id> [epoch=<n>]", true },
	{ CVOL_MSG_STATS, msg_stats, "<vext> <count> [clear]" },
	{ CVOL_MSG_DEV_STATS, msg_dev_stats, "[clear]" },
	{ CVOL_MSG_LEASE, msg_lease, "<ms> [hold|error]" },
	{ CVOL_MSG_FENCE, msg_fence, "" },
	{ CVOL_MSG_UNFENCE, msg_unfence, "<epoch>" },
	{ CVOL_MSG_EVENTS_SEQ, msg_events_seq, "" },
	{ CVOL_MSG_MIGRATE_START, msg_migrate_start,
	  "<vext> <dst_dev> <dst_pext> [follow] [epoch=<n>]", true, true },
	{ CVOL_MSG_MIGRATE_COMMIT, msg_migrate_commit, "<vext> [epoch=<n>]",
	  true },
	{ CVOL_MSG_MIGRATE_ABORT, msg_migrate_abort, "<vext> [epoch=<n>]",
	  true },
	{ CVOL_MSG_MIGRATE_DIRTY, msg_migrate_dirty,
	  "<vext> [clear] [epoch=<n>]", true },
	{ CVOL_MSG_MIGRATE_RECOPY, msg_migrate_recopy,
	  "<vext> <r0>:<count>... [epoch=<n>]", true },
	{ CVOL_MSG_MIGRATE_THROTTLE, msg_migrate_throttle,
	  "<regions_in_flight> [<max_migrations>]" },
};

/*
 * Takes a last "epoch=<n>" word off the message and checks it: the volume
 * refuses a message sent under an older cluster epoch than one it has
 * seen.  *@epoch is 0 if there was none.
 */
static int take_epoch(struct cvol_volume *vol, unsigned int *argc,
		      char **argv, u64 *epoch)
{
	const size_t n = strlen(CVOL_ARG_EPOCH);
	char *w = argv[*argc - 1];

	*epoch = 0;
	if (*argc < 2 || strncmp(w, CVOL_ARG_EPOCH, n))
		return 0;
	if (cvol_parse_u64(w + n, epoch)) {
		DMWARN_LIMIT("%s: %s: invalid '%s'", vol->uuid, argv[0], w);
		return -EINVAL;
	}
	(*argc)--;
	return cvol_epoch_check(vol, *epoch, argv[0]);
}

static bool resumed(struct cvol_target *tc)
{
	struct cvol_volume *vol = tc->vol;
	bool r;

	mutex_lock(&vol->bind_lock);
	r = vol->bound_ti == tc->ti;
	mutex_unlock(&vol->bind_lock);
	return r;
}

int cvol_message(struct dm_target *ti, unsigned int argc, char **argv,
		 char *result, unsigned int maxlen)
{
	struct cvol_target *tc = ti->private;
	unsigned int i, noio;
	u64 epoch = 0;
	int r;

	if (!argc)
		return -EINVAL;
	for (i = 0; i < ARRAY_SIZE(messages); i++) {
		if (strcmp(argv[0], messages[i].verb))
			continue;
		if (messages[i].epoch) {
			r = take_epoch(tc->vol, &argc, argv, &epoch);
			if (r)
				return r;
		}
		if (messages[i].resumed_only && !resumed(tc)) {
			DMWARN_LIMIT("%s: %s: this table has not resumed", tc->vol->uuid,
				     argv[0]);
			return -EAGAIN;
		}
		/*
		 * Handlers allocate under ctl_lock, which resume waits for:
		 * reclaim must not write to a suspended device of ours.
		 */
		noio = memalloc_noio_save();
		r = messages[i].fn(tc, argc, argv, result, maxlen);
		memalloc_noio_restore(noio);
		/* A refused message changes nothing, the epoch included. */
		if (r >= 0 && epoch)
			cvol_epoch_raise(tc->vol, epoch);
		/* map_set and map_get explain their own errors. */
		if (messages[i].usage && (r == -EINVAL || r == -ERANGE))
			DMWARN_LIMIT("%s: %s: %s; usage: %s %s", tc->vol->uuid,
				     argv[0], r == -EINVAL ? "invalid arguments" :
				     "range beyond the volume", argv[0],
				     messages[i].usage);
		return r;
	}
	DMWARN_LIMIT("%s: unrecognised message '%s'", tc->vol->uuid, argv[0]);
	return -EINVAL;
}

