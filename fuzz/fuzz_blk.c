// SPDX-License-Identifier: MIT
/*
 * virtio-blk requests (src/virtio/blk.c) from a hostile driver against two
 * real images in a temporary directory: a read-write one and a read-only
 * one. Each input is a batch of requests (any type, sector, header and
 * segment layout, direct or through an indirect table) served through the
 * device's entry points as its worker thread calls them, with io_uring
 * underneath; the worker's loop runs here, on one thread, so the run is
 * reproducible. After every input neither image has changed size and the
 * read-only one has not changed at all.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz_input.h"
#include "virtio/blk.h"
#include "virtq_driver.h"

#define RAM        (4ULL << 20)
#define RING       0x10000ULL
#define TABLE      0x20000ULL
#define HDR        0x30000ULL
#define DATA       0x100000ULL
#define QSIZE      64
#define DISK_BYTES (64 * 1024)

struct disk {
	struct virtio_blk blk;
	struct virtq_worker_poll poll;
	char path[64];
	uint8_t original[DISK_BYTES];   /* what the read-only image must keep */
};

static struct guest_memory mem;
static struct vdriver drv;
static struct virtq_chain chain;
static struct disk disks[2];   /* 0: read-write, 1: read-only */
static char dir[] = "/var/tmp/kiln-fuzz-blk-XXXXXX";
static int irq_fd;

/* The whole file, which must be DISK_BYTES long. */
static void read_image(const char *path, uint8_t *buf)
{
	struct stat st;
	int fd = open(path, O_RDONLY);

	FUZZ_SETUP(fd >= 0 && fstat(fd, &st) == 0);
	FUZZ_CHECK(st.st_size == DISK_BYTES, "%s is %ld bytes", path, (long)st.st_size);
	FUZZ_CHECK(pread(fd, buf, DISK_BYTES, 0) == DISK_BYTES, "reading %s", path);
	close(fd);
}

static void make_image(struct disk *d, const char *name, bool readonly)
{
	struct kiln_err err = { 0 };
	uint8_t block[4096];
	int fd;

	snprintf(d->path, sizeof(d->path), "%s/%s", dir, name);
	fd = open(d->path, O_CREAT | O_RDWR | O_TRUNC, 0600);
	FUZZ_SETUP(fd >= 0);
	for (unsigned int off = 0; off < DISK_BYTES; off += sizeof(block)) {
		memset(block, (int)(off / 4096) + 1, sizeof(block));
		FUZZ_SETUP(pwrite(fd, block, sizeof(block), off) == (ssize_t)sizeof(block));
	}
	close(fd);
	FUZZ_SETUP(virtio_blk_init(&d->blk, d->path, readonly, 1, "fuzz-serial", BLOCK_DIRECT_OFF,
				   &err) == 0);
	FUZZ_SETUP(virtio_blk_queue_poll(&d->blk, 0, &d->poll) == 0);
	read_image(d->path, d->original);
}

static void remove_images(void)
{
	for (unsigned int i = 0; i < 2; i++) {
		virtio_blk_destroy(&disks[i].blk);
		unlink(disks[i].path);
	}
	rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	FUZZ_SETUP(guest_mem_create(&mem, RAM, 3ULL << 30) == 0);
	FUZZ_SETUP(mkdtemp(dir) != NULL);
	make_image(&disks[0], "rw.img", false);
	make_image(&disks[1], "ro.img", true);
	atexit(remove_images);
	irq_fd = eventfd(0, EFD_NONBLOCK);
	FUZZ_SETUP(irq_fd >= 0);
	return 0;
}

/* One request as the input describes it: a header (type, sector) placed
 * anywhere, then up to 8 segments of any length and direction. */
static void add_request(struct fuzz_input *in, unsigned int index)
{
	struct vbuf bufs[8];
	uint8_t shape = fuzz_u8(in);
	unsigned int n = 1 + (shape & 7);
	uint64_t hdr = HDR + 64ULL * index;
	uint32_t h[4] = { fuzz_u8(in), 0, 0, 0 };
	uint64_t sector = fuzz_u16(in);
	int head;

	if (h[0] >= 16) /* now and then a full 32-bit type and 64-bit sector */
		h[0] = fuzz_u32(in), sector = fuzz_u64(in);
	h[2] = (uint32_t)sector;
	h[3] = (uint32_t)(sector >> 32);
	FUZZ_SETUP(guest_mem_write(&mem, hdr, h, sizeof(h)) == 0);
	/* Segment 0 is the header unless the input says otherwise. */
	for (unsigned int i = 0; i < n; i++) {
		uint16_t len = fuzz_u16(in);
		uint8_t where = fuzz_u8(in);

		if (i == 0 && !(where & 0x80))
			bufs[i] = (struct vbuf){ hdr, (where & 0x40) ? len % 32 : 16, false };
		else
			bufs[i] = (struct vbuf){ DATA + (where & 0x3fULL) * 0x8000 + (len & 0x1ff),
						 len, where & 1 };
	}
	if (shape & 0x80)
		head = vdriver_add_indirect(&drv, bufs, n, TABLE + 0x100ULL * index);
	else
		head = vdriver_add(&drv, bufs, n);
	if (head >= 0)
		vdriver_queue_head(&drv, (uint16_t)head);
	/* A descriptor the driver rewrites after adding it: overlaps, loops. */
	if (head >= 0 && (shape & 0x40)) {
		struct virtq_desc *d = &drv.desc[fuzz_u8(in) % QSIZE];

		d->flags = fuzz_u8(in) & 7;
		d->next = fuzz_u8(in) % (QSIZE + 4);
	}
}

/* The worker's loop: serve what is available, submit, reap until idle. */
static void serve(struct virtio_blk *blk, struct virtq_worker *w)
{
	int ret;

	while ((ret = virtq_pop(&w->vq, &chain)) != 0) {
		long written = 0;

		if (ret == VIRTQ_ERR_RING)
			break;
		if (ret > 0)
			written = virtio_blk_handle(blk, w, &chain);
		if (written != VIRTQ_PENDING)
			virtq_worker_complete(w, chain.head, written > 0 ? (uint32_t)written : 0);
	}
	virtio_blk_batch_done(blk, w);
	while (blk->queues[0]->inflight) {
		ret = block_engine_wait(blk->queues[0]->engine);
		FUZZ_CHECK(ret >= 0 || ret == -EINTR, "waiting for the engine: %s", strerror(-ret));
		virtio_blk_reap(blk, w);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_input in = fuzz_input(data, size);
	struct disk *d = &disks[fuzz_u8(&in) & 1];
	static struct virtq_worker w;
	unsigned int nr = 0;
	uint16_t head;
	uint32_t len;
	static uint8_t now[DISK_BYTES];
	struct stat st;

	vdriver_init(&drv, &mem, RING, QSIZE, true);
	memset(&w, 0, sizeof(w));
	w.irq_fd = irq_fd;
	w.queue = 0;
	FUZZ_SETUP(virtq_init(&w.vq, &mem, QSIZE, drv.desc_gpa, drv.avail_gpa, drv.used_gpa,
			      true, true) == 0);
	while (fuzz_left(&in) && nr < 32)
		add_request(&in, nr++);
	vdriver_publish(&drv);
	serve(&d->blk, &w);
	while (vdriver_get_used(&drv, &head, &len))
		FUZZ_CHECK(head < QSIZE, "used head %u", head);
	virtio_blk_queue_stop(&d->blk, 0);
	FUZZ_CHECK(stat(disks[0].path, &st) == 0 && st.st_size == DISK_BYTES,
		   "the read-write image changed size");
	read_image(disks[1].path, now);
	FUZZ_CHECK(!memcmp(now, disks[1].original, DISK_BYTES), "the read-only image changed");
	return 0;
}
