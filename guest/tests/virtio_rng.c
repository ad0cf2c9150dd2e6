// SPDX-License-Identifier: MIT
/*
 * virtio-rng over PCI, driven from CPL3: enumeration finds the device with
 * the virtio IDs and a BAR, the driver negotiates VERSION_1 and EVENT_IDX,
 * sets up a queue with an MSI-X vector, and random bytes come back with an
 * interrupt.
 */
#include "virtio.h"

#define RNG_VECTOR 0x50
#define REQUESTS   8

static uint8_t ring[16384] __attribute__((aligned(4096)));
static uint8_t buffers[REQUESTS][64] __attribute__((aligned(64)));
static volatile unsigned int interrupts;
static struct virtio_dev dev;
static struct virtio_queue queue;

static void rng_interrupt(struct regs *r)
{
	(void)r;
	interrupts++;
	lapic_eoi();
}

struct run { unsigned int completed, bad_len; };

/* At CPL3: submit, notify (an ioeventfd write), wait for the used ring. */
static uint64_t exercise(void *arg)
{
	struct run *run = arg;
	uint64_t deadline;

	for (unsigned int i = 0; i < REQUESTS; i++)
		virtio_submit(&queue, buffers[i], sizeof(buffers[i]), true);
	deadline = rdtsc() + 20000000000ULL;
	/* Interrupt-driven first: nothing is reaped, so used_event stays put,
	 * until the device interrupts. A driver that polls and keeps up may
	 * rightly get none: EVENT_IDX suppresses what it no longer needs. */
	while (!interrupts && rdtsc() < deadline)
		cpu_relax();
	while (run->completed < REQUESTS && rdtsc() < deadline) {
		uint16_t id;
		uint32_t len;

		if (!virtio_reap(&queue, &id, &len)) {
			cpu_relax();
			continue;
		}
		run->completed++;
		if (len != sizeof(buffers[0]))
			run->bad_len++;
	}
	return 0;
}

void guest_main(void)
{
	int slot = pci_find(0x1af4, 0x1044);
	struct run run = { 0 };
	unsigned int nonzero = 0, distinct_buffers = 0;
	uint8_t status;
	bool enabled;

	report(slot >= 0, "virtio-rng found on PCI bus 0 (1af4:1044, slot %d)", slot);
	if (slot < 0)
		return;
	report(pci_read8((unsigned int)slot, 0x08) >= 1, "modern device: revision >= 1");
	report(pci_bar((unsigned int)slot, 4) != 0, "BAR 4 placed at 0x%lx",
	       pci_bar((unsigned int)slot, 4));
	report(virtio_open(&dev, (unsigned int)slot), "common, notify and ISR capabilities");
	report(dev.msix_table != 0, "MSI-X capability with a table");
	status = virtio_negotiate(&dev, (1ULL << VIRTIO_F_VERSION_1) | (1ULL << VIRTIO_F_EVENT_IDX));
	report(status & 8, "FEATURES_OK accepted (status 0x%x)", status);
	report(dev.features & (1ULL << VIRTIO_F_EVENT_IDX), "EVENT_IDX offered and taken");
	idt_set_handler(RNG_VECTOR, rng_interrupt);
	virtio_msix(&dev, 0, RNG_VECTOR);
	enabled = virtio_queue_setup(&dev, &queue, 0, 16, ring, 0);
	report(enabled, "queue 0 enabled (size %u)", queue.size);
	virtio_driver_ok(&dev);
	user_call(exercise, &run);
	report(run.completed == REQUESTS && run.bad_len == 0,
	       "%u of %u requests completed with 64 bytes each", run.completed, REQUESTS);
	for (unsigned int i = 0; i < REQUESTS; i++) {
		for (unsigned int b = 0; b < sizeof(buffers[i]); b++)
			nonzero += buffers[i][b] != 0;
		distinct_buffers += i == 0 || memcmp(buffers[i], buffers[i - 1], 64) != 0;
	}
	report(nonzero > REQUESTS * 64 / 2 && distinct_buffers == REQUESTS,
	       "the bytes look random (%u of %u non-zero, %u distinct buffers)", nonzero,
	       REQUESTS * 64, distinct_buffers);
	report(interrupts >= 1, "MSI-X interrupt delivered (%u)", interrupts);
	report(!(virtio_status(&dev) & 0x40), "device does not need a reset");
}
