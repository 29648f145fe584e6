/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Copyright (C) 2026 The cvol authors.
 *
 * cvol: clustered virtual volumes.  Internal interfaces shared by the files
 * of dm-cvol.ko.  The user-visible formats are in Documentation-style prose
 * in docs/target.md; the ABI constants are in include/uapi/linux/dm-cvol.h.
 */
#ifndef DM_CVOL_H
#define DM_CVOL_H

#include <linux/bio.h>
#include <linux/device-mapper.h>
#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/percpu.h>
#include <linux/percpu-refcount.h>
#include <linux/sched.h>
#include <linux/spinlock.h>
#include <linux/timekeeping.h>
#include <linux/wait.h>
#include <linux/workqueue.h>

#include <uapi/linux/dm-cvol.h>

#define DM_MSG_PREFIX "cvol"

/*--------------------------------------------------------------*/
/*
 * Map entries
 *
 * One 64-bit word per virtual extent, read on the hot path with a single
 * READ_ONCE so that the device, the physical extent and the state bits are
 * always seen together.  Any state bit sends the bio to the slow path.
 */
#define CVOL_E_UNMAPPED		BIT_ULL(63)
#define CVOL_E_FROZEN		BIT_ULL(62)
#define CVOL_E_MIGRATING	BIT_ULL(61)
#define CVOL_E_SPECIAL		(CVOL_E_UNMAPPED | CVOL_E_FROZEN | \
				 CVOL_E_MIGRATING)
/* A migrating entry names its migration: vol->migrations.slot[slot]. */
#define CVOL_E_MIG_SHIFT	52
#define CVOL_E_MIG_MASK		GENMASK_ULL(57, CVOL_E_MIG_SHIFT)
#define CVOL_E_STATE		(CVOL_E_FROZEN | CVOL_E_MIGRATING | \
				 CVOL_E_MIG_MASK)
#define CVOL_E_DEV_SHIFT	40
#define CVOL_E_DEV_MASK		(CVOL_MAX_DEVS - 1)
#define CVOL_E_PEXT_MASK	GENMASK_ULL(CVOL_E_DEV_SHIFT - 1, 0)

static inline u64 cvol_entry(unsigned int dev, u64 pext)
{
	return ((u64)dev << CVOL_E_DEV_SHIFT) | pext;
}

static inline unsigned int cvol_entry_dev(u64 e)
{
	return (e >> CVOL_E_DEV_SHIFT) & CVOL_E_DEV_MASK;
}

static inline u64 cvol_entry_pext(u64 e)
{
	return e & CVOL_E_PEXT_MASK;
}

/* The mapping part of an entry, without transient state. */
static inline u64 cvol_entry_location(u64 e)
{
	return e & ~CVOL_E_STATE;
}

static inline unsigned int cvol_entry_mig(u64 e)
{
	return (e & CVOL_E_MIG_MASK) >> CVOL_E_MIG_SHIFT;
}

/*--------------------------------------------------------------*/
/*
 * Epochs
 *
 * Every mapped bio holds a reference on the epoch that was current when
 * it looked up its entry.  Changing a live entry publishes a new epoch and
 * kills the old one: once the old epoch's references are gone, no bio that
 * could have seen the old entry is still in flight.  The hot path pays one
 * per-CPU increment; nothing is shared between CPUs until an epoch dies.
 */
struct cvol_volume;

struct cvol_epoch {
	struct percpu_ref io;
	/* The map, reached through the epoch: the entry load depends on it. */
	u64 *ent;
	struct cvol_volume *vol;
	/*
	 * Epochs are numbered in publication order.  Once killed, an epoch
	 * waits on vol->epochs.killed until it and every older one have drained;
	 * vol->epochs.drained_seq then tells a freeze whose drain it waited for.
	 */
	u64 seq;
	bool released;			/* under slow_lock */
	struct list_head node;		/* vol->epochs.killed */
	struct work_struct free_work;
};

/*--------------------------------------------------------------*/
/* Holds: a range of extents whose new I/O is parked until thawed. */
struct cvol_hold {
	struct list_head node;
	u64 vext;
	u64 count;
};

/*
 * A freeze: a hold made by the freeze message, drained asynchronously,
 * ended by thaw, by its timeout or by a dm suspend.
 */
struct cvol_freeze {
	struct cvol_hold hold;
	struct list_head node;		/* vol->freezes.list, under ctl_lock + slow_lock */
	struct cvol_volume *vol;
	u64 id;
	u64 ticket;			/* drained once drained_seq reaches it */
	bool drained;			/* under slow_lock */
	u64 start_ns;
	struct delayed_work timeout_work;
};

/* One buffered event; see enum cvol_event_type for the fields used. */
struct cvol_event_rec {
	u64 seq;
	u64 time_ns;
	u64 id;
	u64 vext;
	u64 count;
	u64 value;
	u32 type;
	u32 slot;
};

/*
 * Load counters of one extent (or of 2^stats_shift extents on very large
 * volumes).  Relaxed atomics: the hot path adds, a stats message reads a
 * snapshot and subtracts exactly what it printed, so nothing counted
 * between the two is lost.
 */
struct cvol_xstats {
	atomic_t ios[2];		/* indexed by op_is_write() */
	atomic_t sectors[2];
	atomic_t seq_ios;		/* started where the previous one ended */
	atomic_t next_off;		/* offset in the extent a sequential bio has */
};

/* Per-CPU load counters of one device slot. */
struct cvol_dev_stats {
	u64 ios[2];
	u64 sectors[2];
	u64 ns[2];			/* sum of completion latencies */
	u64 seq_ios;
};

/*--------------------------------------------------------------*/
/*
 * An online migration of one extent (cvol-migrate.c).  Regions of
 * region_sectors are copied by kcopyd; writes to copied regions go to both
 * places.  The per-region state is under @lock, which is irq-safe and is
 * never held while taking slow_lock.
 */
enum cvol_mig_state {
	CVOL_MIG_START,			/* draining I/O from before the start */
	CVOL_MIG_COPY,
	CVOL_MIG_READY,			/* all copied, destination flushed */
	CVOL_MIG_FAILED,		/* ending: too many copy errors */
	CVOL_MIG_ABORT,			/* ending: migrate_abort */
};

struct cvol_migration {
	struct cvol_volume *vol;
	unsigned int slot;		/* in vol->migrations.slot and in the entry */
	u64 vext;
	u64 src;			/* the entry's location */
	unsigned int dst_dev;
	u64 dst_pext;
	sector_t region_sectors;
	u32 nr_regions;
	u64 ticket;			/* START and ending: epoch to drain */
	bool flipped;			/* ending: entry restored, epoch flipped */
	/*
	 * Another host copies: every region counts as copied from the start
	 * (every write is dual-written) and nothing is ever claimed, unless
	 * migrate_recopy asks this host to copy regions again.
	 */
	bool follow;
	/*
	 * migrate_recopy's regions are not all copied yet: the cluster holds
	 * I/O to the extent meanwhile, so its copies go before first copies.
	 */
	bool recopy;

	spinlock_t lock;
	enum cvol_mig_state state;
	unsigned long *copied;
	unsigned long *busy;		/* claimed by a copy: writes wait */
	unsigned long *written;		/* regions written since start/clear */
	u32 *pending;			/* writes in flight per region */
	u32 nr_copied;
	u32 cursor;			/* where the next claim looks first */
	u64 errors;			/* copy and destination-write errors */
	unsigned int failures;		/* consecutive copy errors */
	unsigned long retry_at;		/* jiffies: no copy before */
	struct list_head jobs;		/* claimed regions, issued or not */
	unsigned int issued;		/* jobs given to kcopyd */
	struct bio_list waiters;	/* writes to busy regions */
};

/*--------------------------------------------------------------*/
/*
 * The kernel lease and the fence (cvol-lease.c), under slow_lock.  The
 * deadline is on the boottime clock: a host that was suspended or paused
 * past it must not write when it wakes up.
 */
struct cvol_lease {
	unsigned int ms;		/* 0: not armed */
	u64 deadline_ns;		/* boottime */
	bool expired;			/* ran out; renew or disarm to unfence */
	bool fence_error;		/* fail fenced I/O instead of holding it */
	u64 epoch;			/* highest cluster epoch seen */
	struct delayed_work work;	/* fences when the deadline passes */
	/* The drain of what was in flight when the volume fenced. */
	u64 fenced_ns;			/* boottime of the fence */
	u64 fence_seq;			/* fences so far */
	u64 drain_ticket;		/* epoch to drain; 0: not flipped yet */
	bool draining;			/* FENCE_DRAINED not sent yet */
	struct delayed_work drain_work;
};

/* Which device a slot had: a reload may not change it under extents. */
struct cvol_slot_id {
	dev_t dev;			/* 0: empty slot */
	sector_t offset;
};

/*--------------------------------------------------------------*/
/* The concerns of a volume, one struct each. */

/* Epochs (cvol-epoch.c), under slow_lock. */
struct cvol_epochs {
	struct list_head killed;	/* killed epochs, oldest first */
	u64 drained_seq;		/* epochs up to this one have drained */
	atomic_t undrained;		/* killed epochs not yet freed */
	u64 waits_gen;			/* suspends begun: waits end at each */
};

/* Holds and parked bios (cvol-hold.c). */
struct cvol_holds {
	struct list_head list;		/* struct cvol_hold, under ctl_lock */
	/* The rest under slow_lock. */
	struct bio_list held;		/* parked bios, in arrival order */
	struct bio_list released;	/* thawed bios waiting to be remapped */
	bool requeue;			/* noflush suspend: push held I/O back */
	bool suspending;		/* normal suspend: fail fenced I/O */
	struct work_struct release_work;	/* cvol-io.c remaps them */
};

/* Freezes (cvol-freeze.c): the list changes under ctl_lock and slow_lock. */
struct cvol_freezes {
	struct list_head list;		/* struct cvol_freeze */
	unsigned int nr;
	u64 last_id;
};

/* Events (cvol-events.c): a ring drained to netlink by work. */
struct cvol_events {
	spinlock_t lock;
	struct cvol_event_rec *ring;	/* CVOL_EVENT_RING entries */
	unsigned int head, tail;	/* free-running indices */
	u64 seq;
	u64 lost;
	struct work_struct work;
};

/* Per-extent load counters (cvol-stats.c). */
struct cvol_load {
	struct cvol_xstats *xstats;
	unsigned int shift;		/* 2^shift extents per counter */
	u64 nr;
};

/*
 * Migrations (cvol-migrate.c): slot[] and nr change under ctl_lock and
 * slow_lock; map() finds a migration through the slot in its entry.
 */
struct cvol_migrations {
	struct cvol_migration *slot[CVOL_MAX_MIGRATIONS];
	unsigned int nr;
	unsigned int max;		/* under ctl_lock */
	unsigned int copy_limit;	/* regions claimed at once */
	atomic_t copy_regions;		/* regions claimed now */
	atomic_t copies_in_flight;	/* kcopyd jobs and flushes */
	bool copy_stopped;		/* suspended, or never resumed */
	struct dm_kcopyd_client *kc;	/* made by the first migrate_start */
	struct bio_set dual_bs;		/* destination clones of dual-writes */
	struct delayed_work work;
};

/*--------------------------------------------------------------*/
/*
 * The volume: runtime state that outlives table instances.  Found in a
 * module-global registry by uuid, refcounted by the table instances that
 * name it, so a reload keeps the map, the holds and the epoch.
 */
struct cvol_volume {
	struct list_head node;		/* registry list, under registry lock */
	refcount_t ref;
	char uuid[CVOL_UUID_MAX + 1];
	struct mapped_device *md;	/* a uuid serves exactly one dm device */

	sector_t len;
	sector_t extent_sectors;
	int extent_shift;		/* -1 if extent_sectors is not 2^n */
	u64 nr_extents;

	/* The map.  ctl_lock serialises every change of it and of holds. */
	struct mutex ctl_lock;
	u64 gen;			/* map generation, under ctl_lock */
	u64 nr_mapped;			/* under ctl_lock */
	u64 *ent;			/* kvmalloc'ed, nr_extents entries */
	/* The devices of the last table that resumed, under ctl_lock. */
	struct cvol_slot_id *slot_ids;
	unsigned int nr_slot_ids;

	/* Read together on the hot path. */
	struct cvol_epoch __rcu *epoch;
	/*
	 * A bio mapped at or after this boottime goes to the slow path: 0
	 * while fenced, the lease's deadline while it is armed, U64_MAX
	 * otherwise.  Written under slow_lock.
	 */
	u64 io_deadline_ns;
	bool fenced;			/* written under slow_lock */

	/* Irq-safe: taken by map and by completion handlers. */
	spinlock_t slow_lock;
	wait_queue_head_t drain_wq;	/* drains, freezes, the destructor */
	/* Set by the volume: what the epoch layer calls when epochs drain. */
	void (*drained_locked)(struct cvol_volume *vol);

	struct cvol_epochs epochs;
	struct cvol_holds holds;
	struct cvol_freezes freezes;
	struct cvol_lease lease;
	struct cvol_events events;
	struct cvol_load load;
	struct cvol_migrations migrations;

	/* The live table instance, for dm events and the copier. */
	struct mutex bind_lock;
	struct dm_target *bound_ti;

	struct workqueue_struct *wq;
};

/*--------------------------------------------------------------*/
/* A table instance. */
struct cvol_dev {
	struct dm_dev *dm_dev;		/* NULL for an empty slot ("-") */
	struct block_device *bdev;	/* the hot path's copy of dm_dev->bdev */
	sector_t offset;		/* start of the data area */
	u64 nr_pext;			/* whole extents in the data area */
	atomic_t errors;
	atomic_t dst_errors;		/* failed migration writes to it */
};

struct cvol_target {
	struct dm_target *ti;
	struct cvol_volume *vol;

	sector_t extent_sectors;
	unsigned int freeze_timeout_ms;
	sector_t region_sectors;
	bool region_sectors_set;
	bool unmapped_zero;
	bool fenced;			/* "fenced": a volume it creates starts fenced */

	unsigned int nr_devs;
	unsigned int nr_present;
	unsigned int *flush_devs;	/* flush bio n goes to slot flush_devs[n] */
	unsigned long *replace;		/* replace_slot: may change device */
	struct cvol_dev_stats __percpu *dstats;	/* nr_devs per CPU */
	struct cvol_dev devs[];
};

/* Per-bio data (ti->per_io_data_size). */
struct cvol_bio {
	struct cvol_epoch *ep;		/* reference held until end_io, or NULL */
	struct cvol_target *tc;		/* the instance to remap a held bio with */
	u64 vext;
	u64 start_ns;			/* when remapped, for the latency sum */
	int dev;			/* slot the bio was sent to, or -1 */
	/* A write to a migrating extent: regions r0..r1 count it pending. */
	struct cvol_migration *mig;
	u32 r0, r1;
};

/*
 * Declarations, from the bottom layer up: a file calls only functions
 * declared before its own block (parse, events and stats serve all).
 */
/*--------------------------------------------------------------*/
/* cvol-parse.c: strict decimal parsing shared by ctr and messages. */
/* A run of regions of a migrating extent: "<r0>:<count>". */
struct cvol_region_run {
	unsigned int r0;
	unsigned int count;
};

struct cvol_item {
	u64 vext;
	u64 count;
	u64 pext;
	unsigned int dev;
	bool unmap;			/* "-" device: make the extents unmapped */
};

int cvol_parse_u64(const char *s, u64 *v);
int cvol_parse_uint(const char *s, unsigned int *v);
int cvol_parse_region_run(const char *s, struct cvol_region_run *run);
int cvol_parse_item(const char *s, bool count_required, bool allow_unmap,
		    struct cvol_item *it);
int cvol_check_item(struct cvol_target *tc, u64 nr_extents,
		    const struct cvol_item *it, char **error);
int cvol_sort_and_check_overlap(struct cvol_item *items, unsigned int n);

/*--------------------------------------------------------------*/
/* cvol-events.c: the event ring and the generic netlink family. */
int cvol_events_init(void);
void cvol_events_exit(void);
void cvol_event(struct cvol_volume *vol, u32 type, u64 id, u64 vext,
		u64 count, u32 slot, u64 value);
void cvol_event_work(struct work_struct *ws);
void cvol_events_seq(struct cvol_volume *vol, u64 *seq, u64 *lost);

/*--------------------------------------------------------------*/
/* cvol-stats.c: load counters. */
int cvol_xstats_alloc(struct cvol_volume *vol);
int cvol_dev_stats_alloc(struct cvol_target *tc);
void cvol_dev_stats_free(struct cvol_target *tc);
void cvol_dev_stats_inherit(struct cvol_target *to, struct cvol_target *from);
int cvol_stats_msg(struct cvol_target *tc, u64 vext, u64 count, bool clear,
		   char *result, unsigned int maxlen);
int cvol_dev_stats_msg(struct cvol_target *tc, bool clear, char *result,
		       unsigned int maxlen);

/* Counts a bio remapped to @dev at @ext_off of @vext; the hot path. */
static inline void cvol_account(struct cvol_target *tc, struct cvol_bio *pb,
				struct bio *bio, u64 vext, sector_t ext_off,
				u64 now)
{
	struct cvol_volume *vol = tc->vol;
	struct cvol_xstats *xs = &vol->load.xstats[vext >> vol->load.shift];
	unsigned int rw = op_is_write(bio_op(bio));
	unsigned int sectors = bio_sectors(bio);
	bool seq = atomic_read(&xs->next_off) == (int)ext_off;

	atomic_set(&xs->next_off, ext_off + sectors);
	atomic_inc(&xs->ios[rw]);
	atomic_add(sectors, &xs->sectors[rw]);
	this_cpu_inc(tc->dstats[pb->dev].ios[rw]);
	this_cpu_add(tc->dstats[pb->dev].sectors[rw], sectors);
	if (seq) {
		atomic_inc(&xs->seq_ios);
		this_cpu_inc(tc->dstats[pb->dev].seq_ios);
	}
	pb->start_ns = now;
}

/* Long scans under ctl_lock (maps of up to 2^27 extents) let others run. */
static inline void cvol_scan_resched(u64 i)
{
	if (!(i & 0xffff))
		cond_resched();
}

/*--------------------------------------------------------------*/
/* cvol-epoch.c: epochs, the drain of I/O that saw an older state. */
struct cvol_epoch *cvol_epoch_alloc(struct cvol_volume *vol);
void cvol_epoch_free_unused(struct cvol_epoch *ep);
void cvol_epoch_retire_current(struct cvol_volume *vol);
u64 cvol_epoch_flip(struct cvol_volume *vol, struct cvol_epoch *next);
int cvol_wait_drained(struct cvol_volume *vol, u64 ticket,
		      unsigned int timeout_ms);
void cvol_epoch_cancel_waits(struct cvol_volume *vol);

/* For a wait that must end when a suspend begins: take, then test. */
static inline u64 cvol_epoch_waits_gen(struct cvol_volume *vol)
{
	return READ_ONCE(vol->epochs.waits_gen);
}

static inline bool cvol_epoch_waits_cancelled(struct cvol_volume *vol, u64 gen)
{
	return READ_ONCE(vol->epochs.waits_gen) != gen;
}

/*--------------------------------------------------------------*/
/* cvol-hold.c: holding and releasing bios on ranges. */
void cvol_hold_add(struct cvol_volume *vol, struct cvol_hold *h);
void cvol_hold_release(struct cvol_volume *vol, struct cvol_hold *holds,
		       unsigned int n);
enum cvol_park {
	CVOL_PARKED,			/* the bio is ours now */
	CVOL_MAP_AGAIN,			/* nothing blocks it any more */
	CVOL_REQUEUE,			/* noflush suspend: push it back */
	CVOL_KILL,			/* fail it */
};

int cvol_park_bio(struct cvol_target *tc, struct bio *bio, u64 vext);
void cvol_release_unblocked_locked(struct cvol_volume *vol);
void cvol_requeue_parked(struct cvol_volume *vol);
void cvol_hold_begin_suspend(struct cvol_volume *vol);
unsigned int cvol_fail_fenced(struct cvol_volume *vol);
struct bio *cvol_pop_released(struct cvol_volume *vol);

/*--------------------------------------------------------------*/
/* cvol-lease.c: the kernel lease and fencing. */
void cvol_lease_init(struct cvol_volume *vol);
void cvol_lease_init_fenced(struct cvol_volume *vol);
void cvol_lease_destroy(struct cvol_volume *vol);
int cvol_lease(struct cvol_volume *vol, unsigned int ms, bool fence_error);
void cvol_lease_expire_locked(struct cvol_volume *vol, u64 now);
void cvol_lease_check(struct cvol_volume *vol, u64 now);
void cvol_fence(struct cvol_volume *vol, u32 why, u64 value);
void cvol_fence_drained_locked(struct cvol_volume *vol);
int cvol_unfence(struct cvol_volume *vol, u64 epoch);
int cvol_epoch_check(struct cvol_volume *vol, u64 epoch, const char *what);
void cvol_epoch_raise(struct cvol_volume *vol, u64 epoch);
const char *cvol_lease_state(struct cvol_volume *vol);

/*--------------------------------------------------------------*/
/* cvol-freeze.c: the freeze, freeze_wait and thaw messages. */
int cvol_freeze(struct cvol_volume *vol, u64 vext, u64 count,
		unsigned int timeout_ms, u64 *id);
int cvol_freeze_wait(struct cvol_volume *vol, u64 id, unsigned int timeout_ms);
int cvol_thaw(struct cvol_volume *vol, u64 id);
void cvol_freezes_drained_locked(struct cvol_volume *vol);
bool cvol_range_drained(struct cvol_volume *vol, u64 vext, u64 count);
void cvol_freeze_break_all(struct cvol_volume *vol, u32 why);

/*--------------------------------------------------------------*/
/* cvol-map.c: the map and its changes. */
u64 *cvol_map_alloc(u64 nr_extents);
void cvol_map_free(u64 *ent);
bool cvol_range_migrating(struct cvol_volume *vol, u64 vext, u64 count);
int cvol_map_set(struct cvol_target *tc, u64 expect_gen,
		 struct cvol_item *items, unsigned int n, u64 *new_gen);

/*--------------------------------------------------------------*/
/* cvol-migrate.c: online migration of extents. */
int cvol_migrate_init(struct cvol_volume *vol);
void cvol_migrate_destroy(struct cvol_volume *vol);
int cvol_migrate_map(struct cvol_target *tc, struct bio *bio, u64 vext,
		     u64 e, sector_t ext_off);
void cvol_migrate_end_io(struct cvol_bio *pb);
int cvol_migrate_start(struct cvol_target *tc, u64 vext, unsigned int dst_dev,
		       u64 dst_pext, bool follow);
int cvol_migrate_dirty(struct cvol_target *tc, u64 vext, bool clear,
		       char *result, unsigned int maxlen);
int cvol_migrate_recopy(struct cvol_target *tc, u64 vext,
			const struct cvol_region_run *runs, unsigned int nr_runs);
int cvol_migrate_commit(struct cvol_target *tc, u64 vext, u64 *new_gen);
int cvol_migrate_abort(struct cvol_target *tc, u64 vext);
void cvol_migrate_throttle(struct cvol_volume *vol, unsigned int regions,
			   unsigned int migs);
void cvol_migrate_kick(struct cvol_volume *vol);
void cvol_migrate_stop(struct cvol_volume *vol);
void cvol_migrate_wait_copies(struct cvol_volume *vol);
void cvol_migrate_restart(struct cvol_volume *vol);
int cvol_migrate_check_devs(struct cvol_volume *vol, struct cvol_target *tc,
			    char **error);
void cvol_migrate_mark_slots(struct cvol_volume *vol, unsigned long *used,
			     unsigned int nr_devs);
void cvol_migrate_status(struct cvol_volume *vol, char *result,
			 unsigned int maxlen, unsigned int *szp);

/*--------------------------------------------------------------*/
/* cvol-volume.c: the registry. */
struct cvol_volume *cvol_volume_create(const char *uuid,
				       struct mapped_device *md,
				       sector_t len, sector_t extent_sectors,
				       u64 *ent, u64 gen, bool fenced,
				       char **error);
struct cvol_volume *cvol_volume_find(const char *uuid);
void cvol_volume_put(struct cvol_volume *vol);
int cvol_volume_check_devs(struct cvol_volume *vol, struct cvol_target *tc,
			   const u64 *ent, char **error);
int cvol_volume_check_slots(struct cvol_volume *vol, struct cvol_target *tc,
			    char **error);
int cvol_volume_record_slots(struct cvol_volume *vol, struct cvol_target *tc);
u64 cvol_map_count_mapped(const u64 *ent, u64 nr_extents);

/*--------------------------------------------------------------*/
/* cvol-io.c: the I/O path. */
int cvol_map(struct dm_target *ti, struct bio *bio);
int cvol_end_io(struct dm_target *ti, struct bio *bio, blk_status_t *error);
void cvol_release_work(struct work_struct *ws);

/*--------------------------------------------------------------*/
/* cvol-table.c: the table line and the status. */
int cvol_ctr(struct dm_target *ti, unsigned int argc, char **argv);
void cvol_dtr(struct dm_target *ti);
int cvol_table_check_live(struct cvol_target *tc, struct cvol_volume *vol,
			  char **error);
void cvol_status(struct dm_target *ti, status_type_t type,
		 unsigned int status_flags, char *result, unsigned int maxlen);
void cvol_emit_runs(struct cvol_volume *vol, u64 vext, u64 count,
		    char *result, unsigned int maxlen);

/*--------------------------------------------------------------*/
/* cvol-messages.c */
int cvol_message(struct dm_target *ti, unsigned int argc, char **argv,
		 char *result, unsigned int maxlen);

#endif
