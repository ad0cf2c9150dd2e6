// SPDX-License-Identifier: MIT
/*
 * virtio-net over a real tap, with this program as the guest's driver (no
 * KVM): virtio-pci registers, split rings in plain memory, the device's
 * real worker threads. Run inside a network namespace whose tap TAP
 * (multi_queue) has 10.77.0.1/24 and is up (tests/harness/test_net_tap.py
 * makes it); the "guest" is 10.77.0.2. It checks, printing "ok: NAME" for
 * each: control-queue commands, ARP and ICMP echo with the namespace's
 * kernel (the echo's checksum left to the device: CSUM), a TCP connection
 * to a socket here whose data goes out as one TSO frame and comes back as
 * GSO frames spread over mergeable buffers, two queue pairs, pause and
 * reset with frames in flight, and hostile chains.
 *
 * usage: net-tap TAP
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bus/io_bus.h"
#include "virtio/net.h"
#include "virtio/pci.h"
#include "virtio/pci_device.h"
#include "virtq_driver.h"
#include "x86/layout.h"

#define MIB        (1ULL << 20)
#define RAM        (64 * MIB)
#define QSIZE      256
#define PAIRS      2
#define NQ         (2 * PAIRS + 1)
#define CTRLQ      (2 * PAIRS)
#define RING(q)    (0x10000ULL + (q) * 0x10000ULL)
#define RXBUF(p, i) (0x100000ULL + (p) * 0x100000ULL + (i) * 2048ULL)
#define RXBUFS     128            /* per RX queue, 2 KiB each: 256 KiB */
#define RXBUF_LEN  2048
#define TXAREA     0x800000ULL    /* frames to send, 128 KiB a slot */
#define CTRLAREA   0x1000000ULL
#define DEADLINE_S 10

#define GUEST_IP   "10.77.0.2"
#define HOST_IP    "10.77.0.1"

static const uint8_t guest_mac[6] = { 0x02, 0x00, 0x00, 0x77, 0x00, 0x02 };

struct harness {
	struct guest_memory mem;
	struct pci_bus pci;
	struct io_bus pio, mmio;
	struct device_list devices;
	struct virtio_pci *vp;
	struct virtio_net *net;
	struct vdriver drv[NQ];
	int kick_fd[NQ];
	uint64_t features;
	uint8_t tap_mac[6];
	uint32_t guest_ip, host_ip;
	uint16_t tx_slot;
};

static struct harness h;

static void fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "net-tap: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	exit(1);
}

static time_t deadline(void)
{
	return time(NULL) + DEADLINE_S;
}

static int fake_ioeventfd(void *ctx, uint64_t addr, unsigned int len, int fd, bool add)
{
	uint64_t q = (addr - h.vp->pci.bars[VPCI_BAR].addr - VPCI_NOTIFY_OFF) / VPCI_NOTIFY_MULT;

	(void)ctx;
	(void)len;
	if (q < NQ)
		h.kick_fd[q] = add ? fd : -1;
	return 0;
}

static int fake_msi_route(void *ctx, unsigned int route, uint64_t addr, uint32_t data, int fd)
{
	(void)ctx, (void)route, (void)addr, (void)data, (void)fd;
	return 0;
}

static int fake_msi_alloc(void *ctx, unsigned int count, unsigned int *first)
{
	(void)ctx, (void)count;
	*first = 0;
	return 0;
}

static void wr(uint64_t off, unsigned int size, uint64_t v)
{
	uint8_t data[8];

	io_data_put(data, size, v);
	h.vp->pci.bars[VPCI_BAR].handler(h.vp, off, data, size, true);
}

static uint64_t rd(uint64_t off, unsigned int size)
{
	uint8_t data[8];

	h.vp->pci.bars[VPCI_BAR].handler(h.vp, off, data, size, false);
	return io_data_get(data, size);
}

static void make_nic(const char *tap)
{
	struct kiln_err err = { 0 };
	static const struct virtio_pci_host host = { fake_ioeventfd, fake_msi_route,
						      fake_msi_alloc, NULL };
	static const struct machine_ops machine = { 0 };
	static struct kiln_config cfg = { .command = KILN_CMD_RUN, .cpus = 1, .nr_nets = 1 };
	struct device_env env = { .cfg = &cfg, .machine = &machine, .pio = &h.pio,
				  .mmio = &h.mmio, .pci = &h.pci, .mem = &h.mem,
				  .virtio = &host, .console_fd = -1, .devices = &h.devices };

	cfg.nets[0] = (struct net_config){ .kind = NET_TAP, .queues = PAIRS, .mac_set = true };
	memcpy(cfg.nets[0].mac, guest_mac, 6);
	snprintf(cfg.nets[0].tap.name, sizeof(cfg.nets[0].tap.name), "%s", tap);
	if (guest_mem_create(&h.mem, RAM, LAYOUT_PCI_HOLE_START))
		fail("guest memory");
	pci_bus_init(&h.pci, LAYOUT_PCI_MMIO32, LAYOUT_PCI_MMIO32_END, 1ULL << 33, 1ULL << 35);
	if (virtio_net_kind.create(&env, &err) || device_list_start(&h.devices, &err))
		fail("%s", err.msg);
	h.vp = virtio_pci_device_transport(h.devices.head);
	if (!h.vp)
		fail("no transport");
	h.net = h.vp->model.device;
}

static void kick(unsigned int q)
{
	vdriver_publish(&h.drv[q]);
	if (h.kick_fd[q] < 0 || write(h.kick_fd[q], &(uint64_t){ 1 }, 8) != 8)
		fail("kick queue %u", q);
}

static void post_rx(unsigned int q, unsigned int i)
{
	struct vbuf b = { RXBUF(q / 2, i), RXBUF_LEN, true };
	int head = vdriver_add(&h.drv[q], &b, 1);

	if (head < 0)
		fail("rx queue %u full", q);
	vdriver_queue_head(&h.drv[q], (uint16_t)head);
}

/* The head of each RX chain is the index of its buffer: posted in order
 * into a fresh ring, and reposted in the slot it came back from. */
static void fill_rx(unsigned int q)
{
	for (unsigned int i = 0; i < RXBUFS; i++)
		post_rx(q, i);
	kick(q);
}

/* A driver's bring-up: reset, negotiate, queues, DRIVER_OK. */
static void bring_up(uint64_t features)
{
	uint64_t offered;

	wr(0x14, 1, 0);
	wr(0x14, 1, 1 | 2);
	wr(0x00, 4, 0);
	offered = rd(0x04, 4);
	wr(0x00, 4, 1);
	offered |= rd(0x04, 4) << 32;
	if ((features & offered) != features)
		fail("features %#llx not offered (%#llx)", (unsigned long long)features,
		     (unsigned long long)offered);
	wr(0x08, 4, 0);
	wr(0x0c, 4, (uint32_t)features);
	wr(0x08, 4, 1);
	wr(0x0c, 4, (uint32_t)(features >> 32));
	wr(0x14, 1, 1 | 2 | 8);
	if (!(rd(0x14, 1) & 8))
		fail("FEATURES_OK refused");
	h.features = features;
	for (unsigned int q = 0; q < NQ; q++) {
		vdriver_init(&h.drv[q], &h.mem, RING(q), QSIZE, false);
		wr(0x16, 2, q);
		wr(0x18, 2, QSIZE);
		wr(0x20, 8, h.drv[q].desc_gpa);
		wr(0x28, 8, h.drv[q].avail_gpa);
		wr(0x30, 8, h.drv[q].used_gpa);
		wr(0x1c, 2, 1);
	}
	wr(0x14, 1, 1 | 2 | 4 | 8);
	for (unsigned int p = 0; p < PAIRS; p++)
		fill_rx(2 * p);
}

/* ---- the control queue ---- */

static uint8_t ctrl(const void *cmd, uint32_t len)
{
	struct vbuf b[2] = { { CTRLAREA, len, false }, { CTRLAREA + 0x4000, 1, true } };
	time_t end = deadline();
	uint16_t head;
	uint32_t used;
	uint8_t ack = 0xee;
	int hd;

	guest_mem_write(&h.mem, CTRLAREA, cmd, len);
	guest_mem_write(&h.mem, CTRLAREA + 0x4000, &ack, 1);
	hd = vdriver_add(&h.drv[CTRLQ], b, 2);
	if (hd < 0)
		fail("ctrl queue full");
	vdriver_queue_head(&h.drv[CTRLQ], (uint16_t)hd);
	kick(CTRLQ);
	while (!vdriver_get_used(&h.drv[CTRLQ], &head, &used))
		if (time(NULL) > end)
			fail("no answer on the control queue");
		else
			usleep(200);
	guest_mem_read(&h.mem, CTRLAREA + 0x4000, &ack, 1);
	return ack;
}

static void check_ctrl(void)
{
	uint8_t pairs2[4] = { VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, 2, 0 };
	uint8_t pairs0[4] = { VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, 0, 0 };
	uint8_t pairs9[4] = { VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, 9, 0 };
	uint8_t promisc[3] = { VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_PROMISC, 1 };
	uint8_t unknown[3] = { 9, 0, 0 };
	uint8_t table[2 + 4 + 6 + 4] = { VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_TABLE_SET, 1 };
	uint8_t short_table[2 + 4 + 3] = { VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_TABLE_SET, 1 };

	if (ctrl(pairs0, 4) != VIRTIO_NET_ERR || ctrl(pairs9, 4) != VIRTIO_NET_ERR)
		fail("VQ_PAIRS_SET out of range accepted");
	if (ctrl(unknown, 3) != VIRTIO_NET_ERR || ctrl(short_table, sizeof(short_table)) != VIRTIO_NET_ERR)
		fail("an unknown class or a short MAC table accepted");
	if (ctrl(promisc, 3) != VIRTIO_NET_OK || ctrl(table, sizeof(table)) != VIRTIO_NET_OK)
		fail("PROMISC or MAC_TABLE_SET refused");
	if (ctrl(pairs2, 4) != VIRTIO_NET_OK || h.net->active_pairs != 2)
		fail("VQ_PAIRS_SET 2 refused");
	printf("ok: ctrl\n");
}

static void set_pairs(uint16_t pairs)
{
	uint8_t cmd[4] = { VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, (uint8_t)pairs, 0 };

	if (ctrl(cmd, 4) != VIRTIO_NET_OK)
		fail("VQ_PAIRS_SET %u refused", pairs);
}

/* ---- frames ---- */

struct frame {
	struct virtio_net_hdr_v1 hdr;
	uint8_t data[VIRTIO_NET_FRAME_MAX];
	uint32_t len;
	unsigned int queue;
};

/* Send one frame from TX queue q (0 or 1: pair), in 4 KiB segments after
 * the header; wait until the device gave the chain back. */
static void send_frame(unsigned int pair, const struct virtio_net_hdr_v1 *hdr,
		       const uint8_t *data, uint32_t len)
{
	unsigned int q = 2 * pair + 1, n = 0;
	uint64_t base = TXAREA + (uint64_t)(h.tx_slot++ % 8) * 0x20000;
	struct vbuf b[40];
	time_t end = deadline();
	uint16_t head;
	uint32_t used;
	int hd;

	guest_mem_write(&h.mem, base, hdr, sizeof(*hdr));
	guest_mem_write(&h.mem, base + 0x100, data, len);
	b[n++] = (struct vbuf){ base, sizeof(*hdr), false };
	for (uint32_t off = 0; off < len; off += 4096)
		b[n++] = (struct vbuf){ base + 0x100 + off, len - off < 4096 ? len - off : 4096,
					 false };
	hd = vdriver_add(&h.drv[q], b, n);
	if (hd < 0)
		fail("tx queue full");
	vdriver_queue_head(&h.drv[q], (uint16_t)hd);
	kick(q);
	while (!vdriver_get_used(&h.drv[q], &head, &used))
		if (time(NULL) > end)
			fail("tx chain never came back");
		else
			usleep(100);
}

/* Take the next frame from RX queue q, with MRG_RXBUF's several buffers;
 * false when none came by the end (end 0: only what is there now). */
static bool recv_frame_on(unsigned int q, struct frame *f, time_t end)
{
	uint16_t head;
	uint32_t len, got = 0, buffers;

	do {
		if (vdriver_get_used(&h.drv[q], &head, &len))
			break;
		if (!end || time(NULL) > end)
			return false;
		usleep(100);
	} while (1);
	/* The first buffer: header, then data. */
	if (len < sizeof(f->hdr) || head >= RXBUFS)
		fail("rx: used entry %u of %u bytes", head, len);
	guest_mem_read(&h.mem, RXBUF(q / 2, head), &f->hdr, sizeof(f->hdr));
	buffers = f->hdr.num_buffers;
	if (buffers < 1 || buffers > RXBUFS)
		fail("rx: num_buffers %u", buffers);
	guest_mem_read(&h.mem, RXBUF(q / 2, head) + sizeof(f->hdr), f->data, len - sizeof(f->hdr));
	got = len - sizeof(f->hdr);
	post_rx(q, head);
	for (uint32_t i = 1; i < buffers; i++) {
		while (!vdriver_get_used(&h.drv[q], &head, &len))
			if (time(NULL) > deadline())
				fail("rx: missing buffer %u of %u", i, buffers);
		if (got + len > sizeof(f->data))
			fail("rx: frame too long");
		guest_mem_read(&h.mem, RXBUF(q / 2, head), f->data + got, len);
		got += len;
		post_rx(q, head);
	}
	kick(q);
	f->len = got;
	f->queue = q;
	return true;
}

/* The next frame on any RX queue. */
static bool recv_frame(struct frame *f, time_t end)
{
	do {
		for (unsigned int p = 0; p < PAIRS; p++)
			if (recv_frame_on(2 * p, f, 0))
				return true;
		usleep(100);
	} while (time(NULL) <= end);
	return false;
}

static uint16_t csum_add(uint32_t sum, const void *data, size_t len)
{
	const uint8_t *p = data;

	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (len & 1)
		sum += (uint32_t)(p[len - 1] << 8);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static void put32(uint8_t *p, uint32_t v) { put16(p, (uint16_t)(v >> 16)); put16(p + 2, (uint16_t)v); }
static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t get32(const uint8_t *p) { return (uint32_t)get16(p) << 16 | get16(p + 2); }

static void eth(uint8_t *f, const uint8_t *dst, uint16_t type)
{
	memcpy(f, dst, 6);
	memcpy(f + 6, guest_mac, 6);
	put16(f + 12, type);
}

/* An IPv4 header at p, checksummed. */
static void ipv4(uint8_t *p, uint8_t proto, uint16_t payload)
{
	memset(p, 0, 20);
	p[0] = 0x45;
	put16(p + 2, (uint16_t)(20 + payload));
	put16(p + 4, 0x1234);
	p[8] = 64;
	p[9] = proto;
	memcpy(p + 12, &h.guest_ip, 4);
	memcpy(p + 16, &h.host_ip, 4);
	put16(p + 10, (uint16_t)~csum_add(0, p, 20));
}

static void check_arp(void)
{
	static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	struct virtio_net_hdr_v1 hdr = { 0 };
	uint8_t f[42] = { 0 };
	static struct frame r;
	time_t end = deadline();

	eth(f, bcast, 0x0806);
	put16(f + 14, 1);          /* Ethernet */
	put16(f + 16, 0x0800);     /* IPv4 */
	f[18] = 6;
	f[19] = 4;
	put16(f + 20, 1);          /* request */
	memcpy(f + 22, guest_mac, 6);
	memcpy(f + 28, &h.guest_ip, 4);
	memcpy(f + 38, &h.host_ip, 4);
	send_frame(0, &hdr, f, sizeof(f));
	while (recv_frame(&r, end)) {
		if (r.len < 42 || get16(r.data + 12) != 0x0806 || get16(r.data + 20) != 2)
			continue;
		if (memcmp(r.data + 32, guest_mac, 6) || memcmp(r.data + 28, &h.host_ip, 4))
			fail("arp reply for someone else");
		memcpy(h.tap_mac, r.data + 22, 6);
		printf("ok: arp\n");
		return;
	}
	fail("no ARP reply from %s", HOST_IP);
}

/* An echo request with its ICMP checksum left to the device (NEEDS_CSUM):
 * the host answers only if the tap finished it. */
static void ping(uint16_t seq, const char *what)
{
	struct virtio_net_hdr_v1 hdr = { .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM, .csum_start = 34,
					 .csum_offset = 2 };
	uint8_t f[14 + 20 + 8 + 56];
	static struct frame r;
	time_t end = deadline();

	eth(f, h.tap_mac, 0x0800);
	ipv4(f + 14, 1, 8 + 56);
	memset(f + 34, 0, 8);
	f[34] = 8;
	put16(f + 38, 0x4b4e);
	put16(f + 40, seq);
	for (int i = 0; i < 56; i++)
		f[42 + i] = (uint8_t)(i * 7 + seq);
	/* Without CSUM negotiated the checksum is ours to compute. */
	if (!(h.features & (1ULL << VIRTIO_NET_F_CSUM))) {
		hdr = (struct virtio_net_hdr_v1){ 0 };
		put16(f + 36, (uint16_t)~csum_add(0, f + 34, 64));
	}
	send_frame(0, &hdr, f, sizeof(f));
	while (recv_frame(&r, end)) {
		if (r.len < sizeof(f) || get16(r.data + 12) != 0x0800 || r.data[23] != 1 ||
		    r.data[34] != 0 || get16(r.data + 40) != seq)
			continue;
		if (memcmp(r.data + 42, f + 42, 56))
			fail("%s: echo reply with other data", what);
		printf("ok: %s\n", what);
		return;
	}
	fail("%s: no echo reply", what);
}

/* ---- TCP, by hand, to a socket here ---- */

#define TCP_PORT_HOST  7777
#define TCP_PORT_GUEST 40000
#define TSO_BYTES      30000
#define BACK_BYTES     60000
#define MSS            1448

struct tcp_conn {
	uint32_t snd_nxt, rcv_nxt;
};

static uint16_t tcp_pseudo(uint16_t tcp_len)
{
	uint8_t ph[12];

	memcpy(ph, &h.guest_ip, 4);
	memcpy(ph + 4, &h.host_ip, 4);
	ph[8] = 0;
	ph[9] = 6;
	put16(ph + 10, tcp_len);
	return csum_add(0, ph, 12);
}

/* A segment: flags, options (a multiple of 4 bytes) and payload; with
 * gso_size, one TSO frame the device's backend segments. */
static void tcp_send(struct tcp_conn *c, uint8_t flags, const uint8_t *opt, uint8_t opt_len,
		     const uint8_t *payload, uint32_t len, uint16_t gso_size)
{
	static uint8_t f[14 + 20 + 60 + TSO_BYTES];
	uint8_t *t = f + 34;
	uint16_t tcp_len = (uint16_t)(20 + opt_len + len);
	struct virtio_net_hdr_v1 hdr = { .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM, .csum_start = 34,
					 .csum_offset = 16 };

	eth(f, h.tap_mac, 0x0800);
	ipv4(f + 14, 6, tcp_len);
	memset(t, 0, 20);
	put16(t, TCP_PORT_GUEST);
	put16(t + 2, TCP_PORT_HOST);
	put32(t + 4, c->snd_nxt);
	put32(t + 8, c->rcv_nxt);
	t[12] = (uint8_t)((20 + opt_len) / 4 << 4);
	t[13] = flags;
	put16(t + 14, 65535);
	memcpy(t + 20, opt, opt_len);
	memcpy(t + 20 + opt_len, payload, len);
	/* CHECKSUM_PARTIAL: the pseudo-header's sum, the rest the device's. */
	put16(t + 16, tcp_pseudo(tcp_len));
	if (gso_size) {
		hdr.gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
		hdr.gso_size = gso_size;
		hdr.hdr_len = (uint16_t)(34 + 20 + opt_len);
	}
	send_frame(0, &hdr, f, 34 + tcp_len);
	c->snd_nxt += len + ((flags & 0x03) ? 1 : 0); /* SYN, FIN */
}

/* The next TCP segment for our port: its flags, sequence, payload. */
static bool tcp_recv(struct frame *r, uint8_t *flags, uint32_t *seq, const uint8_t **payload,
		     uint32_t *len, time_t end)
{
	while (recv_frame(r, end)) {
		const uint8_t *ip = r->data + 14, *t;
		uint32_t ip_len;

		if (r->len < 54 || get16(r->data + 12) != 0x0800 || ip[9] != 6)
			continue;
		t = ip + (ip[0] & 0xf) * 4;
		if (get16(t + 2) != TCP_PORT_GUEST)
			continue;
		ip_len = get16(ip + 2);
		*flags = t[13];
		*seq = get32(t + 4);
		*payload = t + (t[12] >> 4) * 4;
		*len = ip_len - (uint32_t)(*payload - ip);
		return true;
	}
	return false;
}

static int host_listener(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(TCP_PORT_HOST) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

	a.sin_addr.s_addr = h.host_ip;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) || listen(fd, 1))
		fail("host listener: %s", strerror(errno));
	return fd;
}

static int host_accept(int lfd)
{
	struct pollfd p = { lfd, POLLIN, 0 };

	if (poll(&p, 1, DEADLINE_S * 1000) != 1)
		fail("tcp: the host never accepted");
	return accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
}

static void host_read_all(int fd, uint8_t *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		struct pollfd p = { fd, POLLIN, 0 };
		ssize_t n;

		if (poll(&p, 1, DEADLINE_S * 1000) != 1)
			fail("tcp: host read %zu of %zu bytes", got, len);
		n = read(fd, buf + got, len - got);
		if (n <= 0)
			fail("tcp: host read: %s", n ? strerror(errno) : "EOF");
		got += (size_t)n;
	}
}

static void check_tcp(void)
{
	static uint8_t out[TSO_BYTES], back[BACK_BYTES], in[BACK_BYTES];
	static const uint8_t mss_opt[4] = { 2, 4, MSS >> 8, MSS & 0xff };
	static struct frame r;
	struct tcp_conn c = { .snd_nxt = 1000 };
	int lfd = host_listener(), fd;
	uint32_t got = 0, seq, len, gso_frames = 0, merged = 0;
	const uint8_t *payload;
	uint8_t flags;
	time_t end = deadline();

	tcp_send(&c, 0x02, mss_opt, 4, NULL, 0, 0); /* SYN */
	do {
		if (!tcp_recv(&r, &flags, &seq, &payload, &len, end))
			fail("tcp: no SYN-ACK");
	} while ((flags & 0x12) != 0x12);
	c.rcv_nxt = seq + 1;
	tcp_send(&c, 0x10, NULL, 0, NULL, 0, 0); /* ACK */
	fd = host_accept(lfd);
	/* Out: one TSO frame of 30000 bytes. */
	for (int i = 0; i < TSO_BYTES; i++)
		out[i] = (uint8_t)(i * 13 + i / 256);
	tcp_send(&c, 0x18, NULL, 0, out, TSO_BYTES, MSS);
	host_read_all(fd, in, TSO_BYTES);
	if (memcmp(in, out, TSO_BYTES))
		fail("tcp: the host read other bytes than the TSO frame carried");
	printf("ok: tso out\n");
	/* Back: the host's 60000 bytes as GSO frames, acknowledged as they come. */
	for (int i = 0; i < BACK_BYTES; i++)
		back[i] = (uint8_t)(i * 7 + i / 1000);
	if (write(fd, back, BACK_BYTES) != BACK_BYTES)
		fail("tcp: host write");
	while (got < BACK_BYTES) {
		if (!tcp_recv(&r, &flags, &seq, &payload, &len, end))
			fail("tcp: received %u of %u bytes", got, BACK_BYTES);
		if (seq == c.rcv_nxt && len && got + len <= BACK_BYTES) {
			memcpy(in + got, payload, len);
			got += len;
			c.rcv_nxt += len;
			gso_frames += r.hdr.gso_type == VIRTIO_NET_HDR_GSO_TCPV4 && len > MSS;
			merged += r.hdr.num_buffers > 1;
		}
		tcp_send(&c, 0x10, NULL, 0, NULL, 0, 0);
	}
	if (memcmp(in, back, BACK_BYTES))
		fail("tcp: received other bytes than the host sent");
	if (!gso_frames || !merged)
		fail("tcp: no GSO frame (%u) or none over several buffers (%u)", gso_frames, merged);
	printf("ok: gso in (%u GSO frames, %u over several buffers)\n", gso_frames, merged);
	tcp_send(&c, 0x04, NULL, 0, NULL, 0, 0); /* RST */
	close(fd);
	close(lfd);
}

/* ---- UDP from the host ---- */

#define UDP_PORT 9999

static void host_udp(int fd, uint16_t src_port, const char *text)
{
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(UDP_PORT) };
	struct sockaddr_in from = { .sin_family = AF_INET, .sin_port = htons(src_port) };
	int s = fd >= 0 ? fd : socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), one = 1;

	to.sin_addr.s_addr = h.guest_ip;
	from.sin_addr.s_addr = h.host_ip;
	if (fd < 0) {
		setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(s, (struct sockaddr *)&from, sizeof(from)))
			fail("udp bind: %s", strerror(errno));
	}
	if (sendto(s, text, strlen(text), 0, (struct sockaddr *)&to, sizeof(to)) < 0)
		fail("udp send: %s", strerror(errno));
	if (fd < 0)
		close(s);
}

/* The next UDP datagram to our port: its text, and the queue it came on. */
static bool recv_udp(char *text, size_t size, unsigned int *queue, time_t end)
{
	static struct frame r;

	while (recv_frame(&r, end)) {
		const uint8_t *ip = r.data + 14, *u = ip + 20;
		size_t n;

		if (r.len < 42 || get16(r.data + 12) != 0x0800 || ip[9] != 17 ||
		    get16(u + 2) != UDP_PORT)
			continue;
		n = get16(u + 4) - 8u;
		if (n >= size)
			n = size - 1;
		memcpy(text, u + 8, n);
		text[n] = '\0';
		*queue = r.queue;
		return true;
	}
	return false;
}

/* With two pairs the tap spreads flows over both RX queues; with one, only
 * the first takes frames. */
static void check_queue_pairs(void)
{
	unsigned int on[PAIRS] = { 0 }, queue;
	char text[64];

	for (uint16_t pairs = PAIRS; pairs >= 1; pairs--) {
		set_pairs(pairs);
		memset(on, 0, sizeof(on));
		for (uint16_t port = 0; port < 32; port++) {
			snprintf(text, sizeof(text), "flow %u", port);
			host_udp(-1, (uint16_t)(20000 + port), text);
		}
		for (int i = 0; i < 32; i++) {
			if (!recv_udp(text, sizeof(text), &queue, deadline()))
				fail("queues: %d of 32 datagrams with %u pairs", i, pairs);
			on[queue / 2]++;
		}
		if (pairs == 2 && (!on[0] || !on[1]))
			fail("queues: two pairs, yet frames on one RX queue only (%u, %u)", on[0], on[1]);
		if (pairs == 1 && on[1])
			fail("queues: one pair, yet %u frames on the second RX queue", on[1]);
	}
	printf("ok: queue pairs\n");
}

/* Paused, the device leaves the rings alone while frames wait in the tap;
 * resumed, it delivers them all. */
static void check_pause(void)
{
	struct kiln_err err = { 0 };
	uint16_t used_before = *h.drv[0].used_idx;
	unsigned int queue;
	char text[64];

	if (device_list_pause(&h.devices, &err))
		fail("pause: %s", err.msg);
	for (int i = 0; i < 8; i++) {
		snprintf(text, sizeof(text), "paused %d", i);
		host_udp(-1, 21000, text);
	}
	usleep(100000);
	if (*h.drv[0].used_idx != used_before)
		fail("pause: the device filled RX buffers while paused");
	device_list_resume(&h.devices);
	for (int i = 0; i < 8; i++) {
		char want[64];

		snprintf(want, sizeof(want), "paused %d", i);
		if (!recv_udp(text, sizeof(text), &queue, deadline()))
			fail("pause: datagram %d lost", i);
		if (strcmp(text, want))
			fail("pause: got '%s', wanted '%s'", text, want);
	}
	printf("ok: pause\n");
}

/* A driver reset with frames arriving and buffers posted: the device drops
 * what it held, and the next bring-up works. */
static void check_reset(void)
{
	for (int i = 0; i < 16; i++)
		host_udp(-1, 22000, "in flight at reset");
	wr(0x14, 1, 0);
	if (rd(0x14, 1) != 0)
		fail("reset: status not 0");
	bring_up(h.features);
	set_pairs(1);
	ping(2, "reset");
}

/* Hostile chains fail alone; the device keeps working. */
static void check_hostile(void)
{
	unsigned long dropped = atomic_load(&h.net->stats.tx_dropped);
	struct virtio_net_hdr_v1 bad[] = {
		{ .flags = VIRTIO_NET_HDR_F_DATA_VALID },
		{ .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM, .csum_start = 60000, .csum_offset = 2 },
		{ .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM, .gso_type = VIRTIO_NET_HDR_GSO_TCPV4,
		  .csum_start = 34, .csum_offset = 16 },               /* gso_size 0 */
		{ .gso_type = 3 },                                     /* UDP: not offered */
	};
	uint8_t f[64] = { 0 };
	struct vbuf wrong[2] = { { TXAREA, 12, false }, { TXAREA + 0x100, 64, true } };
	struct vbuf outside = { RAM + 4096, 64, false };
	uint16_t head;
	uint32_t len;
	time_t end = deadline();
	int hd;

	eth(f, h.tap_mac, 0x0800);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		send_frame(0, &bad[i], f, sizeof(f));
	/* A TX chain with a writable buffer, and one outside guest RAM. */
	hd = vdriver_add(&h.drv[1], wrong, 2);
	vdriver_queue_head(&h.drv[1], (uint16_t)hd);
	hd = vdriver_add(&h.drv[1], &outside, 1);
	vdriver_queue_head(&h.drv[1], (uint16_t)hd);
	kick(1);
	for (int n = 0; n < 2;) {
		if (vdriver_get_used(&h.drv[1], &head, &len))
			n++;
		else if (time(NULL) > end)
			fail("hostile: a bad TX chain never came back");
		else
			usleep(100);
	}
	if (atomic_load(&h.net->stats.tx_dropped) - dropped < sizeof(bad) / sizeof(bad[0]) + 1)
		fail("hostile: bad headers were sent (%lu dropped)",
		     atomic_load(&h.net->stats.tx_dropped) - dropped);
	if (rd(0x14, 1) & VIRTIO_STATUS_NEEDS_RESET)
		fail("hostile: one bad chain broke the device");
	ping(3, "hostile");
}

int main(int argc, char **argv)
{
	uint64_t features = (1ULL << VIRTIO_F_VERSION_1) | (1ULL << VIRTIO_NET_F_MAC) |
			    (1ULL << VIRTIO_NET_F_MRG_RXBUF) | (1ULL << VIRTIO_NET_F_CTRL_VQ) |
			    (1ULL << VIRTIO_NET_F_CTRL_RX) | (1ULL << VIRTIO_NET_F_MQ) |
			    (1ULL << VIRTIO_NET_F_STATUS) | (1ULL << VIRTIO_NET_F_CSUM) |
			    (1ULL << VIRTIO_NET_F_GUEST_CSUM) | (1ULL << VIRTIO_NET_F_HOST_TSO4) |
			    (1ULL << VIRTIO_NET_F_GUEST_TSO4);

	if (argc != 2)
		fail("usage: net-tap TAP");
	inet_pton(AF_INET, GUEST_IP, &h.guest_ip);
	inet_pton(AF_INET, HOST_IP, &h.host_ip);
	for (unsigned int q = 0; q < NQ; q++)
		h.kick_fd[q] = -1;
	make_nic(argv[1]);
	bring_up(features);
	check_ctrl();
	set_pairs(1);
	check_arp();
	ping(1, "icmp");
	check_tcp();
	check_queue_pairs();
	check_pause();
	check_reset();
	check_hostile();
	device_list_destroy(&h.devices);
	guest_mem_destroy(&h.mem);
	printf("all ok\n");
	return 0;
}
