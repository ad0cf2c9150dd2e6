// SPDX-License-Identifier: MIT
/*
 * A driver thread and a device worker racing on one split virtqueue with
 * EVENT_IDX and indirect descriptors, woken through eventfds exactly as
 * KVM's ioeventfd/irqfd would wake them. Every request carries a sequence
 * number the device transforms into its reply, so a corrupted, lost or
 * duplicated buffer is caught. A notification is lost when the driver waits
 * for an interrupt with requests outstanding and none arrives in time: the
 * driver counts it, kicks by hand and goes on.
 *
 * usage: virtq-stress BUFFERS [MAX_QUEUE_SIZE] [--stop-after-lost N] [--min-size N]
 * Buffers are shared among the power-of-two sizes in proportion to the size
 * (small queues cost a wake-up per buffer; they still get thousands).
 * exit status 0 when nothing was lost or corrupted, 1 otherwise.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "virtio/queue.h"
#include "virtq_driver.h"

#define RAM        (64ULL << 20)
#define RING_GPA   0x100000ULL
#define OUT_GPA    0x1000000ULL   /* per-descriptor request buffers */
#define IN_GPA     0x2000000ULL   /* per-descriptor reply buffers */
#define TABLE_GPA  0x3000000ULL   /* per-head indirect tables */
#define SLOT       64
#define MAGIC      0x5a17c0de5a17c0deULL
#define WAIT_MS    500

struct shared {
	struct guest_memory mem;
	struct virtq q;
	int kick_fd, irq_fd;
	atomic_bool stop;
	uint64_t device_requests, device_errors;
};

static void *device_worker(void *arg)
{
	struct shared *s = arg;
	struct virtq_chain *chain = malloc(sizeof(*chain));
	uint64_t v;

	for (;;) {
		int r;

		while ((r = virtq_pop(&s->q, chain)) != 0) {
			uint64_t seq;

			if (r < 0 || chain->nr_out != 1 || chain->nr_in != 1 ||
			    chain->iov[0].iov_len < 8 || chain->iov[1].iov_len < 8) {
				s->device_errors++;
				if (r == VIRTQ_ERR_RING)
					goto out;
				virtq_push(&s->q, chain->head, 0);
			} else {
				memcpy(&seq, chain->iov[0].iov_base, 8);
				seq ^= MAGIC;
				memcpy(chain->iov[1].iov_base, &seq, 8);
				virtq_push(&s->q, chain->head, 8);
			}
			s->device_requests++;
			if (virtq_should_interrupt(&s->q) && write(s->irq_fd, &(uint64_t){ 1 }, 8) < 0)
				perror("irq eventfd");
		}
		if (!virtq_prepare_sleep(&s->q))
			continue;
		if (atomic_load(&s->stop))
			break;
		if (read(s->kick_fd, &v, 8) < 0 && errno != EINTR)
			break;
	}
out:
	free(chain);
	return NULL;
}

struct result {
	uint64_t sent, completed, lost, corrupt;
};

static void kick(struct shared *s)
{
	if (write(s->kick_fd, &(uint64_t){ 1 }, 8) < 0)
		perror("kick eventfd");
}

/* Send one request using head's slots; returns false when the ring is full. */
static bool send_one(struct shared *s, struct vdriver *d, uint64_t seq, uint64_t *expect)
{
	uint16_t slot = d->free_head;
	struct vbuf bufs[2] = {
		{ OUT_GPA + (uint64_t)slot * SLOT, 8, false },
		{ IN_GPA + (uint64_t)slot * SLOT, 8, true },
	};
	/* Every third request, and any that would not fit as a direct chain
	 * (a queue of size 1), goes through an indirect table. */
	bool indirect = seq % 3 == 0 || d->nr_free < 2;
	int head;

	if (d->nr_free == 0)
		return false;
	memcpy(guest_mem_ptr(&s->mem, bufs[0].gpa, 8), &seq, 8);
	memset(guest_mem_ptr(&s->mem, bufs[1].gpa, 8), 0, 8);
	head = indirect ? vdriver_add_indirect(d, bufs, 2, TABLE_GPA + (uint64_t)slot * SLOT)
			: vdriver_add(d, bufs, 2);
	if (head < 0)
		return false;
	expect[head] = seq;
	vdriver_queue_head(d, (uint16_t)head);
	return true;
}

static void reap(struct shared *s, struct vdriver *d, uint64_t *expect, struct result *res)
{
	uint16_t head;
	uint32_t len;

	while (vdriver_get_used(d, &head, &len)) {
		uint64_t reply;

		/* The reply slot is the head's first descriptor's slot for direct
		 * chains and the head itself for indirect: both are "head". */
		memcpy(&reply, guest_mem_ptr(&s->mem, IN_GPA + (uint64_t)head * SLOT, 8), 8);
		if (head >= d->size || len != 8 || reply != (expect[head] ^ MAGIC))
			res->corrupt++;
		expect[head] = UINT64_MAX;
		res->completed++;
	}
}

/* A little driver-side work of varying length per buffer, so the device
 * keeps catching up and going to sleep just as the next buffer arrives:
 * the moment the notification protocol has to get right. */
static void think(uint64_t seq)
{
	unsigned int spins = (unsigned int)((seq * 2654435761u) >> 7) & 1023;

	for (volatile unsigned int i = 0; i < spins; i++)
		;
}

static struct result run_queue(uint16_t size, uint64_t buffers, uint64_t stop_after_lost)
{
	struct shared *s = calloc(1, sizeof(*s));
	struct vdriver *d = malloc(sizeof(*d));
	uint64_t *expect = calloc(size, sizeof(uint64_t));
	struct result res = { 0 };
	pthread_t worker;

	if (guest_mem_create(&s->mem, RAM, 3ULL << 30) ||
	    (s->kick_fd = eventfd(0, 0)) < 0 || (s->irq_fd = eventfd(0, EFD_NONBLOCK)) < 0) {
		perror("set-up");
		exit(2);
	}
	vdriver_init(d, &s->mem, RING_GPA, size, true);
	if (virtq_init(&s->q, &s->mem, size, d->desc_gpa, d->avail_gpa, d->used_gpa, true, true)) {
		fprintf(stderr, "virtq_init failed for size %u\n", size);
		exit(2);
	}
	pthread_create(&worker, NULL, device_worker, s);
	while (res.completed < buffers && res.lost < stop_after_lost) {
		/* One publish and kick decision per buffer, interleaved with
		 * reaping: the most chances for the two sides to race. */
		while (res.sent < buffers && send_one(s, d, res.sent, expect)) {
			res.sent++;
			if (vdriver_publish(d))
				kick(s);
			reap(s, d, expect, &res);
			think(res.sent);
		}
		reap(s, d, expect, &res);
		if (res.completed == res.sent && res.sent < buffers)
			continue;
		if (!vdriver_prepare_wait(d))
			continue;
		struct pollfd p = { .fd = s->irq_fd, .events = POLLIN };
		if (poll(&p, 1, WAIT_MS) == 1) {
			uint64_t v;

			if (read(s->irq_fd, &v, 8) < 0)
				perror("irq read");
		} else if (res.completed < res.sent) {
			res.lost++;  /* a kick or an interrupt went missing */
			kick(s);
		}
	}
	atomic_store(&s->stop, true);
	kick(s);
	pthread_join(worker, NULL);
	if (s->device_errors)
		res.corrupt += s->device_errors;
	close(s->kick_fd);
	close(s->irq_fd);
	guest_mem_destroy(&s->mem);
	free(expect);
	free(d);
	free(s);
	return res;
}

int main(int argc, char **argv)
{
	uint64_t buffers = argc > 1 ? strtoull(argv[1], NULL, 0) : 1000000;
	unsigned int max_size = argc > 2 ? (unsigned int)strtoul(argv[2], NULL, 0) : 256;
	uint64_t stop_after_lost = UINT64_MAX, total_lost = 0, total_corrupt = 0;
	uint64_t total_done = 0, weight = 0;
	unsigned int min_size = 1;

	for (int i = 3; i + 1 < argc; i++) {
		if (!strcmp(argv[i], "--stop-after-lost"))
			stop_after_lost = strtoull(argv[i + 1], NULL, 0);
		if (!strcmp(argv[i], "--min-size"))
			min_size = (unsigned int)strtoul(argv[i + 1], NULL, 0);
	}
	for (unsigned int size = min_size; size <= max_size; size *= 2)
		weight += size + 8;
	for (unsigned int size = min_size; size <= max_size; size *= 2) {
		uint64_t share = (buffers * (size + 8) + weight - 1) / weight;
		struct result r = run_queue((uint16_t)size, share, stop_after_lost);

		printf("queue size %3u: %9lu buffers, %lu lost notifications, %lu corrupted\n",
		       size, r.completed, r.lost, r.corrupt);
		fflush(stdout);
		total_done += r.completed;
		total_lost += r.lost;
		total_corrupt += r.corrupt;
		if (total_lost >= stop_after_lost)
			break;
	}
	printf("total: %lu buffers, %lu lost notifications, %lu corrupted\n", total_done,
	       total_lost, total_corrupt);
	return total_lost || total_corrupt ? 1 : 0;
}
