// SPDX-License-Identifier: MIT
/*
 * The split virtqueue (src/virtio/queue.c) against a hostile driver: the
 * input places the rings (any address, aligned or not), picks the queue
 * size and features, then writes guest RAM freely (descriptors, indirect
 * tables, loops, avail indices). Every chain the queue hands out must lie
 * inside guest RAM and within the segment limit, whatever the input.
 */
#include <stdint.h>

#include "fuzz_input.h"
#include "virtio/queue.h"

#define RAM (1ULL << 20)

static struct guest_memory mem;
static struct virtq_chain chain;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	FUZZ_SETUP(guest_mem_create(&mem, RAM, 3ULL << 30) == 0);
	return 0;
}

static bool inside_ram(const struct iovec *iov)
{
	const uint8_t *base = mem.slots[0].hva, *p = iov->iov_base;

	return p >= base && iov->iov_len <= RAM && (uint64_t)(p - base) <= RAM - iov->iov_len;
}

static void check_chain(const struct virtq *q)
{
	uint64_t out = 0, in = 0;

	FUZZ_CHECK(chain.head < q->size, "head %u of a queue of %u", chain.head, q->size);
	FUZZ_CHECK(chain.nr_out + chain.nr_in <= VIRTQ_MAX_SEGMENTS, "%u segments",
		   chain.nr_out + chain.nr_in);
	for (unsigned int i = 0; i < chain.nr_out + chain.nr_in; i++) {
		FUZZ_CHECK(inside_ram(&chain.iov[i]), "segment %u outside guest RAM", i);
		*(i < chain.nr_out ? &out : &in) += chain.iov[i].iov_len;
	}
	FUZZ_CHECK(out == chain.out_len && in == chain.in_len, "lengths %lu/%lu vs %lu/%lu",
		   out, in, chain.out_len, chain.in_len);
}

/* Ring placement: mostly aligned in the first 64 KiB, where most writes go;
 * now and then anywhere in (or just past) RAM, aligned or not. */
static uint64_t ring_gpa(struct fuzz_input *in)
{
	uint32_t v = fuzz_u32(in);

	return (v & 0x80000000u) ? (v & 0x7fffffffu) % (RAM + 0x1000) : v & 0xfff0;
}

/* Write n chunks of the input into guest RAM: (offset, length, bytes). */
static void write_ram(struct fuzz_input *in, unsigned int n)
{
	for (unsigned int i = 0; i < n && fuzz_left(in); i++) {
		/* Mostly the first 64 KiB (rings, tables); sometimes anywhere. */
		uint32_t off = fuzz_u16(in);
		uint16_t len;
		uint8_t *p;

		if (off & 1)
			off = (uint32_t)((off * 64ULL + fuzz_u8(in)) % RAM);
		len = fuzz_u8(in);
		p = guest_mem_ptr(&mem, off, len);
		if (p)
			fuzz_take(in, p, len);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_input in = fuzz_input(data, size);
	uint8_t shape = fuzz_u8(&in);
	uint16_t qsize = (uint16_t)(1u << (shape & 15)); /* up to 32768 */
	uint64_t desc = ring_gpa(&in), avail = ring_gpa(&in), used = ring_gpa(&in);
	struct virtq q;

	if (shape & 0x80) /* now and then a size that is not a power of two */
		qsize = (uint16_t)(qsize + fuzz_u8(&in));
	memset(mem.slots[0].hva, 0, RAM); /* each input starts from the same RAM */
	if (virtq_init(&q, &mem, qsize, desc, avail, used, shape & 0x10, shape & 0x20))
		return 0;
	/* Rounds: the driver writes RAM, then the device serves what it finds.
	 * Bounded, so that one input stays quick: each pop may walk 1024
	 * descriptors (VIRTQ_MAX_SEGMENTS), and a big ring served round after
	 * round is work, not a finding. */
	for (unsigned int round = 0; round < 4 && fuzz_left(&in); round++) {
		unsigned int budget = q.size < 128 ? 2u * q.size + 2 : 256;
		int ret;

		write_ram(&in, 1 + fuzz_u8(&in) % 16);
		while (budget-- && (ret = virtq_pop(&q, &chain)) != 0) {
			if (ret == VIRTQ_ERR_RING) {
				FUZZ_CHECK(q.broken, "a ring error marks the queue broken");
				break;
			}
			if (ret == 1)
				check_chain(&q);
			virtq_push(&q, chain.head, ret == 1 ? (uint32_t)chain.in_len : 0);
		}
		(void)virtq_should_interrupt(&q);
		if (!q.broken)
			(void)virtq_prepare_sleep(&q);
		virtq_suppress_kicks(&q);
	}
	return 0;
}
