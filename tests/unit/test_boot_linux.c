// SPDX-License-Identifier: MIT
/* The bzImage loader (64-bit Linux boot protocol) on crafted good and corrupt images. */
#include <errno.h>
#include <stdio.h>
#include <unistd.h>

#include "boot_fixture.h"
#include "image_builder.h"

/* Zero-page and setup-header offsets, from Documentation/arch/x86/boot.rst
 * and zero-page.rst: written out here so the test does not share the
 * loader's constants. */
#define ZP_ACPI_RSDP_ADDR    0x070
#define ZP_EXT_RAMDISK_IMAGE 0x0c0
#define ZP_EXT_RAMDISK_SIZE  0x0c4
#define ZP_EXT_CMD_LINE_PTR  0x0c8
#define ZP_E820_ENTRIES      0x1e8
#define ZP_SETUP_SECTS       0x1f1
#define ZP_BOOT_FLAG         0x1fe
#define ZP_HEADER_MAGIC      0x202
#define ZP_VERSION           0x206
#define ZP_TYPE_OF_LOADER    0x210
#define ZP_LOADFLAGS         0x211
#define ZP_RAMDISK_IMAGE     0x218
#define ZP_RAMDISK_SIZE      0x21c
#define ZP_CMD_LINE_PTR      0x228
#define ZP_INITRD_ADDR_MAX   0x22c
#define ZP_PREF_ADDRESS      0x258
#define ZP_INIT_SIZE         0x260
#define ZP_E820_TABLE        0x2d0
#define E820_ENTRY_SIZE      20
#define LOADED_HIGH          0x01
#define CAN_USE_HEAP         0x80

TestSuite(boot_linux, .init = fixture_setup, .fini = fixture_teardown);

static int load(const struct bz_spec *spec, const char *cmdline, const uint8_t *initrd,
		size_t initrd_len)
{
	struct boot_request req = fixture_request(cmdline);
	size_t len = build_bzimage(fx.image, spec);

	return boot_load_bzimage(&req, fx.image, len, initrd, initrd_len, &fx.entry, &fx.err);
}

/* The zero page's e820 table is exactly what the layout says. */
static void check_zero_page_e820(void)
{
	struct e820_entry want[LAYOUT_E820_MAX];
	int n = layout_e820(&fx.mem, want, LAYOUT_E820_MAX);

	cr_assert_gt(n, 0);
	cr_assert_eq(guest8(LAYOUT_ZERO_PAGE + ZP_E820_ENTRIES), n);
	for (int i = 0; i < n; i++) {
		uint64_t e = LAYOUT_ZERO_PAGE + ZP_E820_TABLE + (uint64_t)i * E820_ENTRY_SIZE;

		cr_assert_eq(guest64(e), want[i].addr, "e820[%d].addr", i);
		cr_assert_eq(guest64(e + 8), want[i].size, "e820[%d].size", i);
		cr_assert_eq(guest32(e + 16), want[i].type, "e820[%d].type", i);
	}
}

Test(boot_linux, good_image_lands_and_fills_the_zero_page)
{
	struct bz_spec s = bz_default();
	uint8_t initrd[5000];
	uint64_t zp = LAYOUT_ZERO_PAGE;
	char cmd[64];

	for (size_t i = 0; i < sizeof(initrd); i++)
		initrd[i] = (uint8_t)(i ^ 0x5a);
	cr_assert_eq(load(&s, "console=ttyS0 quiet", initrd, sizeof(initrd)), 0, "%s", fx.err.msg);
	cr_assert_eq(fx.entry.format, BOOT_FORMAT_BZIMAGE);
	cr_assert_eq(fx.entry.mode, BOOT_MODE_LONG64);
	cr_assert_eq(fx.entry.kernel_start, s.pref_address, "relocatable kernel at pref_address");
	cr_assert_eq(fx.entry.kernel_end, s.pref_address + s.init_size, "init_size reserved");
	cr_assert_eq(fx.entry.rip, s.pref_address + 0x200, "64-bit entry is load address + 0x200");
	cr_assert_eq(fx.entry.rsi, zp, "RSI points at the zero page");
	for (uint64_t i = 0; i < s.kernel_len; i += 997)
		cr_assert_eq(guest8(s.pref_address + i), seg_pattern(0, i), "kernel byte %lu", i);
	cr_assert_eq(guest8(s.pref_address + s.kernel_len - 1), seg_pattern(0, s.kernel_len - 1));

	/* Setup header copied, then the loader's fields. */
	cr_assert_eq(guest8(zp + ZP_SETUP_SECTS), s.setup_sects);
	cr_assert_eq(guest16(zp + ZP_BOOT_FLAG), 0xaa55);
	cr_assert_eq(guest32(zp + ZP_HEADER_MAGIC), 0x53726448, "\"HdrS\"");
	cr_assert_eq(guest16(zp + ZP_VERSION), s.version);
	cr_assert_eq(guest32(zp + ZP_INITRD_ADDR_MAX), s.initrd_addr_max);
	cr_assert_eq(guest64(zp + ZP_PREF_ADDRESS), s.pref_address);
	cr_assert_eq(guest32(zp + ZP_INIT_SIZE), s.init_size);
	cr_assert_eq(guest8(zp + ZP_TYPE_OF_LOADER), 0xff, "undefined boot loader");
	cr_assert_eq(guest8(zp + ZP_LOADFLAGS), LOADED_HIGH | CAN_USE_HEAP);
	cr_assert_eq(guest64(zp + ZP_ACPI_RSDP_ADDR), LAYOUT_ACPI_BASE, "acpi_rsdp_addr");

	cr_assert_eq(guest32(zp + ZP_CMD_LINE_PTR), LAYOUT_CMDLINE);
	cr_assert_eq(guest32(zp + ZP_EXT_CMD_LINE_PTR), 0);
	guest_string(LAYOUT_CMDLINE, cmd, sizeof(cmd));
	cr_assert_str_eq(cmd, "console=ttyS0 quiet");
	check_zero_page_e820();

	cr_assert_eq(guest32(zp + ZP_RAMDISK_IMAGE), fx.entry.initrd_start);
	cr_assert_eq(guest32(zp + ZP_RAMDISK_SIZE), sizeof(initrd));
	cr_assert_eq(guest32(zp + ZP_EXT_RAMDISK_IMAGE), 0);
	cr_assert_eq(guest32(zp + ZP_EXT_RAMDISK_SIZE), 0);
	cr_assert_eq(fx.entry.initrd_start % 4096, 0, "initrd page-aligned");
	cr_assert_geq(fx.entry.initrd_start, s.pref_address + s.init_size, "above the kernel");
	cr_assert_leq(fx.entry.initrd_start + sizeof(initrd), FIXTURE_RAM, "inside RAM");
	cr_assert_gt(fx.entry.initrd_start + sizeof(initrd), FIXTURE_RAM - 8192,
		     "at the top of low RAM");
	for (size_t i = 0; i < sizeof(initrd); i += 499)
		cr_assert_eq(guest8(fx.entry.initrd_start + i), initrd[i]);
}

Test(boot_linux, no_initrd_leaves_ramdisk_fields_zero)
{
	struct bz_spec s = bz_default();

	cr_assert_eq(load(&s, "", NULL, 0), 0, "%s", fx.err.msg);
	cr_assert_eq(guest32(LAYOUT_ZERO_PAGE + ZP_RAMDISK_IMAGE), 0);
	cr_assert_eq(guest32(LAYOUT_ZERO_PAGE + ZP_RAMDISK_SIZE), 0);
	cr_assert_eq(fx.entry.initrd_size, 0);
	cr_assert_eq(guest8(LAYOUT_CMDLINE), 0, "empty command line is an empty string");
}

Test(boot_linux, relocatable_kernel_is_aligned_up)
{
	struct bz_spec s = bz_default();

	s.pref_address = 0x1100000;
	cr_assert_eq(load(&s, "", NULL, 0), 0, "%s", fx.err.msg);
	cr_assert_eq(fx.entry.kernel_start, 0x1200000, "next kernel_alignment boundary");
	cr_assert_eq(fx.entry.rip, 0x1200200);
}

Test(boot_linux, non_relocatable_kernel_loads_at_pref_address)
{
	struct bz_spec s = bz_default();

	s.relocatable = 0;
	s.pref_address = 0x1100000;
	cr_assert_eq(load(&s, "", NULL, 0), 0, "%s", fx.err.msg);
	cr_assert_eq(fx.entry.kernel_start, 0x1100000, "exactly where it was linked");
	cr_assert_eq(guest8(0x1100000 + 7), seg_pattern(0, 7));
}

Test(boot_linux, no_pref_address_means_one_mib)
{
	struct bz_spec s = bz_default();

	s.pref_address = 0;
	s.relocatable = 0;
	cr_assert_eq(load(&s, "", NULL, 0), 0, "%s", fx.err.msg);
	cr_assert_eq(fx.entry.kernel_start, LAYOUT_HIGH_MEMORY);
}

Test(boot_linux, non_relocatable_beyond_ram)
{
	struct bz_spec s = bz_default();

	s.relocatable = 0;
	s.pref_address = 0x3f00000;
	EXPECT_LOAD_ERROR(load(&s, "", NULL, 0), "non-relocatable");
	cr_assert_not_null(strstr(fx.err.msg, "0x3f00000"), "%s", fx.err.msg);
}

Test(boot_linux, init_size_beyond_ram)
{
	struct bz_spec s = bz_default();

	s.init_size = 60 * MiB;
	EXPECT_LOAD_ERROR(load(&s, "", NULL, 0), "init_size");
	cr_assert_not_null(strstr(fx.err.msg, "60 MiB"), "%s", fx.err.msg);
	cr_assert_not_null(strstr(fx.err.msg, "0x4000000"), "RAM end named: %s", fx.err.msg);
	cr_assert_not_null(strstr(fx.err.msg, "/images/test-kernel"), "%s", fx.err.msg);
}

Test(boot_linux, truncated_setup_header)
{
	struct bz_spec s = bz_default();
	struct boot_request req = fixture_request("");

	build_bzimage(fx.image, &s);
	EXPECT_LOAD_ERROR(boot_load_bzimage(&req, fx.image, 0x230, NULL, 0, &fx.entry, &fx.err),
			  "truncated");
}

Test(boot_linux, truncated_before_the_kernel)
{
	struct bz_spec s = bz_default();
	struct boot_request req = fixture_request("");

	build_bzimage(fx.image, &s);
	EXPECT_LOAD_ERROR(boot_load_bzimage(&req, fx.image, (s.setup_sects + 1) * 512u, NULL, 0,
					    &fx.entry, &fx.err), "truncated");
	cr_assert_not_null(strstr(fx.err.msg, "4 setup sectors"), "%s", fx.err.msg);
}

Test(boot_linux, bad_boot_flag)
{
	struct bz_spec s = bz_default();
	struct boot_request req = fixture_request("");
	size_t len = build_bzimage(fx.image, &s);

	fx.image[ZP_BOOT_FLAG] = 0x12;
	EXPECT_LOAD_ERROR(boot_load_bzimage(&req, fx.image, len, NULL, 0, &fx.entry, &fx.err),
			  "magic");
}

Test(boot_linux, bad_header_magic)
{
	struct bz_spec s = bz_default();
	struct boot_request req = fixture_request("");
	size_t len = build_bzimage(fx.image, &s);

	fx.image[ZP_HEADER_MAGIC] = 'X';
	cr_assert_eq(boot_detect(fx.image, len), BOOT_FORMAT_UNKNOWN);
	EXPECT_LOAD_ERROR(boot_load_bzimage(&req, fx.image, len, NULL, 0, &fx.entry, &fx.err),
			  "magic");
}

Test(boot_linux, protocol_2_10_is_too_old)
{
	struct bz_spec s = bz_default();

	s.version = 0x020a;
	EXPECT_LOAD_ERROR(load(&s, "", NULL, 0), "version 2.10 is older than 2.12");
}

Test(boot_linux, protocol_2_12_is_enough)
{
	struct bz_spec s = bz_default();

	s.version = 0x020c;
	cr_assert_eq(load(&s, "", NULL, 0), 0, "%s", fx.err.msg);
}

Test(boot_linux, not_64_bit_capable)
{
	struct bz_spec s = bz_default();

	s.xloadflags = 0x2; /* XLF_CAN_BE_LOADED_ABOVE_4G alone */
	EXPECT_LOAD_ERROR(load(&s, "", NULL, 0), "XLF_KERNEL_64");
}

Test(boot_linux, initrd_too_big)
{
	struct bz_spec s = bz_default();
	size_t big = 60 * MiB;
	uint8_t *initrd = calloc(1, big);

	EXPECT_LOAD_ERROR(load(&s, "", initrd, big), "does not fit");
	cr_assert_not_null(strstr(fx.err.msg, "initrd '/images/test-initrd' (60 MiB)"), "%s",
			   fx.err.msg);
	free(initrd);
}

Test(boot_linux, initrd_stays_below_initrd_addr_max)
{
	struct bz_spec s = bz_default();
	uint8_t initrd[4096] = { 1 };

	s.initrd_addr_max = 32 * MiB - 1;
	cr_assert_eq(load(&s, "", initrd, sizeof(initrd)), 0, "%s", fx.err.msg);
	cr_assert_leq(fx.entry.initrd_start + sizeof(initrd), 32 * MiB);
	cr_assert_geq(fx.entry.initrd_start, 24 * MiB, "still above the kernel's init_size");
}

Test(boot_linux, initrd_above_initrd_addr_max_is_refused)
{
	struct bz_spec s = bz_default();
	size_t size = 10 * MiB;
	uint8_t *initrd = calloc(1, size);

	s.initrd_addr_max = 32 * MiB - 1; /* the kernel ends at 24 MiB: 8 MiB left */
	EXPECT_LOAD_ERROR(load(&s, "", initrd, size), "below initrd_addr_max 0x1ffffff");
	free(initrd);
}

Test(boot_linux, command_line_longer_than_cmdline_size)
{
	struct bz_spec s = bz_default();
	char cmd[300];

	memset(cmd, 'a', sizeof(cmd) - 1);
	cmd[sizeof(cmd) - 1] = 0;
	s.cmdline_size = 255;
	EXPECT_LOAD_ERROR(load(&s, cmd, NULL, 0), "too long");
	cr_assert_not_null(strstr(fx.err.msg, "299"), "%s", fx.err.msg);
	cr_assert_not_null(strstr(fx.err.msg, "255"), "%s", fx.err.msg);
}

Test(boot_linux, command_line_of_exactly_cmdline_size)
{
	struct bz_spec s = bz_default();
	char cmd[256], back[256];

	memset(cmd, 'b', sizeof(cmd) - 1);
	cmd[sizeof(cmd) - 1] = 0;
	s.cmdline_size = 255;
	cr_assert_eq(load(&s, cmd, NULL, 0), 0, "%s", fx.err.msg);
	guest_string(LAYOUT_CMDLINE, back, sizeof(back));
	cr_assert_str_eq(back, cmd);
}

Test(boot_linux, four_gib_guest_gets_the_high_e820_entry)
{
	struct bz_spec s = bz_default();
	uint8_t initrd[8192] = { 3 };

	guest_mem_destroy(&fx.mem);
	cr_assert_eq(guest_mem_create(&fx.mem, 4 * GiB, LAYOUT_PCI_HOLE_START), 0);
	cr_assert_eq(load(&s, "", initrd, sizeof(initrd)), 0, "%s", fx.err.msg);
	cr_assert_eq(guest8(LAYOUT_ZERO_PAGE + ZP_E820_ENTRIES), 4);
	check_zero_page_e820();
	cr_assert_leq(fx.entry.initrd_start + sizeof(initrd), 0x80000000ULL,
		      "below initrd_addr_max (2 GiB) though low RAM reaches 3 GiB");
}

/* The whole path through files: detection picks the bzImage loader. */
Test(boot_linux, boot_load_from_files)
{
	struct bz_spec s = bz_default();
	char kernel[] = "/tmp/kiln-bz-XXXXXX", initrd[] = "/tmp/kiln-rd-XXXXXX";
	int kfd = mkstemp(kernel), ifd = mkstemp(initrd);
	size_t len = build_bzimage(fx.image, &s);
	struct boot_request req = fixture_request("x=1");
	int ret;

	cr_assert(kfd >= 0 && ifd >= 0);
	cr_assert_eq(write(kfd, fx.image, len), (ssize_t)len);
	cr_assert_eq(write(ifd, "INITRD", 6), 6);
	close(kfd);
	close(ifd);
	req.kernel_path = kernel;
	req.initrd_path = initrd;
	ret = boot_load(&req, &fx.entry, &fx.err);
	unlink(kernel);
	unlink(initrd);
	cr_assert_eq(ret, 0, "%s", fx.err.msg);
	cr_assert_eq(fx.entry.format, BOOT_FORMAT_BZIMAGE);
	cr_assert_eq(fx.entry.initrd_size, 6);
	cr_assert_eq(guest8(fx.entry.initrd_start + 5), 'D');
}

Test(boot_linux, missing_kernel_and_initrd_files)
{
	struct bz_spec s = bz_default();
	char kernel[] = "/tmp/kiln-bz-XXXXXX";
	int kfd = mkstemp(kernel);
	size_t len = build_bzimage(fx.image, &s);
	struct boot_request req = fixture_request("");

	req.kernel_path = "/nonexistent/vmlinuz";
	EXPECT_LOAD_ERROR(boot_load(&req, &fx.entry, &fx.err),
			  "kernel '/nonexistent/vmlinuz': no such file");
	cr_assert_eq(fx.err.code, -ENOENT);
	cr_assert_eq(write(kfd, fx.image, len), (ssize_t)len);
	close(kfd);
	req.kernel_path = kernel;
	req.initrd_path = "/nonexistent/initrd.img";
	EXPECT_LOAD_ERROR(boot_load(&req, &fx.entry, &fx.err),
			  "initrd '/nonexistent/initrd.img': no such file");
	req.kernel_path = "/tmp";
	EXPECT_LOAD_ERROR(boot_load(&req, &fx.entry, &fx.err), "not a regular file");
	unlink(kernel);
}
