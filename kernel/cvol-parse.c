// SPDX-License-Identifier: GPL-2.0
/*
 * Copyright (C) 2026 The cvol authors.
 *
 * Strict parsing of the numbers and map items of table lines and messages.
 * Everything is decimal; kstrtou64 is not used because it also accepts a
 * leading '+' and a trailing newline, which would make two spellings of
 * one table line.
 */
#include "cvol.h"

#include <linux/overflow.h>
#include <linux/sort.h>

int cvol_parse_u64(const char *s, u64 *v)
{
	u64 r = 0;

	if (!s || !*s)
		return -EINVAL;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		if (check_mul_overflow(r, 10ULL, &r) ||
		    check_add_overflow(r, (u64)(*s - '0'), &r))
			return -ERANGE;
	}
	*v = r;
	return 0;
}

int cvol_parse_uint(const char *s, unsigned int *v)
{
	u64 r;
	int err = cvol_parse_u64(s, &r);

	if (err)
		return err;
	if (r > UINT_MAX)
		return -ERANGE;
	*v = r;
	return 0;
}

/* Splits off the next ':'-separated field of @s; returns NULL at the end. */
static char *next_field(char **s)
{
	char *f = *s, *colon;

	if (!f)
		return NULL;
	colon = strchr(f, ':');
	if (colon) {
		*colon = '\0';
		*s = colon + 1;
	} else {
		*s = NULL;
	}
	return f;
}

/*
 * Parses "<vext>:<dev>:<pext>[:<count>]" (count optional unless
 * @count_required).  With @allow_unmap, <dev> may be "-" and <pext> must
 * then be 0.  Works on a copy: dm's argv is left intact for error messages.
 */
int cvol_parse_item(const char *s, bool count_required, bool allow_unmap,
		    struct cvol_item *it)
{
	char buf[96], *p = buf, *vext, *dev, *pext, *count;
	u64 d;

	if (strscpy(buf, s, sizeof(buf)) < 0)
		return -EINVAL;
	vext = next_field(&p);
	dev = next_field(&p);
	pext = next_field(&p);
	count = next_field(&p);
	if (!vext || !dev || !pext || p || (count_required && !count))
		return -EINVAL;

	if (cvol_parse_u64(vext, &it->vext) || cvol_parse_u64(pext, &it->pext))
		return -EINVAL;
	it->count = 1;
	if (count && (cvol_parse_u64(count, &it->count) || !it->count))
		return -EINVAL;

	it->unmap = allow_unmap && !strcmp(dev, "-");
	if (it->unmap) {
		it->dev = 0;
		return it->pext ? -EINVAL : 0;
	}
	if (cvol_parse_u64(dev, &d) || d >= CVOL_MAX_DEVS)
		return -EINVAL;
	it->dev = d;
	return 0;
}

/* Parses "<r0>:<count>", a run of regions; count >= 1.  Works on a copy. */
int cvol_parse_region_run(const char *s, struct cvol_region_run *run)
{
	char buf[32], *p = buf, *r0, *count;

	if (strscpy(buf, s, sizeof(buf)) < 0)
		return -EINVAL;
	r0 = next_field(&p);
	count = next_field(&p);
	if (!r0 || !count || p || cvol_parse_uint(r0, &run->r0) ||
	    cvol_parse_uint(count, &run->count) || !run->count)
		return -EINVAL;
	return 0;
}

/* Checks an item against the volume size and the instance's devices. */
int cvol_check_item(struct cvol_target *tc, u64 nr_extents,
		    const struct cvol_item *it, char **error)
{
	struct cvol_dev *d;

	if (it->vext >= nr_extents || it->count > nr_extents - it->vext) {
		*error = "Virtual extent out of range";
		return -ERANGE;
	}
	if (it->unmap)
		return 0;
	if (it->dev >= tc->nr_devs) {
		*error = "Device index out of range";
		return -ERANGE;
	}
	d = &tc->devs[it->dev];
	if (!d->dm_dev) {
		*error = "Device slot is empty";
		return -ENODEV;
	}
	if (it->pext >= d->nr_pext || it->count > d->nr_pext - it->pext) {
		*error = "Physical extent out of range";
		return -ERANGE;
	}
	return 0;
}

static int cmp_item(const void *a, const void *b)
{
	const struct cvol_item *x = a, *y = b;

	if (x->vext != y->vext)
		return x->vext < y->vext ? -1 : 1;
	return 0;
}

/* Sorts items by virtual extent; -EINVAL if two of them overlap. */
int cvol_sort_and_check_overlap(struct cvol_item *items, unsigned int n)
{
	unsigned int i;

	sort(items, n, sizeof(*items), cmp_item, NULL);
	for (i = 1; i < n; i++)
		if (items[i].vext - items[i - 1].vext < items[i - 1].count)
			return -EINVAL;
	return 0;
}
