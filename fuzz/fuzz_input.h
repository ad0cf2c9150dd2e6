/* SPDX-License-Identifier: MIT */
/*
 * Reading a fuzzer's input as a stream of fields: every take returns
 * something (zeros once the input runs out), so a target never has to check
 * lengths and every input means something.
 */
#ifndef KILN_FUZZ_INPUT_H
#define KILN_FUZZ_INPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct fuzz_input {
	const uint8_t *data;
	size_t len, pos;
};

static inline struct fuzz_input fuzz_input(const uint8_t *data, size_t len)
{
	return (struct fuzz_input){ data, len, 0 };
}

static inline size_t fuzz_left(const struct fuzz_input *in)
{
	return in->len - in->pos;
}

/* Up to n bytes into dst, zero-filled past the end of the input. */
static inline void fuzz_take(struct fuzz_input *in, void *dst, size_t n)
{
	size_t got = n < fuzz_left(in) ? n : fuzz_left(in);

	memcpy(dst, in->data + in->pos, got);
	memset((uint8_t *)dst + got, 0, n - got);
	in->pos += got;
}

static inline uint8_t fuzz_u8(struct fuzz_input *in)
{
	uint8_t v;

	fuzz_take(in, &v, 1);
	return v;
}

static inline uint16_t fuzz_u16(struct fuzz_input *in)
{
	uint16_t v;

	fuzz_take(in, &v, 2);
	return v;
}

static inline uint32_t fuzz_u32(struct fuzz_input *in)
{
	uint32_t v;

	fuzz_take(in, &v, 4);
	return v;
}

static inline uint64_t fuzz_u64(struct fuzz_input *in)
{
	uint64_t v;

	fuzz_take(in, &v, 8);
	return v;
}

/* A property the code under test must keep: abort (a finding) if not. */
#define FUZZ_CHECK(cond, ...)                                                  \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "fuzz: %s:%d: %s: ", __FILE__, __LINE__, #cond); \
			fprintf(stderr, __VA_ARGS__);                          \
			fputc('\n', stderr);                                   \
			abort();                                               \
		}                                                              \
	} while (0)

/* Set-up that cannot fail in a sane environment: say what and stop. */
#define FUZZ_SETUP(cond)                                                       \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "fuzz: set-up failed: %s\n", #cond);    \
			exit(2);                                               \
		}                                                              \
	} while (0)

#endif
