// SPDX-License-Identifier: MIT
/* A virtqueue worker thread serving virtio-rng, driven through plain
 * eventfds exactly as a guest driver would drive it through KVM. */
#include <criterion/criterion.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "virtio/rng.h"
#include "virtio/worker.h"
#include "virtq_driver.h"

#define RAM   (16ULL << 20)
#define RING  0x10000ULL
#define DATA  0x100000ULL

static struct guest_memory mem;
static struct vdriver *drv;
static struct virtq_worker *worker;
static int kick_fd, irq_fd;

/* A 16-entry queue (with or without EVENT_IDX and indirect descriptors)
 * served by a worker thread running handler. */
static void start_worker(virtq_handler_fn handler, bool ring_features, const char *name)
{
	struct virtq vq;

	cr_assert_eq(guest_mem_create(&mem, RAM, 3ULL << 30), 0);
	drv = malloc(sizeof(*drv));
	worker = malloc(sizeof(*worker));
	kick_fd = eventfd(0, EFD_NONBLOCK);
	irq_fd = eventfd(0, EFD_NONBLOCK);
	vdriver_init(drv, &mem, RING, 16, ring_features);
	cr_assert_eq(virtq_init(&vq, &mem, 16, drv->desc_gpa, drv->avail_gpa, drv->used_gpa,
				ring_features, ring_features), 0);
	cr_assert_eq(virtq_worker_start(worker, &vq, kick_fd, irq_fd, handler, NULL, 0, name), 0);
}

static void setup(void)
{
	start_worker(virtio_rng_handle, true, "vq-rng0-0");
}

static void teardown(void)
{
	virtq_worker_stop(worker);
	close(kick_fd);
	close(irq_fd);
	free(worker);
	free(drv);
	guest_mem_destroy(&mem);
}

TestSuite(virtio_rng, .init = setup, .fini = teardown);

static void submit(const struct vbuf *bufs, unsigned int n)
{
	vdriver_queue_head(drv, (uint16_t)vdriver_add(drv, bufs, n));
	if (vdriver_publish(drv))
		cr_assert_eq(write(kick_fd, &(uint64_t){ 1 }, 8), 8);
}

/* Wait for the interrupt, then take one used entry. */
static void complete(uint16_t *head, uint32_t *len)
{
	struct pollfd p = { .fd = irq_fd, .events = POLLIN };
	uint64_t v;

	while (!vdriver_get_used(drv, head, len)) {
		if (!vdriver_prepare_wait(drv))
			continue;
		cr_assert_eq(poll(&p, 1, 5000), 1, "no interrupt within 5 s");
		cr_assert_eq(read(irq_fd, &v, 8), 8);
	}
}

Test(virtio_rng, fills_writable_buffers_with_random_bytes)
{
	struct vbuf bufs[2] = { { DATA, 4096, true }, { DATA + 8192, 100, true } };
	uint8_t *a = guest_mem_ptr(&mem, DATA, 4096), counts[256] = { 0 };
	unsigned int distinct = 0;
	uint16_t head;
	uint32_t len;

	memset(a, 0, 4096);
	submit(bufs, 2);
	complete(&head, &len);
	cr_assert_eq(len, 4196, "both buffers filled");
	for (int i = 0; i < 4096; i++)
		counts[a[i]] = 1;
	for (int i = 0; i < 256; i++)
		distinct += counts[i];
	/* 4096 random bytes miss a given value with probability ~1e-7. */
	cr_assert_geq(distinct, 250, "only %u distinct byte values", distinct);
}

Test(virtio_rng, many_requests_each_completed_once)
{
	struct vbuf buf = { DATA, 64, true };
	unsigned int done = 0;

	for (unsigned int round = 0; round < 200; round++) {
		uint16_t head;
		uint32_t len;

		for (int i = 0; i < 8; i++)
			submit(&buf, 1);
		for (int i = 0; i < 8; i++) {
			complete(&head, &len);
			cr_assert_eq(len, 64);
			done++;
		}
	}
	cr_assert_eq(done, 1600);
	cr_assert_eq(atomic_load(&worker->served), 1600);
}

Test(virtio_rng, broken_ring_marks_the_device_for_reset)
{
	*drv->avail_idx = 100; /* more entries than the ring holds */
	cr_assert_eq(write(kick_fd, &(uint64_t){ 1 }, 8), 8);
	for (int i = 0; i < 500 && !atomic_load(&worker->needs_reset); i++)
		usleep(1000);
	cr_assert(atomic_load(&worker->needs_reset));
}

Test(virtio_rng, malformed_chain_completes_empty)
{
	drv->desc[0] = (struct virtq_desc){ RAM - 8, 64, VIRTQ_DESC_F_WRITE, 0 };
	drv->nr_free--;
	drv->free_head = 1;
	drv->chain_len[0] = 1;
	vdriver_queue_head(drv, 0);
	vdriver_publish(drv);
	cr_assert_eq(write(kick_fd, &(uint64_t){ 1 }, 8), 8);
	uint16_t head;
	uint32_t len;

	complete(&head, &len);
	cr_assert_eq(head, 0);
	cr_assert_eq(len, 0, "nothing written for a buffer outside RAM");
	cr_assert(!atomic_load(&worker->needs_reset));
}

Test(virtio_rng, worker_thread_is_named_after_its_queue)
{
	FILE *f = popen("cat /proc/$PPID/task/*/comm 2>/dev/null", "r");
	char line[64];
	bool found = false;

	/* popen's shell is our child, so $PPID is this test process. */
	cr_assert_not_null(f);
	while (fgets(line, sizeof(line), f))
		found |= !strcmp(line, "vq-rng0-0\n");
	pclose(f);
	cr_assert(found, "no thread named vq-rng0-0");
}

/* A driver without EVENT_IDX: the worker says "no kicks" with
 * VRING_USED_F_NO_NOTIFY while it serves, and takes it back before it
 * sleeps. A handler held at a gate keeps the worker busy on demand. */
static int gate_fd;

static long gated_handle(void *device, struct virtq_worker *w, struct virtq_chain *chain)
{
	struct pollfd p = { .fd = gate_fd, .events = POLLIN };
	uint64_t v;

	(void)device;
	(void)w;
	(void)chain;
	if (poll(&p, 1, 5000) == 1 && read(gate_fd, &v, 8) != 8)
		return -EIO;
	return 0;
}

static void gated_setup(void)
{
	gate_fd = eventfd(0, EFD_NONBLOCK | EFD_SEMAPHORE);
	start_worker(gated_handle, false, "vq-gate0-0");
}

static void gated_teardown(void)
{
	cr_assert_eq(write(gate_fd, &(uint64_t){ 16 }, 8), 8); /* let a held worker go */
	teardown();
	close(gate_fd);
}

static bool flags_become(uint16_t want)
{
	for (int i = 0; i < 2000; i++) {
		if (*drv->used_flags == want)
			return true;
		usleep(1000);
	}
	return false;
}

TestSuite(virtq_worker_kicks, .init = gated_setup, .fini = gated_teardown);

Test(virtq_worker_kicks, none_wanted_while_the_worker_serves_without_event_idx)
{
	struct vbuf b = { DATA, 64, true };
	uint16_t head;
	uint32_t len;

	submit(&b, 1); /* kicks: the worker sleeps, flags clear */
	cr_assert(flags_become(VIRTQ_USED_F_NO_NOTIFY),
		  "VRING_USED_F_NO_NOTIFY not set while the worker serves");
	vdriver_queue_head(drv, (uint16_t)vdriver_add(drv, &b, 1));
	cr_assert(!vdriver_publish(drv), "a kick was asked for while the worker is busy");
	cr_assert_eq(write(gate_fd, &(uint64_t){ 2 }, 8), 8);
	complete(&head, &len);
	complete(&head, &len); /* served without a second kick */
	cr_assert(flags_become(0), "NO_NOTIFY still set with the worker asleep");
	cr_assert_eq(atomic_load(&worker->served), 2);
}

/* A hostile driver that keeps the ring full: each request the worker takes,
 * it puts back at once, so the worker never runs out of requests. A pause
 * (and a stop) must still be answered, within a batch, not after it. */
static atomic_bool refill = true;

static long refilling_handle(void *device, struct virtq_worker *w, struct virtq_chain *chain)
{
	uint16_t idx = *drv->avail_idx;

	(void)device;
	(void)w;
	if (atomic_load(&refill)) {
		drv->avail_ring[idx & 15] = chain->head;
		__atomic_thread_fence(__ATOMIC_RELEASE);
		*drv->avail_idx = (uint16_t)(idx + 1);
	}
	return 0;
}

static void refilling_setup(void)
{
	atomic_store(&refill, true);
	start_worker(refilling_handle, false, "vq-full0-0");
}

static void refilling_teardown(void)
{
	atomic_store(&refill, false);
	teardown();
}

TestSuite(virtq_worker_control, .init = refilling_setup, .fini = refilling_teardown,
	  .timeout = 30);

Test(virtq_worker_control, pause_and_stop_are_answered_while_the_ring_never_empties)
{
	struct vbuf b = { DATA, 64, true };
	unsigned long parked_at;

	submit(&b, 1);
	while (atomic_load(&worker->served) < 10000)
		usleep(1000);
	virtq_worker_pause(worker); /* returns once parked: hangs without the check */
	parked_at = atomic_load(&worker->served);
	usleep(50000);
	cr_assert_eq(atomic_load(&worker->served), parked_at, "a paused worker went on serving");
	virtq_worker_resume(worker);
	while (atomic_load(&worker->served) < parked_at + 10000)
		usleep(1000);
	/* teardown's stop, with the ring still full, must return too. */
}
