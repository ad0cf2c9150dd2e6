// SPDX-License-Identifier: MIT
/*
 * The snapshot state file's parser (src/util/snapshot_file.c) over hostile
 * files. Most random inputs fail the checksums, so the first input byte
 * asks for the checksums to be made right before parsing, as a forger
 * would. An accepted file's sections all lie inside it, and writing them
 * out again gives a file that parses to the same sections.
 */
#include <endian.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "fuzz_input.h"
#include "util/snapshot_file.h"

static struct snapshot_file parsed, again;

static void reseal(uint8_t *buf, size_t len)
{
	uint32_t crc;

	if (len < 32)
		return;
	crc = htole32((uint32_t)crc32(0, buf + 32, (uInt)(len - 32)));
	memcpy(buf + 24, &crc, 4);
	crc = htole32((uint32_t)crc32(0, buf, 28));
	memcpy(buf + 28, &crc, 4);
}

static void check_round_trip(const uint8_t *buf, size_t len)
{
	struct snapshot_writer w;
	struct kiln_err err = { 0 };
	uint8_t *out;
	size_t out_len;

	snapshot_writer_init(&w);
	for (unsigned int i = 0; i < parsed.nr_sections; i++) {
		const struct snapshot_section *s = &parsed.sections[i];

		FUZZ_CHECK(s->data >= buf && s->data + s->len <= buf + len, "section %s outside", s->name);
		snapshot_writer_add(&w, s->name, s->version, s->data, s->len);
	}
	FUZZ_CHECK(snapshot_writer_finish(&w, &out, &out_len, &err) == 0, "%s", err.msg);
	FUZZ_CHECK(snapshot_file_parse(out, out_len, "again", &again, &err) == 0, "%s", err.msg);
	FUZZ_CHECK(again.nr_sections == parsed.nr_sections, "%u sections, then %u",
		   parsed.nr_sections, again.nr_sections);
	for (unsigned int i = 0; i < parsed.nr_sections; i++) {
		const struct snapshot_section *a = &parsed.sections[i], *b = &again.sections[i];

		FUZZ_CHECK(!strcmp(a->name, b->name) && a->version == b->version &&
			   a->len == b->len && !memcmp(a->data, b->data, a->len),
			   "section %u changed", i);
	}
	free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kiln_err err = { 0 };
	uint8_t *buf;
	size_t len;

	if (!size)
		return 0;
	len = size - 1;
	buf = malloc(len ? len : 1);
	FUZZ_CHECK(buf != NULL, "out of memory");
	memcpy(buf, data + 1, len);
	if (data[0] & 1)
		reseal(buf, len);
	if (snapshot_file_parse(buf, len, "fuzz", &parsed, &err) == 0)
		check_round_trip(buf, len);
	else
		FUZZ_CHECK(err.msg[0] && parsed.nr_sections == 0, "a refusal without a message");
	free(buf);
	return 0;
}
