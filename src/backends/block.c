// SPDX-License-Identifier: MIT
#include "backends/block.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

static int open_direct(struct block_backend *b, int flags, enum block_direct direct,
		       struct kiln_err *err)
{
	if (direct == BLOCK_DIRECT_OFF)
		return 0;
	b->direct_fd = open(b->path, flags | O_DIRECT);
	if (b->direct_fd >= 0)
		return 0;
	/* tmpfs and a few others refuse O_DIRECT; "auto" lives with that. */
	if (direct == BLOCK_DIRECT_AUTO && errno == EINVAL)
		return 0;
	return err_set_errno(err, -errno, "disk '%s': cannot open with O_DIRECT (direct=off "
			     "avoids it)", b->path);
}

static int read_geometry(struct block_backend *b, struct kiln_err *err)
{
	struct stat st;
	int ssz = 512;

	if (fstat(b->fd, &st) < 0)
		return err_set_errno(err, -errno, "disk '%s'", b->path);
	b->is_blockdev = S_ISBLK(st.st_mode);
	if (b->is_blockdev) {
		if (ioctl(b->fd, BLKGETSIZE64, &b->size) < 0)
			return err_set_errno(err, -errno, "disk '%s': cannot read its size", b->path);
		if (ioctl(b->fd, BLKSSZGET, &ssz) < 0)
			ssz = 512;
	} else if (S_ISREG(st.st_mode)) {
		b->size = (uint64_t)st.st_size;
	} else {
		return err_set(err, -EINVAL, "disk '%s': not a regular file or block device",
			       b->path);
	}
	b->block_size = ssz > 512 ? (uint32_t)ssz : 512;
	if (b->size % 512)
		return err_set(err, -EINVAL, "disk '%s': size %llu is not a multiple of 512 bytes",
			       b->path, (unsigned long long)b->size);
	return 0;
}

int block_open(struct block_backend *b, const char *path, bool readonly,
	       enum block_direct direct, struct kiln_err *err)
{
	int flags = (readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC;
	int ret;

	memset(b, 0, sizeof(*b));
	b->path = path;
	b->readonly = readonly;
	b->direct_fd = -1;
	b->fd = open(path, flags);
	if (b->fd < 0) {
		if (errno == ENOENT)
			return err_set(err, -ENOENT, "disk '%s': no such file", path);
		return err_set_errno(err, -errno, "disk '%s'", path);
	}
	/* Two VMs writing one image corrupt it: take the lock or refuse. */
	if (flock(b->fd, (readonly ? LOCK_SH : LOCK_EX) | LOCK_NB) < 0) {
		ret = errno == EWOULDBLOCK
			? err_set(err, -EBUSY, "disk '%s' is in use by another process (locked)", path)
			: err_set_errno(err, -errno, "disk '%s': cannot lock", path);
		block_close(b);
		return ret;
	}
	ret = read_geometry(b, err);
	if (!ret)
		ret = open_direct(b, flags, direct, err);
	if (ret)
		block_close(b);
	return ret;
}

void block_close(struct block_backend *b)
{
	if (b->direct_fd >= 0)
		close(b->direct_fd);
	if (b->fd >= 0)
		close(b->fd);
	b->fd = b->direct_fd = -1;
}

int block_fd_for(const struct block_backend *b, const struct iovec *iov, unsigned int n,
		 uint64_t offset)
{
	uint64_t mask = b->block_size - 1;

	if (b->direct_fd < 0 || (offset & mask))
		return b->fd;
	for (unsigned int i = 0; i < n; i++)
		if (((uintptr_t)iov[i].iov_base & mask) || (iov[i].iov_len & mask))
			return b->fd;
	return b->direct_fd;
}

int block_discard(struct block_backend *b, uint64_t offset, uint64_t len)
{
	if (fallocate(b->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)offset,
		      (off_t)len) < 0)
		return -errno;
	return 0;
}

int block_write_zeroes(struct block_backend *b, uint64_t offset, uint64_t len, bool unmap)
{
	int mode = unmap ? FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE
			 : FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE;

	if (fallocate(b->fd, mode, (off_t)offset, (off_t)len) == 0)
		return 0;
	if (errno != EOPNOTSUPP)
		return -errno;
	/* No fallocate support: write zeroes the slow way. */
	static const uint8_t zeroes[65536];

	while (len) {
		size_t chunk = len < sizeof(zeroes) ? (size_t)len : sizeof(zeroes);
		ssize_t n = pwrite(b->fd, zeroes, chunk, (off_t)offset);

		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		offset += (uint64_t)n;
		len -= (uint64_t)n;
	}
	return 0;
}

int block_ring_init(struct block_ring *r, unsigned int depth)
{
	int ret;

	memset(r, 0, sizeof(*r));
	r->event_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (r->event_fd < 0)
		return -errno;
	/* Completions are taken by the worker when it next enters the kernel
	 * instead of interrupting it where it runs (it sleeps in poll() when
	 * idle, which such a completion still wakes). Kernels before 5.19
	 * refuse the flag: fall back to the default. */
	ret = io_uring_queue_init(depth, &r->ring, IORING_SETUP_COOP_TASKRUN);
	if (ret == -EINVAL)
		ret = io_uring_queue_init(depth, &r->ring, 0);
	if (ret < 0) {
		close(r->event_fd);
		return ret;
	}
	ret = io_uring_register_eventfd(&r->ring, r->event_fd);
	if (ret < 0) {
		io_uring_queue_exit(&r->ring);
		close(r->event_fd);
		return ret;
	}
	r->ready = true;
	return 0;
}

void block_ring_exit(struct block_ring *r)
{
	if (!r->ready)
		return;
	io_uring_queue_exit(&r->ring);
	close(r->event_fd);
	r->ready = false;
}
