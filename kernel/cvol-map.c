// SPDX-License-Identifier: GPL-2.0
/*
 * Copyright (C) 2026 The cvol authors.
 *
 * The extent map and its changes (map_set); the epochs that tell when a
 * change may proceed are in cvol-epoch.c.
 *
 * Entries are changed in place with WRITE_ONCE: a one-extent change never
 * copies the map.  An unmapped entry may be filled at any time, because no
 * bio can have reached a location through it.  A mapped entry is changed
 * only while it is frozen and drained:
 *
 *   1. hold: set CVOL_E_FROZEN on the entries (new bios now park);
 *   2. publish a new epoch and kill the old one;
 *   3. wait until every killed epoch has no references: no bio that read
 *      an entry before step 1 is still in flight;
 *   4. write the new entries, bump the generation;
 *   5. release: clear CVOL_E_FROZEN, remap the parked bios with the new map.
 *
 * Extents under a drained freeze have done 1-3 already: map_set only
 * writes them, and the thaw does 5.
 *
 * The order of 1 and 2 matters: a bio that takes a reference on the new
 * epoch reads its entry through that epoch (an address dependency), so it
 * sees the frozen bit.  A bio that took the old epoch is waited for in 3.
 */
#include "cvol.h"

#include <linux/mm.h>
#include <linux/slab.h>

u64 *cvol_map_alloc(u64 nr_extents)
{
	u64 *ent, i;

	ent = kvmalloc_array(nr_extents, sizeof(*ent), GFP_KERNEL);
	if (!ent)
		return NULL;
	for (i = 0; i < nr_extents; i++)
		ent[i] = CVOL_E_UNMAPPED;
	return ent;
}

void cvol_map_free(u64 *ent)
{
	kvfree(ent);
}

/* True if an extent of the range is migrating.  Caller holds ctl_lock. */
bool cvol_range_migrating(struct cvol_volume *vol, u64 vext, u64 count)
{
	u64 i;

	if (!vol->migrations.nr)
		return false;
	for (i = 0; i < count; i++) {
		if (READ_ONCE(vol->ent[vext + i]) & CVOL_E_MIGRATING)
			return true;
		cvol_scan_resched(i);
	}
	return false;
}

static u64 item_entry(const struct cvol_item *it, u64 i)
{
	return it->unmap ? CVOL_E_UNMAPPED : cvol_entry(it->dev, it->pext + i);
}

/*
 * True if applying @it moves an extent that bios may be using now: it is
 * mapped elsewhere and no drained freeze keeps its I/O parked.
 */
static bool item_changes_live(struct cvol_volume *vol,
			      const struct cvol_item *it)
{
	u64 i, cur;

	for (i = 0; i < it->count; i++) {
		cur = cvol_entry_location(READ_ONCE(vol->ent[it->vext + i]));
		if (!(cur & CVOL_E_UNMAPPED) && cur != item_entry(it, i))
			return !cvol_range_drained(vol, it->vext, it->count);
		cvol_scan_resched(i);
	}
	return false;
}

/* Writes the entries of @items; returns true if anything changed. */
static bool write_items(struct cvol_volume *vol, const struct cvol_item *items,
			unsigned int n)
{
	unsigned int k;
	bool changed = false;
	u64 i, cur, want;

	for (k = 0; k < n; k++) {
		const struct cvol_item *it = &items[k];

		for (i = 0; i < it->count; i++) {
			u64 *slot = &vol->ent[it->vext + i];

			cur = READ_ONCE(*slot);
			want = item_entry(it, i);
			if (cvol_entry_location(cur) == want)
				continue;
			if (cur & CVOL_E_UNMAPPED)
				vol->nr_mapped++;
			if (want & CVOL_E_UNMAPPED)
				vol->nr_mapped--;
			/* Keep the frozen bit: the thaw clears it. */
			WRITE_ONCE(*slot, want | (cur & CVOL_E_FROZEN));
			changed = true;
			cvol_scan_resched(i);
		}
	}
	return changed;
}

/*
 * Applies a validated, sorted, non-overlapping set of items.  All or
 * nothing: on any error the map is unchanged.
 */
int cvol_map_set(struct cvol_target *tc, u64 expect_gen,
		 struct cvol_item *items, unsigned int n, u64 *new_gen)
{
	struct cvol_volume *vol = tc->vol;
	struct cvol_hold *holds = NULL;
	struct cvol_epoch *next = NULL;
	unsigned int k, nr_holds = 0;
	u64 ticket;
	int r = 0;

	mutex_lock(&vol->ctl_lock);
	if (vol->gen != expect_gen) {
		DMWARN_LIMIT("%s: map_set: generation %llu expected, live is %llu",
			     vol->uuid, expect_gen, vol->gen);
		r = -ESTALE;
		goto out;
	}

	for (k = 0; k < n; k++) {
		if (cvol_range_migrating(vol, items[k].vext, items[k].count)) {
			DMWARN_LIMIT("%s: map_set: extent in %llu+%llu is migrating (commit or abort it first)",
				     vol->uuid, items[k].vext, items[k].count);
			r = -EBUSY;
			goto out;
		}
		if (item_changes_live(vol, &items[k]))
			nr_holds++;
	}

	if (nr_holds) {
		/* Allocate everything before anything is frozen. */
		holds = kcalloc(nr_holds, sizeof(*holds), GFP_KERNEL);
		next = cvol_epoch_alloc(vol);
		if (!holds || !next) {
			r = -ENOMEM;
			goto out;
		}
		nr_holds = 0;
		for (k = 0; k < n; k++) {
			if (!item_changes_live(vol, &items[k]))
				continue;
			holds[nr_holds].vext = items[k].vext;
			holds[nr_holds].count = items[k].count;
			cvol_hold_add(vol, &holds[nr_holds++]);
		}
		ticket = cvol_epoch_flip(vol, next);
		next = NULL;
		r = cvol_wait_drained(vol, ticket, tc->freeze_timeout_ms);
		if (r)
			DMWARN_LIMIT("%s: map_set: in-flight I/O did not drain in %u ms; map unchanged",
				     vol->uuid, tc->freeze_timeout_ms);
	}

	if (!r && write_items(vol, items, n)) {
		vol->gen++;
		cvol_event(vol, CVOL_EV_MAP_CHANGED, 0, items[0].vext,
			   items[n - 1].vext + items[n - 1].count - items[0].vext,
			   0, vol->gen);
	}

	if (nr_holds)
		cvol_hold_release(vol, holds, nr_holds);
out:
	*new_gen = vol->gen;
	mutex_unlock(&vol->ctl_lock);
	if (next)
		cvol_epoch_free_unused(next);
	kfree(holds);
	return r;
}
