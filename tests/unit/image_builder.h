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
	uint64_t vaddr;            /* 0: same as paddr */
};

struct elf_spec {
	bool is64;
	uint64_t entry;
	unsigned int nr_segs;
	struct elf_seg_spec segs[4];
	bool pvh_note;             /* Xen PHYS32_ENTRY note with pvh_entry */
	uint32_t pvh_entry;
	bool pvh_note_quad;        /* 8-byte descriptor, as 64-bit Linux emits it */
	bool other_note_first;     /* a GNU build-id note before the Xen one */
	bool multiboot;            /* multiboot header at the start of segment 0's data */
	uint32_t multiboot_flags;
	uint16_t machine;          /* 0: EM_X86_64 for ELF64, EM_386 for ELF32 */
};

/* Returns the image length (buf must hold 64 KiB plus the segments). */
size_t build_elf(uint8_t *buf, const struct elf_spec *spec);

/* Multiboot with flag 16 (the "a.out kludge"): a raw binary whose header
 * gives the load addresses. The file is loaded from its first byte. */
struct aout_spec {
	uint32_t load_addr;
	size_t header_offset;      /* 4-byte aligned, < 8 KiB */
	size_t file_len;           /* bytes loaded from the file */
	uint32_t bss_len;          /* zeroed after them */
	uint32_t entry_offset;     /* entry_addr = load_addr + entry_offset */
	bool load_end_zero;        /* load_end_addr 0: load the whole file */
};

/* Returns the file length (file_len). */
size_t build_multiboot_aout(uint8_t *buf, const struct aout_spec *spec);

/* Byte i of segment s's file contents, for checking what was loaded. */
uint8_t seg_pattern(unsigned int s, uint64_t i);

#endif
