// SPDX-License-Identifier: MIT
#include "x86/page_walk.h"

#include <string.h>

#include "x86/control_regs.h"

#define RFLAGS_AC (1ULL << 18)

#define PTE_P  (1ULL << 0)
#define PTE_W  (1ULL << 1)
#define PTE_U  (1ULL << 2)
#define PTE_A  (1ULL << 5)
#define PTE_D  (1ULL << 6)
#define PTE_PS (1ULL << 7)
#define PTE_XD (1ULL << 63)
#define ADDR_BITS_52 0x000ffffffffff000ULL

#define MAX_LEVELS 5
/* Walks restarted because an entry changed before its A/D update; a guest
 * that keeps rewriting its tables this fast only stops its own access. */
#define MAX_WALK_ATTEMPTS 16

/* What one walk gathers on its way down. */
struct walk_state {
	const struct walk_cpu *cpu;
	const struct walk_request *req;
	bool writable, user, executable;
	void *entries[MAX_LEVELS];     /* host pointers, for A/D updates */
	uint64_t seen[MAX_LEVELS];     /* each entry as the walk read and checked it */
	unsigned int nr_entries;
	bool wide;                     /* 8-byte entries */
};

unsigned int walk_levels(const struct walk_cpu *cpu)
{
	if (!(cpu->cr0 & CR0_PG))
		return 0;
	if (!(cpu->cr4 & CR4_PAE))
		return 2;
	if (!(cpu->efer & EFER_LMA))
		return 3;
	return (cpu->cr4 & CR4_LA57) ? 5 : 4;
}

static uint64_t phys_mask(const struct walk_cpu *cpu)
{
	unsigned int bits = cpu->phys_bits ? cpu->phys_bits : 36;

	return bits >= 52 ? ~0ULL >> 12 << 12 : ((1ULL << bits) - 1) & ~0xfffULL;
}

static bool canonical(uint64_t va, unsigned int levels)
{
	unsigned int bits = levels == 5 ? 57 : 48;
	int64_t sign_extended = (int64_t)(va << (64 - bits)) >> (64 - bits);

	return levels < 4 || (uint64_t)sign_extended == va;
}

bool walk_canonical(const struct walk_cpu *cpu, uint64_t va)
{
	return canonical(va, walk_levels(cpu));
}

/* The error code of the access being walked, with extra bits. */
static uint32_t fault_code(const struct walk_state *s, uint32_t extra)
{
	const struct walk_cpu *cpu = s->cpu;
	uint32_t code = extra;
	bool nx_mode = (cpu->efer & EFER_NXE) && s->wide;

	if (s->req->access == WALK_WRITE)
		code |= PF_WRITE;
	if (s->req->user)
		code |= PF_USER;
	/* I/D is reported only where execute permission exists at all. */
	if (s->req->access == WALK_FETCH && (nx_mode || (cpu->cr4 & CR4_SMEP)))
		code |= PF_FETCH;
	return code;
}

static enum walk_status fault(const struct walk_state *s, struct walk_result *res, uint32_t extra)
{
	res->status = WALK_PAGE_FAULT;
	res->error_code = fault_code(s, extra);
	return res->status;
}

/* Reserved bits of a 64-bit paging entry at the level mapping `shift`. */
static uint64_t reserved_bits(const struct walk_state *s, uint64_t entry, unsigned int shift,
			      bool top, bool pae_pdpte)
{
	const struct walk_cpu *cpu = s->cpu;
	uint64_t rsvd = ADDR_BITS_52 & ~phys_mask(cpu);

	if (!(cpu->efer & EFER_NXE) || pae_pdpte)
		rsvd |= PTE_XD;
	if (pae_pdpte)
		return entry & (rsvd | 0x1e6); /* bits 2:1 and 8:5 */
	if (top && shift > 30)
		rsvd |= PTE_PS; /* no large pages in a PML4E or PML5E */
	if ((entry & PTE_PS) && (shift == 21 || shift == 30))
		rsvd |= ((1ULL << shift) - 1) & ~0x1fffULL; /* below the page, above PAT */
	return entry & rsvd;
}

/* Final permission checks on the effective rights (SDM 4.6). */
static enum walk_status check_rights(const struct walk_state *s, struct walk_result *res)
{
	const struct walk_cpu *cpu = s->cpu;
	const struct walk_request *req = s->req;
	bool supervisor = !req->user;

	res->writable = s->writable;
	res->user = s->user;
	res->executable = s->executable;
	if (req->user && !s->user)
		return fault(s, res, PF_PRESENT);
	if (req->access == WALK_WRITE && !s->writable && (req->user || (cpu->cr0 & CR0_WP)))
		return fault(s, res, PF_PRESENT);
	if (req->access == WALK_FETCH) {
		if (!s->executable)
			return fault(s, res, PF_PRESENT);
		if (supervisor && s->user && (cpu->cr4 & CR4_SMEP))
			return fault(s, res, PF_PRESENT);
	} else if (supervisor && s->user && (cpu->cr4 & CR4_SMAP) && !(cpu->rflags & RFLAGS_AC)) {
		return fault(s, res, PF_PRESENT);
	}
	return WALK_OK;
}

static void accumulate(struct walk_state *s, uint64_t entry)
{
	s->writable &= !!(entry & PTE_W);
	s->user &= !!(entry & PTE_U);
	if ((s->cpu->efer & EFER_NXE) && s->wide && (entry & PTE_XD))
		s->executable = false;
}

bool walk_update_entry(void *entry, bool wide, uint64_t seen, uint64_t bits)
{
	if ((seen & bits) == bits)
		return true; /* nothing to write: the CPU does not write either */
	/* Atomic like the hardware's locked update, and against the value
	 * checked: setting bits in an entry rewritten since (by another vCPU)
	 * would mark a page accessed or dirty that this access never used. */
	if (wide) {
		uint64_t expected = seen;

		return __atomic_compare_exchange_n((uint64_t *)entry, &expected, seen | bits, false,
						   __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
	} else {
		uint32_t expected = (uint32_t)seen;

		return __atomic_compare_exchange_n((uint32_t *)entry, &expected,
						   (uint32_t)(seen | bits), false,
						   __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
	}
}

/* Top level first, as the CPU does; false when an entry changed. */
static bool set_accessed_dirty(struct walk_state *s, bool leaf_dirty)
{
	const struct walk_request *req = s->req;

	if (req->before_ad_update)
		req->before_ad_update(req->before_ad_update_ctx);
	for (unsigned int i = 0; i < s->nr_entries; i++) {
		uint64_t bits = PTE_A | (leaf_dirty && i + 1 == s->nr_entries ? PTE_D : 0);

		if (!walk_update_entry(s->entries[i], s->wide, s->seen[i], bits))
			return false;
	}
	return true;
}

static enum walk_status finish(struct walk_state *s, struct walk_result *res, uint64_t gpa,
			       uint64_t page_size)
{
	enum walk_status status = check_rights(s, res);

	if (status != WALK_OK)
		return status;
	if (s->req->set_accessed_dirty && !set_accessed_dirty(s, s->req->access == WALK_WRITE))
		return res->status = WALK_TABLES_CHANGING;
	res->status = WALK_OK;
	res->gpa = gpa;
	res->page_size = page_size;
	return WALK_OK;
}

/* Remember an entry the walk went through, for its A/D update. */
static void record(struct walk_state *s, void *entry, uint64_t value)
{
	s->entries[s->nr_entries] = entry;
	s->seen[s->nr_entries++] = value;
}

static enum walk_status walk_wide(struct walk_state *s, const struct guest_memory *mem,
				  unsigned int levels, struct walk_result *res)
{
	const struct walk_cpu *cpu = s->cpu;
	uint64_t va = s->req->va, pmask = phys_mask(cpu);
	uint64_t table = levels == 3 ? (cpu->cr3 & 0xffffffe0ULL) : (cpu->cr3 & pmask);
	unsigned int shift = 12 + 9 * (levels - 1);

	for (unsigned int level = levels; level >= 1; level--, shift -= 9) {
		bool pae_pdpte = levels == 3 && level == 3;
		uint64_t idx = pae_pdpte ? (va >> 30) & 3 : (va >> shift) & 0x1ff, entry;
		uint64_t *p = guest_mem_ptr(mem, table + idx * 8, 8);

		if (!p)
			return res->status = WALK_TABLE_OUTSIDE_RAM;
		entry = __atomic_load_n(p, __ATOMIC_ACQUIRE);
		if (!(entry & PTE_P))
			return fault(s, res, 0);
		if (reserved_bits(s, entry, shift, level == levels, pae_pdpte))
			return fault(s, res, PF_PRESENT | PF_RSVD);
		if (!pae_pdpte) {
			/* PAE PDPTEs carry no rights. */
			accumulate(s, entry);
			record(s, p, entry);
		}
		if (shift == 12 || ((entry & PTE_PS) && (shift == 21 || shift == 30) && !pae_pdpte)) {
			uint64_t size = 1ULL << shift;

			return finish(s, res, ((entry & pmask) & ~(size - 1)) | (va & (size - 1)), size);
		}
		table = entry & pmask;
	}
	return res->status = WALK_TABLE_OUTSIDE_RAM; /* not reached */
}

static enum walk_status walk_32bit(struct walk_state *s, const struct guest_memory *mem,
				   struct walk_result *res)
{
	const struct walk_cpu *cpu = s->cpu;
	uint32_t va = (uint32_t)s->req->va, pde, pte;
	uint32_t *p = guest_mem_ptr(mem, (cpu->cr3 & 0xfffff000ULL) + ((va >> 22) * 4), 4);

	if (!p)
		return res->status = WALK_TABLE_OUTSIDE_RAM;
	pde = __atomic_load_n(p, __ATOMIC_ACQUIRE);
	if (!(pde & PTE_P))
		return fault(s, res, 0);
	accumulate(s, pde);
	record(s, p, pde);
	if ((pde & PTE_PS) && (cpu->cr4 & CR4_PSE)) {
		/* PSE-36: bits 20:13 hold physical address bits 39:32. */
		unsigned int bits = cpu->phys_bits > 40 ? 40 : cpu->phys_bits;
		uint64_t high = (uint64_t)((pde >> 13) & 0xff) << 32;

		if ((pde & (1u << 21)) || (high >> bits))
			return fault(s, res, PF_PRESENT | PF_RSVD);
		return finish(s, res, high | (pde & 0xffc00000u) | (va & 0x3fffff), 4ULL << 20);
	}
	p = guest_mem_ptr(mem, (pde & 0xfffff000u) + ((va >> 12) & 0x3ff) * 4, 4);
	if (!p)
		return res->status = WALK_TABLE_OUTSIDE_RAM;
	pte = __atomic_load_n(p, __ATOMIC_ACQUIRE);
	if (!(pte & PTE_P))
		return fault(s, res, 0);
	accumulate(s, pte);
	record(s, p, pte);
	return finish(s, res, (pte & 0xfffff000u) | (va & 0xfff), 4096);
}

/* One walk from CR3; WALK_TABLES_CHANGING when its A/D update lost a race. */
static enum walk_status walk_once(const struct guest_memory *mem, const struct walk_cpu *cpu,
				  const struct walk_request *req, unsigned int levels,
				  struct walk_result *res)
{
	struct walk_state s = {
		.cpu = cpu, .req = req, .writable = true, .user = true, .executable = true,
		.wide = levels >= 3,
	};

	memset(res, 0, sizeof(*res));
	if (levels == 2)
		return walk_32bit(&s, mem, res);
	return walk_wide(&s, mem, levels, res);
}

enum walk_status page_walk(const struct guest_memory *mem, const struct walk_cpu *cpu,
			   const struct walk_request *req, struct walk_result *res)
{
	unsigned int levels = walk_levels(cpu);
	enum walk_status status;

	memset(res, 0, sizeof(*res));
	if (!canonical(req->va, levels))
		return res->status = WALK_NOT_CANONICAL;
	if (levels == 0) {
		/* No paging: linear is physical (32 bits outside long mode). */
		res->gpa = (cpu->efer & EFER_LMA) ? req->va : (uint32_t)req->va;
		res->writable = res->user = res->executable = true;
		res->page_size = 4096;
		return res->status = WALK_OK;
	}
	/* An entry that changed before its A/D update may now map another
	 * page or deny the access: walk again from the top, as the CPU does. */
	for (unsigned int attempt = 0; attempt < MAX_WALK_ATTEMPTS; attempt++) {
		status = walk_once(mem, cpu, req, levels, res);
		if (status != WALK_TABLES_CHANGING)
			return status;
	}
	return status;
}
