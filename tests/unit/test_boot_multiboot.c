// SPDX-License-Identifier: MIT
/* The multiboot v1 loader on crafted ELF32, ELF64 and flag-16 images. */
#include <stdio.h>
#include <unistd.h>

#include "boot_fixture.h"
#include "image_builder.h"

/* struct multiboot_info, Multiboot Specification 0.6.96 section 3.3. */
#define MBI_FLAGS       0
#define MBI_MEM_LOWER   4
#define MBI_MEM_UPPER   8
#define MBI_CMDLINE     16
#define MBI_MODS_COUNT  20
#define MBI_MODS_ADDR   24
#define MBI_MMAP_LENGTH 44
#define MBI_MMAP_ADDR   48
#define MBI_LOADER_NAME 64
#define MBI_F_MEM       (1u << 0)
#define MBI_F_CMDLINE   (1u << 2)
#define MBI_F_MODS      (1u << 3)
#define MBI_F_MMAP      (1u << 6)
#define MBI_F_LOADER    (1u << 9)
#define MB_HEADER_FILE_OFFSET 0x1000   /* where build_elf puts the header */

TestSuite(boot_multiboot, .init = fixture_setup, .fini = fixture_teardown);

/* A test kernel as kvm-unit-tests-style guests are laid out: text at 4 MiB,
 * then a large bss. */
static struct elf_spec mb_spec(bool is64)
{
	return (struct elf_spec){
		.is64 = is64, .entry = 0x400010, .nr_segs = 2,
		.segs = { { 0x400000, 0x2000, 0x2000, 0 }, { 0x402000, 0x100, 0x100000, 0 } },
		.multiboot = true,
	};
}

static int load_image(size_t len, const char *cmdline, const uint8_t *initrd,
		      size_t initrd_len)
{
	struct boot_request req = fixture_request(cmdline);

	return boot_load_multiboot(&req, fx.image, len, initrd, initrd_len, &fx.entry, &fx.err);
}

static int load(const struct elf_spec *spec, const char *cmdline, const uint8_t *initrd,
		size_t initrd_len)
{
	return load_image(build_elf(fx.image, spec), cmdline, initrd, initrd_len);
}

static void check_mmap(uint64_t info)
{
	struct e820_entry want[LAYOUT_E820_MAX];
	int n = layout_e820(&fx.mem, want, LAYOUT_E820_MAX);
	uint64_t e = guest32(info + MBI_MMAP_ADDR), end = e + guest32(info + MBI_MMAP_LENGTH);
	int i = 0;

	/* Walked the way a guest must: each entry's size excludes the size field. */
	for (; e < end; e += 4 + guest32(e), i++) {
		cr_assert_lt(i, n, "more mmap entries than the layout has");
		cr_assert_eq(guest32(e), 20, "entry size field");
		cr_assert_eq(guest64(e + 4), want[i].addr, "mmap[%d].addr", i);
		cr_assert_eq(guest64(e + 12), want[i].size, "mmap[%d].len", i);
		cr_assert_eq(guest32(e + 20), want[i].type, "mmap[%d].type", i);
	}
	cr_assert_eq(i, n, "every layout entry is in the mmap");
	cr_assert_eq(e, end, "mmap_length covers whole entries");
}

static void check_info(const char *want_cmdline, uint64_t initrd_len)
{
	uint64_t info = fx.entry.rbx, mods;
	uint32_t flags;
	char text[96];

	cr_assert_eq(fx.entry.format, BOOT_FORMAT_MULTIBOOT);
	cr_assert_eq(fx.entry.mode, BOOT_MODE_PROTECTED32, "32-bit, paging off");
	cr_assert_eq(fx.entry.rax, 0x2badb002, "EAX = bootloader magic");
	cr_assert(info >= LAYOUT_MB_INFO && info + 88 <= LAYOUT_MB_INFO_END, "EBX in the info area");
	flags = guest32(info + MBI_FLAGS);
	cr_assert_eq(flags & (MBI_F_MEM | MBI_F_CMDLINE | MBI_F_MMAP),
		     MBI_F_MEM | MBI_F_CMDLINE | MBI_F_MMAP);
	cr_assert_eq(guest32(info + MBI_MEM_LOWER), 639, "KiB below the EBDA");
	cr_assert_eq(guest32(info + MBI_MEM_UPPER), (layout_low_ram_end(&fx.mem) - MiB) >> 10,
		     "KiB from 1 MiB to the first hole");
	guest_string(guest32(info + MBI_CMDLINE), text, sizeof(text));
	cr_assert_str_eq(text, want_cmdline);
	if (flags & MBI_F_LOADER) {
		guest_string(guest32(info + MBI_LOADER_NAME), text, sizeof(text));
		cr_assert_str_eq(text, "kiln");
	}
	check_mmap(info);
	if (!initrd_len && !(flags & MBI_F_MODS))
		return;
	cr_assert(flags & MBI_F_MODS);
	cr_assert_eq(guest32(info + MBI_MODS_COUNT), 1);
	mods = guest32(info + MBI_MODS_ADDR);
	cr_assert_eq(guest32(mods), fx.entry.initrd_start, "mod_start");
	cr_assert_eq(guest32(mods + 4) - guest32(mods), initrd_len, "mod_end - mod_start");
	guest_string(guest32(mods + 8), text, sizeof(text));
	cr_assert_str_eq(text, "/images/test-initrd", "module string");
	cr_assert_eq(fx.entry.initrd_start % 4096, 0, "module page-aligned");
	cr_assert_geq(fx.entry.initrd_start, fx.entry.kernel_end, "module above the image");
}

static void check_elf_loaded(const struct elf_spec *s)
{
	for (unsigned int i = 0; i < s->nr_segs; i++) {
		const struct elf_seg_spec *seg = &s->segs[i];

		/* Segment 0 starts with the multiboot header: skip those 12 bytes. */
		for (uint64_t b = (i == 0 && s->multiboot) ? 12 : 0; b < seg->filesz; b += 97)
			cr_assert_eq(guest8(seg->paddr + b), seg_pattern(i, b), "seg %u byte %lu", i, b);
		for (uint64_t b = seg->filesz; b < seg->memsz; b += 4093)
			cr_assert_eq(guest8(seg->paddr + b), 0, "seg %u bss byte %lu", i, b);
	}
}

Test(boot_multiboot, good_elf32)
{
	struct elf_spec s = mb_spec(false);
	uint8_t initrd[3000];

	memset(initrd, 0x77, sizeof(initrd));
	/* bss that the loader must clear, even where RAM was dirty */
	memset(guest_mem_ptr(&fx.mem, 0x402000, 0x100000), 0xee, 0x100000);
	cr_assert_eq(boot_detect(fx.image, build_elf(fx.image, &s)), BOOT_FORMAT_MULTIBOOT);
	cr_assert_eq(load(&s, "a=1 b", initrd, sizeof(initrd)), 0, "%s", fx.err.msg);
	cr_assert_eq(fx.entry.rip, 0x400010, "EIP = e_entry");
	cr_assert_eq(fx.entry.kernel_start, 0x400000);
	cr_assert_eq(fx.entry.kernel_end, 0x502000, "end of the bss");
	check_info("/images/test-kernel a=1 b", sizeof(initrd));
	check_elf_loaded(&s);
	cr_assert_eq(guest8(fx.entry.initrd_start + 2999), 0x77, "module contents");
}

Test(boot_multiboot, good_elf64)
{
	struct elf_spec s = mb_spec(true);
	uint8_t initrd[3000] = { 7 };

	cr_assert_eq(boot_detect(fx.image, build_elf(fx.image, &s)), BOOT_FORMAT_MULTIBOOT);
	cr_assert_eq(load(&s, "a=1 b", initrd, sizeof(initrd)), 0, "%s", fx.err.msg);
	cr_assert_eq(fx.entry.rip, 0x400010);
	check_info("/images/test-kernel a=1 b", sizeof(initrd));
	check_elf_loaded(&s);
}

Test(boot_multiboot, empty_cmdline_is_just_the_image_path)
{
	struct elf_spec s = mb_spec(false);

	cr_assert_eq(load(&s, "", NULL, 0), 0, "%s", fx.err.msg);
	check_info("/images/test-kernel", 0);
	cr_assert_eq(guest32(fx.entry.rbx + MBI_FLAGS) & MBI_F_MODS, 0, "no MODS without initrd");
}

Test(boot_multiboot, big_guest_mem_upper_stops_at_the_hole)
{
	struct elf_spec s = mb_spec(false);

	guest_mem_destroy(&fx.mem);
	cr_assert_eq(guest_mem_create(&fx.mem, 4 * GiB, LAYOUT_PCI_HOLE_START), 0);
	cr_assert_eq(load(&s, "x", NULL, 0), 0, "%s", fx.err.msg);
	cr_assert_eq(guest32(fx.entry.rbx + MBI_MEM_UPPER), (3 * GiB - MiB) >> 10);
	cr_assert_eq(guest32(fx.entry.rbx + MBI_MMAP_LENGTH), 4 * 24, "RAM above 4 GiB listed");
	check_info("/images/test-kernel x", 0);
}

Test(boot_multiboot, low_image_is_allowed_and_module_stays_above_1_mib)
{
	struct elf_spec s = {
		.is64 = false, .entry = 0x8000, .nr_segs = 1,
		.segs = { { 0x8000, 0x4000, 0x6000, 0 } }, .multiboot = true,
	};
	uint8_t initrd[100] = { 9 };

	cr_assert_eq(load(&s, "", initrd, sizeof(initrd)), 0, "%s", fx.err.msg);
	check_elf_loaded(&s);
	cr_assert_geq(fx.entry.initrd_start, LAYOUT_HIGH_MEMORY,
		      "never in the legacy area that holds the ACPI tables");
	check_info("/images/test-kernel", sizeof(initrd));
}

Test(boot_multiboot, entry_given_as_a_virtual_address_is_translated)
{
	struct elf_spec s = mb_spec(false);

	s.entry = 0xc0400010;
	s.segs[0].vaddr = 0xc0400000;
	s.segs[1].vaddr = 0xc0402000;
	cr_assert_eq(load(&s, "", NULL, 0), 0, "%s", fx.err.msg);
	cr_assert_eq(fx.entry.rip, 0x400010, "p_paddr + (e_entry - p_vaddr)");
	check_elf_loaded(&s);
}

Test(boot_multiboot, entry_outside_the_image)
{
	struct elf_spec s = mb_spec(false);

	s.entry = 0x900000;
	EXPECT_LOAD_ERROR(load(&s, "", NULL, 0), "entry point 0x900000 is not inside any "
						 "loadable segment");
}

Test(boot_multiboot, aout_kludge_binary)
{
	struct aout_spec a = { .load_addr = 0x200000, .header_offset = 0x40,
			       .file_len = 0x3000, .bss_len = 0x5000, .entry_offset = 0x100 };
	size_t len = build_multiboot_aout(fx.image, &a);

	memset(guest_mem_ptr(&fx.mem, 0x203000, 0x5000), 0xee, 0x5000);
	cr_assert_eq(boot_detect(fx.image, len), BOOT_FORMAT_MULTIBOOT);
	cr_assert_eq(load_image(len, "k=v", NULL, 0), 0, "%s", fx.err.msg);
	cr_assert_eq(fx.entry.rip, 0x200100);
	cr_assert_eq(fx.entry.kernel_start, 0x200000);
	cr_assert_eq(fx.entry.kernel_end, 0x208000);
	cr_assert_eq(guest8(0x200000 + 5), seg_pattern(0, 5));
	cr_assert_eq(guest8(0x200000 + 0x2fff), seg_pattern(0, 0x2fff));
	cr_assert_eq(guest32(0x200040), 0x1badb002, "header loaded with the image");
	cr_assert_eq(guest8(0x203000), 0, "bss zeroed");
	cr_assert_eq(guest8(0x207fff), 0, "bss zeroed to bss_end_addr");
	check_info("/images/test-kernel k=v", 0);
}

Test(boot_multiboot, aout_kludge_load_end_zero_loads_the_whole_file)
{
	struct aout_spec a = { .load_addr = 0x200000, .header_offset = 0x40,
			       .file_len = 0x1800, .entry_offset = 0x100, .load_end_zero = true };
	size_t len = build_multiboot_aout(fx.image, &a);

	cr_assert_eq(load_image(len, "", NULL, 0), 0, "%s", fx.err.msg);
	cr_assert_eq(fx.entry.kernel_end, 0x201800);
	cr_assert_eq(guest8(0x2017ff), seg_pattern(0, 0x17ff));
}

Test(boot_multiboot, aout_kludge_errors)
{
	struct aout_spec a = { .load_addr = 0x3fff000, .header_offset = 0x40,
			       .file_len = 0x3000, .entry_offset = 0x100 };

	EXPECT_LOAD_ERROR(load_image(build_multiboot_aout(fx.image, &a), "", NULL, 0),
			  "lies outside guest RAM");
	a.load_addr = 0x200000;
	a.entry_offset = 0x4000;
	EXPECT_LOAD_ERROR(load_image(build_multiboot_aout(fx.image, &a), "", NULL, 0),
			  "entry 0x204000 is outside the image");
	a.entry_offset = 0x100;
	a.load_addr = 0x6000;
	EXPECT_LOAD_ERROR(load_image(build_multiboot_aout(fx.image, &a), "", NULL, 0),
			  "overlaps the multiboot information area");
	a.load_addr = 0x200000;
	cr_assert_eq(build_multiboot_aout(fx.image, &a), 0x3000);
	EXPECT_LOAD_ERROR(load_image(0x1000, "", NULL, 0), "truncated");
}

Test(boot_multiboot, bad_checksum)
{
	struct elf_spec s = mb_spec(false);
	size_t len = build_elf(fx.image, &s);

	fx.image[MB_HEADER_FILE_OFFSET + 8] ^= 1;
	cr_assert_eq(boot_detect(fx.image, len), BOOT_FORMAT_UNKNOWN);
	cr_assert_eq(multiboot_find_header(fx.image, len), -1);
	EXPECT_LOAD_ERROR(load_image(len, "", NULL, 0), "bad magic or checksum");
}

Test(boot_multiboot, header_must_be_aligned_and_in_the_first_8_kib)
{
	struct aout_spec a = { .load_addr = 0x200000, .header_offset = 0x2000,
			       .file_len = 0x3000, .entry_offset = 0x100 };
	size_t len = build_multiboot_aout(fx.image, &a);

	cr_assert_eq(multiboot_find_header(fx.image, len), -1, "at 8 KiB: too far");
	a.header_offset = 0x1ff4;
	len = build_multiboot_aout(fx.image, &a);
	cr_assert_eq(multiboot_find_header(fx.image, len), 0x1ff4, "last place that counts");
	memset(fx.image, 0, len);
	a.header_offset = 0x42;
	len = build_multiboot_aout(fx.image, &a);
	cr_assert_eq(multiboot_find_header(fx.image, len), -1, "not 4-byte aligned");
	cr_assert_eq(multiboot_find_header(fx.image, 0x40), -1, "header past a short file");
}

Test(boot_multiboot, video_mode_request_refused)
{
	struct elf_spec s = mb_spec(false);

	s.multiboot_flags = 1u << 2;
	EXPECT_LOAD_ERROR(load(&s, "", NULL, 0), "video mode");
}

Test(boot_multiboot, page_align_and_memory_info_flags_accepted)
{
	struct elf_spec s = mb_spec(false);

	s.multiboot_flags = 0x3;
	cr_assert_eq(load(&s, "", NULL, 0), 0, "%s", fx.err.msg);
}

Test(boot_multiboot, segment_outside_ram)
{
	struct elf_spec s = mb_spec(false);

	s.segs[1].paddr = 0x3ff0000;
	EXPECT_LOAD_ERROR(load(&s, "", NULL, 0), "segment 1 [0x3ff0000-0x40f0000) lies outside "
						 "guest RAM (64 MiB)");
}

Test(boot_multiboot, segment_over_the_info_area)
{
	struct elf_spec s = mb_spec(false);

	s.segs[1].paddr = 0x2000;
	s.segs[1].memsz = 0x100;
	EXPECT_LOAD_ERROR(load(&s, "", NULL, 0), "overlaps the multiboot information area");
}

Test(boot_multiboot, segment_over_the_boot_gdt)
{
	struct elf_spec s = mb_spec(false);

	s.segs[1].paddr = 0x400;
	s.segs[1].memsz = 0x200;
	EXPECT_LOAD_ERROR(load(&s, "", NULL, 0), "overlaps the boot GDT");
}

Test(boot_multiboot, segment_over_the_legacy_area)
{
	struct elf_spec s = mb_spec(false);

	s.segs[1].paddr = 0xe0000;
	s.segs[1].memsz = 0x100;
	EXPECT_LOAD_ERROR(load(&s, "", NULL, 0), "legacy BIOS and ACPI area");
}

Test(boot_multiboot, overlapping_segments)
{
	struct elf_spec s = mb_spec(false);

	s.segs[1].paddr = 0x401000;
	EXPECT_LOAD_ERROR(load(&s, "", NULL, 0), "segments 0 and 1 overlap");
}

Test(boot_multiboot, truncated_segment)
{
	struct elf_spec s = mb_spec(false);
	size_t len = build_elf(fx.image, &s);

	/* Segment 1's 0x100 file bytes sit at 0x3000 in the file. */
	cr_assert_geq(len, 0x3100);
	EXPECT_LOAD_ERROR(load_image(0x3080, "", NULL, 0), "segment 1 lies past the end of the "
							   "file (truncated?)");
}

Test(boot_multiboot, initrd_too_big)
{
	struct elf_spec s = mb_spec(false);
	size_t big = 63 * MiB;
	uint8_t *initrd = calloc(1, big);

	EXPECT_LOAD_ERROR(load(&s, "", initrd, big), "initrd '/images/test-initrd' (63 MiB) "
						     "does not fit");
	free(initrd);
}

Test(boot_multiboot, command_line_too_long_for_the_info_area)
{
	struct elf_spec s = mb_spec(false);
	size_t len = 64 * 1024;
	char *cmd = malloc(len);

	memset(cmd, 'm', len - 1);
	cmd[len - 1] = 0;
	EXPECT_LOAD_ERROR(load(&s, cmd, NULL, 0), "command line too long for multiboot");
	free(cmd);
}

Test(boot_multiboot, boot_load_from_files)
{
	struct elf_spec s = mb_spec(false);
	char kernel[] = "/tmp/kiln-mb-XXXXXX";
	int fd = mkstemp(kernel);
	size_t len = build_elf(fx.image, &s);
	struct boot_request req = fixture_request("from=file");
	char want[64];
	int ret;

	cr_assert_eq(write(fd, fx.image, len), (ssize_t)len);
	close(fd);
	req.kernel_path = kernel;
	req.initrd_path = NULL;
	ret = boot_load(&req, &fx.entry, &fx.err);
	unlink(kernel);
	cr_assert_eq(ret, 0, "%s", fx.err.msg);
	snprintf(want, sizeof(want), "%s from=file", kernel);
	check_info(want, 0);
}

Test(boot_multiboot, elf_without_multiboot_or_pvh_is_unknown)
{
	struct elf_spec s = mb_spec(false);
	char kernel[] = "/tmp/kiln-elf-XXXXXX";
	int fd = mkstemp(kernel);
	struct boot_request req = fixture_request("");
	size_t len;
	int ret;

	s.multiboot = false;
	len = build_elf(fx.image, &s);
	cr_assert_eq(boot_detect(fx.image, len), BOOT_FORMAT_UNKNOWN);
	cr_assert_eq(write(fd, fx.image, len), (ssize_t)len);
	close(fd);
	req.kernel_path = kernel;
	req.initrd_path = NULL;
	ret = boot_load(&req, &fx.entry, &fx.err);
	unlink(kernel);
	cr_assert_lt(ret, 0);
	cr_assert_not_null(strstr(fx.err.msg, "without a PVH entry note or a multiboot header"),
			   "%s", fx.err.msg);
}

Test(boot_multiboot, random_bytes_are_no_known_format)
{
	char kernel[] = "/tmp/kiln-rand-XXXXXX";
	int fd = mkstemp(kernel);
	struct boot_request req = fixture_request("");
	int ret;

	for (size_t i = 0; i < 16384; i++)
		fx.image[i] = (uint8_t)(i * 131 + 17);
	cr_assert_eq(boot_detect(fx.image, 16384), BOOT_FORMAT_UNKNOWN);
	cr_assert_eq(boot_detect(fx.image, 0), BOOT_FORMAT_UNKNOWN);
	cr_assert_eq(write(fd, fx.image, 16384), 16384);
	close(fd);
	req.kernel_path = kernel;
	req.initrd_path = NULL;
	ret = boot_load(&req, &fx.entry, &fx.err);
	unlink(kernel);
	cr_assert_lt(ret, 0);
	cr_assert_not_null(strstr(fx.err.msg, "not a bzImage, PVH ELF or multiboot image"), "%s",
			   fx.err.msg);
}
