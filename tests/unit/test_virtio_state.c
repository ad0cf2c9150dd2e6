// SPDX-License-Identifier: MIT
/* virtio-pci snapshot state: a device driven through its BAR and rings as
 * a guest driver would, paused, saved, loaded into a fresh device of the
 * same model, which goes on from the same ring positions (nothing served
 * twice, nothing lost); bad sections are refused with one line. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "devices/device.h"
#include "util/state_buf.h"
#include "virtio/pci.h"
#include "virtio/vsock.h"
#include "virtq_driver.h"

#define RAM   (16ULL << 20)
#define RING0 0x10000ULL
#define RING1 0x20000ULL
#define DATA  0x100000ULL
#define BAR   0xc1000000ULL
#define BAR64 0x100000000ULL
#define QSIZE 16

enum { SERVED_Q, HOLDING_Q };

/* A model with one queue it answers at once and one whose buffers it
 * holds, as a receive queue holds them until data comes. */
struct recorder {
	atomic_uint served, held;
	uint16_t served_heads[64], held_heads[64];
};

static long rec_handle(void *device, struct virtq_worker *w, struct virtq_chain *chain)
{
	struct recorder *r = device;

	if (w->queue == HOLDING_Q) {
		r->held_heads[atomic_load(&r->held) % 64] = chain->head;
		atomic_fetch_add(&r->held, 1);
		return VIRTQ_PENDING;
	}
	r->served_heads[atomic_load(&r->served) % 64] = chain->head;
	atomic_fetch_add(&r->served, 1);
	return 4;
}

static unsigned int rec_held(void *device, unsigned int queue)
{
	return queue == HOLDING_Q ? atomic_load(&((struct recorder *)device)->held) : 0;
}

/* The host's notifications: which eventfd sits at which address. */
struct fake_host {
	int kick_fd[4];
	uint64_t kick_addr[4];
	int irq_fd[4];
	uint64_t msi_addr[4];
	uint32_t msi_data[4];
};

static int fake_ioeventfd(void *ctx, uint64_t addr, unsigned int len, int fd, bool add)
{
	struct fake_host *h = ctx;

	(void)len;
	for (int i = 0; i < 4; i++) {
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

	h->irq_fd[route % 4] = fd;
	h->msi_addr[route % 4] = addr;
	h->msi_data[route % 4] = data;
	return 0;
}

/* One side: the device, its bus, its host and its model. */
struct side {
	struct virtio_pci vp;
	struct pci_bus bus;
	struct fake_host host;
	struct recorder rec;
};

static struct guest_memory mem;
static struct vdriver *drv0, *drv1;

static void side_init(struct side *s, bool start)
{
	struct virtio_device_model model = {
		.name = "rec0", .device_id = 4, .class_code = 0xff0000, .features = 1ULL << 3,
		.nr_queues = 2, .queue_max_size = 64, .handler = rec_handle,
		.queue_held = rec_held, .device = &s->rec,
	};
	struct virtio_pci_host ops = {
		.ioeventfd = fake_ioeventfd, .msi_route = fake_msi_route, .ctx = &s->host,
	};

	memset(&s->host, 0xff, sizeof(s->host));
	cr_assert_eq(virtio_pci_init(&s->vp, &model, &mem, &ops, 0), 0);
	if (start)
		cr_assert_eq(virtio_pci_start(&s->vp), 0);
	pci_bus_init(&s->bus, BAR, BAR + 0x1000000, BAR64, BAR64 + (32ULL << 30));
	cr_assert_eq(pci_bus_plug(&s->bus, &s->vp.pci), 0);
}

static void side_fini(struct side *s)
{
	virtio_pci_reset(&s->vp);
	virtio_pci_release(&s->vp);
}

static uint64_t rd(struct side *s, uint64_t off, unsigned int size)
{
	uint8_t data[8];

	s->vp.pci.bars[VPCI_BAR].handler(&s->vp, off, data, size, false);
	return io_data_get(data, size);
}

static void wr(struct side *s, uint64_t off, unsigned int size, uint64_t v)
{
	uint8_t data[8];

	io_data_put(data, size, v);
	s->vp.pci.bars[VPCI_BAR].handler(&s->vp, off, data, size, true);
}

static uint32_t msix_rd(struct side *s, uint64_t off)
{
	uint8_t data[4];

	s->vp.pci.bars[VPCI_MSIX_BAR].handler(&s->vp, off, data, 4, false);
	return (uint32_t)io_data_get(data, 4);
}

static void msix_wr(struct side *s, uint64_t off, uint32_t v)
{
	uint8_t data[4];

	io_data_put(data, 4, v);
	s->vp.pci.bars[VPCI_MSIX_BAR].handler(&s->vp, off, data, 4, true);
}

/* What Linux's driver does to bring the device up with two queues. */
static void bring_up(struct side *s)
{
	uint64_t features = (1ULL << 32) | (1ULL << 29) | (1ULL << 3);

	wr(s, 0x14, 1, 1 | 2);
	wr(s, 0x08, 4, 0);
	wr(s, 0x0c, 4, (uint32_t)features);
	wr(s, 0x08, 4, 1);
	wr(s, 0x0c, 4, (uint32_t)(features >> 32));
	wr(s, 0x14, 1, 1 | 2 | 8);
	cr_assert_eq(rd(s, 0x14, 1) & 8, 8);
	for (unsigned int v = 0; v < 2; v++) {
		msix_wr(s, VPCI_MSIX_OFF + 16 * v, 0xfee00000);
		msix_wr(s, VPCI_MSIX_OFF + 16 * v + 8, 0x41 + v);
		msix_wr(s, VPCI_MSIX_OFF + 16 * v + 12, 0);
	}
	pci_config_access(&s->bus, 0, s->vp.msix_cap + 3, (uint8_t[]){ 0x80 }, 1, true);
	pci_config_access(&s->bus, 0, PCI_COMMAND, (uint8_t[]){ 0x06 }, 1, true);
	for (unsigned int q = 0; q < 2; q++) {
		struct vdriver *d = q ? drv1 : drv0;

		vdriver_init(d, &mem, q ? RING1 : RING0, QSIZE, true);
		wr(s, 0x16, 2, q);
		wr(s, 0x18, 2, QSIZE);
		wr(s, 0x20, 8, d->desc_gpa);
		wr(s, 0x28, 8, d->avail_gpa);
		wr(s, 0x30, 8, d->used_gpa);
		wr(s, 0x1a, 2, q);
		wr(s, 0x1c, 2, 1);
	}
	wr(s, 0x14, 1, 1 | 2 | 8 | 4);
}

static uint16_t post(struct vdriver *d, unsigned int i)
{
	struct vbuf buf = { DATA + 0x1000 * i, 64, true };
	int head = vdriver_add(d, &buf, 1);

	cr_assert_geq(head, 0);
	vdriver_queue_head(d, (uint16_t)head);
	vdriver_publish(d);
	return (uint16_t)head;
}

static void kick(struct side *s, unsigned int q)
{
	cr_assert_geq(s->host.kick_fd[q], 0);
	cr_assert_eq(write(s->host.kick_fd[q], &(uint64_t){ 1 }, 8), 8);
}

/* Wait (bounded) for a counter to reach n. */
static void wait_for(atomic_uint *counter, unsigned int n)
{
	for (int i = 0; i < 5000 && atomic_load(counter) < n; i++)
		usleep(1000);
	cr_assert_eq(atomic_load(counter), n);
}

static void setup(void)
{
	cr_assert_eq(guest_mem_create(&mem, RAM, 3ULL << 30), 0);
	drv0 = calloc(1, sizeof(*drv0));
	drv1 = calloc(1, sizeof(*drv1));
}

static void teardown(void)
{
	free(drv0);
	free(drv1);
	guest_mem_destroy(&mem);
}

TestSuite(virtio_state, .init = setup, .fini = teardown, .timeout = 30);

/* A side brought up, with two requests served and two buffers held,
 * paused and saved into *data. */
static void run_and_save(struct side *a, void **data, size_t *len, uint16_t heads[4])
{
	struct state_writer w = { 0 };

	side_init(a, true);
	bring_up(a);
	heads[0] = post(drv0, 0);
	heads[1] = post(drv0, 1);
	kick(a, SERVED_Q);
	wait_for(&a->rec.served, 2);
	heads[2] = post(drv1, 2);
	heads[3] = post(drv1, 3);
	kick(a, HOLDING_Q);
	wait_for(&a->rec.held, 2);
	virtio_pci_pause(&a->vp);
	virtio_pci_save(&a->vp, &w);
	cr_assert_eq(state_writer_take(&w, data, len), 0);
}

static int load(struct side *b, const void *data, size_t len, struct kiln_err *err)
{
	struct state_reader r = state_reader_init(data, len);

	return virtio_pci_load(&b->vp, &r, "rec0", err);
}

Test(virtio_state, a_restored_device_goes_on_where_the_driver_left_it)
{
	struct side *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));
	struct kiln_err err = { 0 };
	uint16_t heads[4], head;
	uint32_t len32;
	size_t len;
	void *data;

	run_and_save(a, &data, &len, heads);
	side_fini(a);             /* the old machine is gone */
	side_init(b, false);
	cr_assert_eq(load(b, data, len, &err), 0, "%s", err.msg);
	cr_assert_eq(virtio_pci_start(&b->vp), 0);
	/* The driver's registers read back as it wrote them. */
	cr_assert_eq(rd(b, 0x14, 1), 1 | 2 | 8 | 4, "status");
	wr(b, 0x16, 2, HOLDING_Q);
	cr_assert_eq(rd(b, 0x18, 2), QSIZE);
	cr_assert_eq(rd(b, 0x1a, 2), HOLDING_Q, "queue vector");
	cr_assert_eq(rd(b, 0x1c, 2), 1, "enabled");
	cr_assert_eq(rd(b, 0x20, 8), drv1->desc_gpa);
	cr_assert_eq(rd(b, 0x30, 8), drv1->used_gpa);
	cr_assert_eq(msix_rd(b, VPCI_MSIX_OFF + 16 + 8), 0x42, "MSI-X table");
	/* What follows from them is set up again: notify and interrupts. */
	cr_assert_eq(b->host.kick_addr[0], BAR64 + VPCI_NOTIFY_OFF);
	cr_assert_eq(b->host.kick_addr[1], BAR64 + VPCI_NOTIFY_OFF + VPCI_NOTIFY_MULT);
	cr_assert_geq(b->host.irq_fd[1], 0, "queue 1's route bound");
	cr_assert_eq(b->host.msi_data[1], 0x42);
	/* The held buffers are taken again, without a kick; nothing served. */
	wait_for(&b->rec.held, 2);
	cr_assert_eq(b->rec.held_heads[0], heads[2]);
	cr_assert_eq(b->rec.held_heads[1], heads[3]);
	/* The next request is served once, from where the old device stopped. */
	cr_assert(vdriver_get_used(drv0, &head, &len32));
	cr_assert(vdriver_get_used(drv0, &head, &len32));
	head = post(drv0, 4);
	kick(b, SERVED_Q);
	wait_for(&b->rec.served, 1);
	cr_assert_eq(b->rec.served_heads[0], head);
	cr_assert(vdriver_get_used(drv0, &head, &len32));
	cr_assert_eq(len32, 4);
	cr_assert_eq(*drv0->used_idx, 3, "two used before the snapshot, one after");
	free(data);
	side_fini(b);
	free(a);
	free(b);
}

/* Load a copy of the saved section with one field changed. */
static void refuse_patched(const void *data, size_t len, size_t off, const void *value,
			   size_t n, const char *words)
{
	struct side *b = calloc(1, sizeof(*b));
	uint8_t *copy = malloc(len);
	struct kiln_err err = { 0 };

	memcpy(copy, data, len);
	memcpy(copy + off, value, n);
	side_init(b, false);
	cr_assert_eq(load(b, copy, len, &err), -EINVAL, "%s", words);
	cr_assert_not_null(strstr(err.msg, "rec0"), "names the device: %s", err.msg);
	cr_assert_not_null(strstr(err.msg, words), "says '%s': %s", words, err.msg);
	side_fini(b);
	free(copy);
	free(b);
}

/* Offsets in the section (see virtio_pci_save). */
#define OFF_OFFERED   PCI_CONFIG_SIZE
#define OFF_STATUS    (OFF_OFFERED + 8 + 2 + 2 + 4 + 4 + 8)
#define OFF_MSIX_CFG  (OFF_STATUS + 1 + 1 + 2)
#define OFF_MSIX      (OFF_MSIX_CFG + 2)
#define OFF_QUEUE(q)  (OFF_MSIX + 16 * (VIRTIO_PCI_MAX_QUEUES + 1) + (q) * 36)

Test(virtio_state, bad_sections_are_refused)
{
	struct side *a = calloc(1, sizeof(*a));
	struct kiln_err err = { 0 };
	uint16_t heads[4];
	uint8_t *longer;
	size_t len;
	void *data;

	run_and_save(a, &data, &len, heads);
	side_fini(a);
	refuse_patched(data, len, OFF_QUEUE(0), &(uint16_t){ 3 }, 2, "not a power of two");
	refuse_patched(data, len, OFF_QUEUE(0), &(uint16_t){ 128 }, 2, "up to 64");
	refuse_patched(data, len, OFF_QUEUE(1) + 2, &(uint16_t){ 40 }, 2, "not in the table");
	refuse_patched(data, len, OFF_QUEUE(1) + 5, &(uint64_t){ RAM - 0x10 }, 8,
		       "outside guest RAM");
	refuse_patched(data, len, OFF_QUEUE(1) + 4, &(uint8_t){ 2 }, 1, "queue flag");
	refuse_patched(data, len, OFF_MSIX_CFG, &(uint16_t){ 0x100 }, 2, "config MSI-X vector");
	refuse_patched(data, len, OFF_MSIX + 12, &(uint32_t){ 2 }, 4, "vector control");
	refuse_patched(data, len, OFF_STATUS, &(uint8_t){ 0x20 }, 1, "device status");
	refuse_patched(data, len, OFF_OFFERED, &(uint8_t){ 0 }, 1, "configuration differs");
	/* BAR 1 (4 KiB) moved to an address that is not a multiple of its size. */
	refuse_patched(data, len, PCI_BAR0 + 4, &(uint8_t){ 0x10 }, 1, "config space byte");
	refuse_patched(data, len, PCI_VENDOR_ID, &(uint8_t){ 0 }, 1, "config space byte");
	{
		struct side *b = calloc(1, sizeof(*b));

		side_init(b, false);
		cr_assert_eq(load(b, data, len - 1, &err), -EINVAL);
		cr_assert_not_null(strstr(err.msg, "too short"), "%s", err.msg);
		err = (struct kiln_err){ 0 };
		longer = calloc(1, len + 1);
		memcpy(longer, data, len);
		cr_assert_eq(load(b, longer, len + 1, &err), -EINVAL);
		cr_assert_not_null(strstr(err.msg, "too long"), "%s", err.msg);
		free(longer);
		side_fini(b);
		free(b);
	}
	free(data);
	free(a);
}

/* vsock's model state is its CID: a restore onto another CID is refused,
 * and a load leaves no connection and owes the driver TRANSPORT_RESET. */
Test(virtio_state, vsock_checks_its_cid_and_owes_a_reset)
{
	struct virtio_vsock *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));
	char dir[] = "/tmp/kiln-vsock-state-XXXXXX", pa[64], pb[64];
	struct state_writer w = { 0 };
	struct kiln_err err = { 0 };
	struct state_reader r;
	size_t len;
	void *data;

	cr_assert_not_null(mkdtemp(dir));
	snprintf(pa, sizeof(pa), "%s/a.sock", dir);
	snprintf(pb, sizeof(pb), "%s/b.sock", dir);
	cr_assert_eq(virtio_vsock_init(a, 3, pa, &err), 0, "%s", err.msg);
	cr_assert_eq(virtio_vsock_init(b, 4, pb, &err), 0, "%s", err.msg);
	virtio_vsock_save(a, &w);
	cr_assert_eq(state_writer_take(&w, &data, &len), 0);
	r = state_reader_init(data, len);
	cr_assert_eq(virtio_vsock_load(b, &r, "vsock0", &err), -EINVAL);
	cr_assert_not_null(strstr(err.msg, "vsock0: the snapshot's guest CID 3"), "%s", err.msg);
	cr_assert_not(b->reset_event_pending, "nothing changed");
	b->guest_cid = 3;
	r = state_reader_init(data, len);
	err = (struct kiln_err){ 0 };
	cr_assert_eq(virtio_vsock_load(b, &r, "vsock0", &err), 0, "%s", err.msg);
	cr_assert(b->reset_event_pending, "the driver hears TRANSPORT_RESET next");
	cr_assert_eq(b->nr_conns, 0);
	virtio_vsock_free(a);
	virtio_vsock_free(b);
	rmdir(dir);
	free(data);
}
