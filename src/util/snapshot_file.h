/* SPDX-License-Identifier: MIT */
/*
 * The snapshot state file's container: a versioned, checksummed list of
 * named sections ("vm", "vcpu0", "com1", "blk0", ...), each with its own
 * layout version. It knows nothing of what the sections hold; the machine
 * writes them and reads them back by name. Guest memory is not in here:
 * it has a file of its own, mapped on restore.
 *
 * Layout (little-endian):
 *   header, 32 bytes: magic "KILNSNAP", u32 format version, u32 section
 *     count, u64 body length, u32 CRC-32 of the body, u32 CRC-32 of the
 *     28 header bytes before it;
 *   body: sections, each a 24-byte header (16-byte NUL-padded name, u32
 *     layout version, u32 payload length) and its payload padded to 8.
 *
 * The reader checks everything before it hands out a section: a truncated,
 * corrupted or other-version file is refused with one line naming the cause.
 */
#ifndef KILN_UTIL_SNAPSHOT_FILE_H
#define KILN_UTIL_SNAPSHOT_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

#define SNAPSHOT_FORMAT_VERSION 1
#define SNAPSHOT_NAME_MAX 16         /* a section name's bytes, without a NUL */
#define SNAPSHOT_MAX_SECTIONS 256
#define SNAPSHOT_MAX_SECTION_LEN (64u << 20)

struct snapshot_section {
	char name[SNAPSHOT_NAME_MAX + 1];
	uint32_t version;
	const uint8_t *data;
	uint32_t len;
};

/* A parsed state file: sections point into the buffer it was parsed from. */
struct snapshot_file {
	unsigned int nr_sections;
	struct snapshot_section sections[SNAPSHOT_MAX_SECTIONS];
};

/* Check buf (len bytes) and index its sections; what names the file in
 * messages. 0, or a negative errno with err naming what is wrong. */
int snapshot_file_parse(const uint8_t *buf, size_t len, const char *what,
			struct snapshot_file *out, struct kiln_err *err);
/* The section called name, or NULL. */
const struct snapshot_section *snapshot_file_find(const struct snapshot_file *file,
						  const char *name);

/* Builds a state file in memory. */
struct snapshot_writer {
	uint8_t *buf;
	size_t len, cap;
	unsigned int nr_sections;
	int error;                   /* the first failure; later adds do nothing */
};

void snapshot_writer_init(struct snapshot_writer *w);
/* Append a section; a name longer than SNAPSHOT_NAME_MAX, a repeated name,
 * too many sections or no memory makes snapshot_writer_finish fail. */
void snapshot_writer_add(struct snapshot_writer *w, const char *name, uint32_t version,
			 const void *data, size_t len);
/* Seal the file: *buf (malloc'd, the caller frees it) and *len. The writer
 * is empty afterwards either way. */
int snapshot_writer_finish(struct snapshot_writer *w, uint8_t **buf, size_t *len,
			   struct kiln_err *err);
void snapshot_writer_discard(struct snapshot_writer *w);

#endif
