// SPDX-License-Identifier: MIT
/*
 * virtio-console from CPL3: write a line to the transmit queue, and when
 * echo=1, wait for a line on the receive queue and send it back; with
 * sum=N, take N bytes from the receive queue and print their FNV-1a hash
 * (the host compares it with what it piped in); with flood=N, write N more
 * bytes ('a' to 'z' over and over) after the line, for the host's
 * --console-limit.
 */
#include "virtio.h"

#define CON_VECTOR 0x52

static uint8_t rx_ring[16384] __attribute__((aligned(4096)));
static uint8_t tx_ring[16384] __attribute__((aligned(4096)));
static char rx_buf[4][128];
static char tx_buf[256];
static struct virtio_dev dev;
static struct virtio_queue rxq, txq;
static volatile unsigned int interrupts;

static void con_interrupt(struct regs *r)
{
	(void)r;
	interrupts++;
	lapic_eoi();
}

static bool transmit_bytes(const char *bytes, uint32_t n)
{
	uint64_t deadline = rdtsc() + 20000000000ULL;
	uint16_t id;
	uint32_t len;

	memcpy(tx_buf, bytes, n);
	virtio_submit(&txq, tx_buf, n, false);
	while (!virtio_reap(&txq, &id, &len))
		if (rdtsc() > deadline)
			return false;
	return true;
}

static bool transmit(const char *text)
{
	return transmit_bytes(text, (uint32_t)strlen(text));
}

/* flood=N: N bytes of 'a'..'z', a transmit buffer at a time. */
static bool flood(uint64_t n)
{
	char chunk[sizeof(tx_buf)];
	uint64_t sent = 0;

	while (sent < n) {
		uint32_t len = n - sent < sizeof(chunk) ? (uint32_t)(n - sent) : sizeof(chunk);

		for (uint32_t i = 0; i < len; i++)
			chunk[i] = (char)('a' + (sent + i) % 26);
		if (!transmit_bytes(chunk, len))
			return false;
		sent += len;
	}
	return true;
}

struct echo { bool sent_hello, got_line, echoed, flooded; char line[128]; uint64_t sum; };

/* sum=N: hash N bytes of input, keeping four receive buffers posted. */
static uint64_t receive_sum(uint64_t n)
{
	uint64_t hash = 0xcbf29ce484222325ULL, got = 0;

	while (got < n) {
		uint16_t id;
		uint32_t len;

		if (!virtio_reap(&rxq, &id, &len))
			continue;
		/* Descriptors go round-robin with four in flight, in order:
		 * descriptor id carries rx_buf[id % 4]. */
		for (uint32_t i = 0; i < len && i < sizeof(rx_buf[0]); i++)
			hash = (hash ^ (uint8_t)rx_buf[id % 4][i]) * 0x100000001b3ULL;
		got += len;
		virtio_submit(&rxq, rx_buf[id % 4], sizeof(rx_buf[0]), true);
	}
	return hash;
}

static uint64_t exercise(void *arg)
{
	struct echo *e = arg;
	uint64_t deadline;
	size_t n = 0;

	for (int i = 0; i < 4; i++)
		virtio_submit(&rxq, rx_buf[i], sizeof(rx_buf[i]), true);
	e->sent_hello = transmit("hello from hvc0\n");
	if (cmdline_get_u64("flood", 0))
		e->flooded = flood(cmdline_get_u64("flood", 0));
	if (cmdline_get_u64("sum", 0)) {
		char out[64];

		/* On hvc0 itself: with --console virtio, COM1's output is dropped. */
		e->sum = receive_sum(cmdline_get_u64("sum", 0));
		snprintf(out, sizeof(out), "console-sum: fnv1a %016lx\n", e->sum);
		e->echoed = transmit(out);
		return 0;
	}
	if (!cmdline_get_u64("echo", 0))
		return 0;
	deadline = rdtsc() + 30000000000ULL;
	while (rdtsc() < deadline && !memchr_nl(e->line, n)) {
		uint16_t id;
		uint32_t len;

		if (!virtio_reap(&rxq, &id, &len))
			continue;
		if (id < 4 && n + len < sizeof(e->line)) {
			memcpy(e->line + n, rx_buf[id], len);
			n += len;
		}
		virtio_submit(&rxq, rx_buf[id % 4], sizeof(rx_buf[0]), true);
	}
	e->got_line = memchr_nl(e->line, n);
	if (e->got_line) {
		char out[160];

		e->line[n] = 0;
		snprintf(out, sizeof(out), "echo: %s", e->line);
		e->echoed = transmit(out);
	}
	return 0;
}

void guest_main(void)
{
	int slot = pci_find(0x1af4, 0x1043);
	struct echo e = { 0 };
	uint8_t st;

	report(slot >= 0, "virtio-console found (1af4:1043, slot %d)", slot);
	if (slot < 0 || !virtio_open(&dev, (unsigned int)slot))
		return;
	st = virtio_negotiate(&dev, (1ULL << VIRTIO_F_VERSION_1) | (1ULL << VIRTIO_F_EVENT_IDX));
	report(st & 8, "FEATURES_OK (status 0x%x)", st);
	idt_set_handler(CON_VECTOR, con_interrupt);
	virtio_msix(&dev, 0, CON_VECTOR);
	report(virtio_queue_setup(&dev, &rxq, 0, 16, rx_ring, 0) &&
	       virtio_queue_setup(&dev, &txq, 1, 16, tx_ring, 0), "receive and transmit queues");
	virtio_driver_ok(&dev);
	user_call(exercise, &e);
	report(e.sent_hello, "a line went out on the transmit queue");
	if (cmdline_get_u64("flood", 0))
		report(e.flooded, "%lu more bytes went out", cmdline_get_u64("flood", 0));
	if (cmdline_get_u64("sum", 0))
		report(e.echoed, "the hash of the input went out");
	if (cmdline_get_u64("echo", 0)) {
		report(e.got_line, "a line came in on the receive queue");
		report(e.echoed, "and went back out");
	}
}
