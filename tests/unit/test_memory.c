// SPDX-License-Identifier: MIT
/* The guest-memory API: the only way from guest addresses to host pointers. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vm/memory.h"
#include "x86/layout.h"

#define MiB (1ULL << 20)
#define GiB (1ULL << 30)

static struct guest_memory mem;

static void destroy(void)
{
	guest_mem_destroy(&mem);
}

TestSuite(memory, .fini = destroy);

static void create(uint64_t ram)
{
	cr_assert_eq(guest_mem_create(&mem, ram, LAYOUT_PCI_HOLE_START), 0);
}

Test(memory, small_ram_is_one_slot)
{
	create(64 * MiB);
	cr_assert_eq(mem.nr_slots, 1);
	cr_assert_eq(mem.ram_size, 64 * MiB);
	cr_assert_eq(guest_mem_top(&mem), 64 * MiB);
	cr_assert_eq(guest_mem_ptr(&mem, 0, 64 * MiB), mem.slots[0].hva, "all of RAM at once");
	cr_assert_eq((uint8_t *)guest_mem_ptr(&mem, 64 * MiB - 1, 1), mem.slots[0].hva + 64 * MiB - 1);
	cr_assert_null(guest_mem_ptr(&mem, 64 * MiB - 1, 2), "one byte past the end");
	cr_assert_null(guest_mem_ptr(&mem, 0, 64 * MiB + 1));
	cr_assert_null(guest_mem_ptr(&mem, 64 * MiB, 1));
}

Test(memory, zero_length)
{
	uint8_t byte = 0x42;

	create(16 * MiB);
	cr_assert_not_null(guest_mem_ptr(&mem, 0, 0), "inside RAM");
	cr_assert_not_null(guest_mem_ptr(&mem, 16 * MiB - 1, 0), "last byte");
	cr_assert_null(guest_mem_ptr(&mem, 16 * MiB, 0), "the end itself is not RAM");
	cr_assert_null(guest_mem_ptr(&mem, 3 * GiB, 0), "nor is the hole");
	cr_assert_null(guest_mem_ptr(&mem, UINT64_MAX, 0));
	cr_assert_eq(guest_mem_write(&mem, 0x1000, &byte, 0), 0, "an empty copy is fine");
	cr_assert_eq(guest_mem_read(&mem, 0x1000, &byte, 0), 0);
	cr_assert_eq(byte, 0x42, "and copies nothing");
}

Test(memory, overflow_cases_are_refused)
{
	uint8_t buf[8] = { 0 };

	create(16 * MiB);
	cr_assert_null(guest_mem_ptr(&mem, UINT64_MAX - 1, 4), "gpa + len wraps");
	cr_assert_null(guest_mem_ptr(&mem, UINT64_MAX, 1));
	cr_assert_null(guest_mem_ptr(&mem, 4096, UINT64_MAX));
	cr_assert_null(guest_mem_ptr(&mem, 4096, UINT64_MAX - 4095), "len wraps to gpa 0");
	cr_assert_null(guest_mem_ptr(&mem, 16 * MiB - 8, UINT64_MAX - 16 * MiB + 16));
	cr_assert_eq(guest_mem_read(&mem, UINT64_MAX - 1, buf, 4), -EFAULT);
	cr_assert_eq(guest_mem_write(&mem, UINT64_MAX - 2, buf, 8), -EFAULT);
	cr_assert_eq(guest_mem_read(&mem, UINT64_MAX, buf, 1), -EFAULT);
}

Test(memory, split_at_3_gib_for_4_gib_keeps_2m_congruence)
{
	create(4 * GiB);
	cr_assert_eq(mem.nr_slots, 2);
	cr_assert_eq(mem.slots[0].gpa, 0);
	cr_assert_eq(mem.slots[0].size, 3 * GiB);
	cr_assert_eq(mem.slots[1].gpa, 4 * GiB);
	cr_assert_eq(mem.slots[1].size, 1 * GiB);
	cr_assert_eq(mem.ram_size, 4 * GiB);
	cr_assert_eq(guest_mem_top(&mem), 5 * GiB);
	for (unsigned int i = 0; i < mem.nr_slots; i++)
		cr_assert_eq(((uintptr_t)mem.slots[i].hva ^ mem.slots[i].gpa) % (2 * MiB), 0,
			     "slot %u: gpa and hva congruent modulo 2 MiB", i);
	cr_assert_null(guest_mem_ptr(&mem, 3 * GiB, 1), "the hole is not RAM");
	cr_assert_null(guest_mem_ptr(&mem, 4 * GiB - 1, 1));
	cr_assert_eq(guest_mem_ptr(&mem, 4 * GiB, 4096), mem.slots[1].hva);
	cr_assert_null(guest_mem_ptr(&mem, 5 * GiB, 0));
}

Test(memory, exactly_3_gib_is_one_slot_and_a_page_more_splits)
{
	create(3 * GiB);
	cr_assert_eq(mem.nr_slots, 1);
	cr_assert_eq(guest_mem_top(&mem), 3 * GiB);
	guest_mem_destroy(&mem);
	create(3 * GiB + 4096);
	cr_assert_eq(mem.nr_slots, 2);
	cr_assert_eq(mem.slots[1].gpa, 4 * GiB);
	cr_assert_eq(mem.slots[1].size, 4096);
	cr_assert_not_null(guest_mem_ptr(&mem, 4 * GiB, 4096));
	cr_assert_null(guest_mem_ptr(&mem, 4 * GiB, 4097));
	cr_assert_eq(((uintptr_t)mem.slots[1].hva ^ mem.slots[1].gpa) % (2 * MiB), 0);
}

Test(memory, ranges_crossing_a_slot_edge)
{
	uint8_t buf[16] = { 0 };

	create(4 * GiB);
	cr_assert_not_null(guest_mem_ptr(&mem, 3 * GiB - 8, 8), "up to the edge");
	cr_assert_null(guest_mem_ptr(&mem, 3 * GiB - 8, 9), "one byte into the hole");
	cr_assert_null(guest_mem_ptr(&mem, 3 * GiB - 4, 8));
	cr_assert_null(guest_mem_ptr(&mem, 4 * GiB - 4, 8), "from the hole into high RAM");
	cr_assert_null(guest_mem_ptr(&mem, 0, 4 * GiB + 4096), "across the whole hole");
	cr_assert_eq(guest_mem_write(&mem, 3 * GiB - 8, buf, 16), -EFAULT,
		     "a copy must not run into the hole");
	cr_assert_eq(guest_mem_read(&mem, 4 * GiB - 8, buf, 16), -EFAULT);
	cr_assert_eq(guest_mem_write(&mem, 5 * GiB - 8, buf, 16), -EFAULT, "past the top");
}

Test(memory, read_write_round_trip_in_both_slots)
{
	uint8_t out[64], in[64];

	create(4 * GiB);
	for (unsigned int i = 0; i < sizeof(out); i++)
		out[i] = (uint8_t)(i * 7 + 1);
	cr_assert_eq(guest_mem_write(&mem, 0x1234, out, sizeof(out)), 0);
	cr_assert_eq(guest_mem_read(&mem, 0x1234, in, sizeof(in)), 0);
	cr_assert_arr_eq(in, out, sizeof(out));
	cr_assert_eq(memcmp((uint8_t *)guest_mem_ptr(&mem, 0x1234, 64), out, 64), 0,
		     "the pointer and the copy agree");

	/* The last bytes below the hole and the first above it are distinct RAM. */
	cr_assert_eq(guest_mem_write(&mem, 3 * GiB - 64, out, 64), 0);
	memset(in, 0xaa, sizeof(in));
	cr_assert_eq(guest_mem_write(&mem, 4 * GiB, in, 64), 0);
	cr_assert_eq(guest_mem_read(&mem, 3 * GiB - 64, in, 64), 0);
	cr_assert_arr_eq(in, out, 64, "high RAM does not alias the top of low RAM");
	cr_assert_eq(*(uint8_t *)guest_mem_ptr(&mem, 4 * GiB + 63, 1), 0xaa);
	cr_assert_eq(guest_mem_read(&mem, 5 * GiB - 64, in, 64), 0, "last bytes of RAM");
}

Test(memory, plan_rejects_bad_sizes)
{
	cr_assert_eq(guest_mem_plan(&mem, 0, LAYOUT_PCI_HOLE_START), -EINVAL);
	cr_assert_eq(guest_mem_plan(&mem, 4095, LAYOUT_PCI_HOLE_START), -EINVAL);
	cr_assert_eq(guest_mem_plan(&mem, 64 * MiB, 3 * GiB + 4096), -EINVAL,
		     "the hole must start on a 1 GiB boundary");
	cr_assert_eq(guest_mem_plan(&mem, 64 * MiB, 0), -EINVAL);
	cr_assert_eq(guest_mem_plan(&mem, UINT64_MAX & ~0xfffULL, LAYOUT_PCI_HOLE_START), -EINVAL,
		     "RAM so large the top would wrap");
}

Test(memory, plan_is_pure)
{
	cr_assert_eq(guest_mem_plan(&mem, 64 * GiB, LAYOUT_PCI_HOLE_START), 0);
	cr_assert_eq(mem.nr_slots, 2);
	cr_assert_null(mem.mapping, "no host memory reserved");
	cr_assert_null(guest_mem_ptr(&mem, 0, 1), "an unmapped plan gives no pointers");
	cr_assert_eq(guest_mem_top(&mem), 65 * GiB);
}

Test(memory_copy, a_write_running_off_ram_changes_nothing)
{
	struct guest_memory m;
	uint8_t ones[16], back[8];

	memset(ones, 0xff, sizeof(ones));
	cr_assert_eq(guest_mem_create(&m, 4ULL << 30, 3ULL << 30), 0);
	cr_assert_eq(guest_mem_write(&m, (3ULL << 30) - 8, ones, 16), -EFAULT);
	cr_assert_eq(guest_mem_read(&m, (3ULL << 30) - 8, back, 8), 0);
	for (int i = 0; i < 8; i++)
		cr_assert_eq(back[i], 0, "byte %d was written before the failure", i);
	guest_mem_destroy(&m);
}

/* The single-fetch readers return exactly the bytes at any alignment. */
Test(memory_copy, single_fetch_loads_and_copies_at_any_alignment)
{
	uint8_t src[40], dst[40];

	for (unsigned int i = 0; i < sizeof(src); i++)
		src[i] = (uint8_t)(0x11 * i + 3);
	for (unsigned int off = 0; off < 8; off++) {
		uint64_t v64;
		uint32_t v32;
		uint16_t v16;

		memcpy(&v64, src + off, 8);
		memcpy(&v32, src + off, 4);
		memcpy(&v16, src + off, 2);
		cr_assert_eq(guest_load64(src + off), v64, "offset %u", off);
		cr_assert_eq(guest_load32(src + off), v32, "offset %u", off);
		cr_assert_eq(guest_load16(src + off), v16, "offset %u", off);
	}
	for (size_t len = 0; len <= 25; len++) {
		memset(dst, 0xee, sizeof(dst));
		guest_copy_once(dst, src + 3, len);
		cr_assert_eq(memcmp(dst, src + 3, len), 0, "length %zu", len);
		cr_assert_eq(dst[len], 0xee, "length %zu: wrote past the end", len);
	}
}

/* Snapshots: RAM to a file and back, copy on write. */
static struct guest_memory restored;

static void destroy_both(void)
{
	guest_mem_destroy(&mem);
	guest_mem_destroy(&restored);
}

TestSuite(memory_file, .fini = destroy_both);

static int temp_file(void)
{
	char path[] = "/tmp/kiln-mem-XXXXXX";
	int fd = mkstemp(path);

	cr_assert_geq(fd, 0);
	unlink(path);
	return fd;
}

Test(memory_file, saved_ram_maps_back_and_stays_private)
{
	const uint64_t ram = 32 * MiB;
	uint8_t byte = 0;
	struct stat st;
	int fd = temp_file();

	create(ram);
	cr_assert_eq(guest_mem_write(&mem, 0x1000, "first page", 10), 0);
	cr_assert_eq(guest_mem_write(&mem, ram - 3, "end", 3), 0);
	cr_assert_eq(guest_mem_write(&mem, 17 * MiB + 5, "middle", 6), 0);
	cr_assert_eq(guest_mem_save(&mem, fd), 0);
	cr_assert_eq(fstat(fd, &st), 0);
	cr_assert_eq((uint64_t)st.st_size, ram);
	cr_assert_lt((uint64_t)st.st_blocks * 512, 1 * MiB, "zero pages were written: %lld blocks",
		     (long long)st.st_blocks);

	cr_assert_eq(guest_mem_map_file(&restored, ram, LAYOUT_PCI_HOLE_START, fd), 0);
	cr_assert_eq(memcmp(guest_mem_ptr(&restored, 0, ram), guest_mem_ptr(&mem, 0, ram), ram), 0);
	/* The restored guest writes; the file (what other clones map) does not change. */
	cr_assert_eq(guest_mem_write(&restored, 0x1000, "CHANGED", 7), 0);
	cr_assert_eq(pread(fd, &byte, 1, 0x1000), 1);
	cr_assert_eq(byte, 'f');
	/* Saving onto the file it is mapped from would truncate what it reads. */
	cr_assert_eq(guest_mem_save(&restored, fd), -EBUSY);
	cr_assert_eq(guest_mem_read(&restored, 17 * MiB + 5, &byte, 1), 0);
	cr_assert_eq(byte, 'm');
	close(fd);
}

Test(memory_file, a_file_of_the_wrong_size_is_refused)
{
	int fd = temp_file();

	create(16 * MiB);
	cr_assert_eq(guest_mem_save(&mem, fd), 0);
	cr_assert_eq(guest_mem_map_file(&restored, 32 * MiB, LAYOUT_PCI_HOLE_START, fd), -EINVAL);
	cr_assert_eq(restored.nr_slots, 0);
	cr_assert_eq(guest_mem_map_file(&restored, 16 * MiB, LAYOUT_PCI_HOLE_START, fd), 0);
	close(fd);
}

Test(memory_file, ram_above_the_hole_is_saved_after_ram_below_it)
{
	/* 3 GiB + 4 MiB: the last 4 MiB live at 4 GiB; the file has no hole. */
	const uint64_t ram = 3 * GiB + 4 * MiB;
	uint8_t byte = 0;
	int fd = temp_file();

	create(ram);
	cr_assert_eq(guest_mem_write(&mem, 4 * GiB + 1, "x", 1), 0);
	cr_assert_eq(guest_mem_save(&mem, fd), 0);
	cr_assert_eq(pread(fd, &byte, 1, (off_t)(LAYOUT_PCI_HOLE_START + 1)), 1);
	cr_assert_eq(byte, 'x');
	cr_assert_eq(guest_mem_map_file(&restored, ram, LAYOUT_PCI_HOLE_START, fd), 0);
	cr_assert_eq(guest_mem_read(&restored, 4 * GiB + 1, &byte, 1), 0);
	cr_assert_eq(byte, 'x');
	close(fd);
}

TestSuite(memory_dirty, .fini = destroy_both);

/* True when the file holds byte c at offset. */
static bool file_byte_is(int fd, uint64_t offset, uint8_t c)
{
	uint8_t byte = 0;

	return pread(fd, &byte, 1, (off_t)offset) == 1 && byte == c;
}

Test(memory_dirty, device_writes_are_tracked_and_a_diff_writes_only_them)
{
	const uint64_t ram = 3 * GiB + 4 * MiB;   /* a slot above the hole too */
	const uint64_t above = LAYOUT_PCI_HOLE_START / 4096; /* its first file page */
	uint64_t *bitmap, *again;
	unsigned int set = 0;
	struct stat st;
	size_t words;
	int fd = temp_file();

	create(ram);
	cr_assert_eq(guest_mem_write(&mem, 0x5000, "a", 1), 0); /* before tracking: not dirty */
	cr_assert_eq(guest_mem_track_dirty(&mem), 0);
	words = guest_mem_bitmap_words(&mem);
	cr_assert_eq(words, (ram / 4096 + 63) / 64);
	bitmap = calloc(words, sizeof(*bitmap));
	cr_assert_not_null(bitmap);
	cr_assert_eq(guest_mem_write(&mem, 0x3000, "b", 1), 0);
	/* A pointer handed out may be written through: its pages count. */
	*(uint8_t *)guest_mem_ptr(&mem, 4 * GiB + 0x2fff, 2) = 'c';
	guest_mem_take_dirty(&mem, bitmap);
	/* File pages: 3 (gpa 0x3000); 0x2fff above the hole spans two. */
	for (size_t i = 0; i < words; i++)
		set += (unsigned int)__builtin_popcountll(bitmap[i]);
	cr_assert_eq(set, 3, "%u pages marked", set);
	cr_assert(bitmap[0] & (1ULL << 3));
	cr_assert(bitmap[(above + 2) / 64] & (1ULL << ((above + 2) % 64)));
	cr_assert(bitmap[(above + 3) / 64] & (1ULL << ((above + 3) % 64)));
	/* Taking clears the log. */
	again = calloc(words, sizeof(*again));
	cr_assert_not_null(again);
	guest_mem_take_dirty(&mem, again);
	for (size_t i = 0; i < words; i++)
		cr_assert_eq(again[i], 0);
	/* A diff into an empty file: only the marked pages, at their offsets. */
	cr_assert_eq(guest_mem_save_dirty(&mem, fd, bitmap), 0);
	cr_assert(file_byte_is(fd, 0x3000, 'b'));
	cr_assert(file_byte_is(fd, 0x5000, 0), "an unmarked page was written");
	cr_assert(file_byte_is(fd, LAYOUT_PCI_HOLE_START + 0x2fff, 'c'));
	cr_assert_eq(fstat(fd, &st), 0);
	cr_assert_eq((uint64_t)st.st_size, ram);
	free(bitmap);
	free(again);
	close(fd);
}
