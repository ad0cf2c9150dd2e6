// SPDX-License-Identifier: MIT
/* The virtio-pci transport driven through its BAR exactly as a guest
 * driver would, with plain eventfds standing in for KVM's ioeventfd and
 * irqfd: negotiation, queue set-up, notify, interrupt, reset. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "virtio/pci.h"
#include "virtio/console.h"
#include "virtio/rng.h"
#include "thread_ticks.h"
#include "virtq_driver.h"

#define RAM  (16ULL << 20)
#define RING 0x10000ULL
#define DATA 0x100000ULL
#define BAR  0xc1000000ULL       /* the 32-bit window: MSI-X BAR */
#define BAR64 0x100000000ULL     /* the 64-bit window: virtio structures */

struct fake_host {
	int kick_fd[8];
	uint64_t kick_addr[8];
	int irq_fd[8];
	uint64_t msi_addr[8];
	uint32_t msi_data[8];
};

static struct fake_host host;
static struct guest_memory mem;
static struct virtio_pci *vp;
static struct vdriver *drv;
static struct pci_bus bus;

static int fake_ioeventfd(void *ctx, uint64_t addr, unsigned int len, int fd, bool add)
{
	struct fake_host *h = ctx;

	cr_assert_eq(len, 2);
	for (int i = 0; i < 8; i++) {
		if (add && h->kick_fd[i] < 0) {
			h->kick_fd[i] = fd;
			h->kick_addr[i] = addr;
			return 0;
		}
		if (!add && h->kick_fd[i] == fd) {
			h->kick_fd[i] = -1;
			return 0;
		}
	}
	return -1;
}

static int fake_msi_route(void *ctx, unsigned int route, uint64_t addr, uint32_t data, int fd)
{
	struct fake_host *h = ctx;

	h->irq_fd[route % 8] = fd;
	h->msi_addr[route % 8] = addr;
	h->msi_data[route % 8] = data;
	return 0;
}

static uint64_t rd(uint64_t off, unsigned int size)
{
	uint8_t data[8];

	vp->pci.bars[4].handler(vp, off, data, size, false);
	return io_data_get(data, size);
}

static void wr(uint64_t off, unsigned int size, uint64_t v)
{
	uint8_t data[8];

	io_data_put(data, size, v);
	vp->pci.bars[4].handler(vp, off, data, size, true);
}

static void msix_wr(uint64_t off, uint64_t v)
{
	uint8_t data[4];

	io_data_put(data, 4, v);
	vp->pci.bars[VPCI_MSIX_BAR].handler(vp, off, data, 4, true);
}

static void setup(void)
{
	struct virtio_device_model model = {
		.name = "rng0", .device_id = VIRTIO_ID_RNG, .class_code = 0xff0000,
		.nr_queues = 1, .queue_max_size = 64, .handler = virtio_rng_handle,
	};
	struct virtio_pci_host ops = {
		.ioeventfd = fake_ioeventfd, .msi_route = fake_msi_route, .ctx = &host,
	};

	memset(&host, 0xff, sizeof(host));
	cr_assert_eq(guest_mem_create(&mem, RAM, 3ULL << 30), 0);
	vp = calloc(1, sizeof(*vp));
	drv = calloc(1, sizeof(*drv));
	cr_assert_eq(virtio_pci_init(vp, &model, &mem, &ops, 0), 0);
	cr_assert_eq(virtio_pci_start(vp), 0);
	pci_bus_init(&bus, BAR, BAR + 0x1000000, BAR64, BAR64 + (32ULL << 30));
	cr_assert_eq(pci_bus_plug(&bus, &vp->pci), 0);
	cr_assert_eq(vp->pci.bars[4].addr, BAR64, "virtio structures above 4 GiB");
	cr_assert_eq(vp->pci.bars[VPCI_MSIX_BAR].addr, BAR, "MSI-X below 4 GiB");
}

static void teardown(void)
{
	virtio_pci_reset(vp);
	virtio_pci_release(vp);
	free(drv);
	free(vp);
	guest_mem_destroy(&mem);
}

TestSuite(virtio_pci, .init = setup, .fini = teardown, .timeout = 30);

static uint8_t negotiate(uint64_t features)
{
	wr(0x14, 1, 0);
	wr(0x14, 1, 1 | 2);
	wr(0x08, 4, 0);
	wr(0x0c, 4, (uint32_t)features);
	wr(0x08, 4, 1);
	wr(0x0c, 4, (uint32_t)(features >> 32));
	wr(0x14, 1, 1 | 2 | 8);
	return (uint8_t)rd(0x14, 1);
}

static void enable_msix_vector0(void)
{
	unsigned int cap = vp->msix_cap;

	msix_wr(VPCI_MSIX_OFF + 0, 0xfee00000);
	msix_wr(VPCI_MSIX_OFF + 8, 0x41);
	msix_wr(VPCI_MSIX_OFF + 12, 0);
	pci_config_access(&bus, 0, cap + 3, (uint8_t[]){ 0x80 }, 1, true);
}

static void setup_queue(void)
{
	vdriver_init(drv, &mem, RING, 16, true);
	wr(0x16, 2, 0);
	cr_assert_eq(rd(0x18, 2), 64, "queue size reports the maximum");
	wr(0x18, 2, 16);
	wr(0x20, 8, drv->desc_gpa);
	wr(0x28, 8, drv->avail_gpa);
	wr(0x30, 8, drv->used_gpa);
	wr(0x1a, 2, 0);
	wr(0x1c, 2, 1);
}

Test(virtio_pci, features_need_version_1)
{
	uint64_t offered = rd(0x04, 4);

	wr(0x00, 4, 1);
	offered |= rd(0x04, 4) << 32;
	cr_assert(offered & (1ULL << 32), "VERSION_1 offered");
	cr_assert(offered & (1ULL << 29), "EVENT_IDX offered");
	cr_assert(offered & (1ULL << 28), "INDIRECT_DESC offered");
	cr_assert_eq(negotiate(1ULL << 29) & 8, 0, "no FEATURES_OK without VERSION_1");
	cr_assert_eq(negotiate((1ULL << 32) | (1ULL << 50)) & 8, 0, "nor for unoffered bits");
	cr_assert_eq(negotiate((1ULL << 32) | (1ULL << 29)) & 8, 8);
}

Test(virtio_pci, notify_and_interrupt_through_eventfds)
{
	struct vbuf buf = { DATA, 32, true };
	struct pollfd p;
	uint16_t head;
	uint32_t len;
	uint64_t v;

	cr_assert_eq(negotiate((1ULL << 32) | (1ULL << 29)) & 8, 8);
	enable_msix_vector0();
	setup_queue();
	wr(0x14, 1, 1 | 2 | 8 | 4);
	cr_assert_eq(rd(0x1c, 2), 1, "queue enabled");
	cr_assert_eq(host.kick_addr[0], BAR64 + VPCI_NOTIFY_OFF, "ioeventfd at the notify address");
	cr_assert_geq(host.irq_fd[0], 0, "irqfd bound to the queue's route");
	cr_assert_eq(host.msi_addr[0], 0xfee00000);
	cr_assert_eq(host.msi_data[0], 0x41);
	vdriver_queue_head(drv, (uint16_t)vdriver_add(drv, &buf, 1));
	cr_assert(vdriver_publish(drv));
	cr_assert_eq(write(host.kick_fd[0], &(uint64_t){ 1 }, 8), 8, "the guest's notify");
	p = (struct pollfd){ .fd = host.irq_fd[0], .events = POLLIN };
	cr_assert_eq(poll(&p, 1, 5000), 1, "interrupt");
	cr_assert_eq(read(host.irq_fd[0], &v, 8), 8);
	cr_assert(vdriver_get_used(drv, &head, &len));
	cr_assert_eq(len, 32);
}

Test(virtio_pci, bad_queue_index_on_notify_is_ignored)
{
	cr_assert_eq(negotiate((1ULL << 32)) & 8, 8);
	setup_queue();
	wr(VPCI_NOTIFY_OFF + 4 * 5, 2, 5);     /* queue 5 does not exist */
	wr(VPCI_NOTIFY_OFF + 0x800, 2, 0);
	wr(0x16, 2, 7);                        /* select a queue that does not exist */
	cr_assert_eq(rd(0x18, 2), 0, "size 0: no such queue");
	wr(0x1c, 2, 1);
	cr_assert_eq(rd(0x1c, 2), 0);
	cr_assert_eq(rd(0x14, 1) & 0x40, 0, "the device is fine");
}

Test(virtio_pci, bad_rings_need_reset_and_reset_stops_workers)
{
	cr_assert_eq(negotiate((1ULL << 32)) & 8, 8);
	wr(0x16, 2, 0);
	wr(0x18, 2, 16);
	wr(0x20, 8, RAM - 64);                 /* descriptor table past RAM */
	wr(0x1c, 2, 1);
	cr_assert_eq(rd(0x1c, 2), 0, "not enabled");
	cr_assert(rd(0x14, 1) & 0x40, "DEVICE_NEEDS_RESET");
	wr(0x14, 1, 0);
	cr_assert_eq(rd(0x14, 1), 0, "reset");
	cr_assert_eq(negotiate((1ULL << 32)) & 8, 8);
	setup_queue();
	cr_assert_eq(rd(0x1c, 2), 1);
	cr_assert(vp->queues[0].worker.running);
	wr(0x14, 1, 0);
	cr_assert(!vp->queues[0].worker.running, "reset stopped the worker");
	cr_assert_eq(host.kick_fd[0], -1, "and removed the ioeventfd");
}

Test(virtio_pci, queue_enable_before_features_ok_is_refused)
{
	wr(0x14, 1, 0);
	wr(0x14, 1, 1 | 2);
	wr(0x08, 4, 1);
	wr(0x0c, 4, 1);  /* VERSION_1, but no FEATURES_OK yet */
	setup_queue();
	cr_assert_eq(rd(0x1c, 2), 0, "enabled before FEATURES_OK");
	cr_assert(!vp->queues[0].worker.running, "a worker serves a queue of no features");
	cr_assert(rd(0x14, 1) & 0x40, "DEVICE_NEEDS_RESET");
	wr(0x14, 1, 0);
	cr_assert_eq(negotiate(1ULL << 32) & 8, 8, "the driver starts over");
	setup_queue();
	cr_assert_eq(rd(0x1c, 2), 1, "and in order it works");
	cr_assert(vp->queues[0].worker.running);
}

Test(virtio_pci, queue_size_must_be_a_power_of_two)
{
	cr_assert_eq(negotiate((1ULL << 32)) & 8, 8);
	wr(0x16, 2, 0);
	wr(0x18, 2, 24);
	cr_assert_eq(rd(0x18, 2), 64, "24 refused");
	wr(0x18, 2, 128);
	cr_assert_eq(rd(0x18, 2), 64, "above the maximum refused");
}

Test(virtio_pci, capabilities_point_at_their_bars)
{
	unsigned int vendor_caps = 0;
	bool msix = false;

	for (unsigned int cap = vp->pci.config[0x34]; cap; cap = vp->pci.config[cap + 1]) {
		uint32_t table, pba;

		if (vp->pci.config[cap] == 0x09) {
			cr_assert_eq(vp->pci.config[cap + 4], 4, "virtio cap type %u in BAR 4",
				     vp->pci.config[cap + 3]);
			vendor_caps++;
		} else if (vp->pci.config[cap] == 0x11) {
			memcpy(&table, vp->pci.config + cap + 4, 4);
			memcpy(&pba, vp->pci.config + cap + 8, 4);
			cr_assert_eq(table, VPCI_MSIX_OFF | 1, "table in BAR 1 at 0");
			cr_assert_eq(pba, VPCI_PBA_OFF | 1, "PBA in BAR 1");
			msix = true;
		}
	}
	cr_assert_eq(vendor_caps, 4, "common, notify, ISR, device");
	cr_assert(msix);
	cr_assert_eq(vp->pci.config[0x14] & 0x7, 0, "BAR 1: 32-bit memory");
	cr_assert_eq(vp->pci.config[0x20] & 0x7, 0x4, "BAR 4: 64-bit memory");
}

/* Submit one 32-byte request and kick; the device fills it. */
static void submit_one(void)
{
	struct vbuf buf = { DATA, 32, true };

	vdriver_queue_head(drv, (uint16_t)vdriver_add(drv, &buf, 1));
	vdriver_publish(drv);
	cr_assert_eq(write(host.kick_fd[0], &(uint64_t){ 1 }, 8), 8);
}

static bool used_within(int ms, uint32_t *len)
{
	uint16_t head;

	for (int i = 0; i < ms; i++) {
		if (vdriver_get_used(drv, &head, len))
			return true;
		usleep(1000);
	}
	return false;
}

Test(virtio_pci, pause_parks_the_queue_and_keeps_its_state)
{
	uint64_t desc;
	uint32_t len;

	cr_assert_eq(negotiate((1ULL << 32) | (1ULL << 29)) & 8, 8);
	enable_msix_vector0();
	setup_queue();
	wr(0x14, 1, 1 | 2 | 8 | 4);
	submit_one();
	cr_assert(used_within(5000, &len), "served before the pause");
	desc = rd(0x20, 8);
	virtio_pci_pause(vp);
	virtio_pci_pause(vp);   /* a second pause changes nothing */
	submit_one();
	cr_assert_not(used_within(300, &len), "a paused device does not touch the ring");
	cr_assert_eq(rd(0x1c, 2), 1, "the queue is still enabled");
	cr_assert_eq(rd(0x20, 8), desc, "and keeps its set-up");
	cr_assert_eq(rd(0x14, 1), 1 | 2 | 8 | 4, "status untouched: pause is not a reset");
	virtio_pci_resume(vp);
	cr_assert(used_within(5000, &len), "the kick made while paused is served on resume");
	cr_assert_eq(len, 32);
	virtio_pci_resume(vp);  /* resuming a running device changes nothing */
	submit_one();
	cr_assert(used_within(5000, &len), "indices carried on across the pause");
	cr_assert_eq(drv->last_used, 3);
}

Test(virtio_pci, config_change_interrupts_on_the_config_vector)
{
	struct pollfd p;
	uint8_t gen;

	cr_assert_eq(negotiate((1ULL << 32)) & 8, 8);
	msix_wr(16 + 0, 0xfee00000);  /* vector 1 for configuration changes */
	msix_wr(16 + 8, 0x42);
	msix_wr(16 + 12, 0);
	pci_config_access(&bus, 0, vp->msix_cap + 3, (uint8_t[]){ 0x80 }, 1, true);
	wr(0x10, 2, 1);
	cr_assert_eq(rd(0x10, 2), 1);
	wr(0x14, 1, 1 | 2 | 8 | 4);
	/* rng has one queue: route 0 is the queue's, route 1 the config's. */
	cr_assert_geq(host.irq_fd[1], 0, "config route bound");
	cr_assert_eq(host.msi_data[1], 0x42);
	gen = (uint8_t)rd(0x15, 1);
	virtio_pci_config_changed(vp);
	cr_assert_eq((uint8_t)rd(0x15, 1), (uint8_t)(gen + 1), "generation moved");
	p = (struct pollfd){ .fd = host.irq_fd[1], .events = POLLIN };
	cr_assert_eq(poll(&p, 1, 5000), 1, "config interrupt");
	wr(0x14, 1, 0);
	cr_assert_eq(host.irq_fd[1], -1, "reset unbinds it");
}

/* A device whose queue_stop waits at a gate: a reset stays inside it. */
struct gated_device {
	sem_t entered, release;
	bool worker_was_running;
	struct virtio_pci *vp;
};

static struct gated_device gate;

static void gated_queue_stop(void *device, unsigned int queue)
{
	(void)device;
	(void)queue;
	gate.worker_was_running = gate.vp->queues[0].worker.running;
	sem_post(&gate.entered);
	sem_wait(&gate.release);
}

static void *reset_through_bus(void *arg)
{
	uint8_t zero = 0;

	/* The guest's status write, as a vCPU makes it: through the bus. */
	pci_mmio64_io(&bus, *(uint64_t *)arg - BAR64 + 0x14, &zero, 1, true);
	return NULL;
}

static uint64_t bus_read(uint64_t addr, unsigned int size)
{
	uint8_t data[8] = { 0 };

	pci_mmio64_io(&bus, addr - BAR64, data, size, false);
	return io_data_get(data, size);
}

Test(virtio_pci, a_device_reset_does_not_hold_the_bus)
{
	struct virtio_device_model model = {
		.name = "gated", .device_id = VIRTIO_ID_RNG, .class_code = 0xff0000,
		.nr_queues = 1, .queue_max_size = 64, .handler = virtio_rng_handle,
		.queue_stop = gated_queue_stop,
	};
	struct virtio_pci_host ops = {
		.ioeventfd = fake_ioeventfd, .msi_route = fake_msi_route, .ctx = &host,
	};
	struct virtio_pci *other = calloc(1, sizeof(*other));
	uint64_t gated_bar;
	pthread_t resetter;
	uint8_t cmd = 0x6;

	/* The fixture's device is the one being reset, with a running queue. */
	cr_assert_eq(negotiate((1ULL << 32)) & 8, 8);
	setup_queue();
	cr_assert(vp->queues[0].worker.running);
	vp->model.queue_stop = gated_queue_stop;
	cr_assert_eq(virtio_pci_init(other, &model, &mem, &ops, 2), 0);
	cr_assert_eq(virtio_pci_start(other), 0);
	cr_assert_eq(pci_bus_plug(&bus, &other->pci), 1);
	pci_config_access(&bus, 0, 0x04, &cmd, 1, true);
	pci_config_access(&bus, 1, 0x04, &cmd, 1, true);
	sem_init(&gate.entered, 0, 0);
	sem_init(&gate.release, 0, 0);
	gate.vp = vp;
	gated_bar = vp->pci.bars[4].addr;
	cr_assert_eq(pthread_create(&resetter, NULL, reset_through_bus, &gated_bar), 0);
	sem_wait(&gate.entered);
	cr_assert_not(gate.worker_was_running, "queue_stop comes after the worker is joined");
	/* Another vCPU, meanwhile: the other device's registers and config space. */
	for (int i = 0; i < 1000; i++) {
		uint8_t id[2];

		cr_assert_eq(bus_read(other->pci.bars[4].addr + 0x12, 2), 1, "num_queues");
		pci_ecam_io(&bus, 1 << 15, id, 2, false);
		cr_assert_eq(io_data_get(id, 2), 0x1af4);
	}
	sem_post(&gate.release);
	pthread_join(resetter, NULL);
	cr_assert_eq(rd(0x14, 1), 0, "the reset completed");
	virtio_pci_reset(other);
	virtio_pci_release(other);
	free(other);
}

static bool console_has_rx(struct virtio_console *con, unsigned int n)
{
	for (int i = 0; i < 5000; i++) {
		pthread_mutex_lock(&con->lock);
		bool got = con->nr_rx == n;

		pthread_mutex_unlock(&con->lock);
		if (got)
			return true;
		usleep(1000);
	}
	return false;
}

static void post_console_buffer(uint64_t gpa)
{
	struct vbuf buf = { gpa, 64, true };

	vdriver_queue_head(drv, (uint16_t)vdriver_add(drv, &buf, 1));
	vdriver_publish(drv);
	cr_assert_eq(write(host.kick_fd[0], &(uint64_t){ 1 }, 8), 8);
}

/* The fixture's function becomes a console reading in_fd, with its
 * receive queue (hvc0's input) running. */
static struct virtio_console *start_console(int in_fd, int out_fd)
{
	struct virtio_device_model model = {
		.name = "con0", .device_id = VIRTIO_ID_CONSOLE, .class_code = 0x078000,
		.nr_queues = VIRTIO_CONSOLE_QUEUES, .queue_max_size = 64,
		.handler = virtio_console_handle, .queue_poll = virtio_console_queue_poll,
		.queue_stop = virtio_console_queue_stop,
	};
	struct virtio_pci_host ops = {
		.ioeventfd = fake_ioeventfd, .msi_route = fake_msi_route, .ctx = &host,
	};
	struct virtio_console *con = calloc(1, sizeof(*con));

	virtio_console_init(con, out_fd, in_fd);
	model.device = con;
	virtio_pci_reset(vp);
	virtio_pci_release(vp);
	cr_assert_eq(virtio_pci_init(vp, &model, &mem, &ops, 0), 0);
	cr_assert_eq(virtio_pci_start(vp), 0);
	cr_assert_eq(negotiate(1ULL << 32) & 8, 8);
	setup_queue();
	wr(0x14, 1, 1 | 2 | 8 | 4);
	return con;
}

static void stop_console(struct virtio_console *con)
{
	virtio_pci_reset(vp);
	pthread_mutex_destroy(&con->lock);
	free(con);
}

Test(virtio_pci, console_input_after_a_reset_goes_to_buffers_posted_after_it)
{
	uint8_t old_buf[4] = { 0 }, new_buf[4] = { 0 };
	int input[2], sink = open("/dev/null", O_WRONLY);
	struct virtio_console *con;
	uint16_t head;
	uint32_t len;

	cr_assert_eq(pipe2(input, O_NONBLOCK), 0);
	con = start_console(input[0], sink);
	post_console_buffer(DATA);
	cr_assert(console_has_rx(con, 1), "the driver's receive buffer is held for input");

	wr(0x14, 1, 0);   /* reset: that buffer belongs to a ring that is gone */
	cr_assert_eq(negotiate(1ULL << 32) & 8, 8);
	setup_queue();
	wr(0x14, 1, 1 | 2 | 8 | 4);
	post_console_buffer(DATA + 0x1000);
	cr_assert(console_has_rx(con, 1), "only the new buffer is held");
	cr_assert_eq(write(input[1], "hi", 2), 2);
	for (int i = 0; i < 5000 && !vdriver_get_used(drv, &head, &len); i++)
		usleep(1000);
	guest_mem_read(&mem, DATA, old_buf, 2);
	guest_mem_read(&mem, DATA + 0x1000, new_buf, 2);
	cr_assert(!memcmp(new_buf, "hi", 2), "input lands in the buffer posted after the reset");
	cr_assert(!memcmp(old_buf, "\0\0", 2), "not in the one posted before it");
	cr_assert_eq(len, 2);
	stop_console(con);
	close(input[0]);
	close(input[1]);
	close(sink);
}

Test(virtio_pci, console_worker_sleeps_at_end_of_input)
{
	int null_in = open("/dev/null", O_RDONLY), sink = open("/dev/null", O_WRONLY);
	struct virtio_console *con = start_console(null_in, sink);
	unsigned long before;

	post_console_buffer(DATA);
	usleep(100000);
	/* /dev/null is always readable, at end of input: a worker that kept
	 * polling it would take all 30 ticks of the 300 ms. */
	before = thread_cpu_ticks("vq-con0-0");
	usleep(300000);
	cr_assert_leq(thread_cpu_ticks("vq-con0-0") - before, 3, "the worker spun on EOF");
	stop_console(con);
	close(null_in);
	close(sink);
}

Test(virtio_pci, console_input_waits_in_the_pipe_while_the_buffer_is_full)
{
	static uint8_t sent[3 * CONSOLE_IN_BUFFER];
	int input[2], sink = open("/dev/null", O_WRONLY);
	struct virtio_console *con;
	unsigned long before;
	size_t got = 0;

	cr_assert_eq(pipe2(input, O_NONBLOCK), 0);
	for (size_t i = 0; i < sizeof(sent); i++)
		sent[i] = (uint8_t)(i * 7 + i / 251);
	con = start_console(input[0], sink);
	cr_assert_eq(write(input[1], sent, sizeof(sent)), (ssize_t)sizeof(sent));
	usleep(100000);
	/* No receive buffer yet: kiln's buffer fills, the rest stays queued. */
	before = thread_cpu_ticks("vq-con0-0");
	usleep(300000);
	cr_assert_leq(thread_cpu_ticks("vq-con0-0") - before, 3, "the worker spun on a full buffer");
	/* Then the driver takes it all, 64 bytes at a time, in order. */
	while (got < sizeof(sent)) {
		uint8_t chunk[64];
		uint16_t head;
		uint32_t len = 0;
		int i;

		post_console_buffer(DATA);
		for (i = 0; i < 5000 && !vdriver_get_used(drv, &head, &len); i++)
			usleep(1000);
		cr_assert_lt(i, 5000, "input stopped after %zu of %zu bytes", got, sizeof(sent));
		cr_assert(len > 0 && len <= 64 && got + len <= sizeof(sent));
		guest_mem_read(&mem, DATA, chunk, len);
		cr_assert(!memcmp(chunk, sent + got, len), "bytes %zu.. out of order", got);
		got += len;
	}
	stop_console(con);
	close(input[0]);
	close(input[1]);
	close(sink);
}
