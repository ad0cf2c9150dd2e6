/* SPDX-License-Identifier: MIT */
/*
 * Shared set-up for the loader tests: 64 MiB of guest RAM, an image buffer,
 * readers for what landed in guest memory, and an assertion that a load
 * failed with a message naming the key fact.
 */
#ifndef KILN_TESTS_BOOT_FIXTURE_H
#define KILN_TESTS_BOOT_FIXTURE_H

#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vm/memory.h"
#include "x86/boot.h"
#include "x86/layout.h"

#define MiB (1ULL << 20)
#define GiB (1ULL << 30)
#define FIXTURE_RAM (64 * MiB)
#define IMAGE_MAX (4 * MiB)

struct boot_fixture {
	struct guest_memory mem;
	uint8_t *image;
	struct boot_entry entry;
	struct kiln_err err;
};

/* One per test file; Criterion runs each test in its own process. */
static struct boot_fixture fx;

static inline void fixture_setup(void)
{
	memset(&fx, 0, sizeof(fx));
	cr_assert_eq(guest_mem_create(&fx.mem, FIXTURE_RAM, LAYOUT_PCI_HOLE_START), 0);
	fx.image = calloc(1, IMAGE_MAX);
	cr_assert_not_null(fx.image);
}

static inline void fixture_teardown(void)
{
	free(fx.image);
	guest_mem_destroy(&fx.mem);
}

/* A request as kiln's CLI would make it, with an initrd path and an RSDP. */
static inline struct boot_request fixture_request(const char *cmdline)
{
	return (struct boot_request){
		.mem = &fx.mem, .kernel_path = "/images/test-kernel",
		.initrd_path = "/images/test-initrd", .cmdline = cmdline,
		.rsdp_gpa = LAYOUT_ACPI_BASE,
	};
}

static inline uint8_t guest8(uint64_t gpa)
{
	uint8_t v;

	cr_assert_eq(guest_mem_read(&fx.mem, gpa, &v, sizeof(v)), 0, "read 0x%lx", gpa);
	return v;
}

static inline uint16_t guest16(uint64_t gpa)
{
	uint16_t v;

	cr_assert_eq(guest_mem_read(&fx.mem, gpa, &v, sizeof(v)), 0, "read 0x%lx", gpa);
	return v;
}

static inline uint32_t guest32(uint64_t gpa)
{
	uint32_t v;

	cr_assert_eq(guest_mem_read(&fx.mem, gpa, &v, sizeof(v)), 0, "read 0x%lx", gpa);
	return v;
}

static inline uint64_t guest64(uint64_t gpa)
{
	uint64_t v;

	cr_assert_eq(guest_mem_read(&fx.mem, gpa, &v, sizeof(v)), 0, "read 0x%lx", gpa);
	return v;
}

/* A NUL-terminated string from guest RAM (at most size - 1 bytes). */
static inline void guest_string(uint64_t gpa, char *out, size_t size)
{
	cr_assert_eq(guest_mem_read(&fx.mem, gpa, out, size - 1), 0, "read 0x%lx", gpa);
	out[size - 1] = '\0';
}

/* The call fails, and its one-line message contains needle. */
#define EXPECT_LOAD_ERROR(call, needle)                                                  \
	do {                                                                             \
		memset(&fx.err, 0, sizeof(fx.err));                                      \
		cr_assert_lt((call), 0, "should fail with '%s'", (needle));              \
		cr_assert_lt(fx.err.code, 0, "error code recorded");                     \
		cr_assert_not_null(strstr(fx.err.msg, (needle)), "message '%s' lacks '%s'", \
				   fx.err.msg, (needle));                                \
		cr_assert_null(strchr(fx.err.msg, '\n'), "one line: '%s'", fx.err.msg);   \
	} while (0)

#endif
