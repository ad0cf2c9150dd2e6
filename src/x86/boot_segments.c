// SPDX-License-Identifier: MIT
#include "x86/boot_segments.h"

#include <elf.h>
#include <errno.h>
#include <inttypes.h>
#include <string.h>

static bool overlaps(uint64_t a0, uint64_t a1, uint64_t b0, uint64_t b1)
{
	return a0 < b1 && b0 < a1;
}

int boot_copy(const struct boot_request *req, uint64_t gpa, const void *src, uint64_t len,
	      const char *what, struct kiln_err *err)
{
	if (guest_mem_write(req->mem, gpa, src, len))
		return err_set(err, -ERANGE, "%s [0x%" PRIx64 ", +0x%" PRIx64 ") does not fit in "
			       "guest RAM", what, gpa, len);
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

		if (o->type == PT_LOAD && o->memsz && s->memsz &&
		    overlaps(s->paddr, end, o->paddr, o->paddr + o->memsz))
			return err_set(err, -EINVAL, "kernel '%s': segments %u and %u overlap",
				       name, j, i);
	}
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
