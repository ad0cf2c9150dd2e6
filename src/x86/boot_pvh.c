// SPDX-License-Identifier: MIT
/*
 * PVH entry: an ELF vmlinux whose Xen note XEN_ELFNOTE_PHYS32_ENTRY gives a
 * 32-bit entry point. The kernel gets an hvm_start_info (memory map,
 * command line, initrd as module 0, RSDP) in EBX, protected mode, paging
 * off. It skips the bzImage's self-decompression.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "x86/boot_segments.h"
#include "x86/layout.h"

#define XEN_ELFNOTE_PHYS32_ENTRY 18
#define HVM_START_MAGIC          0x336ec578u

struct hvm_start_info {
	uint32_t magic, version, flags, nr_modules;
	uint64_t modlist_paddr, cmdline_paddr, rsdp_paddr, memmap_paddr;
	uint32_t memmap_entries, reserved;
};

struct hvm_modlist_entry {
	uint64_t paddr, size, cmdline_paddr, reserved;
};

struct hvm_memmap_entry {
	uint64_t addr, size;
	uint32_t type, reserved;
};

_Static_assert(sizeof(struct hvm_start_info) == 56, "hvm_start_info layout (version 1)");
_Static_assert(sizeof(struct hvm_modlist_entry) == 32, "hvm_modlist_entry layout");
_Static_assert(sizeof(struct hvm_memmap_entry) == 24, "hvm_memmap_table_entry layout");

#define PVH_MODLIST_ADDR (LAYOUT_START_INFO + 0x100)
#define PVH_MEMMAP_ADDR  (LAYOUT_START_INFO + 0x200)

static int pvh_entry_point(const struct boot_request *req, const uint8_t *image,
			   const struct elf_image *elf, uint64_t *entry, struct kiln_err *err)
{
	const uint8_t *desc;
	uint32_t desc_len, entry32;

	if (!elf_find_note(image, elf, "Xen", XEN_ELFNOTE_PHYS32_ENTRY, &desc, &desc_len))
		return err_set(err, -EINVAL, "kernel '%s': ELF has no PVH entry note",
			       req->kernel_path);
	if (desc_len != 4 && desc_len != 8)
		return err_set(err, -EINVAL, "kernel '%s': PVH entry note has %u bytes (4 or 8 "
			       "expected)", req->kernel_path, desc_len);
	memcpy(&entry32, desc, 4); /* a 32-bit entry, even when stored as 8 bytes */
	*entry = entry32;
	return 0;
}

static int pvh_write_memmap(const struct boot_request *req, struct hvm_start_info *info,
			    struct kiln_err *err)
{
	struct e820_entry e820[LAYOUT_E820_MAX];
	struct hvm_memmap_entry map[LAYOUT_E820_MAX];
	int n = layout_e820(req->mem, e820, LAYOUT_E820_MAX);

	if (n < 0)
		return err_set(err, n, "cannot build the memory map");
	for (int i = 0; i < n; i++)
		map[i] = (struct hvm_memmap_entry){ e820[i].addr, e820[i].size, e820[i].type, 0 };
	info->memmap_paddr = PVH_MEMMAP_ADDR;
	info->memmap_entries = (uint32_t)n;
	return boot_copy(req, PVH_MEMMAP_ADDR, map, n * sizeof(map[0]), "PVH memory map", err);
}

/* The initrd goes as high in low RAM as it fits, above the kernel. */
static int pvh_write_initrd(const struct boot_request *req, struct hvm_start_info *info,
			    const uint8_t *initrd, size_t initrd_len, struct boot_entry *entry,
			    struct kiln_err *err)
{
	uint64_t top = layout_low_ram_end(req->mem);
	uint64_t floor = (entry->kernel_end + 0xfff) & ~0xfffULL;
	uint64_t start = (top - initrd_len) & ~0xfffULL;
	struct hvm_modlist_entry mod;
	char size[32];

	if (floor < LAYOUT_HIGH_MEMORY)
		floor = LAYOUT_HIGH_MEMORY; /* never into the legacy area and ACPI tables */
	if (initrd_len > top || start < floor)
		return err_set(err, -E2BIG, "initrd '%s' (%s) does not fit in guest RAM between "
			       "the kernel (ends at 0x%" PRIx64 ") and the end of low RAM 0x%" PRIx64,
			       req->initrd_path, boot_size_text(initrd_len, size),
			       entry->kernel_end, top);
	mod = (struct hvm_modlist_entry){ .paddr = start, .size = initrd_len };
	info->nr_modules = 1;
	info->modlist_paddr = PVH_MODLIST_ADDR;
	entry->initrd_start = start;
	entry->initrd_size = initrd_len;
	if (boot_copy(req, start, initrd, initrd_len, "initrd", err))
		return err->code;
	return boot_copy(req, PVH_MODLIST_ADDR, &mod, sizeof(mod), "PVH module list", err);
}

int boot_load_pvh(const struct boot_request *req, const uint8_t *image, size_t len,
		  const uint8_t *initrd, size_t initrd_len,
		  struct boot_entry *entry, struct kiln_err *err)
{
	static const struct boot_span reserved[] = {
		{ 0, LAYOUT_CMDLINE + LAYOUT_CMDLINE_MAX, "kiln's boot data area" },
		{ LAYOUT_LOW_RAM_END, LAYOUT_HIGH_MEMORY, "the legacy BIOS and ACPI area" },
	};
	struct hvm_start_info info = { .magic = HVM_START_MAGIC, .version = 1 };
	size_t cmdline_len = strlen(req->cmdline) + 1;
	struct elf_image elf;
	int ret;

	memset(entry, 0, sizeof(*entry));
	entry->format = BOOT_FORMAT_PVH;
	entry->mode = BOOT_MODE_PROTECTED32;
	ret = elf_parse(image, len, req->kernel_path, &elf, err);
	if (!ret)
		ret = pvh_entry_point(req, image, &elf, &entry->rip, err);
	if (!ret)
		ret = boot_place_segments(req, image, &elf, reserved, 2, &entry->kernel_start,
					  &entry->kernel_end, err);
	if (!ret) /* the note's entry is already physical */
		ret = boot_elf_entry(req, &elf, entry->rip, false, &entry->rip, err);
	if (ret)
		return ret;
	if (cmdline_len > LAYOUT_CMDLINE_MAX)
		return err_set(err, -E2BIG, "command line too long (%zu bytes, at most %llu)",
			       cmdline_len - 1, LAYOUT_CMDLINE_MAX - 1);
	info.cmdline_paddr = LAYOUT_CMDLINE;
	info.rsdp_paddr = req->rsdp_gpa;
	ret = boot_copy(req, LAYOUT_CMDLINE, req->cmdline, cmdline_len, "command line", err);
	if (!ret)
		ret = pvh_write_memmap(req, &info, err);
	if (!ret && initrd)
		ret = pvh_write_initrd(req, &info, initrd, initrd_len, entry, err);
	if (!ret)
		ret = boot_copy(req, LAYOUT_START_INFO, &info, sizeof(info), "PVH start info", err);
	entry->rbx = LAYOUT_START_INFO;
	return ret;
}
