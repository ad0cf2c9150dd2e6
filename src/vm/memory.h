/* SPDX-License-Identifier: MIT */
/*
 * Guest RAM and the one API through which the VMM touches it.
 *
 * Guest RAM is one anonymous host mapping, split into at most a few slots
 * around the 32-bit PCI hole. Every host pointer derived from a guest-physical
 * address is made here, by guest_mem_ptr(), which checks bounds without
 * integer overflow. Nothing else computes host pointers from guest addresses.
 */
#ifndef KILN_VM_MEMORY_H
#define KILN_VM_MEMORY_H

#include <stddef.h>
#include <stdint.h>

#define GUEST_MEM_MAX_SLOTS 4

struct guest_slot {
	uint64_t gpa;      /* first guest-physical address */
	uint64_t size;     /* bytes */
	uint8_t *hva;      /* host address of gpa */
};

struct guest_memory {
	struct guest_slot slots[GUEST_MEM_MAX_SLOTS];
	unsigned int nr_slots;
	uint64_t ram_size;   /* total bytes of RAM over all slots */
	void *mapping;       /* the whole host reservation, for munmap */
	size_t mapping_len;
	/* The file RAM is mapped from (guest_mem_map_file), else 0: saving
	 * onto it would truncate pages the mapping still reads. */
	uint64_t backing_dev, backing_ino;
	/* Diff snapshots (guest_mem_track_dirty): one bit per 4 KiB page of
	 * RAM in memory-file order, set for every page the VMM hands out a
	 * pointer to or copies into. KVM logs the guest's own writes; this
	 * logs the devices', which KVM never sees. NULL: not tracking. */
	uint64_t *dirty;
};

#define GUEST_PAGE_SIZE 4096ULL

/*
 * Describe RAM of ram_size bytes starting at guest-physical 0, split at
 * hole_start (a multiple of 1 GiB) so the range [hole_start, 4 GiB) stays
 * unbacked; the remainder continues at 4 GiB. Pure: no mapping is made.
 * Returns 0 or -EINVAL.
 */
int guest_mem_plan(struct guest_memory *mem, uint64_t ram_size, uint64_t hole_start);

/*
 * guest_mem_plan() plus the host mapping: each slot's host address is
 * congruent to its guest-physical address modulo 2 MiB (asserted), and the
 * mapping is marked MADV_HUGEPAGE. Returns 0 or a negative errno.
 */
int guest_mem_create(struct guest_memory *mem, uint64_t ram_size, uint64_t hole_start);
void guest_mem_destroy(struct guest_memory *mem);

/*
 * Snapshots. Guest RAM goes to its own file as ram_size bytes in
 * guest-physical order with the PCI hole left out; pages of zeroes are
 * left as holes. guest_mem_map_file maps such a file privately (copy on
 * write) in place of fresh RAM, so restoring costs no copy and clones share
 * the pages they do not write. -EINVAL when the file's size is not ram_size;
 * guest_mem_save refuses (-EBUSY) the file RAM is mapped from (write a new
 * file and rename it over the old one instead). The file must not change
 * while it is mapped.
 */
int guest_mem_save(const struct guest_memory *mem, int fd);
int guest_mem_map_file(struct guest_memory *mem, uint64_t ram_size, uint64_t hole_start, int fd);

/*
 * Diff snapshots. guest_mem_track_dirty allocates the VMM-side dirty
 * bitmap (0 or -ENOMEM); guest_mem_take_dirty ORs it into out (one bit per
 * page in file order, guest_mem_bitmap_words() words) and clears it.
 * guest_mem_save_dirty writes only the pages set in bitmap, at their
 * offsets, into a memory file of ram_size bytes (grown to that size when
 * smaller), so the file holds a full image when it started as a copy of
 * the last snapshot's. It refuses (-EBUSY) the file RAM is mapped from.
 */
int guest_mem_track_dirty(struct guest_memory *mem);
size_t guest_mem_bitmap_words(const struct guest_memory *mem);
void guest_mem_take_dirty(struct guest_memory *mem, uint64_t *out);
int guest_mem_save_dirty(const struct guest_memory *mem, int fd, const uint64_t *bitmap);
/* Mark [gpa, gpa + len) dirty (a no-op when not tracking). */
void guest_mem_mark_dirty(const struct guest_memory *mem, uint64_t gpa, uint64_t len);

/*
 * Host pointer for [gpa, gpa + len) when that whole range lies inside one
 * slot, else NULL. len 0 is allowed for an address inside a slot. While
 * dirty pages are tracked the range counts as written: a pointer may be
 * written through, and telling reads apart would cost every caller.
 */
void *guest_mem_ptr(const struct guest_memory *mem, uint64_t gpa, uint64_t len);

/* Copy to or from guest RAM; the range may cross slots only where the slots
 * are contiguous in guest-physical space. Return 0 or -EFAULT. */
int guest_mem_read(const struct guest_memory *mem, uint64_t gpa, void *dst, uint64_t len);
int guest_mem_write(const struct guest_memory *mem, uint64_t gpa, const void *src, uint64_t len);

/*
 * Reading what the guest shares with the VMM (rings, descriptors, request
 * headers, page tables): the guest may rewrite it from another vCPU at any
 * moment, so a value the VMM checks must be the very value it then uses.
 * With a plain field access or memcpy the compiler is free to fetch the same
 * bytes again after the check (it may assume nothing else writes them), and
 * a guest racing that second fetch gets an unchecked value past validation.
 * These helpers read through volatile, so each byte of guest memory is
 * fetched exactly once, into the caller's copy; the 16-, 32- and 64-bit
 * loads are single instructions on x86-64 (never torn when naturally
 * aligned), and any alignment is allowed.
 */
typedef uint16_t __attribute__((aligned(1), may_alias)) guest_unaligned_u16;
typedef uint32_t __attribute__((aligned(1), may_alias)) guest_unaligned_u32;
typedef uint64_t __attribute__((aligned(1), may_alias)) guest_unaligned_u64;

static inline uint16_t guest_load16(const void *hva)
{
	return *(const volatile guest_unaligned_u16 *)hva;
}

static inline uint32_t guest_load32(const void *hva)
{
	return *(const volatile guest_unaligned_u32 *)hva;
}

static inline uint64_t guest_load64(const void *hva)
{
	return *(const volatile guest_unaligned_u64 *)hva;
}

/* Copy len bytes out of guest-shared memory at hva, each fetched once. */
void guest_copy_once(void *dst, const void *hva, size_t len);

/* End of RAM in guest-physical space (one past the last byte of the top slot). */
uint64_t guest_mem_top(const struct guest_memory *mem);

#endif
