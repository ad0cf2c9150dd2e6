/* SPDX-License-Identifier: MIT */
/*
 * A disk image on the host: a raw file or a block device, opened O_DIRECT
 * where the file system supports it (with a buffered descriptor beside it
 * for buffers that are not block aligned), locked against a second writer.
 * I/O on it goes through a block engine (backends/block_engine.h).
 */
#ifndef KILN_BACKENDS_BLOCK_H
#define KILN_BACKENDS_BLOCK_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "util/error.h"

enum block_direct { BLOCK_DIRECT_AUTO, BLOCK_DIRECT_ON, BLOCK_DIRECT_OFF };

struct block_backend {
	char *path;           /* owned copy, for messages */
	int fd;               /* buffered */
	int direct_fd;        /* O_DIRECT, or -1 */
	uint64_t size;        /* bytes */
	uint32_t block_size;  /* O_DIRECT alignment */
	bool readonly;
	bool is_blockdev;
	enum block_direct direct;   /* as asked for, so a replacement opens alike */
};

int block_open(struct block_backend *b, const char *path, bool readonly,
	       enum block_direct direct, struct kiln_err *err);
void block_close(struct block_backend *b);

/*
 * Serve path instead, opened and locked with b's readonly and direct
 * settings. The new file is opened first: on failure b is untouched and
 * still in use, and err names path. The same file again (a resize
 * notification) keeps the open descriptors and their lock and re-reads the
 * size. Nothing may be in flight on b meanwhile.
 */
int block_replace(struct block_backend *b, const char *path, struct kiln_err *err);

/* The descriptor to use for an I/O: O_DIRECT when every buffer and the
 * offset are block aligned, else the buffered one. */
int block_fd_for(const struct block_backend *b, const struct iovec *iov, unsigned int n,
		 uint64_t offset);

/* Write len zero bytes at offset with plain writes; synchronous. For file
 * systems that can neither zero nor punch a range. Returns 0 or -errno. */
int block_zero_fill(const struct block_backend *b, uint64_t offset, uint64_t len);

#endif
