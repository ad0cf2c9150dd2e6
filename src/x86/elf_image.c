// SPDX-License-Identifier: MIT
#include "x86/elf_image.h"

#include <elf.h>
#include <errno.h>
#include <string.h>

bool elf_is_elf(const uint8_t *image, size_t len)
{
	return len >= SELFMAG && memcmp(image, ELFMAG, SELFMAG) == 0;
}

static bool range_ok(uint64_t offset, uint64_t size, size_t len)
{
	return offset <= len && size <= len - offset;
}

static void segment_from_phdr64(struct elf_segment *s, const Elf64_Phdr *p)
{
	s->type = p->p_type;
	s->offset = p->p_offset;
	s->vaddr = p->p_vaddr;
	s->paddr = p->p_paddr;
	s->filesz = p->p_filesz;
	s->memsz = p->p_memsz;
}

static void segment_from_phdr32(struct elf_segment *s, const Elf32_Phdr *p)
{
	s->type = p->p_type;
	s->offset = p->p_offset;
	s->vaddr = p->p_vaddr;
	s->paddr = p->p_paddr;
	s->filesz = p->p_filesz;
	s->memsz = p->p_memsz;
}

static int read_headers(const uint8_t *image, size_t len, const char *name,
			struct elf_image *elf, uint64_t *phoff, unsigned int *phnum,
			unsigned int *phentsize, struct kiln_err *err)
{
	if (image[EI_CLASS] == ELFCLASS64) {
		Elf64_Ehdr eh;

		if (len < sizeof(eh))
			return err_set(err, -EINVAL, "kernel '%s': ELF header truncated", name);
		memcpy(&eh, image, sizeof(eh));
		if (eh.e_machine != EM_X86_64 && eh.e_machine != EM_386)
			return err_set(err, -EINVAL, "kernel '%s': ELF for machine %u, not x86",
				       name, eh.e_machine);
		elf->is64 = true;
		elf->entry = eh.e_entry;
		*phoff = eh.e_phoff;
		*phnum = eh.e_phnum;
		*phentsize = eh.e_phentsize;
		return sizeof(Elf64_Phdr);
	}
	if (image[EI_CLASS] == ELFCLASS32) {
		Elf32_Ehdr eh;

		if (len < sizeof(eh))
			return err_set(err, -EINVAL, "kernel '%s': ELF header truncated", name);
		memcpy(&eh, image, sizeof(eh));
		if (eh.e_machine != EM_386 && eh.e_machine != EM_X86_64)
			return err_set(err, -EINVAL, "kernel '%s': ELF for machine %u, not x86",
				       name, eh.e_machine);
		elf->is64 = false;
		elf->entry = eh.e_entry;
		*phoff = eh.e_phoff;
		*phnum = eh.e_phnum;
		*phentsize = eh.e_phentsize;
		return sizeof(Elf32_Phdr);
	}
	return err_set(err, -EINVAL, "kernel '%s': unknown ELF class %u", name, image[EI_CLASS]);
}

int elf_parse(const uint8_t *image, size_t len, const char *name, struct elf_image *elf,
	      struct kiln_err *err)
{
	uint64_t phoff = 0;
	unsigned int phnum = 0, phentsize = 0;
	int expected;

	memset(elf, 0, sizeof(*elf));
	if (!elf_is_elf(image, len) || len < EI_NIDENT)
		return err_set(err, -EINVAL, "kernel '%s': not an ELF file", name);
	if (image[EI_DATA] != ELFDATA2LSB)
		return err_set(err, -EINVAL, "kernel '%s': ELF is not little-endian", name);
	expected = read_headers(image, len, name, elf, &phoff, &phnum, &phentsize, err);
	if (expected < 0)
		return expected;
	if (phnum == 0 || phentsize != (unsigned int)expected)
		return err_set(err, -EINVAL, "kernel '%s': ELF has no usable program headers", name);
	if (phnum > ELF_MAX_SEGMENTS)
		return err_set(err, -EINVAL, "kernel '%s': %u program headers (at most %d)", name,
			       phnum, ELF_MAX_SEGMENTS);
	if (!range_ok(phoff, (uint64_t)phnum * phentsize, len))
		return err_set(err, -EINVAL, "kernel '%s': program headers past the end of the file "
			       "(truncated?)", name);
	for (unsigned int i = 0; i < phnum; i++) {
		struct elf_segment *s = &elf->segments[i];
		const uint8_t *p = image + phoff + (uint64_t)i * phentsize;

		if (elf->is64) {
			Elf64_Phdr ph;

			memcpy(&ph, p, sizeof(ph));
			segment_from_phdr64(s, &ph);
		} else {
			Elf32_Phdr ph;

			memcpy(&ph, p, sizeof(ph));
			segment_from_phdr32(s, &ph);
		}
		if (s->type == PT_LOAD && s->filesz > s->memsz)
			return err_set(err, -EINVAL, "kernel '%s': segment %u has file size above "
				       "memory size", name, i);
		if ((s->type == PT_LOAD || s->type == PT_NOTE) &&
		    !range_ok(s->offset, s->filesz, len))
			return err_set(err, -EINVAL, "kernel '%s': segment %u lies past the end of "
				       "the file (truncated?)", name, i);
	}
	elf->nr_segments = phnum;
	return 0;
}

/* Notes: namesz, descsz, type, then name and desc each padded to 4 bytes. */
bool elf_find_note(const uint8_t *image, const struct elf_image *elf, const char *owner,
		   uint32_t type, const uint8_t **desc, uint32_t *desc_len)
{
	size_t owner_len = strlen(owner) + 1;

	for (unsigned int i = 0; i < elf->nr_segments; i++) {
		const struct elf_segment *s = &elf->segments[i];
		const uint8_t *p;
		uint64_t left = s->filesz;

		/* Only note and load segments had their offsets checked. */
		if (s->type != PT_NOTE)
			continue;
		p = image + s->offset;
		while (left >= 12) {
			uint32_t hdr[3];
			uint64_t name_pad, desc_pad;

			memcpy(hdr, p, sizeof(hdr));
			name_pad = ((uint64_t)hdr[0] + 3) & ~3ULL;
			desc_pad = ((uint64_t)hdr[1] + 3) & ~3ULL;
			if (name_pad + desc_pad > left - 12)
				break;
			if (hdr[2] == type && hdr[0] == owner_len &&
			    memcmp(p + 12, owner, owner_len) == 0) {
				*desc = p + 12 + name_pad;
				*desc_len = hdr[1];
				return true;
			}
			p += 12 + name_pad + desc_pad;
			left -= 12 + name_pad + desc_pad;
		}
	}
	return false;
}
