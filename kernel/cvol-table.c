// SPDX-License-Identifier: GPL-2.0
/*
 * Copyright (C) 2026 The cvol authors.
 *
 * The table line: the constructor (devices, features, the initial map or
 * the check of a reload against the live volume), the destructor, and the
 * status a table prints (INFO, TABLE, IMA).  See docs/target.md.
 */
#include "cvol.h"

#include <linux/blkdev.h>
#include <linux/ctype.h>
#include <linux/gcd.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>

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
	bool have_runs, have_gen, fenced;
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
		if (!strcmp(w, CVOL_FEAT_FENCED)) {
			if (f->fenced)
				goto dup;
			f->fenced = true;
			tc->fenced = true;
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
int cvol_table_check_live(struct cvol_target *tc, struct cvol_volume *vol,
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
			r = cvol_table_check_live(tc, vol, error);
	}
	mutex_unlock(&vol->ctl_lock);
	memalloc_noio_restore(noio);
	return r;
}

/*
 * <vol_uuid> <extent_sectors> <#devs> (<dev>|- <offset>)...
 *	[<#feature_args> <feature>...]
 */
int cvol_ctr(struct dm_target *ti, unsigned int argc, char **argv)
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
					 f.have_gen ? f.gen : 0, f.fenced,
					 &ti->error);
		if (IS_ERR(vol)) {
			r = PTR_ERR(vol);
			goto bad;
		}
		/* Its map uses these devices, whatever becomes of this table. */
		mutex_lock(&vol->ctl_lock);
		r = cvol_volume_record_slots(vol, tc);
		mutex_unlock(&vol->ctl_lock);
		if (r) {
			ti->error = "Cannot allocate the record of its devices";
			ent = NULL;
			cvol_volume_put(vol);
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

void cvol_dtr(struct dm_target *ti)
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
		  tc->unmapped_zero + tc->fenced;
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
	if (tc->fenced)
		DMEMIT(" %s", CVOL_FEAT_FENCED);
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
	DMEMIT(" %u", vol->freezes.nr);
	list_for_each_entry(f, &vol->freezes.list, node)
		DMEMIT(" %llu:%llu:%llu:%s", f->id, f->hold.vext, f->hold.count,
		       f->drained ? CVOL_FREEZE_DRAINED : CVOL_FREEZE_DRAINING);
	spin_unlock_irq(&vol->slow_lock);
	*szp = sz;
}

void cvol_status(struct dm_target *ti, status_type_t type,
		 unsigned int status_flags, char *result, unsigned int maxlen)
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

/* The runs of [vext, vext+count) as map_get prints them.  ctl_lock. */
void cvol_emit_runs(struct cvol_volume *vol, u64 vext, u64 count,
		    char *result, unsigned int maxlen)
{
	struct emit_ctx c = { .result = result, .maxlen = maxlen };

	walk_runs(vol, vext, count, emit_run, &c);
}
