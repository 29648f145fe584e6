// SPDX-License-Identifier: GPL-2.0
/*
 * Copyright (C) 2026 The cvol authors.
 *
 * Load counters for the rebalancer.
 *
 * Per extent: I/Os, sectors and sequential I/Os by direction, kept in the
 * volume so that reloads keep them (cvol_account() in cvol.h is the hot
 * path).  Very large volumes count per block of 2^stats_shift extents so
 * that the counters stay under CVOL_MAX_STATS_ENTRIES entries.
 *
 * Per device slot: the same plus completion latency, per CPU in the table
 * instance, handed over to the next instance of a reload by device number.
 *
 * "clear" windows are exact: the message prints a snapshot and subtracts
 * that snapshot, so I/O counted meanwhile shows up in the next window.
 * A response that does not fit clears nothing: libdevmapper then repeats
 * the message with a larger buffer.
 */
#include "cvol.h"

#include <linux/mm.h>
#include <linux/slab.h>

int cvol_xstats_alloc(struct cvol_volume *vol)
{
	unsigned int shift = 0;

	while ((vol->nr_extents - 1) >> shift >= CVOL_MAX_STATS_ENTRIES)
		shift++;
	vol->load.shift = shift;
	vol->load.nr = ((vol->nr_extents - 1) >> shift) + 1;
	vol->load.xstats = kvcalloc(vol->load.nr, sizeof(*vol->load.xstats),
			       GFP_KERNEL);
	return vol->load.xstats ? 0 : -ENOMEM;
}

int cvol_dev_stats_alloc(struct cvol_target *tc)
{
	tc->dstats = __alloc_percpu(tc->nr_devs * sizeof(*tc->dstats),
				    __alignof__(*tc->dstats));
	return tc->dstats ? 0 : -ENOMEM;
}

void cvol_dev_stats_free(struct cvol_target *tc)
{
	free_percpu(tc->dstats);
}

static void sum_dev(struct cvol_target *tc, unsigned int slot,
		    struct cvol_dev_stats *sum)
{
	struct cvol_dev_stats *c;
	int cpu, rw;

	memset(sum, 0, sizeof(*sum));
	for_each_possible_cpu(cpu) {
		c = per_cpu_ptr(tc->dstats, cpu) + slot;
		for (rw = 0; rw < 2; rw++) {
			sum->ios[rw] += READ_ONCE(c->ios[rw]);
			sum->sectors[rw] += READ_ONCE(c->sectors[rw]);
			sum->ns[rw] += READ_ONCE(c->ns[rw]);
		}
		sum->seq_ios += READ_ONCE(c->seq_ios);
	}
}

/* Adds @sign * @d to this CPU's counters of @slot. */
static void add_dev(struct cvol_target *tc, unsigned int slot,
		    const struct cvol_dev_stats *d, int sign)
{
	int rw;

	for (rw = 0; rw < 2; rw++) {
		this_cpu_add(tc->dstats[slot].ios[rw], sign * d->ios[rw]);
		this_cpu_add(tc->dstats[slot].sectors[rw], sign * d->sectors[rw]);
		this_cpu_add(tc->dstats[slot].ns[rw], sign * d->ns[rw]);
	}
	this_cpu_add(tc->dstats[slot].seq_ios, sign * d->seq_ios);
}

/*
 * A reload: the new instance takes over the counters of the devices the
 * old one had.  Both are suspended, so nothing counts meanwhile.
 */
void cvol_dev_stats_inherit(struct cvol_target *to, struct cvol_target *from)
{
	struct cvol_dev_stats sum;
	unsigned int i, j;

	for (i = 0; i < to->nr_devs; i++) {
		if (!to->devs[i].dm_dev)
			continue;
		for (j = 0; j < from->nr_devs; j++) {
			if (!from->devs[j].dm_dev ||
			    from->devs[j].bdev->bd_dev != to->devs[i].bdev->bd_dev)
				continue;
			sum_dev(from, j, &sum);
			add_dev(to, i, &sum, 1);
			atomic_add(atomic_read(&from->devs[j].errors),
				   &to->devs[i].errors);
			break;
		}
	}
}

/* dev_stats [clear] */
int cvol_dev_stats_msg(struct cvol_target *tc, bool clear, char *result,
		       unsigned int maxlen)
{
	struct cvol_dev_stats *snap;
	unsigned int i, sz = 0;

	snap = kcalloc(tc->nr_devs, sizeof(*snap), GFP_KERNEL);
	if (!snap)
		return -ENOMEM;
	for (i = 0; i < tc->nr_devs; i++) {
		struct cvol_dev_stats *s = &snap[i];

		if (!tc->devs[i].dm_dev)
			continue;
		sum_dev(tc, i, s);
		DMEMIT("%s%u:%llu:%llu:%llu:%llu:%llu:%llu:%llu:%d", sz ? " " : "",
		       i, s->ios[0], s->ios[1], s->sectors[0], s->sectors[1],
		       s->ns[0], s->ns[1], s->seq_ios,
		       atomic_read(&tc->devs[i].errors));
	}
	if (clear && sz + 1 < maxlen) {
		preempt_disable();
		for (i = 0; i < tc->nr_devs; i++)
			if (tc->devs[i].dm_dev)
				add_dev(tc, i, &snap[i], -1);
		preempt_enable();
	}
	kfree(snap);
	return 1;
}

struct xsnap {
	u32 ios[2];
	u32 sectors[2];
	u32 seq_ios;
};

static bool xsnap_zero(const struct xsnap *s)
{
	return !(s->ios[0] | s->ios[1] | s->sectors[0] | s->sectors[1] |
		 s->seq_ios);
}

/* stats <vext> <count> [clear] */
int cvol_stats_msg(struct cvol_target *tc, u64 vext, u64 count, bool clear,
		   char *result, unsigned int maxlen)
{
	struct cvol_volume *vol = tc->vol;
	u64 first = vext >> vol->load.shift;
	u64 last = (vext + count - 1) >> vol->load.shift;
	u64 i, n = last - first + 1;
	struct cvol_xstats *x;
	struct xsnap *snap;
	unsigned int sz = 0;
	int rw;

	snap = kvmalloc_array(n, sizeof(*snap), GFP_KERNEL);
	if (!snap)
		return -ENOMEM;
	DMEMIT("%llu", 1ULL << vol->load.shift);
	for (i = 0; i < n; i++) {
		x = &vol->load.xstats[first + i];
		for (rw = 0; rw < 2; rw++) {
			snap[i].ios[rw] = atomic_read(&x->ios[rw]);
			snap[i].sectors[rw] = atomic_read(&x->sectors[rw]);
		}
		snap[i].seq_ios = atomic_read(&x->seq_ios);
		if (xsnap_zero(&snap[i]))
			continue;
		DMEMIT(" %llu:%u:%u:%u:%u:%u", (first + i) << vol->load.shift,
		       snap[i].ios[0], snap[i].ios[1], snap[i].sectors[0],
		       snap[i].sectors[1], snap[i].seq_ios);
		if (sz + 1 >= maxlen)
			break;	/* dm flags the buffer full; nothing cleared */
	}
	if (clear && sz + 1 < maxlen) {
		for (i = 0; i < n; i++) {
			x = &vol->load.xstats[first + i];
			for (rw = 0; rw < 2; rw++) {
				atomic_sub(snap[i].ios[rw], &x->ios[rw]);
				atomic_sub(snap[i].sectors[rw], &x->sectors[rw]);
			}
			atomic_sub(snap[i].seq_ios, &x->seq_ios);
		}
	}
	kvfree(snap);
	return 1;
}
