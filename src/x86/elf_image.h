/* SPDX-License-Identifier: MIT */
/*
 * Reading an ELF kernel image held in memory: ELF32 and ELF64, little
 * endian, x86. Only what loaders need: validated program headers (every
 * offset and size checked against the file) and note lookup.
 */
#ifndef KILN_X86_ELF_IMAGE_H
#define KILN_X86_ELF_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

struct elf_segment {
	uint32_t type;
	uint64_t offset;    /* in the file */
	uint64_t vaddr;
	uint64_t paddr;
	uint64_t filesz;
	uint64_t memsz;
};

#define ELF_MAX_SEGMENTS 32

struct elf_image {
	bool is64;
	uint64_t entry;
	unsigned int nr_segments;
	struct elf_segment segments[ELF_MAX_SEGMENTS];
};

bool elf_is_elf(const uint8_t *image, size_t len);

/* Parse and validate; err names the image as `name`. */
int elf_parse(const uint8_t *image, size_t len, const char *name, struct elf_image *elf,
	      struct kiln_err *err);

/* Find note (owner, type) in the PT_NOTE segments; on success *desc points
 * into image and *desc_len is its length. Returns true when found. */
bool elf_find_note(const uint8_t *image, const struct elf_image *elf, const char *owner,
		   uint32_t type, const uint8_t **desc, uint32_t *desc_len);

#endif
