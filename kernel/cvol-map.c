// SPDX-License-Identifier: GPL-2.0
/*
 * Copyright (C) 2026 The cvol authors.
 *
 * The extent map and its epochs.
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

/*
 * Runs when a killed epoch has no references left.  Epochs drain in any
 * order but are reported in publication order: drained_seq moves past an
 * epoch only when every older one has drained too, which is what a freeze
 * or map_set waiting for "everything before my flip" needs.
 */
static void epoch_free_work(struct work_struct *ws)
{
	struct cvol_epoch *ep = container_of(ws, struct cvol_epoch, free_work);
	struct cvol_volume *vol = ep->vol;
	struct cvol_epoch *first, *tmp;
	LIST_HEAD(dead);
	int n = 0;

	spin_lock_irq(&vol->slow_lock);
	ep->released = true;
	while ((first = list_first_entry_or_null(&vol->killed,
						 struct cvol_epoch, node)) &&
	       first->released) {
		list_move_tail(&first->node, &dead);
		vol->drained_seq = first->seq;
	}
	if (!list_empty(&dead)) {
		cvol_freezes_drained_locked(vol);
		cvol_fence_drained_locked(vol);
	}
	spin_unlock_irq(&vol->slow_lock);
	/* Migrations wait for drains to start and to end. */
	if (!list_empty(&dead) && READ_ONCE(vol->nr_migs))
		cvol_migrate_kick(vol);

	list_for_each_entry_safe(first, tmp, &dead, node) {
		percpu_ref_exit(&first->io);
		kfree(first);
		n++;
	}
	if (!n)
		return;
	wake_up_all(&vol->drain_wq);
	/*
	 * Last touch of the volume: the destructor waits for this count and
	 * then destroys vol->wq, which waits for this work item to return.
	 */
	if (atomic_sub_and_test(n, &vol->undrained))
		wake_up_all(&vol->drain_wq);
}

/* Called when a killed epoch's last reference is dropped, in any context. */
static void epoch_release(struct percpu_ref *ref)
{
	struct cvol_epoch *ep = container_of(ref, struct cvol_epoch, io);

	queue_work(ep->vol->wq, &ep->free_work);
}

struct cvol_epoch *cvol_epoch_alloc(struct cvol_volume *vol)
{
	struct cvol_epoch *ep = kzalloc(sizeof(*ep), GFP_KERNEL);

	if (!ep)
		return NULL;
	if (percpu_ref_init(&ep->io, epoch_release, 0, GFP_KERNEL)) {
		kfree(ep);
		return NULL;
	}
	ep->vol = vol;
	ep->ent = vol->ent;
	ep->seq = 1;
	INIT_LIST_HEAD(&ep->node);
	INIT_WORK(&ep->free_work, epoch_free_work);
	return ep;
}

/* Frees an epoch that was never published. */
void cvol_epoch_free_unused(struct cvol_epoch *ep)
{
	percpu_ref_exit(&ep->io);
	kfree(ep);
}

/* Caller holds slow_lock.  Returns the killed epoch's number. */
static u64 kill_current(struct cvol_volume *vol, struct cvol_epoch *next)
{
	struct cvol_epoch *old;

	old = rcu_dereference_protected(vol->epoch,
					lockdep_is_held(&vol->slow_lock));
	if (next)
		next->seq = old->seq + 1;
	list_add_tail(&old->node, &vol->killed);
	atomic_inc(&vol->undrained);
	rcu_assign_pointer(vol->epoch, next);
	percpu_ref_kill(&old->io);
	return old->seq;
}

/*
 * Publishes @next and kills the current epoch.  The kill waits for an RCU
 * grace period before it counts, so every reader that found the old epoch
 * has taken its reference by then.  Returns the ticket to wait for: the
 * number of the killed epoch.
 */
u64 cvol_epoch_flip(struct cvol_volume *vol, struct cvol_epoch *next)
{
	unsigned long flags;
	u64 ticket;

	spin_lock_irqsave(&vol->slow_lock, flags);
	ticket = kill_current(vol, next);
	spin_unlock_irqrestore(&vol->slow_lock, flags);
	return ticket;
}

/* Kills the current epoch for good; used when the volume dies. */
void cvol_epoch_retire_current(struct cvol_volume *vol)
{
	spin_lock_irq(&vol->slow_lock);
	kill_current(vol, NULL);
	spin_unlock_irq(&vol->slow_lock);
}

/* Waits until epoch @ticket and all older ones drained; 0 or -ETIMEDOUT. */
int cvol_wait_drained(struct cvol_volume *vol, u64 ticket,
		      unsigned int timeout_ms)
{
	long left = wait_event_timeout(vol->drain_wq,
				       READ_ONCE(vol->drained_seq) >= ticket,
				       msecs_to_jiffies(timeout_ms));

	return left ? 0 : -ETIMEDOUT;
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
