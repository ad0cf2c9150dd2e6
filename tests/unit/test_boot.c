// SPDX-License-Identifier: MIT
/* The three loaders on crafted good and corrupt images. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "image_builder.h"
#include "x86/boot.h"
#include "x86/layout.h"

#define MiB (1ULL << 20)
#define IMAGE_MAX (4 * MiB)

static struct guest_memory mem;
static uint8_t *image;
static struct boot_entry entry;
static struct kiln_err err;

static void setup(void)
{
	cr_assert_eq(guest_mem_create(&mem, 64 * MiB, LAYOUT_PCI_HOLE_START), 0);
	image = calloc(1, IMAGE_MAX);
	memset(&entry, 0, sizeof(entry));
	memset(&err, 0, sizeof(err));
}

static void teardown(void)
{
	free(image);
	guest_mem_destroy(&mem);
}

static struct boot_request request(const char *cmdline)
{
	return (struct boot_request){
		.mem = &mem, .kernel_path = "test-kernel", .initrd_path = "test-initrd",
		.cmdline = cmdline, .rsdp_gpa = LAYOUT_ACPI_BASE,
	};
}

static uint32_t g32(uint64_t gpa) { uint32_t v; cr_assert_eq(guest_mem_read(&mem, gpa, &v, 4), 0); return v; }
static uint64_t g64(uint64_t gpa) { uint64_t v; cr_assert_eq(guest_mem_read(&mem, gpa, &v, 8), 0); return v; }
static uint8_t g8(uint64_t gpa) { uint8_t v; cr_assert_eq(guest_mem_read(&mem, gpa, &v, 1), 0); return v; }

#define EXPECT_ERROR(call, needle)                                                 \
	do {                                                                       \
		cr_assert_lt((call), 0, "should fail");                            \
		cr_assert(strstr(err.msg, (needle)), "message '%s' lacks '%s'",    \
			  err.msg, (needle));                                        \
	} while (0)

/* ---------------- bzImage ---------------- */

TestSuite(bzimage, .init = setup, .fini = teardown);

Test(bzimage, good_image_fills_zero_page)
{
	struct bz_spec s = bz_default();
	struct boot_request req = request("console=ttyS0 quiet");
	uint8_t initrd[5000];
	size_t len = build_bzimage(image, &s);
	uint64_t zp = LAYOUT_ZERO_PAGE;

	memset(initrd, 0x5a, sizeof(initrd));
	cr_assert_eq(boot_detect(image, len), BOOT_FORMAT_BZIMAGE);
	cr_assert_eq(boot_load_bzimage(&req, image, len, initrd, sizeof(initrd), &entry, &err), 0,
		     "%s", err.msg);
	cr_assert_eq(entry.mode, BOOT_MODE_LONG64);
	cr_assert_eq(entry.kernel_start, 0x1000000, "loaded at pref_address");
	cr_assert_eq(entry.rip, 0x1000000 + 0x200, "64-bit entry");
	cr_assert_eq(entry.rsi, zp);
	for (uint64_t i = 0; i < s.kernel_len; i += 997)
		cr_assert_eq(g8(0x1000000 + i), seg_pattern(0, i));
	cr_assert_eq(g32(zp + 0x202), 0x53726448, "setup header copied (HdrS)");
	cr_assert_eq(g8(zp + 0x210), 0xff, "type_of_loader");
	cr_assert(g8(zp + 0x211) & 0x80, "CAN_USE_HEAP");
	cr_assert_eq(g32(zp + 0x228), LAYOUT_CMDLINE);
	cr_assert_eq(g64(zp + 0x070), LAYOUT_ACPI_BASE, "acpi_rsdp_addr");
	char cmd[64];
	guest_mem_read(&mem, LAYOUT_CMDLINE, cmd, sizeof(cmd));
	cr_assert_str_eq(cmd, "console=ttyS0 quiet");
	cr_assert_eq(g8(zp + 0x1e8), 3, "e820 entries for 64 MiB");
	cr_assert_eq(g64(zp + 0x2d0 + 2 * 20), 0x100000);
	cr_assert_eq(g64(zp + 0x2d0 + 2 * 20 + 8), 63 * MiB);
	cr_assert_eq(g32(zp + 0x218), entry.initrd_start, "ramdisk_image");
	cr_assert_eq(g32(zp + 0x21c), sizeof(initrd), "ramdisk_size");
	cr_assert_eq(entry.initrd_start % 4096, 0);
	cr_assert_geq(entry.initrd_start, 0x1000000 + s.init_size, "initrd above the kernel");
	cr_assert_leq(entry.initrd_start + sizeof(initrd), 64 * MiB);
	cr_assert_eq(g8(entry.initrd_start + 4999), 0x5a);
}

Test(bzimage, initrd_respects_initrd_addr_max)
{
	struct bz_spec s = bz_default();
	struct boot_request req = request("");
	uint8_t initrd[4096] = { 1 };
	size_t len;

	s.initrd_addr_max = 0x2000000 - 1; /* 32 MiB */
	len = build_bzimage(image, &s);
	cr_assert_eq(boot_load_bzimage(&req, image, len, initrd, sizeof(initrd), &entry, &err), 0,
		     "%s", err.msg);
	cr_assert_leq(entry.initrd_start + sizeof(initrd), 0x2000000);
}

Test(bzimage, truncated)
{
	struct bz_spec s = bz_default();
	struct boot_request req = request("");

	build_bzimage(image, &s);
	EXPECT_ERROR(boot_load_bzimage(&req, image, 0x230, NULL, 0, &entry, &err), "truncated");
	memset(&err, 0, sizeof(err));
	EXPECT_ERROR(boot_load_bzimage(&req, image, 5 * 512, NULL, 0, &entry, &err), "truncated");
}

Test(bzimage, bad_magic)
{
	struct bz_spec s = bz_default();
	struct boot_request req = request("");
	size_t len = build_bzimage(image, &s);

	image[0x1fe] = 0;
	EXPECT_ERROR(boot_load_bzimage(&req, image, len, NULL, 0, &entry, &err), "magic");
}

Test(bzimage, old_protocol)
{
	struct bz_spec s = bz_default();
	struct boot_request req = request("");
	size_t len;

	s.version = 0x020a;
	len = build_bzimage(image, &s);
	EXPECT_ERROR(boot_load_bzimage(&req, image, len, NULL, 0, &entry, &err), "2.10");
}

Test(bzimage, not_64_bit)
{
	struct bz_spec s = bz_default();
	struct boot_request req = request("");
	size_t len;

	s.xloadflags = 0;
	len = build_bzimage(image, &s);
	EXPECT_ERROR(boot_load_bzimage(&req, image, len, NULL, 0, &entry, &err), "XLF_KERNEL_64");
}

Test(bzimage, init_size_beyond_ram)
{
	struct bz_spec s = bz_default();
	struct boot_request req = request("");
	size_t len;

	s.init_size = 60 * MiB;
	len = build_bzimage(image, &s);
	EXPECT_ERROR(boot_load_bzimage(&req, image, len, NULL, 0, &entry, &err), "init_size");
}

Test(bzimage, initrd_too_big)
{
	struct bz_spec s = bz_default();
	struct boot_request req = request("");
	size_t len = build_bzimage(image, &s), big = 60 * MiB;
	uint8_t *initrd = calloc(1, big);

	EXPECT_ERROR(boot_load_bzimage(&req, image, len, initrd, big, &entry, &err),
		     "does not fit");
	cr_assert(strstr(err.msg, "test-initrd"));
	free(initrd);
}

Test(bzimage, command_line_too_long)
{
	struct bz_spec s = bz_default();
	char cmd[300];
	struct boot_request req = request(cmd);
	size_t len;

	memset(cmd, 'a', sizeof(cmd) - 1);
	cmd[sizeof(cmd) - 1] = 0;
	s.cmdline_size = 255;
	len = build_bzimage(image, &s);
	EXPECT_ERROR(boot_load_bzimage(&req, image, len, NULL, 0, &entry, &err), "too long");
}

/* ---------------- PVH ---------------- */

TestSuite(pvh, .init = setup, .fini = teardown);

static struct elf_spec pvh_spec(bool is64)
{
	return (struct elf_spec){
		.is64 = is64, .entry = 0xffffffff81000000ULL, .nr_segs = 2,
		.segs = { { 0x1000000, 0x3000, 0x5000 }, { 0x1800000, 0x1000, 0x1000 } },
		.pvh_note = true, .pvh_entry = 0x1000040,
	};
}

Test(pvh, good_elf64_with_start_info)
{
	struct elf_spec s = pvh_spec(true);
	struct boot_request req = request("root=/dev/vda");
	uint8_t initrd[10000] = { 0 };
	size_t len = build_elf(image, &s);
	uint64_t si = LAYOUT_START_INFO, map, mod;

	cr_assert_eq(boot_detect(image, len), BOOT_FORMAT_PVH);
	cr_assert_eq(boot_load_pvh(&req, image, len, initrd, sizeof(initrd), &entry, &err), 0,
		     "%s", err.msg);
	cr_assert_eq(entry.mode, BOOT_MODE_PROTECTED32);
	cr_assert_eq(entry.rip, 0x1000040, "entry from the PVH note, not e_entry");
	cr_assert_eq(entry.rbx, si);
	cr_assert_eq(g32(si), 0x336ec578, "hvm_start_info magic");
	cr_assert_eq(g32(si + 4), 1, "version");
	cr_assert_eq(g32(si + 12), 1, "one module");
	cr_assert_eq(g64(si + 32), LAYOUT_ACPI_BASE, "rsdp_paddr");
	char cmd[32];
	guest_mem_read(&mem, g64(si + 24), cmd, sizeof(cmd));
	cr_assert_str_eq(cmd, "root=/dev/vda");
	map = g64(si + 40);
	cr_assert_eq(g32(si + 48), 3, "memmap entries");
	cr_assert_eq(g64(map + 2 * 24), 0x100000);
	cr_assert_eq(g32(map + 2 * 24 + 16), 1, "RAM type");
	mod = g64(si + 16);
	cr_assert_eq(g64(mod), entry.initrd_start);
	cr_assert_eq(g64(mod + 8), sizeof(initrd));
	for (uint64_t i = 0; i < 0x3000; i += 501)
		cr_assert_eq(g8(0x1000000 + i), seg_pattern(0, i));
	cr_assert_eq(g8(0x1000000 + 0x4fff), 0, "bss zeroed");
	cr_assert_eq(g8(0x1800000 + 5), seg_pattern(1, 5));
}

Test(pvh, good_elf32)
{
	struct elf_spec s = pvh_spec(false);
	struct boot_request req = request("");
	size_t len = build_elf(image, &s);

	cr_assert_eq(boot_detect(image, len), BOOT_FORMAT_PVH);
	cr_assert_eq(boot_load_pvh(&req, image, len, NULL, 0, &entry, &err), 0, "%s", err.msg);
	cr_assert_eq(entry.rip, 0x1000040);
	cr_assert_eq(g32(LAYOUT_START_INFO + 12), 0, "no modules without an initrd");
}

Test(pvh, no_note_is_not_pvh)
{
	struct elf_spec s = pvh_spec(true);
	struct boot_request req = request("");
	size_t len;

	s.pvh_note = false;
	len = build_elf(image, &s);
	cr_assert_eq(boot_detect(image, len), BOOT_FORMAT_UNKNOWN);
	EXPECT_ERROR(boot_load_pvh(&req, image, len, NULL, 0, &entry, &err), "PVH entry note");
}

Test(pvh, segment_outside_ram)
{
	struct elf_spec s = pvh_spec(true);
	struct boot_request req = request("");
	size_t len;

	s.segs[1].paddr = 63 * MiB;
	s.segs[1].memsz = 2 * MiB;
	len = build_elf(image, &s);
	EXPECT_ERROR(boot_load_pvh(&req, image, len, NULL, 0, &entry, &err), "outside guest RAM");
}

Test(pvh, overlapping_segments)
{
	struct elf_spec s = pvh_spec(true);
	struct boot_request req = request("");
	size_t len;

	s.segs[1].paddr = 0x1004000;
	len = build_elf(image, &s);
	EXPECT_ERROR(boot_load_pvh(&req, image, len, NULL, 0, &entry, &err), "overlap");
}

Test(pvh, truncated_segment)
{
	struct elf_spec s = pvh_spec(true);
	struct boot_request req = request("");
	size_t len = build_elf(image, &s);

	EXPECT_ERROR(boot_load_pvh(&req, image, len - 0x800, NULL, 0, &entry, &err), "truncated");
	memset(&err, 0, sizeof(err));
	EXPECT_ERROR(boot_load_pvh(&req, image, 80, NULL, 0, &entry, &err), "truncated");
}

Test(pvh, initrd_too_big)
{
	struct elf_spec s = pvh_spec(true);
	struct boot_request req = request("");
	size_t len = build_elf(image, &s), big = 50 * MiB;
	uint8_t *initrd = calloc(1, big);

	EXPECT_ERROR(boot_load_pvh(&req, image, len, initrd, big, &entry, &err), "does not fit");
	free(initrd);
}

/* ---------------- multiboot ---------------- */

TestSuite(multiboot, .init = setup, .fini = teardown);

static struct elf_spec mb_spec(bool is64)
{
	return (struct elf_spec){
		.is64 = is64, .entry = 0x400010, .nr_segs = 2,
		.segs = { { 0x400000, 0x2000, 0x2000 }, { 0x402000, 0x100, 0x100000 } },
		.multiboot = true,
	};
}

static void check_multiboot_info(uint64_t initrd_len)
{
	uint64_t info = entry.rbx, mmap;
	char cmd[64];

	cr_assert_eq(entry.rax, 0x2badb002);
	cr_assert_eq(entry.mode, BOOT_MODE_PROTECTED32);
	cr_assert_eq(entry.rip, 0x400010);
	cr_assert(info >= LAYOUT_MB_INFO && info < LAYOUT_MB_INFO_END);
	cr_assert_eq(g32(info) & 0x4d, 0x4d, "MEM, CMDLINE, MODS, MMAP flags");
	cr_assert_eq(g32(info + 4), 639, "mem_lower");
	cr_assert_eq(g32(info + 8), (64 * MiB - MiB) >> 10, "mem_upper");
	guest_mem_read(&mem, g32(info + 16), cmd, sizeof(cmd));
	cr_assert_str_eq(cmd, "test-kernel a=1 b", "image path, then the arguments");
	cr_assert_eq(g32(info + 20), 1, "mods_count");
	cr_assert_eq(g32(g32(info + 24)), entry.initrd_start);
	cr_assert_eq(g32(g32(info + 24) + 4) - g32(g32(info + 24)), initrd_len);
	cr_assert_geq(entry.initrd_start, 0x502000, "module above the image and its bss");
	mmap = g32(info + 48);
	cr_assert_eq(g32(info + 44), 3 * 24, "three 24-byte mmap entries");
	cr_assert_eq(g32(mmap), 20, "entry size field");
	cr_assert_eq(g64(mmap + 24 + 4), 0x9fc00);
	cr_assert_eq(g32(mmap + 24 + 20), 2, "reserved legacy area");
	cr_assert_eq(g8(0x400000 + 100), seg_pattern(0, 100));
	cr_assert_eq(g8(0x402000 + 0x200), 0, "bss zeroed");
}

Test(multiboot, good_elf32)
{
	struct elf_spec s = mb_spec(false);
	struct boot_request req = request("a=1 b");
	uint8_t initrd[3000] = { 7 };
	size_t len = build_elf(image, &s);

	cr_assert_eq(boot_detect(image, len), BOOT_FORMAT_MULTIBOOT);
	cr_assert_eq(boot_load_multiboot(&req, image, len, initrd, sizeof(initrd), &entry, &err),
		     0, "%s", err.msg);
	check_multiboot_info(sizeof(initrd));
}

Test(multiboot, good_elf64)
{
	struct elf_spec s = mb_spec(true);
	struct boot_request req = request("a=1 b");
	uint8_t initrd[3000] = { 7 };
	size_t len = build_elf(image, &s);

	cr_assert_eq(boot_load_multiboot(&req, image, len, initrd, sizeof(initrd), &entry, &err),
		     0, "%s", err.msg);
	check_multiboot_info(sizeof(initrd));
}

Test(multiboot, empty_cmdline_is_just_the_path)
{
	struct elf_spec s = mb_spec(false);
	struct boot_request req = request("");
	size_t len = build_elf(image, &s);
	char cmd[32];

	cr_assert_eq(boot_load_multiboot(&req, image, len, NULL, 0, &entry, &err), 0);
	guest_mem_read(&mem, g32(entry.rbx + 16), cmd, sizeof(cmd));
	cr_assert_str_eq(cmd, "test-kernel");
	cr_assert_eq(g32(entry.rbx) & 0x8, 0, "no MODS flag without an initrd");
}

Test(multiboot, bad_checksum)
{
	struct elf_spec s = mb_spec(false);
	size_t len = build_elf(image, &s);

	image[0x1008] ^= 1;
	cr_assert_eq(boot_detect(image, len), BOOT_FORMAT_UNKNOWN);
}

Test(multiboot, video_mode_request_refused)
{
	struct elf_spec s = mb_spec(false);
	struct boot_request req = request("");
	size_t len;

	s.multiboot_flags = 1u << 2;
	len = build_elf(image, &s);
	EXPECT_ERROR(boot_load_multiboot(&req, image, len, NULL, 0, &entry, &err), "video");
}

Test(multiboot, segment_outside_ram)
{
	struct elf_spec s = mb_spec(false);
	struct boot_request req = request("");
	size_t len;

	s.segs[1].paddr = 0x3ff0000;
	len = build_elf(image, &s);
	EXPECT_ERROR(boot_load_multiboot(&req, image, len, NULL, 0, &entry, &err),
		     "outside guest RAM");
}

Test(multiboot, segment_over_boot_info)
{
	struct elf_spec s = mb_spec(false);
	struct boot_request req = request("");
	size_t len;

	s.segs[1].paddr = 0x2000;
	s.segs[1].memsz = 0x100;
	len = build_elf(image, &s);
	EXPECT_ERROR(boot_load_multiboot(&req, image, len, NULL, 0, &entry, &err),
		     "multiboot information area");
}

Test(multiboot, overlapping_segments)
{
	struct elf_spec s = mb_spec(false);
	struct boot_request req = request("");
	size_t len;

	s.segs[1].paddr = 0x401000;
	len = build_elf(image, &s);
	EXPECT_ERROR(boot_load_multiboot(&req, image, len, NULL, 0, &entry, &err), "overlap");
}

Test(multiboot, initrd_too_big)
{
	struct elf_spec s = mb_spec(false);
	struct boot_request req = request("");
	size_t len = build_elf(image, &s), big = 63 * MiB;
	uint8_t *initrd = calloc(1, big);

	EXPECT_ERROR(boot_load_multiboot(&req, image, len, initrd, big, &entry, &err),
		     "does not fit");
	free(initrd);
}

/* ---------------- detection and files ---------------- */

TestSuite(boot_files, .init = setup, .fini = teardown);

Test(boot_files, missing_and_empty_files)
{
	struct boot_request req = request("");
	char path[] = "/tmp/kiln-empty-XXXXXX";
	int fd = mkstemp(path);

	req.kernel_path = "/nonexistent/kernel";
	req.initrd_path = NULL;
	EXPECT_ERROR(boot_load(&req, &entry, &err), "no such file");
	memset(&err, 0, sizeof(err));
	cr_assert_geq(fd, 0);
	close(fd);
	req.kernel_path = path;
	EXPECT_ERROR(boot_load(&req, &entry, &err), "empty");
	unlink(path);
}

Test(boot_files, unknown_formats)
{
	memset(image, 0x90, 4096);
	cr_assert_eq(boot_detect(image, 4096), BOOT_FORMAT_UNKNOWN);
	cr_assert_eq(boot_detect(image, 3), BOOT_FORMAT_UNKNOWN);
	memcpy(image, "\x7f" "ELF", 4);
	cr_assert_eq(boot_detect(image, 16), BOOT_FORMAT_UNKNOWN, "truncated ELF");
}
