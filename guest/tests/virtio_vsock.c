// SPDX-License-Identifier: MIT
/*
 * virtio-vsock over PCI, polled: the driver finds the device (1af4:1053),
 * reads its guest CID, sets up the rx, tx and event queues, connects to
 * the host's port (cmdline port=P: a program listening on kiln's PATH_P),
 * sends a line, reads the host's echo, and closes with SHUTDOWN, which the
 * device answers with RST. A connect to a port nobody listens on (P + 1)
 * is reset.
 */
#include "virtio.h"

#define RX_BUFS  8
#define RX_SIZE  (4096 + 44)
#define GUEST_PORT 1234

struct vsock_hdr {
	uint64_t src_cid, dst_cid;
	uint32_t src_port, dst_port, len;
	uint16_t type, op;
	uint32_t flags, buf_alloc, fwd_cnt;
} __attribute__((packed));

enum { OP_REQUEST = 1, OP_RESPONSE, OP_RST, OP_SHUTDOWN, OP_RW };

static uint8_t rings[3][16384] __attribute__((aligned(4096)));
static uint8_t rx_bufs[RX_BUFS][RX_SIZE] __attribute__((aligned(64)));
static uint8_t event_buf[4][4];
static uint8_t tx_buf[4096 + 44];
static struct virtio_dev dev;
static struct virtio_queue rxq, txq, evq;
static uint64_t guest_cid;
static uint32_t fwd_cnt;

static void post_rx(unsigned int i)
{
	virtio_submit(&rxq, rx_bufs[i], RX_SIZE, true);
}

static void send(uint32_t port, uint16_t op, uint32_t flags, const char *data, uint32_t len)
{
	struct vsock_hdr h = { .src_cid = guest_cid, .dst_cid = 2, .src_port = GUEST_PORT,
			       .dst_port = port, .len = len, .type = 1, .op = op, .flags = flags,
			       .buf_alloc = 65536, .fwd_cnt = fwd_cnt };
	uint16_t id;
	uint32_t used;

	memcpy(tx_buf, &h, sizeof(h));
	memcpy(tx_buf + sizeof(h), data, len);
	virtio_submit(&txq, tx_buf, (uint32_t)sizeof(h) + len, false);
	for (uint64_t deadline = rdtsc() + 20000000000ULL; rdtsc() < deadline;)
		if (virtio_reap(&txq, &id, &used))
			return;
}

/* The next packet for us; its op, or 0 when none came in time. */
static uint16_t receive(struct vsock_hdr *h, char *data, uint32_t max)
{
	for (uint64_t deadline = rdtsc() + 20000000000ULL; rdtsc() < deadline;) {
		uint16_t id;
		uint32_t len;
		unsigned int i;

		if (!virtio_reap(&rxq, &id, &len)) {
			cpu_relax();
			continue;
		}
		for (i = 0; i < RX_BUFS && rxq.desc[id].addr != (uint64_t)rx_bufs[i]; i++)
			;
		if (i == RX_BUFS || len < sizeof(*h))
			return 0;
		memcpy(h, rx_bufs[i], sizeof(*h));
		if (h->len && h->len <= max && h->len <= len - sizeof(*h))
			memcpy(data, rx_bufs[i] + sizeof(*h), h->len);
		fwd_cnt += h->len;
		post_rx(i);
		return h->op;
	}
	return 0;
}

static bool setup(void)
{
	int slot = pci_find(0x1af4, 0x1053);
	uint8_t status;

	report(slot >= 0, "virtio-vsock found on PCI bus 0 (1af4:1053, slot %d)", slot);
	if (slot < 0 || !virtio_open(&dev, (unsigned int)slot))
		return false;
	status = virtio_negotiate(&dev, 1ULL << VIRTIO_F_VERSION_1);
	report(status & 8, "FEATURES_OK accepted (status 0x%x)", status);
	guest_cid = *(volatile uint32_t *)dev.device_cfg |
		    (uint64_t)*(volatile uint32_t *)(dev.device_cfg + 4) << 32;
	report(guest_cid == cmdline_get_u64("cid", 0), "guest_cid %lu from the config space",
	       guest_cid);
	report(virtio_queue_setup(&dev, &rxq, 0, 64, rings[0], 0xffff) &&
	       virtio_queue_setup(&dev, &txq, 1, 64, rings[1], 0xffff) &&
	       virtio_queue_setup(&dev, &evq, 2, 64, rings[2], 0xffff), "three queues enabled");
	virtio_queue_poll_only(&rxq);
	virtio_queue_poll_only(&txq);
	virtio_queue_poll_only(&evq);
	virtio_driver_ok(&dev);
	for (unsigned int i = 0; i < RX_BUFS; i++)
		post_rx(i);
	for (unsigned int i = 0; i < 4; i++)
		virtio_submit(&evq, event_buf[i], 4, true);
	return true;
}

void guest_main(void)
{
	uint32_t port = (uint32_t)cmdline_get_u64("port", 0);
	static const char line[] = "hello over vsock\n";
	struct vsock_hdr h;
	char back[64] = { 0 };
	uint16_t op;

	if (!setup())
		return;
	send(port, OP_REQUEST, 0, NULL, 0);
	report(receive(&h, back, sizeof(back)) == OP_RESPONSE && h.src_port == port &&
	       h.dst_port == GUEST_PORT && h.dst_cid == guest_cid,
	       "connect to host port %u answered with RESPONSE", port);
	send(port, OP_RW, 0, line, sizeof(line) - 1);
	/* Received first: the arguments of report() come in no set order. */
	op = receive(&h, back, sizeof(back));
	report(op == OP_RW && h.len == sizeof(line) - 1 && !memcmp(back, line, sizeof(line) - 1),
	       "the host echoed %u bytes", op == OP_RW ? h.len : 0);
	send(port, OP_SHUTDOWN, 3, NULL, 0);
	report(receive(&h, back, sizeof(back)) == OP_RST, "SHUTDOWN answered with RST");
	send(port + 1, OP_REQUEST, 0, NULL, 0);
	report(receive(&h, back, sizeof(back)) == OP_RST && h.src_port == port + 1,
	       "connect to port %u, where nobody listens, is reset", port + 1);
	report(!(virtio_status(&dev) & 0x40), "device does not need a reset");
}
