/* SPDX-License-Identifier: MIT */
/*
 * Guest console output with a size limit. A guest writes to its consoles as
 * much as it likes; where kiln puts that output in a regular file, the file
 * would grow until the host's disk is full. A bounded output writes at most
 * limit bytes to a regular file, drops the rest, and says so once on stderr.
 * A terminal, pipe or other non-file output fills no disk and is never
 * bounded. Not locked: each device serialises its own writes.
 */
#ifndef KILN_UTIL_BOUNDED_OUTPUT_H
#define KILN_UTIL_BOUNDED_OUTPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct bounded_output {
	int fd;                /* -1: everything is discarded */
	bool is_file;          /* fd is a regular file: the limit applies */
	uint64_t limit;        /* bytes kiln may write to the file; 0: no limit */
	uint64_t written;      /* bytes written so far */
	bool limit_reported;   /* the one line has been printed */
	const char *name;      /* for that line: "COM1", "virtio console" */
};

/* Output to fd (-1: none), not limited until bounded_output_set_limit(). */
void bounded_output_init(struct bounded_output *out, int fd, const char *name);
void bounded_output_set_limit(struct bounded_output *out, uint64_t limit);

/*
 * Write len bytes (through short writes and EINTR). Bytes past the limit of
 * a file are dropped, the first time with one line on stderr; output that
 * fails (a closed terminal) is dropped as a wire would drop it. Returns the
 * number of bytes dropped because of the limit.
 */
size_t bounded_output_write(struct bounded_output *out, const void *buf, size_t len);

#endif
