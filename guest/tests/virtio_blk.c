// SPDX-License-Identifier: MIT
/*
 * virtio-blk over PCI from CPL3: find the disk, read its capacity, write a
 * pattern with a checksum, flush, read it back, and read the serial with
 * GET_ID. The host side of the test then checks the image file itself.
 */
#include "virtio.h"

#define BLK_VECTOR 0x51
#define SECTORS    64                       /* 32 KiB written at sector 0 */
#define T_IN 0
#define T_OUT 1
#define T_FLUSH 4
#define T_GET_ID 8

struct blk_hdr { uint32_t type, reserved; uint64_t sector; };

static uint8_t ring[16384] __attribute__((aligned(4096)));
static uint8_t extra_rings[7][16384] __attribute__((aligned(4096)));
static uint8_t wbuf[SECTORS * 512] __attribute__((aligned(4096)));
static uint8_t rbuf[SECTORS * 512] __attribute__((aligned(4096)));
static char id[20];
static struct blk_hdr hdr;
static volatile uint8_t status;
static volatile unsigned int interrupts;
static struct virtio_dev dev;
static struct virtio_queue queue;

static void blk_interrupt(struct regs *r)
{
	(void)r;
	interrupts++;
	lapic_eoi();
}

/* One request, waited for: returns the status byte (0xff on timeout). */
static uint8_t blk_request(uint32_t type, uint64_t sector, void *data, uint32_t len, bool in)
{
	struct vbuf_g bufs[3] = { { &hdr, sizeof(hdr), false } };
	unsigned int n = 1;
	uint64_t deadline = rdtsc() + 20000000000ULL;
	uint16_t head;
	uint32_t used;

	hdr = (struct blk_hdr){ type, 0, sector };
	status = 0xff;
	if (len)
		bufs[n++] = (struct vbuf_g){ data, len, in };
	bufs[n++] = (struct vbuf_g){ (void *)&status, 1, true };
	virtio_submit_chain(&queue, bufs, n);
	/* The first request waits for its interrupt before looking at the used
	 * ring (so used_event has not moved past it): a polling driver that
	 * keeps up may rightly get no interrupt at all under EVENT_IDX. */
	while (!interrupts && rdtsc() < deadline)
		cpu_relax();
	while (!virtio_reap(&queue, &head, &used))
		if (rdtsc() > deadline)
			return 0xff;
	return status;
}

static uint32_t checksum(const uint8_t *p, unsigned int len)
{
	uint32_t sum = 0;

	for (unsigned int i = 0; i < len; i++)
		sum = sum * 31 + p[i];
	return sum;
}

struct results { uint8_t write, flush, read, get_id; };

static uint64_t exercise(void *arg)
{
	struct results *r = arg;

	r->write = blk_request(T_OUT, 0, wbuf, sizeof(wbuf), false);
	r->flush = blk_request(T_FLUSH, 0, 0, 0, false);
	r->read = blk_request(T_IN, 0, rbuf, sizeof(rbuf), true);
	r->get_id = blk_request(T_GET_ID, 0, id, sizeof(id), true);
	return 0;
}

/* queues=N: enable queues 1..N-1 too; hold=1: then stop here, so the host
 * can look at kiln's threads while the queues are live. */
static void enable_more_queues_and_hold(void)
{
	unsigned int want = (unsigned int)cmdline_get_u64("queues", 1), ok = 1;
	struct virtio_queue extra;

	for (unsigned int q = 1; q < want && q <= 7; q++)
		ok += virtio_queue_setup(&dev, &extra, (uint16_t)q, 16, extra_rings[q - 1], 0);
	if (want > 1)
		report(ok == want, "%u queues enabled", ok);
	if (!cmdline_get_u64("hold", 0))
		return;
	printf("INFO: holding\n");
	for (;;)
		__asm__ volatile("cli; hlt");
}

void guest_main(void)
{
	int slot = pci_find(0x1af4, 0x1042);
	struct results r = { 0 };
	uint64_t capacity;
	uint8_t st;

	report(slot >= 0, "virtio-blk found on PCI bus 0 (1af4:1042, slot %d)", slot);
	if (slot < 0 || !virtio_open(&dev, (unsigned int)slot))
		return;
	st = virtio_negotiate(&dev, (1ULL << VIRTIO_F_VERSION_1) | (1ULL << VIRTIO_F_EVENT_IDX) |
				    (1ULL << 9) /* FLUSH */);
	report(st & 8, "FEATURES_OK (status 0x%x)", st);
	report(dev.features & (1ULL << 9), "FLUSH offered");
	capacity = *(volatile uint32_t *)dev.device_cfg |
		   (uint64_t)*(volatile uint32_t *)(dev.device_cfg + 4) << 32;
	report(capacity == cmdline_get_u64("sectors", 0), "capacity %lu sectors", capacity);
	idt_set_handler(BLK_VECTOR, blk_interrupt);
	virtio_msix(&dev, 0, BLK_VECTOR);
	report(virtio_queue_setup(&dev, &queue, 0, 16, ring, 0), "queue 0 enabled");
	virtio_driver_ok(&dev);
	for (unsigned int i = 0; i < sizeof(wbuf); i++)
		wbuf[i] = (uint8_t)(i * 7 + 3);
	user_call(exercise, &r);
	report(r.write == 0, "write of %u sectors (status %u)", SECTORS, r.write);
	report(r.flush == 0, "flush (status %u)", r.flush);
	report(r.read == 0 && checksum(rbuf, sizeof(rbuf)) == checksum(wbuf, sizeof(wbuf)),
	       "read back: checksum 0x%x", checksum(rbuf, sizeof(rbuf)));
	report(r.get_id == 0 && !strncmp(id, "kilnguest", 9), "GET_ID returns the serial '%s'",
	       r.get_id == 0 ? id : "?");
	report(interrupts >= 1, "MSI-X interrupts delivered (%u)", interrupts);
	enable_more_queues_and_hold();
}
