/* SPDX-License-Identifier: MIT */
/*
 * A virtio driver's side of a split virtqueue, written the way a guest
 * driver writes it (spec 2.7), over kiln's guest-memory API in plain host
 * memory. The harness uses it to drive device code with no KVM at all.
 */
#ifndef KILN_TESTS_VIRTQ_DRIVER_H
#define KILN_TESTS_VIRTQ_DRIVER_H

#include <stdbool.h>
#include <stdint.h>

#include "virtio/queue.h"

struct vdriver {
	const struct guest_memory *mem;
	uint16_t size;
	bool event_idx;
	uint64_t desc_gpa, avail_gpa, used_gpa;
	struct virtq_desc *desc;
	volatile uint16_t *avail_flags, *avail_idx, *avail_ring, *used_event;
	volatile uint16_t *used_flags, *used_idx, *avail_event;
	volatile struct virtq_used_elem *used_ring;
	uint16_t avail_shadow;   /* next avail index to publish */
	uint16_t kicked_avail;   /* avail index at the last kick decision */
	uint16_t last_used;
	uint16_t free_head, nr_free;
	uint16_t chain_len[VIRTQ_MAX_SIZE];
};

struct vbuf {
	uint64_t gpa;
	uint32_t len;
	bool writable;
};

/* Lay out the rings from base (page aligned) and reset the driver state. */
void vdriver_init(struct vdriver *d, const struct guest_memory *mem, uint64_t base,
		  uint16_t size, bool event_idx);
/* Bytes vdriver_init uses from base. */
uint64_t vdriver_ring_bytes(uint16_t size);

/* Add a chain of n buffers (direct descriptors); returns the head, or -1
 * when not enough descriptors are free. Not visible until publish. */
int vdriver_add(struct vdriver *d, const struct vbuf *bufs, unsigned int n);
/* Add the same buffers through one indirect table written at table_gpa. */
int vdriver_add_indirect(struct vdriver *d, const struct vbuf *bufs, unsigned int n,
			 uint64_t table_gpa);
/* Put head in the avail ring (not yet published). */
void vdriver_queue_head(struct vdriver *d, uint16_t head);
/* Publish the avail index; returns true when the device wants a kick. */
bool vdriver_publish(struct vdriver *d);

/* Take one used entry; returns false when none. Frees its descriptors. */
bool vdriver_get_used(struct vdriver *d, uint16_t *head, uint32_t *len);
/* Before waiting for an interrupt: ask for one at the next used entry.
 * Returns false if entries arrived meanwhile (do not wait). */
bool vdriver_prepare_wait(struct vdriver *d);

#endif
