/* SPDX-License-Identifier: MIT */
/* Crafted kernel images for the loader tests: bzImage setup headers, ELF32
 * and ELF64 with PT_LOADs, a PVH note and/or a multiboot header. */
#ifndef KILN_TESTS_IMAGE_BUILDER_H
#define KILN_TESTS_IMAGE_BUILDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct bz_spec {
	uint16_t version;          /* e.g. 0x020f */
	uint16_t xloadflags;       /* bit 0: 64-bit entry */
	uint8_t relocatable;
	uint64_t pref_address;
	uint32_t init_size;
	uint32_t kernel_alignment;
	uint32_t initrd_addr_max;
	uint32_t cmdline_size;
	uint8_t setup_sects;
	size_t kernel_len;         /* protected-mode bytes after the setup */
};

struct bz_spec bz_default(void);
/* Returns the image length; buf must hold (setup_sects + 1) * 512 + kernel_len. */
size_t build_bzimage(uint8_t *buf, const struct bz_spec *spec);

struct elf_seg_spec {
	uint64_t paddr, filesz, memsz;
};

struct elf_spec {
	bool is64;
	uint64_t entry;
	unsigned int nr_segs;
	struct elf_seg_spec segs[4];
	bool pvh_note;             /* Xen PHYS32_ENTRY note with pvh_entry */
	uint32_t pvh_entry;
	bool multiboot;            /* multiboot header at the start of segment 0's data */
	uint32_t multiboot_flags;
};

/* Returns the image length (buf must hold 64 KiB plus the segments). */
size_t build_elf(uint8_t *buf, const struct elf_spec *spec);

/* Byte i of segment s's file contents, for checking what was loaded. */
uint8_t seg_pattern(unsigned int s, uint64_t i);

#endif
