// SPDX-License-Identifier: MIT
#include "virtq_driver.h"

#include <string.h>

uint64_t vdriver_ring_bytes(uint16_t size)
{
	/* desc, then avail, then used on its own 4 KiB boundary */
	return ((virtq_desc_bytes(size) + virtq_avail_bytes(size) + 4095) & ~4095ULL) +
	       ((virtq_used_bytes(size) + 4095) & ~4095ULL);
}

void vdriver_init(struct vdriver *d, const struct guest_memory *mem, uint64_t base,
		  uint16_t size, bool event_idx)
{
	uint8_t *avail, *used;

	memset(d, 0, sizeof(*d));
	d->mem = mem;
	d->size = size;
	d->event_idx = event_idx;
	d->desc_gpa = base;
	d->avail_gpa = base + virtq_desc_bytes(size);
	d->used_gpa = (d->avail_gpa + virtq_avail_bytes(size) + 4095) & ~4095ULL;
	memset(guest_mem_ptr(mem, base, vdriver_ring_bytes(size)), 0, vdriver_ring_bytes(size));
	d->desc = guest_mem_ptr(mem, d->desc_gpa, virtq_desc_bytes(size));
	avail = guest_mem_ptr(mem, d->avail_gpa, virtq_avail_bytes(size));
	used = guest_mem_ptr(mem, d->used_gpa, virtq_used_bytes(size));
	d->avail_flags = (volatile uint16_t *)avail;
	d->avail_idx = (volatile uint16_t *)(avail + 2);
	d->avail_ring = (volatile uint16_t *)(avail + 4);
	d->used_event = (volatile uint16_t *)(avail + 4 + 2 * size);
	d->used_flags = (volatile uint16_t *)used;
	d->used_idx = (volatile uint16_t *)(used + 2);
	d->used_ring = (volatile struct virtq_used_elem *)(used + 4);
	d->avail_event = (volatile uint16_t *)(used + 4 + 8 * size);
	for (uint16_t i = 0; i + 1 < size; i++)
		d->desc[i].next = i + 1;
	d->free_head = 0;
	d->nr_free = size;
}

static int take_descriptors(struct vdriver *d, unsigned int n)
{
	if (n == 0 || n > d->nr_free)
		return -1;
	return d->free_head;
}

int vdriver_add(struct vdriver *d, const struct vbuf *bufs, unsigned int n)
{
	int head = take_descriptors(d, n);
	uint16_t i;

	if (head < 0)
		return -1;
	i = (uint16_t)head;
	for (unsigned int k = 0; k < n; k++) {
		struct virtq_desc *e = &d->desc[i];

		e->addr = bufs[k].gpa;
		e->len = bufs[k].len;
		e->flags = (bufs[k].writable ? VIRTQ_DESC_F_WRITE : 0) |
			   (k + 1 < n ? VIRTQ_DESC_F_NEXT : 0);
		if (k + 1 < n)
			i = e->next;
	}
	d->free_head = d->desc[i].next; /* the free list continues after the chain */
	d->nr_free -= n;
	d->chain_len[head] = (uint16_t)n;
	return head;
}

int vdriver_add_indirect(struct vdriver *d, const struct vbuf *bufs, unsigned int n,
			 uint64_t table_gpa)
{
	struct virtq_desc *table = guest_mem_ptr(d->mem, table_gpa, n * sizeof(*table));
	int head = take_descriptors(d, 1);

	if (head < 0 || !table)
		return -1;
	for (unsigned int k = 0; k < n; k++)
		table[k] = (struct virtq_desc){
			.addr = bufs[k].gpa, .len = bufs[k].len,
			.flags = (bufs[k].writable ? VIRTQ_DESC_F_WRITE : 0) |
				 (k + 1 < n ? VIRTQ_DESC_F_NEXT : 0),
			.next = (uint16_t)(k + 1),
		};
	d->free_head = d->desc[head].next;
	d->desc[head].addr = table_gpa;
	d->desc[head].len = n * sizeof(*table);
	d->desc[head].flags = VIRTQ_DESC_F_INDIRECT;
	d->nr_free -= 1;
	d->chain_len[head] = 1;
	return head;
}

void vdriver_queue_head(struct vdriver *d, uint16_t head)
{
	d->avail_ring[d->avail_shadow & (d->size - 1)] = head;
	d->avail_shadow++;
}

bool vdriver_publish(struct vdriver *d)
{
	uint16_t old = d->kicked_avail, now = d->avail_shadow;

	__atomic_store_n(d->avail_idx, now, __ATOMIC_RELEASE);
	/* The driver's half of the protocol: publish, full fence, then read
	 * what the device asked for. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	d->kicked_avail = now;
	if (d->event_idx)
		return virtq_need_event(__atomic_load_n(d->avail_event, __ATOMIC_ACQUIRE), now, old);
	return !(__atomic_load_n(d->used_flags, __ATOMIC_ACQUIRE) & VIRTQ_USED_F_NO_NOTIFY);
}

static void free_chain(struct vdriver *d, uint16_t head)
{
	uint16_t last = head;

	for (uint16_t k = 1; k < d->chain_len[head]; k++)
		last = d->desc[last].next;
	d->desc[last].next = d->free_head;
	d->free_head = head;
	d->nr_free += d->chain_len[head];
	d->chain_len[head] = 0;
}

bool vdriver_get_used(struct vdriver *d, uint16_t *head, uint32_t *len)
{
	uint16_t used = __atomic_load_n(d->used_idx, __ATOMIC_ACQUIRE);
	volatile struct virtq_used_elem *e;

	if (used == d->last_used)
		return false;
	e = &d->used_ring[d->last_used & (d->size - 1)];
	*head = (uint16_t)e->id;
	*len = e->len;
	d->last_used++;
	if (*head < d->size && d->chain_len[*head])
		free_chain(d, *head);
	return true;
}

bool vdriver_prepare_wait(struct vdriver *d)
{
	if (d->event_idx)
		__atomic_store_n(d->used_event, d->last_used, __ATOMIC_RELEASE);
	else
		__atomic_store_n(d->avail_flags, 0, __ATOMIC_RELEASE);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return __atomic_load_n(d->used_idx, __ATOMIC_ACQUIRE) == d->last_used;
}
