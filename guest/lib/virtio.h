/* SPDX-License-Identifier: MIT */
/* A small virtio-pci (modern) driver for test guests, usable at CPL3:
 * find the capabilities, negotiate, set up split queues, submit, reap. */
#ifndef GUEST_VIRTIO_H
#define GUEST_VIRTIO_H

#include "guest.h"

#define VIRTIO_F_INDIRECT_DESC 28
#define VIRTIO_F_EVENT_IDX     29
#define VIRTIO_F_VERSION_1     32

struct vdesc { uint64_t addr; uint32_t len; uint16_t flags, next; };

struct virtio_dev {
	unsigned int slot;
	volatile uint8_t *common, *notify, *isr, *device_cfg;
	uint32_t notify_mult;
	volatile uint32_t *msix_table;
	unsigned int msix_cap;
	uint64_t features;
};

struct virtio_queue {
	uint16_t index, size;
	struct vdesc *desc;
	volatile uint16_t *avail;      /* flags, idx, ring[size], used_event */
	volatile uint16_t *used;       /* flags, idx, then elements */
	volatile uint16_t *notify_addr;
	uint16_t avail_idx, last_used, next_free;
	uint16_t kicked_idx;           /* avail_idx at the last notify decision */
	bool event_idx;
	bool polled;                   /* never wants an interrupt */
};

/* Parse the capabilities and enable memory decoding; false when not virtio. */
bool virtio_open(struct virtio_dev *d, unsigned int slot);
/* Reset, ACKNOWLEDGE, DRIVER, features, FEATURES_OK; returns the status read back. */
uint8_t virtio_negotiate(struct virtio_dev *d, uint64_t wanted);
/* Point MSI-X entry at vector on APIC 0, and enable MSI-X. */
void virtio_msix(struct virtio_dev *d, unsigned int entry, uint8_t vector);
/* Set up queue index with ring memory at ring (16 KiB, 4 KiB aligned). */
bool virtio_queue_setup(struct virtio_dev *d, struct virtio_queue *q, uint16_t index,
			uint16_t size, void *ring, uint16_t msix_entry);
void virtio_driver_ok(struct virtio_dev *d);
uint8_t virtio_status(struct virtio_dev *d);
/* The driver polls this queue's used ring: ask for no interrupts. */
void virtio_queue_poll_only(struct virtio_queue *q);
struct vbuf_g { void *addr; uint32_t len; bool writable; };
/* A chain of n buffers, published without a notification. Returns the head. */
int virtio_add_chain(struct virtio_queue *q, const struct vbuf_g *bufs, unsigned int n);
/* Notify the device of what was published since the last call, unless it
 * asked not to be (avail_event, or VRING_USED_F_NO_NOTIFY). */
void virtio_kick(struct virtio_queue *q);
/* virtio_add_chain, then virtio_kick. */
int virtio_submit_chain(struct virtio_queue *q, const struct vbuf_g *bufs, unsigned int n);
/* One writable (or readable) buffer as a chain; publish and notify. */
int virtio_submit(struct virtio_queue *q, void *buf, uint32_t len, bool writable);
bool virtio_reap(struct virtio_queue *q, uint16_t *id, uint32_t *len);

#endif
