/* SPDX-License-Identifier: MIT */
/* Placing an ELF image's PT_LOAD segments in guest RAM, shared by the PVH
 * and multiboot loaders: every segment inside RAM, clear of kiln's fixed
 * areas and of each other. */
#ifndef KILN_X86_BOOT_SEGMENTS_H
#define KILN_X86_BOOT_SEGMENTS_H

#include "x86/boot.h"
#include "x86/elf_image.h"

struct boot_span {
	uint64_t start, end;   /* [start, end) */
	const char *what;
};

/*
 * Check and copy every PT_LOAD of elf (file bytes, then zeros to memsz).
 * reserved lists guest areas kiln needs for itself. On success *lowest and
 * *highest bound all loaded bytes.
 */
int boot_place_segments(const struct boot_request *req, const uint8_t *image,
			const struct elf_image *elf, const struct boot_span *reserved,
			unsigned int nr_reserved, uint64_t *lowest, uint64_t *highest,
			struct kiln_err *err);

/*
 * The guest-physical 32-bit entry address for entry, which must lie inside
 * a loaded PT_LOAD: by virtual address first (translated to p_paddr, as
 * multiboot loaders do for kernels linked high), then by physical address
 * when from_vaddr is false or no segment's virtual range holds it.
 */
int boot_elf_entry(const struct boot_request *req, const struct elf_image *elf, uint64_t entry,
		   bool from_vaddr, uint64_t *phys, struct kiln_err *err);

/* Copy bytes to guest RAM, or explain which range did not fit. */
int boot_copy(const struct boot_request *req, uint64_t gpa, const void *src, uint64_t len,
	      const char *what, struct kiln_err *err);

/* "300 MiB", "12 KiB" or "17 bytes": sizes in messages; returns buf. */
const char *boot_size_text(uint64_t bytes, char buf[32]);

/* Zero len bytes of guest RAM at gpa (a bss), or explain which range did not fit. */
int boot_zero(const struct boot_request *req, uint64_t gpa, uint64_t len, const char *what,
	      struct kiln_err *err);

#endif
