// SPDX-License-Identifier: GPL-2.0
/*
 * Copyright (C) 2026 The cvol authors.
 *
 * The I/O path: map() and end_io(), and the remapping of bios a hold or
 * a copy released.  One RCU-protected entry load, a per-CPU epoch
 * reference and a comparison with the I/O deadline decide; anything else
 * (held, fenced, migrating, unmapped) takes the slow path.
 */
#include "cvol.h"

/* Splits a target-relative sector into extent index and offset. */
static inline u64 vext_of(struct cvol_volume *vol, sector_t voff,
			  sector_t *ext_off)
{
	u64 vext;

	if (likely(vol->extent_shift >= 0)) {
		*ext_off = voff & (vol->extent_sectors - 1);
		return voff >> vol->extent_shift;
	}
	vext = voff;
	*ext_off = sector_div(vext, vol->extent_sectors);
	return vext;
}

static int map_unmapped(struct cvol_target *tc, struct bio *bio)
{
	switch (bio_op(bio)) {
	case REQ_OP_READ:
		if (!tc->unmapped_zero)
			return DM_MAPIO_KILL;
		zero_fill_bio(bio);
		break;
	case REQ_OP_DISCARD:
		/* Nothing is stored there: discarding it is done. */
		break;
	case REQ_OP_WRITE_ZEROES:
		if (!tc->unmapped_zero)
			return DM_MAPIO_KILL;
		break;
	default:
		return DM_MAPIO_KILL;
	}
	bio_endio(bio);
	return DM_MAPIO_SUBMITTED;
}

/*
 * Maps a bio that lies within one extent.  Called from map() and again for
 * bios released from a hold (release_work).  Returns a DM_MAPIO_* code; a
 * reference on an epoch is kept in pb->ep only for DM_MAPIO_REMAPPED,
 * because dm core does not call end_io after KILL.
 */
static int map_extent(struct cvol_target *tc, struct bio *bio)
{
	struct cvol_bio *pb = dm_per_bio_data(bio, sizeof(*pb));
	struct cvol_volume *vol = tc->vol;
	struct cvol_epoch *ep;
	struct cvol_dev *d;
	sector_t ext_off;
	unsigned int dev;
	bool blocked;
	u64 vext, e, now;

	vext = vext_of(vol, dm_target_offset(tc->ti, bio->bi_iter.bi_sector),
		       &ext_off);
	pb->mig = NULL;
	now = ktime_get_boottime_ns();
again:
	rcu_read_lock();
	ep = rcu_dereference(vol->epoch);
	percpu_ref_get(&ep->io);
	e = READ_ONCE(ep->ent[vext]);
	rcu_read_unlock();
	/*
	 * The deadline after the epoch: a fence stores it before flipping the
	 * epoch, so a bio that took the new epoch sees the fence, and one
	 * that missed it holds the old epoch, which FENCE_DRAINED waits for.
	 */
	smp_rmb();
	blocked = now >= READ_ONCE(vol->io_deadline_ns);

	if (unlikely((e & CVOL_E_SPECIAL) || blocked)) {
		if ((e & CVOL_E_SPECIAL) != CVOL_E_MIGRATING || blocked) {
			/* A parked bio must not keep a draining epoch alive. */
			percpu_ref_put(&ep->io);
			if (!(e & CVOL_E_FROZEN) && !blocked)
				return map_unmapped(tc, bio);
			if (blocked && !READ_ONCE(vol->fenced))
				cvol_lease_check(vol, now);
			switch (cvol_park_bio(tc, bio, vext)) {
			case CVOL_PARKED:
				return DM_MAPIO_SUBMITTED;
			case CVOL_REQUEUE:
				return DM_MAPIO_REQUEUE;
			case CVOL_KILL:
				return DM_MAPIO_KILL;
			default:
				goto again;
			}
		}
	}
	dev = cvol_entry_dev(e);
	d = &tc->devs[dev];
	if (unlikely(dev >= tc->nr_devs || !d->bdev)) {
		/* preresume refuses such tables; never trust it blindly. */
		percpu_ref_put(&ep->io);
		DMERR_LIMIT("%s: extent %llu maps to missing device slot %u",
			    vol->uuid, vext, dev);
		return DM_MAPIO_KILL;
	}
	/* Checked first: a dual-write issued here cannot be taken back. */
	if (unlikely(e & CVOL_E_MIGRATING) &&
	    cvol_migrate_map(tc, bio, vext, e, ext_off) != DM_MAPIO_REMAPPED) {
		percpu_ref_put(&ep->io);
		return DM_MAPIO_SUBMITTED;
	}
	pb->ep = ep;
	pb->dev = dev;
	cvol_account(tc, pb, bio, vext, ext_off, now);
	bio_set_dev(bio, d->bdev);
	bio->bi_iter.bi_sector = d->offset +
				 cvol_entry_pext(e) * vol->extent_sectors +
				 ext_off;
	return DM_MAPIO_REMAPPED;
}

int cvol_map(struct dm_target *ti, struct bio *bio)
{
	struct cvol_target *tc = ti->private;
	struct cvol_bio *pb = dm_per_bio_data(bio, sizeof(*pb));
	struct cvol_volume *vol = tc->vol;
	sector_t ext_off, left;

	pb->ep = NULL;
	pb->tc = tc;
	pb->dev = -1;
	pb->start_ns = 0;
	pb->mig = NULL;

	/* dm core only hands us empty flushes: one per present device. */
	if (bio->bi_opf & REQ_PREFLUSH) {
		pb->dev = tc->flush_devs[dm_bio_get_target_bio_nr(bio)];
		bio_set_dev(bio, tc->devs[pb->dev].bdev);
		return DM_MAPIO_REMAPPED;
	}

	/* 6.1 does not split discard and write-zeroes at max_io_len. */
	if (unlikely(op_is_discard(bio->bi_opf) ||
		     bio_op(bio) == REQ_OP_WRITE_ZEROES)) {
		vext_of(vol, dm_target_offset(ti, bio->bi_iter.bi_sector),
			&ext_off);
		left = vol->extent_sectors - ext_off;
		if (bio_sectors(bio) > left)
			dm_accept_partial_bio(bio, left);
	}
	return map_extent(tc, bio);
}

int cvol_end_io(struct dm_target *ti, struct bio *bio, blk_status_t *error)
{
	struct cvol_target *tc = ti->private;
	struct cvol_bio *pb = dm_per_bio_data(bio, sizeof(*pb));
	int errors;

	/* Before the epoch reference: that keeps the migration alive. */
	if (pb->mig) {
		cvol_migrate_end_io(pb);
		pb->mig = NULL;
	}
	if (pb->ep) {
		percpu_ref_put(&pb->ep->io);
		pb->ep = NULL;
	}
	if (pb->start_ns)
		this_cpu_add(tc->dstats[pb->dev].ns[op_is_write(bio_op(bio))],
			     ktime_get_boottime_ns() - pb->start_ns);
	/* A would-block answer to a REQ_NOWAIT bio is not a device fault. */
	if (unlikely(*error) && pb->dev >= 0 && *error != BLK_STS_NOTSUPP &&
	    *error != BLK_STS_AGAIN) {
		errors = atomic_inc_return(&tc->devs[pb->dev].errors);
		/* Once per device and instance; the count is in dev_stats. */
		if (errors == 1)
			cvol_event(tc->vol, CVOL_EV_DEV_ERROR, 0, 0, 0, pb->dev,
				   errors);
	}
	return DM_ENDIO_DONE;
}

/* Maps released bios again, oldest first, one at a time (see above). */
void cvol_release_work(struct work_struct *ws)
{
	struct cvol_volume *vol = container_of(ws, struct cvol_volume,
					       holds.release_work);
	struct cvol_bio *pb;
	struct bio *bio;

	while ((bio = cvol_pop_released(vol))) {
		pb = dm_per_bio_data(bio, sizeof(*pb));
		switch (map_extent(pb->tc, bio)) {
		case DM_MAPIO_REMAPPED:
			dm_submit_bio_remap(bio, NULL);
			break;
		case DM_MAPIO_KILL:
			bio_io_error(bio);
			break;
		case DM_MAPIO_REQUEUE:
			bio->bi_status = BLK_STS_DM_REQUEUE;
			bio_endio(bio);
			break;
		default:	/* parked again, or completed by the target */
			break;
		}
	}
}
