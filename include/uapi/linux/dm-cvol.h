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
#define CVOL_VERSION_MINOR	0
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

/* Feature words of the table line. */
#define CVOL_FEAT_MAP_RUNS		"map_runs"
#define CVOL_FEAT_MAP_GEN		"map_gen"
#define CVOL_FEAT_REGION_SECTORS	"region_sectors"
#define CVOL_FEAT_FREEZE_TIMEOUT_MS	"freeze_timeout_ms"
#define CVOL_FEAT_UNMAPPED_ZERO		"unmapped_zero"

/* Message verbs (dmsetup message <dev> 0 <verb> ...). */
#define CVOL_MSG_MAP_SET	"map_set"
#define CVOL_MSG_MAP_GET	"map_get"

/* One health character per device slot in the INFO status. */
#define CVOL_HEALTH_ALIVE	'A'
#define CVOL_HEALTH_ERRORS	'D'
#define CVOL_HEALTH_DST_ERRORS	'W'
#define CVOL_HEALTH_EMPTY	'-'

#endif /* _UAPI_LINUX_DM_CVOL_H */
