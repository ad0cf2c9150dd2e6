// SPDX-License-Identifier: MIT
#include "backends/block.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <string.h>
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
	b->readonly = readonly;
	b->direct = direct;
	b->direct_fd = -1;
	b->fd = -1;
	/* Owned: a replacement's path comes from a request that goes away. */
	b->path = strdup(path);
	if (!b->path)
		return err_set(err, -ENOMEM, "disk '%s': out of memory", path);
	/* O_NONBLOCK: a FIFO (or other special file) named by a client must
	 * fail the type check below, not block the caller in open(). */
	b->fd = open(path, flags | O_NONBLOCK);
	if (b->fd < 0) {
		ret = errno == ENOENT ? err_set(err, -ENOENT, "disk '%s': no such file", path)
				      : err_set_errno(err, -errno, "disk '%s'", path);
		block_close(b);
		return ret;
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
	if (!ret && fcntl(b->fd, F_SETFL, fcntl(b->fd, F_GETFL) & ~O_NONBLOCK) < 0)
		ret = err_set_errno(err, -errno, "disk '%s'", path);
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
	free(b->path);
	b->path = NULL;
}

static bool same_file(const struct block_backend *b, const char *path)
{
	struct stat open_now, named;

	return fstat(b->fd, &open_now) == 0 && stat(path, &named) == 0 &&
	       open_now.st_dev == named.st_dev && open_now.st_ino == named.st_ino;
}

/* The file we have open, named again: a second open could not take the
 * lock we hold, and needs none; only its size may have changed. */
static int refresh_geometry(struct block_backend *b, const char *path, struct kiln_err *err)
{
	struct block_backend probe = *b;
	int ret;

	probe.path = strdup(path);
	if (!probe.path)
		return err_set(err, -ENOMEM, "disk '%s': out of memory", path);
	ret = read_geometry(&probe, err);
	if (ret) {
		free(probe.path);
		return ret;
	}
	free(b->path);
	*b = probe;
	return 0;
}

int block_replace(struct block_backend *b, const char *path, struct kiln_err *err)
{
	struct block_backend fresh;
	int ret;

	if (b->fd >= 0 && same_file(b, path))
		return refresh_geometry(b, path, err);
	ret = block_open(&fresh, path, b->readonly, b->direct, err);
	if (ret)
		return ret;
	block_close(b);
	*b = fresh;
	return 0;
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

int block_zero_fill(const struct block_backend *b, uint64_t offset, uint64_t len)
{
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
