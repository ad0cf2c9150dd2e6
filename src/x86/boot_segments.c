// SPDX-License-Identifier: MIT
#include "x86/boot_segments.h"

#include <elf.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

const char *boot_size_text(uint64_t bytes, char buf[32])
{
	if (bytes >= (1ULL << 20))
		snprintf(buf, 32, "%.*f MiB", bytes % (1ULL << 20) ? 1 : 0,
			 (double)bytes / (1ULL << 20));
	else if (bytes >= 1024)
		snprintf(buf, 32, "%.*f KiB", bytes % 1024 ? 1 : 0, (double)bytes / 1024);
	else
		snprintf(buf, 32, "%" PRIu64 " bytes", bytes);
	return buf;
}

static bool overlaps(uint64_t a0, uint64_t a1, uint64_t b0, uint64_t b1)
{
	return a0 < b1 && b0 < a1;
}

static bool loaded(const struct elf_segment *s)
{
	return s->type == PT_LOAD && s->memsz;
}

int boot_copy(const struct boot_request *req, uint64_t gpa, const void *src, uint64_t len,
	      const char *what, struct kiln_err *err)
{
	if (guest_mem_write(req->mem, gpa, src, len))
		return err_set(err, -ERANGE, "%s [0x%" PRIx64 ", +0x%" PRIx64 ") does not fit in "
			       "guest RAM", what, gpa, len);
	return 0;
}

int boot_zero(const struct boot_request *req, uint64_t gpa, uint64_t len, const char *what,
	      struct kiln_err *err)
{
	uint8_t *p = len ? guest_mem_ptr(req->mem, gpa, len) : NULL;

	if (len && !p)
		return err_set(err, -ERANGE, "%s [0x%" PRIx64 ", +0x%" PRIx64 ") does not fit in "
			       "guest RAM", what, gpa, len);
	if (p)
		memset(p, 0, len);
	return 0;
}

static int check_segment(const struct boot_request *req, const struct elf_image *elf,
			 unsigned int i, const struct boot_span *reserved,
			 unsigned int nr_reserved, struct kiln_err *err)
{
	const struct elf_segment *s = &elf->segments[i];
	const char *name = req->kernel_path;
	uint64_t end = s->paddr + s->memsz;

	if (end < s->paddr || !guest_mem_ptr(req->mem, s->paddr, s->memsz))
		return err_set(err, -ERANGE, "kernel '%s': segment %u [0x%" PRIx64 "-0x%" PRIx64
			       ") lies outside guest RAM (%" PRIu64 " MiB)", name, i, s->paddr,
			       end, req->mem->ram_size >> 20);
	for (unsigned int r = 0; r < nr_reserved; r++)
		if (overlaps(s->paddr, end, reserved[r].start, reserved[r].end))
			return err_set(err, -ERANGE, "kernel '%s': segment %u [0x%" PRIx64 "-0x%"
				       PRIx64 ") overlaps %s", name, i, s->paddr, end,
				       reserved[r].what);
	for (unsigned int j = 0; j < i; j++) {
		const struct elf_segment *o = &elf->segments[j];

		if (loaded(o) && s->memsz &&
		    overlaps(s->paddr, end, o->paddr, o->paddr + o->memsz))
			return err_set(err, -EINVAL, "kernel '%s': segments %u and %u overlap",
				       name, j, i);
	}
	return 0;
}

int boot_elf_entry(const struct boot_request *req, const struct elf_image *elf, uint64_t entry,
		   bool from_vaddr, uint64_t *phys, struct kiln_err *err)
{
	const struct elf_segment *s;
	uint64_t found = UINT64_MAX;

	for (unsigned int i = 0; from_vaddr && found == UINT64_MAX && i < elf->nr_segments; i++) {
		s = &elf->segments[i];
		if (loaded(s) && entry >= s->vaddr && entry - s->vaddr < s->memsz)
			found = s->paddr + (entry - s->vaddr);
	}
	for (unsigned int i = 0; found == UINT64_MAX && i < elf->nr_segments; i++) {
		s = &elf->segments[i];
		if (loaded(s) && entry >= s->paddr && entry - s->paddr < s->memsz)
			found = entry;
	}
	if (found == UINT64_MAX)
		return err_set(err, -EINVAL, "kernel '%s': entry point 0x%" PRIx64 " is not inside "
			       "any loadable segment", req->kernel_path, entry);
	if (found > UINT32_MAX)
		return err_set(err, -ERANGE, "kernel '%s': entry point 0x%" PRIx64 " is above 4 GiB,"
			       " out of reach of a 32-bit entry", req->kernel_path, found);
	*phys = found;
	return 0;
}

int boot_place_segments(const struct boot_request *req, const uint8_t *image,
			const struct elf_image *elf, const struct boot_span *reserved,
			unsigned int nr_reserved, uint64_t *lowest, uint64_t *highest,
			struct kiln_err *err)
{
	uint64_t lo = UINT64_MAX, hi = 0;
	int ret;

	for (unsigned int i = 0; i < elf->nr_segments; i++) {
		const struct elf_segment *s = &elf->segments[i];
		uint8_t *dst;

		if (s->type != PT_LOAD || s->memsz == 0)
			continue;
		ret = check_segment(req, elf, i, reserved, nr_reserved, err);
		if (ret)
			return ret;
		dst = guest_mem_ptr(req->mem, s->paddr, s->memsz);
		memcpy(dst, image + s->offset, s->filesz);
		memset(dst + s->filesz, 0, s->memsz - s->filesz);
		if (s->paddr < lo)
			lo = s->paddr;
		if (s->paddr + s->memsz > hi)
			hi = s->paddr + s->memsz;
	}
	if (hi == 0)
		return err_set(err, -EINVAL, "kernel '%s': ELF has no loadable segment",
			       req->kernel_path);
	*lowest = lo;
	*highest = hi;
	return 0;
}
