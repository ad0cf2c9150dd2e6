// SPDX-License-Identifier: MIT
#include "virtio/blk.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"
#include "util/metrics.h"
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
		virtio_blk_queue_stop(blk, q);
		block_engine_destroy(blk->queues[q]->engine);
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

static struct blk_queue *queue_of(const struct virtio_blk *blk, unsigned int q)
{
	return q < blk->nr_queues ? blk->queues[q] : NULL;
}

static bool completions_pending(void *device, struct virtq_worker *w)
{
	return block_engine_has_completions(queue_of(device, w->queue)->engine);
}

static bool requests_in_flight(void *device, struct virtq_worker *w)
{
	return queue_of(device, w->queue)->inflight > 0;
}

static int make_queue(struct virtio_blk *blk, unsigned int q)
{
	struct blk_queue *bq = calloc(1, sizeof(*bq));
	int ret;

	if (!bq)
		return -ENOMEM;
	/* One engine per queue: its worker is the only thread using it. */
	ret = block_engine_create(&bq->engine, &blk->backend, VIRTIO_BLK_QUEUE_SIZE);
	if (ret) {
		free(bq);
		return ret;
	}
	blk->queues[q] = bq;
	return 0;
}

int virtio_blk_queue_poll(void *device, unsigned int q, struct virtq_worker_poll *poll)
{
	struct virtio_blk *blk = device;
	int ret;

	if (q >= blk->nr_queues)
		return -EINVAL;
	if (!blk->queues[q] && (ret = make_queue(blk, q)))
		return ret;
	*poll = (struct virtq_worker_poll){
		.fd = blk->queues[q]->engine->notifier_fd,
		.ready = virtio_blk_reap,
		.batch_done = virtio_blk_batch_done,
		.pending = completions_pending,
		.busy_poll_max_ns = blk->busy_poll_ns,
		.in_flight = requests_in_flight,
	};
	return 0;
}

void virtio_blk_queue_stop(void *device, unsigned int q)
{
	struct blk_queue *bq = queue_of(device, q);
	struct block_completion dropped[32];

	if (!bq)
		return;
	while (bq->inflight) {
		int ret = block_engine_wait(bq->engine);
		unsigned int n;

		if (ret < 0 && ret != -EINTR && ret != -EAGAIN) {
			pr_err("virtio-blk: queue %u: %u requests left in flight: %s", q,
			       bq->inflight, strerror(-ret));
			break;
		}
		n = block_engine_reap(bq->engine, dropped, 32);
		for (unsigned int i = 0; i < n; i++)
			bq->req[dropped[i].user_data].busy = false;
		bq->inflight -= n;
	}
	for (unsigned int i = 0; i < VIRTIO_BLK_QUEUE_SIZE; i++)
		bq->req[i].busy = false;
}

/* Copy n bytes from the front of the readable segments, each fetched from
 * guest memory once: the header is validated and then used from the copy. */
static bool read_front(const struct virtq_chain *c, void *dst, size_t n)
{
	uint8_t *d = dst;

	for (unsigned int i = 0; i < c->nr_out && n; i++) {
		size_t k = c->iov[i].iov_len < n ? c->iov[i].iov_len : n;

		guest_copy_once(d, c->iov[i].iov_base, k);
		d += k;
		n -= k;
	}
	return n == 0;
}

/* Segments [first, last) with skip bytes dropped at the front and trim at
 * the back: the data part of a request. False when it breaks the limits
 * config space advertises: seg_max segments, each at most size_max. */
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
		if (r->nr_iov == VIRTIO_BLK_SEG_MAX || len > VIRTIO_BLK_SIZE_MAX)
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

static long finish(struct blk_request *r, uint8_t status)
{
	*r->status = status;
	r->busy = false;
	return status == VIRTIO_BLK_S_OK ? (long)r->written : 1;
}

/* A request the device cannot take as the driver wrote it. */
static long reject(struct blk_request *r, uint8_t status)
{
	METRIC_INC(block_invalid_reqs);
	return finish(r, status);
}

static long io_failed(struct blk_request *r)
{
	METRIC_INC(block_execute_fails);
	return finish(r, VIRTIO_BLK_S_IOERR);
}

static int queue_io(struct block_engine *e, const struct blk_request *r, uint64_t offset,
		    uint64_t len, bool unmap)
{
	switch (r->type) {
	case VIRTIO_BLK_T_IN:
		return block_engine_read(e, r->iov, r->nr_iov, offset, r->head);
	case VIRTIO_BLK_T_OUT:
		return block_engine_write(e, r->iov, r->nr_iov, offset, r->head);
	case VIRTIO_BLK_T_FLUSH:
		return block_engine_flush(e, r->head);
	case VIRTIO_BLK_T_DISCARD:
		return block_engine_discard(e, offset, len, r->head);
	default:
		return block_engine_write_zeroes(e, offset, len, unmap, r->head);
	}
}

/* Give the request to the engine; it completes through virtio_blk_reap.
 * offset and len are bytes; len and unmap matter to discard and zeroes. */
static long submit(struct blk_queue *bq, struct blk_request *r, uint64_t offset,
		   uint64_t len, bool unmap)
{
	if (queue_io(bq->engine, r, offset, len, unmap) < 0)
		return io_failed(r);
	bq->inflight++;
	return VIRTQ_PENDING; /* sent with the batch: virtio_blk_batch_done */
}

static long read_or_write(struct virtio_blk *blk, struct blk_queue *bq, struct blk_request *r,
			  const struct virtq_chain *c, uint64_t sector)
{
	bool in = r->type == VIRTIO_BLK_T_IN;
	uint64_t bytes;

	if (!in && blk->backend.readonly)
		return reject(r, VIRTIO_BLK_S_IOERR);
	/* Reads fill the writable part but its last byte (the status);
	 * writes take the readable part after the header. */
	if (in ? !slice(c, c->nr_out, c->nr_out + c->nr_in, 0, 1, r)
	       : !slice(c, 0, c->nr_out, HEADER_BYTES, 0, r))
		return reject(r, VIRTIO_BLK_S_IOERR);
	bytes = iov_bytes(r);
	if (bytes % SECTOR || !in_range(blk, sector, bytes))
		return reject(r, VIRTIO_BLK_S_IOERR);
	r->expect = bytes;
	if (in)
		r->written += bytes;
	return submit(bq, r, sector * SECTOR, 0, false);
}

static long discard_or_zero(struct virtio_blk *blk, struct blk_queue *bq, struct blk_request *r,
			    const struct virtq_chain *c)
{
	struct blk_range range;
	uint64_t bytes;

	if (blk->backend.readonly || !slice(c, 0, c->nr_out, HEADER_BYTES, 0, r))
		return reject(r, VIRTIO_BLK_S_IOERR);
	/* One range per request (max_*_seg is 1). */
	if (r->nr_iov != 1 || r->iov[0].iov_len != sizeof(range))
		return reject(r, VIRTIO_BLK_S_UNSUPP);
	guest_copy_once(&range, r->iov[0].iov_base, sizeof(range));
	bytes = (uint64_t)range.num_sectors * SECTOR;
	if (!in_range(blk, range.sector, bytes))
		return reject(r, VIRTIO_BLK_S_IOERR);
	return submit(bq, r, range.sector * SECTOR, bytes, range.flags & 1);
}

static long get_id(const struct virtio_blk *blk, struct blk_request *r,
		   const struct virtq_chain *c)
{
	uint64_t bytes;

	if (!slice(c, c->nr_out, c->nr_out + c->nr_in, 0, 1, r) || !r->nr_iov)
		return reject(r, VIRTIO_BLK_S_IOERR);
	bytes = iov_bytes(r) < VIRTIO_BLK_ID_BYTES ? iov_bytes(r) : VIRTIO_BLK_ID_BYTES;
	for (unsigned int i = 0, done = 0; i < r->nr_iov && done < bytes; i++) {
		size_t k = r->iov[i].iov_len < bytes - done ? r->iov[i].iov_len : bytes - done;

		memcpy(r->iov[i].iov_base, blk->serial + done, k);
		done += (unsigned int)k;
	}
	r->written = bytes + 1;
	return finish(r, VIRTIO_BLK_S_OK);
}

static long handle(struct virtio_blk *blk, struct blk_queue *bq, struct blk_request *r,
		   const struct virtq_chain *c)
{
	struct blk_header h;

	if (!read_front(c, &h, sizeof(h)))
		return reject(r, VIRTIO_BLK_S_IOERR);
	r->type = h.type;
	switch (h.type) {
	case VIRTIO_BLK_T_IN:
	case VIRTIO_BLK_T_OUT:
		return read_or_write(blk, bq, r, c, h.sector);
	case VIRTIO_BLK_T_FLUSH:
		return submit(bq, r, 0, 0, false);
	case VIRTIO_BLK_T_GET_ID:
		return get_id(blk, r, c);
	case VIRTIO_BLK_T_DISCARD:
	case VIRTIO_BLK_T_WRITE_ZEROES:
		return discard_or_zero(blk, bq, r, c);
	default:
		return reject(r, VIRTIO_BLK_S_UNSUPP);
	}
}

long virtio_blk_handle(void *device, struct virtq_worker *w, struct virtq_chain *c)
{
	struct virtio_blk *blk = device;
	struct blk_queue *bq = queue_of(blk, w->queue);
	struct blk_request *r;
	struct iovec *last;

	/* Every request ends with a writable status byte. */
	if (!bq || c->nr_in == 0 || c->head >= VIRTIO_BLK_QUEUE_SIZE) {
		METRIC_INC(block_invalid_reqs);
		return -EINVAL;
	}
	r = &bq->req[c->head];
	/* A driver that offers a head still in flight gets nothing back for
	 * it (completing it now would put the head in the used ring twice). */
	if (r->busy) {
		METRIC_INC(block_invalid_reqs);
		return VIRTQ_PENDING;
	}
	last = &c->iov[c->nr_out + c->nr_in - 1];
	/* Field by field: the iovec array is filled only as far as used. */
	r->busy = true;
	r->head = c->head;
	r->status = (uint8_t *)last->iov_base + last->iov_len - 1;
	r->written = 1;
	r->expect = 0;
	r->nr_iov = 0;
	return handle(blk, bq, r, c);
}

void virtio_blk_batch_done(void *device, struct virtq_worker *w)
{
	struct blk_queue *bq = queue_of(device, w->queue);
	int ret;

	/* What stays queued on a failure goes with the next batch. */
	if (bq && (ret = block_engine_submit(bq->engine)) < 0)
		pr_warn("virtio-blk: queue %u: submit: %s", w->queue, strerror(-ret));
}

static void count_completion(const struct blk_request *r, bool ok)
{
	if (!ok) {
		METRIC_INC(block_execute_fails);
		return;
	}
	switch (r->type) {
	case VIRTIO_BLK_T_IN:
		METRIC_ADD(block_read_bytes, r->expect);
		METRIC_INC(block_read_count);
		break;
	case VIRTIO_BLK_T_OUT:
		METRIC_ADD(block_write_bytes, r->expect);
		METRIC_INC(block_write_count);
		break;
	case VIRTIO_BLK_T_FLUSH:
		METRIC_INC(block_flush_count);
		break;
	}
}

static void complete(struct blk_queue *bq, struct virtq_worker *w,
		     const struct block_completion *done)
{
	struct blk_request *r = &bq->req[done->user_data];
	/* A short transfer is an error: the status says so. */
	bool ok = done->result >= 0 && (uint64_t)done->result == r->expect;

	bq->inflight--;
	count_completion(r, ok);
	finish(r, ok ? VIRTIO_BLK_S_OK : VIRTIO_BLK_S_IOERR);
	virtq_worker_push(w, r->head, ok ? (uint32_t)r->written : 1);
}

/* Completions: each becomes a used entry, interrupting as the driver asked. */
void virtio_blk_reap(void *device, struct virtq_worker *w)
{
	struct blk_queue *bq = queue_of(device, w->queue);
	/* Room for all a queue can have in flight: one reap takes them all. */
	struct block_completion done[VIRTIO_BLK_QUEUE_SIZE];
	unsigned int n, total = 0;

	do {
		n = block_engine_reap(bq->engine, done, VIRTIO_BLK_QUEUE_SIZE);
		for (unsigned int i = 0; i < n; i++)
			complete(bq, w, &done[i]);
		total += n;
	} while (n == VIRTIO_BLK_QUEUE_SIZE);
	if (total)
		virtq_worker_interrupt(w);
}

int virtio_blk_replace_backend(struct virtio_blk *blk, const char *path, struct kiln_err *err)
{
	for (unsigned int q = 0; q < blk->nr_queues; q++)
		if (blk->queues[q] && blk->queues[q]->inflight)
			return err_set(err, -EBUSY, "disk '%s': %u requests in flight; pause the "
				       "device before replacing it with '%s'", blk->backend.path,
				       blk->queues[q]->inflight, path);
	/* The engines read the backend at each operation: they follow. */
	return block_replace(&blk->backend, path, err);
}

/* The disk's size: the image is reopened from the configuration, and one
 * of another size is not the disk the guest knew. */
void virtio_blk_save(void *device, struct state_writer *w)
{
	struct virtio_blk *blk = device;

	state_put_u64(w, blk->backend.size / SECTOR);
}

int virtio_blk_load(void *device, struct state_reader *r, const char *name,
		    struct kiln_err *err)
{
	struct virtio_blk *blk = device;
	uint64_t sectors = state_get_u64(r);
	int ret = device_state_check_length(r, name, err);

	if (!ret && sectors != blk->backend.size / SECTOR)
		ret = err_set(err, -EINVAL, "%s: the snapshot's disk has %llu sectors, this one "
			      "%llu: not the same image", name, (unsigned long long)sectors,
			      (unsigned long long)(blk->backend.size / SECTOR));
	return ret;
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
			.queue_poll = virtio_blk_queue_poll, .queue_stop = virtio_blk_queue_stop,
			.save = virtio_blk_save, .load = virtio_blk_load, .device = blk,
			.worker_sandbox = SANDBOX_THREAD_WORKER_BLK,
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
		/* Every queue's block engine now, on the thread that builds the
		 * machine: the vCPUs that enable queues may not create one (their
		 * seccomp list lacks what an engine is made with). */
		for (unsigned int q = 0; !ret && q < blk->nr_queues; q++)
			ret = make_queue(blk, q);
		if (ret) {
			blk_free(blk);
			return err_set_errno(err, ret, "disk '%s': cannot set up its block engine",
					     d->path);
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
