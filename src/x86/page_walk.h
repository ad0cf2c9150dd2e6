/* SPDX-License-Identifier: MIT */
/*
 * The guest's page tables as the CPU walks them (Intel SDM vol. 3, ch. 4):
 * 32-bit, PAE, 4-level and 5-level paging with 4 KiB, 2 MiB, 4 MiB and
 * 1 GiB pages, permission checks (W, U, NX, WP, SMEP, SMAP), reserved bits
 * and canonical addresses. Pure functions over the guest-memory API: the
 * result carries the page-fault error code of exactly the access walked.
 */
#ifndef KILN_X86_PAGE_WALK_H
#define KILN_X86_PAGE_WALK_H

#include <stdbool.h>
#include <stdint.h>

#include "vm/memory.h"

enum walk_access { WALK_READ, WALK_WRITE, WALK_FETCH };

enum walk_status {
	WALK_OK = 0,
	WALK_PAGE_FAULT,     /* error_code says why; CR2 would be the address */
	WALK_NOT_CANONICAL,  /* #GP, not #PF */
	WALK_TABLE_OUTSIDE_RAM,
	WALK_TABLES_CHANGING,  /* entries kept changing under the A/D update */
};

/* Page-fault error code bits. */
#define PF_PRESENT (1u << 0)
#define PF_WRITE   (1u << 1)
#define PF_USER    (1u << 2)
#define PF_RSVD    (1u << 3)
#define PF_FETCH   (1u << 4)

struct walk_cpu {
	uint64_t cr0, cr3, cr4, efer, rflags;
	unsigned int phys_bits;   /* MAXPHYADDR, from CPUID 0x80000008 */
};

struct walk_request {
	uint64_t va;
	enum walk_access access;
	bool user;                /* CPL 3 (an explicit user-mode access) */
	bool set_accessed_dirty;  /* update A (and D for writes) as hardware does */
	/* Test seam, NULL in kiln: called once per attempt after the walk has
	 * read every entry and before it sets A/D, where another vCPU could
	 * rewrite an entry. */
	void (*before_ad_update)(void *ctx);
	void *before_ad_update_ctx;
};

struct walk_result {
	enum walk_status status;
	uint64_t gpa;
	uint32_t error_code;      /* for WALK_PAGE_FAULT */
	uint64_t page_size;
	bool writable, user, executable;  /* effective permissions of the page */
};

/* Paging levels of the mode cpu is in: 0 (off), 2, 3 (PAE), 4 or 5. */
unsigned int walk_levels(const struct walk_cpu *cpu);

/* True when va is canonical in the mode cpu is in (always, below 4 levels). */
bool walk_canonical(const struct walk_cpu *cpu, uint64_t va);

/*
 * The CPU's locked A/D update on one paging entry (8 bytes if wide, else 4):
 * set bits only if the entry still holds seen, the value the walk read and
 * checked. True when it did (or the bits were set already); false when the
 * entry changed meanwhile and nothing was written: the walk must start again.
 */
bool walk_update_entry(void *entry, bool wide, uint64_t seen, uint64_t bits);

/*
 * Walk the tables for req. With set_accessed_dirty, the A (and, for a
 * write, the leaf's D) bits are set by compare-and-exchange against the
 * entries the walk read; if one changed under it, the walk starts again
 * (a bounded number of times: then WALK_TABLES_CHANGING).
 */
enum walk_status page_walk(const struct guest_memory *mem, const struct walk_cpu *cpu,
			   const struct walk_request *req, struct walk_result *res);

#endif
