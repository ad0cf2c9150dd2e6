// SPDX-License-Identifier: MIT
/*
 * bzImage through the 64-bit Linux boot protocol (Documentation/arch/x86/
 * boot.rst): validate the setup header, load the protected-mode kernel at
 * its preferred address, fill the zero page (setup header, e820, command
 * line, initrd, RSDP) and enter at load address + 0x200 in long mode with
 * RSI pointing at the zero page.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "x86/boot_segments.h"
#include "x86/layout.h"

/* Setup header and zero-page offsets, from the boot protocol. */
#define HDR_SETUP_SECTS      0x1f1
#define HDR_BOOT_FLAG        0x1fe
#define HDR_JUMP             0x200
#define HDR_MAGIC            0x202
#define HDR_VERSION          0x206
#define HDR_TYPE_OF_LOADER   0x210
#define HDR_LOADFLAGS        0x211
#define HDR_RAMDISK_IMAGE    0x218
#define HDR_RAMDISK_SIZE     0x21c
#define HDR_HEAP_END_PTR     0x224
#define HDR_CMD_LINE_PTR     0x228
#define HDR_INITRD_ADDR_MAX  0x22c
#define HDR_KERNEL_ALIGNMENT 0x230
#define HDR_RELOCATABLE      0x234
#define HDR_XLOADFLAGS       0x236
#define HDR_CMDLINE_SIZE     0x238
#define HDR_PREF_ADDRESS     0x258
#define HDR_INIT_SIZE        0x260
#define ZP_ACPI_RSDP_ADDR    0x070
#define ZP_EXT_RAMDISK_IMAGE 0x0c0
#define ZP_EXT_RAMDISK_SIZE  0x0c4
#define ZP_EXT_CMD_LINE_PTR  0x0c8
#define ZP_E820_ENTRIES      0x1e8
#define ZP_E820_TABLE        0x2d0
#define ZP_E820_MAX          128
#define ZP_SIZE              4096

#define BOOT_FLAG_MAGIC      0xaa55
#define MIN_PROTOCOL         0x020c  /* 2.12: xloadflags, 64-bit entry */
#define LOADFLAG_CAN_USE_HEAP 0x80
#define XLF_KERNEL_64        (1u << 0)
#define LOADER_TYPE_UNDEFINED 0xff
#define ENTRY_64_OFFSET      0x200

struct bz_header {
	unsigned int setup_sects;
	uint16_t version;
	uint32_t initrd_addr_max, kernel_alignment, cmdline_size, init_size;
	uint8_t relocatable;
	uint16_t xloadflags;
	uint64_t pref_address;
	size_t header_end;       /* the setup header is [0x1f1, header_end) */
	size_t kernel_offset;    /* protected-mode part in the file */
};

static uint32_t get32(const uint8_t *p, size_t off) { uint32_t v; memcpy(&v, p + off, 4); return v; }
static uint16_t get16(const uint8_t *p, size_t off) { uint16_t v; memcpy(&v, p + off, 2); return v; }
static void put32(uint8_t *p, size_t off, uint32_t v) { memcpy(p + off, &v, 4); }
static void put16(uint8_t *p, size_t off, uint16_t v) { memcpy(p + off, &v, 2); }

static int parse_header(const struct boot_request *req, const uint8_t *image, size_t len,
			struct bz_header *h, struct kiln_err *err)
{
	const char *name = req->kernel_path;

	if (len < HDR_INIT_SIZE + 4)
		return err_set(err, -EINVAL, "kernel '%s': bzImage truncated in its setup header",
			       name);
	if (get16(image, HDR_BOOT_FLAG) != BOOT_FLAG_MAGIC || memcmp(image + HDR_MAGIC, "HdrS", 4))
		return err_set(err, -EINVAL, "kernel '%s': bad bzImage magic (boot flag 0x%04x)",
			       name, get16(image, HDR_BOOT_FLAG));
	h->version = get16(image, HDR_VERSION);
	if (h->version < MIN_PROTOCOL)
		return err_set(err, -EINVAL, "kernel '%s': bzImage setup header version %u.%02u is "
			       "older than 2.12 (the first with a 64-bit entry)", name,
			       h->version >> 8, h->version & 0xff);
	h->setup_sects = image[HDR_SETUP_SECTS] ? image[HDR_SETUP_SECTS] : 4;
	h->kernel_offset = (h->setup_sects + 1) * 512u;
	h->header_end = HDR_MAGIC + image[HDR_JUMP + 1];
	h->initrd_addr_max = get32(image, HDR_INITRD_ADDR_MAX);
	h->kernel_alignment = get32(image, HDR_KERNEL_ALIGNMENT);
	h->relocatable = image[HDR_RELOCATABLE];
	h->xloadflags = get16(image, HDR_XLOADFLAGS);
	h->cmdline_size = get32(image, HDR_CMDLINE_SIZE);
	h->pref_address = (uint64_t)get32(image, HDR_PREF_ADDRESS) |
			  ((uint64_t)get32(image, HDR_PREF_ADDRESS + 4) << 32);
	h->init_size = get32(image, HDR_INIT_SIZE);
	if (!(h->xloadflags & XLF_KERNEL_64))
		return err_set(err, -EINVAL, "kernel '%s': bzImage has no 64-bit entry point "
			       "(XLF_KERNEL_64 clear)", name);
	if (h->kernel_offset >= len)
		return err_set(err, -EINVAL, "kernel '%s': bzImage truncated: %u setup sectors but "
			       "%zu bytes", name, h->setup_sects, len);
	if (h->header_end > ZP_E820_TABLE || h->header_end < HDR_INIT_SIZE + 4)
		h->header_end = HDR_INIT_SIZE + 4;
	return 0;
}

/*
 * Where the kernel goes: pref_address (aligned up to kernel_alignment for a
 * relocatable kernel). Loading lower would not save RAM: a 64-bit kernel
 * decompresses at max(load address, LOAD_PHYSICAL_ADDR = pref_address), so
 * init_size bytes from pref_address must be RAM either way, and a
 * non-relocatable kernel runs only there.
 */
static int place_kernel(const struct boot_request *req, const struct bz_header *h,
			size_t kernel_len, uint64_t *load_addr, struct kiln_err *err)
{
	uint64_t addr = h->pref_address ? h->pref_address : LAYOUT_HIGH_MEMORY;
	uint64_t need = h->init_size > kernel_len ? h->init_size : kernel_len;
	uint64_t low_end = layout_low_ram_end(req->mem);
	char size[32];

	if (h->relocatable && h->kernel_alignment && (addr % h->kernel_alignment))
		addr = (addr + h->kernel_alignment - 1) / h->kernel_alignment * h->kernel_alignment;
	if (addr < LAYOUT_HIGH_MEMORY || addr >= low_end || need > low_end - addr)
		return err_set(err, -ERANGE, "kernel '%s': %s bzImage needs %s from 0x%" PRIx64
			       " (init_size) but guest RAM below 4 GiB ends at 0x%" PRIx64,
			       req->kernel_path, h->relocatable ? "relocatable" : "non-relocatable",
			       boot_size_text(need, size), addr, low_end);
	*load_addr = addr;
	return 0;
}

static int write_initrd(const struct boot_request *req, const struct bz_header *h,
			uint8_t *zp, const uint8_t *initrd, size_t initrd_len,
			struct boot_entry *entry, struct kiln_err *err)
{
	uint64_t limit = (uint64_t)h->initrd_addr_max + 1;
	uint64_t low_end = layout_low_ram_end(req->mem);
	uint64_t top = limit < low_end ? limit : low_end;
	uint64_t floor = (entry->kernel_end + 0xfff) & ~0xfffULL;
	uint64_t start;
	char size[32];

	if (initrd_len > top || ((top - initrd_len) & ~0xfffULL) < floor)
		return err_set(err, -E2BIG, "initrd '%s' (%s) does not fit below %s 0x%" PRIx64
			       " above the kernel (ends at 0x%" PRIx64 ")", req->initrd_path,
			       boot_size_text(initrd_len, size),
			       limit < low_end ? "initrd_addr_max" : "the end of low RAM",
			       limit < low_end ? top - 1 : top, floor);
	start = (top - initrd_len) & ~0xfffULL;
	if (boot_copy(req, start, initrd, initrd_len, "initrd", err))
		return err->code;
	put32(zp, HDR_RAMDISK_IMAGE, (uint32_t)start);
	put32(zp, HDR_RAMDISK_SIZE, (uint32_t)initrd_len);
	put32(zp, ZP_EXT_RAMDISK_IMAGE, (uint32_t)(start >> 32));
	put32(zp, ZP_EXT_RAMDISK_SIZE, (uint32_t)((uint64_t)initrd_len >> 32));
	entry->initrd_start = start;
	entry->initrd_size = initrd_len;
	return 0;
}

static int write_e820(const struct boot_request *req, uint8_t *zp, struct kiln_err *err)
{
	struct e820_entry e820[LAYOUT_E820_MAX];
	int n = layout_e820(req->mem, e820, LAYOUT_E820_MAX);

	if (n < 0)
		return err_set(err, n, "cannot build the e820 map");
	zp[ZP_E820_ENTRIES] = (uint8_t)n;
	memcpy(zp + ZP_E820_TABLE, e820, n * sizeof(e820[0]));
	return 0;
}

static int fill_zero_page(const struct boot_request *req, const struct bz_header *h,
			  const uint8_t *image, uint8_t *zp, struct kiln_err *err)
{
	size_t cmdline_len = strlen(req->cmdline);
	uint32_t cmdline_max = h->cmdline_size ? h->cmdline_size : 255;

	if (cmdline_len > cmdline_max || cmdline_len >= LAYOUT_CMDLINE_MAX)
		return err_set(err, -E2BIG, "command line too long: %zu bytes, this kernel takes "
			       "at most %u", cmdline_len, cmdline_max);
	memset(zp, 0, ZP_SIZE);
	memcpy(zp + HDR_SETUP_SECTS, image + HDR_SETUP_SECTS, h->header_end - HDR_SETUP_SECTS);
	zp[HDR_TYPE_OF_LOADER] = LOADER_TYPE_UNDEFINED;
	zp[HDR_LOADFLAGS] |= LOADFLAG_CAN_USE_HEAP;
	put16(zp, HDR_HEAP_END_PTR, 0xfe00 - 0x200);
	put32(zp, HDR_CMD_LINE_PTR, (uint32_t)LAYOUT_CMDLINE);
	put32(zp, ZP_EXT_CMD_LINE_PTR, 0);
	memcpy(zp + ZP_ACPI_RSDP_ADDR, &req->rsdp_gpa, 8);
	if (boot_copy(req, LAYOUT_CMDLINE, req->cmdline, cmdline_len + 1, "command line", err))
		return err->code;
	return write_e820(req, zp, err);
}

int boot_load_bzimage(const struct boot_request *req, const uint8_t *image, size_t len,
		      const uint8_t *initrd, size_t initrd_len,
		      struct boot_entry *entry, struct kiln_err *err)
{
	struct bz_header h = { 0 };
	uint8_t zp[ZP_SIZE];
	uint64_t load_addr = 0;
	size_t kernel_len;
	int ret;

	memset(entry, 0, sizeof(*entry));
	ret = parse_header(req, image, len, &h, err);
	if (ret)
		return ret;
	kernel_len = len - h.kernel_offset;
	ret = place_kernel(req, &h, kernel_len, &load_addr, err);
	if (ret)
		return ret;
	ret = boot_copy(req, load_addr, image + h.kernel_offset, kernel_len, "kernel", err);
	if (ret)
		return ret;
	entry->format = BOOT_FORMAT_BZIMAGE;
	entry->mode = BOOT_MODE_LONG64;
	entry->kernel_start = load_addr;
	entry->kernel_end = load_addr + (h.init_size > kernel_len ? h.init_size : kernel_len);
	entry->rip = load_addr + ENTRY_64_OFFSET;
	entry->rsi = LAYOUT_ZERO_PAGE;
	ret = fill_zero_page(req, &h, image, zp, err);
	if (!ret && initrd)
		ret = write_initrd(req, &h, zp, initrd, initrd_len, entry, err);
	if (!ret)
		ret = boot_copy(req, LAYOUT_ZERO_PAGE, zp, sizeof(zp), "zero page", err);
	return ret;
}
