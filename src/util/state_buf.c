// SPDX-License-Identifier: MIT
#include "util/state_buf.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static uint8_t *reserve(struct state_writer *w, size_t len)
{
	size_t cap = w->cap ? w->cap : 64;
	uint8_t *grown;

	if (w->failed)
		return NULL;
	while (cap - w->len < len)
		cap *= 2;
	if (cap != w->cap) {
		grown = realloc(w->buf, cap);
		if (!grown) {
			w->failed = true;
			return NULL;
		}
		w->buf = grown;
		w->cap = cap;
	}
	w->len += len;
	return w->buf + w->len - len;
}

/* Little-endian whatever the host: byte by byte. */
static void put_le(struct state_writer *w, uint64_t v, unsigned int bytes)
{
	uint8_t *p = reserve(w, bytes);

	for (unsigned int i = 0; p && i < bytes; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

void state_put_u8(struct state_writer *w, uint8_t v) { put_le(w, v, 1); }
void state_put_u16(struct state_writer *w, uint16_t v) { put_le(w, v, 2); }
void state_put_u32(struct state_writer *w, uint32_t v) { put_le(w, v, 4); }
void state_put_u64(struct state_writer *w, uint64_t v) { put_le(w, v, 8); }

void state_put_bytes(struct state_writer *w, const void *p, size_t len)
{
	uint8_t *dst = reserve(w, len);

	if (dst && len)
		memcpy(dst, p, len);
}

int state_writer_take(struct state_writer *w, void **data, size_t *len)
{
	int ret = w->failed ? -ENOMEM : 0;

	*data = ret ? NULL : w->buf;
	*len = ret ? 0 : w->len;
	if (ret)
		free(w->buf);
	*w = (struct state_writer){ 0 };
	return ret;
}

static const uint8_t *take(struct state_reader *r, size_t len)
{
	if (r->overrun || r->len - r->pos < len) {
		r->overrun = true;
		return NULL;
	}
	r->pos += len;
	return r->buf + r->pos - len;
}

static uint64_t get_le(struct state_reader *r, unsigned int bytes)
{
	const uint8_t *p = take(r, bytes);
	uint64_t v = 0;

	for (unsigned int i = 0; p && i < bytes; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

uint8_t state_get_u8(struct state_reader *r) { return (uint8_t)get_le(r, 1); }
uint16_t state_get_u16(struct state_reader *r) { return (uint16_t)get_le(r, 2); }
uint32_t state_get_u32(struct state_reader *r) { return (uint32_t)get_le(r, 4); }
uint64_t state_get_u64(struct state_reader *r) { return get_le(r, 8); }

bool state_get_bool(struct state_reader *r, bool *bad)
{
	uint8_t v = state_get_u8(r);

	if (v > 1)
		*bad = true;
	return v == 1;
}

void state_get_bytes(struct state_reader *r, void *p, size_t len)
{
	const uint8_t *src = take(r, len);

	if (src && len)
		memcpy(p, src, len);
	else if (len)
		memset(p, 0, len);
}

bool state_reader_done(const struct state_reader *r)
{
	return !r->overrun && r->pos == r->len;
}
