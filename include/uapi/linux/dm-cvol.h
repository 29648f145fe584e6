/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * Copyright (C) 2026 The cvol authors.
 *
 * The ABI between dm-cvol.ko and userspace: limits, message verbs and
 * status characters of the "cvol" device-mapper target.  Table lines,
 * messages and responses are text (decimal numbers); docs/target.md
 * describes them in full.  Shared by the kernel and the C++ userspace.
 */
#ifndef _UAPI_LINUX_DM_CVOL_H
#define _UAPI_LINUX_DM_CVOL_H

#define CVOL_TARGET_NAME	"cvol"
#define CVOL_VERSION_MAJOR	1
#define CVOL_VERSION_MINOR	5
#define CVOL_VERSION_PATCH	0

/* Limits of the table line. */
#define CVOL_UUID_MAX		64		/* [A-Za-z0-9._-]{1,64} */
#define CVOL_MAX_DEVS		4096		/* device slots per volume */
#define CVOL_MAX_EXTENTS	(1ULL << 27)	/* extents per volume: a 1 GiB map */
#define CVOL_MIN_EXTENT_SECTORS	8		/* and a multiple of this */
#define CVOL_MAX_EXTENT_SECTORS	(1ULL << 30)
#define CVOL_MAX_PEXT		((1ULL << 40) - 1)

/* Feature defaults. */
#define CVOL_DEFAULT_REGION_SECTORS	2048
#define CVOL_DEFAULT_FREEZE_TIMEOUT_MS	30000
#define CVOL_MAX_FREEZE_TIMEOUT_MS	3600000
#define CVOL_MAX_FREEZES		1024		/* concurrent freezes per volume */
#define CVOL_MAX_LEASE_MS		3600000
/* freeze_wait runs under dm's table lock: longer waits loop in userspace. */
#define CVOL_MAX_FREEZE_WAIT_MS		10000
#define CVOL_EVENT_RING		256		/* events buffered per volume */
#define CVOL_MAX_STATS_ENTRIES	(1U << 20)	/* per-extent counters per volume */
#define CVOL_MAX_MIGRATIONS	64		/* hard cap of concurrent migrations */
#define CVOL_DEFAULT_MIGRATIONS	8		/* default cap (migrate_throttle) */
#define CVOL_DEFAULT_COPY_REGIONS	16	/* regions in flight per volume */
#define CVOL_MAX_COPY_REGIONS	1024
#define CVOL_MIGRATE_MAX_RETRIES	10	/* consecutive copy errors */
#define CVOL_MAX_REGIONS	(1U << 20)	/* regions per migrating extent */

/* Feature words of the table line. */
#define CVOL_FEAT_MAP_RUNS		"map_runs"
#define CVOL_FEAT_MAP_GEN		"map_gen"
#define CVOL_FEAT_REGION_SECTORS	"region_sectors"
#define CVOL_FEAT_FREEZE_TIMEOUT_MS	"freeze_timeout_ms"
#define CVOL_FEAT_UNMAPPED_ZERO		"unmapped_zero"
/* replace_slot <slot>: this reload may put another device behind a slot in use (since 1.4) */
#define CVOL_FEAT_REPLACE_SLOT		"replace_slot"
/* fenced: a volume this table creates starts fenced; no effect on a reload (since 1.5) */
#define CVOL_FEAT_FENCED		"fenced"

/* Message verbs (dmsetup message <dev> 0 <verb> ...). */
#define CVOL_MSG_MAP_SET	"map_set"
#define CVOL_MSG_MAP_GET	"map_get"
#define CVOL_MSG_FREEZE		"freeze"	/* <vext> <count> [timeout_ms] -> <id> */
#define CVOL_MSG_FREEZE_WAIT	"freeze_wait"	/* <id> <timeout_ms> -> drained */
#define CVOL_MSG_THAW		"thaw"		/* <id> */
#define CVOL_MSG_STATS		"stats"		/* <vext> <count> [clear] */
#define CVOL_MSG_DEV_STATS	"dev_stats"	/* [clear] */
#define CVOL_MSG_LEASE		"lease"		/* <ms> [hold|error]; 0 disarms */
#define CVOL_MSG_FENCE		"fence"
#define CVOL_MSG_UNFENCE	"unfence"	/* <epoch> */
#define CVOL_MSG_EVENTS_SEQ	"events_seq"	/* -> <seq> <lost> */
/* <vext> <dst_dev> <dst_pext> [follow] */
#define CVOL_MSG_MIGRATE_START	"migrate_start"
#define CVOL_MSG_MIGRATE_COMMIT	"migrate_commit"	/* <vext> -> <gen> */
#define CVOL_MSG_MIGRATE_ABORT	"migrate_abort"	/* <vext> */
/* <vext> [clear] -> <region_sectors> <nr_regions> [<r0>:<count>]... */
#define CVOL_MSG_MIGRATE_DIRTY	"migrate_dirty"
/* <vext> <r0>:<count>...: copy these regions again, here (since 1.5) */
#define CVOL_MSG_MIGRATE_RECOPY	"migrate_recopy"
/* <regions_in_flight> [<max_migrations>] -> <regions> <migrations> */
#define CVOL_MSG_MIGRATE_THROTTLE	"migrate_throttle"

#define CVOL_ARG_CLEAR		"clear"
/*
 * epoch=<n>: an optional last word of map_set, freeze, thaw, migrate_start,
 * migrate_commit, migrate_abort, migrate_dirty (since 1.4) and
 * migrate_recopy (since 1.5).  Refused with ESTALE if an
 * epoch newer than <n> was seen (by unfence or another message).
 */
#define CVOL_ARG_EPOCH		"epoch="
#define CVOL_MAX_EPOCH		((1ULL << 48) - 1)	/* a typo must not lock a volume out */
/* migrate_start: another host copies; dual-write only (since 1.3) */
#define CVOL_ARG_FOLLOW		"follow"
#define CVOL_LEASE_HOLD		"hold"		/* fenced I/O is held (default) */
#define CVOL_LEASE_ERROR	"error"		/* fenced I/O fails */

/* Words of the INFO status. */
#define CVOL_FREEZE_DRAINING	"draining"
#define CVOL_FREEZE_DRAINED	"drained"
#define CVOL_LEASE_STATE_NONE	"none"
#define CVOL_LEASE_STATE_ARMED	"armed"
#define CVOL_LEASE_STATE_FENCED	"fenced"
/* Migration states: <vext>:<state>:<copied>/<regions>:<errors>. */
#define CVOL_MIG_STATE_START	"start"		/* draining I/O from before it */
#define CVOL_MIG_STATE_COPY	"copy"		/* copying, writes dual-written */
#define CVOL_MIG_STATE_READY	"ready"		/* all copied, dst flushed */
#define CVOL_MIG_STATE_FAILED	"failed"	/* ending: source authoritative */
#define CVOL_MIG_STATE_ABORT	"abort"		/* ending: migrate_abort */

/* One health character per device slot in the INFO status. */
#define CVOL_HEALTH_ALIVE	'A'
#define CVOL_HEALTH_ERRORS	'D'
#define CVOL_HEALTH_DST_ERRORS	'W'
#define CVOL_HEALTH_EMPTY	'-'

/*
 * Events: generic netlink family CVOL_GENL_NAME, multicast group
 * CVOL_GENL_EVENTS_GROUP, in the initial network namespace only; joining
 * the group takes CAP_SYS_ADMIN (since 1.4).  Each event is one
 * CVOL_CMD_EVENT message; attributes that do not apply are left out.
 * Sequence numbers are per volume and have no gaps unless events were
 * lost (CVOL_ATTR_LOST counts them; resynchronise from the status).
 */
#define CVOL_GENL_NAME		"cvol"
#define CVOL_GENL_VERSION	1
#define CVOL_GENL_EVENTS_GROUP	"events"
/* Fence reasons: the value of CVOL_EV_FENCED (since 1.4). */
#define CVOL_FENCE_BY_MESSAGE	0
#define CVOL_FENCE_BY_SUSPEND	1	/* a normal suspend broke a freeze */

enum cvol_genl_cmd {
	CVOL_CMD_UNSPEC,
	CVOL_CMD_EVENT,
	__CVOL_CMD_MAX,
};

enum cvol_genl_attr {
	CVOL_ATTR_UNSPEC,
	CVOL_ATTR_PAD,
	CVOL_ATTR_VOL_UUID,	/* string */
	CVOL_ATTR_DM_NAME,	/* string: the dm device's name */
	CVOL_ATTR_DM_DEV,	/* u32: the dm device, new_encode_dev() */
	CVOL_ATTR_SEQ,		/* u64: per-volume event sequence, from 1 */
	CVOL_ATTR_TYPE,		/* u32: enum cvol_event_type */
	CVOL_ATTR_TIME_NS,	/* u64: CLOCK_REALTIME when raised */
	CVOL_ATTR_ID,		/* u64: freeze id */
	CVOL_ATTR_VEXT,		/* u64 */
	CVOL_ATTR_COUNT,	/* u64: extents */
	CVOL_ATTR_DEV_SLOT,	/* u32: device slot */
	CVOL_ATTR_VALUE,	/* u64: type-specific (see below) */
	CVOL_ATTR_LOST,		/* u64: events lost so far on this volume */
	__CVOL_ATTR_MAX,
};
#define CVOL_ATTR_MAX (__CVOL_ATTR_MAX - 1)

enum cvol_event_type {
	CVOL_EV_UNSPEC,
	CVOL_EV_FREEZE_DRAINED,	/* id vext count; value: ms from freeze */
	CVOL_EV_FREEZE_TIMEOUT,	/* id vext count: thawed itself */
	CVOL_EV_FREEZE_BROKEN,	/* id vext count: thawed by a dm suspend */
	CVOL_EV_LEASE_EXPIRED,	/* value: the lease in ms; the volume fenced */
	CVOL_EV_FENCED,		/* value: CVOL_FENCE_BY_* */
	CVOL_EV_UNFENCED,	/* value: the epoch */
	CVOL_EV_DEV_ERROR,	/* dev_slot; value: errors so far */
	CVOL_EV_MAP_CHANGED,	/* value: the new map generation */
	CVOL_EV_MIGRATE_READY,	/* vext dev_slot (dst); value: dst pext */
	CVOL_EV_MIGRATE_DONE,	/* vext dev_slot (old src); value: old pext, free now */
	CVOL_EV_MIGRATE_FAILED,	/* vext dev_slot (dst); value: copy errors */
	CVOL_EV_DST_WRITE_ERROR,	/* vext dev_slot (dst); value: first region */
	CVOL_EV_HELD_FAILED,	/* value: held bios failed by a dm suspend */
	CVOL_EV_MIGRATE_STARTED,	/* vext dev_slot (dst); value: regions */
	CVOL_EV_MIGRATE_ABORTED,	/* vext dev_slot (dst); value: copied regions */
	/* I/O and copies in flight when fenced have ended; value: ms (1.4) */
	CVOL_EV_FENCE_DRAINED,
	__CVOL_EV_MAX,
};

#endif /* _UAPI_LINUX_DM_CVOL_H */
