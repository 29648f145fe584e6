// SPDX-License-Identifier: GPL-2.0
/*
 * Copyright (C) 2026 The cvol authors.
 *
 * Events: what the daemon must hear about without polling.
 *
 * Producers (map, completion handlers, workers, messages) write a fixed
 * record into a per-volume ring under a spinlock: no allocation, any
 * context.  A work item drains the ring into the generic netlink family
 * "cvol" (group "events", initial network namespace) and raises one
 * dm_table_event() per batch, which needs process context.  A full ring
 * drops the new event and counts it; the gap in sequence numbers tells the
 * daemon to resynchronise from the status.  I/O never waits for anyone to
 * read an event.
 */
#include "cvol.h"

#include <linux/dm-ioctl.h>
#include <linux/kdev_t.h>
#include <net/genetlink.h>

/*
 * Events name the host's volumes: only the initial network namespace has
 * the family, and only CAP_SYS_ADMIN may listen, as for dm's own ioctls.
 */
static const struct genl_multicast_group cvol_mcgrps[] = {
	{ .name = CVOL_GENL_EVENTS_GROUP, .flags = GENL_MCAST_CAP_SYS_ADMIN },
};

static struct genl_family cvol_genl_family __ro_after_init = {
	.name = CVOL_GENL_NAME,
	.version = CVOL_GENL_VERSION,
	.maxattr = CVOL_ATTR_MAX,
	.netnsok = false,
	.module = THIS_MODULE,
	.mcgrps = cvol_mcgrps,
	.n_mcgrps = ARRAY_SIZE(cvol_mcgrps),
};

int cvol_events_init(void)
{
	return genl_register_family(&cvol_genl_family);
}

void cvol_events_exit(void)
{
	genl_unregister_family(&cvol_genl_family);
}

void cvol_event(struct cvol_volume *vol, u32 type, u64 id, u64 vext,
		u64 count, u32 slot, u64 value)
{
	struct cvol_event_rec *ev;
	unsigned long flags;

	spin_lock_irqsave(&vol->events.lock, flags);
	vol->events.seq++;
	if (vol->events.head - vol->events.tail >= CVOL_EVENT_RING) {
		vol->events.lost++;
	} else {
		ev = &vol->events.ring[vol->events.head++ % CVOL_EVENT_RING];
		ev->seq = vol->events.seq;
		ev->time_ns = ktime_get_real_ns();
		ev->type = type;
		ev->id = id;
		ev->vext = vext;
		ev->count = count;
		ev->slot = slot;
		ev->value = value;
	}
	spin_unlock_irqrestore(&vol->events.lock, flags);
	queue_work(vol->wq, &vol->events.work);
}

void cvol_events_seq(struct cvol_volume *vol, u64 *seq, u64 *lost)
{
	unsigned long flags;

	spin_lock_irqsave(&vol->events.lock, flags);
	*seq = vol->events.seq;
	*lost = vol->events.lost;
	spin_unlock_irqrestore(&vol->events.lock, flags);
}

/* A freeze's id, or (1.4) the fence's number. */
static bool has_id(u32 type)
{
	return type == CVOL_EV_FREEZE_DRAINED || type == CVOL_EV_FREEZE_TIMEOUT ||
	       type == CVOL_EV_FREEZE_BROKEN || type == CVOL_EV_FENCED ||
	       type == CVOL_EV_LEASE_EXPIRED || type == CVOL_EV_FENCE_DRAINED;
}

static bool is_migration(u32 type)
{
	return (type >= CVOL_EV_MIGRATE_READY &&
		type <= CVOL_EV_DST_WRITE_ERROR) ||
	       type == CVOL_EV_MIGRATE_STARTED ||
	       type == CVOL_EV_MIGRATE_ABORTED;
}

static bool has_range(u32 type)
{
	return has_id(type) || type == CVOL_EV_MAP_CHANGED ||
	       is_migration(type);
}

static int put_event(struct sk_buff *skb, struct cvol_volume *vol,
		     const struct cvol_event_rec *ev, const char *name, u64 lost)
{
	struct mapped_device *md = vol->md;

	if (nla_put_string(skb, CVOL_ATTR_VOL_UUID, vol->uuid) ||
	    nla_put_string(skb, CVOL_ATTR_DM_NAME, name) ||
	    nla_put_u32(skb, CVOL_ATTR_DM_DEV,
			new_encode_dev(disk_devt(dm_disk(md)))) ||
	    nla_put_u64_64bit(skb, CVOL_ATTR_SEQ, ev->seq, CVOL_ATTR_PAD) ||
	    nla_put_u32(skb, CVOL_ATTR_TYPE, ev->type) ||
	    nla_put_u64_64bit(skb, CVOL_ATTR_TIME_NS, ev->time_ns,
			      CVOL_ATTR_PAD) ||
	    nla_put_u64_64bit(skb, CVOL_ATTR_VALUE, ev->value, CVOL_ATTR_PAD) ||
	    nla_put_u64_64bit(skb, CVOL_ATTR_LOST, lost, CVOL_ATTR_PAD))
		return -EMSGSIZE;
	if (has_id(ev->type) &&
	    nla_put_u64_64bit(skb, CVOL_ATTR_ID, ev->id, CVOL_ATTR_PAD))
		return -EMSGSIZE;
	if (has_range(ev->type) &&
	    (nla_put_u64_64bit(skb, CVOL_ATTR_VEXT, ev->vext, CVOL_ATTR_PAD) ||
	     nla_put_u64_64bit(skb, CVOL_ATTR_COUNT, ev->count, CVOL_ATTR_PAD)))
		return -EMSGSIZE;
	if ((ev->type == CVOL_EV_DEV_ERROR || is_migration(ev->type)) &&
	    nla_put_u32(skb, CVOL_ATTR_DEV_SLOT, ev->slot))
		return -EMSGSIZE;
	return 0;
}

static void send_event(struct cvol_volume *vol,
		       const struct cvol_event_rec *ev, const char *name, u64 lost)
{
	struct sk_buff *skb;
	void *hdr;

	skb = genlmsg_new(NLMSG_GOODSIZE, GFP_NOIO);
	if (!skb)
		return;		/* a gap in seq: the daemon resynchronises */
	hdr = genlmsg_put(skb, 0, 0, &cvol_genl_family, 0, CVOL_CMD_EVENT);
	if (!hdr || put_event(skb, vol, ev, name, lost)) {
		nlmsg_free(skb);
		return;
	}
	genlmsg_end(skb, hdr);
	/* -ESRCH only says nobody listens. */
	genlmsg_multicast(&cvol_genl_family, skb, 0, 0, GFP_NOIO);
}

#define EVENT_BATCH 16

void cvol_event_work(struct work_struct *ws)
{
	struct cvol_volume *vol = container_of(ws, struct cvol_volume,
					       events.work);
	struct cvol_event_rec batch[EVENT_BATCH];
	char name[DM_NAME_LEN];
	unsigned int i, n;
	bool any = false;
	u64 lost;

	/* The name may change (dmsetup rename); dm_device_name is "maj:min". */
	if (dm_copy_name_and_uuid(vol->md, name, NULL))
		strscpy(name, dm_device_name(vol->md), sizeof(name));
	do {
		spin_lock_irq(&vol->events.lock);
		for (n = 0; n < EVENT_BATCH && vol->events.tail != vol->events.head; n++)
			batch[n] = vol->events.ring[vol->events.tail++ % CVOL_EVENT_RING];
		lost = vol->events.lost;
		spin_unlock_irq(&vol->events.lock);
		for (i = 0; i < n; i++)
			send_event(vol, &batch[i], name, lost);
		any |= n;
	} while (n == EVENT_BATCH);

	if (!any)
		return;
	mutex_lock(&vol->bind_lock);
	if (vol->bound_ti)
		dm_table_event(vol->bound_ti->table);
	mutex_unlock(&vol->bind_lock);
}
