// SPDX-License-Identifier: GPL-2.0
/*
 * Copyright (C) 2026 The cvol authors.
 *
 * dm-cvol: clustered virtual volumes.
 *
 * A volume is an array of fixed-size virtual extents, each mapped to a
 * physical extent on one of several devices, or unmapped.  The mapping
 * changes online (map_set) without suspending the device: only the bios
 * of the extents that move are held, for as long as the I/O already in
 * flight to them takes to drain.  The map lives in a registry object keyed
 * by the volume uuid, so table reloads keep it.  See docs/target.md.
 *
 * This file ties the concerns to dm: the target type, suspend and resume.
 * The table line is in cvol-table.c, the messages in cvol-messages.c, the
 * I/O path in cvol-io.c.
 */
#include "cvol.h"

#include <linux/module.h>
#include <linux/sched/mm.h>

/*--------------------------------------------------------------*/
/* Suspend and resume */

/*
 * A map_set through the old table may have used a device slot this table
 * lacks since it was loaded: such a table must not serve I/O.
 */
static int cvol_preresume(struct dm_target *ti)
{
	struct cvol_target *tc = ti->private;
	struct cvol_volume *vol = tc->vol;
	unsigned int noio;
	char *error;
	int r;

	noio = memalloc_noio_save();
	mutex_lock(&vol->ctl_lock);
	r = cvol_table_check_live(tc, vol, &error);
	if (!r && cvol_volume_record_slots(vol, tc)) {
		error = "Cannot allocate the record of its devices";
		r = -ENOMEM;
	}
	mutex_unlock(&vol->ctl_lock);
	memalloc_noio_restore(noio);
	if (r)
		DMERR("%s: cannot resume: %s", vol->uuid, error);
	return r;
}

/*
 * Held bios block dm suspend (it waits for every bio) and a held bio must
 * not outlive the table it was mapped by.  A noflush suspend, which
 * reloads use, pushes them back to dm core: they are mapped again after
 * resume, and the freezes stay.  A normal suspend ends the freezes
 * (FREEZE_BROKEN) and fences the volume if there were any; fenced bios
 * fail: a fenced volume must not write.
 */
static void cvol_presuspend(struct dm_target *ti)
{
	struct cvol_target *tc = ti->private;
	struct cvol_volume *vol = tc->vol;
	unsigned int failed;

	/* First: a drain waiting under ctl_lock would hold up what follows. */
	cvol_epoch_cancel_waits(vol);
	cvol_migrate_stop(vol);
	if (dm_noflush_suspending(ti)) {
		cvol_requeue_parked(vol);
		return;
	}
	cvol_hold_begin_suspend(vol);
	/* Fences first if a freeze was in place: its bios fail below. */
	cvol_freeze_break_all(vol, CVOL_EV_FREEZE_BROKEN);
	failed = cvol_fail_fenced(vol);
	if (failed) {
		DMWARN("%s: suspend of a fenced volume failed %u held bios",
		       vol->uuid, failed);
		cvol_event(vol, CVOL_EV_HELD_FAILED, 0, 0, 0, 0, failed);
	}
}

/* Copies in flight finish; writes waiting for them are released then. */
static void cvol_postsuspend(struct dm_target *ti)
{
	struct cvol_target *tc = ti->private;

	cvol_migrate_wait_copies(tc->vol);
}

static void end_suspend(struct cvol_volume *vol)
{
	spin_lock_irq(&vol->slow_lock);
	vol->holds.requeue = false;
	vol->holds.suspending = false;
	spin_unlock_irq(&vol->slow_lock);
	cvol_migrate_restart(vol);
}

static void cvol_presuspend_undo(struct dm_target *ti)
{
	struct cvol_target *tc = ti->private;

	end_suspend(tc->vol);
}

/*
 * This instance is live now (I/O is still blocked): it takes over the
 * device counters of the one it replaces and receives the dm events.
 */
static void cvol_resume(struct dm_target *ti)
{
	struct cvol_target *tc = ti->private;
	struct cvol_volume *vol = tc->vol;

	mutex_lock(&vol->bind_lock);
	if (vol->bound_ti && vol->bound_ti != ti)
		cvol_dev_stats_inherit(tc, vol->bound_ti->private);
	vol->bound_ti = ti;
	mutex_unlock(&vol->bind_lock);
	end_suspend(vol);
}

/*--------------------------------------------------------------*/
/* Devices and limits */

static int cvol_iterate_devices(struct dm_target *ti,
				iterate_devices_callout_fn fn, void *data)
{
	struct cvol_target *tc = ti->private;
	unsigned int i;
	int r = 0;

	for (i = 0; !r && i < tc->nr_devs; i++) {
		struct cvol_dev *d = &tc->devs[i];

		if (d->dm_dev)
			r = fn(ti, d->dm_dev, d->offset,
			       d->nr_pext * tc->extent_sectors, data);
	}
	return r;
}

/*
 * A discard or write-zeroes never goes to more than one extent, so let the
 * block layer cut them there instead of us clipping one piece per call.
 */
static void cvol_io_hints(struct dm_target *ti, struct queue_limits *limits)
{
	struct cvol_target *tc = ti->private;
	unsigned int ext = min_t(u64, tc->extent_sectors, UINT_MAX);

	if (limits->max_discard_sectors > ext)
		limits->max_discard_sectors = ext;
	if (limits->max_hw_discard_sectors > ext)
		limits->max_hw_discard_sectors = ext;
	if (limits->max_write_zeroes_sectors > ext)
		limits->max_write_zeroes_sectors = ext;
}

static struct target_type cvol_target = {
	.name = CVOL_TARGET_NAME,
	.version = {CVOL_VERSION_MAJOR, CVOL_VERSION_MINOR, CVOL_VERSION_PATCH},
	/*
	 * map() never sleeps: a held bio is parked, not waited for.  Without
	 * this flag dm fails every REQ_NOWAIT bio and io_uring retries it from
	 * a worker thread, which cost two thirds of the QD1 IOPS.
	 */
	.features = DM_TARGET_NOWAIT,
	.module = THIS_MODULE,
	.ctr = cvol_ctr,
	.dtr = cvol_dtr,
	.map = cvol_map,
	.end_io = cvol_end_io,
	.presuspend = cvol_presuspend,
	.presuspend_undo = cvol_presuspend_undo,
	.postsuspend = cvol_postsuspend,
	.preresume = cvol_preresume,
	.resume = cvol_resume,
	.status = cvol_status,
	.message = cvol_message,
	.iterate_devices = cvol_iterate_devices,
	.io_hints = cvol_io_hints,
};

static int __init dm_cvol_init(void)
{
	int r = cvol_events_init();

	if (r)
		return r;
	r = dm_register_target(&cvol_target);
	if (r)
		cvol_events_exit();
	return r;
}

static void __exit dm_cvol_exit(void)
{
	dm_unregister_target(&cvol_target);
	cvol_events_exit();
}

module_init(dm_cvol_init);
module_exit(dm_cvol_exit);

MODULE_DESCRIPTION(DM_NAME " clustered virtual volume target");
MODULE_AUTHOR("The cvol authors");
MODULE_LICENSE("GPL");
