/* SPDX-License-Identifier: MIT */
/*
 * The split virtqueue (virtio 1.2, section 2.7), device side, in one place
 * for every device. Rings live in guest RAM and are reached only through
 * the guest-memory API; every value the driver writes (indices, descriptor
 * addresses, lengths, flags, indirect tables) is validated here, so a
 * hostile driver can fail its own requests but never make the device touch
 * memory outside guest RAM or loop forever.
 *
 * Threading: one worker thread owns a queue's device side. The driver runs
 * concurrently on another CPU; the barriers that make event-index
 * notification suppression lose no wake-up are in queue.c, explained where
 * they stand.
 */
#ifndef KILN_VIRTIO_QUEUE_H
#define KILN_VIRTIO_QUEUE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "vm/memory.h"

#define VIRTQ_DESC_F_NEXT     1
#define VIRTQ_DESC_F_WRITE    2
#define VIRTQ_DESC_F_INDIRECT 4
#define VIRTQ_AVAIL_F_NO_INTERRUPT 1
#define VIRTQ_USED_F_NO_NOTIFY     1

#define VIRTQ_MAX_SIZE     32768
/* Longest chain a device accepts, direct or through one indirect table. */
#define VIRTQ_MAX_SEGMENTS 1024

struct virtq_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

struct virtq_used_elem {
	uint32_t id;
	uint32_t len;
};

struct virtq {
	const struct guest_memory *mem;
	uint16_t size;
	bool event_idx;          /* VIRTIO_RING_F_EVENT_IDX negotiated */
	bool indirect;           /* VIRTIO_RING_F_INDIRECT_DESC negotiated */
	bool broken;             /* the driver broke the ring: device needs reset */
	/* Host views of the three areas, checked once when the queue is enabled. */
	struct virtq_desc *desc;
	volatile uint16_t *avail_flags, *avail_idx, *avail_ring, *used_event;
	volatile uint16_t *used_flags, *used_idx, *avail_event;
	struct virtq_used_elem *used_ring;
	/* The used area, the one the device writes through the views above:
	 * marked dirty at each write for Diff snapshots (guest_mem_ptr marks
	 * only when a view is taken). */
	uint64_t used_gpa, used_bytes;
	uint16_t last_avail;     /* next avail entry to take */
	uint16_t next_used;      /* next used entry to fill */
	uint16_t signalled_used; /* used index at the last interrupt decision */
};

/* One request: where its buffers are in host memory. Readable (driver to
 * device) segments come first, then writable ones. */
struct virtq_chain {
	uint16_t head;
	unsigned int nr_out;     /* readable segments, iov[0 .. nr_out) */
	unsigned int nr_in;      /* writable segments, iov[nr_out .. nr_out + nr_in) */
	uint64_t out_len, in_len;
	struct iovec iov[VIRTQ_MAX_SEGMENTS];
};

enum virtq_error {
	VIRTQ_OK = 0,
	VIRTQ_ERR_RING = -1,     /* the ring itself is corrupt: queue broken */
	VIRTQ_ERR_CHAIN = -2,    /* this chain is malformed: fail the request */
};

/*
 * Enable a queue of size entries (a power of two, 1 to 32768) whose areas
 * are at the given guest-physical addresses. Returns 0, or -EINVAL when a
 * size or alignment is wrong or an area is not inside guest RAM.
 */
int virtq_init(struct virtq *q, const struct guest_memory *mem, uint16_t size,
	       uint64_t desc_gpa, uint64_t avail_gpa, uint64_t used_gpa,
	       bool event_idx, bool indirect);

/*
 * Take the next available chain. Returns 1 with chain filled; 0 when the
 * ring is empty; VIRTQ_ERR_CHAIN when this chain is malformed (chain->head
 * is valid: complete it with virtq_push(q, head, 0)); VIRTQ_ERR_RING when
 * the ring is corrupt (the queue is marked broken and returns that from
 * now on).
 */
int virtq_pop(struct virtq *q, struct virtq_chain *chain);
/* The count chains taken last and not yet returned (a device holding
 * receive buffers) will be written through views taken before now: mark
 * their writable buffers dirty again, for the next Diff snapshot. */
void virtq_mark_held_dirty(struct virtq *q, unsigned int count);

/* Return a chain to the driver with len bytes written into it. */
void virtq_push(struct virtq *q, uint16_t head, uint32_t len);

/* After pushing: true when the driver wants an interrupt now. */
bool virtq_should_interrupt(struct virtq *q);

/* Before the worker sleeps: ask for a kick at the next available entry.
 * Returns false if entries arrived meanwhile (do not sleep: pop again). */
bool virtq_prepare_sleep(struct virtq *q);

/* True when the driver has made entries available that were not popped. */
bool virtq_has_avail(struct virtq *q);

/* While the worker is busy: tell the driver kicks are not needed. */
void virtq_suppress_kicks(struct virtq *q);

/* Where the device stands in a ring: what a snapshot keeps of it. */
struct virtq_position {
	uint16_t last_avail, next_used, signalled_used;
	bool broken;
};

void virtq_get_position(const struct virtq *q, struct virtq_position *pos);
/* On a queue just set up with virtq_init, before its worker runs: every
 * index is valid (the ring's own checks at each pop bound what follows). */
void virtq_set_position(struct virtq *q, const struct virtq_position *pos);

/* vring_need_event from the spec: has [old, new) crossed event? */
static inline bool virtq_need_event(uint16_t event, uint16_t new_idx, uint16_t old_idx)
{
	return (uint16_t)(new_idx - event - 1) < (uint16_t)(new_idx - old_idx);
}

/* Bytes each area of a queue of size entries needs (spec 2.7). */
static inline uint64_t virtq_desc_bytes(uint16_t size) { return 16ULL * size; }
static inline uint64_t virtq_avail_bytes(uint16_t size) { return 6ULL + 2ULL * size; }
static inline uint64_t virtq_used_bytes(uint16_t size) { return 6ULL + 8ULL * size; }

#endif
