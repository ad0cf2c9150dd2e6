// SPDX-License-Identifier: MIT
/*
 * virtio-blk load from CPL3 for bench/: keeps qd requests of bs bytes in
 * flight (randread, seqread or seqwrite) for about seconds, polling the
 * used ring (no interrupts), and prints the IOPS measured against the
 * ACPI PM timer. Command line: mode=randread|seqread|seqwrite bs=4096
 * qd=32 seconds=5 sectors=N.
 */
#include "virtio.h"

#define MAX_QD 64
#define PM_TIMER_PORT 0x608
#define PM_HZ 3579545UL

struct blk_hdr { uint32_t type, reserved; uint64_t sector; };

static uint8_t ring[16384] __attribute__((aligned(4096)));
static uint8_t data[MAX_QD][131072] __attribute__((aligned(4096)));
static struct blk_hdr hdrs[256];
static uint8_t statuses[256];
static struct virtio_dev dev;
static struct virtio_queue queue;

struct load {
	unsigned int mode, qd;
	uint32_t bs;
	uint64_t sectors, ticks, done, errors;
};

static uint32_t pm_now(void)
{
	return inl(PM_TIMER_PORT) & 0xffffff;
}

static void submit(struct load *l, unsigned int slot, uint64_t *seed, uint64_t *next)
{
	uint64_t per = l->bs / 512, sector;
	uint16_t head = queue.next_free;
	struct vbuf_g bufs[3];

	if (l->mode == 0) {
		*seed ^= *seed << 13; *seed ^= *seed >> 7; *seed ^= *seed << 17;
		sector = (*seed % (l->sectors / per)) * per;
	} else {
		sector = *next;
		*next = (*next + per) % (l->sectors - per);
	}
	hdrs[head] = (struct blk_hdr){ l->mode == 2 ? 1 : 0, 0, sector };
	bufs[0] = (struct vbuf_g){ &hdrs[head], sizeof(hdrs[0]), false };
	bufs[1] = (struct vbuf_g){ data[slot], l->bs, l->mode != 2 };
	bufs[2] = (struct vbuf_g){ &statuses[head], 1, true };
	virtio_submit_chain(&queue, bufs, 3);
}

static uint64_t run(void *arg)
{
	struct load *l = arg;
	uint64_t seed = 0x9e3779b97f4a7c15ULL, next = 0, elapsed = 0, limit = l->ticks;
	uint32_t last = pm_now();
	unsigned int inflight = 0;

	/* Each chain is three descriptors; slots cycle with the heads. */
	while (elapsed < limit || inflight) {
		uint16_t id;
		uint32_t len, now;

		while (elapsed < limit && inflight < l->qd) {
			submit(l, inflight % l->qd, &seed, &next);
			inflight++;
		}
		while (virtio_reap(&queue, &id, &len)) {
			inflight--;
			l->done++;
			l->errors += statuses[id] != 0;
		}
		now = pm_now();
		elapsed += (now - last) & 0xffffff;
		last = now;
	}
	l->ticks = elapsed;
	return 0;
}

void guest_main(void)
{
	const char *mode = cmdline_get("mode");
	struct load l = {
		.mode = !mode || !strncmp(mode, "randread", 8) ? 0 : !strncmp(mode, "seqread", 7) ? 1 : 2,
		.bs = (uint32_t)cmdline_get_u64("bs", 4096),
		.qd = (unsigned int)cmdline_get_u64("qd", 32),
		.sectors = cmdline_get_u64("sectors", 0),
		.ticks = cmdline_get_u64("seconds", 5) * PM_HZ,
	};
	int slot = pci_find(0x1af4, 0x1042);

	if (slot < 0 || !virtio_open(&dev, (unsigned int)slot) || l.qd > MAX_QD || l.bs > 131072 ||
	    !l.sectors) {
		report(false, "set-up (disk found, qd <= %d, bs <= 128k, sectors= given)", MAX_QD);
		return;
	}
	virtio_negotiate(&dev, 1ULL << VIRTIO_F_VERSION_1);
	report(virtio_queue_setup(&dev, &queue, 0, 256, ring, 0xffff), "queue of %u", queue.size);
	queue.avail[0] = 1; /* VRING_AVAIL_F_NO_INTERRUPT: this loop polls */
	virtio_driver_ok(&dev);
	user_call(run, &l);
	printf("INFO: blk-bench iops=%lu mbps=%lu errors=%lu\n", l.done * PM_HZ / l.ticks,
	       l.done * l.bs * PM_HZ / l.ticks / 1000000, l.errors);
	report(l.errors == 0 && l.done > 0, "%lu requests, no errors", l.done);
}
