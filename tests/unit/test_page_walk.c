// SPDX-License-Identifier: MIT
/* The guest page-table walker over crafted tables: every paging mode and
 * page size, and the exact error code of each faulting access. */
#include <criterion/criterion.h>
#include <string.h>

#include "x86/page_walk.h"

#define MiB (1ULL << 20)
#define P  1ULL
#define W  2ULL
#define U  4ULL
#define A  0x20ULL
#define D  0x40ULL
#define PS 0x80ULL
#define XD (1ULL << 63)

#define CR0_PG (1ULL << 31)
#define CR0_WP (1ULL << 16)
#define CR4_PSE (1ULL << 4)
#define CR4_PAE (1ULL << 5)
#define CR4_LA57 (1ULL << 12)
#define CR4_SMEP (1ULL << 20)
#define CR4_SMAP (1ULL << 21)
#define EFER_LMA (1ULL << 10)
#define EFER_NXE (1ULL << 11)

static struct guest_memory mem;

static void setup(void)
{
	cr_assert_eq(guest_mem_create(&mem, 64 * MiB, 3ULL << 30), 0);
}

static void teardown(void)
{
	guest_mem_destroy(&mem);
}

TestSuite(walk, .init = setup, .fini = teardown);

static void set64(uint64_t gpa, uint64_t v) { cr_assert_eq(guest_mem_write(&mem, gpa, &v, 8), 0); }
static void set32(uint64_t gpa, uint32_t v) { cr_assert_eq(guest_mem_write(&mem, gpa, &v, 4), 0); }
static uint64_t get64(uint64_t gpa) { uint64_t v; guest_mem_read(&mem, gpa, &v, 8); return v; }

/* 4-level: PML4 0x10000, PDPT 0x11000, PD 0x12000, PT 0x13000; va 0x40201000
 * -> PML4[0] -> PDPT[1] -> PD[1] -> PT[1] -> page at 0x500000. */
#define VA4 0x40201000ULL

static void build_4level(uint64_t leaf_flags, uint64_t upper_flags)
{
	set64(0x10000, 0x11000 | upper_flags);
	set64(0x11000 + 8, 0x12000 | upper_flags);
	set64(0x12000 + 8, 0x13000 | upper_flags);
	set64(0x13000 + 8, 0x500000 | leaf_flags);
}

static struct walk_cpu cpu64(uint64_t cr0_extra, uint64_t cr4_extra, uint64_t efer_extra)
{
	return (struct walk_cpu){
		.cr0 = CR0_PG | 1 | cr0_extra, .cr3 = 0x10000, .cr4 = CR4_PAE | cr4_extra,
		.efer = EFER_LMA | (1 << 8) | efer_extra, .phys_bits = 46,
	};
}

static struct walk_result walk(const struct walk_cpu *cpu, uint64_t va, enum walk_access acc,
			       bool user)
{
	struct walk_request req = { .va = va, .access = acc, .user = user };
	struct walk_result res;

	page_walk(&mem, cpu, &req, &res);
	return res;
}

#define EXPECT_OK(res, want_gpa)                                                       \
	do {                                                                           \
		struct walk_result r_ = (res);                                         \
		cr_assert_eq(r_.status, WALK_OK, "fault, error code 0x%x", r_.error_code); \
		cr_assert_eq(r_.gpa, (want_gpa));                                       \
	} while (0)

#define EXPECT_PF(res, code)                                                           \
	do {                                                                           \
		struct walk_result r_ = (res);                                         \
		cr_assert_eq(r_.status, WALK_PAGE_FAULT);                               \
		cr_assert_eq(r_.error_code, (code), "error code 0x%x, expected 0x%x",  \
			     r_.error_code, (uint32_t)(code));                         \
	} while (0)

Test(walk, four_level_4k_page)
{
	struct walk_cpu cpu = cpu64(CR0_WP, 0, EFER_NXE);

	build_4level(P | W | U, P | W | U);
	EXPECT_OK(walk(&cpu, VA4 + 0x123, WALK_READ, false), 0x500123);
	EXPECT_OK(walk(&cpu, VA4, WALK_WRITE, true), 0x500000);
	EXPECT_OK(walk(&cpu, VA4, WALK_FETCH, true), 0x500000);
	cr_assert_eq(walk_levels(&cpu), 4);
}

Test(walk, not_present_codes_come_from_this_access)
{
	struct walk_cpu cpu = cpu64(CR0_WP, 0, EFER_NXE);

	build_4level(0, P | W | U);
	EXPECT_PF(walk(&cpu, VA4, WALK_READ, false), 0);
	EXPECT_PF(walk(&cpu, VA4, WALK_WRITE, true), 0x6);
	EXPECT_PF(walk(&cpu, VA4, WALK_FETCH, false), 0x10);
	/* A write fault then a read: the read's code carries no W bit. */
	EXPECT_PF(walk(&cpu, VA4, WALK_WRITE, false), 0x2);
	EXPECT_PF(walk(&cpu, VA4, WALK_READ, true), 0x4);
}

Test(walk, user_and_write_permissions)
{
	struct walk_cpu wp = cpu64(CR0_WP, 0, EFER_NXE), nowp = cpu64(0, 0, EFER_NXE);

	build_4level(P, P | W | U);                     /* leaf: supervisor, read-only */
	EXPECT_PF(walk(&wp, VA4, WALK_READ, true), 0x5);
	EXPECT_PF(walk(&wp, VA4, WALK_WRITE, false), 0x3);
	EXPECT_OK(walk(&nowp, VA4, WALK_WRITE, false), 0x500000);
	build_4level(P | U, P | W | U);                 /* user, read-only */
	EXPECT_OK(walk(&wp, VA4, WALK_READ, true), 0x500000);
	EXPECT_PF(walk(&wp, VA4, WALK_WRITE, true), 0x7);
	EXPECT_PF(walk(&nowp, VA4, WALK_WRITE, true), 0x7);
	build_4level(P | W | U, P | U);                 /* read-only above the leaf */
	EXPECT_PF(walk(&wp, VA4, WALK_WRITE, true), 0x7);
	build_4level(P | W | U, P | W);                 /* supervisor above the leaf */
	EXPECT_PF(walk(&wp, VA4, WALK_READ, true), 0x5);
}

Test(walk, nx_smep_smap)
{
	struct walk_cpu nx = cpu64(CR0_WP, 0, EFER_NXE);
	struct walk_cpu smep = cpu64(CR0_WP, CR4_SMEP, EFER_NXE);
	struct walk_cpu smap = cpu64(CR0_WP, CR4_SMAP, EFER_NXE);

	build_4level(P | W | U | XD, P | W | U);
	EXPECT_PF(walk(&nx, VA4, WALK_FETCH, false), 0x11);
	EXPECT_PF(walk(&nx, VA4, WALK_FETCH, true), 0x15);
	EXPECT_OK(walk(&nx, VA4, WALK_READ, true), 0x500000);
	build_4level(P | W | U, P | W | U | XD);        /* XD above the leaf counts too */
	EXPECT_PF(walk(&nx, VA4, WALK_FETCH, false), 0x11);
	build_4level(P | W | U, P | W | U);
	EXPECT_PF(walk(&smep, VA4, WALK_FETCH, false), 0x11);
	EXPECT_OK(walk(&smep, VA4, WALK_FETCH, true), 0x500000);
	EXPECT_PF(walk(&smap, VA4, WALK_READ, false), 0x1);
	EXPECT_PF(walk(&smap, VA4, WALK_WRITE, false), 0x3);
	smap.rflags = 1ULL << 18;                       /* AC: access allowed */
	EXPECT_OK(walk(&smap, VA4, WALK_WRITE, false), 0x500000);
	build_4level(P | W, P | W | U);                 /* supervisor pages: no SMAP/SMEP */
	EXPECT_OK(walk(&smep, VA4, WALK_FETCH, false), 0x500000);
}

Test(walk, reserved_bits)
{
	struct walk_cpu cpu = cpu64(CR0_WP, 0, EFER_NXE), nonx = cpu64(CR0_WP, 0, 0);

	build_4level(P | W | U | (1ULL << 50), P | W | U);   /* above MAXPHYADDR 46 */
	EXPECT_PF(walk(&cpu, VA4, WALK_READ, false), 0x9);
	EXPECT_PF(walk(&cpu, VA4, WALK_WRITE, true), 0xf);
	build_4level(P | W | U | XD, P | W | U);
	EXPECT_PF(walk(&nonx, VA4, WALK_READ, false), 0x9);  /* XD reserved without NXE */
	build_4level(P | W | U, P | W | U);
	set64(0x10000, 0x11000 | P | W | U | PS);            /* PS in a PML4E */
	EXPECT_PF(walk(&cpu, VA4, WALK_READ, false), 0x9);
}

Test(walk, large_pages_2m_and_1g)
{
	struct walk_cpu cpu = cpu64(CR0_WP, 0, EFER_NXE);

	build_4level(P | W | U, P | W | U);
	set64(0x12000 + 8, 0x600000 | P | W | U | PS | (1ULL << 12)); /* PAT bit is fine */
	EXPECT_OK(walk(&cpu, VA4 + 0x1234, WALK_READ, false), 0x600000 + 0x1000 + 0x1234);
	cr_assert_eq(walk(&cpu, VA4, WALK_READ, false).page_size, 2 * MiB);
	set64(0x12000 + 8, 0x600000 | P | W | U | PS | (1ULL << 13));  /* reserved */
	EXPECT_PF(walk(&cpu, VA4, WALK_READ, false), 0x9);
	set64(0x11000 + 8, 0x40000000 | P | W | U | PS);                /* 1 GiB page */
	EXPECT_OK(walk(&cpu, VA4, WALK_READ, false), 0x40000000 + 0x201000);
	cr_assert_eq(walk(&cpu, VA4, WALK_READ, false).page_size, 1ULL << 30);
	set64(0x11000 + 8, 0x40000000 | P | W | U | PS | (1ULL << 21));
	EXPECT_PF(walk(&cpu, VA4, WALK_READ, false), 0x9);
}

Test(walk, canonical_and_five_level)
{
	struct walk_cpu four = cpu64(0, 0, EFER_NXE), five = cpu64(0, CR4_LA57, EFER_NXE);
	struct walk_result r = walk(&four, 0x0000800000000000ULL, WALK_READ, false);

	cr_assert_eq(r.status, WALK_NOT_CANONICAL);
	cr_assert_eq(walk(&four, 0xffff800000000000ULL, WALK_READ, false).status, WALK_PAGE_FAULT);
	/* 5-level: PML5 0x20000 -> PML4 0x10000 (the 4-level tables). */
	build_4level(P | W | U, P | W | U);
	set64(0x20000 + 8 * 1, 0x10000 | P | W | U);
	five.cr3 = 0x20000;
	EXPECT_OK(walk(&five, (1ULL << 48) | VA4, WALK_READ, false), 0x500000);
	cr_assert_eq(walk_levels(&five), 5);
	cr_assert_eq(walk(&five, 0x0100000000000000ULL, WALK_READ, false).status,
		     WALK_NOT_CANONICAL);
}

Test(walk, pae)
{
	struct walk_cpu cpu = { .cr0 = CR0_PG | 1 | CR0_WP, .cr3 = 0x10020, .cr4 = CR4_PAE,
				.efer = EFER_NXE, .phys_bits = 36 };

	set64(0x10020 + 8 * 1, 0x12000 | P);                /* PDPTE 1 */
	set64(0x12000 + 8 * 1, 0x13000 | P | W | U);
	set64(0x13000 + 8 * 1, 0x500000 | P | W | U | XD);
	EXPECT_OK(walk(&cpu, VA4, WALK_WRITE, true), 0x500000);
	EXPECT_PF(walk(&cpu, VA4, WALK_FETCH, true), 0x15);
	set64(0x12000 + 8 * 1, 0x800000 | P | W | U | PS);   /* 2 MiB */
	EXPECT_OK(walk(&cpu, VA4 + 5, WALK_READ, false), 0x800000 + 0x1005);
	set64(0x10020 + 8 * 1, 0x12000 | P | 2);              /* reserved bit 1 in a PDPTE */
	EXPECT_PF(walk(&cpu, VA4, WALK_READ, false), 0x9);
	cr_assert_eq(walk_levels(&cpu), 3);
}

Test(walk, legacy_32bit_with_and_without_pse)
{
	struct walk_cpu cpu = { .cr0 = CR0_PG | 1, .cr3 = 0x10000, .cr4 = 0, .phys_bits = 40 };

	set32(0x10000 + 4 * 1, 0x11000 | P | W | U);          /* PDE for 4..8 MiB */
	set32(0x11000 + 4 * 2, 0x700000 | P | U);
	EXPECT_OK(walk(&cpu, 0x402abc, WALK_READ, true), 0x700abc);
	EXPECT_PF(walk(&cpu, 0x402abc, WALK_WRITE, true), 0x7);
	EXPECT_PF(walk(&cpu, 0x403000, WALK_FETCH, false), 0x0); /* no I/D without NX or SMEP */
	set32(0x10000 + 4 * 2, 0x00c00000 | P | W | PS | (0x3u << 13)); /* 4 MiB, PSE-36 */
	cpu.cr4 = CR4_PSE;
	EXPECT_OK(walk(&cpu, 0x812345, WALK_READ, false), (3ULL << 32) | 0xc12345);
	cr_assert_eq(walk(&cpu, 0x812345, WALK_READ, false).page_size, 4 * MiB);
	set32(0x10000 + 4 * 2, 0x00c00000 | P | W | PS | (1u << 21));
	EXPECT_PF(walk(&cpu, 0x812345, WALK_READ, false), 0x9);
	cr_assert_eq(walk_levels(&cpu), 2);
}

Test(walk, accessed_and_dirty_bits)
{
	struct walk_cpu cpu = cpu64(CR0_WP, 0, EFER_NXE);
	struct walk_request req = { .va = VA4, .access = WALK_READ, .set_accessed_dirty = true };
	struct walk_result res;

	build_4level(P | W, P | W);
	page_walk(&mem, &cpu, &req, &res);
	cr_assert_eq(res.status, WALK_OK);
	cr_assert(get64(0x10000) & A);
	cr_assert(get64(0x13000 + 8) & A);
	cr_assert_eq(get64(0x13000 + 8) & D, 0, "a read does not dirty");
	req.access = WALK_WRITE;
	page_walk(&mem, &cpu, &req, &res);
	cr_assert(get64(0x13000 + 8) & D);
	cr_assert_eq(get64(0x12000 + 8) & D, 0, "only the leaf gets D");
	build_4level(P, P | W);                             /* a faulting write sets nothing */
	page_walk(&mem, &cpu, &req, &res);
	cr_assert_eq(res.status, WALK_PAGE_FAULT);
	cr_assert_eq(get64(0x13000 + 8) & (A | D), 0);
}

/* The locked update itself: bits go in only over the value the walk read. */
Test(walk, entry_update_is_a_compare_and_exchange)
{
	uint64_t *e64 = guest_mem_ptr(&mem, 0x20000, 8);
	uint32_t *e32 = guest_mem_ptr(&mem, 0x20010, 8);

	*e64 = 0x500000 | P | W;
	cr_assert(walk_update_entry(e64, true, 0x500000 | P | W, A | D));
	cr_assert_eq(*e64, 0x500000 | P | W | A | D);
	*e64 = 0x600000 | P;                                 /* another vCPU rewrote it */
	cr_assert_not(walk_update_entry(e64, true, 0x500000 | P | W, A));
	cr_assert_eq(*e64, 0x600000 | P, "the newer entry is kept as it was written");
	cr_assert(walk_update_entry(e64, true, 0x600000 | P | A, A), "A already set: no write");

	e32[0] = 0x7000 | P;
	e32[1] = 0xcafe0000;
	cr_assert(walk_update_entry(e32, false, 0x7000 | P, A));
	cr_assert_eq(e32[0], 0x7000 | P | A);
	cr_assert_eq(e32[1], 0xcafe0000, "a 4-byte entry's neighbour is untouched");
	e32[0] = 0;
	cr_assert_not(walk_update_entry(e32, false, 0x7000 | P, A));
	cr_assert_eq(e32[0], 0, "no A bit on an entry made not-present meanwhile");
}

/* A concurrent writer, played by the walker's seam: between the walk's read
 * of the leaf and its A/D update the leaf is rewritten. */
struct rewrite {
	uint64_t gpa;
	uint64_t values[2];        /* written on the first and on later calls */
	unsigned int calls;
	bool every_time;
};

static void rewrite_leaf(void *ctx)
{
	struct rewrite *w = ctx;

	if (w->calls == 0 || w->every_time)
		set64(w->gpa, w->values[w->calls & 1]);
	w->calls++;
}

static enum walk_status racing_walk(struct rewrite *w, enum walk_access access,
				    struct walk_result *res)
{
	struct walk_cpu cpu = cpu64(CR0_WP, 0, EFER_NXE);
	struct walk_request req = { .va = VA4 + 0x10, .access = access, .set_accessed_dirty = true,
				    .before_ad_update = rewrite_leaf, .before_ad_update_ctx = w };

	return page_walk(&mem, &cpu, &req, res);
}

Test(walk, leaf_rewritten_before_update_is_walked_again)
{
	struct rewrite w = { .gpa = 0x13000 + 8, .values = { 0x600000 | P | W } };
	struct walk_result res;

	build_4level(P | W, P | W);
	cr_assert_eq(racing_walk(&w, WALK_WRITE, &res), WALK_OK);
	cr_assert_eq(res.gpa, 0x600010, "the access uses the page the new entry maps");
	cr_assert_eq(get64(0x13000 + 8), 0x600000 | P | W | A | D,
		     "A and D set on the new entry, nothing of the old one written back");
	cr_assert_eq(w.calls, 2, "one walk lost the race, the next one won");
}

Test(walk, leaf_made_not_present_before_update_faults)
{
	struct rewrite w = { .gpa = 0x13000 + 8, .values = { 0 } };
	struct walk_result res;

	build_4level(P | W, P | W);
	cr_assert_eq(racing_walk(&w, WALK_READ, &res), WALK_PAGE_FAULT);
	cr_assert_eq(res.error_code, 0, "not present, read, supervisor");
	cr_assert_eq(get64(0x13000 + 8), 0, "no A bit written into the cleared entry");
}

Test(walk, tables_that_never_settle_give_up_without_writing)
{
	struct rewrite w = { .gpa = 0x13000 + 8, .every_time = true,
			     .values = { 0x600000 | P | W, 0x700000 | P | W } };
	struct walk_result res;

	build_4level(P | W, P | W);
	cr_assert_eq(racing_walk(&w, WALK_READ, &res), WALK_TABLES_CHANGING);
	cr_assert_gt(w.calls, 1, "walked again before giving up");
	cr_assert_eq(get64(0x13000 + 8) & (A | D), 0, "the leaf's last value got no A bit");
}

Test(walk, tables_outside_ram_and_paging_off)
{
	struct walk_cpu cpu = cpu64(0, 0, 0), off = { .cr0 = 1, .phys_bits = 46 };

	cpu.cr3 = 1ULL << 40;
	cr_assert_eq(walk(&cpu, VA4, WALK_READ, false).status, WALK_TABLE_OUTSIDE_RAM);
	EXPECT_OK(walk(&off, 0x123456789ULL, WALK_READ, false), 0x23456789);
}
