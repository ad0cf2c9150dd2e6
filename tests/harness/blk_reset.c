// SPDX-License-Identifier: MIT
/*
 * virtio-blk behind the virtio-pci transport, with its real worker threads
 * and io_uring, through the life-cycle paths where threads meet: a driver
 * reset with sixteen 1 MiB reads in flight, the VMM's pause and resume with
 * reads in flight, and the machine's teardown with reads in flight. Built
 * plain and with ThreadSanitizer (mk/harness.mk); tests/harness/
 * test_blk_reset.py requires both to finish with no report.
 *
 * usage: blk-reset ROUNDS
 * Prints "rounds: N, reads completed: C, dropped at reset: D".
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bus/io_bus.h"
#include "virtio/blk.h"
#include "virtio/pci.h"
#include "virtio/pci_device.h"
#include "virtq_driver.h"
#include "x86/layout.h"

#define MIB     (1ULL << 20)
#define RAM     (64 * MIB)
#define RING    0x10000ULL
#define HDR     0x100000ULL
#define STATUS  0x200000ULL
#define DATA    (16 * MIB)     /* sixteen 1 MiB buffers: [16, 32) MiB */
#define READS   16
#define DISK    (32 * MIB)
#define QSIZE   64

struct harness {
	struct guest_memory mem;
	struct pci_bus pci;
	struct io_bus pio, mmio;
	struct device_list devices;
	struct virtio_pci *vp;
	struct vdriver drv;
	int kick_fd;
	char dir[40], image[64];
};

static struct harness h;

static void fail(const char *what)
{
	fprintf(stderr, "blk-reset: %s\n", what);
	exit(1);
}

static int fake_ioeventfd(void *ctx, uint64_t addr, unsigned int len, int fd, bool add)
{
	(void)ctx;
	(void)addr;
	(void)len;
	h.kick_fd = add ? fd : -1;
	return 0;
}

static int fake_msi_route(void *ctx, unsigned int route, uint64_t addr, uint32_t data, int fd)
{
	(void)ctx;
	(void)route;
	(void)addr;
	(void)data;
	(void)fd;
	return 0;
}

static int fake_msi_alloc(void *ctx, unsigned int count, unsigned int *first)
{
	(void)ctx;
	(void)count;
	*first = 0;
	return 0;
}

static void wr(uint64_t off, unsigned int size, uint64_t v)
{
	uint8_t data[8];

	io_data_put(data, size, v);
	h.vp->pci.bars[VPCI_BAR].handler(h.vp, off, data, size, true);
}

static uint64_t rd(uint64_t off, unsigned int size)
{
	uint8_t data[8];

	h.vp->pci.bars[VPCI_BAR].handler(h.vp, off, data, size, false);
	return io_data_get(data, size);
}

static void make_disk(void)
{
	struct kiln_err err = { 0 };
	static const struct virtio_pci_host host = { fake_ioeventfd, fake_msi_route,
						      fake_msi_alloc, NULL };
	static const struct machine_ops machine = { 0 };
	static struct kiln_config cfg = { .command = KILN_CMD_RUN, .cpus = 1, .nr_disks = 1 };
	struct device_env env = { .cfg = &cfg, .machine = &machine, .pio = &h.pio,
				  .mmio = &h.mmio, .pci = &h.pci, .mem = &h.mem,
				  .virtio = &host, .console_fd = -1, .devices = &h.devices };
	int fd;

	snprintf(h.dir, sizeof(h.dir), "/var/tmp/kiln-blk-reset-XXXXXX");
	if (!mkdtemp(h.dir))
		fail("mkdtemp");
	snprintf(h.image, sizeof(h.image), "%s/disk.img", h.dir);
	fd = open(h.image, O_CREAT | O_RDWR | O_TRUNC, 0600);
	if (fd < 0 || ftruncate(fd, DISK) || close(fd))
		fail("cannot make the image");
	cfg.disks[0] = (struct kiln_disk){ .path = h.image, .queues = 1, .serial = "reset" };
	if (guest_mem_create(&h.mem, RAM, LAYOUT_PCI_HOLE_START))
		fail("guest memory");
	pci_bus_init(&h.pci, LAYOUT_PCI_MMIO32, LAYOUT_PCI_MMIO32_END, 1ULL << 33, 1ULL << 35);
	if (virtio_blk_kind.create(&env, &err) || device_list_start(&h.devices, &err)) {
		fprintf(stderr, "blk-reset: %s\n", err.msg);
		exit(1);
	}
	h.vp = virtio_pci_device_transport(h.devices.head);
	if (!h.vp)
		fail("no transport");
}

/* What a driver does after a reset: negotiate, set up queue 0, DRIVER_OK. */
static void bring_up(void)
{
	wr(0x14, 1, 0);
	wr(0x14, 1, 1 | 2);
	wr(0x08, 4, 1);
	wr(0x0c, 4, 1); /* VERSION_1 */
	wr(0x14, 1, 1 | 2 | 8);
	if (!(rd(0x14, 1) & 8))
		fail("FEATURES_OK refused");
	vdriver_init(&h.drv, &h.mem, RING, QSIZE, false);
	wr(0x16, 2, 0);
	wr(0x18, 2, QSIZE);
	wr(0x20, 8, h.drv.desc_gpa);
	wr(0x28, 8, h.drv.avail_gpa);
	wr(0x30, 8, h.drv.used_gpa);
	wr(0x1c, 2, 1);
	wr(0x14, 1, 1 | 2 | 4 | 8);
}

/* Sixteen 1 MiB reads, published and kicked: all in flight at once. */
static void post_reads(void)
{
	for (unsigned int i = 0; i < READS; i++) {
		uint32_t hdr[4] = { VIRTIO_BLK_T_IN, 0, i * 2048, 0 };
		struct vbuf bufs[3] = { { HDR + 16 * i, 16, false }, { DATA + i * MIB, MIB, true },
					{ STATUS + i, 1, true } };
		int head;

		if (guest_mem_write(&h.mem, HDR + 16 * i, hdr, sizeof(hdr)))
			fail("header");
		head = vdriver_add(&h.drv, bufs, 3);
		if (head < 0)
			fail("no descriptors");
		vdriver_queue_head(&h.drv, (uint16_t)head);
	}
	vdriver_publish(&h.drv);
	if (h.kick_fd < 0 || write(h.kick_fd, &(uint64_t){ 1 }, 8) != 8)
		fail("kick");
}

static unsigned int reap(void)
{
	unsigned int n = 0;
	uint16_t head;
	uint32_t len;

	while (vdriver_get_used(&h.drv, &head, &len))
		n++;
	return n;
}

/* Wait (bounded) until all sixteen reads came back. */
static unsigned int wait_all(void)
{
	unsigned int done = 0;

	for (int spins = 0; done < READS && spins < 100000; spins++) {
		done += reap();
		if (done < READS)
			nanosleep(&(struct timespec){ 0, 100000 }, NULL);
	}
	if (done != READS)
		fail("reads did not complete within 10 s");
	return done;
}

int main(int argc, char **argv)
{
	unsigned long rounds = argc > 1 ? strtoul(argv[1], NULL, 0) : 20;
	unsigned long completed = 0, dropped = 0;
	struct kiln_err err = { 0 };

	h.kick_fd = -1;
	make_disk();
	for (unsigned long r = 0; r < rounds; r++) {
		unsigned int before;

		/* A driver reset with the reads in flight, or some done: the
		 * reset comes 0 to 400 us after the kick. */
		bring_up();
		post_reads();
		if (r % 5)
			nanosleep(&(struct timespec){ 0, (long)(r % 5) * 100000 }, NULL);
		wr(0x14, 1, 0);
		before = reap();
		completed += before;
		dropped += READS - before;
		/* Pause and resume with the reads in flight; then all complete. */
		bring_up();
		post_reads();
		if (device_list_pause(&h.devices, &err))
			fail(err.msg);
		device_list_resume(&h.devices);
		completed += wait_all();
	}
	/* The machine's teardown with the reads in flight. */
	bring_up();
	post_reads();
	device_list_destroy(&h.devices);
	printf("rounds: %lu, reads completed: %lu, dropped at reset: %lu\n", rounds, completed,
	       dropped);
	guest_mem_destroy(&h.mem);
	unlink(h.image);
	rmdir(h.dir);
	return 0;
}
