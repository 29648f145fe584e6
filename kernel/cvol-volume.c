// SPDX-License-Identifier: GPL-2.0
/*
 * Copyright (C) 2026 The cvol authors.
 *
 * The registry of volumes.  dm loads a new table while the old one is live
 * and destroys the old one only after the new one has resumed, so a volume
 * referenced by both never drops to zero references during a reload: the
 * map, the epoch and the holds carry over (the dm-thin pool pattern).
 */
#include "cvol.h"

#include <linux/slab.h>

static DEFINE_MUTEX(registry_lock);
static LIST_HEAD(registry);

static struct cvol_volume *__find(const char *uuid)
{
	struct cvol_volume *vol;

	list_for_each_entry(vol, &registry, node)
		if (!strcmp(vol->uuid, uuid))
			return vol;
	return NULL;
}

/* Returns the live volume with an extra reference, or NULL. */
struct cvol_volume *cvol_volume_find(const char *uuid)
{
	struct cvol_volume *vol;

	mutex_lock(&registry_lock);
	vol = __find(uuid);
	if (vol)
		refcount_inc(&vol->ref);
	mutex_unlock(&registry_lock);
	return vol;
}

u64 cvol_map_count_mapped(const u64 *ent, u64 nr_extents)
{
	u64 i, n = 0;

	for (i = 0; i < nr_extents; i++) {
		if (!(ent[i] & CVOL_E_UNMAPPED))
			n++;
		cvol_scan_resched(i);
	}
	return n;
}

/*
 * Epochs drained: the freezes, the fence and the migrations that waited
 * for them go on.  Called by the epoch layer under slow_lock.
 */
static void volume_drained_locked(struct cvol_volume *vol)
{
	cvol_freezes_drained_locked(vol);
	cvol_fence_drained_locked(vol);
	if (vol->migrations.nr)
		cvol_migrate_kick(vol);
}

/*
 * Creates a volume that takes ownership of @ent.  Fails if the uuid is
 * already registered: the caller looks it up first, under no lock, so two
 * racing loads of one new uuid are told apart here.  A @fenced volume
 * holds its I/O from the first bio until unfence: a cluster's daemon that
 * dies between creating a device and arming its lease leaves a device
 * that writes nowhere.
 */
struct cvol_volume *cvol_volume_create(const char *uuid,
				       struct mapped_device *md,
				       sector_t len, sector_t extent_sectors,
				       u64 *ent, u64 gen, bool fenced,
				       char **error)
{
	struct cvol_volume *vol;
	struct cvol_epoch *ep;

	vol = kzalloc(sizeof(*vol), GFP_KERNEL);
	if (!vol)
		goto nomem;
	strscpy(vol->uuid, uuid, sizeof(vol->uuid));
	refcount_set(&vol->ref, 1);
	vol->md = md;
	vol->len = len;
	vol->extent_sectors = extent_sectors;
	vol->extent_shift = is_power_of_2(extent_sectors) ?
			    __ffs64(extent_sectors) : -1;
	vol->nr_extents = DIV_ROUND_UP_SECTOR_T(len, extent_sectors);
	vol->drained_locked = volume_drained_locked;
	mutex_init(&vol->ctl_lock);
	vol->gen = gen;
	vol->ent = ent;
	vol->nr_mapped = cvol_map_count_mapped(ent, vol->nr_extents);
	atomic_set(&vol->epochs.undrained, 0);
	init_waitqueue_head(&vol->drain_wq);
	spin_lock_init(&vol->slow_lock);
	INIT_LIST_HEAD(&vol->epochs.killed);
	INIT_LIST_HEAD(&vol->holds.list);
	bio_list_init(&vol->holds.held);
	bio_list_init(&vol->holds.released);
	INIT_LIST_HEAD(&vol->freezes.list);
	cvol_lease_init(vol);
	if (fenced)
		cvol_lease_init_fenced(vol);
	spin_lock_init(&vol->events.lock);
	INIT_WORK(&vol->events.work, cvol_event_work);
	mutex_init(&vol->bind_lock);
	INIT_WORK(&vol->holds.release_work, cvol_release_work);

	vol->events.ring = kcalloc(CVOL_EVENT_RING, sizeof(*vol->events.ring), GFP_KERNEL);
	if (!vol->events.ring || cvol_xstats_alloc(vol) || cvol_migrate_init(vol))
		goto nomem_vol;
	vol->wq = alloc_workqueue("kcvold", WQ_MEM_RECLAIM | WQ_HIGHPRI, 0);
	if (!vol->wq)
		goto nomem_vol;
	ep = cvol_epoch_alloc(vol);
	if (!ep)
		goto nomem_wq;
	RCU_INIT_POINTER(vol->epoch, ep);

	mutex_lock(&registry_lock);
	if (__find(uuid)) {
		mutex_unlock(&registry_lock);
		*error = "Volume uuid is being created by another table load";
		cvol_epoch_free_unused(ep);
		destroy_workqueue(vol->wq);
		bioset_exit(&vol->migrations.dual_bs);
		kvfree(vol->load.xstats);
		kfree(vol->events.ring);
		kfree(vol);
		return ERR_PTR(-EBUSY);
	}
	list_add(&vol->node, &registry);
	mutex_unlock(&registry_lock);
	return vol;

nomem_wq:
	destroy_workqueue(vol->wq);
nomem_vol:
	bioset_exit(&vol->migrations.dual_bs);
	kvfree(vol->load.xstats);
	kfree(vol->events.ring);
	kfree(vol);
nomem:
	*error = "Cannot allocate volume";
	return ERR_PTR(-ENOMEM);
}

static void volume_destroy(struct cvol_volume *vol)
{
	/* First: an ending migration would flip the epoch retired below. */
	cvol_migrate_destroy(vol);
	/* A noflush-suspended device can be removed with freezes in place. */
	cvol_freeze_break_all(vol, 0);
	cvol_lease_destroy(vol);
	/* No table references us, so no bio is in flight or parked. */
	WARN_ON_ONCE(!list_empty(&vol->holds.list) || !bio_list_empty(&vol->holds.held));
	cvol_epoch_retire_current(vol);
	wait_event(vol->drain_wq, !atomic_read(&vol->epochs.undrained));
	destroy_workqueue(vol->wq);
	cvol_map_free(vol->ent);
	kvfree(vol->slot_ids);
	kvfree(vol->load.xstats);
	kfree(vol->events.ring);
	kfree(vol);
}

void cvol_volume_put(struct cvol_volume *vol)
{
	mutex_lock(&registry_lock);
	if (!refcount_dec_and_test(&vol->ref)) {
		mutex_unlock(&registry_lock);
		return;
	}
	list_del(&vol->node);
	mutex_unlock(&registry_lock);
	volume_destroy(vol);
}

/*
 * Checks that every mapped entry of @ent names a present device of @tc and
 * a physical extent inside its data area.  A table that fails this could
 * not serve the map, so it is refused at load and at resume.
 */
int cvol_volume_check_devs(struct cvol_volume *vol, struct cvol_target *tc,
			   const u64 *ent, char **error)
{
	u64 i, e;
	unsigned int d;

	for (i = 0; i < vol->nr_extents; i++) {
		e = READ_ONCE(ent[i]);
		if (e & CVOL_E_UNMAPPED)
			continue;
		d = cvol_entry_dev(e);
		if (d >= tc->nr_devs || !tc->devs[d].dm_dev) {
			*error = "Live map uses a device slot this table does not have";
			return -ENODEV;
		}
		if (cvol_entry_pext(e) >= tc->devs[d].nr_pext) {
			*error = "Live map uses an extent beyond a device's data area";
			return -ERANGE;
		}
		cvol_scan_resched(i);
	}
	return 0;
}

/*
 * A reload must not put another device behind a slot that the map or a
 * migration uses: its extents would read and write another disk.  Only a
 * table that says so (replace_slot: another path to the same device, which
 * the daemon checks by its label) may.  Compared with the devices the
 * volume last resumed with (cvol_volume_record_slots), which outlive that
 * table: after a failed resume the old table is gone.  Caller holds
 * ctl_lock.
 */
int cvol_volume_check_slots(struct cvol_volume *vol, struct cvol_target *tc,
			    char **error)
{
	unsigned int s, n = vol->nr_slot_ids;
	const struct cvol_slot_id *old;
	unsigned long *used;
	struct cvol_dev *new;
	u64 i, e;
	int r = 0;

	used = bitmap_zalloc(max(n, 1U), GFP_NOIO);
	if (!used) {
		*error = "Cannot allocate slot check";
		return -ENOMEM;
	}
	for (i = 0; i < vol->nr_extents; i++) {
		e = READ_ONCE(vol->ent[i]);
		cvol_scan_resched(i);
		if (e & CVOL_E_UNMAPPED)
			continue;
		/*
		 * Entries are put on a slot only through a table that resumed,
		 * whose devices were recorded: never beyond the record.
		 */
		if (WARN_ON_ONCE(cvol_entry_dev(e) >= n)) {
			*error = "Live map uses a slot with no recorded device";
			r = -EINVAL;
			goto out;
		}
		__set_bit(cvol_entry_dev(e), used);
	}
	cvol_migrate_mark_slots(vol, used, n);
	for_each_set_bit(s, used, n) {
		old = &vol->slot_ids[s];
		/* A missing slot is cvol_volume_check_devs()'s to refuse. */
		if (s >= tc->nr_devs || !tc->devs[s].dm_dev ||
		    test_bit(s, tc->replace))
			continue;
		new = &tc->devs[s];
		if (old->dev != new->bdev->bd_dev || old->offset != new->offset) {
			DMWARN("%s: slot %u holds extents on %u:%u at %llu; the new table has %s at %llu",
			       vol->uuid, s, MAJOR(old->dev), MINOR(old->dev),
			       (u64)old->offset, new->dm_dev->name,
			       (u64)new->offset);
			*error = "A slot in use would change device (say replace_slot <slot> if it is another path to it)";
			r = -EINVAL;
			break;
		}
	}
out:
	bitmap_free(used);
	return r;
}

/* @tc is about to serve the volume: its devices are the ones to keep. */
int cvol_volume_record_slots(struct cvol_volume *vol, struct cvol_target *tc)
{
	struct cvol_slot_id *ids;
	unsigned int s;

	ids = kvcalloc(tc->nr_devs, sizeof(*ids), GFP_NOIO);
	if (!ids)
		return -ENOMEM;
	for (s = 0; s < tc->nr_devs; s++) {
		if (!tc->devs[s].dm_dev)
			continue;
		ids[s].dev = tc->devs[s].bdev->bd_dev;
		ids[s].offset = tc->devs[s].offset;
	}
	kvfree(vol->slot_ids);
	vol->slot_ids = ids;
	vol->nr_slot_ids = tc->nr_devs;
	return 0;
}
