// SPDX-License-Identifier: MIT
#include "vm/memory.h"

#include <assert.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define SZ_2M (2ULL << 20)
#define SZ_1G (1ULL << 30)
#define SZ_4G (4ULL << 30)

/* pwrite all of len bytes at offset; 0, or -1 with errno set. */
static int write_all_at(int fd, const uint8_t *p, size_t len, uint64_t offset)
{
	while (len) {
		ssize_t done = pwrite(fd, p, len, (off_t)offset);

		if (done < 0 && errno == EINTR)
			continue;
		if (done <= 0) {
			if (done == 0)
				errno = EIO;
			return -1;
		}
		p += done;
		len -= (size_t)done;
		offset += (uint64_t)done;
	}
	return 0;
}

static void add_slot(struct guest_memory *mem, uint64_t gpa, uint64_t size)
{
	struct guest_slot *slot = &mem->slots[mem->nr_slots++];

	slot->gpa = gpa;
	slot->size = size;
	slot->hva = NULL;
}

int guest_mem_plan(struct guest_memory *mem, uint64_t ram_size, uint64_t hole_start)
{
	memset(mem, 0, sizeof(*mem));
	if (ram_size == 0 || ram_size % 4096)
		return -EINVAL;
	/* The split must fall on a 1 GiB boundary so that every slot edge is
	 * 2 MiB aligned in both address spaces (see guest_mem_create). */
	if (hole_start == 0 || hole_start % SZ_1G || hole_start > SZ_4G)
		return -EINVAL;
	if (ram_size > UINT64_MAX - SZ_4G)
		return -EINVAL;
	mem->ram_size = ram_size;
	if (ram_size <= hole_start) {
		add_slot(mem, 0, ram_size);
		return 0;
	}
	add_slot(mem, 0, hole_start);
	add_slot(mem, SZ_4G, ram_size - hole_start);
	return 0;
}

/* Reserve ram_size bytes of host address space, 2 MiB aligned, and give
 * each planned slot its host address; *aligned is where RAM starts. */
static int reserve_ram(struct guest_memory *mem, uint64_t ram_size, uint8_t **aligned)
{
	size_t reserve;
	uint8_t *base;
	uint64_t offset = 0;

	/* Over-reserve by 2 MiB and align, so the host can back the guest
	 * with huge pages that line up with the guest's 2 MiB pages. */
	reserve = ram_size + SZ_2M;
	base = mmap(NULL, reserve, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (base == MAP_FAILED)
		return -errno;
	*aligned = (uint8_t *)(((uintptr_t)base + SZ_2M - 1) & ~(uintptr_t)(SZ_2M - 1));
	mem->mapping = base;
	mem->mapping_len = reserve;
	for (unsigned int i = 0; i < mem->nr_slots; i++) {
		struct guest_slot *slot = &mem->slots[i];

		slot->hva = *aligned + offset;
		offset += slot->size;
		/* A huge host page must never straddle a slot edge. */
		assert((((uintptr_t)slot->hva ^ slot->gpa) & (SZ_2M - 1)) == 0);
	}
	return 0;
}

int guest_mem_create(struct guest_memory *mem, uint64_t ram_size, uint64_t hole_start)
{
	uint8_t *aligned;
	int ret;

	ret = guest_mem_plan(mem, ram_size, hole_start);
	if (!ret)
		ret = reserve_ram(mem, ram_size, &aligned);
	if (ret)
		return ret;
	madvise(aligned, ram_size, MADV_HUGEPAGE); /* advisory: ignore failure */
	return 0;
}

int guest_mem_map_file(struct guest_memory *mem, uint64_t ram_size, uint64_t hole_start, int fd)
{
	struct stat st;
	uint8_t *aligned;
	int ret;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size != ram_size)
		return -EINVAL;
	ret = guest_mem_plan(mem, ram_size, hole_start);
	if (!ret)
		ret = reserve_ram(mem, ram_size, &aligned);
	if (ret)
		return ret;
	/* Private: the guest's writes stay in this process; pages it never
	 * writes stay the page cache's, shared by every clone of the file. */
	if (mmap(aligned, ram_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED | MAP_NORESERVE,
		 fd, 0) == MAP_FAILED) {
		ret = -errno;
		guest_mem_destroy(mem);
		return ret;
	}
	mem->backing_dev = st.st_dev;
	mem->backing_ino = st.st_ino;
	return 0;
}

/* True when the page at p (4 KiB) is all zeroes. */
static bool page_is_zero(const uint8_t *p)
{
	static const uint8_t zero[4096];

	return !memcmp(p, zero, sizeof(zero));
}

int guest_mem_save(const struct guest_memory *mem, int fd)
{
	uint64_t file_offset = 0;
	struct stat st;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (mem->backing_ino && st.st_dev == mem->backing_dev && st.st_ino == mem->backing_ino)
		return -EBUSY;

	if (ftruncate(fd, 0) < 0 || ftruncate(fd, (off_t)mem->ram_size) < 0)
		return -errno;
	for (unsigned int i = 0; i < mem->nr_slots; i++) {
		const struct guest_slot *slot = &mem->slots[i];

		/* Pages of zeroes stay holes: the file is as sparse as the guest. */
		for (uint64_t off = 0; off < slot->size; off += 4096) {
			const uint8_t *page = slot->hva + off;
			size_t len = slot->size - off < 4096 ? slot->size - off : 4096;

			if (len == 4096 && page_is_zero(page))
				continue;
			if (write_all_at(fd, page, len, file_offset + off))
				return -errno;
		}
		file_offset += slot->size;
	}
	return 0;
}

int guest_mem_track_dirty(struct guest_memory *mem)
{
	if (mem->dirty)
		return 0;
	mem->dirty = calloc(guest_mem_bitmap_words(mem), sizeof(uint64_t));
	return mem->dirty ? 0 : -ENOMEM;
}

size_t guest_mem_bitmap_words(const struct guest_memory *mem)
{
	uint64_t pages = (mem->ram_size + GUEST_PAGE_SIZE - 1) / GUEST_PAGE_SIZE;

	return (size_t)((pages + 63) / 64);
}

void guest_mem_take_dirty(struct guest_memory *mem, uint64_t *out)
{
	size_t words = guest_mem_bitmap_words(mem);

	if (!mem->dirty)
		return;
	for (size_t i = 0; i < words; i++)
		out[i] |= __atomic_exchange_n(&mem->dirty[i], 0, __ATOMIC_ACQ_REL);
}

/* The memory-file offset of gpa (slots are laid out back to back). */
static bool file_offset_of(const struct guest_memory *mem, uint64_t gpa, uint64_t *offset,
			   uint64_t *room)
{
	uint64_t file_offset = 0;

	for (unsigned int i = 0; i < mem->nr_slots; i++) {
		const struct guest_slot *slot = &mem->slots[i];

		if (gpa >= slot->gpa && gpa - slot->gpa < slot->size) {
			*offset = file_offset + (gpa - slot->gpa);
			*room = slot->size - (gpa - slot->gpa);
			return true;
		}
		file_offset += slot->size;
	}
	return false;
}

void guest_mem_mark_dirty(const struct guest_memory *mem, uint64_t gpa, uint64_t len)
{
	uint64_t offset, room, first, last;

	if (!mem->dirty || !file_offset_of(mem, gpa, &offset, &room))
		return;
	if (len > room)
		len = room;
	first = offset / GUEST_PAGE_SIZE;
	last = (offset + (len ? len - 1 : 0)) / GUEST_PAGE_SIZE;
	for (uint64_t page = first; page <= last; page++)
		__atomic_fetch_or(&mem->dirty[page / 64], 1ULL << (page % 64), __ATOMIC_RELAXED);
}

int guest_mem_save_dirty(const struct guest_memory *mem, int fd, const uint64_t *bitmap)
{
	uint64_t file_offset = 0;
	struct stat st;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (mem->backing_ino && st.st_dev == mem->backing_dev && st.st_ino == mem->backing_ino)
		return -EBUSY;
	if ((uint64_t)st.st_size != mem->ram_size && ftruncate(fd, (off_t)mem->ram_size) < 0)
		return -errno;
	for (unsigned int i = 0; i < mem->nr_slots; i++) {
		const struct guest_slot *slot = &mem->slots[i];

		for (uint64_t off = 0; off < slot->size; off += GUEST_PAGE_SIZE) {
			uint64_t page = (file_offset + off) / GUEST_PAGE_SIZE;
			size_t len = slot->size - off < GUEST_PAGE_SIZE ? slot->size - off
									 : GUEST_PAGE_SIZE;

			if (!(bitmap[page / 64] & (1ULL << (page % 64))))
				continue;
			if (write_all_at(fd, slot->hva + off, len, file_offset + off))
				return -errno;
		}
		file_offset += slot->size;
	}
	return 0;
}

void guest_mem_destroy(struct guest_memory *mem)
{
	free(mem->dirty);
	if (mem->mapping)
		munmap(mem->mapping, mem->mapping_len);
	memset(mem, 0, sizeof(*mem));
}

void *guest_mem_ptr(const struct guest_memory *mem, uint64_t gpa, uint64_t len)
{
	for (unsigned int i = 0; i < mem->nr_slots; i++) {
		const struct guest_slot *slot = &mem->slots[i];
		uint64_t offset;

		if (gpa < slot->gpa)
			continue;
		offset = gpa - slot->gpa;
		/* Written as subtractions so that no sum can wrap. */
		if (offset >= slot->size || len > slot->size - offset)
			continue;
		if (!slot->hva)
			return NULL;
		if (mem->dirty)
			guest_mem_mark_dirty(mem, gpa, len);
		return slot->hva + offset;
	}
	return NULL;
}

/* Host pointer and length of the part of [gpa, gpa + len) in one slot. */
static uint8_t *slot_chunk(const struct guest_memory *mem, uint64_t gpa, uint64_t len,
			   uint64_t *chunk)
{
	for (unsigned int i = 0; i < mem->nr_slots; i++) {
		const struct guest_slot *slot = &mem->slots[i];

		if (gpa < slot->gpa || gpa - slot->gpa >= slot->size)
			continue;
		*chunk = len < slot->size - (gpa - slot->gpa) ? len : slot->size - (gpa - slot->gpa);
		return guest_mem_ptr(mem, gpa, *chunk);
	}
	return NULL;
}

/*
 * Copy len bytes between a host buffer and guest RAM, slot by slot. The
 * whole range is checked first, so a copy that would run off RAM changes
 * nothing.
 */
static int guest_mem_copy(const struct guest_memory *mem, uint64_t gpa,
			  uint8_t *host, uint64_t len, int to_guest)
{
	uint64_t chunk;

	if (len && gpa > UINT64_MAX - (len - 1))
		return -EFAULT;
	for (uint64_t done = 0; done < len; done += chunk)
		if (!slot_chunk(mem, gpa + done, len - done, &chunk))
			return -EFAULT;
	for (uint64_t done = 0; done < len; done += chunk) {
		uint8_t *p = slot_chunk(mem, gpa + done, len - done, &chunk);

		if (to_guest)
			memcpy(p, host + done, chunk);
		else
			memcpy(host + done, p, chunk);
	}
	return 0;
}

int guest_mem_read(const struct guest_memory *mem, uint64_t gpa, void *dst, uint64_t len)
{
	return guest_mem_copy(mem, gpa, dst, len, 0);
}

int guest_mem_write(const struct guest_memory *mem, uint64_t gpa, const void *src, uint64_t len)
{
	return guest_mem_copy(mem, gpa, (uint8_t *)src, len, 1);
}

uint64_t guest_mem_top(const struct guest_memory *mem)
{
	const struct guest_slot *top;

	if (!mem->nr_slots)
		return 0;
	top = &mem->slots[mem->nr_slots - 1];
	return top->gpa + top->size;
}

void guest_copy_once(void *dst, const void *hva, size_t len)
{
	const uint8_t *src = hva;
	uint8_t *out = dst;
	size_t done = 0;

	/* Eight bytes per load; the tail byte by byte. */
	for (; len - done >= 8; done += 8) {
		uint64_t v = guest_load64(src + done);

		memcpy(out + done, &v, 8);
	}
	for (; done < len; done++)
		out[done] = *(const volatile uint8_t *)(src + done);
}
