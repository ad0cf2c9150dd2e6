/* SPDX-License-Identifier: MIT */
/*
 * virtio-blk (virtio 1.2, 5.2) over a block backend: every request but
 * GET_ID goes to the queue's block engine (backends/block_engine.h) with
 * many requests in flight, and completes when the engine reaps it; GET_ID
 * returns the serial. The device never sees how the engine does its I/O.
 */
#ifndef KILN_VIRTIO_BLK_H
#define KILN_VIRTIO_BLK_H

#include "backends/block_engine.h"
#include "devices/device.h"
#include "util/state_buf.h"
#include "virtio/worker.h"

#define VIRTIO_ID_BLOCK 2
#define VIRTIO_BLK_MAX_QUEUES 8
#define VIRTIO_BLK_QUEUE_SIZE 256
#define VIRTIO_BLK_SEG_MAX    126   /* data segments per request */
#define VIRTIO_BLK_SIZE_MAX   (1u << 20)
#define VIRTIO_BLK_ID_BYTES   20

/* Feature bits (5.2.3). */
#define VIRTIO_BLK_F_SIZE_MAX     1
#define VIRTIO_BLK_F_SEG_MAX      2
#define VIRTIO_BLK_F_RO           5
#define VIRTIO_BLK_F_BLK_SIZE     6
#define VIRTIO_BLK_F_FLUSH        9
#define VIRTIO_BLK_F_MQ           12
#define VIRTIO_BLK_F_DISCARD      13
#define VIRTIO_BLK_F_WRITE_ZEROES 14

/* Request types and status values (5.2.6). */
#define VIRTIO_BLK_T_IN           0
#define VIRTIO_BLK_T_OUT          1
#define VIRTIO_BLK_T_FLUSH        4
#define VIRTIO_BLK_T_GET_ID       8
#define VIRTIO_BLK_T_DISCARD      11
#define VIRTIO_BLK_T_WRITE_ZEROES 13
#define VIRTIO_BLK_S_OK     0
#define VIRTIO_BLK_S_IOERR  1
#define VIRTIO_BLK_S_UNSUPP 2

struct blk_request {
	bool busy;             /* popped and not yet completed */
	uint16_t head;
	uint32_t type;         /* VIRTIO_BLK_T_*, for the metrics at completion */
	uint8_t *status;
	/* 64-bit: a chain's lengths add up past 4 GiB; within the limits
	 * enforced (seg_max segments of size_max) they fit a used entry. */
	uint64_t written;      /* bytes into writable buffers, status included */
	uint64_t expect;       /* bytes the I/O must move */
	struct iovec iov[VIRTIO_BLK_SEG_MAX];
	unsigned int nr_iov;
};

struct blk_queue {
	struct block_engine *engine;
	unsigned int inflight;     /* given to the engine, not yet reaped */
	struct blk_request req[VIRTIO_BLK_QUEUE_SIZE];   /* by descriptor head */
};

struct virtio_blk {
	struct block_backend backend;
	char serial[VIRTIO_BLK_ID_BYTES];
	unsigned int nr_queues;
	struct blk_queue *queues[VIRTIO_BLK_MAX_QUEUES];   /* made when enabled */
	uint32_t busy_poll_ns;   /* workers' longest busy-poll (0: never), set after init */
};

int virtio_blk_init(struct virtio_blk *blk, const char *path, bool readonly,
		    unsigned int nr_queues, const char *serial, enum block_direct direct,
		    struct kiln_err *err);
void virtio_blk_destroy(struct virtio_blk *blk);

/* Device-specific feature bits to offer. */
uint64_t virtio_blk_features(const struct virtio_blk *blk);
/* The device configuration space (capacity, limits, queues). */
void virtio_blk_config_read(void *device, uint64_t off, uint8_t *data, unsigned int size);
/* Set up queue q's engine; the worker sleeps on its notifier too. */
int virtio_blk_queue_poll(void *device, unsigned int q, struct virtq_worker_poll *poll);
/* The model's queue_stop, once queue q's worker is joined: wait for all the
 * queue still has in flight and drop it (no used entry, no status: the ring
 * is gone), so that nothing writes guest memory after it returns and every
 * head is free for the driver's next requests. */
void virtio_blk_queue_stop(void *device, unsigned int q);
long virtio_blk_handle(void *device, struct virtq_worker *w, struct virtq_chain *chain);
/* Snapshot hooks: the disk's size, which a restore must find again. */
void virtio_blk_save(void *device, struct state_writer *w);
int virtio_blk_load(void *device, struct state_reader *r, const char *name,
		    struct kiln_err *err);
/* The poll callback: complete what the queue's engine finished. */
void virtio_blk_reap(void *device, struct virtq_worker *w);
/* The batch callback: one engine submit for everything queued. */
void virtio_blk_batch_done(void *device, struct virtq_worker *w);

/*
 * PATCH /drives: serve path from now on, opened and locked with the same
 * readonly and direct settings. The new file is opened first: a failure
 * leaves the old one in use and err names path. The caller has paused the
 * device (workers parked, nothing in flight: -EBUSY otherwise); the
 * capacity in config space follows the new size, and the caller tells the
 * driver about the change.
 */
int virtio_blk_replace_backend(struct virtio_blk *blk, const char *path, struct kiln_err *err);

/* The board's entry: a disk per configured --disk. */
extern const struct device_kind virtio_blk_kind;

#endif
