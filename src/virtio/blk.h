/* SPDX-License-Identifier: MIT */
/*
 * virtio-blk (virtio 1.2, 5.2) over a block backend: reads and writes go to
 * the queue's io_uring with many requests in flight; flush is fdatasync;
 * discard and write-zeroes are fallocate; GET_ID returns the serial.
 */
#ifndef KILN_VIRTIO_BLK_H
#define KILN_VIRTIO_BLK_H

#include "backends/block.h"
#include "devices/device.h"
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
	bool busy;
	uint16_t head;
	uint8_t *status;
	uint32_t written;      /* bytes into writable buffers, status included */
	uint32_t expect;       /* bytes the I/O must move */
	struct iovec iov[VIRTIO_BLK_SEG_MAX + 2];
	unsigned int nr_iov;
};

struct blk_queue {
	struct block_ring ring;
	unsigned int inflight;     /* submitted to io_uring, not yet reaped */
	struct blk_request req[VIRTIO_BLK_QUEUE_SIZE];
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
/* Set up queue q's io_uring; the worker sleeps on its eventfd too. */
int virtio_blk_queue_poll(void *device, unsigned int q, struct virtq_worker_poll *poll);
long virtio_blk_handle(void *device, struct virtq_worker *w, struct virtq_chain *chain);
/* The poll callback: complete what the queue's io_uring finished. */
void virtio_blk_reap(void *device, struct virtq_worker *w);
/* The batch callback: one io_uring_submit for everything queued. */
void virtio_blk_batch_done(void *device, struct virtq_worker *w);

/* The board's entry: a disk per configured --disk. */
extern const struct device_kind virtio_blk_kind;

#endif
