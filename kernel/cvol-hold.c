// SPDX-License-Identifier: GPL-2.0
/*
 * Copyright (C) 2026 The cvol authors.
 *
 * Holding new I/O on a range of extents.
 *
 * A hold marks its extents CVOL_E_FROZEN; map() sends bios that see the
 * bit here, where they are parked on one volume-wide list in arrival
 * order.  Releasing a hold clears the bit on the extents that no other
 * hold covers and hands the bios of those extents, still in order, to a
 * worker that maps them again with the map as it is then.
 */
#include "cvol.h"

/* True if a hold still on the list covers @vext. */
static bool covered_by_other(struct cvol_volume *vol, u64 vext)
{
	struct cvol_hold *h;

	list_for_each_entry(h, &vol->holds, node)
		if (vext >= h->vext && vext - h->vext < h->count)
			return true;
	return false;
}

/* Caller holds ctl_lock; the hold must stay allocated until released. */
void cvol_hold_add(struct cvol_volume *vol, struct cvol_hold *h)
{
	unsigned long flags;
	u64 i, *slot;

	spin_lock_irqsave(&vol->slow_lock, flags);
	list_add_tail(&h->node, &vol->holds);
	for (i = 0; i < h->count; i++) {
		slot = &vol->ent[h->vext + i];
		WRITE_ONCE(*slot, READ_ONCE(*slot) | CVOL_E_FROZEN);
	}
	spin_unlock_irqrestore(&vol->slow_lock, flags);
}

/*
 * Releases @n holds taken together.  Caller holds ctl_lock.  One pass over
 * the extents and one over the parked bios, whatever @n is: a map_set of
 * many items must not keep its extents frozen for n^2 steps.
 */
void cvol_hold_release(struct cvol_volume *vol, struct cvol_hold *holds,
		       unsigned int n)
{
	struct bio_list still = BIO_EMPTY_LIST;
	struct cvol_bio *pb;
	unsigned long flags;
	struct bio *bio;
	unsigned int k;
	u64 i, *slot;

	spin_lock_irqsave(&vol->slow_lock, flags);
	for (k = 0; k < n; k++)
		list_del(&holds[k].node);
	for (k = 0; k < n; k++) {
		for (i = 0; i < holds[k].count; i++) {
			if (covered_by_other(vol, holds[k].vext + i))
				continue;
			slot = &vol->ent[holds[k].vext + i];
			WRITE_ONCE(*slot, READ_ONCE(*slot) & ~CVOL_E_FROZEN);
		}
	}
	while ((bio = bio_list_pop(&vol->held))) {
		pb = dm_per_bio_data(bio, sizeof(*pb));
		if (READ_ONCE(vol->ent[pb->vext]) & CVOL_E_FROZEN)
			bio_list_add(&still, bio);
		else
			bio_list_add(&vol->released, bio);
	}
	bio_list_merge(&vol->held, &still);
	if (!bio_list_empty(&vol->released))
		queue_work(vol->wq, &vol->release_work);
	spin_unlock_irqrestore(&vol->slow_lock, flags);
}

/*
 * Parks @bio if its extent is still frozen.  If it was thawed a moment ago,
 * the bio goes behind the released ones so that it cannot overtake them.
 * Returns false only if the caller may map the bio itself.
 */
bool cvol_hold_bio(struct cvol_volume *vol, struct bio *bio, u64 vext)
{
	struct cvol_bio *pb = dm_per_bio_data(bio, sizeof(*pb));
	unsigned long flags;
	bool held = true;

	pb->vext = vext;
	spin_lock_irqsave(&vol->slow_lock, flags);
	if (READ_ONCE(vol->ent[vext]) & CVOL_E_FROZEN)
		bio_list_add(&vol->held, bio);
	else if (!bio_list_empty(&vol->released))
		bio_list_add(&vol->released, bio);
	else
		held = false;
	spin_unlock_irqrestore(&vol->slow_lock, flags);
	return held;
}

/* Maps released bios again, oldest first, one at a time (see above). */
void cvol_release_work(struct work_struct *ws)
{
	struct cvol_volume *vol = container_of(ws, struct cvol_volume,
					       release_work);
	struct cvol_bio *pb;
	struct bio *bio;

	for (;;) {
		spin_lock_irq(&vol->slow_lock);
		bio = bio_list_pop(&vol->released);
		spin_unlock_irq(&vol->slow_lock);
		if (!bio)
			break;
		pb = dm_per_bio_data(bio, sizeof(*pb));
		switch (cvol_map_extent(pb->tc, bio)) {
		case DM_MAPIO_REMAPPED:
			dm_submit_bio_remap(bio, NULL);
			break;
		case DM_MAPIO_KILL:
			bio_io_error(bio);
			break;
		default:	/* parked again, or completed by the target */
			break;
		}
	}
}
