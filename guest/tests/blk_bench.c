// SPDX-License-Identifier: MIT
/*
 * virtio-blk load from CPL3 for bench/: on each of `queues` virtqueues, one
 * CPU keeps qd requests of bs bytes in flight (randread, seqread or
 * seqwrite) for about seconds, polling its used ring (no interrupts), and
 * the total IOPS is measured against the ACPI PM timer. Like Linux's driver
 * it notifies once per batch and only when the device asks (EVENT_IDX).
 * Command line:
 * mode=randread|seqread|seqwrite bs=4096 qd=32 seconds=5 sectors=N queues=1
 * (queues needs as many vCPUs and the disk's queues).
 */
#include "virtio.h"

#define MAX_QD 64
#define MAX_QUEUES 4

struct blk_hdr { uint32_t type, reserved; uint64_t sector; };

struct load {
	unsigned int mode, qd;
	uint32_t bs;
	uint64_t sectors, ticks;
};

/* One queue and everything its CPU needs, so that lanes share no line. */
struct lane {
	uint8_t ring[16384];
	uint8_t data[MAX_QD][131072];
	struct blk_hdr hdrs[256];
	uint8_t statuses[256];
	struct virtio_queue queue;
	const struct load *load;
	uint64_t seed, next, done, errors, ticks;
} __attribute__((aligned(4096)));

static struct lane lanes[MAX_QUEUES];
static struct virtio_dev dev;

static void submit(struct lane *n, unsigned int slot)
{
	const struct load *l = n->load;
	uint64_t per = l->bs / 512, sector;
	uint16_t head = n->queue.next_free;
	struct vbuf_g bufs[3];

	if (l->mode == 0) {
		n->seed ^= n->seed << 13; n->seed ^= n->seed >> 7; n->seed ^= n->seed << 17;
		sector = (n->seed % (l->sectors / per)) * per;
	} else {
		sector = n->next;
		n->next = (n->next + per) % (l->sectors - per);
	}
	n->hdrs[head] = (struct blk_hdr){ l->mode == 2 ? 1 : 0, 0, sector };
	bufs[0] = (struct vbuf_g){ &n->hdrs[head], sizeof(n->hdrs[0]), false };
	bufs[1] = (struct vbuf_g){ n->data[slot], l->bs, l->mode != 2 };
	bufs[2] = (struct vbuf_g){ &n->statuses[head], 1, true };
	virtio_add_chain(&n->queue, bufs, 3);
}

static uint64_t run(void *arg)
{
	struct lane *n = arg;
	uint64_t elapsed = 0, limit = n->load->ticks;
	struct pm_clock pm;
	unsigned int inflight = 0, spins = 0;

	pm_clock_start(&pm, PM_TIMER_PORT);

	/* Each chain is three descriptors; slots cycle with the heads. */
	while (elapsed < limit || inflight) {
		uint16_t id;
		uint32_t len;

		while (elapsed < limit && inflight < n->load->qd) {
			submit(n, inflight % n->load->qd);
			inflight++;
		}
		virtio_kick(&n->queue);
		while (virtio_reap(&n->queue, &id, &len)) {
			inflight--;
			n->done++;
			n->errors += n->statuses[id] != 0;
		}
		/* Each timer read is an exit to the VMM: not on every spin. */
		if (++spins % 64 == 0 || !inflight)
			elapsed = pm_clock_ticks(&pm);
	}
	n->ticks = elapsed;
	return 0;
}

static void run_lane(void *arg)
{
	user_call(run, arg);
}

static bool setup_lanes(const struct load *l, unsigned int queues)
{
	virtio_negotiate(&dev, (1ULL << VIRTIO_F_VERSION_1) | (1ULL << VIRTIO_F_EVENT_IDX));
	for (unsigned int q = 0; q < queues; q++) {
		struct lane *n = &lanes[q];

		if (!virtio_queue_setup(&dev, &n->queue, (uint16_t)q, 256, n->ring, 0xffff))
			return false;
		virtio_queue_poll_only(&n->queue); /* the loop polls */
		n->load = l;
		n->seed = 0x9e3779b97f4a7c15ULL * (q + 1);
		/* Sequential lanes start apart, so they do not read the same blocks. */
		n->next = l->sectors / queues * q / (l->bs / 512) * (l->bs / 512);
	}
	virtio_driver_ok(&dev);
	return true;
}

void guest_main(void)
{
	const char *mode = cmdline_get("mode");
	struct load l = {
		.mode = !mode || !strncmp(mode, "randread", 8) ? 0 : !strncmp(mode, "seqread", 7) ? 1 : 2,
		.bs = (uint32_t)cmdline_get_u64("bs", 4096),
		.qd = (unsigned int)cmdline_get_u64("qd", 32),
		.sectors = cmdline_get_u64("sectors", 0),
		.ticks = cmdline_get_u64("seconds", 5) * PM_TIMER_HZ,
	};
	unsigned int queues = (unsigned int)cmdline_get_u64("queues", 1);
	int slot = pci_find(0x1af4, 0x1042);
	uint64_t done = 0, errors = 0, ticks = 0;

	if (slot < 0 || !virtio_open(&dev, (unsigned int)slot) || l.qd > MAX_QD || l.bs > 131072 ||
	    !l.sectors || !queues || queues > MAX_QUEUES) {
		report(false, "set-up (disk found, qd <= %d, bs <= 128k, sectors= given, "
		       "1 <= queues <= %d)", MAX_QD, MAX_QUEUES);
		return;
	}
	if (queues > 1 && smp_start(queues) < queues) {
		report(false, "%u CPUs for %u queues", cpu_count(), queues);
		return;
	}
	if (!setup_lanes(&l, queues)) {
		report(false, "%u queues of 256", queues);
		return;
	}
	for (unsigned int q = 1; q < queues; q++)
		on_cpu_start(q, run_lane, &lanes[q]);
	run_lane(&lanes[0]);
	for (unsigned int q = 0; q < queues; q++) {
		if (q)
			on_cpu_wait(q);
		done += lanes[q].done;
		errors += lanes[q].errors;
		ticks = lanes[q].ticks > ticks ? lanes[q].ticks : ticks;
	}
	ticks = ticks ? ticks : 1;
	printf("INFO: blk-bench iops=%lu mbps=%lu errors=%lu\n", done * PM_TIMER_HZ / ticks,
	       done * l.bs * PM_TIMER_HZ / ticks / 1000000, errors);
	report(errors == 0 && done > 0, "%lu requests on %u queues, no errors", done, queues);
}
