// SPDX-License-Identifier: GPL-2.0
/*
 * Copyright (C) 2026 The cvol authors.
 *
 * Online migration of an extent: dual-write, background copy, cutover.
 *
 * The extent is split into regions.  Per region, under mig->lock:
 *
 *   copied   the destination holds the region's data; writes go to both
 *   busy     claimed by a copy job; new writes wait on mig->waiters
 *   pending  writes in flight to the region (counted in map, dropped in
 *            end_io after both halves of a dual-write completed)
 *
 * A job copies a run of busy regions once none of them has a write in
 * flight, so a copy never reads a region while a write to it is in flight,
 * and busy regions cannot be starved by a steady stream of writes (the
 * dm-raid1 recovery rule).  Writes that passed map() before the extent was
 * marked migrating are not counted; the migration therefore drains the
 * epoch before its first copy (state START).
 *
 * A failed write to the destination clears the region's copied bit: the
 * region is copied again, the user's write completes with the source's
 * result.  Copy errors back off and, after CVOL_MIGRATE_MAX_RETRIES in a
 * row, end the migration with the source authoritative.
 *
 * In a cluster one host copies and the others "follow": every region of a
 * follow migration counts as copied from the start, so every write is
 * dual-written, and nothing is ever claimed.  A follower's write can still
 * race the copier's copy of its region on the other host (old source data
 * read before the write, written to the destination after it), and no
 * lock spans hosts.  Every migration therefore records the regions written
 * through it (written); the daemon reads the followers' sets under a
 * cluster-wide drained freeze and copies those regions again before the
 * commit.  For the same reason a failed destination write in a follow
 * migration only marks its regions written: there is no copier here.
 *
 * The cutover (migrate_commit) is a local allocation change: hold the
 * extent, drain the epoch (which also drains every dual-write), switch the
 * entry, release.  Ending a migration otherwise (abort, failure) restores
 * the entry and drains the epoch before the object is freed, because bios
 * in flight point to it.
 *
 * The copier runs in mig_work under ctl_lock, with the live table's
 * devices, only between resume and presuspend: presuspend stops new copies
 * and drops claims not yet issued, postsuspend waits for the copies in
 * flight (whose waiting writes are released when they finish).
 */
#include "cvol.h"

#include <linux/blkdev.h>
#include <linux/dm-kcopyd.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>

#define COPY_BATCH		4	/* regions per kcopyd job: writes to them wait for all */
#define RETRY_MIN_MS		50
#define RETRY_MAX_MS		1600

struct copy_job {
	struct list_head node;		/* mig->jobs */
	struct cvol_migration *mig;
	struct cvol_target *tc;		/* the live instance that issued it */
	u32 r0;
	u32 n;
	bool issued;
};

static const char *const state_names[] = {
	[CVOL_MIG_START] = CVOL_MIG_STATE_START,
	[CVOL_MIG_COPY] = CVOL_MIG_STATE_COPY,
	[CVOL_MIG_READY] = CVOL_MIG_STATE_READY,
	[CVOL_MIG_FAILED] = CVOL_MIG_STATE_FAILED,
	[CVOL_MIG_ABORT] = CVOL_MIG_STATE_ABORT,
};

static bool ending(struct cvol_migration *mig)
{
	return mig->state == CVOL_MIG_FAILED || mig->state == CVOL_MIG_ABORT;
}

void cvol_migrate_kick(struct cvol_volume *vol)
{
	mod_delayed_work(vol->wq, &vol->migrations.work, 0);
}

/* Sector of region @r on the source or the destination. */
static sector_t region_sector(struct cvol_target *tc, unsigned int dev,
			      u64 pext, struct cvol_migration *mig, u32 r)
{
	return tc->devs[dev].offset + pext * tc->extent_sectors +
	       (sector_t)r * mig->region_sectors;
}

/* Caller holds ctl_lock.  The migration of @vext, or NULL. */
static struct cvol_migration *find_mig(struct cvol_volume *vol, u64 vext)
{
	u64 e = READ_ONCE(vol->ent[vext]);

	if (!(e & CVOL_E_MIGRATING))
		return NULL;
	return vol->migrations.slot[cvol_entry_mig(e)];
}

/* Rewrites the state bits of one entry; the hold code does the same. */
static void entry_update(struct cvol_volume *vol, u64 vext, u64 clear, u64 set)
{
	unsigned long flags;
	u64 *slot = &vol->ent[vext];

	spin_lock_irqsave(&vol->slow_lock, flags);
	WRITE_ONCE(*slot, (READ_ONCE(*slot) & ~clear) | set);
	spin_unlock_irqrestore(&vol->slow_lock, flags);
}

/*--------------------------------------------------------------*/
/* I/O to a migrating extent */

static void dual_endio(struct bio *clone)
{
	struct bio *parent = clone->bi_private;
	struct cvol_bio *pb = dm_per_bio_data(parent, sizeof(*pb));
	struct cvol_migration *mig = pb->mig;
	unsigned long flags;
	bool lost = false;
	u32 r;

	if (unlikely(clone->bi_status) && mig->follow) {
		spin_lock_irqsave(&mig->lock, flags);
		/* Again: a migrate_dirty clear may have run since map(). */
		bitmap_set(mig->written, pb->r0, pb->r1 - pb->r0 + 1);
		mig->errors++;
		spin_unlock_irqrestore(&mig->lock, flags);
		atomic_inc(&pb->tc->devs[mig->dst_dev].dst_errors);
		DMWARN_LIMIT("%s: extent %llu: write to the destination failed (%d); region %u is dirty until copied again",
			     mig->vol->uuid, mig->vext,
			     blk_status_to_errno(clone->bi_status), pb->r0);
		cvol_event(mig->vol, CVOL_EV_DST_WRITE_ERROR, 0, mig->vext, 1,
			   mig->dst_dev, pb->r0);
	} else if (unlikely(clone->bi_status)) {
		spin_lock_irqsave(&mig->lock, flags);
		for (r = pb->r0; r <= pb->r1; r++) {
			if (__test_and_clear_bit(r, mig->copied)) {
				mig->nr_copied--;
				lost = true;
			}
		}
		mig->errors++;
		if (mig->state == CVOL_MIG_READY)
			mig->state = CVOL_MIG_COPY;
		spin_unlock_irqrestore(&mig->lock, flags);
		atomic_inc(&pb->tc->devs[mig->dst_dev].dst_errors);
		if (lost) {
			DMWARN_LIMIT("%s: extent %llu: write to the destination failed (%d); copying region %u again",
				     mig->vol->uuid, mig->vext,
				     blk_status_to_errno(clone->bi_status),
				     pb->r0);
			cvol_event(mig->vol, CVOL_EV_DST_WRITE_ERROR, 0,
				   mig->vext, 1, mig->dst_dev, pb->r0);
			/* Nothing else would wake the copier for them. */
			cvol_migrate_kick(mig->vol);
		}
	}
	bio_put(clone);
	/* Never pass the destination's status on: the source decides. */
	bio_endio(parent);
}

/*
 * Maps a bio that found its extent migrating (and not frozen).  Reads and
 * writes go to the source; a write to a copied region is also cloned to
 * the destination.  Returns DM_MAPIO_REMAPPED to remap @bio to the source,
 * or DM_MAPIO_SUBMITTED if the bio waits for a copy or was completed here.
 */
int cvol_migrate_map(struct cvol_target *tc, struct bio *bio, u64 vext,
		     u64 e, sector_t ext_off)
{
	struct cvol_bio *pb = dm_per_bio_data(bio, sizeof(*pb));
	struct cvol_volume *vol = tc->vol;
	struct cvol_migration *mig;
	unsigned long flags;
	bool dual = false;
	struct bio *clone;
	u32 r0, r1, r;

	if (!op_is_write(bio_op(bio)))
		return DM_MAPIO_REMAPPED;
	/* Published before the entry bit; freed only after a drain. */
	mig = READ_ONCE(vol->migrations.slot[cvol_entry_mig(e)]);
	r0 = div_u64(ext_off, mig->region_sectors);
	r1 = div_u64(ext_off + max(bio_sectors(bio), 1U) - 1,
		     mig->region_sectors);

	spin_lock_irqsave(&mig->lock, flags);
	for (r = r0; r <= r1; r++) {
		if (test_bit(r, mig->busy)) {
			bio_list_add(&mig->waiters, bio);
			spin_unlock_irqrestore(&mig->lock, flags);
			return DM_MAPIO_SUBMITTED;
		}
		/* Writing a region not yet copied to both is harmless. */
		if (test_bit(r, mig->copied))
			dual = true;
	}
	/*
	 * A REQ_NOWAIT clone could come back "would block", which is no
	 * destination error but would count as one.  Its submitter (io_uring)
	 * retries without REQ_NOWAIT when told up front.
	 */
	if (dual && (bio->bi_opf & REQ_NOWAIT)) {
		spin_unlock_irqrestore(&mig->lock, flags);
		bio_wouldblock_error(bio);
		return DM_MAPIO_SUBMITTED;
	}
	bitmap_set(mig->written, r0, r1 - r0 + 1);
	for (r = r0; r <= r1; r++)
		mig->pending[r]++;
	spin_unlock_irqrestore(&mig->lock, flags);
	pb->mig = mig;
	pb->r0 = r0;
	pb->r1 = r1;
	if (!dual)
		return DM_MAPIO_REMAPPED;

	/* GFP_NOIO from the bioset's mempool: this cannot fail. */
	clone = bio_alloc_clone(tc->devs[mig->dst_dev].bdev, bio, GFP_NOIO,
				&vol->migrations.dual_bs);
	/* dm polls only the bio it mapped, never this clone. */
	clone->bi_opf &= ~REQ_POLLED;
	clone->bi_iter.bi_sector = tc->devs[mig->dst_dev].offset +
				   mig->dst_pext * vol->extent_sectors + ext_off;
	clone->bi_end_io = dual_endio;
	clone->bi_private = bio;
	bio_inc_remaining(bio);
	submit_bio_noacct(clone);
	return DM_MAPIO_REMAPPED;
}

/* The write of @pb completed on every device it went to. */
void cvol_migrate_end_io(struct cvol_bio *pb)
{
	struct cvol_migration *mig = pb->mig;
	unsigned long flags;
	bool kick = false;
	u32 r;

	spin_lock_irqsave(&mig->lock, flags);
	for (r = pb->r0; r <= pb->r1; r++)
		if (!--mig->pending[r] && test_bit(r, mig->busy))
			kick = true;
	spin_unlock_irqrestore(&mig->lock, flags);
	if (kick)
		cvol_migrate_kick(mig->vol);
}

/*--------------------------------------------------------------*/
/* The copier */

/* Hands writes that waited for a copy back to the release worker. */
static void release_waiters(struct cvol_volume *vol, struct bio_list *list)
{
	unsigned long flags;

	if (bio_list_empty(list))
		return;
	spin_lock_irqsave(&vol->slow_lock, flags);
	bio_list_merge(&vol->holds.released, list);
	queue_work(vol->wq, &vol->holds.release_work);
	spin_unlock_irqrestore(&vol->slow_lock, flags);
}

static void copies_done(struct cvol_volume *vol, int n)
{
	unsigned long flags;

	if (!atomic_sub_and_test(n, &vol->migrations.copies_in_flight))
		return;
	wake_up_all(&vol->drain_wq);
	spin_lock_irqsave(&vol->slow_lock, flags);
	cvol_fence_drained_locked(vol);
	spin_unlock_irqrestore(&vol->slow_lock, flags);
}

/* kcopyd's callback: runs on its thread and must not block. */
static void copy_done(int read_err, unsigned long write_err, void *context)
{
	struct copy_job *job = context;
	struct cvol_migration *mig = job->mig;
	struct cvol_volume *vol = mig->vol;
	unsigned int ms, failures, dst_dev;
	struct bio_list waiters;
	unsigned long flags;
	u64 vext;
	u32 r;

	spin_lock_irqsave(&mig->lock, flags);
	for (r = job->r0; r < job->r0 + job->n; r++) {
		__clear_bit(r, mig->busy);
		if (!read_err && !write_err && !__test_and_set_bit(r, mig->copied))
			mig->nr_copied++;
	}
	if (!read_err && !write_err) {
		mig->failures = 0;
	} else {
		mig->errors++;
		mig->failures++;
		ms = min(RETRY_MIN_MS << min(mig->failures - 1, 5U),
			 RETRY_MAX_MS);
		mig->retry_at = jiffies + msecs_to_jiffies(ms);
		if (mig->failures >= CVOL_MIGRATE_MAX_RETRIES &&
		    !ending(mig))
			mig->state = CVOL_MIG_FAILED;
	}
	/* Once the job is off the list, an ending migration may be freed. */
	vext = mig->vext;
	dst_dev = mig->dst_dev;
	failures = mig->failures;
	list_del(&job->node);
	mig->issued--;
	waiters = mig->waiters;
	bio_list_init(&mig->waiters);
	spin_unlock_irqrestore(&mig->lock, flags);

	if (read_err || write_err) {
		if (write_err)
			atomic_inc(&job->tc->devs[dst_dev].dst_errors);
		DMWARN_LIMIT("%s: extent %llu: copy of regions %u-%u failed (%s); attempt %u of %u",
			     vol->uuid, vext, job->r0, job->r0 + job->n - 1,
			     read_err ? "read" : "write", failures,
			     CVOL_MIGRATE_MAX_RETRIES);
	}
	atomic_sub(job->n, &vol->migrations.copy_regions);
	kfree(job);
	release_waiters(vol, &waiters);
	cvol_migrate_kick(vol);
	copies_done(vol, 1);
}

/*
 * A fenced volume writes nowhere, the destination of a copy included, and
 * neither does one past its lease's deadline: after a suspend the lease
 * timer runs late by the whole sleep, so the copier looks at the clock as
 * map() does.
 */
static bool copier_stopped(struct cvol_volume *vol)
{
	u64 now;

	if (READ_ONCE(vol->migrations.copy_stopped) || READ_ONCE(vol->fenced))
		return true;
	now = ktime_get_boottime_ns();
	if (now < READ_ONCE(vol->io_deadline_ns))
		return false;
	cvol_lease_check(vol, now);
	return true;
}

/*
 * Counts an I/O of the copier, unless the copier is stopped.  Pairs with
 * the barriers in cvol_migrate_stop() and cvol_fence_drained_locked():
 * either the stop or the fence is seen here, or the count is seen there.
 */
static bool copy_io_begin(struct cvol_volume *vol)
{
	atomic_inc(&vol->migrations.copies_in_flight);
	/* Count, then look: pairs with the store-then-look of the stop. */
	smp_mb__after_atomic();
	if (!copier_stopped(vol))
		return true;
	copies_done(vol, 1);
	return false;
}

/* Caller holds mig->lock. */
static bool regions_idle(struct cvol_migration *mig, u32 r0, u32 n)
{
	u32 r;

	for (r = r0; r < r0 + n; r++)
		if (mig->pending[r])
			return false;
	return true;
}

static void issue(struct cvol_target *tc, struct cvol_migration *mig,
		  struct copy_job *job)
{
	unsigned int src_dev = cvol_entry_dev(mig->src);
	struct dm_io_region from = {
		.bdev = tc->devs[src_dev].bdev,
		.sector = region_sector(tc, src_dev, cvol_entry_pext(mig->src),
					mig, job->r0),
		.count = job->n * mig->region_sectors,
	};
	struct dm_io_region to = {
		.bdev = tc->devs[mig->dst_dev].bdev,
		.sector = region_sector(tc, mig->dst_dev, mig->dst_pext, mig,
					job->r0),
		.count = job->n * mig->region_sectors,
	};

	job->tc = tc;
	dm_kcopyd_copy(mig->vol->migrations.kc, &from, 1, &to, 0, copy_done, job);
}

/*
 * Claims the next run of regions that are neither copied nor claimed.
 * Caller holds mig->lock.  Returns the number of regions claimed.
 */
static u32 claim(struct cvol_migration *mig, struct copy_job *job)
{
	struct cvol_volume *vol = mig->vol;
	int room;
	u32 r, n;

	/* The limit may have been lowered below what is claimed. */
	room = (int)READ_ONCE(vol->migrations.copy_limit) - atomic_read(&vol->migrations.copy_regions);
	room = clamp(room, 0, COPY_BATCH);
	r = find_next_zero_bit(mig->copied, mig->nr_regions, mig->cursor);
	if (r >= mig->nr_regions)
		r = find_first_zero_bit(mig->copied, mig->nr_regions);
	while (r < mig->nr_regions && test_bit(r, mig->busy))
		r = find_next_zero_bit(mig->copied, mig->nr_regions, r + 1);
	for (n = 0; n < room && r + n < mig->nr_regions &&
	     !test_bit(r + n, mig->copied) && !test_bit(r + n, mig->busy); n++)
		__set_bit(r + n, mig->busy);
	if (!n)
		return 0;
	job->mig = mig;
	job->r0 = r;
	job->n = n;
	list_add_tail(&job->node, &mig->jobs);
	atomic_add(n, &vol->migrations.copy_regions);
	mig->cursor = r + n;
	return n;
}

/* Caller holds mig->lock.  A claimed job none of whose regions is written. */
static struct copy_job *next_idle_job(struct cvol_migration *mig)
{
	struct copy_job *job;

	list_for_each_entry(job, &mig->jobs, node)
		if (!job->issued && regions_idle(mig, job->r0, job->n))
			return job;
	return NULL;
}

/*
 * Claims regions while the volume's copy limit allows, then gives kcopyd
 * every claimed job whose regions have no write in flight; the others go
 * when their last write completes (cvol_migrate_end_io kicks us).
 */
static void copy_step(struct cvol_target *tc, struct cvol_migration *mig)
{
	struct cvol_volume *vol = mig->vol;
	struct copy_job *job;
	unsigned long flags;
	u32 n;

	while (atomic_read(&vol->migrations.copy_regions) < READ_ONCE(vol->migrations.copy_limit)) {
		job = kzalloc(sizeof(*job), GFP_NOIO);
		if (!job)
			break;
		spin_lock_irqsave(&mig->lock, flags);
		n = mig->nr_copied < mig->nr_regions ? claim(mig, job) : 0;
		spin_unlock_irqrestore(&mig->lock, flags);
		if (!n) {
			kfree(job);
			break;
		}
	}

	for (;;) {
		spin_lock_irqsave(&mig->lock, flags);
		job = next_idle_job(mig);
		if (job) {
			job->issued = true;
			mig->issued++;
		}
		spin_unlock_irqrestore(&mig->lock, flags);
		if (!job)
			return;
		if (!copy_io_begin(vol)) {
			/* Stopped: cvol_migrate_stop() drops the claim. */
			spin_lock_irqsave(&mig->lock, flags);
			job->issued = false;
			mig->issued--;
			spin_unlock_irqrestore(&mig->lock, flags);
			return;
		}
		issue(tc, mig, job);
	}
}

/* Every region copied: flush the destination, then report ready. */
static void ready_step(struct cvol_target *tc, struct cvol_migration *mig)
{
	struct cvol_volume *vol = mig->vol;
	unsigned long flags;
	bool ready;
	int r;

	if (!copy_io_begin(vol))
		return;
	r = blkdev_issue_flush(tc->devs[mig->dst_dev].bdev);
	copies_done(vol, 1);
	spin_lock_irqsave(&mig->lock, flags);
	if (r) {
		mig->errors++;
		mig->failures++;
		mig->retry_at = jiffies + msecs_to_jiffies(RETRY_MAX_MS);
		if (mig->failures >= CVOL_MIGRATE_MAX_RETRIES)
			mig->state = CVOL_MIG_FAILED;
		ready = false;
	} else {
		ready = mig->state == CVOL_MIG_COPY &&
			mig->nr_copied == mig->nr_regions;
		if (ready) {
			mig->state = CVOL_MIG_READY;
			mig->recopy = false;
		}
	}
	spin_unlock_irqrestore(&mig->lock, flags);
	if (r)
		DMWARN_LIMIT("%s: extent %llu: flush of the destination failed (%d)",
			     vol->uuid, mig->vext, r);
	if (ready)
		cvol_event(vol, CVOL_EV_MIGRATE_READY, 0, mig->vext, 1,
			   mig->dst_dev, mig->dst_pext);
}

/* Drops the claims of jobs not given to kcopyd; frees their waiters. */
static void drop_unissued(struct cvol_migration *mig)
{
	struct cvol_volume *vol = mig->vol;
	struct copy_job *job, *tmp;
	struct bio_list waiters;
	unsigned long flags;
	LIST_HEAD(dropped);
	u32 r, n = 0;

	spin_lock_irqsave(&mig->lock, flags);
	list_for_each_entry_safe(job, tmp, &mig->jobs, node) {
		if (job->issued)
			continue;
		for (r = job->r0; r < job->r0 + job->n; r++)
			__clear_bit(r, mig->busy);
		n += job->n;
		list_move(&job->node, &dropped);
	}
	waiters = mig->waiters;
	bio_list_init(&mig->waiters);
	spin_unlock_irqrestore(&mig->lock, flags);

	atomic_sub(n, &vol->migrations.copy_regions);
	list_for_each_entry_safe(job, tmp, &dropped, node)
		kfree(job);
	release_waiters(vol, &waiters);
}

static void free_mig(struct cvol_migration *mig)
{
	kvfree(mig->pending);
	bitmap_free(mig->written);
	bitmap_free(mig->busy);
	bitmap_free(mig->copied);
	kfree(mig);
}

/* Caller holds ctl_lock; nothing refers to @mig any more. */
static void unlink_mig(struct cvol_volume *vol, struct cvol_migration *mig)
{
	spin_lock_irq(&vol->slow_lock);
	vol->migrations.slot[mig->slot] = NULL;
	vol->migrations.nr--;
	spin_unlock_irq(&vol->slow_lock);
	wake_up_all(&vol->drain_wq);
}

/*
 * Ends an aborted or failed migration: once no copy is in flight, restore
 * the entry and flip the epoch; once that epoch drained (no bio points to
 * the migration any more), free it.  Caller holds ctl_lock.
 */
static void end_step(struct cvol_migration *mig)
{
	struct cvol_volume *vol = mig->vol;
	struct cvol_epoch *next;
	unsigned long flags;
	bool failed;
	u32 copied;

	drop_unissued(mig);
	spin_lock_irqsave(&mig->lock, flags);
	copied = mig->nr_copied;
	failed = mig->state == CVOL_MIG_FAILED;
	if (mig->issued) {
		spin_unlock_irqrestore(&mig->lock, flags);
		return;		/* copy_done() kicks us again */
	}
	spin_unlock_irqrestore(&mig->lock, flags);

	if (!mig->flipped) {
		next = cvol_epoch_alloc(vol);
		if (!next) {
			queue_delayed_work(vol->wq, &vol->migrations.work, HZ / 10);
			return;
		}
		entry_update(vol, mig->vext, CVOL_E_MIGRATING | CVOL_E_MIG_MASK,
			     0);
		mig->ticket = cvol_epoch_flip(vol, next);
		mig->flipped = true;
	}
	if (READ_ONCE(vol->epochs.drained_seq) < mig->ticket)
		return;		/* epoch_free_work kicks us */

	unlink_mig(vol, mig);
	if (failed) {
		DMERR("%s: migration of extent %llu failed after %llu errors; the source stays",
		      vol->uuid, mig->vext, mig->errors);
		cvol_event(vol, CVOL_EV_MIGRATE_FAILED, 0, mig->vext, 1,
			   mig->dst_dev, mig->errors);
	} else {
		cvol_event(vol, CVOL_EV_MIGRATE_ABORTED, 0, mig->vext, 1,
			   mig->dst_dev, copied);
	}
	free_mig(mig);
}

/* Advances one migration.  Caller holds ctl_lock and bind_lock. */
static void mig_step(struct cvol_target *tc, struct cvol_migration *mig,
		     unsigned long *delay)
{
	struct cvol_volume *vol = mig->vol;
	enum cvol_mig_state state;
	unsigned long flags;
	bool all, started = false;

	spin_lock_irqsave(&mig->lock, flags);
	if (mig->state == CVOL_MIG_START &&
	    READ_ONCE(vol->epochs.drained_seq) >= mig->ticket) {
		mig->state = CVOL_MIG_COPY;
		started = true;
	}
	state = mig->state;
	all = mig->nr_copied == mig->nr_regions && list_empty(&mig->jobs);
	spin_unlock_irqrestore(&mig->lock, flags);
	if (started)
		cvol_event(vol, CVOL_EV_MIGRATE_STARTED, 0, mig->vext, 1,
			   mig->dst_dev, mig->nr_regions);

	if (state == CVOL_MIG_FAILED || state == CVOL_MIG_ABORT) {
		end_step(mig);
		return;
	}
	if (state != CVOL_MIG_COPY || !tc || copier_stopped(vol))
		return;
	if (time_before(jiffies, mig->retry_at)) {
		*delay = min(*delay, mig->retry_at - jiffies);
		return;
	}
	if (all)
		ready_step(tc, mig);
	else
		copy_step(tc, mig);
	/* A failed flush sets a retry time that nothing else would wake. */
	if (time_before(jiffies, mig->retry_at))
		*delay = min(*delay, mig->retry_at - jiffies);
}

static void mig_work(struct work_struct *ws)
{
	struct cvol_volume *vol = container_of(to_delayed_work(ws),
					       struct cvol_volume,
					       migrations.work);
	unsigned long delay = MAX_JIFFY_OFFSET;
	struct cvol_target *tc;
	unsigned int s, noio;

	/* Resume waits for ctl_lock: no allocation may wait for our I/O. */
	noio = memalloc_noio_save();
	mutex_lock(&vol->ctl_lock);
	mutex_lock(&vol->bind_lock);
	tc = vol->bound_ti ? vol->bound_ti->private : NULL;
	/*
	 * Re-copies claim the volume's copy budget first: the cluster holds
	 * I/O to their extents until they end.  end_step() clears a slot
	 * before it frees the migration, so each pass reads the slot again.
	 */
	for (s = 0; s < CVOL_MAX_MIGRATIONS; s++)
		if (vol->migrations.slot[s] && READ_ONCE(vol->migrations.slot[s]->recopy))
			mig_step(tc, vol->migrations.slot[s], &delay);
	for (s = 0; s < CVOL_MAX_MIGRATIONS; s++)
		if (vol->migrations.slot[s] && !READ_ONCE(vol->migrations.slot[s]->recopy))
			mig_step(tc, vol->migrations.slot[s], &delay);
	mutex_unlock(&vol->bind_lock);
	mutex_unlock(&vol->ctl_lock);
	memalloc_noio_restore(noio);
	if (delay != MAX_JIFFY_OFFSET)
		queue_delayed_work(vol->wq, &vol->migrations.work, delay);
}

/*--------------------------------------------------------------*/
/* Suspend and resume */

/* presuspend: no new copies; claims not yet issued are dropped. */
void cvol_migrate_stop(struct cvol_volume *vol)
{
	unsigned int s;

	WRITE_ONCE(vol->migrations.copy_stopped, true);
	/* Store, then look at the count: pairs with copy_io_begin(). */
	smp_mb();
	mutex_lock(&vol->ctl_lock);
	for (s = 0; s < CVOL_MAX_MIGRATIONS; s++)
		if (vol->migrations.slot[s])
			drop_unissued(vol->migrations.slot[s]);
	mutex_unlock(&vol->ctl_lock);
}

/* postsuspend: the copies in flight finish (and release their waiters). */
void cvol_migrate_wait_copies(struct cvol_volume *vol)
{
	wait_event(vol->drain_wq, !atomic_read(&vol->migrations.copies_in_flight));
}

void cvol_migrate_restart(struct cvol_volume *vol)
{
	WRITE_ONCE(vol->migrations.copy_stopped, false);
	if (READ_ONCE(vol->migrations.nr))
		cvol_migrate_kick(vol);
}

/*--------------------------------------------------------------*/
/* Messages */

/* True if a mapped extent or another migration uses @loc.  ctl_lock. */
static bool location_in_use(struct cvol_volume *vol, u64 loc)
{
	struct cvol_migration *m;
	unsigned int s;
	u64 i;

	for (s = 0; s < CVOL_MAX_MIGRATIONS; s++) {
		m = vol->migrations.slot[s];
		if (m && cvol_entry(m->dst_dev, m->dst_pext) == loc)
			return true;
	}
	for (i = 0; i < vol->nr_extents; i++) {
		if (cvol_entry_location(READ_ONCE(vol->ent[i])) == loc)
			return true;
		cvol_scan_resched(i);
	}
	return false;
}

static struct cvol_migration *alloc_mig(struct cvol_volume *vol, u32 nr)
{
	struct cvol_migration *mig = kzalloc(sizeof(*mig), GFP_KERNEL);

	if (!mig)
		return NULL;
	mig->copied = bitmap_zalloc(nr, GFP_KERNEL);
	mig->busy = bitmap_zalloc(nr, GFP_KERNEL);
	mig->written = bitmap_zalloc(nr, GFP_KERNEL);
	mig->pending = kvcalloc(nr, sizeof(*mig->pending), GFP_KERNEL);
	if (!mig->copied || !mig->busy || !mig->written || !mig->pending) {
		free_mig(mig);
		return NULL;
	}
	mig->vol = vol;
	mig->nr_regions = nr;
	spin_lock_init(&mig->lock);
	INIT_LIST_HEAD(&mig->jobs);
	bio_list_init(&mig->waiters);
	return mig;
}

int cvol_migrate_start(struct cvol_target *tc, u64 vext, unsigned int dst_dev,
		       u64 dst_pext, bool follow)
{
	struct cvol_volume *vol = tc->vol;
	struct cvol_migration *mig = NULL;
	struct cvol_epoch *next = NULL;
	struct dm_kcopyd_client *kc;
	unsigned int s;
	u64 e, loc, dst;
	u32 nr;
	int r;

	if (dst_dev >= tc->nr_devs || !tc->devs[dst_dev].dm_dev) {
		DMWARN_LIMIT("%s: migrate_start: slot %u is empty", vol->uuid,
			     dst_dev);
		return -ENODEV;
	}
	if (dst_pext >= tc->devs[dst_dev].nr_pext) {
		DMWARN_LIMIT("%s: migrate_start: slot %u has %llu extents",
			     vol->uuid, dst_dev, tc->devs[dst_dev].nr_pext);
		return -ERANGE;
	}
	nr = div_u64(vol->extent_sectors, tc->region_sectors);
	if (nr > CVOL_MAX_REGIONS) {
		DMWARN_LIMIT("%s: migrate_start: %u regions per extent, at most %u (raise region_sectors)",
			     vol->uuid, nr, CVOL_MAX_REGIONS);
		return -E2BIG;
	}
	dst = cvol_entry(dst_dev, dst_pext);

	mutex_lock(&vol->ctl_lock);
	e = READ_ONCE(vol->ent[vext]);
	loc = cvol_entry_location(e);
	r = -ENODEV;
	if (e & CVOL_E_UNMAPPED) {
		DMWARN_LIMIT("%s: migrate_start: extent %llu is unmapped",
			     vol->uuid, vext);
		goto out;
	}
	r = -EBUSY;
	if (e & CVOL_E_MIGRATING) {
		DMWARN_LIMIT("%s: migrate_start: extent %llu is migrating already",
			     vol->uuid, vext);
		goto out;
	}
	if (vol->migrations.nr >= vol->migrations.max) {
		DMWARN_LIMIT("%s: migrate_start: %u migrations running (migrate_throttle sets the limit)",
			     vol->uuid, vol->migrations.nr);
		goto out;
	}
	r = -EEXIST;
	if (dst == loc || location_in_use(vol, dst)) {
		DMWARN_LIMIT("%s: migrate_start: %u:%llu is in use", vol->uuid,
			     dst_dev, dst_pext);
		goto out;
	}
	r = -ENOMEM;
	if (!vol->migrations.kc && !follow) {
		kc = dm_kcopyd_client_create(NULL);
		if (IS_ERR(kc)) {
			r = PTR_ERR(kc);
			goto out;
		}
		vol->migrations.kc = kc;
	}
	mig = alloc_mig(vol, nr);
	next = cvol_epoch_alloc(vol);
	if (!mig || !next)
		goto out;
	for (s = 0; vol->migrations.slot[s]; s++)
		;
	mig->slot = s;
	mig->vext = vext;
	mig->src = loc;
	mig->dst_dev = dst_dev;
	mig->dst_pext = dst_pext;
	mig->region_sectors = tc->region_sectors;
	mig->state = CVOL_MIG_START;
	mig->follow = follow;
	if (follow) {
		bitmap_fill(mig->copied, nr);
		mig->nr_copied = nr;
	}

	spin_lock_irq(&vol->slow_lock);
	WRITE_ONCE(vol->migrations.slot[s], mig);
	vol->migrations.nr++;
	spin_unlock_irq(&vol->slow_lock);
	/* map() reads migs[slot] after the entry: publish it first. */
	smp_wmb();
	entry_update(vol, vext, 0, CVOL_E_MIGRATING |
		     ((u64)s << CVOL_E_MIG_SHIFT));
	mig->ticket = cvol_epoch_flip(vol, next);
	next = NULL;
	mig = NULL;
	r = 0;
out:
	mutex_unlock(&vol->ctl_lock);
	if (next)
		cvol_epoch_free_unused(next);
	if (mig)
		free_mig(mig);
	if (!r)
		cvol_migrate_kick(vol);
	return r;
}

int cvol_migrate_commit(struct cvol_target *tc, u64 vext, u64 *new_gen)
{
	struct cvol_volume *vol = tc->vol;
	struct cvol_hold hold = { .vext = vext, .count = 1 };
	struct cvol_migration *mig;
	struct cvol_epoch *next = NULL;
	bool held = false, ready;
	unsigned long flags;
	u64 ticket, src;
	int r = 0;

	mutex_lock(&vol->ctl_lock);
	mig = find_mig(vol, vext);
	if (!mig) {
		r = -ENOENT;
		goto out;
	}
	if (READ_ONCE(mig->state) != CVOL_MIG_READY) {
		DMWARN_LIMIT("%s: migrate_commit: extent %llu is not ready (%s)",
			     vol->uuid, vext, state_names[mig->state]);
		r = -EAGAIN;
		goto out;
	}
	/* Under a drained freeze nothing is in flight: the cluster form. */
	if (!cvol_range_drained(vol, vext, 1)) {
		next = cvol_epoch_alloc(vol);
		if (!next) {
			r = -ENOMEM;
			goto out;
		}
		cvol_hold_add(vol, &hold);
		held = true;
		ticket = cvol_epoch_flip(vol, next);
		next = NULL;
		r = cvol_wait_drained(vol, ticket, tc->freeze_timeout_ms);
		if (r) {
			DMWARN_LIMIT("%s: migrate_commit: in-flight I/O did not drain in %u ms",
				     vol->uuid, tc->freeze_timeout_ms);
			goto out;
		}
	}
	/* Every dual-write has completed: a late destination error shows. */
	spin_lock_irqsave(&mig->lock, flags);
	ready = mig->state == CVOL_MIG_READY;
	spin_unlock_irqrestore(&mig->lock, flags);
	if (!ready) {
		r = -EAGAIN;
		goto out;
	}
	src = mig->src;
	entry_update(vol, vext, ~CVOL_E_FROZEN,
		     cvol_entry(mig->dst_dev, mig->dst_pext));
	vol->gen++;
	unlink_mig(vol, mig);
	cvol_event(vol, CVOL_EV_MAP_CHANGED, 0, vext, 1, 0, vol->gen);
	cvol_event(vol, CVOL_EV_MIGRATE_DONE, 0, vext, 1, cvol_entry_dev(src),
		   cvol_entry_pext(src));
	free_mig(mig);
out:
	if (held)
		cvol_hold_release(vol, &hold, 1);
	*new_gen = vol->gen;
	mutex_unlock(&vol->ctl_lock);
	if (next)
		cvol_epoch_free_unused(next);
	return r;
}

int cvol_migrate_abort(struct cvol_target *tc, u64 vext)
{
	struct cvol_volume *vol = tc->vol;
	struct cvol_migration *mig;
	unsigned long flags;
	unsigned int slot;
	long left;
	u64 gen;

	mutex_lock(&vol->ctl_lock);
	mig = find_mig(vol, vext);
	if (!mig) {
		mutex_unlock(&vol->ctl_lock);
		return -ENOENT;
	}
	slot = mig->slot;
	gen = cvol_epoch_waits_gen(vol);
	spin_lock_irqsave(&mig->lock, flags);
	if (!ending(mig))
		mig->state = CVOL_MIG_ABORT;
	spin_unlock_irqrestore(&mig->lock, flags);
	end_step(mig);
	mutex_unlock(&vol->ctl_lock);

	/* The pointer is only compared: @mig may be freed meanwhile. */
	left = wait_event_timeout(vol->drain_wq,
				  READ_ONCE(vol->migrations.slot[slot]) != mig ||
				  cvol_epoch_waits_cancelled(vol, gen),
				  msecs_to_jiffies(tc->freeze_timeout_ms));
	if (READ_ONCE(vol->migrations.slot[slot]) != mig)
		return 0;
	/* Ending: the abort finishes on its own (migrate_aborted). */
	return left ? -EAGAIN : -ETIMEDOUT;
}

/*
 * migrate_dirty <vext> [clear]: the runs of written regions.  With @clear
 * the set is taken and emptied in one step under mig->lock, so a write
 * mapped after it shows in the next answer; an answer that does not fit
 * the buffer puts the set back (dm flags the buffer full and libdevmapper
 * asks again with a larger one).
 */
int cvol_migrate_dirty(struct cvol_target *tc, u64 vext, bool clear,
		       char *result, unsigned int maxlen)
{
	struct cvol_volume *vol = tc->vol;
	struct cvol_migration *mig;
	unsigned long *snap;
	unsigned int sz = 0;
	u32 r0, r1;
	int r = 1;

	mutex_lock(&vol->ctl_lock);
	mig = find_mig(vol, vext);
	if (!mig) {
		DMWARN_LIMIT("%s: migrate_dirty: extent %llu is not migrating",
			     vol->uuid, vext);
		r = -ENOENT;
		goto out;
	}
	snap = bitmap_alloc(mig->nr_regions, GFP_KERNEL);
	if (!snap) {
		r = -ENOMEM;
		goto out;
	}
	spin_lock_irq(&mig->lock);
	bitmap_copy(snap, mig->written, mig->nr_regions);
	if (clear)
		bitmap_zero(mig->written, mig->nr_regions);
	spin_unlock_irq(&mig->lock);

	DMEMIT("%llu %u", (u64)mig->region_sectors, mig->nr_regions);
	for_each_set_bitrange(r0, r1, snap, mig->nr_regions) {
		DMEMIT(" %u:%u", r0, r1 - r0);
		if (sz + 1 >= maxlen)
			break;
	}
	if (clear && sz + 1 >= maxlen) {
		spin_lock_irq(&mig->lock);
		bitmap_or(mig->written, mig->written, snap, mig->nr_regions);
		spin_unlock_irq(&mig->lock);
	}
	bitmap_free(snap);
out:
	mutex_unlock(&vol->ctl_lock);
	return r;
}

/*
 * migrate_recopy <vext> <r0>:<count>...: the regions are copied again by
 * this host's copier, in a follow migration too, and the migration is
 * ready again once they are and the destination is flushed.  The cluster's
 * cutover hands the regions other hosts wrote during the copy to the
 * copier's kernel rather than copy them from userspace: here the copy
 * stops at this host's fence, and a fence waits for the copies in flight,
 * so a host that lost its lease writes nowhere, not even a late copy.
 * Regions a copy job holds now are refused (-EBUSY): that copy may have
 * read the source before the writes the caller wants copied.
 */
int cvol_migrate_recopy(struct cvol_target *tc, u64 vext,
			const struct cvol_region_run *runs, unsigned int nr_runs)
{
	struct cvol_volume *vol = tc->vol;
	struct cvol_migration *mig;
	struct dm_kcopyd_client *kc;
	unsigned long *want = NULL;
	unsigned int i;
	int r = 0;
	u32 x;

	mutex_lock(&vol->ctl_lock);
	mig = find_mig(vol, vext);
	if (!mig) {
		DMWARN_LIMIT("%s: migrate_recopy: extent %llu is not migrating",
			     vol->uuid, vext);
		r = -ENOENT;
		goto out;
	}
	for (i = 0; i < nr_runs; i++) {
		if (runs[i].r0 >= mig->nr_regions ||
		    runs[i].count > mig->nr_regions - runs[i].r0) {
			DMWARN_LIMIT("%s: migrate_recopy: regions %u+%u are beyond the %u of extent %llu",
				     vol->uuid, runs[i].r0, runs[i].count,
				     mig->nr_regions, vext);
			r = -ERANGE;
			goto out;
		}
	}
	/* The runs as one set, so the work under the spinlock is bounded. */
	want = bitmap_zalloc(mig->nr_regions, GFP_KERNEL);
	if (!want) {
		r = -ENOMEM;
		goto out;
	}
	for (i = 0; i < nr_runs; i++)
		bitmap_set(want, runs[i].r0, runs[i].count);
	/* A follow migration has never copied: it has no client yet. */
	if (!vol->migrations.kc) {
		kc = dm_kcopyd_client_create(NULL);
		if (IS_ERR(kc)) {
			r = PTR_ERR(kc);
			goto out;
		}
		vol->migrations.kc = kc;
	}

	spin_lock_irq(&mig->lock);
	if (ending(mig))
		r = -EAGAIN;
	else if (bitmap_intersects(want, mig->busy, mig->nr_regions))
		r = -EBUSY;
	if (!r) {
		for_each_set_bit(x, want, mig->nr_regions)
			if (__test_and_clear_bit(x, mig->copied))
				mig->nr_copied--;
		if (mig->state == CVOL_MIG_READY)
			mig->state = CVOL_MIG_COPY;
		mig->recopy = true;
	}
	spin_unlock_irq(&mig->lock);
	if (r == -EBUSY)
		DMWARN_LIMIT("%s: migrate_recopy: extent %llu: a region is being copied now; ask again",
			     vol->uuid, vext);
out:
	mutex_unlock(&vol->ctl_lock);
	bitmap_free(want);
	if (!r)
		cvol_migrate_kick(vol);
	return r;
}

void cvol_migrate_throttle(struct cvol_volume *vol, unsigned int regions,
			   unsigned int migs)
{
	mutex_lock(&vol->ctl_lock);
	WRITE_ONCE(vol->migrations.copy_limit, regions);
	if (migs)
		vol->migrations.max = migs;
	mutex_unlock(&vol->ctl_lock);
	cvol_migrate_kick(vol);
}

/*--------------------------------------------------------------*/

/* A table must have the destinations of the migrations.  ctl_lock. */
int cvol_migrate_check_devs(struct cvol_volume *vol, struct cvol_target *tc,
			    char **error)
{
	struct cvol_migration *m;
	unsigned int s;

	for (s = 0; s < CVOL_MAX_MIGRATIONS; s++) {
		m = vol->migrations.slot[s];
		if (!m)
			continue;
		if (m->dst_dev >= tc->nr_devs || !tc->devs[m->dst_dev].dm_dev) {
			*error = "A migration's destination slot is missing from this table";
			return -ENODEV;
		}
		if (m->dst_pext >= tc->devs[m->dst_dev].nr_pext) {
			*error = "A migration's destination is beyond its device's data area";
			return -ERANGE;
		}
		if (m->region_sectors != tc->region_sectors) {
			*error = "region_sectors differs from a running migration's";
			return -EINVAL;
		}
	}
	return 0;
}

/* Sets the bits of the slots the migrations write to.  ctl_lock. */
void cvol_migrate_mark_slots(struct cvol_volume *vol, unsigned long *used,
			     unsigned int nr_devs)
{
	struct cvol_migration *m;
	unsigned int s;

	for (s = 0; s < CVOL_MAX_MIGRATIONS; s++) {
		m = vol->migrations.slot[s];
		if (m && m->dst_dev < nr_devs)
			__set_bit(m->dst_dev, used);
	}
}

void cvol_migrate_status(struct cvol_volume *vol, char *result,
			 unsigned int maxlen, unsigned int *szp)
{
	struct cvol_migration *m;
	unsigned int s, sz = *szp;

	spin_lock_irq(&vol->slow_lock);
	DMEMIT(" %u", vol->migrations.nr);
	for (s = 0; s < CVOL_MAX_MIGRATIONS; s++) {
		m = vol->migrations.slot[s];
		if (!m)
			continue;
		spin_lock(&m->lock);
		DMEMIT(" %llu:%s:%u/%u:%llu", m->vext, state_names[m->state],
		       m->nr_copied, m->nr_regions, m->errors);
		spin_unlock(&m->lock);
	}
	spin_unlock_irq(&vol->slow_lock);
	*szp = sz;
}

int cvol_migrate_init(struct cvol_volume *vol)
{
	vol->migrations.max = CVOL_DEFAULT_MIGRATIONS;
	vol->migrations.copy_limit = CVOL_DEFAULT_COPY_REGIONS;
	atomic_set(&vol->migrations.copy_regions, 0);
	atomic_set(&vol->migrations.copies_in_flight, 0);
	/* Until a table instance resumes, there is nothing to copy with. */
	vol->migrations.copy_stopped = true;
	INIT_DELAYED_WORK(&vol->migrations.work, mig_work);
	return bioset_init(&vol->migrations.dual_bs, BIO_POOL_SIZE, 0, 0);
}

/* No table refers to the volume: no bio is in flight, no copy either. */
void cvol_migrate_destroy(struct cvol_volume *vol)
{
	struct cvol_migration *m;
	struct copy_job *job, *tmp;
	unsigned int s;

	/*
	 * Once nr_migs is 0 nothing queues mig_work any more, so the cancel
	 * below is final.
	 */
	mutex_lock(&vol->ctl_lock);
	for (s = 0; s < CVOL_MAX_MIGRATIONS; s++) {
		m = vol->migrations.slot[s];
		if (!m)
			continue;
		WARN_ON_ONCE(m->issued || !bio_list_empty(&m->waiters));
		list_for_each_entry_safe(job, tmp, &m->jobs, node)
			kfree(job);
		unlink_mig(vol, m);
		free_mig(m);
	}
	mutex_unlock(&vol->ctl_lock);
	cancel_delayed_work_sync(&vol->migrations.work);
	if (vol->migrations.kc)
		dm_kcopyd_client_destroy(vol->migrations.kc);
	bioset_exit(&vol->migrations.dual_bs);
}
