// SPDX-License-Identifier: GPL-2.0
/*
 * Copyright (C) 2026 The cvol authors.
 *
 * Epochs: how a change knows that no bio which could have seen the old
 * state is still in flight.  Every mapped bio holds a reference on the
 * epoch that was current when it read its entry; a change publishes a new
 * epoch and kills the old one, and waits until the killed epoch and every
 * older one have no references left.  The hot path pays one per-CPU
 * increment.  The layers above hear of drains through vol->drained_locked.
 */
#include "cvol.h"

#include <linux/slab.h>

/*
 * Runs when a killed epoch has no references left.  Epochs drain in any
 * order but are reported in publication order: drained_seq moves past an
 * epoch only when every older one has drained too, which is what a freeze
 * or map_set waiting for "everything before my flip" needs.
 */
static void epoch_free_work(struct work_struct *ws)
{
	struct cvol_epoch *ep = container_of(ws, struct cvol_epoch, free_work);
	struct cvol_volume *vol = ep->vol;
	struct cvol_epoch *first, *tmp;
	LIST_HEAD(dead);
	int n = 0;

	spin_lock_irq(&vol->slow_lock);
	ep->released = true;
	while ((first = list_first_entry_or_null(&vol->epochs.killed,
						 struct cvol_epoch, node)) &&
	       first->released) {
		list_move_tail(&first->node, &dead);
		vol->epochs.drained_seq = first->seq;
	}
	/* The layers above (freezes, the fence, migrations) wait for this. */
	if (!list_empty(&dead))
		vol->drained_locked(vol);
	spin_unlock_irq(&vol->slow_lock);

	list_for_each_entry_safe(first, tmp, &dead, node) {
		percpu_ref_exit(&first->io);
		kfree(first);
		n++;
	}
	if (!n)
		return;
	wake_up_all(&vol->drain_wq);
	/*
	 * Last touch of the volume: the destructor waits for this count and
	 * then destroys vol->wq, which waits for this work item to return.
	 */
	if (atomic_sub_and_test(n, &vol->epochs.undrained))
		wake_up_all(&vol->drain_wq);
}

/* Called when a killed epoch's last reference is dropped, in any context. */
static void epoch_release(struct percpu_ref *ref)
{
	struct cvol_epoch *ep = container_of(ref, struct cvol_epoch, io);

	queue_work(ep->vol->wq, &ep->free_work);
}

struct cvol_epoch *cvol_epoch_alloc(struct cvol_volume *vol)
{
	struct cvol_epoch *ep = kzalloc(sizeof(*ep), GFP_KERNEL);

	if (!ep)
		return NULL;
	if (percpu_ref_init(&ep->io, epoch_release, 0, GFP_KERNEL)) {
		kfree(ep);
		return NULL;
	}
	ep->vol = vol;
	ep->ent = vol->ent;
	ep->seq = 1;
	INIT_LIST_HEAD(&ep->node);
	INIT_WORK(&ep->free_work, epoch_free_work);
	return ep;
}

/* Frees an epoch that was never published. */
void cvol_epoch_free_unused(struct cvol_epoch *ep)
{
	percpu_ref_exit(&ep->io);
	kfree(ep);
}

/* Caller holds slow_lock.  Returns the killed epoch's number. */
static u64 kill_current(struct cvol_volume *vol, struct cvol_epoch *next)
{
	struct cvol_epoch *old;

	old = rcu_dereference_protected(vol->epoch,
					lockdep_is_held(&vol->slow_lock));
	if (next)
		next->seq = old->seq + 1;
	list_add_tail(&old->node, &vol->epochs.killed);
	atomic_inc(&vol->epochs.undrained);
	rcu_assign_pointer(vol->epoch, next);
	percpu_ref_kill(&old->io);
	return old->seq;
}

/*
 * Publishes @next and kills the current epoch.  The kill waits for an RCU
 * grace period before it counts, so every reader that found the old epoch
 * has taken its reference by then.  Returns the ticket to wait for: the
 * number of the killed epoch.
 */
u64 cvol_epoch_flip(struct cvol_volume *vol, struct cvol_epoch *next)
{
	unsigned long flags;
	u64 ticket;

	spin_lock_irqsave(&vol->slow_lock, flags);
	ticket = kill_current(vol, next);
	spin_unlock_irqrestore(&vol->slow_lock, flags);
	return ticket;
}

/* Kills the current epoch for good; used when the volume dies. */
void cvol_epoch_retire_current(struct cvol_volume *vol)
{
	spin_lock_irq(&vol->slow_lock);
	kill_current(vol, NULL);
	spin_unlock_irq(&vol->slow_lock);
}

/*
 * Waits until epoch @ticket and all older ones drained: 0, -ETIMEDOUT, or
 * -EAGAIN if a suspend began meanwhile (cvol_epoch_cancel_waits).
 */
int cvol_wait_drained(struct cvol_volume *vol, u64 ticket,
		      unsigned int timeout_ms)
{
	u64 gen = cvol_epoch_waits_gen(vol);
	long left = wait_event_timeout(vol->drain_wq,
				       READ_ONCE(vol->epochs.drained_seq) >= ticket ||
				       cvol_epoch_waits_cancelled(vol, gen),
				       msecs_to_jiffies(timeout_ms));

	if (READ_ONCE(vol->epochs.drained_seq) >= ticket)
		return 0;
	return left ? -EAGAIN : -ETIMEDOUT;
}

/*
 * A suspend began: the waits in progress end at once with -EAGAIN.  They
 * run under ctl_lock, which presuspend needs, and inside dm's table lock,
 * which the suspend waits for; a drain may take up to freeze_timeout_ms.
 * A wait that starts later (messages work on a suspended device) waits as
 * usual: nothing new is in flight then.
 */
void cvol_epoch_cancel_waits(struct cvol_volume *vol)
{
	WRITE_ONCE(vol->epochs.waits_gen, vol->epochs.waits_gen + 1);
	wake_up_all(&vol->drain_wq);
}
