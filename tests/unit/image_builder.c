// SPDX-License-Identifier: MIT
#include "image_builder.h"

#include <elf.h>
#include <string.h>

static void put16(uint8_t *p, size_t off, uint16_t v) { memcpy(p + off, &v, 2); }
static void put32(uint8_t *p, size_t off, uint32_t v) { memcpy(p + off, &v, 4); }
static void put64(uint8_t *p, size_t off, uint64_t v) { memcpy(p + off, &v, 8); }

uint8_t seg_pattern(unsigned int s, uint64_t i)
{
	return (uint8_t)(i * 31 + s * 7 + 1);
}

struct bz_spec bz_default(void)
{
	return (struct bz_spec){
		.version = 0x020f, .xloadflags = 1, .relocatable = 1,
		.pref_address = 0x1000000, .init_size = 0x800000, .kernel_alignment = 0x200000,
		.initrd_addr_max = 0x7fffffff, .cmdline_size = 2047, .setup_sects = 4,
		.kernel_len = 0x10000,
	};
}

size_t build_bzimage(uint8_t *buf, const struct bz_spec *s)
{
	size_t setup = (s->setup_sects + 1u) * 512u;

	memset(buf, 0, setup);
	buf[0x1f1] = s->setup_sects;
	put16(buf, 0x1fe, 0xaa55);
	buf[0x200] = 0xeb;                 /* jmp over the header ... */
	buf[0x201] = 0x66;                 /* ... to 0x268: the header's end */
	memcpy(buf + 0x202, "HdrS", 4);
	put16(buf, 0x206, s->version);
	buf[0x211] = 0x01;                 /* LOADED_HIGH */
	put32(buf, 0x214, 0x100000);
	put32(buf, 0x22c, s->initrd_addr_max);
	put32(buf, 0x230, s->kernel_alignment);
	buf[0x234] = s->relocatable;
	put16(buf, 0x236, s->xloadflags);
	put32(buf, 0x238, s->cmdline_size);
	put64(buf, 0x258, s->pref_address);
	put32(buf, 0x260, s->init_size);
	for (size_t i = 0; i < s->kernel_len; i++)
		buf[setup + i] = seg_pattern(0, i);
	return setup + s->kernel_len;
}

#define NOTE_OFFSET   0x400
#define DATA_OFFSET   0x1000

/* Notes: namesz, descsz, type, name and descriptor padded to 4 bytes. */
static size_t write_notes(uint8_t *buf, const struct elf_spec *s)
{
	uint8_t *n = buf + NOTE_OFFSET;
	size_t len = 0;

	if (s->other_note_first) {
		put32(n, 0, 4);            /* "GNU\0", NT_GNU_BUILD_ID, 20 bytes */
		put32(n, 4, 20);
		put32(n, 8, 3);
		memcpy(n + 12, "GNU", 4);
		memset(n + 16, 0xab, 20);
		len = 36;
	}
	put32(n + len, 0, 4);              /* "Xen\0" */
	put32(n + len, 4, s->pvh_note_quad ? 8 : 4);
	put32(n + len, 8, 18);             /* XEN_ELFNOTE_PHYS32_ENTRY */
	memcpy(n + len + 12, "Xen", 4);
	put32(n + len, 16, s->pvh_entry);
	put32(n + len, 20, 0);
	return len + (s->pvh_note_quad ? 24 : 20);
}

static void write_phdr(uint8_t *buf, bool is64, unsigned int i, uint32_t type, uint64_t off,
		       uint64_t vaddr, uint64_t paddr, uint64_t filesz, uint64_t memsz)
{
	if (is64) {
		Elf64_Phdr p = { .p_type = type, .p_offset = off, .p_vaddr = vaddr,
				 .p_paddr = paddr, .p_filesz = filesz, .p_memsz = memsz,
				 .p_flags = PF_R | PF_X, .p_align = 0x1000 };

		memcpy(buf + sizeof(Elf64_Ehdr) + i * sizeof(p), &p, sizeof(p));
	} else {
		Elf32_Phdr p = { .p_type = type, .p_offset = (uint32_t)off,
				 .p_vaddr = (uint32_t)vaddr, .p_paddr = (uint32_t)paddr,
				 .p_filesz = (uint32_t)filesz, .p_memsz = (uint32_t)memsz,
				 .p_flags = PF_R | PF_X, .p_align = 0x1000 };

		memcpy(buf + sizeof(Elf32_Ehdr) + i * sizeof(p), &p, sizeof(p));
	}
}

static void write_ehdr(uint8_t *buf, const struct elf_spec *s, unsigned int phnum)
{
	if (s->is64) {
		Elf64_Ehdr e = { .e_type = ET_EXEC, .e_machine = s->machine ? s->machine : EM_X86_64, .e_version = 1,
				 .e_entry = s->entry, .e_phoff = sizeof(Elf64_Ehdr),
				 .e_ehsize = sizeof(Elf64_Ehdr), .e_phentsize = sizeof(Elf64_Phdr),
				 .e_phnum = (uint16_t)phnum };

		memcpy(e.e_ident, ELFMAG, SELFMAG);
		e.e_ident[EI_CLASS] = ELFCLASS64;
		e.e_ident[EI_DATA] = ELFDATA2LSB;
		e.e_ident[EI_VERSION] = 1;
		memcpy(buf, &e, sizeof(e));
	} else {
		Elf32_Ehdr e = { .e_type = ET_EXEC, .e_machine = s->machine ? s->machine : EM_386, .e_version = 1,
				 .e_entry = (uint32_t)s->entry, .e_phoff = sizeof(Elf32_Ehdr),
				 .e_ehsize = sizeof(Elf32_Ehdr), .e_phentsize = sizeof(Elf32_Phdr),
				 .e_phnum = (uint16_t)phnum };

		memcpy(e.e_ident, ELFMAG, SELFMAG);
		e.e_ident[EI_CLASS] = ELFCLASS32;
		e.e_ident[EI_DATA] = ELFDATA2LSB;
		e.e_ident[EI_VERSION] = 1;
		memcpy(buf, &e, sizeof(e));
	}
}

size_t build_elf(uint8_t *buf, const struct elf_spec *s)
{
	uint64_t off = DATA_OFFSET;
	unsigned int phnum = 0;

	memset(buf, 0, DATA_OFFSET);
	for (unsigned int i = 0; i < s->nr_segs; i++) {
		const struct elf_seg_spec *seg = &s->segs[i];

		write_phdr(buf, s->is64, phnum++, PT_LOAD, off, seg->vaddr ? seg->vaddr : seg->paddr,
			   seg->paddr, seg->filesz, seg->memsz);
		for (uint64_t b = 0; b < seg->filesz; b++)
			buf[off + b] = seg_pattern(i, b);
		if (i == 0 && s->multiboot) {
			uint32_t magic = 0x1badb002, flags = s->multiboot_flags;

			put32(buf, off, magic);
			put32(buf, off + 4, flags);
			put32(buf, off + 8, -(magic + flags));
		}
		off += (seg->filesz + 0xfff) & ~0xfffULL;
	}
	if (s->pvh_note)
		write_phdr(buf, s->is64, phnum++, PT_NOTE, NOTE_OFFSET, 0, 0, write_notes(buf, s), 0);
	write_ehdr(buf, s, phnum);
	return off;
}

size_t build_multiboot_aout(uint8_t *buf, const struct aout_spec *s)
{
	uint8_t *h = buf + s->header_offset;
	uint32_t magic = 0x1badb002, flags = 1u << 16;
	uint32_t load_end = s->load_addr + (uint32_t)s->file_len;

	for (size_t i = 0; i < s->file_len; i++)
		buf[i] = seg_pattern(0, i);
	put32(h, 0, magic);
	put32(h, 4, flags);
	put32(h, 8, -(magic + flags));
	put32(h, 12, s->load_addr + (uint32_t)s->header_offset);  /* header_addr */
	put32(h, 16, s->load_addr);
	put32(h, 20, s->load_end_zero ? 0 : load_end);
	put32(h, 24, load_end + s->bss_len);                      /* bss_end_addr */
	put32(h, 28, s->load_addr + s->entry_offset);
	return s->file_len;
}
