// SPDX-License-Identifier: MIT
#include "virtio/queue.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/*
 * Test-only builds can drop one of the two full fences to prove that the
 * harness catches the lost wake-ups that follow (tests/harness/).
 */
#ifdef VIRTQ_TEST_DROP_AVAIL_EVENT_FENCE
#define FENCE_AFTER_AVAIL_EVENT() ((void)0)
#else
#define FENCE_AFTER_AVAIL_EVENT() __atomic_thread_fence(__ATOMIC_SEQ_CST)
#endif
#ifdef VIRTQ_TEST_DROP_USED_IDX_FENCE
#define FENCE_AFTER_USED_IDX() ((void)0)
#else
#define FENCE_AFTER_USED_IDX() __atomic_thread_fence(__ATOMIC_SEQ_CST)
#endif

static uint16_t load_acquire16(volatile uint16_t *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static void store_release16(volatile uint16_t *p, uint16_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELEASE);
}

int virtq_init(struct virtq *q, const struct guest_memory *mem, uint16_t size,
	       uint64_t desc_gpa, uint64_t avail_gpa, uint64_t used_gpa,
	       bool event_idx, bool indirect)
{
	uint8_t *desc, *avail, *used;

	memset(q, 0, sizeof(*q));
	if (size == 0 || (size & (size - 1)) || size > VIRTQ_MAX_SIZE)
		return -EINVAL;
	/* Alignment from the spec: descriptors 16, available 2, used 4. */
	if ((desc_gpa & 15) || (avail_gpa & 1) || (used_gpa & 3))
		return -EINVAL;
	desc = guest_mem_ptr(mem, desc_gpa, virtq_desc_bytes(size));
	avail = guest_mem_ptr(mem, avail_gpa, virtq_avail_bytes(size));
	used = guest_mem_ptr(mem, used_gpa, virtq_used_bytes(size));
	if (!desc || !avail || !used)
		return -EINVAL;
	q->mem = mem;
	q->size = size;
	q->event_idx = event_idx;
	q->indirect = indirect;
	q->desc = (struct virtq_desc *)desc;
	q->avail_flags = (volatile uint16_t *)avail;
	q->avail_idx = (volatile uint16_t *)(avail + 2);
	q->avail_ring = (volatile uint16_t *)(avail + 4);
	q->used_event = (volatile uint16_t *)(avail + 4 + 2 * size);
	q->used_flags = (volatile uint16_t *)used;
	q->used_idx = (volatile uint16_t *)(used + 2);
	q->used_ring = (struct virtq_used_elem *)(used + 4);
	q->avail_event = (volatile uint16_t *)(used + 4 + 8 * size);
	q->used_gpa = used_gpa;
	q->used_bytes = virtq_used_bytes(size);
	/* The device starts from whatever indices the driver left in place
	 * (zero after reset), so a re-enabled queue resumes consistently. */
	q->last_avail = 0;
	q->next_used = 0;
	q->signalled_used = 0;
	return 0;
}

void virtq_get_position(const struct virtq *q, struct virtq_position *pos)
{
	*pos = (struct virtq_position){ q->last_avail, q->next_used, q->signalled_used, q->broken };
}

void virtq_set_position(struct virtq *q, const struct virtq_position *pos)
{
	q->last_avail = pos->last_avail;
	q->next_used = pos->next_used;
	q->signalled_used = pos->signalled_used;
	q->broken = pos->broken;
}

/*
 * A descriptor the driver may rewrite at any moment, read once into a
 * private copy with two 64-bit loads (addr; then len, flags and next, which
 * share the second 8 bytes, little-endian as virtio and x86 are). Every check
 * and every use below works on that copy: no field is fetched from the ring
 * again after it was validated (see guest_load64 in vm/memory.h).
 */
static struct virtq_desc read_desc(const struct virtq_desc *slot)
{
	const uint8_t *p = (const uint8_t *)slot;
	uint64_t tail = guest_load64(p + 8);

	return (struct virtq_desc){
		.addr = guest_load64(p),
		.len = (uint32_t)tail,
		.flags = (uint16_t)(tail >> 32),
		.next = (uint16_t)(tail >> 48),
	};
}

/* Add one descriptor's buffer to the chain, validating it. */
static int add_segment(struct virtq *q, struct virtq_chain *chain, const struct virtq_desc *d)
{
	bool writable = d->flags & VIRTQ_DESC_F_WRITE;
	unsigned int n = chain->nr_out + chain->nr_in;
	void *host;

	if (n == VIRTQ_MAX_SEGMENTS || d->len == 0)
		return VIRTQ_ERR_CHAIN;
	/* Readable buffers must all precede the writable ones. */
	if (!writable && chain->nr_in)
		return VIRTQ_ERR_CHAIN;
	host = guest_mem_ptr(q->mem, d->addr, d->len);
	if (!host)
		return VIRTQ_ERR_CHAIN;
	chain->iov[n].iov_base = host;
	chain->iov[n].iov_len = d->len;
	if (writable) {
		chain->nr_in++;
		chain->in_len += d->len;
	} else {
		chain->nr_out++;
		chain->out_len += d->len;
	}
	return 0;
}

/* Walk an indirect table: one level only, bounded by its own length. */
static int walk_indirect(struct virtq *q, struct virtq_chain *chain, const struct virtq_desc *d)
{
	unsigned int count = d->len / sizeof(struct virtq_desc);
	const struct virtq_desc *table;
	unsigned int i = 0, steps = 0;

	if (!q->indirect || (d->flags & VIRTQ_DESC_F_NEXT) || d->len % sizeof(*table) ||
	    count == 0 || count > VIRTQ_MAX_SEGMENTS)
		return VIRTQ_ERR_CHAIN;
	table = guest_mem_ptr(q->mem, d->addr, d->len);
	if (!table)
		return VIRTQ_ERR_CHAIN;
	for (;;) {
		struct virtq_desc e = read_desc(&table[i]);
		int ret;

		if (e.flags & VIRTQ_DESC_F_INDIRECT)
			return VIRTQ_ERR_CHAIN; /* nested tables are forbidden */
		ret = add_segment(q, chain, &e);
		if (ret)
			return ret;
		if (!(e.flags & VIRTQ_DESC_F_NEXT))
			return 0;
		/* count steps bound the walk even if next links form a loop */
		if (e.next >= count || ++steps >= count)
			return VIRTQ_ERR_CHAIN;
		i = e.next;
	}
}

static int walk_chain(struct virtq *q, struct virtq_chain *chain)
{
	uint16_t i = chain->head;
	unsigned int steps = 0;

	for (;;) {
		struct virtq_desc d = read_desc(&q->desc[i]);
		int ret;

		if (d.flags & VIRTQ_DESC_F_INDIRECT)
			return walk_indirect(q, chain, &d);
		ret = add_segment(q, chain, &d);
		if (ret)
			return ret;
		if (!(d.flags & VIRTQ_DESC_F_NEXT))
			return 0;
		/* A chain longer than the queue must contain a loop. */
		if (d.next >= q->size || ++steps >= q->size)
			return VIRTQ_ERR_CHAIN;
		i = d.next;
	}
}

int virtq_pop(struct virtq *q, struct virtq_chain *chain)
{
	uint16_t avail, pending, head;

	if (q->broken)
		return VIRTQ_ERR_RING;
	/* Acquire: the ring entry and descriptors written before the index
	 * are visible once the index is. */
	avail = load_acquire16(q->avail_idx);
	pending = (uint16_t)(avail - q->last_avail);
	if (pending == 0)
		return 0;
	if (pending > q->size) {
		q->broken = true; /* the driver claims more entries than exist */
		return VIRTQ_ERR_RING;
	}
	/* One volatile load: the head checked is the head used. */
	head = q->avail_ring[q->last_avail & (q->size - 1)];
	if (head >= q->size) {
		q->broken = true;
		return VIRTQ_ERR_RING;
	}
	q->last_avail++;
	chain->head = head;
	chain->nr_out = chain->nr_in = 0;
	chain->out_len = chain->in_len = 0;
	return walk_chain(q, chain) ? VIRTQ_ERR_CHAIN : 1;
}

/* The device wrote the used area (nothing when no snapshot tracks it). */
static void mark_used_dirty(struct virtq *q)
{
	guest_mem_mark_dirty(q->mem, q->used_gpa, q->used_bytes);
}

void virtq_mark_held_dirty(struct virtq *q, unsigned int count)
{
	struct virtq_chain *chain;

	if (!q->mem || !q->size || count > q->size || !(chain = malloc(sizeof(*chain))))
		return;
	for (unsigned int i = 1; i <= count; i++) {
		chain->head = q->avail_ring[(uint16_t)(q->last_avail - i) & (q->size - 1)];
		chain->nr_out = chain->nr_in = 0;
		chain->out_len = chain->in_len = 0;
		/* Walking takes a view of each buffer, which marks it. */
		if (chain->head < q->size)
			walk_chain(q, chain);
	}
	free(chain);
}

void virtq_push(struct virtq *q, uint16_t head, uint32_t len)
{
	struct virtq_used_elem *e = &q->used_ring[q->next_used & (q->size - 1)];

	e->id = head;
	e->len = len;
	q->next_used++;
	/* Release: the element (and the data written into the buffers)
	 * become visible no later than the index that publishes them. */
	store_release16(q->used_idx, q->next_used);
	mark_used_dirty(q);
}

bool virtq_should_interrupt(struct virtq *q)
{
	uint16_t old = q->signalled_used, now = q->next_used;

	/*
	 * Full fence between publishing used->idx (virtq_push) and reading
	 * used_event / avail->flags. Without it the store could sit in this
	 * CPU's store buffer while we read a stale used_event; the driver,
	 * having written a newer used_event and then re-read the old
	 * used->idx, sleeps, and we decide no interrupt is needed: a lost
	 * wake-up. Store-load order needs a full fence even on x86.
	 */
	FENCE_AFTER_USED_IDX();
	q->signalled_used = now;
	if (q->event_idx)
		return virtq_need_event(load_acquire16(q->used_event), now, old);
	return !(load_acquire16(q->avail_flags) & VIRTQ_AVAIL_F_NO_INTERRUPT);
}

bool virtq_has_avail(struct virtq *q)
{
	return load_acquire16(q->avail_idx) != q->last_avail;
}

void virtq_suppress_kicks(struct virtq *q)
{
	/* Only the device writes used->flags: read it back rather than dirty
	 * a line the driver reads on every kick decision. */
	if (!q->event_idx && *q->used_flags != VIRTQ_USED_F_NO_NOTIFY) {
		store_release16(q->used_flags, VIRTQ_USED_F_NO_NOTIFY);
		mark_used_dirty(q);
	}
	/* With event indices, an avail_event left behind already does this. */
}

bool virtq_prepare_sleep(struct virtq *q)
{
	if (q->event_idx)
		store_release16(q->avail_event, q->last_avail);
	else
		store_release16(q->used_flags, 0);
	mark_used_dirty(q);
	/*
	 * Full fence between publishing avail_event (or clearing NO_NOTIFY)
	 * and re-reading avail->idx. The driver does the mirror image: it
	 * publishes avail->idx, fences, then reads avail_event to decide on a
	 * kick. With both fences at least one side sees the other's store:
	 * either we see the new entry here and do not sleep, or the driver
	 * sees our avail_event and kicks. Without this one, our avail_event
	 * store may still be buffered when we read the old avail->idx, the
	 * driver reads the old avail_event and skips the kick, and we sleep
	 * on work that is already there.
	 */
	FENCE_AFTER_AVAIL_EVENT();
	return load_acquire16(q->avail_idx) == q->last_avail;
}
