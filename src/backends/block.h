/* SPDX-License-Identifier: MIT */
/*
 * A disk image on the host: a raw file or a block device, opened O_DIRECT
 * where the file system supports it (with a buffered descriptor beside it
 * for buffers that are not block aligned), locked against a second writer,
 * and driven through one io_uring per virtqueue.
 */
#ifndef KILN_BACKENDS_BLOCK_H
#define KILN_BACKENDS_BLOCK_H

#include <liburing.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "util/error.h"

enum block_direct { BLOCK_DIRECT_AUTO, BLOCK_DIRECT_ON, BLOCK_DIRECT_OFF };

struct block_backend {
	const char *path;
	int fd;               /* buffered */
	int direct_fd;        /* O_DIRECT, or -1 */
	uint64_t size;        /* bytes */
	uint32_t block_size;  /* O_DIRECT alignment */
	bool readonly;
	bool is_blockdev;
};

int block_open(struct block_backend *b, const char *path, bool readonly,
	       enum block_direct direct, struct kiln_err *err);
void block_close(struct block_backend *b);

/* The descriptor to use for an I/O: O_DIRECT when every buffer and the
 * offset are block aligned, else the buffered one. */
int block_fd_for(const struct block_backend *b, const struct iovec *iov, unsigned int n,
		 uint64_t offset);

/* Discard (punch a hole) or zero a byte range; synchronous. */
int block_discard(struct block_backend *b, uint64_t offset, uint64_t len);
int block_write_zeroes(struct block_backend *b, uint64_t offset, uint64_t len, bool unmap);

/* One io_uring, with an eventfd that becomes readable on completions. */
struct block_ring {
	struct io_uring ring;
	int event_fd;
	bool ready;
};

int block_ring_init(struct block_ring *r, unsigned int depth);
void block_ring_exit(struct block_ring *r);

#endif
