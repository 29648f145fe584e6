/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * Copyright (C) 2026 The cvol authors.
 *
 * The on-disk label of a cvol physical volume (pv).  It is the first 512
 * bytes of the device, written as one 4 KiB block (label + zeroes); the
 * rest of the first 1 MiB is reserved, and the data area (the extents)
 * starts at data_offset.  docs/pv-label.md gives the layout, the rules and
 * the reasons.
 *
 * Every number is little-endian.  The crc32c (Castagnoli) is computed over
 * the 512 bytes with the crc field zero, and stored in the last 4 bytes.
 * Every later version keeps magic, version and header_size where they are
 * and the crc in the last 4 bytes of header_size bytes, so that a reader
 * can tell a newer label from a damaged one.
 */
#ifndef _UAPI_LINUX_DM_CVOL_LABEL_H
#define _UAPI_LINUX_DM_CVOL_LABEL_H

#include <linux/types.h>

/*
 * 0x89 first: not ASCII, not zero, not an x86 jump (FAT/NTFS boot
 * sectors), and unlike "XFSB", "LUKS\xba\xbe" or LVM's "LABELONE".
 * The last byte is a newline so that "hexdump -C" shows ".CVOLPV.".
 */
#define CVOL_LABEL_MAGIC	"\x89" "CVOLPV" "\n"	/* 8 bytes, no NUL */
#define CVOL_LABEL_MAGIC_LEN	8
#define CVOL_LABEL_VERSION	1

#define CVOL_LABEL_OFFSET	0	/* byte offset on the device */
#define CVOL_LABEL_SIZE		512	/* bytes covered by the crc */
#define CVOL_LABEL_MAX_SIZE	4096	/* header_size of any version */
#define CVOL_LABEL_BLOCK_SIZE	4096	/* written as one block, zero-padded */

/* Sectors of 512 bytes. */
#define CVOL_LABEL_MIN_DATA_OFFSET	8	/* after the label block */
#define CVOL_LABEL_DEFAULT_DATA_OFFSET	2048	/* 1 MiB: the rest is reserved */

#define CVOL_LABEL_NAME_LEN	64	/* NUL-padded, at most 63 bytes */

/*
 * Byte 446 (the first partition entry's boot indicator in an MBR) is
 * neither 0 nor 0x80: if the crc's last two bytes happen to be 0x55 0xaa,
 * the kernel and blkid still do not take the label for a DOS partition
 * table.
 */
#define CVOL_LABEL_MBR_GUARD_OFFSET	446
#define CVOL_LABEL_MBR_GUARD		0xc5

/* Flags: features a reader must understand.  Version 1 defines none. */
#define CVOL_LABEL_FLAGS_KNOWN	0U

struct cvol_pv_label {
	__u8	magic[8];		/*   0: CVOL_LABEL_MAGIC */
	__le32	version;		/*   8: CVOL_LABEL_VERSION */
	__le32	header_size;		/*  12: CVOL_LABEL_SIZE */
	__le32	flags;			/*  16: none known yet */
	__le32	reserved0;		/*  20: zero */
	__u8	pv_uuid[16];		/*  24: never all zero */
	__u8	pool_uuid[16];		/*  40: all zero: in no pool */
	__le64	extent_sectors;		/*  56: multiple of 8, not zero */
	__le64	data_offset;		/*  64: sectors, multiple of 8, >= 8 */
	__le64	data_sectors;		/*  72: whole extents */
	__le64	device_sectors;		/*  80: device size when labelled */
	__le64	ctime_ns;		/*  88: CLOCK_REALTIME when labelled */
	char	name[CVOL_LABEL_NAME_LEN];	/*  96: NUL-padded */
	__u8	reserved1[286];		/* 160: zero */
	__u8	mbr_guard;		/* 446: CVOL_LABEL_MBR_GUARD */
	__u8	reserved2[61];		/* 447: zero */
	__le32	crc32c;			/* 508: over 512 bytes, this field 0 */
};

#if defined(__cplusplus)
static_assert(sizeof(struct cvol_pv_label) == CVOL_LABEL_SIZE,
	      "struct cvol_pv_label must be 512 bytes");
#elif defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L
_Static_assert(sizeof(struct cvol_pv_label) == CVOL_LABEL_SIZE,
	       "struct cvol_pv_label must be 512 bytes");
#endif

#endif /* _UAPI_LINUX_DM_CVOL_LABEL_H */
