// SPDX-License-Identifier: MIT
#include "util/snapshot_file.h"

#include <endian.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define MAGIC "KILNSNAP"
#define HEADER_LEN 32
#define SECTION_HEADER_LEN (SNAPSHOT_NAME_MAX + 8)

static uint32_t load_le32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return le32toh(v);
}

static uint64_t load_le64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return le64toh(v);
}

static void store_le32(uint8_t *p, uint32_t v)
{
	v = htole32(v);
	memcpy(p, &v, sizeof(v));
}

static void store_le64(uint8_t *p, uint64_t v)
{
	v = htole64(v);
	memcpy(p, &v, sizeof(v));
}

static uint32_t checksum(const uint8_t *p, size_t len)
{
	uLong crc = crc32(0L, Z_NULL, 0);

	/* zlib takes lengths as uInt: feed it in pieces. */
	while (len) {
		uInt piece = len > (1u << 30) ? (1u << 30) : (uInt)len;

		crc = crc32(crc, p, piece);
		p += piece;
		len -= piece;
	}
	return (uint32_t)crc;
}

static size_t padded(size_t len)
{
	return (len + 7) & ~(size_t)7;
}

static int check_header(const uint8_t *buf, size_t len, const char *what, uint64_t *body_len,
			uint32_t *nr_sections, struct kiln_err *err)
{
	uint32_t version;

	if (len < HEADER_LEN)
		return err_set(err, -EINVAL, "snapshot %s: truncated (%zu bytes, a header is %d)",
			       what, len, HEADER_LEN);
	if (memcmp(buf, MAGIC, 8))
		return err_set(err, -EINVAL, "snapshot %s: not a kiln snapshot state file", what);
	if (load_le32(buf + 28) != checksum(buf, 28))
		return err_set(err, -EINVAL, "snapshot %s: corrupted header (checksum mismatch)",
			       what);
	version = load_le32(buf + 8);
	if (version != SNAPSHOT_FORMAT_VERSION)
		return err_set(err, -EPROTO, "snapshot %s: format version %u, this kiln reads "
			       "version %d", what, version, SNAPSHOT_FORMAT_VERSION);
	*nr_sections = load_le32(buf + 12);
	*body_len = load_le64(buf + 16);
	if (*body_len != len - HEADER_LEN)
		return err_set(err, -EINVAL, "snapshot %s: %s (the header says %llu bytes follow, "
			       "the file has %zu)", what,
			       *body_len > len - HEADER_LEN ? "truncated" : "trailing bytes",
			       (unsigned long long)*body_len, len - HEADER_LEN);
	if (*nr_sections > SNAPSHOT_MAX_SECTIONS)
		return err_set(err, -EINVAL, "snapshot %s: %u sections, at most %d", what,
			       *nr_sections, SNAPSHOT_MAX_SECTIONS);
	if (load_le32(buf + 24) != checksum(buf + HEADER_LEN, len - HEADER_LEN))
		return err_set(err, -EINVAL, "snapshot %s: corrupted (checksum mismatch)", what);
	return 0;
}

/* A section name: 1 to 8 printable bytes, NUL-padded. */
static bool valid_name(const uint8_t *raw, char *name)
{
	size_t n = strnlen((const char *)raw, SNAPSHOT_NAME_MAX);

	for (size_t i = n; i < SNAPSHOT_NAME_MAX; i++)
		if (raw[i])
			return false;
	for (size_t i = 0; i < n; i++)
		if (raw[i] < 0x21 || raw[i] > 0x7e)
			return false;
	memcpy(name, raw, n);
	name[n] = '\0';
	return n > 0;
}

static int parse_section(const uint8_t *body, size_t body_len, size_t *pos, const char *what,
			 struct snapshot_file *file, struct kiln_err *err)
{
	struct snapshot_section *s = &file->sections[file->nr_sections];
	size_t room = body_len - *pos;

	if (room < SECTION_HEADER_LEN)
		return err_set(err, -EINVAL, "snapshot %s: section %u is cut short", what,
			       file->nr_sections);
	if (!valid_name(body + *pos, s->name))
		return err_set(err, -EINVAL, "snapshot %s: section %u has a bad name", what,
			       file->nr_sections);
	if (snapshot_file_find(file, s->name))
		return err_set(err, -EINVAL, "snapshot %s: section '%s' appears twice", what,
			       s->name);
	s->version = load_le32(body + *pos + SNAPSHOT_NAME_MAX);
	s->len = load_le32(body + *pos + SNAPSHOT_NAME_MAX + 4);
	if (s->len > SNAPSHOT_MAX_SECTION_LEN || padded(s->len) > room - SECTION_HEADER_LEN)
		return err_set(err, -EINVAL, "snapshot %s: section '%s' runs past the end of the "
			       "file", what, s->name);
	s->data = body + *pos + SECTION_HEADER_LEN;
	*pos += SECTION_HEADER_LEN + padded(s->len);
	file->nr_sections++;
	return 0;
}

int snapshot_file_parse(const uint8_t *buf, size_t len, const char *what,
			struct snapshot_file *out, struct kiln_err *err)
{
	uint64_t body_len = 0;
	uint32_t nr_sections = 0;
	size_t pos = 0;
	int ret;

	out->nr_sections = 0;
	ret = check_header(buf, len, what, &body_len, &nr_sections, err);
	for (uint32_t i = 0; !ret && i < nr_sections; i++)
		ret = parse_section(buf + HEADER_LEN, (size_t)body_len, &pos, what, out, err);
	if (!ret && pos != body_len)
		ret = err_set(err, -EINVAL, "snapshot %s: %zu bytes after the last section", what,
			      (size_t)body_len - pos);
	if (ret)
		out->nr_sections = 0;
	return ret;
}

const struct snapshot_section *snapshot_file_find(const struct snapshot_file *file,
						  const char *name)
{
	for (unsigned int i = 0; i < file->nr_sections; i++)
		if (!strcmp(file->sections[i].name, name))
			return &file->sections[i];
	return NULL;
}

void snapshot_writer_init(struct snapshot_writer *w)
{
	memset(w, 0, sizeof(*w));
	w->len = HEADER_LEN; /* filled in by finish */
}

static bool writer_reserve(struct snapshot_writer *w, size_t more)
{
	size_t cap = w->cap ? w->cap : 4096;
	uint8_t *grown;

	while (cap < w->len + more)
		cap *= 2;
	if (cap == w->cap)
		return true;
	grown = realloc(w->buf, cap);
	if (!grown)
		return false;
	w->buf = grown;
	w->cap = cap;
	return true;
}

static bool writer_has(const struct snapshot_writer *w, const char *name)
{
	size_t pos = HEADER_LEN;

	for (unsigned int i = 0; i < w->nr_sections; i++) {
		if (!strncmp((const char *)w->buf + pos, name, SNAPSHOT_NAME_MAX))
			return true;
		pos += SECTION_HEADER_LEN + padded(load_le32(w->buf + pos + SNAPSHOT_NAME_MAX + 4));
	}
	return false;
}

void snapshot_writer_add(struct snapshot_writer *w, const char *name, uint32_t version,
			 const void *data, size_t len)
{
	size_t name_len = strlen(name);
	uint8_t raw[SNAPSHOT_NAME_MAX] = { 0 };
	char checked[SNAPSHOT_NAME_MAX + 1];
	uint8_t *s;

	if (w->error)
		return;
	if (name_len <= SNAPSHOT_NAME_MAX)
		memcpy(raw, name, name_len);
	if (!name_len || name_len > SNAPSHOT_NAME_MAX || !valid_name(raw, checked) ||
	    len > SNAPSHOT_MAX_SECTION_LEN ||
	    w->nr_sections == SNAPSHOT_MAX_SECTIONS || (w->buf && writer_has(w, name))) {
		w->error = -EINVAL;
		return;
	}
	if (!writer_reserve(w, SECTION_HEADER_LEN + padded(len))) {
		w->error = -ENOMEM;
		return;
	}
	s = w->buf + w->len;
	memset(s, 0, SECTION_HEADER_LEN + padded(len));
	memcpy(s, name, name_len);
	store_le32(s + SNAPSHOT_NAME_MAX, version);
	store_le32(s + SNAPSHOT_NAME_MAX + 4, (uint32_t)len);
	if (len)
		memcpy(s + SECTION_HEADER_LEN, data, len);
	w->len += SECTION_HEADER_LEN + padded(len);
	w->nr_sections++;
}

int snapshot_writer_finish(struct snapshot_writer *w, uint8_t **buf, size_t *len,
			   struct kiln_err *err)
{
	int ret = w->error;

	if (!ret && !writer_reserve(w, 0))
		ret = -ENOMEM;
	if (ret) {
		snapshot_writer_discard(w);
		return err_set(err, ret, ret == -ENOMEM ? "snapshot: out of memory"
					 : "snapshot: a section with a bad or repeated name, or "
					   "too large");
	}
	memcpy(w->buf, MAGIC, 8);
	store_le32(w->buf + 8, SNAPSHOT_FORMAT_VERSION);
	store_le32(w->buf + 12, w->nr_sections);
	store_le64(w->buf + 16, w->len - HEADER_LEN);
	store_le32(w->buf + 24, checksum(w->buf + HEADER_LEN, w->len - HEADER_LEN));
	store_le32(w->buf + 28, checksum(w->buf, 28));
	*buf = w->buf;
	*len = w->len;
	memset(w, 0, sizeof(*w));
	return 0;
}

void snapshot_writer_discard(struct snapshot_writer *w)
{
	free(w->buf);
	memset(w, 0, sizeof(*w));
}
