// SPDX-License-Identifier: MIT
/* The snapshot state file's container: what is written reads back, and
 * every damaged file is refused with a message naming what is wrong. */
#include <criterion/criterion.h>
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "util/snapshot_file.h"

static uint8_t *file_buf;
static size_t file_len;
static struct snapshot_file parsed;

static void build_sample(void)
{
	struct snapshot_writer w;
	struct kiln_err err = { 0 };
	uint64_t big[100];

	for (unsigned int i = 0; i < 100; i++)
		big[i] = i * 0x0101010101010101ULL;
	snapshot_writer_init(&w);
	snapshot_writer_add(&w, "vm", 1, "abc", 3);
	snapshot_writer_add(&w, "vcpu0", 7, big, sizeof(big));
	snapshot_writer_add(&w, "empty", 2, NULL, 0);
	cr_assert_eq(snapshot_writer_finish(&w, &file_buf, &file_len, &err), 0, "%s", err.msg);
}

static void fini(void)
{
	free(file_buf);
	file_buf = NULL;
}

TestSuite(snapshot_file, .init = build_sample, .fini = fini);

static int parse(const uint8_t *buf, size_t len, struct kiln_err *err)
{
	return snapshot_file_parse(buf, len, "'s.snap'", &parsed, err);
}

/* Recompute both checksums, as a tool that forges a file would. */
static void reseal(uint8_t *buf, size_t len)
{
	uint32_t body = htole32((uint32_t)crc32(0, buf + 32, (uInt)(len - 32)));
	uint32_t head;

	memcpy(buf + 24, &body, 4);
	head = htole32((uint32_t)crc32(0, buf, 28));
	memcpy(buf + 28, &head, 4);
}

Test(snapshot_file, sections_read_back)
{
	struct kiln_err err = { 0 };
	const struct snapshot_section *s;

	cr_assert_eq(parse(file_buf, file_len, &err), 0, "%s", err.msg);
	cr_assert_eq(parsed.nr_sections, 3);
	s = snapshot_file_find(&parsed, "vm");
	cr_assert_not_null(s);
	cr_assert_eq(s->version, 1);
	cr_assert_eq(s->len, 3);
	cr_assert_eq(memcmp(s->data, "abc", 3), 0);
	s = snapshot_file_find(&parsed, "vcpu0");
	cr_assert_not_null(s);
	cr_assert_eq(s->version, 7);
	cr_assert_eq(s->len, 800);
	cr_assert_eq(((const uint64_t *)s->data)[99], 99 * 0x0101010101010101ULL);
	s = snapshot_file_find(&parsed, "empty");
	cr_assert_not_null(s);
	cr_assert_eq(s->len, 0);
	cr_assert_null(snapshot_file_find(&parsed, "vcpu1"));
}

Test(snapshot_file, every_truncation_is_refused)
{
	for (size_t len = 0; len < file_len; len++) {
		struct kiln_err err = { 0 };

		cr_assert_lt(parse(file_buf, len, &err), 0, "%zu bytes accepted", len);
		cr_assert(strstr(err.msg, "'s.snap'") && (strstr(err.msg, "truncated") ||
							  strstr(err.msg, "checksum")),
			  "%zu: %s", len, err.msg);
		cr_assert_eq(parsed.nr_sections, 0);
	}
}

Test(snapshot_file, every_flipped_byte_is_refused)
{
	for (size_t i = 0; i < file_len; i++) {
		struct kiln_err err = { 0 };

		file_buf[i] ^= 0x40;
		cr_assert_lt(parse(file_buf, file_len, &err), 0, "byte %zu flipped, accepted", i);
		file_buf[i] ^= 0x40;
	}
}

Test(snapshot_file, not_a_snapshot)
{
	struct kiln_err err = { 0 };
	uint8_t text[64];

	memset(text, 'x', sizeof(text));
	cr_assert_eq(parse(text, sizeof(text), &err), -EINVAL);
	cr_assert_str_eq(err.msg, "snapshot 's.snap': not a kiln snapshot state file");
}

Test(snapshot_file, other_version)
{
	struct kiln_err err = { 0 };
	uint32_t v = htole32(2);

	memcpy(file_buf + 8, &v, 4);
	reseal(file_buf, file_len);
	cr_assert_eq(parse(file_buf, file_len, &err), -EPROTO);
	cr_assert_str_eq(err.msg, "snapshot 's.snap': format version 2, this kiln reads version 1");
}

Test(snapshot_file, trailing_bytes)
{
	struct kiln_err err = { 0 };
	uint8_t *longer = calloc(1, file_len + 8);

	memcpy(longer, file_buf, file_len);
	cr_assert_lt(parse(longer, file_len + 8, &err), 0);
	cr_assert(strstr(err.msg, "trailing bytes"), "%s", err.msg);
	free(longer);
}

/* Forged files with good checksums: the structure is still checked. */
Test(snapshot_file, section_past_the_end)
{
	struct kiln_err err = { 0 };
	uint32_t huge = htole32(1000);

	memcpy(file_buf + 32 + SNAPSHOT_NAME_MAX + 4, &huge, 4);   /* "vm"'s length */
	reseal(file_buf, file_len);
	cr_assert_lt(parse(file_buf, file_len, &err), 0);
	cr_assert(strstr(err.msg, "section 'vm' runs past the end"), "%s", err.msg);
}

Test(snapshot_file, repeated_or_bad_names)
{
	struct kiln_err err = { 0 };

	/* The second section ("vcpu0") starts after "vm"'s header and 3
	 * bytes padded to 8. */
	uint8_t *second = file_buf + 32 + SNAPSHOT_NAME_MAX + 8 + 8;

	memcpy(second, "vm\0\0\0\0\0\0", 8);   /* "vcpu0" renamed "vm" */
	reseal(file_buf, file_len);
	cr_assert_lt(parse(file_buf, file_len, &err), 0);
	cr_assert(strstr(err.msg, "section 'vm' appears twice"), "%s", err.msg);
	memcpy(second, "v\ncpu0\0\0", 8);
	reseal(file_buf, file_len);
	err = (struct kiln_err){ 0 };
	cr_assert_lt(parse(file_buf, file_len, &err), 0);
	cr_assert(strstr(err.msg, "bad name"), "%s", err.msg);
}

Test(snapshot_file, more_sections_claimed_than_present)
{
	struct kiln_err err = { 0 };
	uint32_t four = htole32(4);

	memcpy(file_buf + 12, &four, 4);
	reseal(file_buf, file_len);
	cr_assert_lt(parse(file_buf, file_len, &err), 0);
	cr_assert(strstr(err.msg, "section 3 is cut short"), "%s", err.msg);
}

Test(snapshot_file, writer_refuses_bad_sections)
{
	struct snapshot_writer w;
	struct kiln_err err = { 0 };
	uint8_t *buf = NULL;
	size_t len;

	snapshot_writer_init(&w);
	snapshot_writer_add(&w, "a", 1, "x", 1);
	snapshot_writer_add(&w, "a", 1, "y", 1);
	cr_assert_eq(snapshot_writer_finish(&w, &buf, &len, &err), -EINVAL);
	cr_assert_null(buf);
	snapshot_writer_init(&w);
	snapshot_writer_add(&w, "seventeen-chars-x", 1, "x", 1);
	cr_assert_eq(snapshot_writer_finish(&w, &buf, &len, &err), -EINVAL);
	snapshot_writer_init(&w);
	snapshot_writer_add(&w, "a b", 1, "x", 1);
	cr_assert_eq(snapshot_writer_finish(&w, &buf, &len, &err), -EINVAL, "a name it cannot read");
	snapshot_writer_init(&w);
	cr_assert_eq(snapshot_writer_finish(&w, &buf, &len, &err), 0, "an empty file is fine");
	cr_assert_eq(parse(buf, len, &err), 0, "%s", err.msg);
	cr_assert_eq(parsed.nr_sections, 0);
	free(buf);
}
