/* SPDX-License-Identifier: MIT */
/*
 * Kernel loading. The image format is detected from the file's contents:
 *   - multiboot v1 header (magic 0x1BADB002, 4-byte aligned, valid checksum,
 *     in the first 8 KiB): ELF32/ELF64 PT_LOADs at p_paddr, or the header's
 *     addresses when flag 16 is set; info at LAYOUT_MB_INFO; enters 32-bit
 *     protected mode, paging off, EAX = 0x2BADB002, EBX = info
 *   - ELF with the Xen note PHYS32_ENTRY (18): PVH; hvm_start_info at
 *     LAYOUT_START_INFO; 32-bit protected mode, paging off, EBX = start info
 *   - "HdrS" at 0x202: bzImage, 64-bit Linux boot protocol (>= 2.12); zero
 *     page at LAYOUT_ZERO_PAGE; long mode at load address + 0x200, RSI =
 *     zero page
 * Every loader refuses images that are truncated, lie outside RAM, overlap
 * each other or kiln's own areas, with one precise line in struct kiln_err.
 * Loaders write guest RAM only through the guest-memory API and describe the
 * entry state in struct boot_entry; boot_cpu.c turns that into registers.
 */
#ifndef KILN_X86_BOOT_H
#define KILN_X86_BOOT_H

#include <stddef.h>
#include <stdint.h>

#include "util/error.h"
#include "vm/memory.h"

enum boot_format {
	BOOT_FORMAT_UNKNOWN = 0,
	BOOT_FORMAT_BZIMAGE,
	BOOT_FORMAT_PVH,
	BOOT_FORMAT_MULTIBOOT,
};

/* The CPU mode the boot CPU starts in. */
enum boot_cpu_mode {
	BOOT_MODE_PROTECTED32,   /* flat 4 GiB segments, paging off */
	BOOT_MODE_LONG64,        /* identity-mapped first 4 GiB, 64-bit CS */
};

struct boot_request {
	const struct guest_memory *mem;
	const char *kernel_path;
	const char *initrd_path;    /* NULL: none */
	const char *cmdline;        /* never NULL; may be "" */
	uint64_t rsdp_gpa;          /* 0: no ACPI tables */
	const char *linux_cmdline_extra; /* appended for bzImage/PVH kernels, or NULL */
};

struct boot_entry {
	enum boot_format format;
	enum boot_cpu_mode mode;
	uint64_t rip;
	uint64_t rsi;          /* Linux: zero page */
	uint64_t rax;          /* multiboot: 0x2BADB002 */
	uint64_t rbx;          /* multiboot info / PVH start info */
	/* What was loaded where, for diagnostics and tests. */
	uint64_t kernel_start, kernel_end;
	uint64_t initrd_start, initrd_size;
};

/* Which loader an image needs, from its first bytes (len may be short). */
enum boot_format boot_detect(const uint8_t *image, size_t len);

/* Offset of a valid multiboot v1 header in the first 8 KiB, or -1. */
long multiboot_find_header(const uint8_t *image, size_t len);

/* The kernel (and initrd, when not NULL) exist and the kernel is an image
 * kiln can load: checked before anything else, so the first error a user
 * sees names the first problem. */
int boot_check(const char *kernel_path, const char *initrd_path, struct kiln_err *err);

/* Detect, validate and load; on error fills err with one precise line. */
int boot_load(const struct boot_request *req, struct boot_entry *entry, struct kiln_err *err);

/*
 * Per-format loaders over an image already in memory (tests call these).
 * initrd NULL: no initrd; non-NULL with initrd_len 0: an empty one.
 * req->initrd_path names it in messages and must be set when initrd is.
 */
int boot_load_bzimage(const struct boot_request *req, const uint8_t *image, size_t len,
		      const uint8_t *initrd, size_t initrd_len,
		      struct boot_entry *entry, struct kiln_err *err);
int boot_load_pvh(const struct boot_request *req, const uint8_t *image, size_t len,
		  const uint8_t *initrd, size_t initrd_len,
		  struct boot_entry *entry, struct kiln_err *err);
int boot_load_multiboot(const struct boot_request *req, const uint8_t *image, size_t len,
			const uint8_t *initrd, size_t initrd_len,
			struct boot_entry *entry, struct kiln_err *err);

#endif
