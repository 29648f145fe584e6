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
 */
#include "cvol.h"

#include <linux/blkdev.h>
#include <linux/ctype.h>
#include <linux/gcd.h>
#include <linux/module.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>

/*--------------------------------------------------------------*/
/* Hot path */

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
 * bios released from a hold.  Returns a DM_MAPIO_* code; a reference on an
 * epoch is kept in pb->ep only for DM_MAPIO_REMAPPED, because dm core does
 * not call end_io after KILL.
 */
int cvol_map_extent(struct cvol_target *tc, struct bio *bio)
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
			switch (cvol_park_bio(tc, bio, vext, now)) {
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

static int cvol_map(struct dm_target *ti, struct bio *bio)
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
	return cvol_map_extent(tc, bio);
}

static int cvol_end_io(struct dm_target *ti, struct bio *bio,
		       blk_status_t *error)
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

/*--------------------------------------------------------------*/
/* Constructor */

static bool valid_uuid(const char *s)
{
	size_t n = strlen(s);

	if (!n || n > CVOL_UUID_MAX)
		return false;
	for (; *s; s++)
		if (!isalnum(*s) && *s != '-' && *s != '_' && *s != '.')
			return false;
	return true;
}

static int parse_devices(struct cvol_target *tc, struct dm_arg_set *as,
			 sector_t extent_sectors, char **error)
{
	struct dm_target *ti = tc->ti;
	unsigned int i;
	const char *path;
	sector_t size;
	u64 offset;
	int r;

	for (i = 0; i < tc->nr_devs; i++) {
		struct cvol_dev *d = &tc->devs[i];

		path = dm_shift_arg(as);
		if (!path || cvol_parse_u64(dm_shift_arg(as), &offset)) {
			*error = "Missing or invalid device offset";
			return -EINVAL;
		}
		atomic_set(&d->errors, 0);
		if (!strcmp(path, "-")) {
			if (offset) {
				*error = "Empty device slot must have offset 0";
				return -EINVAL;
			}
			continue;
		}
		if (offset % CVOL_MIN_EXTENT_SECTORS) {
			*error = "Device offset must be a multiple of 8 sectors";
			return -EINVAL;
		}
		r = dm_get_device(ti, path, dm_table_get_mode(ti->table),
				  &d->dm_dev);
		if (r) {
			*error = "Device lookup failed";
			return r;
		}
		d->bdev = d->dm_dev->bdev;
		if (bdev_is_zoned(d->bdev)) {
			*error = "Zoned devices are not supported";
			return -EINVAL;
		}
		size = bdev_nr_sectors(d->bdev);
		if (offset >= size) {
			*error = "Device offset beyond end of device";
			return -EINVAL;
		}
		d->offset = offset;
		d->nr_pext = min_t(u64, div64_u64(size - offset, extent_sectors),
				   CVOL_MAX_PEXT + 1);
		tc->flush_devs[tc->nr_present++] = i;
	}
	return 0;
}

struct ctr_features {
	bool have_runs, have_gen;
	u64 gen;
	struct dm_arg_set runs;		/* the words of map_runs, parsed later */
};

/* Records "map_runs <#runs> <run>..."; the runs are parsed by walk_runs_arg. */
static int take_map_runs(struct dm_arg_set *as, struct ctr_features *f,
			 char **error)
{
	unsigned int nr_runs;

	if (!as->argc || cvol_parse_uint(dm_shift_arg(as), &nr_runs)) {
		*error = "Invalid map_runs count";
		return -EINVAL;
	}
	if (nr_runs > as->argc) {
		*error = "map_runs: fewer runs than its count";
		return -EINVAL;
	}
	f->runs.argc = nr_runs;
	f->runs.argv = as->argv;
	dm_consume_args(as, nr_runs);
	return 0;
}

typedef int (*run_visit_fn)(void *arg, const struct cvol_item *it, u64 i,
			    char **error);

/* Calls @fn for each extent of each checked run of the map_runs feature. */
static int walk_runs_arg(struct cvol_target *tc, const struct ctr_features *f,
			 u64 nr_extents, run_visit_fn fn, void *arg,
			 char **error)
{
	struct dm_arg_set as = f->runs;
	struct cvol_item it;
	u64 i;
	int r;

	while (as.argc) {
		if (cvol_parse_item(dm_shift_arg(&as), true, false, &it)) {
			*error = "map_runs: invalid run (want <vext>:<dev>:<pext>:<count>)";
			return -EINVAL;
		}
		r = cvol_check_item(tc, nr_extents, &it, error);
		for (i = 0; !r && i < it.count; i++) {
			r = fn(arg, &it, i, error);
			cvol_scan_resched(i);
		}
		if (r)
			return r;
	}
	return 0;
}

/* A new volume: the runs fill a fresh map. */
static int fill_extent(void *arg, const struct cvol_item *it, u64 i,
		       char **error)
{
	u64 *ent = arg;

	if (!(ent[it->vext + i] & CVOL_E_UNMAPPED)) {
		*error = "map_runs: runs overlap";
		return -EINVAL;
	}
	ent[it->vext + i] = cvol_entry(it->dev, it->pext + i);
	return 0;
}

/*
 * A reload: the runs must restate the live map.  A bitmap of the extents
 * seen (1/64 of the map) catches overlaps without a second full map; runs
 * that match the live map, do not overlap and cover as many extents as are
 * mapped cover exactly the mapped ones.
 */
struct match_ctx {
	struct cvol_volume *vol;
	unsigned long *seen;
	u64 covered;
};

static int match_extent(void *arg, const struct cvol_item *it, u64 i,
			char **error)
{
	struct match_ctx *m = arg;
	u64 v = it->vext + i;

	if (test_and_set_bit(v, m->seen)) {
		*error = "map_runs: runs overlap";
		return -EINVAL;
	}
	if (cvol_entry_location(READ_ONCE(m->vol->ent[v])) !=
	    cvol_entry(it->dev, it->pext + i)) {
		*error = "map_runs differ from the live map (change it with map_set)";
		return -EINVAL;
	}
	m->covered++;
	return 0;
}

/* Caller holds vol->ctl_lock. */
static int match_live_map(struct cvol_target *tc, struct cvol_volume *vol,
			  const struct ctr_features *f, char **error)
{
	struct match_ctx m = { .vol = vol };
	int r;

	m.seen = kvcalloc(BITS_TO_LONGS(vol->nr_extents), sizeof(long),
			  GFP_KERNEL);
	if (!m.seen) {
		*error = "Cannot allocate map_runs check";
		return -ENOMEM;
	}
	r = walk_runs_arg(tc, f, vol->nr_extents, match_extent, &m, error);
	if (!r && m.covered != vol->nr_mapped) {
		*error = "map_runs differ from the live map (change it with map_set)";
		r = -EINVAL;
	}
	kvfree(m.seen);
	return r;
}

static int parse_features(struct cvol_target *tc, struct dm_arg_set *as,
			  struct ctr_features *f, char **error)
{
	static const struct dm_arg _args[] = {
		{0, UINT_MAX, "Invalid number of feature arguments"},
	};
	bool have_region = false, have_timeout = false;
	struct dm_arg_set group;
	unsigned int nr;
	const char *w;
	u64 v;
	int r;

	if (!as->argc)
		return 0;
	r = dm_read_arg_group(_args, as, &nr, error);
	if (r)
		return r;
	if (as->argc != nr) {
		*error = "Unexpected arguments after the feature group";
		return -EINVAL;
	}
	group = *as;
	dm_consume_args(as, nr);

	while (group.argc) {
		w = dm_shift_arg(&group);
		if (!strcmp(w, CVOL_FEAT_UNMAPPED_ZERO)) {
			if (tc->unmapped_zero)
				goto dup;
			tc->unmapped_zero = true;
			continue;
		}
		if (!strcmp(w, CVOL_FEAT_MAP_RUNS)) {
			if (f->have_runs)
				goto dup;
			f->have_runs = true;
			r = take_map_runs(&group, f, error);
			if (r)
				return r;
			continue;
		}
		/* The remaining features take one number. */
		if (!group.argc) {
			*error = "Feature is missing its value";
			return -EINVAL;
		}
		if (cvol_parse_u64(dm_shift_arg(&group), &v)) {
			*error = "Invalid feature value";
			return -EINVAL;
		}
		if (!strcmp(w, CVOL_FEAT_MAP_GEN)) {
			if (f->have_gen)
				goto dup;
			f->have_gen = true;
			f->gen = v;
		} else if (!strcmp(w, CVOL_FEAT_REGION_SECTORS)) {
			if (have_region)
				goto dup;
			have_region = true;
			if (!v || v % CVOL_MIN_EXTENT_SECTORS ||
			    v > tc->extent_sectors ||
			    tc->extent_sectors % v) {
				*error = "region_sectors must be a multiple of 8 that divides the extent size";
				return -EINVAL;
			}
			tc->region_sectors = v;
			tc->region_sectors_set = true;
		} else if (!strcmp(w, CVOL_FEAT_REPLACE_SLOT)) {
			if (v >= tc->nr_devs || !tc->devs[v].dm_dev) {
				*error = "replace_slot names no device of this table";
				return -EINVAL;
			}
			if (test_and_set_bit(v, tc->replace))
				goto dup;
		} else if (!strcmp(w, CVOL_FEAT_FREEZE_TIMEOUT_MS)) {
			if (have_timeout)
				goto dup;
			have_timeout = true;
			if (!v || v > CVOL_MAX_FREEZE_TIMEOUT_MS) {
				*error = "freeze_timeout_ms out of range";
				return -EINVAL;
			}
			tc->freeze_timeout_ms = v;
		} else {
			*error = "Unknown feature";
			return -EINVAL;
		}
	}
	return 0;
dup:
	*error = "Duplicate feature";
	return -EINVAL;
}

static void free_target(struct cvol_target *tc)
{
	unsigned int i;

	for (i = 0; i < tc->nr_devs; i++)
		if (tc->devs[i].dm_dev)
			dm_put_device(tc->ti, tc->devs[i].dm_dev);
	cvol_dev_stats_free(tc);
	bitmap_free(tc->replace);
	kfree(tc->flush_devs);
	kfree(tc);
}

/* Regions must divide the extent; 2048 sectors unless that does not. */
static sector_t default_region_sectors(sector_t extent_sectors)
{
	if (extent_sectors <= CVOL_DEFAULT_REGION_SECTORS)
		return extent_sectors;
	return gcd(extent_sectors, CVOL_DEFAULT_REGION_SECTORS);
}

/*
 * Can @tc serve the live map and the migrations?  Every slot they use must
 * be present, large enough and, unless replace_slot says otherwise, the
 * very device (and offset) the live table has there.  Caller holds
 * ctl_lock.
 */
static int check_live_devs(struct cvol_target *tc, struct cvol_volume *vol,
			   char **error)
{
	int r = cvol_volume_check_devs(vol, tc, vol->ent, error);

	if (!r)
		r = cvol_migrate_check_devs(vol, tc, error);
	if (!r)
		r = cvol_volume_check_slots(vol, tc, error);
	return r;
}

/*
 * Joins the live volume of a reload.  The table may restate the live map
 * (dmsetup table output does) but never change it: changes go through
 * map_set, which holds and drains.
 */
static int adopt_volume(struct cvol_target *tc, struct cvol_volume *vol,
			const struct ctr_features *f, char **error)
{
	unsigned int noio;
	int r = 0;

	if (vol->md != dm_table_get_md(tc->ti->table)) {
		*error = "Volume uuid is in use by another device";
		return -EBUSY;
	}
	if (vol->extent_sectors != tc->extent_sectors || vol->len != tc->ti->len) {
		*error = "Extent size or length differs from the live volume";
		return -EINVAL;
	}
	noio = memalloc_noio_save();
	mutex_lock(&vol->ctl_lock);
	if (f->have_gen && f->gen != vol->gen) {
		*error = "Map generation mismatch";
		r = -ESTALE;
	} else {
		r = f->have_runs ? match_live_map(tc, vol, f, error) : 0;
		if (!r)
			r = check_live_devs(tc, vol, error);
	}
	mutex_unlock(&vol->ctl_lock);
	memalloc_noio_restore(noio);
	return r;
}

/*
 * <vol_uuid> <extent_sectors> <#devs> (<dev>|- <offset>)...
 *	[<#feature_args> <feature>...]
 */
static int cvol_ctr(struct dm_target *ti, unsigned int argc, char **argv)
{
	static const struct dm_arg _args[] = {
		{1, CVOL_MAX_DEVS, "Invalid number of devices"},
	};
	struct dm_arg_set as = { .argc = argc, .argv = argv };
	struct ctr_features f = {};
	struct cvol_volume *vol;
	struct cvol_target *tc;
	unsigned int nr_devs;
	u64 extent, nr_extents, *ent = NULL;
	const char *uuid;
	int r;

	if (argc < 5) {
		ti->error = "Not enough arguments";
		return -EINVAL;
	}
	uuid = dm_shift_arg(&as);
	if (!valid_uuid(uuid)) {
		ti->error = "Invalid volume uuid";
		return -EINVAL;
	}
	if (cvol_parse_u64(dm_shift_arg(&as), &extent) ||
	    extent < CVOL_MIN_EXTENT_SECTORS || extent % CVOL_MIN_EXTENT_SECTORS ||
	    extent > CVOL_MAX_EXTENT_SECTORS) {
		ti->error = "Invalid extent size (a multiple of 8 sectors)";
		return -EINVAL;
	}
	nr_extents = div64_u64(ti->len + extent - 1, extent);
	if (nr_extents > CVOL_MAX_EXTENTS) {
		ti->error = "Volume has too many extents";
		return -EINVAL;
	}
	r = dm_read_arg(_args, &as, &nr_devs, &ti->error);
	if (r)
		return r;
	if (as.argc < 2 * nr_devs) {
		ti->error = "Not enough device arguments";
		return -EINVAL;
	}

	tc = kzalloc(struct_size(tc, devs, nr_devs), GFP_KERNEL);
	if (!tc) {
		ti->error = "Cannot allocate target";
		return -ENOMEM;
	}
	tc->ti = ti;
	tc->nr_devs = nr_devs;
	tc->extent_sectors = extent;
	tc->freeze_timeout_ms = CVOL_DEFAULT_FREEZE_TIMEOUT_MS;
	tc->region_sectors = default_region_sectors(extent);
	tc->flush_devs = kcalloc(nr_devs, sizeof(*tc->flush_devs), GFP_KERNEL);
	tc->replace = bitmap_zalloc(nr_devs, GFP_KERNEL);
	if (!tc->flush_devs || !tc->replace || cvol_dev_stats_alloc(tc)) {
		ti->error = "Cannot allocate target";
		r = -ENOMEM;
		goto bad;
	}
	r = parse_devices(tc, &as, extent, &ti->error);
	if (r)
		goto bad;

	r = parse_features(tc, &as, &f, &ti->error);
	if (r)
		goto bad;

	vol = cvol_volume_find(uuid);
	if (vol) {
		r = adopt_volume(tc, vol, &f, &ti->error);
		if (r) {
			cvol_volume_put(vol);
			goto bad;
		}
	} else {
		ent = cvol_map_alloc(nr_extents);
		if (!ent) {
			ti->error = "Cannot allocate extent map";
			r = -ENOMEM;
			goto bad;
		}
		r = walk_runs_arg(tc, &f, nr_extents, fill_extent, ent,
				  &ti->error);
		if (r)
			goto bad;
		vol = cvol_volume_create(uuid, dm_table_get_md(ti->table),
					 ti->len, extent, ent,
					 f.have_gen ? f.gen : 0, &ti->error);
		if (IS_ERR(vol)) {
			r = PTR_ERR(vol);
			goto bad;
		}
	}
	ent = NULL;
	tc->vol = vol;

	r = dm_set_target_max_io_len(ti, extent);
	if (r) {
		cvol_volume_put(vol);
		goto bad;
	}
	ti->num_flush_bios = tc->nr_present;
	ti->num_discard_bios = 1;
	ti->num_write_zeroes_bios = 1;
	ti->per_io_data_size = sizeof(struct cvol_bio);
	/* Held bios are accounted when they are finally submitted. */
	ti->accounts_remapped_io = true;
	ti->private = tc;
	return 0;

bad:
	cvol_map_free(ent);
	free_target(tc);
	return r;
}

static void cvol_dtr(struct dm_target *ti)
{
	struct cvol_target *tc = ti->private;
	struct cvol_volume *vol = tc->vol;

	mutex_lock(&vol->bind_lock);
	if (vol->bound_ti == ti)
		vol->bound_ti = NULL;
	mutex_unlock(&vol->bind_lock);
	cvol_volume_put(vol);
	free_target(tc);
}

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
	r = check_live_devs(tc, vol, &error);
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

	cvol_migrate_stop(vol);
	if (dm_noflush_suspending(ti)) {
		cvol_requeue_parked(vol);
		return;
	}
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
	vol->requeue = false;
	vol->suspending = false;
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
/* Status */

/*
 * Calls @fn for each maximal run of the live map inside [vext, vext+count):
 * consecutive extents on one device at consecutive physical extents.
 */
typedef void (*run_fn)(void *arg, u64 vext, u64 e, u64 n);

static void walk_runs(struct cvol_volume *vol, u64 vext, u64 count,
			 run_fn fn, void *arg)
{
	u64 i, end = vext + count, start = 0, first = 0, e;
	bool open = false;

	for (i = vext; i < end; i++) {
		cvol_scan_resched(i);
		e = cvol_entry_location(READ_ONCE(vol->ent[i]));
		if (open && e == first + (i - start) && !(e & CVOL_E_UNMAPPED))
			continue;
		if (open)
			fn(arg, start, first, i - start);
		open = !(e & CVOL_E_UNMAPPED);
		start = i;
		first = e;
	}
	if (open)
		fn(arg, start, first, end - start);
}

struct emit_ctx {
	char *result;
	unsigned int maxlen;
	unsigned int sz;
	u64 nr;
};

static void count_run(void *arg, u64 vext, u64 e, u64 n)
{
	((struct emit_ctx *)arg)->nr++;
}

static void emit_run(void *arg, u64 vext, u64 e, u64 n)
{
	struct emit_ctx *c = arg;
	char *result = c->result;
	unsigned int maxlen = c->maxlen, sz = c->sz;

	DMEMIT("%s%llu:%u:%llu:%llu", c->nr++ ? " " : "", vext,
	       cvol_entry_dev(e), cvol_entry_pext(e), n);
	c->sz = sz;
}

static void status_table(struct cvol_target *tc, char *result,
			 unsigned int maxlen, unsigned int *szp)
{
	struct cvol_volume *vol = tc->vol;
	struct emit_ctx c = { .result = result, .maxlen = maxlen };
	unsigned int i, sz = *szp, nr_feat;

	DMEMIT("%s %llu %u", vol->uuid, (u64)tc->extent_sectors, tc->nr_devs);
	for (i = 0; i < tc->nr_devs; i++) {
		struct cvol_dev *d = &tc->devs[i];

		if (d->dm_dev)
			DMEMIT(" %s %llu", d->dm_dev->name, (u64)d->offset);
		else
			DMEMIT(" - 0");
	}

	/* Gen and runs together, so the line recreates this very map. */
	mutex_lock(&vol->ctl_lock);
	walk_runs(vol, 0, vol->nr_extents, count_run, &c);
	nr_feat = 4 + c.nr + (tc->region_sectors_set ? 2 : 0) +
		  (tc->freeze_timeout_ms != CVOL_DEFAULT_FREEZE_TIMEOUT_MS ? 2 : 0) +
		  tc->unmapped_zero;
	DMEMIT(" %u %s %llu %s %llu", nr_feat, CVOL_FEAT_MAP_GEN, vol->gen,
	       CVOL_FEAT_MAP_RUNS, c.nr);
	c.nr = 1;	/* every run after a separator */
	c.sz = sz;
	walk_runs(vol, 0, vol->nr_extents, emit_run, &c);
	sz = c.sz;
	mutex_unlock(&vol->ctl_lock);

	if (tc->region_sectors_set)
		DMEMIT(" %s %llu", CVOL_FEAT_REGION_SECTORS,
		       (u64)tc->region_sectors);
	if (tc->freeze_timeout_ms != CVOL_DEFAULT_FREEZE_TIMEOUT_MS)
		DMEMIT(" %s %u", CVOL_FEAT_FREEZE_TIMEOUT_MS,
		       tc->freeze_timeout_ms);
	if (tc->unmapped_zero)
		DMEMIT(" %s", CVOL_FEAT_UNMAPPED_ZERO);
	*szp = sz;
}

static char health_of(struct cvol_dev *d)
{
	if (!d->dm_dev)
		return CVOL_HEALTH_EMPTY;
	if (atomic_read(&d->errors))
		return CVOL_HEALTH_ERRORS;
	if (atomic_read(&d->dst_errors))
		return CVOL_HEALTH_DST_ERRORS;
	return CVOL_HEALTH_ALIVE;
}

static void status_freezes(struct cvol_volume *vol, char *result,
			   unsigned int maxlen, unsigned int *szp)
{
	struct cvol_freeze *f;
	unsigned int sz = *szp;

	spin_lock_irq(&vol->slow_lock);
	DMEMIT(" %u", vol->nr_freezes);
	list_for_each_entry(f, &vol->freezes, node)
		DMEMIT(" %llu:%llu:%llu:%s", f->id, f->hold.vext, f->hold.count,
		       f->drained ? CVOL_FREEZE_DRAINED : CVOL_FREEZE_DRAINING);
	spin_unlock_irq(&vol->slow_lock);
	*szp = sz;
}

static void cvol_status(struct dm_target *ti, status_type_t type,
			unsigned int status_flags, char *result,
			unsigned int maxlen)
{
	struct cvol_target *tc = ti->private;
	struct cvol_volume *vol = tc->vol;
	unsigned int i, sz = 0;
	u64 seq, lost;

	switch (type) {
	case STATUSTYPE_INFO:
		/* Lockless: status must not wait behind a draining map_set. */
		DMEMIT("%llu %llu/%llu ", READ_ONCE(vol->gen),
		       READ_ONCE(vol->nr_mapped), vol->nr_extents);
		for (i = 0; i < tc->nr_devs; i++)
			DMEMIT("%c", health_of(&tc->devs[i]));
		status_freezes(vol, result, maxlen, &sz);
		cvol_migrate_status(vol, result, maxlen, &sz);
		cvol_events_seq(vol, &seq, &lost);
		DMEMIT(" %llu %llu %s", seq, lost, cvol_lease_state(vol));
		break;
	case STATUSTYPE_TABLE:
		status_table(tc, result, maxlen, &sz);
		break;
	case STATUSTYPE_IMA:
		DMEMIT_TARGET_NAME_VERSION(ti->type);
		DMEMIT(",vol_uuid=%s,extent_sectors=%llu,nr_devs=%u", vol->uuid,
		       (u64)tc->extent_sectors, tc->nr_devs);
		for (i = 0; i < tc->nr_devs; i++)
			DMEMIT(",dev_%u=%s", i, tc->devs[i].dm_dev ?
			       tc->devs[i].dm_dev->name : "-");
		DMEMIT(";");
		break;
	}
}

/*--------------------------------------------------------------*/
/* Messages */

/* map_get <vext> <count> */
static int msg_map_get(struct cvol_target *tc, unsigned int argc, char **argv,
		       char *result, unsigned int maxlen)
{
	struct cvol_volume *vol = tc->vol;
	struct emit_ctx c = { .result = result, .maxlen = maxlen };
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
	walk_runs(vol, vext, count, emit_run, &c);
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

	if (argc != 2 || cvol_parse_u64(argv[1], &epoch))
		return -EINVAL;
	return cvol_unfence(tc->vol, epoch);
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
	DMEMIT("%u %u", regions, READ_ONCE(tc->vol->max_migs));
	return 1;
}

typedef int (*msg_fn)(struct cvol_target *tc, unsigned int argc, char **argv,
		      char *result, unsigned int maxlen);

/* Messages of the cluster protocol take an optional last "epoch=<n>". */
static const struct {
	const char *verb;
	msg_fn fn;
	const char *usage;
	bool epoch;
} messages[] = {
	{ CVOL_MSG_MAP_SET, msg_map_set, NULL, true },
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
	  "<vext> <dst_dev> <dst_pext> [follow] [epoch=<n>]", true },
	{ CVOL_MSG_MIGRATE_COMMIT, msg_migrate_commit, "<vext> [epoch=<n>]",
	  true },
	{ CVOL_MSG_MIGRATE_ABORT, msg_migrate_abort, "<vext> [epoch=<n>]",
	  true },
	{ CVOL_MSG_MIGRATE_DIRTY, msg_migrate_dirty, "<vext> [clear]" },
	{ CVOL_MSG_MIGRATE_THROTTLE, msg_migrate_throttle,
	  "<regions_in_flight> [<max_migrations>]" },
};

/*
 * Takes a last "epoch=<n>" word off the message: the volume refuses a
 * message sent under an older cluster epoch than one it has seen.
 */
static int take_epoch(struct cvol_volume *vol, unsigned int *argc,
		      char **argv)
{
	const size_t n = strlen(CVOL_ARG_EPOCH);
	char *w = argv[*argc - 1];
	u64 epoch;

	if (*argc < 2 || strncmp(w, CVOL_ARG_EPOCH, n))
		return 0;
	if (cvol_parse_u64(w + n, &epoch)) {
		DMWARN_LIMIT("%s: %s: invalid '%s'", vol->uuid, argv[0], w);
		return -EINVAL;
	}
	(*argc)--;
	return cvol_epoch_seen(vol, epoch, argv[0]);
}

static int cvol_message(struct dm_target *ti, unsigned int argc, char **argv,
			char *result, unsigned int maxlen)
{
	struct cvol_target *tc = ti->private;
	unsigned int i, noio;
	int r;

	if (!argc)
		return -EINVAL;
	for (i = 0; i < ARRAY_SIZE(messages); i++) {
		if (strcmp(argv[0], messages[i].verb))
			continue;
		if (messages[i].epoch) {
			r = take_epoch(tc->vol, &argc, argv);
			if (r)
				return r;
		}
		/*
		 * Handlers allocate under ctl_lock, which resume waits for:
		 * reclaim must not write to a suspended device of ours.
		 */
		noio = memalloc_noio_save();
		r = messages[i].fn(tc, argc, argv, result, maxlen);
		memalloc_noio_restore(noio);
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
