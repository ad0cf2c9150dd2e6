// SPDX-License-Identifier: MIT
/* The MSI route pool: contiguous blocks handed out first fit, never
 * overlapping, -ENOSPC when full, and routes reusable once freed. */
#include <criterion/criterion.h>
#include <errno.h>

#include "vm/irq.h"

Test(vm_msi, blocks_are_contiguous_and_disjoint)
{
	struct msi_route_pool pool;
	unsigned int first[4];
	static const unsigned int counts[4] = { 2, 9, 1, 5 };
	unsigned int owner[VM_MAX_MSI_ROUTES] = { 0 };

	msi_route_pool_init(&pool, VM_MAX_MSI_ROUTES);
	for (unsigned int i = 0; i < 4; i++) {
		cr_assert_eq(msi_route_pool_alloc(&pool, counts[i], &first[i]), 0);
		cr_assert_leq(first[i] + counts[i], VM_MAX_MSI_ROUTES);
		for (unsigned int r = first[i]; r < first[i] + counts[i]; r++) {
			cr_assert_eq(owner[r], 0, "route %u handed out twice", r);
			cr_assert(msi_route_pool_in_use(&pool, r));
			owner[r] = i + 1;
		}
	}
	/* First fit on an empty pool packs them from route 0. */
	cr_assert_eq(first[0], 0);
	cr_assert_eq(first[3], 2 + 9 + 1);
	cr_assert_not(msi_route_pool_in_use(&pool, 2 + 9 + 1 + 5));
}

Test(vm_msi, exhaustion_is_enospc)
{
	struct msi_route_pool pool;
	unsigned int first, blocks = 0;

	msi_route_pool_init(&pool, 20);
	while (msi_route_pool_alloc(&pool, 3, &first) == 0)
		blocks++;
	cr_assert_eq(blocks, 6, "six blocks of 3 fit in 20 routes");
	cr_assert_eq(msi_route_pool_alloc(&pool, 3, &first), -ENOSPC);
	/* The two routes left over still serve a smaller request... */
	cr_assert_eq(msi_route_pool_alloc(&pool, 2, &first), 0);
	cr_assert_eq(first, 18);
	/* ...and then nothing is left at all. */
	cr_assert_eq(msi_route_pool_alloc(&pool, 1, &first), -ENOSPC);
}

Test(vm_msi, bad_requests_are_refused)
{
	struct msi_route_pool pool;
	unsigned int first;

	msi_route_pool_init(&pool, VM_MAX_MSI_ROUTES);
	cr_assert_eq(msi_route_pool_alloc(&pool, 0, &first), -EINVAL);
	cr_assert_eq(msi_route_pool_alloc(&pool, VM_MAX_MSI_ROUTES + 1, &first), -ENOSPC);
	cr_assert_eq(msi_route_pool_free(&pool, 0, 1), -EINVAL, "nothing allocated yet");
	cr_assert_eq(msi_route_pool_alloc(&pool, 4, &first), 0);
	cr_assert_eq(msi_route_pool_free(&pool, first, 5), -EINVAL, "past the block");
	cr_assert_eq(msi_route_pool_free(&pool, VM_MAX_MSI_ROUTES - 1, 2), -EINVAL);
	cr_assert(msi_route_pool_in_use(&pool, first + 3), "a refused free changes nothing");
	cr_assert_not(msi_route_pool_in_use(&pool, VM_MAX_MSI_ROUTES + 5));
	/* The capacity is clamped to what KVM routes kiln keeps. */
	msi_route_pool_init(&pool, 10000);
	cr_assert_eq(pool.capacity, VM_MAX_MSI_ROUTES);
}

Test(vm_msi, freed_routes_are_reused)
{
	struct msi_route_pool pool;
	unsigned int a, b, c, d;

	msi_route_pool_init(&pool, 16);
	cr_assert_eq(msi_route_pool_alloc(&pool, 4, &a), 0);
	cr_assert_eq(msi_route_pool_alloc(&pool, 4, &b), 0);
	cr_assert_eq(msi_route_pool_alloc(&pool, 8, &c), 0);
	cr_assert_eq(msi_route_pool_alloc(&pool, 1, &d), -ENOSPC);
	cr_assert_eq(msi_route_pool_free(&pool, b, 4), 0);
	cr_assert_not(msi_route_pool_in_use(&pool, b));
	cr_assert_eq(msi_route_pool_free(&pool, b, 4), -EINVAL, "a double free is refused");
	/* Too big for the hole b left: still no room. */
	cr_assert_eq(msi_route_pool_alloc(&pool, 5, &d), -ENOSPC);
	cr_assert_eq(msi_route_pool_alloc(&pool, 3, &d), 0);
	cr_assert_eq(d, b, "the hole is reused");
	cr_assert(msi_route_pool_in_use(&pool, a + 3) && msi_route_pool_in_use(&pool, c));
	cr_assert_not(msi_route_pool_in_use(&pool, b + 3));
	/* Freeing two neighbours makes one block big enough again. */
	cr_assert_eq(msi_route_pool_free(&pool, a, 4), 0);
	cr_assert_eq(msi_route_pool_free(&pool, d, 3), 0);
	cr_assert_eq(msi_route_pool_alloc(&pool, 8, &d), 0);
	cr_assert_eq(d, 0);
}

Test(vm_msi, random_churn_never_overlaps)
{
	struct msi_route_pool pool;
	struct { unsigned int first, count; } held[64];
	unsigned int nr_held = 0;
	uint64_t seed = 42;

	msi_route_pool_init(&pool, VM_MAX_MSI_ROUTES);
	for (unsigned int step = 0; step < 5000; step++) {
		unsigned int covered = 0;

		seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
		if (nr_held && ((seed >> 33) % 3 == 0 || nr_held == 64)) {
			unsigned int i = (seed >> 40) % nr_held;

			cr_assert_eq(msi_route_pool_free(&pool, held[i].first, held[i].count), 0);
			held[i] = held[--nr_held];
		} else {
			unsigned int count = 1 + (seed >> 45) % 9, first;

			if (msi_route_pool_alloc(&pool, count, &first) == 0)
				held[nr_held++] = (typeof(held[0])){ first, count };
		}
		/* The pool's in-use routes are exactly the union of the held
		 * blocks, and no two held blocks share a route. */
		for (unsigned int i = 0; i < nr_held; i++) {
			covered += held[i].count;
			for (unsigned int j = i + 1; j < nr_held; j++)
				cr_assert(held[i].first + held[i].count <= held[j].first ||
					  held[j].first + held[j].count <= held[i].first,
					  "blocks %u and %u overlap", i, j);
		}
		for (unsigned int r = 0; r < VM_MAX_MSI_ROUTES; r++)
			covered -= msi_route_pool_in_use(&pool, r);
		cr_assert_eq(covered, 0, "step %u: pool and held blocks disagree", step);
	}
}
