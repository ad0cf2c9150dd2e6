// SPDX-License-Identifier: MIT
/* virtio-blk through the harness: requests built exactly as a guest driver
 * builds them, served by the worker thread and io_uring, checked against
 * the image file itself. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/loop.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/metrics.h"
#include "virtio/blk.h"
#include "thread_ticks.h"
#include "virtq_driver.h"

#define RAM      (32ULL << 20)
#define RING     0x10000ULL
#define HDR      0x100000ULL
#define DATA     0x200000ULL
#define STATUS   0x300000ULL
#define DISK     (4ULL << 20)

struct harness {
	struct guest_memory mem;
	struct vdriver drv;
	struct virtio_blk blk;
	struct virtq_worker worker;
	int kick_fd, irq_fd;
	int loop_fd;           /* a loop device over path, or -1 */
	uint32_t busy_poll_ns; /* for the worker open_disk starts */
	enum block_direct direct;
	char path[64];
	char device[32];       /* what open_disk opens: path or the loop device */
};

static struct harness *h;

static void init_disk(bool readonly)
{
	struct kiln_err err = { 0 };

	cr_assert_eq(virtio_blk_init(&h->blk, h->device[0] ? h->device : h->path, readonly, 2,
				     "kiln-serial-0001", h->direct, &err), 0, "%s", err.msg);
	h->blk.busy_poll_ns = h->busy_poll_ns;
}

/* Queue queue set up afresh, as a driver does after a reset, and served by
 * the worker. */
static void start_queue(unsigned int queue)
{
	struct virtq vq;
	struct virtq_worker_poll poll;

	vdriver_init(&h->drv, &h->mem, RING, 64, true);
	cr_assert_eq(virtq_init(&vq, &h->mem, 64, h->drv.desc_gpa, h->drv.avail_gpa,
				h->drv.used_gpa, true, true), 0);
	cr_assert_eq(virtio_blk_queue_poll(&h->blk, queue, &poll), 0);
	cr_assert_eq(virtq_worker_start_polling(&h->worker, &vq, h->kick_fd, h->irq_fd,
						virtio_blk_handle, &h->blk, queue, "vq-blk0-0",
						&poll), 0);
}

static void open_disk(bool readonly, unsigned int queue)
{
	init_disk(readonly);
	start_queue(queue);
}

static void setup(void)
{
	int fd;

	h = calloc(1, sizeof(*h));
	cr_assert_eq(guest_mem_create(&h->mem, RAM, 3ULL << 30), 0);
	/* Not tmpfs: the image lives where O_DIRECT works, like a real one. */
	snprintf(h->path, sizeof(h->path), "/var/tmp/kiln-blk-XXXXXX");
	fd = mkstemp(h->path);
	cr_assert_geq(fd, 0);
	cr_assert_eq(ftruncate(fd, DISK), 0);
	for (uint64_t off = 0; off < DISK; off += 4096) {
		uint8_t block[4096];

		memset(block, (int)(off / 4096) & 0xff, sizeof(block));
		cr_assert_eq(pwrite(fd, block, sizeof(block), (off_t)off), 4096);
	}
	close(fd);
	h->kick_fd = eventfd(0, EFD_NONBLOCK);
	h->irq_fd = eventfd(0, EFD_NONBLOCK);
	h->loop_fd = -1;
}

static void teardown(void)
{
	virtq_worker_stop(&h->worker);
	virtio_blk_destroy(&h->blk);
	if (h->loop_fd >= 0)
		close(h->loop_fd); /* autoclear: the loop device goes with it */
	unlink(h->path);
	close(h->kick_fd);
	close(h->irq_fd);
	guest_mem_destroy(&h->mem);
	free(h);
}

static void kick(void)
{
	if (vdriver_publish(&h->drv))
		cr_assert_eq(write(h->kick_fd, &(uint64_t){ 1 }, 8), 8);
}

/* Wait for the next used entry, as an interrupt-driven driver does. */
static void next_used(uint16_t *head, uint32_t *len)
{
	struct pollfd p = { .fd = h->irq_fd, .events = POLLIN };

	while (!vdriver_get_used(&h->drv, head, len)) {
		uint64_t v;

		if (!vdriver_prepare_wait(&h->drv))
			continue;
		cr_assert_eq(poll(&p, 1, 10000), 1, "no completion within 10 s");
		cr_assert_eq(read(h->irq_fd, &v, 8), 8);
	}
}

/* One request: header, optional data, status; returns the status byte. */
static uint8_t request(uint32_t type, uint64_t sector, uint64_t data_gpa, uint32_t len,
		       bool data_writable, uint32_t *used_len)
{
	uint32_t hdr[4] = { type, 0, (uint32_t)sector, (uint32_t)(sector >> 32) };
	struct vbuf bufs[3];
	unsigned int n = 0;
	uint16_t head;
	uint32_t got_len;
	uint8_t *status = guest_mem_ptr(&h->mem, STATUS, 1);

	memcpy(guest_mem_ptr(&h->mem, HDR, 16), hdr, 16);
	*status = 0xee;
	bufs[n++] = (struct vbuf){ HDR, 16, false };
	if (len)
		bufs[n++] = (struct vbuf){ data_gpa, len, data_writable };
	bufs[n++] = (struct vbuf){ STATUS, 1, true };
	vdriver_queue_head(&h->drv, (uint16_t)vdriver_add(&h->drv, bufs, n));
	kick();
	next_used(&head, &got_len);
	if (used_len)
		*used_len = got_len;
	return *status;
}

static void file_read(uint64_t off, void *buf, size_t len)
{
	int fd = open(h->path, O_RDONLY);

	cr_assert_eq(pread(fd, buf, len, (off_t)off), (ssize_t)len);
	close(fd);
}

TestSuite(virtio_blk, .init = setup, .fini = teardown, .timeout = 60);

Test(virtio_blk, read_matches_the_file)
{
	uint8_t *data = guest_mem_ptr(&h->mem, DATA, 8192), expect[8192];
	uint32_t used;

	open_disk(false, 0);
	cr_assert_eq(request(VIRTIO_BLK_T_IN, 24, DATA, 8192, true, &used), VIRTIO_BLK_S_OK);
	cr_assert_eq(used, 8193, "data plus the status byte");
	file_read(24 * 512, expect, sizeof(expect));
	cr_assert_arr_eq(data, expect, sizeof(expect));
}

Test(virtio_blk, write_reaches_the_file)
{
	uint8_t *data = guest_mem_ptr(&h->mem, DATA, 4096), back[4096];

	open_disk(false, 0);
	for (int i = 0; i < 4096; i++)
		data[i] = (uint8_t)(i * 13);
	cr_assert_eq(request(VIRTIO_BLK_T_OUT, 100, DATA, 4096, false, NULL), VIRTIO_BLK_S_OK);
	cr_assert_eq(request(VIRTIO_BLK_T_FLUSH, 0, 0, 0, false, NULL), VIRTIO_BLK_S_OK);
	file_read(100 * 512, back, sizeof(back));
	cr_assert_arr_eq(back, data, sizeof(back));
}

Test(virtio_blk, unaligned_buffers_use_the_buffered_path)
{
	uint8_t *data = guest_mem_ptr(&h->mem, DATA + 8, 512), expect[512];

	open_disk(false, 0);
	cr_assert_eq(request(VIRTIO_BLK_T_IN, 7, DATA + 8, 512, true, NULL), VIRTIO_BLK_S_OK);
	file_read(7 * 512, expect, sizeof(expect));
	cr_assert_arr_eq(data, expect, sizeof(expect));
}

Test(virtio_blk, out_of_range_and_partial_sectors_fail)
{
	open_disk(false, 0);
	cr_assert_eq(request(VIRTIO_BLK_T_IN, DISK / 512, DATA, 512, true, NULL),
		     VIRTIO_BLK_S_IOERR, "one sector past the end");
	cr_assert_eq(request(VIRTIO_BLK_T_IN, DISK / 512 - 1, DATA, 1024, true, NULL),
		     VIRTIO_BLK_S_IOERR, "straddling the end");
	cr_assert_eq(request(VIRTIO_BLK_T_IN, UINT64_MAX / 256, DATA, 512, true, NULL),
		     VIRTIO_BLK_S_IOERR, "sector overflow");
	cr_assert_eq(request(VIRTIO_BLK_T_OUT, 0, DATA, 100, false, NULL), VIRTIO_BLK_S_IOERR,
		     "not a whole sector");
	cr_assert_eq(request(99, 0, 0, 0, false, NULL), VIRTIO_BLK_S_UNSUPP);
}

Test(virtio_blk, get_id_returns_the_serial)
{
	char *id = guest_mem_ptr(&h->mem, DATA, 20);

	open_disk(false, 0);
	cr_assert_eq(request(VIRTIO_BLK_T_GET_ID, 0, DATA, 20, true, NULL), VIRTIO_BLK_S_OK);
	cr_assert_eq(memcmp(id, "kiln-serial-0001\0\0\0\0", 20), 0);
}

static uint8_t range_request(uint32_t type, uint64_t sector, uint32_t sectors, uint32_t flags)
{
	uint32_t range[4] = { (uint32_t)sector, (uint32_t)(sector >> 32), sectors, flags };

	memcpy(guest_mem_ptr(&h->mem, DATA, 16), range, 16);
	return request(type, 0, DATA, 16, false, NULL);
}

Test(virtio_blk, discard_and_write_zeroes_read_back_zero)
{
	uint8_t back[8192], zero[8192] = { 0 }, before[4096];

	open_disk(false, 0);
	file_read(64 * 512 - 4096, before, sizeof(before));
	cr_assert_eq(range_request(VIRTIO_BLK_T_DISCARD, 64, 16, 0), VIRTIO_BLK_S_OK);
	file_read(64 * 512, back, sizeof(back));
	cr_assert_arr_eq(back, zero, sizeof(back), "a discarded range reads as zeroes");
	cr_assert_eq(range_request(VIRTIO_BLK_T_WRITE_ZEROES, 200, 16, 0), VIRTIO_BLK_S_OK);
	file_read(200 * 512, back, sizeof(back));
	cr_assert_arr_eq(back, zero, sizeof(back));
	file_read(64 * 512 - 4096, back, 4096);
	cr_assert_arr_eq(back, before, 4096, "the bytes before are untouched");
	cr_assert_eq(range_request(VIRTIO_BLK_T_DISCARD, DISK / 512, 1, 0), VIRTIO_BLK_S_IOERR);
}

Test(virtio_blk, readonly_refuses_writes)
{
	uint8_t back[512], expect[512];

	open_disk(true, 0);
	cr_assert(virtio_blk_features(&h->blk) & (1ULL << VIRTIO_BLK_F_RO));
	file_read(0, expect, sizeof(expect));
	memset(guest_mem_ptr(&h->mem, DATA, 512), 0x77, 512);
	cr_assert_eq(request(VIRTIO_BLK_T_OUT, 0, DATA, 512, false, NULL), VIRTIO_BLK_S_IOERR);
	cr_assert_eq(range_request(VIRTIO_BLK_T_WRITE_ZEROES, 0, 1, 0), VIRTIO_BLK_S_IOERR);
	file_read(0, back, sizeof(back));
	cr_assert_arr_eq(back, expect, sizeof(back), "nothing changed on disk");
	cr_assert_eq(request(VIRTIO_BLK_T_IN, 0, DATA, 512, true, NULL), VIRTIO_BLK_S_OK);
}

Test(virtio_blk, second_queue_serves_too)
{
	open_disk(false, 1);
	cr_assert_eq(request(VIRTIO_BLK_T_IN, 0, DATA, 4096, true, NULL), VIRTIO_BLK_S_OK);
}

Test(virtio_blk, second_writer_is_locked_out)
{
	struct virtio_blk other;
	struct kiln_err err = { 0 };

	open_disk(false, 0);
	cr_assert_lt(virtio_blk_init(&other, h->path, false, 1, NULL, BLOCK_DIRECT_AUTO, &err), 0);
	cr_assert(strstr(err.msg, "in use"), "%s", err.msg);
}

Test(virtio_blk, config_space)
{
	uint64_t capacity;
	uint16_t queues;
	uint32_t seg_max;

	open_disk(false, 0);
	virtio_blk_config_read(&h->blk, 0, (uint8_t *)&capacity, 8);
	virtio_blk_config_read(&h->blk, 34, (uint8_t *)&queues, 2);
	virtio_blk_config_read(&h->blk, 12, (uint8_t *)&seg_max, 4);
	cr_assert_eq(capacity, DISK / 512);
	cr_assert_eq(queues, 2);
	cr_assert_eq(seg_max, VIRTIO_BLK_SEG_MAX);
}

Test(virtio_blk, flushed_data_survives_kill_9)
{
	int ready[2];
	pid_t child;
	uint8_t back[4096];
	char c;

	cr_assert_eq(pipe(ready), 0);
	child = fork();
	if (child == 0) {
		uint8_t *data;

		open_disk(false, 0);
		data = guest_mem_ptr(&h->mem, DATA, 4096);
		memset(data, 0xab, 4096);
		if (request(VIRTIO_BLK_T_OUT, 512, DATA, 4096, false, NULL) != VIRTIO_BLK_S_OK ||
		    request(VIRTIO_BLK_T_FLUSH, 0, 0, 0, false, NULL) != VIRTIO_BLK_S_OK)
			_exit(1);
		if (write(ready[1], "k", 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	cr_assert_eq(read(ready[0], &c, 1), 1, "the child wrote and flushed");
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	file_read(512 * 512, back, sizeof(back));
	for (int i = 0; i < 4096; i++)
		cr_assert_eq(back[i], 0xab, "byte %d after kill -9", i);
}

Test(virtio_blk, two_disks_at_once)
{
	struct vdriver *drv2 = calloc(1, sizeof(*drv2));
	struct virtio_blk *blk2 = calloc(1, sizeof(*blk2));
	struct virtq_worker *w2 = calloc(1, sizeof(*w2));
	int kick2 = eventfd(0, EFD_NONBLOCK), irq2 = eventfd(0, EFD_NONBLOCK), fd;
	struct kiln_err err = { 0 };
	struct virtq_worker_poll poll2;
	struct virtq vq2;
	char path2[64];
	uint8_t *data = guest_mem_ptr(&h->mem, DATA, 4096), back[4096];
	uint32_t hdr[4] = { VIRTIO_BLK_T_OUT, 0, 8, 0 };
	struct vbuf bufs[3] = { { HDR + 64, 16, false }, { DATA + 8192, 4096, false },
				{ STATUS + 64, 1, true } };
	struct pollfd p = { .fd = irq2, .events = POLLIN };
	uint16_t head;
	uint32_t len;

	snprintf(path2, sizeof(path2), "/var/tmp/kiln-blk2-XXXXXX");
	fd = mkstemp(path2);
	cr_assert_eq(ftruncate(fd, DISK), 0);
	close(fd);
	open_disk(false, 0);
	cr_assert_eq(virtio_blk_init(blk2, path2, false, 1, "second", BLOCK_DIRECT_AUTO, &err), 0,
		     "%s", err.msg);
	vdriver_init(drv2, &h->mem, RING + 0x20000, 64, true);
	cr_assert_eq(virtq_init(&vq2, &h->mem, 64, drv2->desc_gpa, drv2->avail_gpa,
				drv2->used_gpa, true, true), 0);
	cr_assert_eq(virtio_blk_queue_poll(blk2, 0, &poll2), 0);
	cr_assert_eq(virtq_worker_start_polling(w2, &vq2, kick2, irq2, virtio_blk_handle, blk2, 0,
						"vq-blk1-0", &poll2), 0);
	/* Disk 2 gets 0x3c at sector 8 while disk 1 gets 0xc3 there. */
	memset(guest_mem_ptr(&h->mem, DATA + 8192, 4096), 0x3c, 4096);
	memcpy(guest_mem_ptr(&h->mem, HDR + 64, 16), hdr, 16);
	vdriver_queue_head(drv2, (uint16_t)vdriver_add(drv2, bufs, 3));
	if (vdriver_publish(drv2))
		cr_assert_eq(write(kick2, &(uint64_t){ 1 }, 8), 8);
	memset(data, 0xc3, 4096);
	cr_assert_eq(request(VIRTIO_BLK_T_OUT, 8, DATA, 4096, false, NULL), VIRTIO_BLK_S_OK);
	while (!vdriver_get_used(drv2, &head, &len)) {
		cr_assert_eq(poll(&p, 1, 10000), 1);
		cr_assert_eq(read(irq2, &(uint64_t){ 0 }, 8), 8);
	}
	cr_assert_eq(*(uint8_t *)guest_mem_ptr(&h->mem, STATUS + 64, 1), VIRTIO_BLK_S_OK);
	fd = open(path2, O_RDONLY);
	cr_assert_eq(pread(fd, back, sizeof(back), 8 * 512), 4096);
	close(fd);
	for (int i = 0; i < 4096; i++)
		cr_assert_eq(back[i], 0x3c, "disk 2 byte %d", i);
	file_read(8 * 512, back, sizeof(back));
	for (int i = 0; i < 4096; i++)
		cr_assert_eq(back[i], 0xc3, "disk 1 byte %d", i);
	virtq_worker_stop(w2);
	virtio_blk_destroy(blk2);
	unlink(path2);
	close(kick2);
	close(irq2);
	free(w2);
	free(blk2);
	free(drv2);
}

/* Put the image behind a free loop device (root only) and make open_disk
 * open that: the backend then sees a block device, as with --disk /dev/sdX. */
static void use_loop_device(void)
{
	int ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);

	cr_assert_geq(ctl, 0, "/dev/loop-control: %s (this test needs root and loop devices)",
		      strerror(errno));
	for (int tries = 0; tries < 8 && h->loop_fd < 0; tries++) {
		int nr = ioctl(ctl, LOOP_CTL_GET_FREE), file;
		struct loop_config cfg = { .info.lo_flags = LO_FLAGS_AUTOCLEAR };

		cr_assert_geq(nr, 0, "no free loop device: %s", strerror(errno));
		snprintf(h->device, sizeof(h->device), "/dev/loop%d", nr);
		h->loop_fd = open(h->device, O_RDWR | O_CLOEXEC);
		cr_assert_geq(h->loop_fd, 0, "%s: %s", h->device, strerror(errno));
		file = open(h->path, O_RDWR | O_CLOEXEC);
		cfg.fd = (uint32_t)file;
		if (ioctl(h->loop_fd, LOOP_CONFIGURE, &cfg) < 0) {
			/* Taken by someone else between GET_FREE and here: next one. */
			cr_assert_eq(errno, EBUSY, "LOOP_CONFIGURE: %s", strerror(errno));
			close(h->loop_fd);
			h->loop_fd = -1;
		}
		close(file);
	}
	close(ctl);
	cr_assert_geq(h->loop_fd, 0, "could not attach a loop device");
}

Test(virtio_blk, block_device_backend)
{
	uint8_t *data = guest_mem_ptr(&h->mem, DATA, 8192), expect[8192], zero[8192] = { 0 };
	uint64_t capacity;

	use_loop_device();
	open_disk(false, 0);
	cr_assert(h->blk.backend.is_blockdev, "%s is seen as a block device", h->device);
	virtio_blk_config_read(&h->blk, 0, (uint8_t *)&capacity, 8);
	cr_assert_eq(capacity, DISK / 512, "capacity from BLKGETSIZE64");
	cr_assert_eq(request(VIRTIO_BLK_T_IN, 40, DATA, 8192, true, NULL), VIRTIO_BLK_S_OK);
	file_read(40 * 512, expect, sizeof(expect));
	cr_assert_arr_eq(data, expect, sizeof(expect), "reads through the device match the file");
	memset(data, 0x5a, 4096);
	cr_assert_eq(request(VIRTIO_BLK_T_OUT, 300, DATA, 4096, false, NULL), VIRTIO_BLK_S_OK);
	cr_assert_eq(request(VIRTIO_BLK_T_FLUSH, 0, 0, 0, false, NULL), VIRTIO_BLK_S_OK);
	file_read(300 * 512, expect, 4096);
	cr_assert_arr_eq(expect, data, 4096, "a flushed write is in the file behind the device");
	cr_assert_eq(range_request(VIRTIO_BLK_T_DISCARD, 64, 16, 0), VIRTIO_BLK_S_OK);
	cr_assert_eq(range_request(VIRTIO_BLK_T_WRITE_ZEROES, 200, 16, 0), VIRTIO_BLK_S_OK);
	cr_assert_eq(request(VIRTIO_BLK_T_IN, 64, DATA, 8192, true, NULL), VIRTIO_BLK_S_OK);
	cr_assert_arr_eq(data, zero, 8192, "a discarded range reads back as zeroes");
	cr_assert_eq(request(VIRTIO_BLK_T_IN, 200, DATA, 8192, true, NULL), VIRTIO_BLK_S_OK);
	cr_assert_arr_eq(data, zero, 8192, "a zeroed range reads back as zeroes");
	cr_assert_eq(request(VIRTIO_BLK_T_IN, DISK / 512, DATA, 512, true, NULL),
		     VIRTIO_BLK_S_IOERR, "past the end of the device");
}

Test(virtio_blk, busy_polling_worker_serves_every_request_and_rests_when_idle)
{
	uint8_t *data = guest_mem_ptr(&h->mem, DATA, 4096), back[4096];
	unsigned long before;

	/* Through the page cache, so that completions come within the window
	 * however slow this machine's disk is today. */
	h->busy_poll_ns = 200000;
	h->direct = BLOCK_DIRECT_OFF;
	open_disk(false, 0);
	for (unsigned int i = 0; i < 400; i++) {
		uint64_t sector = (i % 64) * 8;

		memset(data, (int)(i * 7 + 1), 4096);
		cr_assert_eq(request(VIRTIO_BLK_T_OUT, sector, DATA, 4096, false, NULL),
			     VIRTIO_BLK_S_OK);
		memset(data, 0, 4096);
		cr_assert_eq(request(VIRTIO_BLK_T_IN, sector, DATA, 4096, true, NULL),
			     VIRTIO_BLK_S_OK);
		memset(back, (int)(i * 7 + 1), 4096);
		cr_assert_arr_eq(data, back, 4096, "request %u read back something else", i);
	}
	cr_assert_eq(atomic_load(&h->worker.served), 800);
	/* With one CPU there is nothing to gain: the worker never polls. */
	if (sysconf(_SC_NPROCESSORS_ONLN) > 1)
		cr_assert_gt(atomic_load(&h->worker.busy_poll_hits), 0, "never found work polling");
	else
		cr_assert_eq(atomic_load(&h->worker.busy_poll_hits), 0);
	/* Idle, the window closes: no CPU burnt (a spinning thread would take
	 * all 50 ticks of the half second). */
	usleep(100000);
	before = thread_cpu_ticks("vq-blk0-0");
	usleep(500000);
	cr_assert_leq(thread_cpu_ticks("vq-blk0-0") - before, 5, "the idle worker kept polling");
}

#define MIB       (1ULL << 20)
#define BIG_DATA  (16 * MIB)   /* sixteen 1 MiB buffers: [16, 32) MiB */
#define TABLE     0x400000ULL  /* indirect descriptor tables */

/* Read request i: its header at HDR + 16 i, len bytes into data_gpa, its
 * status at STATUS + i (preset to 0xee). Added, not yet published. */
static uint16_t post_read(unsigned int i, uint64_t sector, uint64_t data_gpa, uint32_t len)
{
	uint32_t hdr[4] = { VIRTIO_BLK_T_IN, 0, (uint32_t)sector, (uint32_t)(sector >> 32) };
	struct vbuf bufs[3] = { { HDR + 16 * i, 16, false }, { data_gpa, len, true },
				{ STATUS + i, 1, true } };
	int head;

	memcpy(guest_mem_ptr(&h->mem, HDR + 16 * i, 16), hdr, 16);
	*(uint8_t *)guest_mem_ptr(&h->mem, STATUS + i, 1) = 0xee;
	head = vdriver_add(&h->drv, bufs, 3);
	cr_assert_geq(head, 0, "descriptors for request %u", i);
	vdriver_queue_head(&h->drv, (uint16_t)head);
	return (uint16_t)head;
}

/* The worker's half of serving, done on this thread: pop every chain, hand
 * it to the device, send the batch, and reap nothing. The reads are then in
 * flight with no one to complete them, as when a reset stops the worker
 * while the disk is still reading. */
static void serve_without_reaping(struct virtq_worker *w)
{
	struct virtq_chain *chain = malloc(sizeof(*chain));

	while (virtq_pop(&w->vq, chain) == 1)
		cr_assert_eq(virtio_blk_handle(&h->blk, w, chain), VIRTQ_PENDING);
	virtio_blk_batch_done(&h->blk, w);
	free(chain);
}

static uint64_t first_byte_not(uint64_t gpa, uint64_t len, uint8_t value)
{
	const uint8_t *p = guest_mem_ptr(&h->mem, gpa, len);

	for (uint64_t i = 0; i < len; i++)
		if (p[i] != value)
			return i;
	return len;
}

/* Sixteen 1 MiB reads in flight at a reset, then the driver sets the queue
 * up again and reuses every one of their heads: each new request must
 * complete in full. Before queue_stop, the old reads stayed marked busy and
 * their heads came back empty, with no status. */
static void reset_with_reads_in_flight(bool through_worker)
{
	struct virtq_worker *w = calloc(1, sizeof(*w));
	struct virtq_worker_poll poll;
	uint16_t heads[16];

	init_disk(false);
	if (through_worker) {
		start_queue(0);
		for (unsigned int i = 0; i < 16; i++)
			heads[i] = post_read(i, (i % 4) * (MIB / 512), BIG_DATA + i * MIB, MIB);
		kick();
		virtq_worker_stop(&h->worker); /* the transport's reset stops the worker first */
		w->queue = 0;
	} else {
		vdriver_init(&h->drv, &h->mem, RING, 64, true);
		cr_assert_eq(virtq_init(&w->vq, &h->mem, 64, h->drv.desc_gpa, h->drv.avail_gpa,
					h->drv.used_gpa, true, true), 0);
		w->queue = 0;
		cr_assert_eq(virtio_blk_queue_poll(&h->blk, 0, &poll), 0);
		for (unsigned int i = 0; i < 16; i++)
			heads[i] = post_read(i, (i % 4) * (MIB / 512), BIG_DATA + i * MIB, MIB);
		vdriver_publish(&h->drv);
		serve_without_reaping(w);
		cr_assert(poll.in_flight(&h->blk, w), "16 reads submitted and not reaped");
	}
	virtio_blk_queue_stop(&h->blk, 0);
	cr_assert_eq(virtio_blk_queue_poll(&h->blk, 0, &poll), 0);
	cr_assert_not(poll.in_flight(&h->blk, w), "nothing in flight after queue_stop");

	/* Nothing lands in guest memory once the queue is stopped. */
	memset(guest_mem_ptr(&h->mem, BIG_DATA, 16 * MIB), 0xa5, 16 * MIB);
	usleep(100000);
	cr_assert_eq(first_byte_not(BIG_DATA, 16 * MIB, 0xa5), 16 * MIB,
		     "guest memory written after the reset");

	start_queue(0);
	for (unsigned int i = 0; i < 16; i++)
		cr_assert_eq(post_read(i, 1024 + i * 128, BIG_DATA + i * MIB, 65536), heads[i],
			     "the driver reuses head %u", heads[i]);
	kick();
	for (unsigned int k = 0; k < 16; k++) {
		uint8_t expect[65536];
		uint16_t head;
		uint32_t len;
		unsigned int i = 0;

		next_used(&head, &len);
		while (i < 16 && heads[i] != head)
			i++;
		cr_assert_lt(i, 16, "used head %u was never posted", head);
		cr_assert_eq(len, 65536 + 1, "head %u: data plus the status byte", head);
		cr_assert_eq(*(uint8_t *)guest_mem_ptr(&h->mem, STATUS + i, 1), VIRTIO_BLK_S_OK,
			     "head %u's status", head);
		file_read((1024 + i * 128) * 512ULL, expect, sizeof(expect));
		cr_assert_arr_eq(guest_mem_ptr(&h->mem, BIG_DATA + i * MIB, sizeof(expect)), expect,
				 sizeof(expect), "head %u's data", head);
	}
	free(w);
}

Test(virtio_blk, reset_with_reads_in_flight_frees_every_head)
{
	reset_with_reads_in_flight(false);
}

Test(virtio_blk, reset_right_after_a_kick_frees_every_head)
{
	reset_with_reads_in_flight(true);
}

/* A read of nsegs 512-byte segments through one indirect table. */
static uint8_t read_in_segments(unsigned int nsegs, uint32_t *used)
{
	uint32_t hdr[4] = { VIRTIO_BLK_T_IN, 0, 8, 0 };
	struct vbuf bufs[VIRTIO_BLK_SEG_MAX + 3];
	uint16_t head;

	cr_assert_leq(nsegs, VIRTIO_BLK_SEG_MAX + 1);
	memcpy(guest_mem_ptr(&h->mem, HDR, 16), hdr, 16);
	*(uint8_t *)guest_mem_ptr(&h->mem, STATUS, 1) = 0xee;
	bufs[0] = (struct vbuf){ HDR, 16, false };
	for (unsigned int s = 0; s < nsegs; s++)
		bufs[1 + s] = (struct vbuf){ BIG_DATA + s * 512ULL, 512, true };
	bufs[1 + nsegs] = (struct vbuf){ STATUS, 1, true };
	vdriver_queue_head(&h->drv, (uint16_t)vdriver_add_indirect(&h->drv, bufs, nsegs + 2, TABLE));
	kick();
	next_used(&head, used);
	return *(uint8_t *)guest_mem_ptr(&h->mem, STATUS, 1);
}

Test(virtio_blk, seg_max_and_size_max_are_enforced)
{
	uint8_t *expect = malloc(MIB);
	unsigned long invalid = METRIC_GET(block_invalid_reqs);
	uint32_t used;

	open_disk(false, 0);
	cr_assert_eq(request(VIRTIO_BLK_T_IN, 0, BIG_DATA, MIB, true, &used), VIRTIO_BLK_S_OK,
		     "one segment of size_max");
	cr_assert_eq(used, MIB + 1);
	file_read(0, expect, MIB);
	cr_assert_arr_eq(guest_mem_ptr(&h->mem, BIG_DATA, MIB), expect, MIB);
	memset(guest_mem_ptr(&h->mem, BIG_DATA, 2 * MIB), 0x3e, 2 * MIB);
	cr_assert_eq(request(VIRTIO_BLK_T_IN, 0, BIG_DATA, MIB + 512, true, NULL),
		     VIRTIO_BLK_S_IOERR, "a segment past size_max");
	cr_assert_eq(first_byte_not(BIG_DATA, 2 * MIB, 0x3e), 2 * MIB, "nothing was read");

	cr_assert_eq(read_in_segments(VIRTIO_BLK_SEG_MAX, &used), VIRTIO_BLK_S_OK, "seg_max segments");
	cr_assert_eq(used, VIRTIO_BLK_SEG_MAX * 512 + 1);
	file_read(8 * 512, expect, VIRTIO_BLK_SEG_MAX * 512);
	cr_assert_arr_eq(guest_mem_ptr(&h->mem, BIG_DATA, VIRTIO_BLK_SEG_MAX * 512), expect,
			 VIRTIO_BLK_SEG_MAX * 512);
	cr_assert_eq(read_in_segments(VIRTIO_BLK_SEG_MAX + 1, &used), VIRTIO_BLK_S_IOERR,
		     "one segment more than seg_max");
	cr_assert_eq(METRIC_GET(block_invalid_reqs) - invalid, 2, "both counted as invalid");
	free(expect);
}

/* Four overlapping descriptors of nearly 1.5 GiB: 6 GiB - 4 KiB in all,
 * which 32-bit counting took for 0x7ffff000 bytes, exactly what one read
 * moves at most: it completed OK with two thirds never read. */
Test(virtio_blk, a_request_past_4_gib_fails_instead_of_wrapping)
{
	const uint64_t piece = 0x60000000ULL - 1024, data = 256 * MIB;
	uint32_t hdr[4] = { VIRTIO_BLK_T_IN, 0, 0, 0 };
	struct vbuf bufs[6] = { { HDR, 16, false } };
	unsigned long invalid = METRIC_GET(block_invalid_reqs);
	uint16_t head;
	uint32_t used;
	int fd;

	/* 2 GiB of guest RAM, reserved, not backed, and an 8 GiB sparse image. */
	guest_mem_destroy(&h->mem);
	cr_assert_eq(guest_mem_create(&h->mem, 2048 * MIB, 3ULL << 30), 0);
	fd = open(h->path, O_RDWR);
	cr_assert_eq(ftruncate(fd, 8ULL << 30), 0);
	close(fd);
	open_disk(false, 0);
	for (int k = 0; k < 4; k++)
		bufs[1 + k] = (struct vbuf){ data, (uint32_t)piece, true };
	bufs[5] = (struct vbuf){ STATUS, 1, true };
	memcpy(guest_mem_ptr(&h->mem, HDR, 16), hdr, 16);
	*(uint8_t *)guest_mem_ptr(&h->mem, data, 1) = 0x77;
	*(uint8_t *)guest_mem_ptr(&h->mem, STATUS, 1) = 0xee;
	vdriver_queue_head(&h->drv, (uint16_t)vdriver_add(&h->drv, bufs, 6));
	kick();
	next_used(&head, &used);
	cr_assert_eq(*(uint8_t *)guest_mem_ptr(&h->mem, STATUS, 1), VIRTIO_BLK_S_IOERR);
	cr_assert_eq(used, 1, "only the status byte");
	cr_assert_eq(*(uint8_t *)guest_mem_ptr(&h->mem, data, 1), 0x77, "nothing was read");
	cr_assert_eq(METRIC_GET(block_invalid_reqs) - invalid, 1);
	cr_assert_eq(request(VIRTIO_BLK_T_IN, (8ULL << 30) / 512 - 8, data, 4096, true, &used),
		     VIRTIO_BLK_S_OK, "the disk still serves");
}

struct block_counts {
	unsigned long read_bytes, write_bytes, reads, writes, flushes, fails, invalid;
};

static struct block_counts block_counts(void)
{
	return (struct block_counts){
		METRIC_GET(block_read_bytes), METRIC_GET(block_write_bytes),
		METRIC_GET(block_read_count), METRIC_GET(block_write_count),
		METRIC_GET(block_flush_count), METRIC_GET(block_execute_fails),
		METRIC_GET(block_invalid_reqs),
	};
}

Test(virtio_blk, metrics_count_what_completes)
{
	struct block_counts before = block_counts(), after;
	int fd;

	open_disk(false, 0);
	cr_assert_eq(request(VIRTIO_BLK_T_IN, 0, DATA, 8192, true, NULL), VIRTIO_BLK_S_OK);
	cr_assert_eq(request(VIRTIO_BLK_T_IN, 64, DATA, 4096, true, NULL), VIRTIO_BLK_S_OK);
	cr_assert_eq(request(VIRTIO_BLK_T_OUT, 100, DATA, 4096, false, NULL), VIRTIO_BLK_S_OK);
	cr_assert_eq(request(VIRTIO_BLK_T_FLUSH, 0, 0, 0, false, NULL), VIRTIO_BLK_S_OK);
	cr_assert_eq(request(VIRTIO_BLK_T_GET_ID, 0, DATA, 20, true, NULL), VIRTIO_BLK_S_OK);
	/* Malformed: past the end, and a type the device does not know. */
	cr_assert_eq(request(VIRTIO_BLK_T_IN, DISK / 512, DATA, 512, true, NULL),
		     VIRTIO_BLK_S_IOERR);
	cr_assert_eq(request(99, 0, 0, 0, false, NULL), VIRTIO_BLK_S_UNSUPP);
	/* An I/O error: the image shrank behind the device's back, so a read
	 * the device still thinks in range comes back short. */
	fd = open(h->path, O_RDWR);
	cr_assert_eq(ftruncate(fd, DISK / 2), 0);
	close(fd);
	cr_assert_eq(request(VIRTIO_BLK_T_IN, DISK / 512 - 8, DATA, 4096, true, NULL),
		     VIRTIO_BLK_S_IOERR);
	after = block_counts();
	cr_assert_eq(after.read_bytes - before.read_bytes, 8192 + 4096);
	cr_assert_eq(after.reads - before.reads, 2);
	cr_assert_eq(after.write_bytes - before.write_bytes, 4096);
	cr_assert_eq(after.writes - before.writes, 1);
	cr_assert_eq(after.flushes - before.flushes, 1);
	cr_assert_eq(after.invalid - before.invalid, 2);
	cr_assert_eq(after.fails - before.fails, 1);
}

static uint64_t capacity(void)
{
	uint64_t sectors;

	virtio_blk_config_read(&h->blk, 0, (uint8_t *)&sectors, 8);
	return sectors;
}

/* A second image of bytes bytes, each 4 KiB block filled with 0xf0 ^ its number. */
static void make_other_image(char *path, size_t size, uint64_t bytes)
{
	uint8_t block[4096];
	int fd;

	snprintf(path, size, "/var/tmp/kiln-blk-other-XXXXXX");
	fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	for (uint64_t off = 0; off < bytes; off += 4096) {
		memset(block, 0xf0 ^ (int)(off / 4096), sizeof(block));
		cr_assert_eq(pwrite(fd, block, sizeof(block), (off_t)off), 4096);
	}
	close(fd);
}

Test(virtio_blk, replace_backend_serves_the_new_file)
{
	uint8_t *data = guest_mem_ptr(&h->mem, DATA, 4096), back[4096];
	struct virtio_blk *probe = calloc(1, sizeof(*probe));
	struct kiln_err err = { 0 };
	char other[64];
	int fd;

	make_other_image(other, sizeof(other), 2 * DISK);
	open_disk(false, 0);
	cr_assert_eq(request(VIRTIO_BLK_T_IN, 0, DATA, 4096, true, NULL), VIRTIO_BLK_S_OK);
	cr_assert_eq(data[0], 0, "the old image's block 0");
	cr_assert_eq(virtio_blk_replace_backend(&h->blk, other, &err), 0, "%s", err.msg);
	cr_assert_eq(capacity(), 2 * DISK / 512, "config space has the new size");
	cr_assert_eq(request(VIRTIO_BLK_T_IN, 0, DATA, 4096, true, NULL), VIRTIO_BLK_S_OK);
	cr_assert_eq(data[0], 0xf0, "block 0 of the new image");
	cr_assert_eq(request(VIRTIO_BLK_T_IN, (DISK + 4096) / 512, DATA, 4096, true, NULL),
		     VIRTIO_BLK_S_OK, "past the old image's end");
	cr_assert_eq(data[4095], 0xf0 ^ ((DISK + 4096) / 4096 & 0xff));
	memset(data, 0x42, 4096);
	cr_assert_eq(request(VIRTIO_BLK_T_OUT, 16, DATA, 4096, false, NULL), VIRTIO_BLK_S_OK);
	cr_assert_eq(request(VIRTIO_BLK_T_FLUSH, 0, 0, 0, false, NULL), VIRTIO_BLK_S_OK);
	fd = open(other, O_RDONLY);
	cr_assert_eq(pread(fd, back, 4096, 16 * 512), 4096);
	close(fd);
	cr_assert_arr_eq(back, data, 4096, "the write went to the new image");
	file_read(16 * 512, back, 4096);
	cr_assert_eq(back[0], 2, "and not to the old one");
	/* The lock moved with it. */
	cr_assert_lt(virtio_blk_init(probe, other, false, 1, NULL, BLOCK_DIRECT_AUTO, &err), 0);
	cr_assert(strstr(err.msg, "in use"), "%s", err.msg);
	err = (struct kiln_err){ 0 };
	cr_assert_eq(virtio_blk_init(probe, h->path, false, 1, NULL, BLOCK_DIRECT_AUTO, &err), 0,
		     "the old image is free again: %s", err.msg);
	virtio_blk_destroy(probe);
	unlink(other);
	free(probe);
}

Test(virtio_blk, replace_backend_with_a_missing_file_keeps_the_old_one)
{
	uint8_t *data = guest_mem_ptr(&h->mem, DATA, 4096);
	struct kiln_err err = { 0 };
	const char *missing = "/var/tmp/kiln-blk-no-such-image";

	open_disk(false, 0);
	cr_assert_eq(virtio_blk_replace_backend(&h->blk, missing, &err), -ENOENT);
	cr_assert(strstr(err.msg, missing), "the error names the path: %s", err.msg);
	cr_assert_eq(capacity(), DISK / 512);
	cr_assert_eq(request(VIRTIO_BLK_T_IN, 8 * 8, DATA, 4096, true, NULL), VIRTIO_BLK_S_OK);
	cr_assert_eq(data[0], 8, "still the old image");
}

Test(virtio_blk, replace_backend_with_the_same_grown_file_updates_the_capacity)
{
	uint8_t *data = guest_mem_ptr(&h->mem, DATA, 4096);
	struct kiln_err err = { 0 };
	int fd;

	open_disk(false, 0);
	fd = open(h->path, O_RDWR);
	cr_assert_eq(ftruncate(fd, 2 * DISK), 0);
	close(fd);
	cr_assert_eq(virtio_blk_replace_backend(&h->blk, h->path, &err), 0, "%s", err.msg);
	cr_assert_eq(capacity(), 2 * DISK / 512);
	memset(data, 0x99, 4096);
	cr_assert_eq(request(VIRTIO_BLK_T_IN, DISK / 512, DATA, 4096, true, NULL),
		     VIRTIO_BLK_S_OK, "the grown part");
	cr_assert_eq(data[0], 0);
}

Test(virtio_blk, a_replaced_readonly_disk_stays_readonly)
{
	struct kiln_err err = { 0 };
	uint8_t back[512];
	char other[64];
	int fd;

	make_other_image(other, sizeof(other), DISK);
	open_disk(true, 0);
	cr_assert_eq(virtio_blk_replace_backend(&h->blk, other, &err), 0, "%s", err.msg);
	memset(guest_mem_ptr(&h->mem, DATA, 512), 0x11, 512);
	cr_assert_eq(request(VIRTIO_BLK_T_OUT, 0, DATA, 512, false, NULL), VIRTIO_BLK_S_IOERR);
	fd = open(other, O_RDONLY);
	cr_assert_eq(pread(fd, back, 512, 0), 512);
	close(fd);
	cr_assert_eq(back[0], 0xf0, "the new image is unchanged");
	unlink(other);
}

/* A restore reopens the image from the configuration: one of another size
 * is not the disk the guest knew, and is refused. */
Test(virtio_blk, snapshot_refuses_a_disk_of_another_size)
{
	struct virtio_blk *other = calloc(1, sizeof(*other));
	struct state_writer w = { 0 };
	struct kiln_err err = { 0 };
	struct state_reader r;
	size_t len;
	void *data;

	init_disk(false);
	virtio_blk_save(&h->blk, &w);
	cr_assert_eq(state_writer_take(&w, &data, &len), 0);
	cr_assert_eq(virtio_blk_init(other, h->path, false, 2, "s", h->direct, &err), -EBUSY,
		     "the image is locked by the first");
	virtio_blk_destroy(&h->blk);
	memset(&h->blk, 0, sizeof(h->blk));
	err = (struct kiln_err){ 0 };
	cr_assert_eq(virtio_blk_init(other, h->path, false, 2, "s", h->direct, &err), 0, "%s",
		     err.msg);
	r = state_reader_init(data, len);
	cr_assert_eq(virtio_blk_load(other, &r, "blk0", &err), 0, "%s", err.msg);
	virtio_blk_destroy(other);
	memset(other, 0, sizeof(*other));
	cr_assert_eq(truncate(h->path, 2 * DISK), 0);
	cr_assert_eq(virtio_blk_init(other, h->path, false, 2, "s", h->direct, &err), 0, "%s",
		     err.msg);
	r = state_reader_init(data, len);
	cr_assert_eq(virtio_blk_load(other, &r, "blk0", &err), -EINVAL);
	cr_assert_not_null(strstr(err.msg, "blk0"), "%s", err.msg);
	cr_assert_not_null(strstr(err.msg, "not the same image"), "%s", err.msg);
	virtio_blk_destroy(other);
	free(other);
	free(data);
	init_disk(false);      /* for the teardown */
}
