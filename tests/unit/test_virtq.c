// SPDX-License-Identifier: MIT
/* Hostile drivers: every malformed ring or chain fails cleanly, touches
 * nothing outside guest RAM, and leaves other queues working. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "virtio/queue.h"
#include "virtq_driver.h"

#define RAM      (16ULL << 20)
#define RING_A   0x10000ULL
#define RING_B   0x40000ULL
#define DATA     0x100000ULL
#define TABLE    0x200000ULL

static struct guest_memory mem;
static struct vdriver *drv;
static struct virtq q;
static struct virtq_chain *chain;

static void setup(void)
{
	cr_assert_eq(guest_mem_create(&mem, RAM, 3ULL << 30), 0);
	drv = malloc(sizeof(*drv));
	chain = malloc(sizeof(*chain));
	vdriver_init(drv, &mem, RING_A, 8, true);
	cr_assert_eq(virtq_init(&q, &mem, 8, drv->desc_gpa, drv->avail_gpa, drv->used_gpa,
				true, true), 0);
}

static void teardown(void)
{
	free(chain);
	free(drv);
	guest_mem_destroy(&mem);
}

TestSuite(virtq, .init = setup, .fini = teardown);

/* Put raw descriptors in the table and head in the avail ring. */
static void raw(unsigned int i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	drv->desc[i] = (struct virtq_desc){ addr, len, flags, next };
}

static void offer(uint16_t head)
{
	vdriver_queue_head(drv, head);
	vdriver_publish(drv);
}

static void expect_chain_error(uint16_t head)
{
	offer(head);
	cr_assert_eq(virtq_pop(&q, chain), VIRTQ_ERR_CHAIN);
	cr_assert_eq(chain->head, head, "the failed chain's head is returned");
	cr_assert(!q.broken, "a bad chain fails only that request");
	virtq_push(&q, chain->head, 0);
}

static void expect_good_chain_still_works(void)
{
	struct vbuf bufs[2] = { { DATA, 16, false }, { DATA + 64, 32, true } };
	int head;

	/* The descriptors used by the bad chain are reused by the driver. */
	drv->nr_free = drv->size;
	drv->free_head = 0;
	for (uint16_t i = 0; i + 1 < drv->size; i++)
		drv->desc[i].next = i + 1;
	head = vdriver_add(drv, bufs, 2);
	offer((uint16_t)head);
	cr_assert_eq(virtq_pop(&q, chain), 1);
	cr_assert_eq(chain->nr_out, 1);
	cr_assert_eq(chain->nr_in, 1);
	cr_assert_eq(chain->out_len, 16);
	cr_assert_eq(chain->in_len, 32);
	cr_assert_eq(chain->iov[1].iov_base, guest_mem_ptr(&mem, DATA + 64, 32));
}

Test(virtq, good_chain)
{
	expect_good_chain_still_works();
}

Test(virtq, descriptor_loop)
{
	raw(0, DATA, 16, VIRTQ_DESC_F_NEXT, 1);
	raw(1, DATA, 16, VIRTQ_DESC_F_NEXT, 0);
	expect_chain_error(0);
	expect_good_chain_still_works();
}

Test(virtq, next_index_out_of_range)
{
	raw(0, DATA, 16, VIRTQ_DESC_F_NEXT, 8);
	expect_chain_error(0);
}

Test(virtq, address_past_ram)
{
	raw(0, RAM - 8, 16, 0, 0);
	expect_chain_error(0);
	raw(0, RAM, 1, 0, 0);
	expect_chain_error(0);
	raw(0, 1ULL << 40, 16, 0, 0);
	expect_chain_error(0);
	expect_good_chain_still_works();
}

Test(virtq, length_overflow)
{
	raw(0, DATA, 0xffffffffu, 0, 0);
	expect_chain_error(0);
	raw(0, UINT64_MAX - 7, 16, 0, 0);
	expect_chain_error(0);
}

Test(virtq, zero_length)
{
	raw(0, DATA, 0, 0, 0);
	expect_chain_error(0);
}

Test(virtq, writable_before_readable)
{
	raw(0, DATA, 16, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
	raw(1, DATA + 64, 16, 0, 0);
	expect_chain_error(0);
}

/* Every field of a descriptor reaches the chain from the one copy the device
 * takes (addr, len, the WRITE flag and a next link that skips around), also
 * from an indirect table that is only 8-byte aligned. */
Test(virtq, descriptor_fields_from_ring_and_unaligned_indirect_table)
{
	uint8_t *table = guest_mem_ptr(&mem, TABLE + 8, 48);
	struct virtq_desc entries[3] = {
		{ DATA + 0x10, 0x30, VIRTQ_DESC_F_NEXT, 2 },
		{ 0, 0, 0, 0 },     /* skipped by the next link */
		{ DATA + 0x800, 0x1234, VIRTQ_DESC_F_WRITE, 0 },
	};

	raw(0, DATA, 16, VIRTQ_DESC_F_NEXT, 5);
	raw(5, DATA + 0x400, 0x200, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 3);
	raw(3, DATA + 0x700, 8, VIRTQ_DESC_F_WRITE, 0);
	offer(0);
	cr_assert_eq(virtq_pop(&q, chain), 1);
	cr_assert_eq(chain->nr_out, 1);
	cr_assert_eq(chain->nr_in, 2);
	cr_assert_eq(chain->in_len, 0x208);
	cr_assert_eq(chain->iov[1].iov_base, guest_mem_ptr(&mem, DATA + 0x400, 0x200));
	cr_assert_eq(chain->iov[2].iov_base, guest_mem_ptr(&mem, DATA + 0x700, 8));
	virtq_push(&q, chain->head, 0);

	memcpy(table, entries, sizeof(entries));
	raw(1, TABLE + 8, sizeof(entries), VIRTQ_DESC_F_INDIRECT, 0);
	offer(1);
	cr_assert_eq(virtq_pop(&q, chain), 1);
	cr_assert_eq(chain->head, 1);
	cr_assert_eq(chain->nr_out, 1);
	cr_assert_eq(chain->nr_in, 1);
	cr_assert_eq(chain->out_len, 0x30);
	cr_assert_eq(chain->in_len, 0x1234);
	cr_assert_eq(chain->iov[0].iov_base, guest_mem_ptr(&mem, DATA + 0x10, 0x30));
	cr_assert_eq(chain->iov[1].iov_base, guest_mem_ptr(&mem, DATA + 0x800, 0x1234));
}

Test(virtq, nested_indirect)
{
	struct virtq_desc *table = guest_mem_ptr(&mem, TABLE, 64);

	table[0] = (struct virtq_desc){ DATA, 16, VIRTQ_DESC_F_NEXT, 1 };
	table[1] = (struct virtq_desc){ TABLE + 512, 32, VIRTQ_DESC_F_INDIRECT, 0 };
	raw(0, TABLE, 32, VIRTQ_DESC_F_INDIRECT, 0);
	expect_chain_error(0);
}

Test(virtq, oversized_or_ragged_indirect_table)
{
	raw(0, TABLE, (VIRTQ_MAX_SEGMENTS + 1) * 16, VIRTQ_DESC_F_INDIRECT, 0);
	expect_chain_error(0);
	raw(0, TABLE, 24, VIRTQ_DESC_F_INDIRECT, 0);
	expect_chain_error(0);
	raw(0, TABLE, 0, VIRTQ_DESC_F_INDIRECT, 0);
	expect_chain_error(0);
	raw(0, RAM - 16, 32, VIRTQ_DESC_F_INDIRECT, 0);
	expect_chain_error(0);
}

Test(virtq, indirect_table_loop)
{
	struct virtq_desc *table = guest_mem_ptr(&mem, TABLE, 64);

	table[0] = (struct virtq_desc){ DATA, 16, VIRTQ_DESC_F_NEXT, 1 };
	table[1] = (struct virtq_desc){ DATA, 16, VIRTQ_DESC_F_NEXT, 0 };
	raw(0, TABLE, 32, VIRTQ_DESC_F_INDIRECT, 0);
	expect_chain_error(0);
}

Test(virtq, indirect_with_next_or_not_negotiated)
{
	struct virtq_desc *table = guest_mem_ptr(&mem, TABLE, 16);

	table[0] = (struct virtq_desc){ DATA, 16, 0, 0 };
	raw(0, TABLE, 16, VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_NEXT, 1);
	expect_chain_error(0);
	q.indirect = false;
	raw(0, TABLE, 16, VIRTQ_DESC_F_INDIRECT, 0);
	expect_chain_error(0);
}

Test(virtq, avail_index_jump_breaks_the_queue_only)
{
	struct vdriver *other = malloc(sizeof(*other));
	struct virtq q2;
	struct vbuf buf = { DATA, 8, false };

	vdriver_init(other, &mem, RING_B, 4, true);
	cr_assert_eq(virtq_init(&q2, &mem, 4, other->desc_gpa, other->avail_gpa,
				other->used_gpa, true, true), 0);
	*drv->avail_idx = 9; /* nine new entries in a ring of eight */
	cr_assert_eq(virtq_pop(&q, chain), VIRTQ_ERR_RING);
	cr_assert(q.broken, "needs reset");
	cr_assert_eq(virtq_pop(&q, chain), VIRTQ_ERR_RING, "stays broken");
	vdriver_queue_head(other, (uint16_t)vdriver_add(other, &buf, 1));
	vdriver_publish(other);
	cr_assert_eq(virtq_pop(&q2, chain), 1, "another queue keeps working");
	free(other);
}

Test(virtq, head_out_of_range_breaks_the_queue)
{
	drv->avail_ring[0] = 8;
	*drv->avail_idx = 1;
	cr_assert_eq(virtq_pop(&q, chain), VIRTQ_ERR_RING);
	cr_assert(q.broken);
}

Test(virtq, bad_sizes_and_areas_refused)
{
	struct virtq bad;

	cr_assert_eq(virtq_init(&bad, &mem, 0, RING_A, RING_A + 4096, RING_A + 8192, 0, 0), -EINVAL);
	cr_assert_eq(virtq_init(&bad, &mem, 3, RING_A, RING_A + 4096, RING_A + 8192, 0, 0), -EINVAL);
	cr_assert_eq(virtq_init(&bad, &mem, 8, RING_A + 8, RING_A + 4096, RING_A + 8192, 0, 0),
		     -EINVAL, "descriptor table must be 16-byte aligned");
	cr_assert_eq(virtq_init(&bad, &mem, 8, RING_A, RING_A + 4097, RING_A + 8192, 0, 0), -EINVAL);
	cr_assert_eq(virtq_init(&bad, &mem, 8, RING_A, RING_A + 4096, RING_A + 8194, 0, 0), -EINVAL);
	cr_assert_eq(virtq_init(&bad, &mem, 256, RAM - 2048, RING_A, RING_A + 8192, 0, 0), -EINVAL,
		     "table past the end of RAM");
	cr_assert_eq(virtq_init(&bad, &mem, 32768, RAM - (256 << 10), RING_A, RING_A + 8192, 0, 0),
		     -EINVAL, "a 512 KiB table 256 KiB before the end");
}

Test(virtq, event_index_decides_interrupts)
{
	struct vbuf buf = { DATA, 8, true };

	for (int i = 0; i < 3; i++)
		vdriver_queue_head(drv, (uint16_t)vdriver_add(drv, &buf, 1));
	vdriver_publish(drv);
	*drv->used_event = 1; /* interrupt me once the second entry is used */
	cr_assert_eq(virtq_pop(&q, chain), 1);
	virtq_push(&q, chain->head, 0);
	cr_assert(!virtq_should_interrupt(&q), "used idx 1 has not passed used_event 1");
	cr_assert_eq(virtq_pop(&q, chain), 1);
	virtq_push(&q, chain->head, 0);
	cr_assert(virtq_should_interrupt(&q), "used idx 2 passed used_event 1");
	cr_assert_eq(virtq_pop(&q, chain), 1);
	virtq_push(&q, chain->head, 0);
	cr_assert(!virtq_should_interrupt(&q), "no new request for an interrupt");
	cr_assert(virtq_need_event(0xffff, 0x0001, 0xfffe), "wrap-around");
	cr_assert(!virtq_need_event(5, 5, 3));
}

Test(virtq, kick_suppression_with_event_index)
{
	struct vbuf buf = { DATA, 8, true };

	cr_assert(virtq_prepare_sleep(&q), "empty ring: the worker may sleep");
	cr_assert_eq(*drv->avail_event, 0);
	vdriver_queue_head(drv, (uint16_t)vdriver_add(drv, &buf, 1));
	cr_assert(vdriver_publish(drv), "the driver must kick a sleeping worker");
	cr_assert(!virtq_prepare_sleep(&q), "new entry: the worker must not sleep");
	cr_assert_eq(virtq_pop(&q, chain), 1);
	vdriver_queue_head(drv, (uint16_t)vdriver_add(drv, &buf, 1));
	cr_assert(!vdriver_publish(drv), "the worker is awake: no kick");
}

/* Diff snapshots: the device writes the used ring through views taken when
 * the queue was enabled, and fills held buffers through views taken when
 * it popped them; both must reach the dirty log after the log was taken. */
static bool page_dirty(const uint64_t *bitmap, uint64_t gpa)
{
	uint64_t page = gpa / 4096;   /* RAM below 3 GiB: file offset = gpa */

	return bitmap[page / 64] & (1ULL << (page % 64));
}

static uint64_t *take_dirty(void)
{
	uint64_t *bitmap = calloc(guest_mem_bitmap_words(&mem), sizeof(uint64_t));

	cr_assert_not_null(bitmap);
	guest_mem_take_dirty(&mem, bitmap);
	return bitmap;
}

Test(virtq, device_writes_reach_the_dirty_log)
{
	uint64_t *bitmap;

	cr_assert_eq(guest_mem_track_dirty(&mem), 0);
	raw(0, DATA, 64, VIRTQ_DESC_F_WRITE, 0);
	raw(1, DATA + 0x3000, 64, VIRTQ_DESC_F_WRITE, 0);
	offer(0);
	offer(1);
	cr_assert_eq(virtq_pop(&q, chain), 1);
	cr_assert_eq(virtq_pop(&q, chain), 1);
	free(take_dirty());                     /* a snapshot: the log starts empty */

	virtq_push(&q, 0, 64);                  /* through the view from virtq_init */
	bitmap = take_dirty();
	cr_assert(page_dirty(bitmap, drv->used_gpa), "the used ring's write is logged");
	cr_assert(!page_dirty(bitmap, DATA + 0x3000), "nothing else is");
	free(bitmap);

	virtq_mark_held_dirty(&q, 1);           /* chain 1 is still held */
	bitmap = take_dirty();
	cr_assert(page_dirty(bitmap, DATA + 0x3000), "the held buffer counts for the next");
	cr_assert(!page_dirty(bitmap, DATA), "the returned one does not");
	free(bitmap);
}
