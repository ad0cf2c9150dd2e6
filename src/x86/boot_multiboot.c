// SPDX-License-Identifier: MIT
/*
 * Multiboot v1 (Multiboot Specification 0.6.96): find the header in the
 * first 8 KiB, load the image (ELF PT_LOADs at p_paddr, or the a.out-kludge
 * addresses when flag 16 is set), build the info structure, and enter in
 * 32-bit protected mode with paging off.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "x86/boot_segments.h"
#include "x86/layout.h"

#define MB_HEADER_MAGIC     0x1badb002u
#define MB_BOOTLOADER_MAGIC 0x2badb002u
#define MB_SEARCH_LEN       8192
#define MB_FLAG_PAGE_ALIGN  (1u << 0)
#define MB_FLAG_MEMORY_INFO (1u << 1)
#define MB_FLAG_AOUT_KLUDGE (1u << 16)
#define MB_FLAG_VIDEO_MODE  (1u << 2)
/* Page alignment holds for everything kiln places; memory info is always given. */
#define MB_FLAGS_UNDERSTOOD (MB_FLAG_PAGE_ALIGN | MB_FLAG_MEMORY_INFO)

#define MB_INFO_MEMORY  (1u << 0)
#define MB_INFO_CMDLINE (1u << 2)
#define MB_INFO_MODS    (1u << 3)
#define MB_INFO_MMAP    (1u << 6)
#define MB_INFO_LOADER  (1u << 9)

/* Where the pieces go inside [LAYOUT_MB_INFO, LAYOUT_MB_INFO_END). */
#define MB_INFO_ADDR     (LAYOUT_MB_INFO)
#define MB_MMAP_ADDR     (LAYOUT_MB_INFO + 0x100)
#define MB_MODS_ADDR     (LAYOUT_MB_INFO + 0x300)
#define MB_LOADER_ADDR   (LAYOUT_MB_INFO + 0x340)
#define MB_MODNAME_ADDR  (LAYOUT_MB_INFO + 0x380)
#define MB_MODNAME_MAX   0x480
#define MB_CMDLINE_ADDR  (LAYOUT_MB_INFO + 0x800)
#define MB_CMDLINE_MAX   (LAYOUT_MB_INFO_END - MB_CMDLINE_ADDR)

struct mb_header {
	uint32_t magic, flags, checksum;
	uint32_t header_addr, load_addr, load_end_addr, bss_end_addr, entry_addr;
};

struct mb_info {
	uint32_t flags, mem_lower, mem_upper, boot_device, cmdline, mods_count, mods_addr;
	uint32_t syms[4];
	uint32_t mmap_length, mmap_addr, drives_length, drives_addr, config_table;
	uint32_t boot_loader_name, apm_table;
	uint32_t vbe[6];
} __attribute__((packed));

struct mb_mmap_entry {
	uint32_t size;
	uint64_t addr, len;
	uint32_t type;
} __attribute__((packed));

struct mb_module {
	uint32_t mod_start, mod_end, string, reserved;
};

/* Offset of a valid header in the first 8 KiB, or -1. */
long multiboot_find_header(const uint8_t *image, size_t len)
{
	size_t limit = len < MB_SEARCH_LEN ? len : MB_SEARCH_LEN;

	for (size_t off = 0; off + 12 <= limit; off += 4) {
		uint32_t h[3];

		memcpy(h, image + off, sizeof(h));
		if (h[0] == MB_HEADER_MAGIC && h[0] + h[1] + h[2] == 0)
			return (long)off;
	}
	return -1;
}

/* The a.out-kludge image [start, end) must be RAM and clear of kiln's areas. */
static int check_aout_range(const struct boot_request *req, uint64_t start, uint64_t end,
			    const struct boot_span *reserved, unsigned int nr_reserved,
			    struct kiln_err *err)
{
	if (!guest_mem_ptr(req->mem, start, end - start))
		return err_set(err, -ERANGE, "kernel '%s': image [0x%" PRIx64 "-0x%" PRIx64 ") lies "
			       "outside guest RAM (%" PRIu64 " MiB)", req->kernel_path, start, end,
			       req->mem->ram_size >> 20);
	for (unsigned int r = 0; r < nr_reserved; r++)
		if (start < reserved[r].end && reserved[r].start < end)
			return err_set(err, -ERANGE, "kernel '%s': image [0x%" PRIx64 "-0x%" PRIx64
				       ") overlaps %s", req->kernel_path, start, end,
				       reserved[r].what);
	return 0;
}

/* Flag 16: the header gives the load addresses, for non-ELF images. */
static int load_aout_kludge(const struct boot_request *req, const uint8_t *image, size_t len,
			    long header_off, const struct mb_header *h,
			    const struct boot_span *reserved, unsigned int nr_reserved,
			    struct boot_entry *entry, struct kiln_err *err)
{
	uint64_t file_start, load_len, load_end, end;
	int ret;

	if ((size_t)header_off + sizeof(*h) > len)
		return err_set(err, -EINVAL, "kernel '%s': multiboot header truncated (flag 16 "
			       "needs its address fields)", req->kernel_path);
	if (h->header_addr < h->load_addr || h->header_addr - h->load_addr > (uint64_t)header_off)
		return err_set(err, -EINVAL, "kernel '%s': multiboot load address is inconsistent "
			       "with the header position", req->kernel_path);
	if (h->load_end_addr && h->load_end_addr < h->load_addr)
		return err_set(err, -EINVAL, "kernel '%s': multiboot load_end_addr below load_addr",
			       req->kernel_path);
	file_start = (uint64_t)header_off - (h->header_addr - h->load_addr);
	load_len = h->load_end_addr ? (uint64_t)h->load_end_addr - h->load_addr
				    : len - file_start;
	if (load_len > len - file_start)
		return err_set(err, -EINVAL, "kernel '%s': file shorter than its multiboot load "
			       "range (truncated?)", req->kernel_path);
	load_end = h->load_addr + load_len;
	end = h->bss_end_addr > load_end ? h->bss_end_addr : load_end;
	if (end == h->load_addr)
		return err_set(err, -EINVAL, "kernel '%s': multiboot image loads nothing",
			       req->kernel_path);
	ret = check_aout_range(req, h->load_addr, end, reserved, nr_reserved, err);
	if (ret)
		return ret;
	if (h->entry_addr < h->load_addr || h->entry_addr >= end)
		return err_set(err, -EINVAL, "kernel '%s': multiboot entry 0x%x is outside the "
			       "image [0x%x-0x%" PRIx64 ")", req->kernel_path, h->entry_addr,
			       h->load_addr, end);
	ret = boot_copy(req, h->load_addr, image + file_start, load_len, "kernel", err);
	if (!ret)
		ret = boot_zero(req, load_end, end - load_end, "kernel bss", err);
	entry->kernel_start = h->load_addr;
	entry->kernel_end = end;
	entry->rip = h->entry_addr;
	return ret;
}

static int write_mmap(const struct boot_request *req, struct mb_info *info,
		      struct kiln_err *err)
{
	struct e820_entry e820[LAYOUT_E820_MAX];
	struct mb_mmap_entry entries[LAYOUT_E820_MAX];
	int n = layout_e820(req->mem, e820, LAYOUT_E820_MAX);

	if (n < 0)
		return err_set(err, n, "cannot build the memory map");
	for (int i = 0; i < n; i++)
		entries[i] = (struct mb_mmap_entry){
			.size = sizeof(entries[i]) - sizeof(uint32_t),
			.addr = e820[i].addr, .len = e820[i].size, .type = e820[i].type,
		};
	info->flags |= MB_INFO_MMAP;
	info->mmap_addr = MB_MMAP_ADDR;
	info->mmap_length = (uint32_t)(n * sizeof(entries[0]));
	return boot_copy(req, MB_MMAP_ADDR, entries, info->mmap_length, "multiboot mmap", err);
}

static int write_cmdline(const struct boot_request *req, struct mb_info *info,
			 struct kiln_err *err)
{
	size_t path_len = strlen(req->kernel_path), args_len = strlen(req->cmdline);
	char buf[MB_CMDLINE_MAX];

	/* QEMU's convention: the image path is argv[0]. */
	if (path_len + 1 + args_len + 1 > sizeof(buf))
		return err_set(err, -E2BIG, "command line too long for multiboot (%zu bytes, at "
			       "most %zu)", path_len + 1 + args_len, sizeof(buf) - 1);
	memcpy(buf, req->kernel_path, path_len);
	buf[path_len] = ' ';
	memcpy(buf + path_len + 1, req->cmdline, args_len + 1);
	if (!args_len)
		buf[path_len] = '\0';
	info->flags |= MB_INFO_CMDLINE;
	info->cmdline = MB_CMDLINE_ADDR;
	return boot_copy(req, MB_CMDLINE_ADDR, buf, strlen(buf) + 1, "command line", err);
}

static int write_module(const struct boot_request *req, struct mb_info *info,
			uint64_t highest, const uint8_t *initrd, size_t initrd_len,
			struct boot_entry *entry, struct kiln_err *err)
{
	/* Page-aligned above the image, and never in the legacy area below
	 * 1 MiB, which holds the ACPI tables, when the image sits low. */
	uint64_t floor = highest > LAYOUT_HIGH_MEMORY ? highest : LAYOUT_HIGH_MEMORY;
	uint64_t start = (floor + 0xfff) & ~0xfffULL;
	uint64_t low_end = layout_low_ram_end(req->mem);
	size_t name_len = strlen(req->initrd_path) + 1;
	struct mb_module mod;
	char size[32];

	if (start > low_end || initrd_len > low_end - start)
		return err_set(err, -E2BIG, "initrd '%s' (%s) does not fit in guest RAM between "
			       "the kernel (ends at 0x%" PRIx64 ") and the end of low RAM 0x%" PRIx64,
			       req->initrd_path, boot_size_text(initrd_len, size), highest, low_end);
	if (name_len > MB_MODNAME_MAX)
		name_len = MB_MODNAME_MAX;
	mod = (struct mb_module){
		.mod_start = (uint32_t)start, .mod_end = (uint32_t)(start + initrd_len),
		.string = MB_MODNAME_ADDR,
	};
	if (boot_copy(req, start, initrd, initrd_len, "initrd", err) ||
	    boot_copy(req, MB_MODNAME_ADDR, req->initrd_path, name_len, "module name", err) ||
	    boot_copy(req, MB_MODNAME_ADDR + name_len - 1, "", 1, "module name", err) ||
	    boot_copy(req, MB_MODS_ADDR, &mod, sizeof(mod), "module list", err))
		return err->code;
	info->flags |= MB_INFO_MODS;
	info->mods_count = 1;
	info->mods_addr = MB_MODS_ADDR;
	entry->initrd_start = start;
	entry->initrd_size = initrd_len;
	return 0;
}

static int load_image(const struct boot_request *req, const uint8_t *image, size_t len,
		      long header_off, const struct mb_header *h, struct boot_entry *entry,
		      struct kiln_err *err)
{
	/* The boot GDT is written after loading; the information area and
	 * the legacy area hold kiln's data. Page tables are not written for
	 * a 32-bit entry, so images may sit low (0x8000-0xe000). */
	static const struct boot_span reserved[] = {
		{ LAYOUT_BOOT_GDT, LAYOUT_BOOT_GDT_END, "the boot GDT" },
		{ LAYOUT_MB_INFO, LAYOUT_MB_INFO_END, "the multiboot information area" },
		{ LAYOUT_LOW_RAM_END, LAYOUT_HIGH_MEMORY, "the legacy BIOS and ACPI area" },
	};
	const unsigned int nr_reserved = sizeof(reserved) / sizeof(reserved[0]);
	struct elf_image elf;
	int ret;

	if (h->flags & MB_FLAG_AOUT_KLUDGE)
		return load_aout_kludge(req, image, len, header_off, h, reserved, nr_reserved,
					entry, err);
	if (!elf_is_elf(image, len))
		return err_set(err, -EINVAL, "kernel '%s': multiboot image is neither ELF nor has "
			       "load addresses (flag 16)", req->kernel_path);
	ret = elf_parse(image, len, req->kernel_path, &elf, err);
	if (!ret)
		ret = boot_place_segments(req, image, &elf, reserved, nr_reserved,
					  &entry->kernel_start, &entry->kernel_end, err);
	if (!ret)
		ret = boot_elf_entry(req, &elf, elf.entry, true, &entry->rip, err);
	return ret;
}

int boot_load_multiboot(const struct boot_request *req, const uint8_t *image, size_t len,
			const uint8_t *initrd, size_t initrd_len,
			struct boot_entry *entry, struct kiln_err *err)
{
	long off = multiboot_find_header(image, len);
	struct mb_header h = { 0 };
	struct mb_info info = { 0 };
	int ret;

	if (off < 0)
		return err_set(err, -EINVAL, "kernel '%s': no valid multiboot header in the first "
			       "8 KiB (bad magic or checksum)", req->kernel_path);
	memcpy(&h, image + off, len - (size_t)off < sizeof(h) ? len - (size_t)off : sizeof(h));
	if (h.flags & 0xffff & ~MB_FLAGS_UNDERSTOOD)
		return err_set(err, -ENOTSUP, "kernel '%s': multiboot flags 0x%x require %s, which "
			       "kiln does not provide", req->kernel_path, h.flags,
			       (h.flags & MB_FLAG_VIDEO_MODE) ? "a video mode (flag 2)"
							       : "features unknown to kiln");
	memset(entry, 0, sizeof(*entry));
	entry->format = BOOT_FORMAT_MULTIBOOT;
	entry->mode = BOOT_MODE_PROTECTED32;
	ret = load_image(req, image, len, off, &h, entry, err);
	if (ret)
		return ret;
	info.flags = MB_INFO_MEMORY | MB_INFO_LOADER;
	info.mem_lower = (uint32_t)(LAYOUT_LOW_RAM_END >> 10);
	info.mem_upper = (uint32_t)((layout_low_ram_end(req->mem) - LAYOUT_HIGH_MEMORY) >> 10);
	info.boot_loader_name = MB_LOADER_ADDR;
	ret = boot_copy(req, MB_LOADER_ADDR, "kiln", 5, "loader name", err);
	if (!ret)
		ret = write_mmap(req, &info, err);
	if (!ret)
		ret = write_cmdline(req, &info, err);
	if (!ret && initrd)
		ret = write_module(req, &info, entry->kernel_end, initrd, initrd_len, entry, err);
	if (!ret)
		ret = boot_copy(req, MB_INFO_ADDR, &info, sizeof(info), "multiboot info", err);
	entry->rax = MB_BOOTLOADER_MAGIC;
	entry->rbx = MB_INFO_ADDR;
	return ret;
}
