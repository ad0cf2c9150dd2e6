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

/* Copy bytes to guest RAM, or explain which range did not fit. */
int boot_copy(const struct boot_request *req, uint64_t gpa, const void *src, uint64_t len,
	      const char *what, struct kiln_err *err);

#endif
