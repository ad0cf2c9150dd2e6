// SPDX-License-Identifier: MIT
#include "virtio.h"

#define CAP_VENDOR 0x09
#define CAP_MSIX   0x11
enum { CAP_COMMON = 1, CAP_NOTIFY = 2, CAP_ISR = 3, CAP_DEVICE = 4 };
enum {
	CC_DFSELECT = 0x00, CC_DF = 0x04, CC_GFSELECT = 0x08, CC_GF = 0x0c, CC_STATUS = 0x14,
	CC_QSELECT = 0x16, CC_QSIZE = 0x18, CC_QMSIX = 0x1a, CC_QENABLE = 0x1c, CC_QNOFF = 0x1e,
	CC_QDESC = 0x20, CC_QDRIVER = 0x28, CC_QDEVICE = 0x30,
};

static void w8(volatile uint8_t *b, unsigned int off, uint8_t v) { *(volatile uint8_t *)(b + off) = v; }
static void w16(volatile uint8_t *b, unsigned int off, uint16_t v) { *(volatile uint16_t *)(b + off) = v; }
static void w32(volatile uint8_t *b, unsigned int off, uint32_t v) { *(volatile uint32_t *)(b + off) = v; }
static uint8_t r8(volatile uint8_t *b, unsigned int off) { return *(volatile uint8_t *)(b + off); }
static uint16_t r16(volatile uint8_t *b, unsigned int off) { return *(volatile uint16_t *)(b + off); }
static uint32_t r32(volatile uint8_t *b, unsigned int off) { return *(volatile uint32_t *)(b + off); }

static void w64(volatile uint8_t *b, unsigned int off, uint64_t v)
{
	w32(b, off, (uint32_t)v);
	w32(b, off + 4, (uint32_t)(v >> 32));
}

bool virtio_open(struct virtio_dev *d, unsigned int slot)
{
	memset(d, 0, sizeof(*d));
	d->slot = slot;
	for (unsigned int cap = pci_find_cap(slot, CAP_VENDOR, 0); cap;
	     cap = pci_find_cap(slot, CAP_VENDOR, cap)) {
		uint8_t type = pci_read8(slot, cap + 3), bar = pci_read8(slot, cap + 4);
		volatile uint8_t *p = map_phys(pci_bar(slot, bar) + pci_read32(slot, cap + 8),
					       pci_read32(slot, cap + 12));

		if (type == CAP_COMMON)
			d->common = p;
		else if (type == CAP_NOTIFY) {
			d->notify = p;
			d->notify_mult = pci_read32(slot, cap + 16);
		} else if (type == CAP_ISR)
			d->isr = p;
		else if (type == CAP_DEVICE)
			d->device_cfg = p;
	}
	d->msix_cap = pci_find_cap(slot, CAP_MSIX, 0);
	if (d->msix_cap) {
		uint32_t table = pci_read32(slot, d->msix_cap + 4);

		uint16_t entries = (uint16_t)((pci_read32(slot, d->msix_cap) >> 16) & 0x7ff) + 1;

		d->msix_table = map_phys(pci_bar(slot, table & 7) + (table & ~7u), 16u * entries);
	}
	pci_write16(slot, 0x04, 0x6); /* memory space, bus master */
	return d->common && d->notify && d->isr;
}

uint8_t virtio_status(struct virtio_dev *d)
{
	return r8(d->common, CC_STATUS);
}

uint8_t virtio_negotiate(struct virtio_dev *d, uint64_t wanted)
{
	uint64_t offered;

	w8(d->common, CC_STATUS, 0);
	while (r8(d->common, CC_STATUS))
		cpu_relax();
	w8(d->common, CC_STATUS, 1);
	w8(d->common, CC_STATUS, 1 | 2);
	w32(d->common, CC_DFSELECT, 0);
	offered = r32(d->common, CC_DF);
	w32(d->common, CC_DFSELECT, 1);
	offered |= (uint64_t)r32(d->common, CC_DF) << 32;
	d->features = offered & wanted;
	w32(d->common, CC_GFSELECT, 0);
	w32(d->common, CC_GF, (uint32_t)d->features);
	w32(d->common, CC_GFSELECT, 1);
	w32(d->common, CC_GF, (uint32_t)(d->features >> 32));
	w8(d->common, CC_STATUS, 1 | 2 | 8);
	return r8(d->common, CC_STATUS);
}

void virtio_msix(struct virtio_dev *d, unsigned int entry, uint8_t vector)
{
	volatile uint32_t *e = d->msix_table + 4 * entry;
	uint32_t ctrl = pci_read32(d->slot, d->msix_cap);

	e[0] = 0xfee00000u;     /* APIC 0, physical destination */
	e[1] = 0;
	e[2] = vector;          /* fixed delivery, edge */
	e[3] = 0;               /* unmasked */
	pci_write32(d->slot, d->msix_cap, ctrl | (0x8000u << 16));
}

bool virtio_queue_setup(struct virtio_dev *d, struct virtio_queue *q, uint16_t index,
			uint16_t size, void *ring, uint16_t msix_entry)
{
	uint8_t *base = ring;
	uint16_t max;

	w16(d->common, CC_QSELECT, index);
	max = r16(d->common, CC_QSIZE);
	if (!max)
		return false;
	if (size > max)
		size = max;
	memset(ring, 0, 16384);
	q->index = index;
	q->size = size;
	q->desc = (struct vdesc *)base;
	q->avail = (volatile uint16_t *)(base + 16 * size);
	q->used = (volatile uint16_t *)(base + 8192);
	q->avail_idx = q->last_used = q->next_free = q->kicked_idx = 0;
	q->polled = false;
	q->event_idx = d->features & (1ULL << VIRTIO_F_EVENT_IDX);
	q->notify_addr = (volatile uint16_t *)(d->notify + r16(d->common, CC_QNOFF) * d->notify_mult);
	w16(d->common, CC_QSIZE, size);
	w64(d->common, CC_QDESC, (uintptr_t)q->desc);
	w64(d->common, CC_QDRIVER, (uintptr_t)q->avail);
	w64(d->common, CC_QDEVICE, (uintptr_t)q->used);
	w16(d->common, CC_QMSIX, msix_entry);
	w16(d->common, CC_QENABLE, 1);
	return r16(d->common, CC_QENABLE) == 1;
}

void virtio_driver_ok(struct virtio_dev *d)
{
	w8(d->common, CC_STATUS, 1 | 2 | 8 | 4);
}

int virtio_submit(struct virtio_queue *q, void *buf, uint32_t len, bool writable)
{
	struct vbuf_g b = { buf, len, writable };

	return virtio_submit_chain(q, &b, 1);
}

/* Descriptors are used round-robin: callers keep fewer than size in flight. */
int virtio_add_chain(struct virtio_queue *q, const struct vbuf_g *bufs, unsigned int n)
{
	uint16_t head = q->next_free;

	for (unsigned int i = 0; i < n; i++) {
		uint16_t d = q->next_free, next = (uint16_t)((d + 1) % q->size);

		q->desc[d] = (struct vdesc){ (uintptr_t)bufs[i].addr, bufs[i].len,
					     (uint16_t)((bufs[i].writable ? 2 : 0) | (i + 1 < n ? 1 : 0)),
					     next };
		q->next_free = next;
	}
	q->avail[2 + (q->avail_idx % q->size)] = head;
	q->avail_idx++;
	__atomic_store_n(&q->avail[1], q->avail_idx, __ATOMIC_RELEASE);
	return head;
}

/* virtio 1.2 2.7.10: kick when avail_event lies in (old, new]. */
static bool need_event(uint16_t event, uint16_t new_idx, uint16_t old_idx)
{
	return (uint16_t)(new_idx - event - 1) < (uint16_t)(new_idx - old_idx);
}

void virtio_kick(struct virtio_queue *q)
{
	uint16_t old = q->kicked_idx;
	bool kick;

	/* Full fence between publishing avail->idx and reading the device's
	 * wishes, the mirror of the device's before it sleeps: otherwise both
	 * could read the other's stale value and the entry waits for ever. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (q->event_idx)
		kick = need_event(q->used[2 + 4 * q->size], q->avail_idx, old); /* avail_event */
	else
		kick = !(q->used[0] & 1); /* VRING_USED_F_NO_NOTIFY */
	q->kicked_idx = q->avail_idx;
	if (kick && q->avail_idx != old)
		*q->notify_addr = q->index;
}

int virtio_submit_chain(struct virtio_queue *q, const struct vbuf_g *bufs, unsigned int n)
{
	int head = virtio_add_chain(q, bufs, n);

	virtio_kick(q);
	return head;
}

/* Interrupt on the next completion, or (polled) only once the device is
 * 64k entries ahead, which a driver that keeps reaping never lets happen. */
static uint16_t used_event(const struct virtio_queue *q)
{
	return q->polled ? (uint16_t)(q->last_used - 1) : q->last_used;
}

void virtio_queue_poll_only(struct virtio_queue *q)
{
	q->polled = true;
	q->avail[0] = 1; /* VRING_AVAIL_F_NO_INTERRUPT, for a device without EVENT_IDX */
	if (q->event_idx)
		q->avail[2 + q->size] = used_event(q);
}

bool virtio_reap(struct virtio_queue *q, uint16_t *id, uint32_t *len)
{
	volatile uint32_t *elem;

	if (__atomic_load_n(&q->used[1], __ATOMIC_ACQUIRE) == q->last_used)
		return false;
	elem = (volatile uint32_t *)(q->used + 2) + 2 * (q->last_used % q->size);
	*id = (uint16_t)elem[0];
	*len = elem[1];
	q->last_used++;
	if (q->event_idx)
		q->avail[2 + q->size] = used_event(q);
	return true;
}
