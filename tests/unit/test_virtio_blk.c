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

#include "virtio/blk.h"
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

static void open_disk(bool readonly, unsigned int queue)
{
	struct kiln_err err = { 0 };
	struct virtq vq;
	struct virtq_worker_poll poll;

	cr_assert_eq(virtio_blk_init(&h->blk, h->device[0] ? h->device : h->path, readonly, 2,
				     "kiln-serial-0001", h->direct, &err), 0, "%s", err.msg);
	h->blk.busy_poll_ns = h->busy_poll_ns;
	vdriver_init(&h->drv, &h->mem, RING, 64, true);
	cr_assert_eq(virtq_init(&vq, &h->mem, 64, h->drv.desc_gpa, h->drv.avail_gpa,
				h->drv.used_gpa, true, true), 0);
	cr_assert_eq(virtio_blk_queue_poll(&h->blk, queue, &poll), 0);
	cr_assert_eq(virtq_worker_start_polling(&h->worker, &vq, h->kick_fd, h->irq_fd,
						virtio_blk_handle, &h->blk, queue, "vq-blk0-0",
						&poll), 0);
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

/* One request: header, optional data, status; returns the status byte. */
static uint8_t request(uint32_t type, uint64_t sector, uint64_t data_gpa, uint32_t len,
		       bool data_writable, uint32_t *used_len)
{
	uint32_t hdr[4] = { type, 0, (uint32_t)sector, (uint32_t)(sector >> 32) };
	struct vbuf bufs[3];
	unsigned int n = 0;
	struct pollfd p = { .fd = h->irq_fd, .events = POLLIN };
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
	if (vdriver_publish(&h->drv))
		cr_assert_eq(write(h->kick_fd, &(uint64_t){ 1 }, 8), 8);
	while (!vdriver_get_used(&h->drv, &head, &got_len)) {
		uint64_t v;

		if (!vdriver_prepare_wait(&h->drv))
			continue;
		cr_assert_eq(poll(&p, 1, 10000), 1, "no completion within 10 s");
		cr_assert_eq(read(h->irq_fd, &v, 8), 8);
	}
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

/* CPU time of this process's thread called name, in clock ticks. */
static unsigned long thread_cpu_ticks(const char *name)
{
	char cmd[160], line[64];
	unsigned long utime = 0, stime = 0;
	FILE *f;

	snprintf(cmd, sizeof(cmd), "for t in /proc/%d/task/*; do [ \"$(cat $t/comm)\" = %s ] && "
		 "cut -d')' -f2 $t/stat | cut -d' ' -f13,14; done", getpid(), name);
	f = popen(cmd, "r");
	cr_assert_not_null(f);
	cr_assert_not_null(fgets(line, sizeof(line), f), "no thread named %s", name);
	pclose(f);
	cr_assert_eq(sscanf(line, "%lu %lu", &utime, &stime), 2);
	return utime + stime;
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
