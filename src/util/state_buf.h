/* SPDX-License-Identifier: MIT */
/*
 * Fixed-width little-endian fields in a byte buffer, for device snapshot
 * sections: a layout that does not depend on struct padding, pointers or
 * the host's byte order.
 *
 * The writer grows its buffer; a failed allocation is remembered and makes
 * state_writer_take fail, so callers put fields without checking each one.
 * The reader never reads past its end: a get beyond it returns 0 and marks
 * the reader overrun, which state_reader_done reports (with "not all read").
 */
#ifndef KILN_UTIL_STATE_BUF_H
#define KILN_UTIL_STATE_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct state_writer {
	uint8_t *buf;
	size_t len, cap;
	bool failed;              /* out of memory: take fails */
};

void state_put_u8(struct state_writer *w, uint8_t v);
void state_put_u16(struct state_writer *w, uint16_t v);
void state_put_u32(struct state_writer *w, uint32_t v);
void state_put_u64(struct state_writer *w, uint64_t v);
void state_put_bytes(struct state_writer *w, const void *p, size_t len);
/* Hand over the buffer (*data malloc'd, the caller frees it): 0, or
 * -ENOMEM when a put failed. The writer is empty afterwards either way. */
int state_writer_take(struct state_writer *w, void **data, size_t *len);

struct state_reader {
	const uint8_t *buf;
	size_t len, pos;
	bool overrun;             /* a get went past the end */
};

static inline struct state_reader state_reader_init(const void *buf, size_t len)
{
	return (struct state_reader){ .buf = buf, .len = len };
}

uint8_t state_get_u8(struct state_reader *r);
uint16_t state_get_u16(struct state_reader *r);
uint32_t state_get_u32(struct state_reader *r);
uint64_t state_get_u64(struct state_reader *r);
/* A bool stored as one byte; anything but 0 or 1 sets *bad. */
bool state_get_bool(struct state_reader *r, bool *bad);
void state_get_bytes(struct state_reader *r, void *p, size_t len);
/* True when every byte was read and none beyond. */
bool state_reader_done(const struct state_reader *r);

#endif
