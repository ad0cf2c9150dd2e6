// SPDX-License-Identifier: MIT
/* The PVH loader (ELF vmlinux with a Xen PHYS32_ENTRY note) on crafted images. */
#include <elf.h>
#include <unistd.h>

#include "boot_fixture.h"
#include "image_builder.h"

/* struct hvm_start_info (version 1), xen/include/public/arch-x86/hvm/start_info.h. */
#define SI_MAGIC          0
#define SI_VERSION        4
#define SI_FLAGS          8
#define SI_NR_MODULES     12
#define SI_MODLIST_PADDR  16
#define SI_CMDLINE_PADDR  24
#define SI_RSDP_PADDR     32
#define SI_MEMMAP_PADDR   40
#define SI_MEMMAP_ENTRIES 48
#define SI_RESERVED       52
#define MEMMAP_ENTRY_SIZE 24   /* addr, size, type, reserved */
#define MODLIST_ENTRY_SIZE 32  /* paddr, size, cmdline_paddr, reserved */

TestSuite(boot_pvh, .init = fixture_setup, .fini = fixture_teardown);

static struct elf_spec pvh_spec(bool is64)
{
	return (struct elf_spec){
		.is64 = is64, .entry = 0xffffffff81000000ULL, .nr_segs = 2,
		.segs = { { 0x1000000, 0x3000, 0x5000, 0 }, { 0x1800000, 0x1000, 0x1000, 0 } },
		.pvh_note = true, .pvh_entry = 0x1000040,
	};
}

static int load(const struct elf_spec *spec, const char *cmdline, const uint8_t *initrd,
		size_t initrd_len)
{
	struct boot_request req = fixture_request(cmdline);
	size_t len = build_elf(fx.image, spec);

	return boot_load_pvh(&req, fx.image, len, initrd, initrd_len, &fx.entry, &fx.err);
}

static void check_segments_loaded(const struct elf_spec *s)
{
	for (unsigned int i = 0; i < s->nr_segs; i++) {
		const struct elf_seg_spec *seg = &s->segs[i];

		for (uint64_t b = 0; b < seg->filesz; b += 257)
			cr_assert_eq(guest8(seg->paddr + b), seg_pattern(i, b), "seg %u byte %lu", i, b);
		for (uint64_t b = seg->filesz; b < seg->memsz; b += 509)
			cr_assert_eq(guest8(seg->paddr + b), 0, "seg %u bss byte %lu", i, b);
	}
}

static void check_memmap(uint64_t si)
{
	struct e820_entry want[LAYOUT_E820_MAX];
	int n = layout_e820(&fx.mem, want, LAYOUT_E820_MAX);
	uint64_t map = guest64(si + SI_MEMMAP_PADDR);

	cr_assert_gt(n, 0);
	cr_assert_eq(guest32(si + SI_MEMMAP_ENTRIES), (uint32_t)n);
	for (int i = 0; i < n; i++) {
		uint64_t e = map + (uint64_t)i * MEMMAP_ENTRY_SIZE;

		cr_assert_eq(guest64(e), want[i].addr, "memmap[%d].addr", i);
		cr_assert_eq(guest64(e + 8), want[i].size, "memmap[%d].size", i);
		cr_assert_eq(guest32(e + 16), want[i].type, "memmap[%d].type", i);
		cr_assert_eq(guest32(e + 20), 0, "memmap[%d].reserved", i);
	}
}

Test(boot_pvh, good_elf64_with_start_info)
{
	struct elf_spec s = pvh_spec(true);
	uint8_t initrd[10000];
	uint64_t si = LAYOUT_START_INFO, mod;
	char cmd[32];

	for (size_t i = 0; i < sizeof(initrd); i++)
		initrd[i] = (uint8_t)(i * 3);
	memset(guest_mem_ptr(&fx.mem, 0x1000000, 0x5000), 0xee, 0x5000); /* dirty bss */
	cr_assert_eq(boot_detect(fx.image, build_elf(fx.image, &s)), BOOT_FORMAT_PVH);
	cr_assert_eq(load(&s, "root=/dev/vda", initrd, sizeof(initrd)), 0, "%s", fx.err.msg);
	cr_assert_eq(fx.entry.format, BOOT_FORMAT_PVH);
	cr_assert_eq(fx.entry.mode, BOOT_MODE_PROTECTED32, "32-bit, paging off");
	cr_assert_eq(fx.entry.rip, 0x1000040, "entry from the PVH note, not e_entry");
	cr_assert_eq(fx.entry.rbx, si, "EBX = start info");
	cr_assert_eq(fx.entry.kernel_start, 0x1000000);
	cr_assert_eq(fx.entry.kernel_end, 0x1801000);
	check_segments_loaded(&s);

	cr_assert_eq(guest32(si + SI_MAGIC), 0x336ec578, "hvm_start_info magic");
	cr_assert_eq(guest32(si + SI_VERSION), 1);
	cr_assert_eq(guest32(si + SI_FLAGS), 0);
	cr_assert_eq(guest64(si + SI_RSDP_PADDR), LAYOUT_ACPI_BASE, "rsdp_paddr");
	cr_assert_eq(guest32(si + SI_RESERVED), 0);
	guest_string(guest64(si + SI_CMDLINE_PADDR), cmd, sizeof(cmd));
	cr_assert_str_eq(cmd, "root=/dev/vda");
	check_memmap(si);

	cr_assert_eq(guest32(si + SI_NR_MODULES), 1, "the initrd is module 0");
	mod = guest64(si + SI_MODLIST_PADDR);
	cr_assert_eq(guest64(mod), fx.entry.initrd_start, "module paddr");
	cr_assert_eq(guest64(mod + 8), sizeof(initrd), "module size");
	cr_assert_eq(guest64(mod + 16), 0, "no module command line");
	cr_assert_eq(fx.entry.initrd_start % 4096, 0);
	cr_assert_geq(fx.entry.initrd_start, fx.entry.kernel_end);
	cr_assert_leq(fx.entry.initrd_start + sizeof(initrd), FIXTURE_RAM);
	for (size_t i = 0; i < sizeof(initrd); i += 333)
		cr_assert_eq(guest8(fx.entry.initrd_start + i), initrd[i]);
	/* Nothing kiln wrote overlaps: the structures are disjoint. */
	cr_assert(mod >= si + 56 && guest64(si + SI_MEMMAP_PADDR) >= mod + MODLIST_ENTRY_SIZE);
}

Test(boot_pvh, good_elf32_without_initrd)
{
	struct elf_spec s = pvh_spec(false);

	cr_assert_eq(boot_detect(fx.image, build_elf(fx.image, &s)), BOOT_FORMAT_PVH);
	cr_assert_eq(load(&s, "", NULL, 0), 0, "%s", fx.err.msg);
	cr_assert_eq(fx.entry.rip, 0x1000040);
	check_segments_loaded(&s);
	cr_assert_eq(guest32(LAYOUT_START_INFO + SI_NR_MODULES), 0, "no modules");
	cr_assert_eq(guest64(LAYOUT_START_INFO + SI_MODLIST_PADDR), 0);
	cr_assert_eq(fx.entry.initrd_size, 0);
}

Test(boot_pvh, eight_byte_note_and_other_notes_first)
{
	struct elf_spec s = pvh_spec(true);

	s.pvh_note_quad = true;      /* what a 64-bit vmlinux carries */
	s.other_note_first = true;   /* the build-id note comes first in vmlinux */
	cr_assert_eq(boot_detect(fx.image, build_elf(fx.image, &s)), BOOT_FORMAT_PVH);
	cr_assert_eq(load(&s, "", NULL, 0), 0, "%s", fx.err.msg);
	cr_assert_eq(fx.entry.rip, 0x1000040);
}

/* Segments other than load and note ones are not loaded, so their offsets
 * are never checked and must never be used (the fuzzer found a note search
 * that made a pointer from one: undefined behaviour, caught by UBSan). */
Test(boot_pvh, other_segments_may_have_any_offset)
{
	struct elf_spec s = pvh_spec(true);
	size_t len = build_elf(fx.image, &s);
	struct boot_request req = fixture_request("");
	Elf64_Ehdr eh;
	Elf64_Phdr stack = { .p_type = PT_GNU_STACK, .p_offset = UINT64_MAX - 1,
			     .p_flags = PF_R | PF_W };

	memcpy(&eh, fx.image, sizeof(eh));
	memcpy(fx.image + eh.e_phoff + eh.e_phnum * sizeof(stack), &stack, sizeof(stack));
	eh.e_phnum++;
	memcpy(fx.image, &eh, sizeof(eh));
	cr_assert_eq(boot_load_pvh(&req, fx.image, len, NULL, 0, &fx.entry, &fx.err), 0, "%s",
		     fx.err.msg);
	cr_assert_eq(fx.entry.rip, 0x1000040, "the PVH note is still found");
}

Test(boot_pvh, no_note_is_an_unknown_format)
{
	struct elf_spec s = pvh_spec(true);
	char path[] = "/tmp/kiln-elf-XXXXXX";
	int fd = mkstemp(path);
	size_t len;
	struct boot_request req = fixture_request("");
	int ret;

	s.pvh_note = false;
	len = build_elf(fx.image, &s);
	cr_assert_eq(boot_detect(fx.image, len), BOOT_FORMAT_UNKNOWN);
	EXPECT_LOAD_ERROR(load(&s, "", NULL, 0), "no PVH entry note");
	cr_assert_eq(write(fd, fx.image, len), (ssize_t)len);
	close(fd);
	req.kernel_path = path;
	req.initrd_path = NULL;
	memset(&fx.err, 0, sizeof(fx.err));
	ret = boot_load(&req, &fx.entry, &fx.err);
	unlink(path);
	cr_assert_lt(ret, 0);
	cr_assert_not_null(strstr(fx.err.msg, "ELF without a PVH entry note or a multiboot header"),
			   "%s", fx.err.msg);
	cr_assert_not_null(strstr(fx.err.msg, path), "%s", fx.err.msg);
}

Test(boot_pvh, segment_outside_ram)
{
	struct elf_spec s = pvh_spec(true);

	s.segs[1].paddr = 63 * MiB;
	s.segs[1].memsz = 2 * MiB;
	EXPECT_LOAD_ERROR(load(&s, "", NULL, 0), "segment 1 [0x3f00000-0x4100000) lies outside "
						 "guest RAM (64 MiB)");
}

Test(boot_pvh, segment_in_the_pci_hole_of_a_big_guest)
{
	struct elf_spec s = pvh_spec(true);

	guest_mem_destroy(&fx.mem);
	cr_assert_eq(guest_mem_create(&fx.mem, 4 * GiB, LAYOUT_PCI_HOLE_START), 0);
	s.segs[1].paddr = 3 * GiB - 0x1000;
	s.segs[1].memsz = 0x2000;
	EXPECT_LOAD_ERROR(load(&s, "", NULL, 0), "outside guest RAM");
}

Test(boot_pvh, segment_address_wraps)
{
	struct elf_spec s = pvh_spec(true);

	s.segs[1].paddr = UINT64_MAX - 0xfff;
	s.segs[1].memsz = 0x2000;
	EXPECT_LOAD_ERROR(load(&s, "", NULL, 0), "outside guest RAM");
}

Test(boot_pvh, overlapping_segments)
{
	struct elf_spec s = pvh_spec(true);

	s.segs[1].paddr = 0x1004000; /* inside segment 0's bss */
	EXPECT_LOAD_ERROR(load(&s, "", NULL, 0), "segments 0 and 1 overlap");
}

Test(boot_pvh, segment_over_kilns_boot_data)
{
	struct elf_spec s = pvh_spec(true);

	s.segs[1].paddr = LAYOUT_START_INFO;
	EXPECT_LOAD_ERROR(load(&s, "", NULL, 0), "overlaps kiln's boot data area");
}

Test(boot_pvh, segment_over_the_legacy_area)
{
	struct elf_spec s = pvh_spec(true);

	s.segs[1].paddr = 0xa0000;
	EXPECT_LOAD_ERROR(load(&s, "", NULL, 0), "legacy BIOS and ACPI area");
}

Test(boot_pvh, entry_outside_every_segment)
{
	struct elf_spec s = pvh_spec(true);

	s.pvh_entry = 0x2000000;
	EXPECT_LOAD_ERROR(load(&s, "", NULL, 0), "entry point 0x2000000 is not inside any "
						 "loadable segment");
}

Test(boot_pvh, truncated_segment_data)
{
	struct elf_spec s = pvh_spec(true);
	struct boot_request req = fixture_request("");
	size_t len = build_elf(fx.image, &s);

	EXPECT_LOAD_ERROR(boot_load_pvh(&req, fx.image, len - 0x800, NULL, 0, &fx.entry, &fx.err),
			  "segment 1 lies past the end of the file (truncated?)");
}

Test(boot_pvh, truncated_headers)
{
	struct elf_spec s = pvh_spec(true);
	struct boot_request req = fixture_request("");

	build_elf(fx.image, &s);
	EXPECT_LOAD_ERROR(boot_load_pvh(&req, fx.image, 40, NULL, 0, &fx.entry, &fx.err),
			  "ELF header truncated");
	EXPECT_LOAD_ERROR(boot_load_pvh(&req, fx.image, 100, NULL, 0, &fx.entry, &fx.err),
			  "program headers past the end of the file");
}

Test(boot_pvh, wrong_machine_and_byte_order)
{
	struct elf_spec s = pvh_spec(true);
	struct boot_request req = fixture_request("");
	size_t len;

	s.machine = EM_AARCH64;
	EXPECT_LOAD_ERROR(load(&s, "", NULL, 0), "not x86");
	s.machine = 0;
	len = build_elf(fx.image, &s);
	fx.image[EI_DATA] = ELFDATA2MSB;
	EXPECT_LOAD_ERROR(boot_load_pvh(&req, fx.image, len, NULL, 0, &fx.entry, &fx.err),
			  "not little-endian");
}

Test(boot_pvh, initrd_too_big)
{
	struct elf_spec s = pvh_spec(true);
	size_t big = 50 * MiB;
	uint8_t *initrd = calloc(1, big);

	EXPECT_LOAD_ERROR(load(&s, "", initrd, big), "initrd '/images/test-initrd' (50 MiB) does "
						     "not fit");
	free(initrd);
}

Test(boot_pvh, command_line_too_long)
{
	struct elf_spec s = pvh_spec(true);
	size_t len = LAYOUT_CMDLINE_MAX + 10;
	char *cmd = malloc(len);

	memset(cmd, 'c', len - 1);
	cmd[len - 1] = 0;
	EXPECT_LOAD_ERROR(load(&s, cmd, NULL, 0), "command line too long");
	free(cmd);
}
