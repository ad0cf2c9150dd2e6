// SPDX-License-Identifier: MIT
/*
 * virtio-blk throughput with kiln's device driven by the host harness: a
 * driver thread per queue keeps DEPTH requests in flight against the same
 * worker threads and io_uring path a guest uses, without a guest.
 *
 * usage: blk-harness FILE randread|seqread|seqwrite BLOCK DEPTH QUEUES SECONDS [POLL_US]
 * (POLL_US: the workers' busy-poll window, as --disk ...,poll=US; default 0)
 * prints: iops=N mbps=N
 */
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "virtio/blk.h"
#include "virtq_driver.h"

#define RAM (512ULL << 20)
#define QSIZE 256

struct job {
	struct guest_memory *mem;
	struct virtio_blk *blk;
	unsigned int queue, depth;
	uint32_t block;
	int mode; /* 0 randread, 1 seqread, 2 seqwrite */
	double seconds;
	uint64_t done;
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void *run_job(void *arg)
{
	struct job *j = arg;
	uint64_t base = 0x1000000ULL + (uint64_t)j->queue * (64ULL << 20);
	uint64_t ring = base, hdrs = base + 0x100000, data = base + 0x200000;
	uint64_t sectors = j->blk->backend.size / 512, per = j->block / 512, next = 0;
	uint64_t seed = 0x9e3779b97f4a7c15ULL * (j->queue + 1);
	struct vdriver *d = calloc(1, sizeof(*d));
	struct virtq_worker *w = calloc(1, sizeof(*w));
	int kick = eventfd(0, EFD_NONBLOCK), irq = eventfd(0, EFD_NONBLOCK);
	struct virtq vq;
	struct virtq_worker_poll poll_fd;
	unsigned int inflight = 0;
	double end;

	vdriver_init(d, j->mem, ring, QSIZE, true);
	virtq_init(&vq, j->mem, QSIZE, d->desc_gpa, d->avail_gpa, d->used_gpa, true, true);
	virtio_blk_queue_poll(j->blk, j->queue, &poll_fd);
	virtq_worker_start_polling(w, &vq, kick, irq, virtio_blk_handle, j->blk, j->queue,
				   "vq-bench", &poll_fd);
	end = now() + j->seconds;
	while (now() < end || inflight) {
		uint16_t head;
		uint32_t len;
		bool added = false;

		while (now() < end && inflight < j->depth) {
			uint32_t slot = d->free_head;
			uint64_t sector;
			uint32_t hdr[4];
			struct vbuf bufs[3];

			if (j->mode == 0) {
				seed ^= seed << 13; seed ^= seed >> 7; seed ^= seed << 17;
				sector = (seed % (sectors / per)) * per;
			} else {
				sector = next;
				next = (next + per) % (sectors - per);
			}
			hdr[0] = j->mode == 2 ? VIRTIO_BLK_T_OUT : VIRTIO_BLK_T_IN;
			hdr[1] = 0;
			memcpy(&hdr[2], &sector, 8);
			memcpy(guest_mem_ptr(j->mem, hdrs + slot * 32, 16), hdr, 16);
			bufs[0] = (struct vbuf){ hdrs + slot * 32, 16, false };
			bufs[1] = (struct vbuf){ data + (uint64_t)(slot / 3) * j->block, j->block,
						 j->mode != 2 };
			bufs[2] = (struct vbuf){ hdrs + slot * 32 + 16, 1, true };
			vdriver_queue_head(d, (uint16_t)vdriver_add(d, bufs, 3));
			inflight++;
			added = true;
		}
		if (added && vdriver_publish(d) && write(kick, &(uint64_t){ 1 }, 8) < 0)
			perror("kick");
		while (vdriver_get_used(d, &head, &len)) {
			inflight--;
			j->done++;
		}
		if (inflight && vdriver_prepare_wait(d)) {
			struct pollfd p = { .fd = irq, .events = POLLIN };
			uint64_t v;

			if (poll(&p, 1, 1000) == 1 && read(irq, &v, 8) < 0)
				perror("irq");
		}
	}
	virtq_worker_stop(w);
	return NULL;
}

int main(int argc, char **argv)
{
	struct kiln_err err = { 0 };
	struct guest_memory mem;
	struct virtio_blk blk;
	struct job jobs[VIRTIO_BLK_MAX_QUEUES];
	pthread_t threads[VIRTIO_BLK_MAX_QUEUES];
	unsigned int queues;
	uint64_t total = 0;
	double seconds;
	int mode;

	if (argc != 7 && argc != 8) {
		fprintf(stderr, "usage: blk-harness FILE randread|seqread|seqwrite BLOCK DEPTH "
			"QUEUES SECONDS [POLL_US]\n");
		return 2;
	}
	mode = !strcmp(argv[2], "randread") ? 0 : !strcmp(argv[2], "seqread") ? 1 : 2;
	queues = (unsigned int)atoi(argv[5]);
	seconds = atof(argv[6]);
	if (guest_mem_create(&mem, RAM, 3ULL << 30) ||
	    virtio_blk_init(&blk, argv[1], false, queues, "bench", BLOCK_DIRECT_ON, &err)) {
		fprintf(stderr, "blk-harness: %s\n", err.msg[0] ? err.msg : "no memory");
		return 1;
	}
	blk.busy_poll_ns = argc == 8 ? (uint32_t)atoi(argv[7]) * 1000 : 0;
	for (unsigned int q = 0; q < queues; q++) {
		jobs[q] = (struct job){ &mem, &blk, q, (unsigned int)atoi(argv[4]),
					(uint32_t)atoi(argv[3]), mode, seconds, 0 };
		pthread_create(&threads[q], NULL, run_job, &jobs[q]);
	}
	for (unsigned int q = 0; q < queues; q++) {
		pthread_join(threads[q], NULL);
		total += jobs[q].done;
	}
	printf("iops=%.0f mbps=%.1f\n", total / seconds, total * (double)atoi(argv[3]) / seconds / 1e6);
	virtio_blk_destroy(&blk);
	return 0;
}
