// SPDX-License-Identifier: MIT
#include "virtio/blk.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bus/io_bus.h"
#include "virtio/pci_device.h"

#define SECTOR 512ULL
#define HEADER_BYTES 16

struct blk_header {
	uint32_t type, reserved;
	uint64_t sector;
};

struct blk_range {
	uint64_t sector;
	uint32_t num_sectors, flags;
};

int virtio_blk_init(struct virtio_blk *blk, const char *path, bool readonly,
		    unsigned int nr_queues, const char *serial, enum block_direct direct,
		    struct kiln_err *err)
{
	memset(blk, 0, sizeof(*blk));
	blk->backend.fd = blk->backend.direct_fd = -1;
	if (nr_queues == 0 || nr_queues > VIRTIO_BLK_MAX_QUEUES)
		return err_set(err, -EINVAL, "disk '%s': queues=%u (1 to %d)", path, nr_queues,
			       VIRTIO_BLK_MAX_QUEUES);
	blk->nr_queues = nr_queues;
	/* The ID is at most 20 bytes, NUL-padded, not necessarily terminated. */
	if (serial)
		memcpy(blk->serial, serial, strnlen(serial, sizeof(blk->serial)));
	return block_open(&blk->backend, path, readonly, direct, err);
}

void virtio_blk_destroy(struct virtio_blk *blk)
{
	for (unsigned int q = 0; q < VIRTIO_BLK_MAX_QUEUES; q++) {
		if (!blk->queues[q])
			continue;
		block_ring_exit(&blk->queues[q]->ring);
		free(blk->queues[q]);
		blk->queues[q] = NULL;
	}
	block_close(&blk->backend);
}

uint64_t virtio_blk_features(const struct virtio_blk *blk)
{
	uint64_t f = (1ULL << VIRTIO_BLK_F_SIZE_MAX) | (1ULL << VIRTIO_BLK_F_SEG_MAX) |
		     (1ULL << VIRTIO_BLK_F_BLK_SIZE) | (1ULL << VIRTIO_BLK_F_FLUSH) |
		     (1ULL << VIRTIO_BLK_F_MQ);

	if (blk->backend.readonly)
		return f | (1ULL << VIRTIO_BLK_F_RO);
	return f | (1ULL << VIRTIO_BLK_F_DISCARD) | (1ULL << VIRTIO_BLK_F_WRITE_ZEROES);
}

void virtio_blk_config_read(void *device, uint64_t off, uint8_t *data, unsigned int size)
{
	struct virtio_blk *blk = device;
	uint8_t cfg[64] = { 0 };
	uint64_t capacity = blk->backend.size / SECTOR;
	uint32_t size_max = VIRTIO_BLK_SIZE_MAX, seg_max = VIRTIO_BLK_SEG_MAX;
	uint32_t blk_size = blk->backend.block_size, max_sectors = UINT32_MAX / SECTOR;
	uint32_t one = 1, align = blk->backend.block_size / SECTOR;
	uint16_t queues = (uint16_t)blk->nr_queues;

	memcpy(cfg + 0, &capacity, 8);
	memcpy(cfg + 8, &size_max, 4);
	memcpy(cfg + 12, &seg_max, 4);
	memcpy(cfg + 20, &blk_size, 4);
	memcpy(cfg + 34, &queues, 2);
	memcpy(cfg + 36, &max_sectors, 4);   /* max_discard_sectors */
	memcpy(cfg + 40, &one, 4);           /* max_discard_seg */
	memcpy(cfg + 44, &align, 4);         /* discard_sector_alignment */
	memcpy(cfg + 48, &max_sectors, 4);   /* max_write_zeroes_sectors */
	memcpy(cfg + 52, &one, 4);           /* max_write_zeroes_seg */
	cfg[56] = 1;                         /* write_zeroes_may_unmap */
	if (off >= sizeof(cfg) || size > sizeof(cfg) - off)
		memset(data, 0, size);
	else
		memcpy(data, cfg + off, size);
}

/* After a reset, requests of the old ring may still be in flight: wait for
 * them and drop their completions, so none lands in the new ring. */
static void drain(struct blk_queue *bq)
{
	struct io_uring_cqe *cqe;

	while (bq->inflight && io_uring_wait_cqe(&bq->ring.ring, &cqe) == 0) {
		io_uring_cqe_seen(&bq->ring.ring, cqe);
		bq->inflight--;
	}
}

static bool completions_pending(void *device, struct virtq_worker *w)
{
	struct virtio_blk *blk = device;

	return io_uring_cq_ready(&blk->queues[w->queue]->ring.ring) > 0;
}

int virtio_blk_queue_poll(void *device, unsigned int q, struct virtq_worker_poll *poll)
{
	struct virtio_blk *blk = device;
	int ret;

	if (q >= blk->nr_queues)
		return -EINVAL;
	if (blk->queues[q])
		drain(blk->queues[q]);
	if (!blk->queues[q]) {
		blk->queues[q] = calloc(1, sizeof(*blk->queues[q]));
		if (!blk->queues[q])
			return -ENOMEM;
		ret = block_ring_init(&blk->queues[q]->ring, VIRTIO_BLK_QUEUE_SIZE);
		if (ret) {
			free(blk->queues[q]);
			blk->queues[q] = NULL;
			return ret;
		}
	}
	*poll = (struct virtq_worker_poll){
		.fd = blk->queues[q]->ring.event_fd,
		.ready = virtio_blk_reap,
		.batch_done = virtio_blk_batch_done,
		.pending = completions_pending,
		.busy_poll_max_ns = blk->busy_poll_ns,
	};
	return 0;
}

/* Copy n bytes from the front of the readable segments. */
static bool read_front(const struct virtq_chain *c, void *dst, size_t n)
{
	uint8_t *d = dst;

	for (unsigned int i = 0; i < c->nr_out && n; i++) {
		size_t k = c->iov[i].iov_len < n ? c->iov[i].iov_len : n;

		memcpy(d, c->iov[i].iov_base, k);
		d += k;
		n -= k;
	}
	return n == 0;
}

/* Segments [first, last) with skip bytes dropped at the front and trim at
 * the back: the data part of a request. */
static bool slice(const struct virtq_chain *c, unsigned int first, unsigned int last,
		  uint64_t skip, uint64_t trim, struct blk_request *r)
{
	uint64_t total = 0;

	r->nr_iov = 0;
	for (unsigned int i = first; i < last; i++)
		total += c->iov[i].iov_len;
	if (skip + trim > total)
		return false;
	total -= skip + trim;
	for (unsigned int i = first; i < last && total; i++) {
		uint8_t *base = c->iov[i].iov_base;
		uint64_t len = c->iov[i].iov_len;

		if (skip >= len) {
			skip -= len;
			continue;
		}
		base += skip;
		len -= skip;
		skip = 0;
		if (len > total)
			len = total;
		if (r->nr_iov == VIRTIO_BLK_SEG_MAX)
			return false;
		r->iov[r->nr_iov++] = (struct iovec){ base, len };
		total -= len;
	}
	return true;
}

static uint64_t iov_bytes(const struct blk_request *r)
{
	uint64_t n = 0;

	for (unsigned int i = 0; i < r->nr_iov; i++)
		n += r->iov[i].iov_len;
	return n;
}

static bool in_range(const struct virtio_blk *blk, uint64_t sector, uint64_t bytes)
{
	uint64_t size = blk->backend.size;

	return sector <= size / SECTOR && bytes <= size - sector * SECTOR;
}

static uint8_t discard_or_zero(struct virtio_blk *blk, uint32_t type, struct blk_request *r)
{
	struct blk_range range;

	if (blk->backend.readonly)
		return VIRTIO_BLK_S_IOERR;
	/* One range per request (max_*_seg is 1). */
	if (r->nr_iov != 1 || r->iov[0].iov_len != sizeof(range))
		return VIRTIO_BLK_S_UNSUPP;
	memcpy(&range, r->iov[0].iov_base, sizeof(range));
	if (!in_range(blk, range.sector, (uint64_t)range.num_sectors * SECTOR))
		return VIRTIO_BLK_S_IOERR;
	if (type == VIRTIO_BLK_T_DISCARD)
		return block_discard(&blk->backend, range.sector * SECTOR,
				     (uint64_t)range.num_sectors * SECTOR)
			       ? VIRTIO_BLK_S_IOERR : VIRTIO_BLK_S_OK;
	return block_write_zeroes(&blk->backend, range.sector * SECTOR,
				  (uint64_t)range.num_sectors * SECTOR, range.flags & 1)
		       ? VIRTIO_BLK_S_IOERR : VIRTIO_BLK_S_OK;
}

static long finish(struct blk_request *r, uint8_t status)
{
	*r->status = status;
	r->busy = false;
	return status == VIRTIO_BLK_S_OK ? (long)r->written : 1;
}

/* Queue the I/O on the ring; completion comes back through reap. */
static long submit(struct virtio_blk *blk, struct blk_queue *bq, struct blk_request *r,
		   uint32_t type, uint64_t sector)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&bq->ring.ring);
	uint64_t offset = sector * SECTOR;
	int fd;

	if (!sqe) {
		/* The submission ring is full of this batch: send it now. */
		io_uring_submit(&bq->ring.ring);
		sqe = io_uring_get_sqe(&bq->ring.ring);
	}
	if (!sqe)
		return finish(r, VIRTIO_BLK_S_IOERR);
	fd = block_fd_for(&blk->backend, r->iov, r->nr_iov, offset);
	if (type == VIRTIO_BLK_T_IN)
		io_uring_prep_readv(sqe, fd, r->iov, r->nr_iov, offset);
	else if (type == VIRTIO_BLK_T_OUT)
		io_uring_prep_writev(sqe, fd, r->iov, r->nr_iov, offset);
	else
		io_uring_prep_fsync(sqe, blk->backend.fd, IORING_FSYNC_DATASYNC);
	io_uring_sqe_set_data(sqe, r);
	bq->inflight++;
	return VIRTQ_PENDING; /* submitted with the batch: virtio_blk_batch_done */
}

static long handle(struct virtio_blk *blk, struct blk_queue *bq, struct blk_request *r,
		   const struct virtq_chain *c)
{
	struct blk_header h;
	uint64_t bytes;

	if (!read_front(c, &h, sizeof(h)))
		return finish(r, VIRTIO_BLK_S_IOERR);
	switch (h.type) {
	case VIRTIO_BLK_T_IN:
		if (!slice(c, c->nr_out, c->nr_out + c->nr_in, 0, 1, r))
			return finish(r, VIRTIO_BLK_S_IOERR);
		bytes = iov_bytes(r);
		if (bytes % SECTOR || !in_range(blk, h.sector, bytes))
			return finish(r, VIRTIO_BLK_S_IOERR);
		r->expect = (uint32_t)bytes;
		r->written = (uint32_t)bytes + 1;
		return submit(blk, bq, r, h.type, h.sector);
	case VIRTIO_BLK_T_OUT:
		if (blk->backend.readonly || !slice(c, 0, c->nr_out, HEADER_BYTES, 0, r))
			return finish(r, VIRTIO_BLK_S_IOERR);
		bytes = iov_bytes(r);
		if (bytes % SECTOR || !in_range(blk, h.sector, bytes))
			return finish(r, VIRTIO_BLK_S_IOERR);
		r->expect = (uint32_t)bytes;
		return submit(blk, bq, r, h.type, h.sector);
	case VIRTIO_BLK_T_FLUSH:
		r->nr_iov = 0;
		r->expect = 0;
		return submit(blk, bq, r, h.type, 0);
	case VIRTIO_BLK_T_GET_ID:
		if (!slice(c, c->nr_out, c->nr_out + c->nr_in, 0, 1, r) || !r->nr_iov)
			return finish(r, VIRTIO_BLK_S_IOERR);
		bytes = iov_bytes(r) < VIRTIO_BLK_ID_BYTES ? iov_bytes(r) : VIRTIO_BLK_ID_BYTES;
		for (unsigned int i = 0, done = 0; i < r->nr_iov && done < bytes; i++) {
			size_t k = r->iov[i].iov_len < bytes - done ? r->iov[i].iov_len : bytes - done;

			memcpy(r->iov[i].iov_base, blk->serial + done, k);
			done += (unsigned int)k;
		}
		r->written = (uint32_t)bytes + 1;
		return finish(r, VIRTIO_BLK_S_OK);
	case VIRTIO_BLK_T_DISCARD:
	case VIRTIO_BLK_T_WRITE_ZEROES:
		if (!slice(c, 0, c->nr_out, HEADER_BYTES, 0, r))
			return finish(r, VIRTIO_BLK_S_IOERR);
		return finish(r, discard_or_zero(blk, h.type, r));
	default:
		return finish(r, VIRTIO_BLK_S_UNSUPP);
	}
}

long virtio_blk_handle(void *device, struct virtq_worker *w, struct virtq_chain *c)
{
	struct virtio_blk *blk = device;
	struct blk_queue *bq = w->queue < blk->nr_queues ? blk->queues[w->queue] : NULL;
	struct blk_request *r;
	struct iovec *last;

	/* Every request ends with a writable status byte. */
	if (!bq || c->nr_in == 0 || c->head >= VIRTIO_BLK_QUEUE_SIZE)
		return -EINVAL;
	r = &bq->req[c->head];
	/* A driver that offers a head still in flight gets nothing back for it. */
	if (r->busy)
		return -EBUSY;
	last = &c->iov[c->nr_out + c->nr_in - 1];
	r->busy = true;
	r->head = c->head;
	r->status = (uint8_t *)last->iov_base + last->iov_len - 1;
	r->written = 1;
	return handle(blk, bq, r, c);
}

void virtio_blk_batch_done(void *device, struct virtq_worker *w)
{
	struct virtio_blk *blk = device;
	struct blk_queue *bq = blk->queues[w->queue];

	if (bq && io_uring_sq_ready(&bq->ring.ring))
		io_uring_submit(&bq->ring.ring);
}

/* Completions: each becomes a used entry, interrupting as the driver asked. */
void virtio_blk_reap(void *device, struct virtq_worker *w)
{
	struct virtio_blk *blk = device;
	struct blk_queue *bq = blk->queues[w->queue];
	struct io_uring_cqe *cqe;
	uint64_t count;
	bool completed = false;

	/* Clear the eventfd first: completions after this re-arm it. */
	if (read(bq->ring.event_fd, &count, sizeof(count)) < 0 && errno != EAGAIN)
		perror("kiln: virtio-blk completion eventfd");
	while (io_uring_peek_cqe(&bq->ring.ring, &cqe) == 0) {
		struct blk_request *r = io_uring_cqe_get_data(cqe);
		bool ok = cqe->res >= 0 && (uint32_t)cqe->res == r->expect;

		io_uring_cqe_seen(&bq->ring.ring, cqe);
		bq->inflight--;
		/* A short transfer is an error: the status says so. */
		finish(r, ok ? VIRTIO_BLK_S_OK : VIRTIO_BLK_S_IOERR);
		virtq_worker_push(w, r->head, ok ? r->written : 1);
		completed = true;
	}
	if (completed)
		virtq_worker_interrupt(w);
}

static void blk_free(void *device)
{
	virtio_blk_destroy(device);
	free(device);
}

/* One virtio-blk function per --disk, named blk0, blk1, ... */
static int virtio_blk_create(const struct device_env *env, struct kiln_err *err)
{
	for (unsigned int i = 0; i < env->cfg->nr_disks; i++) {
		const struct kiln_disk *d = &env->cfg->disks[i];
		struct virtio_blk *blk = calloc(1, sizeof(*blk));
		struct virtio_device_model model = {
			.device_id = VIRTIO_ID_BLOCK, .class_code = 0x018000,
			.nr_queues = d->queues, .queue_max_size = VIRTIO_BLK_QUEUE_SIZE,
			.handler = virtio_blk_handle, .config_read = virtio_blk_config_read,
			.queue_poll = virtio_blk_queue_poll, .device = blk,
		};
		char name[16];
		int ret;

		if (!blk)
			return err_set(err, -ENOMEM, "out of memory for disk '%s'", d->path);
		ret = virtio_blk_init(blk, d->path, d->readonly, d->queues, d->serial,
				      (enum block_direct)d->direct, err);
		if (ret) {
			blk_free(blk);
			return ret;
		}
		blk->busy_poll_ns = d->poll_us * 1000;
		model.features = virtio_blk_features(blk);
		snprintf(name, sizeof(name), "blk%u", i);
		ret = virtio_pci_device_add(env, name, &model, blk_free, err);
		if (ret)
			return ret;
	}
	return 0;
}

const struct device_kind virtio_blk_kind = { "virtio-blk", virtio_blk_create };
