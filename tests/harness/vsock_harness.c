// SPDX-License-Identifier: MIT
/*
 * virtio-vsock behind the virtio-pci transport, with its real workers and
 * its Unix-socket host side, driven with no KVM: this program's main
 * thread is the guest (a small vsock stack over three split rings in plain
 * memory), other threads are host programs on real Unix sockets. Built
 * plain, with AddressSanitizer and with ThreadSanitizer (mk/harness.mk);
 * tests/harness/test_vsock_harness.py runs each scenario and reads its last line.
 *
 * usage: vsock-harness DIR SCENARIO [N]
 *   echo            bytes echoed host -> guest -> host and guest -> host -> guest
 *   bulk MIB        MIB each way, checksummed on both sides
 *   many N          N guest connections at once to one host echo server
 *   close           either side closing mid-transfer
 *   credit          a guest that stops reading; a host that stops reading;
 *                   a guest that sends beyond its credit
 *   hostile         packets no driver should send: dropped or reset
 *   lifecycle       pause, device reset and teardown with connections open
 *   cycles N T      N connect/transfer/teardown cycles from T host threads
 *   snapshot        save with streams open, restore into a new device: the
 *                   guest hears TRANSPORT_RESET, no stream survives, new
 *                   ones work over the buffers the guest had posted
 * Each prints "SCENARIO ok: ..." with its numbers, or fails with a line.
 */
#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "bus/io_bus.h"
#include "virtio/pci.h"
#include "virtio/pci_device.h"
#include "util/snapshot_file.h"
#include "virtio/vsock.h"
#include "virtq_driver.h"
#include "x86/layout.h"

#define MIB        (1ULL << 20)
#define RAM        (64 * MIB)
#define QSIZE      256
#define RING(q)    (0x10000ULL + (q) * 0x10000ULL)
#define SLOT       (64 * 1024 + 64)          /* header + 64 KiB of payload */
#define PAYLOAD    (64 * 1024)
#define RX_BASE    (8 * MIB)
#define TX_BASE    (32 * MIB)
#define EV_BASE    (60 * MIB)
#define GUEST_CID  3
#define GUEST_BUF  (256 * 1024)              /* the guest's buf_alloc */
#define MAX_GCONN  2048
#define DEADLINE_S 300                       /* a hang fails instead of blocking CI */

enum { RXQ, TXQ, EVQ };

struct gconn {
	bool used, established, connecting, rst, peer_shut_send, peer_shut_rcv, closing;
	bool server;             /* accepted by a guest listener: closes itself */
	bool keep;               /* ... unless a scenario still reads its counts */
	bool echo;               /* send back what arrives */
	bool hold;               /* the application stops reading */
	uint32_t lport, rport;
	uint32_t fwd_cnt, reported_fwd, rx_total; /* guest as receiver */
	uint32_t peer_buf_alloc, peer_fwd_cnt, tx_cnt; /* guest as sender */
	uint8_t *echo_buf;       /* bytes waiting to go back (<= GUEST_BUF) */
	uint32_t echo_len;
	uint64_t recv_bytes, recv_hash;
	uint64_t send_total, sent, send_hash, send_seed;
	bool send_done;          /* SHUTDOWN sent after the last byte */
	bool credit_violation;
};

struct guest {
	struct vdriver q[3];
	struct gconn conns[MAX_GCONN];
	uint32_t listen_port[8];
	bool listen_echo[8], listen_hold[8];
	unsigned int nr_listen;
	uint32_t next_port;
	unsigned int events;     /* TRANSPORT_RESETs seen */
	unsigned int credit_violations;
	bool ignore_credit;      /* a hostile guest */
};

struct harness {
	struct guest_memory mem;
	struct pci_bus pci;
	struct io_bus pio, mmio;
	struct device_list devices;
	struct virtio_pci *vp;
	struct virtio_vsock *dev;
	char dir[256], path[300];
	struct guest g;
	time_t deadline;
};

static struct harness h;

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "vsock-harness: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	exit(1);
}

/* ---- the data: a pattern both sides can make, and a checksum ---- */

static uint64_t mix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

static void pattern(uint8_t *out, uint64_t seed, uint64_t off, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		uint64_t pos = off + i;

		out[i] = (uint8_t)(mix64(seed ^ (pos >> 3)) >> (8 * (pos & 7)));
	}
}

static uint64_t fnv(uint64_t hash, const uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		hash = (hash ^ p[i]) * 0x100000001b3ULL;
	return hash;
}
#define FNV_INIT 0xcbf29ce484222325ULL

/* ---- the machine: the device on the transport, no KVM ---- */

static int fake_ioeventfd(void *ctx, uint64_t addr, unsigned int len, int fd, bool add)
{
	(void)ctx, (void)addr, (void)len, (void)fd, (void)add;
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

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (!d)
		fail("cannot list /proc/self/fd");
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n - 1; /* the directory's own fd */
}

/* Build the device; start it unless a snapshot is to be loaded first. */
static void build_device(bool start)
{
	static const struct virtio_pci_host host = { fake_ioeventfd, fake_msi_route,
						      fake_msi_alloc, NULL };
	static const struct machine_ops machine = { 0 };
	static struct kiln_config cfg = { .command = KILN_CMD_RUN, .cpus = 1 };
	struct device_env env = { .cfg = &cfg, .machine = &machine, .pio = &h.pio,
				  .mmio = &h.mmio, .pci = &h.pci, .mem = &h.mem,
				  .virtio = &host, .console_fd = -1, .devices = &h.devices };
	struct kiln_err err = { 0 };

	cfg.vsock = (struct kiln_vsock){ .enabled = true, .guest_cid = GUEST_CID,
					 .uds_path = h.path };
	pci_bus_init(&h.pci, LAYOUT_PCI_MMIO32, LAYOUT_PCI_MMIO32_END, 1ULL << 33, 1ULL << 35);
	if (virtio_vsock_kind.create(&env, &err) || (start && device_list_start(&h.devices, &err)))
		fail("%s", err.msg);
	h.vp = virtio_pci_device_transport(h.devices.head);
	if (!h.vp)
		fail("no transport");
	h.dev = h.vp->model.device;
}

static void make_device(void)
{
	build_device(true);
}

/* ---- the guest's rings ---- */

static void kick(unsigned int q)
{
	if (vdriver_publish(&h.g.q[q]) && write(h.vp->queues[q].kick_fd, &(uint64_t){ 1 }, 8) != 8)
		fail("kick");
}

static uint64_t rx_gpa(uint16_t head) { return RX_BASE + (uint64_t)head * SLOT; }
static uint64_t tx_gpa(uint16_t head) { return TX_BASE + (uint64_t)head * SLOT; }

static void post_rx(void)
{
	struct vdriver *d = &h.g.q[RXQ];

	while (d->nr_free) {
		struct vbuf b = { rx_gpa(d->free_head), SLOT, true };
		int head = vdriver_add(d, &b, 1);

		vdriver_queue_head(d, (uint16_t)head);
	}
	kick(RXQ);
}

static void post_events(void)
{
	struct vdriver *d = &h.g.q[EVQ];

	for (unsigned int i = 0; i < 4 && d->nr_free; i++) {
		struct vbuf b = { EV_BASE + 64ULL * d->free_head, 4, true };

		vdriver_queue_head(d, (uint16_t)vdriver_add(d, &b, 1));
	}
	kick(EVQ);
}

/* What a driver does: reset, negotiate VERSION_1, three queues, DRIVER_OK. */
static void bring_up(void)
{
	wr(0x14, 1, 0);
	wr(0x14, 1, 1 | 2);
	wr(0x08, 4, 1);
	wr(0x0c, 4, 1);
	wr(0x14, 1, 1 | 2 | 8);
	if (!(rd(0x14, 1) & 8))
		fail("FEATURES_OK refused");
	if (rd(VPCI_DEVICE_OFF, 4) != GUEST_CID || rd(VPCI_DEVICE_OFF + 4, 4) != 0)
		fail("guest_cid reads %llu", (unsigned long long)rd(VPCI_DEVICE_OFF, 8));
	for (unsigned int i = 0; i < MAX_GCONN; i++)
		free(h.g.conns[i].echo_buf);
	memset(&h.g.conns, 0, sizeof(h.g.conns));
	for (unsigned int q = 0; q < 3; q++) {
		vdriver_init(&h.g.q[q], &h.mem, RING(q), QSIZE, false);
		wr(0x16, 2, q);
		wr(0x18, 2, QSIZE);
		wr(0x20, 8, h.g.q[q].desc_gpa);
		wr(0x28, 8, h.g.q[q].avail_gpa);
		wr(0x30, 8, h.g.q[q].used_gpa);
		wr(0x1c, 2, 1);
	}
	wr(0x14, 1, 1 | 2 | 4 | 8);
	post_rx();
	post_events();
}

/* ---- the guest's vsock stack ---- */

static struct gconn *gfind(uint32_t lport, uint32_t rport)
{
	for (unsigned int i = 0; i < MAX_GCONN; i++)
		if (h.g.conns[i].used && h.g.conns[i].lport == lport && h.g.conns[i].rport == rport)
			return &h.g.conns[i];
	return NULL;
}

static struct gconn *galloc(uint32_t lport, uint32_t rport)
{
	for (unsigned int i = 0; i < MAX_GCONN; i++) {
		struct gconn *c = &h.g.conns[i];

		if (!c->used) {
			free(c->echo_buf);
			*c = (struct gconn){ .used = true, .lport = lport, .rport = rport,
					     .recv_hash = FNV_INIT, .send_hash = FNV_INIT };
			return c;
		}
	}
	fail("guest connection table full");
}

static void gfree(struct gconn *c)
{
	free(c->echo_buf);
	memset(c, 0, sizeof(*c));
}

static void reap_tx(void)
{
	uint16_t head;
	uint32_t len;

	while (vdriver_get_used(&h.g.q[TXQ], &head, &len))
		;
}

/* One packet to the host, waiting for a free descriptor if need be. */
static bool gsend_try(struct gconn *c, uint16_t op, uint32_t flags, uint32_t lport,
		      uint32_t rport, const void *data, uint32_t len)
{
	struct vdriver *d = &h.g.q[TXQ];
	struct vsock_hdr hdr = {
		.src_cid = GUEST_CID, .dst_cid = VSOCK_HOST_CID, .src_port = lport,
		.dst_port = rport, .len = len, .type = VSOCK_TYPE_STREAM, .op = op,
		.flags = flags, .buf_alloc = GUEST_BUF, .fwd_cnt = c ? c->fwd_cnt : 0,
	};
	struct vbuf b;
	uint8_t *p;

	reap_tx();
	if (!d->nr_free)
		return false;
	b = (struct vbuf){ tx_gpa(d->free_head), (uint32_t)sizeof(hdr) + len, false };
	p = guest_mem_ptr(&h.mem, b.gpa, b.len);
	memcpy(p, &hdr, sizeof(hdr));
	if (len)
		memcpy(p + sizeof(hdr), data, len);
	vdriver_queue_head(d, (uint16_t)vdriver_add(d, &b, 1));
	kick(TXQ);
	if (c) {
		c->reported_fwd = c->fwd_cnt;
		if (op == VSOCK_OP_RW)
			c->tx_cnt += len;
	}
	return true;
}

static void wait_irq(int timeout_ms);

static void gsend(struct gconn *c, uint16_t op, uint32_t flags, const void *data, uint32_t len)
{
	while (!gsend_try(c, op, flags, c->lport, c->rport, data, len))
		wait_irq(1);
}

static uint32_t peer_credit(const struct gconn *c)
{
	uint32_t in_flight = c->tx_cnt - c->peer_fwd_cnt;

	if (h.g.ignore_credit)
		return PAYLOAD;
	return in_flight >= c->peer_buf_alloc ? 0 : c->peer_buf_alloc - in_flight;
}

static void consume(struct gconn *c, uint32_t n)
{
	c->fwd_cnt += n;
	if (c->fwd_cnt - c->reported_fwd >= GUEST_BUF / 4)
		gsend(c, VSOCK_OP_CREDIT_UPDATE, 0, NULL, 0);
}

static void on_data(struct gconn *c, const uint8_t *data, uint32_t len)
{
	if (c->rx_total - c->fwd_cnt + len > GUEST_BUF) {
		c->credit_violation = true;
		h.g.credit_violations++;
	}
	c->rx_total += len;
	c->recv_bytes += len;
	c->recv_hash = fnv(c->recv_hash, data, len);
	if (c->echo) {
		if (!c->echo_buf && !(c->echo_buf = malloc(GUEST_BUF)))
			fail("out of memory");
		if (c->echo_len + len > GUEST_BUF)
			fail("the host sent beyond the guest's credit");
		memcpy(c->echo_buf + c->echo_len, data, len);
		c->echo_len += len;
	} else if (!c->hold) {
		consume(c, len);
	}
}

static void on_request(const struct vsock_hdr *p)
{
	for (unsigned int i = 0; i < h.g.nr_listen; i++) {
		struct gconn *c;

		if (h.g.listen_port[i] != p->dst_port)
			continue;
		c = galloc(p->dst_port, p->src_port);
		c->server = true;
		c->established = true;
		c->echo = h.g.listen_echo[i];
		c->hold = h.g.listen_hold[i];
		c->peer_buf_alloc = p->buf_alloc;
		c->peer_fwd_cnt = p->fwd_cnt;
		gsend(c, VSOCK_OP_RESPONSE, 0, NULL, 0);
		return;
	}
	gsend_try(NULL, VSOCK_OP_RST, 0, p->dst_port, p->src_port, NULL, 0);
}

static void on_packet(const struct vsock_hdr *p, const uint8_t *data, uint32_t len)
{
	struct gconn *c;

	if (p->dst_cid != GUEST_CID || p->src_cid != VSOCK_HOST_CID || p->type != VSOCK_TYPE_STREAM)
		fail("packet with cids %llu -> %llu, type %u",
		     (unsigned long long)p->src_cid, (unsigned long long)p->dst_cid, p->type);
	if (p->len != len)
		fail("packet len %u but %u bytes used", p->len, len);
	c = gfind(p->dst_port, p->src_port);
	if (p->op == VSOCK_OP_REQUEST) {
		if (c)
			fail("REQUEST for an open connection");
		on_request(p);
		return;
	}
	if (!c)
		return; /* e.g. the RST for a connection the guest reset */
	c->peer_buf_alloc = p->buf_alloc;
	c->peer_fwd_cnt = p->fwd_cnt;
	switch (p->op) {
	case VSOCK_OP_RESPONSE: c->connecting = false; c->established = true; break;
	case VSOCK_OP_RST:
		c->rst = true;
		c->established = c->connecting = false;
		if (c->server && !c->keep)
			gfree(c);
		break;
	case VSOCK_OP_SHUTDOWN:
		c->peer_shut_send |= !!(p->flags & VSOCK_SHUTDOWN_SEND);
		c->peer_shut_rcv |= !!(p->flags & VSOCK_SHUTDOWN_RCV);
		break;
	case VSOCK_OP_RW: on_data(c, data, len); break;
	case VSOCK_OP_CREDIT_UPDATE: break;
	case VSOCK_OP_CREDIT_REQUEST: gsend(c, VSOCK_OP_CREDIT_UPDATE, 0, NULL, 0); break;
	default: fail("unknown op %u from the device", p->op);
	}
}

static bool reap_rx(void)
{
	struct vdriver *d = &h.g.q[RXQ];
	bool any = false;
	uint16_t head;
	uint32_t len;

	while (vdriver_get_used(d, &head, &len)) {
		const uint8_t *p = guest_mem_ptr(&h.mem, rx_gpa(head), SLOT);
		struct vsock_hdr hdr;

		if (len < sizeof(hdr) || len > SLOT)
			fail("rx used length %u", len);
		memcpy(&hdr, p, sizeof(hdr));
		on_packet(&hdr, p + sizeof(hdr), len - (uint32_t)sizeof(hdr));
		any = true;
	}
	if (any)
		post_rx();
	return any;
}

static void reap_events(void)
{
	uint16_t head;
	uint32_t len;

	while (vdriver_get_used(&h.g.q[EVQ], &head, &len)) {
		uint32_t id;

		memcpy(&id, guest_mem_ptr(&h.mem, EV_BASE + 64ULL * head, 4), 4);
		if (len != 4 || id != VSOCK_EVENT_TRANSPORT_RESET)
			fail("event %u of %u bytes", id, len);
		h.g.events++;
	}
}

/* The application's side of each connection: echo, send, close. */
static bool app_step(struct gconn *c)
{
	bool progress = false;

	if (c->echo && c->echo_len && c->established) {
		uint32_t n = c->echo_len < peer_credit(c) ? c->echo_len : peer_credit(c);

		if (n > PAYLOAD)
			n = PAYLOAD;
		if (n) {
			gsend(c, VSOCK_OP_RW, 0, c->echo_buf, n);
			memmove(c->echo_buf, c->echo_buf + n, c->echo_len - n);
			c->echo_len -= n;
			consume(c, n);
			progress = true;
		}
	}
	if (c->established && c->sent < c->send_total) {
		static uint8_t chunk[PAYLOAD];
		uint64_t left = c->send_total - c->sent;
		uint32_t n = (uint32_t)(left < PAYLOAD ? left : PAYLOAD);

		if (n > peer_credit(c))
			n = peer_credit(c);
		if (n) {
			pattern(chunk, c->send_seed, c->sent, n);
			c->send_hash = fnv(c->send_hash, chunk, n);
			gsend(c, VSOCK_OP_RW, 0, chunk, n);
			c->sent += n;
			progress = true;
		}
	}
	/* A server whose peer finished: finish too, and wait for the RST. */
	if (c->server && c->established && c->peer_shut_send && !c->echo_len && !c->closing) {
		gsend(c, VSOCK_OP_SHUTDOWN, VSOCK_SHUTDOWN_RCV | VSOCK_SHUTDOWN_SEND, NULL, 0);
		c->closing = true;
		progress = true;
	}
	return progress;
}

static void wait_irq(int timeout_ms)
{
	struct pollfd fds[3];

	for (unsigned int q = 0; q < 3; q++)
		fds[q] = (struct pollfd){ h.vp->queues[q].irq_fd, POLLIN, 0 };
	if (poll(fds, 3, timeout_ms) > 0)
		for (unsigned int q = 0; q < 3; q++)
			if (fds[q].revents)
				(void)!read(fds[q].fd, &(uint64_t){ 0 }, 8);
}

/* One round of the guest: take packets, run applications; false: idle. */
static bool guest_step(void)
{
	bool progress = reap_rx();

	reap_tx();
	reap_events();
	for (unsigned int i = 0; i < MAX_GCONN; i++)
		if (h.g.conns[i].used && app_step(&h.g.conns[i]))
			progress = true;
	return progress;
}

static void guest_run_until(bool (*done)(void *), void *arg, const char *what)
{
	while (!done(arg)) {
		if (time(NULL) > h.deadline)
			fail("gave up waiting for %s", what);
		if (!guest_step())
			wait_irq(2);
	}
}

static void guest_listen(uint32_t port, bool echo, bool hold)
{
	h.g.listen_port[h.g.nr_listen] = port;
	h.g.listen_echo[h.g.nr_listen] = echo;
	h.g.listen_hold[h.g.nr_listen++] = hold;
}

static bool conn_settled(void *arg)
{
	struct gconn *c = arg;

	return c->established || c->rst;
}

static struct gconn *guest_connect(uint32_t port)
{
	struct gconn *c = galloc(h.g.next_port++, port);

	c->connecting = true;
	gsend(c, VSOCK_OP_REQUEST, 0, NULL, 0);
	guest_run_until(conn_settled, c, "a RESPONSE");
	return c;
}

/* ---- host programs ---- */

static int host_unix(const char *path, bool listen_there)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path);
	if (fd < 0)
		fail("socket: %s", strerror(errno));
	if (listen_there) {
		unlink(path);
		if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) || listen(fd, 256))
			fail("listen on %s: %s", path, strerror(errno));
	} else if (connect(fd, (struct sockaddr *)&addr, sizeof(addr))) {
		fail("connect to %s: %s", path, strerror(errno));
	}
	return fd;
}

static int host_listen(uint32_t port)
{
	char path[320];

	snprintf(path, sizeof(path), "%s_%u", h.path, port);
	return host_unix(path, true);
}

static int read_line(int fd, char *line, size_t size)
{
	size_t n = 0;

	while (n + 1 < size) {
		ssize_t r = read(fd, line + n, 1);

		if (r <= 0)
			return -1;
		if (line[n++] == '\n')
			break;
	}
	line[n] = '\0';
	return (int)n;
}

/* CONNECT to a guest port: the socket, or -1 when the guest refused. */
static int host_connect(uint32_t port, uint32_t *host_port)
{
	int fd = host_unix(h.path, false);
	char line[64];
	unsigned int hp;

	dprintf(fd, "CONNECT %u\n", port);
	if (read_line(fd, line, sizeof(line)) < 0) {
		close(fd);
		return -1;
	}
	if (sscanf(line, "OK %u\n", &hp) != 1)
		fail("handshake answer '%s'", line);
	if (host_port)
		*host_port = hp;
	return fd;
}

static void write_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n <= 0)
			fail("host write: %s", n ? strerror(errno) : "closed");
		p += n;
		len -= (size_t)n;
	}
}

static void read_all(int fd, void *buf, size_t len)
{
	uint8_t *p = buf;

	while (len) {
		ssize_t n = read(fd, p, len);

		if (n <= 0)
			fail("host read: %s", n ? strerror(errno) : "end of stream");
		p += n;
		len -= (size_t)n;
	}
}

/* Read to the end; bytes and checksum. */
static uint64_t drain(int fd, uint64_t *hash)
{
	static __thread uint8_t buf[PAYLOAD];
	uint64_t total = 0;
	ssize_t n;

	*hash = FNV_INIT;
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		*hash = fnv(*hash, buf, (size_t)n);
		total += (uint64_t)n;
	}
	return total;
}

static void start_thread(pthread_t *t, void *(*fn)(void *), void *arg)
{
	if (pthread_create(t, NULL, fn, arg))
		fail("pthread_create");
}

static struct virtio_vsock_stats stats(void)
{
	struct virtio_vsock_stats s;

	virtio_vsock_get_stats(h.dev, &s);
	return s;
}

static bool device_empty(void *arg)
{
	(void)arg;
	return stats().connections == 0;
}

/* ---- scenarios ---- */

struct host_job {
	uint32_t port;
	int fd;
	uint64_t bytes, hash;
	uint64_t seed;
	atomic_bool done;
};

static void *host_echo_once(void *arg)
{
	struct host_job *j = arg;
	int conn = accept(j->fd, NULL, NULL);
	char buf[5];

	if (conn < 0)
		fail("accept: %s", strerror(errno));
	read_all(conn, buf, 5);
	write_all(conn, buf, 5);
	j->bytes = drain(conn, &j->hash); /* until the guest closes */
	close(conn);
	atomic_store(&j->done, true);
	return NULL;
}

static bool gconn_got(void *arg)
{
	struct gconn *c = arg;

	return c->recv_bytes >= 5 || c->rst;
}

static bool job_done(void *arg)
{
	return atomic_load(&((struct host_job *)arg)->done);
}

static void *host_hello(void *arg)
{
	struct host_job *j = arg;
	char reply[6] = { 0 };

	j->fd = host_connect(j->port, NULL);
	if (j->fd < 0)
		fail("the guest refused port %u", j->port);
	write_all(j->fd, "hello", 5);
	read_all(j->fd, reply, 5);
	if (strcmp(reply, "hello"))
		fail("echo came back as '%s'", reply);
	shutdown(j->fd, SHUT_WR);
	j->bytes = drain(j->fd, &j->hash);
	close(j->fd);
	atomic_store(&j->done, true);
	return NULL;
}

static void *host_refused(void *arg)
{
	struct host_job *j = arg;

	if (host_connect(j->port, NULL) >= 0)
		fail("a CONNECT the guest refused kept its socket");
	atomic_store(&j->done, true);
	return NULL;
}

static void scenario_echo(void)
{
	struct host_job in = { .port = 5000 }, out = { .port = 6000 };
	uint64_t expect = fnv(FNV_INIT, (const uint8_t *)"ping!", 5);
	pthread_t t;
	struct gconn *c;

	/* host -> guest: the guest echoes, the host closes, the guest follows. */
	guest_listen(5000, true, false);
	start_thread(&t, host_hello, &in);
	guest_run_until(job_done, &in, "the host's echo");
	pthread_join(t, NULL);
	guest_run_until(device_empty, NULL, "the first connection's end");
	/* guest -> host: the host echoes the first five bytes. */
	out.fd = host_listen(6000);
	start_thread(&t, host_echo_once, &out);
	c = guest_connect(6000);
	if (!c->established)
		fail("guest connect to port 6000 refused");
	gsend(c, VSOCK_OP_RW, 0, "ping!", 5);
	guest_run_until(gconn_got, c, "the echo");
	if (c->recv_bytes != 5 || c->recv_hash != expect)
		fail("guest got %llu bytes back", (unsigned long long)c->recv_bytes);
	gsend(c, VSOCK_OP_SHUTDOWN, VSOCK_SHUTDOWN_RCV | VSOCK_SHUTDOWN_SEND, NULL, 0);
	guest_run_until(job_done, &out, "the host's end");
	guest_run_until(conn_settled, c, "the RST");
	pthread_join(t, NULL);
	close(out.fd);
	/* Nobody listens on 6001: the guest gets an RST. */
	c = guest_connect(6001);
	if (!c->rst || c->established)
		fail("a connect to a port nobody listens on was not reset");
	/* A host CONNECT to a port the guest does not listen on is closed. */
	in = (struct host_job){ .port = 5999 };
	start_thread(&t, host_refused, &in);
	guest_run_until(job_done, &in, "the refused CONNECT");
	pthread_join(t, NULL);
	guest_run_until(device_empty, NULL, "every connection's end");
	printf("echo ok: host->guest 5 bytes, guest->host 5 bytes, refused both ways\n");
}

static void *host_bulk_send(void *arg)
{
	struct host_job *j = arg;
	static uint8_t buf[PAYLOAD];
	uint64_t sent = 0;

	j->fd = host_connect(j->port, NULL);
	if (j->fd < 0)
		fail("bulk connect refused");
	j->hash = FNV_INIT;
	while (sent < j->bytes) {
		size_t n = j->bytes - sent < PAYLOAD ? (size_t)(j->bytes - sent) : PAYLOAD;

		pattern(buf, j->seed, sent, n);
		j->hash = fnv(j->hash, buf, n);
		write_all(j->fd, buf, n);
		sent += n;
	}
	close(j->fd);
	atomic_store(&j->done, true);
	return NULL;
}

static void *host_bulk_recv(void *arg)
{
	struct host_job *j = arg;
	int conn = accept(j->fd, NULL, NULL);

	if (conn < 0)
		fail("accept: %s", strerror(errno));
	j->bytes = drain(conn, &j->hash);
	close(conn);
	atomic_store(&j->done, true);
	return NULL;
}

static bool peer_finished(void *arg)
{
	struct gconn *c = arg;

	return c->peer_shut_send || c->rst;
}

static bool sent_all(void *arg)
{
	struct gconn *c = arg;

	return c->sent == c->send_total;
}

static bool kept_conn_5100(void *arg)
{
	struct gconn **found = arg;

	for (unsigned int i = 0; !*found && i < MAX_GCONN; i++)
		if (h.g.conns[i].used && h.g.conns[i].lport == 5100)
			*found = &h.g.conns[i];
	if (*found)
		(*found)->keep = true;
	return *found != NULL;
}

static void scenario_bulk(uint64_t mib)
{
	struct host_job in = { .port = 5100, .bytes = mib * MIB, .seed = 11 };
	struct host_job out = { .port = 6100 };
	pthread_t tin, tout;
	struct gconn *c = NULL;

	/* host -> guest: the guest's connection is kept once it appears, so
	 * the device's end of it cannot take the counts away. */
	guest_listen(5100, false, false);
	start_thread(&tin, host_bulk_send, &in);
	guest_run_until(kept_conn_5100, &c, "the guest's connection for port 5100");
	guest_run_until(job_done, &in, "the host's bytes");
	pthread_join(tin, NULL);
	guest_run_until(peer_finished, c, "the host's end of stream");
	if (c->recv_bytes != in.bytes || c->recv_hash != in.hash)
		fail("host -> guest: %llu of %llu bytes, checksum %016llx vs %016llx",
		     (unsigned long long)c->recv_bytes, (unsigned long long)in.bytes,
		     (unsigned long long)c->recv_hash, (unsigned long long)in.hash);
	printf("host->guest %llu MiB checksum %016llx\n", (unsigned long long)mib,
	       (unsigned long long)c->recv_hash);
	if (!c->rst)
		gsend(c, VSOCK_OP_SHUTDOWN, VSOCK_SHUTDOWN_RCV | VSOCK_SHUTDOWN_SEND, NULL, 0);
	guest_run_until(device_empty, NULL, "the first connection's end");
	gfree(c);
	/* guest -> host */
	out.fd = host_listen(6100);
	start_thread(&tout, host_bulk_recv, &out);
	c = guest_connect(6100);
	c->send_total = mib * MIB;
	c->send_seed = 12;
	guest_run_until(sent_all, c, "the guest's bytes to go");
	gsend(c, VSOCK_OP_SHUTDOWN, VSOCK_SHUTDOWN_RCV | VSOCK_SHUTDOWN_SEND, NULL, 0);
	guest_run_until(job_done, &out, "the host's end of stream");
	pthread_join(tout, NULL);
	close(out.fd);
	if (out.bytes != c->send_total || out.hash != c->send_hash)
		fail("guest -> host: %llu of %llu bytes, checksum %016llx vs %016llx",
		     (unsigned long long)out.bytes, (unsigned long long)c->send_total,
		     (unsigned long long)out.hash, (unsigned long long)c->send_hash);
	guest_run_until(device_empty, NULL, "the second connection's end");
	printf("guest->host %llu MiB checksum %016llx\n", (unsigned long long)mib,
	       (unsigned long long)out.hash);
	printf("bulk ok: %llu MiB each way, checksums match\n", (unsigned long long)mib);
}

/* One host echo server for many connections, with poll. */
struct echo_server {
	int listen_fd;
	unsigned int expected;
	atomic_bool stop;
	atomic_uint served;
};

static void *host_echo_server(void *arg)
{
	struct echo_server *s = arg;
	struct pollfd fds[1 + 1100];
	unsigned int n = 1;
	static uint8_t buf[PAYLOAD];

	fds[0] = (struct pollfd){ s->listen_fd, POLLIN, 0 };
	while (!atomic_load(&s->stop)) {
		if (poll(fds, n, 50) <= 0)
			continue;
		if ((fds[0].revents & POLLIN) && n < 1101) {
			int c = accept(s->listen_fd, NULL, NULL);

			if (c >= 0)
				fds[n++] = (struct pollfd){ c, POLLIN, 0 };
		}
		for (unsigned int i = 1; i < n; i++) {
			ssize_t r;

			if (!fds[i].revents)
				continue;
			r = read(fds[i].fd, buf, sizeof(buf));
			if (r > 0) {
				write_all(fds[i].fd, buf, (size_t)r);
				continue;
			}
			close(fds[i].fd);
			fds[i--] = fds[--n];
			atomic_fetch_add(&s->served, 1);
		}
	}
	for (unsigned int i = 1; i < n; i++)
		close(fds[i].fd);
	return NULL;
}

static bool all_echoed(void *arg)
{
	struct gconn **cs = arg;

	for (unsigned int i = 0; cs[i]; i++)
		if (cs[i]->recv_bytes < cs[i]->send_total && !cs[i]->rst)
			return false;
	return true;
}

static void scenario_many(unsigned int count)
{
	struct echo_server s = { .listen_fd = host_listen(7000) };
	struct gconn **cs = calloc(count + 1, sizeof(*cs));
	unsigned int peak;
	pthread_t t;

	start_thread(&t, host_echo_server, &s);
	for (unsigned int i = 0; i < count; i++) {
		cs[i] = guest_connect(7000);
		if (!cs[i]->established)
			fail("connection %u refused", i);
	}
	peak = stats().connections;
	/* All at once: 64 KiB each, interleaved by the guest's loop. */
	for (unsigned int i = 0; i < count; i++) {
		cs[i]->send_total = 64 * 1024;
		cs[i]->send_seed = 100 + i;
	}
	guest_run_until(all_echoed, cs, "every echo");
	for (unsigned int i = 0; i < count; i++) {
		if (cs[i]->rst || cs[i]->recv_bytes != cs[i]->send_total ||
		    cs[i]->recv_hash != cs[i]->send_hash)
			fail("connection %u: %llu of %llu bytes back, checksum %s", i,
			     (unsigned long long)cs[i]->recv_bytes,
			     (unsigned long long)cs[i]->send_total,
			     cs[i]->recv_hash == cs[i]->send_hash ? "equal" : "differs");
		gsend(cs[i], VSOCK_OP_SHUTDOWN, VSOCK_SHUTDOWN_RCV | VSOCK_SHUTDOWN_SEND, NULL, 0);
	}
	guest_run_until(device_empty, NULL, "every connection's end");
	atomic_store(&s.stop, true);
	pthread_join(t, NULL);
	close(s.listen_fd);
	free(cs);
	printf("many ok: %u connections open at once, %u echoed with matching checksums\n",
	       peak, count);
}

static void *host_send_then_close(void *arg)
{
	struct host_job *j = arg;
	static uint8_t buf[PAYLOAD];

	j->fd = host_connect(j->port, NULL);
	if (j->fd < 0)
		fail("connect refused");
	memset(buf, 0x5a, sizeof(buf));
	for (unsigned int i = 0; i < 16; i++)
		write_all(j->fd, buf, sizeof(buf));
	close(j->fd); /* mid-transfer: the guest still has bytes to take */
	atomic_store(&j->done, true);
	return NULL;
}

static void *host_read_some_then_close(void *arg)
{
	struct host_job *j = arg;
	int conn = accept(j->fd, NULL, NULL);
	uint8_t buf[4096];

	if (conn < 0)
		fail("accept: %s", strerror(errno));
	read_all(conn, buf, sizeof(buf));
	close(conn);
	atomic_store(&j->done, true);
	return NULL;
}

static bool got_rst(void *arg)
{
	return ((struct gconn *)arg)->rst;
}

static void scenario_close(void)
{
	struct host_job a = { .port = 5200 }, b = { .port = 6200 }, c_job = { .port = 6201 };
	int baseline = count_fds();
	struct gconn *c;
	pthread_t t;
	uint64_t hash, n;

	/* The host closes while the guest receives: the guest gets every
	 * byte written, then SHUTDOWN, and its close ends the connection. */
	guest_listen(5200, false, false);
	start_thread(&t, host_send_then_close, &a);
	guest_run_until(job_done, &a, "the host's close");
	pthread_join(t, NULL);
	c = NULL;
	for (unsigned int i = 0; i < MAX_GCONN; i++)
		if (h.g.conns[i].used && h.g.conns[i].lport == 5200)
			c = &h.g.conns[i];
	if (!c)
		fail("no guest connection for port 5200");
	guest_run_until(peer_finished, c, "the SHUTDOWN after the host closed");
	if (c->recv_bytes != 16 * PAYLOAD)
		fail("host closed mid-transfer: the guest got %llu of %u bytes",
		     (unsigned long long)c->recv_bytes, 16 * PAYLOAD);
	/* The guest's server closes by itself; the device's RST ends it. */
	guest_run_until(device_empty, NULL, "the RST after the guest's close");
	/* The guest resets mid-transfer: the host program sees its stream end. */
	b.fd = host_listen(6200);
	c = guest_connect(6200);
	c->send_total = 4ULL * MIB;
	c->send_seed = 3;
	while (c->sent < 2 * PAYLOAD) /* within what kiln and the socket take unread */
		if (!guest_step())
			wait_irq(2);
	gsend(c, VSOCK_OP_RST, 0, NULL, 0);
	c->established = false;
	{
		int conn = accept(b.fd, NULL, NULL);

		n = drain(conn, &hash);
		close(conn);
	}
	if (n >= 4ULL * MIB)
		fail("the host got everything despite the guest's reset");
	guest_run_until(device_empty, NULL, "the reset connection's end");
	close(b.fd);
	/* The host closes while the guest sends: the guest gets an RST. */
	c_job.fd = host_listen(6201);
	start_thread(&t, host_read_some_then_close, &c_job);
	c = guest_connect(6201);
	c->send_total = 64ULL * MIB;
	c->send_seed = 4;
	guest_run_until(got_rst, c, "an RST after the host closed");
	pthread_join(t, NULL);
	close(c_job.fd);
	guest_run_until(device_empty, NULL, "every connection's end");
	if (count_fds() != baseline)
		fail("%d fds open after the closes, %d before", count_fds(), baseline);
	printf("close ok: host close mid-transfer delivered %u bytes then SHUTDOWN; guest RST "
	       "ended the host's stream after %llu bytes; host close reset the guest; no fd left\n",
	       16 * PAYLOAD, (unsigned long long)n);
}

static void *host_flood(void *arg)
{
	struct host_job *j = arg;
	static uint8_t buf[PAYLOAD];
	struct pollfd pfd;

	j->fd = host_connect(j->port, NULL);
	if (j->fd < 0)
		fail("connect refused");
	pfd = (struct pollfd){ j->fd, POLLOUT, 0 };
	/* Write until the socket stays full for a second: kiln stopped taking. */
	while (poll(&pfd, 1, 1000) == 1 && (pfd.revents & POLLOUT)) {
		ssize_t n = send(j->fd, buf, sizeof(buf), MSG_DONTWAIT);

		if (n > 0)
			j->bytes += (uint64_t)n;
		else if (errno != EAGAIN)
			break;
	}
	atomic_store(&j->done, true);
	return NULL;
}

static void scenario_credit(void)
{
	struct host_job flood = { .port = 5300 };
	struct virtio_vsock_stats s;
	struct gconn *c = NULL;
	pthread_t t;
	int lfd, conn;

	/* The guest stops reading: kiln takes no more than the guest's
	 * credit from the host program, which then blocks. */
	guest_listen(5300, false, true);
	start_thread(&t, host_flood, &flood);
	guest_run_until(job_done, &flood, "the host program to block");
	pthread_join(t, NULL);
	guest_step();
	for (unsigned int i = 0; i < MAX_GCONN; i++)
		if (h.g.conns[i].used && h.g.conns[i].lport == 5300)
			c = &h.g.conns[i];
	if (!c)
		fail("no guest connection for port 5300");
	s = stats();
	if (c->recv_bytes > GUEST_BUF || h.g.credit_violations || s.rx_bytes > GUEST_BUF)
		fail("a guest that stopped reading got %llu bytes (credit %u)",
		     (unsigned long long)c->recv_bytes, GUEST_BUF);
	if (flood.bytes <= c->recv_bytes)
		fail("the host program was never held back");
	printf("guest stopped reading: host wrote %llu bytes, kiln delivered %llu (credit %u), "
	       "kept %llu\n", (unsigned long long)flood.bytes, (unsigned long long)c->recv_bytes,
	       GUEST_BUF, (unsigned long long)s.tx_buffered);
	close(flood.fd);
	gsend(c, VSOCK_OP_RST, 0, NULL, 0);
	gfree(c);
	guest_run_until(device_empty, NULL, "the first connection's end");

	/* The host stops reading: the guest keeps to kiln's credit, and kiln
	 * holds at most that much. */
	lfd = host_listen(6300);
	c = guest_connect(6300);
	conn = accept(lfd, NULL, NULL);
	c->send_total = 64ULL * MIB;
	c->send_seed = 5;
	while (peer_credit(c) || guest_step()) {
		guest_step();
		if (time(NULL) > h.deadline)
			fail("the guest's credit never ran out");
	}
	s = stats();
	if (s.tx_conn_buffered_peak > VSOCK_HOST_BUF_ALLOC || c->peer_buf_alloc != VSOCK_HOST_BUF_ALLOC)
		fail("kiln held %llu bytes of one connection (it advertised %u)",
		     (unsigned long long)s.tx_conn_buffered_peak, c->peer_buf_alloc);
	printf("host stopped reading: guest sent %llu bytes, kiln holds %llu (credit %u)\n",
	       (unsigned long long)c->sent, (unsigned long long)s.tx_buffered,
	       VSOCK_HOST_BUF_ALLOC);
	/* A hostile guest that sends beyond its credit is reset, and kiln
	 * still holds no more than the credit. */
	h.g.ignore_credit = true;
	c->send_total = c->sent + 4ULL * MIB;
	guest_run_until(got_rst, c, "the RST for sending beyond the credit");
	h.g.ignore_credit = false;
	s = stats();
	if (s.tx_conn_buffered_peak > VSOCK_HOST_BUF_ALLOC)
		fail("a guest beyond its credit made kiln hold %llu bytes",
		     (unsigned long long)s.tx_conn_buffered_peak);
	close(conn);
	close(lfd);
	guest_run_until(device_empty, NULL, "every connection's end");
	printf("credit ok: peak held for one connection %llu <= %u; the guest's credit %u was "
	       "never exceeded; overrun reset\n", (unsigned long long)s.tx_conn_buffered_peak,
	       VSOCK_HOST_BUF_ALLOC, GUEST_BUF);
}

/* Host programs with streams open to a guest echo server. */
#define LIFE_CONNS 8

struct opener {
	int *fds;
	atomic_bool done;
};

static void *connect_n(void *arg)
{
	struct opener *o = arg;

	for (int i = 0; i < LIFE_CONNS; i++) {
		o->fds[i] = host_connect(5400, NULL);
		if (o->fds[i] < 0)
			fail("lifecycle connect refused");
	}
	atomic_store(&o->done, true);
	return NULL;
}

static bool opened(void *arg)
{
	return atomic_load(&((struct opener *)arg)->done);
}

static void open_conns(int *fds)
{
	struct opener o = { .fds = fds };
	pthread_t t;

	start_thread(&t, connect_n, &o);
	guest_run_until(opened, &o, "the connections");
	pthread_join(t, NULL);
	if (stats().connections != LIFE_CONNS)
		fail("%u connections open, not %d", stats().connections, LIFE_CONNS);
}

/* Every host stream reads end of stream (kiln closed it), none hangs. */
static void expect_closed(int *fds, const char *after)
{
	for (int i = 0; i < LIFE_CONNS; i++) {
		uint64_t hash;

		drain(fds[i], &hash);
		close(fds[i]);
	}
	(void)after;
}

static void read_while_guest_runs(int fd, char *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		struct pollfd pfd = { fd, POLLIN, 0 };
		ssize_t n;

		guest_step();
		if (poll(&pfd, 1, 1) == 1) {
			n = read(fd, buf + got, len - got);
			if (n <= 0)
				fail("a stream ended after resume");
			got += (size_t)n;
		}
		if (time(NULL) > h.deadline)
			fail("no echo after resume");
	}
}

static uint16_t rx_used(void)
{
	return __atomic_load_n(h.g.q[RXQ].used_idx, __ATOMIC_ACQUIRE);
}

static void scenario_lifecycle(void)
{
	int fds[LIFE_CONNS], before = count_fds();
	struct kiln_err err = { 0 };
	char buf[4];
	uint16_t used;

	guest_listen(5400, true, false);
	open_conns(fds);
	/* Pause with streams open: nothing reaches the guest until resume,
	 * then everything does. */
	if (device_list_pause(&h.devices, &err))
		fail("%s", err.msg);
	guest_step();
	used = rx_used();
	for (int i = 0; i < LIFE_CONNS; i++)
		write_all(fds[i], "abcd", 4);
	for (int i = 0; i < 50; i++) {
		/* The host programs' bytes are there; a paused device does not
		 * touch the ring, however often the guest looks. */
		if (rx_used() != used)
			fail("a paused device delivered packets");
		wait_irq(1);
	}
	device_list_resume(&h.devices);
	for (int i = 0; i < LIFE_CONNS; i++) {
		read_while_guest_runs(fds[i], buf, 4); /* echoed by the guest after resume */
		if (memcmp(buf, "abcd", 4))
			fail("echo after resume");
	}
	printf("pause ok: nothing delivered while paused, %d streams echoed after resume\n",
	       LIFE_CONNS);
	/* Device reset with streams open: each host program sees its stream
	 * end, the table empties, the next driver hears TRANSPORT_RESET. */
	for (int i = 0; i < LIFE_CONNS; i++)
		write_all(fds[i], "efgh", 4); /* in flight as the reset comes */
	wr(0x14, 1, 0);
	if (stats().connections)
		fail("%u connections survived the device reset", stats().connections);
	expect_closed(fds, "reset");
	h.g.events = 0;
	bring_up();
	if (count_fds() != before)
		fail("%d fds after the reset, %d before", count_fds(), before);
	while (!h.g.events) {
		guest_step();
		wait_irq(2);
		if (time(NULL) > h.deadline)
			fail("no TRANSPORT_RESET after the device reset");
	}
	printf("reset ok: streams closed, no fd left, TRANSPORT_RESET sent\n");
	/* The machine's teardown with streams open and bytes in flight. */
	open_conns(fds);
	for (int i = 0; i < LIFE_CONNS; i++)
		write_all(fds[i], "ijkl", 4);
	device_list_destroy(&h.devices);
	expect_closed(fds, "teardown");
	if (access(h.path, F_OK) == 0)
		fail("the socket file outlived kiln's device");
	printf("lifecycle ok: pause, reset and teardown with %d streams open\n", LIFE_CONNS);
}

/* The paused device's state in a state file, as a snapshot holds it. */
static uint8_t *save_devices(size_t *len)
{
	struct kiln_err err = { 0 };
	struct snapshot_writer w;
	uint8_t *buf;

	snapshot_writer_init(&w);
	if (device_list_save(&h.devices, &w, &err) ||
	    snapshot_writer_finish(&w, &buf, len, &err))
		fail("save: %s", err.msg);
	return buf;
}

static void restore_devices(const uint8_t *buf, size_t len)
{
	static struct snapshot_file file;
	struct kiln_err err = { 0 };

	build_device(false);
	if (snapshot_file_parse(buf, len, "state", &file, &err) ||
	    device_list_load(&h.devices, &file, NULL, &err) ||
	    device_list_start(&h.devices, &err))
		fail("restore: %s", err.msg);
}

/* A snapshot taken with streams open, restored into a new device on the
 * same guest memory: the guest's event buffer (posted long before) gets
 * TRANSPORT_RESET without a kick, no stream survives on either side, and
 * a new one works through the receive buffers the guest had posted. */
static void scenario_snapshot(void)
{
	int fds[LIFE_CONNS];
	struct kiln_err err = { 0 };
	char buf[4];
	uint8_t *state;
	size_t len;

	guest_listen(5400, true, false);
	open_conns(fds);
	if (device_list_pause(&h.devices, &err))
		fail("%s", err.msg);
	state = save_devices(&len);
	device_list_destroy(&h.devices);       /* the old kiln is gone */
	expect_closed(fds, "the old device's end");
	h.g.events = 0;
	restore_devices(state, len);
	free(state);
	while (!h.g.events) {
		guest_step();
		wait_irq(2);
		if (time(NULL) > h.deadline)
			fail("no TRANSPORT_RESET after the restore");
	}
	if (stats().connections)
		fail("%u connections after the restore", stats().connections);
	/* What the guest's driver does on TRANSPORT_RESET: drop every socket. */
	for (unsigned int i = 0; i < MAX_GCONN; i++)
		free(h.g.conns[i].echo_buf);
	memset(&h.g.conns, 0, sizeof(h.g.conns));
	open_conns(fds);
	for (int i = 0; i < LIFE_CONNS; i++) {
		write_all(fds[i], "mnop", 4);
		read_while_guest_runs(fds[i], buf, 4);
		if (memcmp(buf, "mnop", 4))
			fail("echo after the restore");
	}
	printf("snapshot ok: %u TRANSPORT_RESET, %d streams closed, %d new streams echoed\n",
	       h.g.events, LIFE_CONNS, LIFE_CONNS);
}

/* Each thread: connect, 4 KiB there and back, close; again and again. */
struct cycler {
	unsigned int cycles;
	unsigned int id;
	atomic_bool done;
	unsigned int ok;
};

static void *host_cycles(void *arg)
{
	struct cycler *cy = arg;
	uint8_t out[4096], back[4096];

	for (unsigned int i = 0; i < cy->cycles; i++) {
		int fd = host_connect(5500, NULL);

		if (fd < 0)
			fail("cycle %u of thread %u refused", i, cy->id);
		pattern(out, cy->id, (uint64_t)i * sizeof(out), sizeof(out));
		write_all(fd, out, sizeof(out));
		read_all(fd, back, sizeof(back));
		if (memcmp(out, back, sizeof(out)))
			fail("cycle %u of thread %u: bytes differ", i, cy->id);
		/* Half close politely, half reset by closing at once. */
		if (i & 1)
			shutdown(fd, SHUT_WR);
		close(fd);
		cy->ok++;
	}
	atomic_store(&cy->done, true);
	return NULL;
}

static bool cyclers_done(void *arg)
{
	struct cycler *cy = arg;

	for (unsigned int i = 0; cy[i].cycles; i++)
		if (!atomic_load(&cy[i].done))
			return false;
	return true;
}

static void scenario_cycles(unsigned int total, unsigned int threads)
{
	struct cycler *cy = calloc(threads + 1, sizeof(*cy));
	pthread_t *t = calloc(threads, sizeof(*t));
	int before = count_fds();
	unsigned int ok = 0;

	guest_listen(5500, true, false);
	for (unsigned int i = 0; i < threads; i++) {
		cy[i].cycles = total / threads;
		cy[i].id = i;
		start_thread(&t[i], host_cycles, &cy[i]);
	}
	guest_run_until(cyclers_done, cy, "every cycle");
	for (unsigned int i = 0; i < threads; i++) {
		pthread_join(t[i], NULL);
		ok += cy[i].ok;
	}
	guest_run_until(device_empty, NULL, "every connection's end");
	if (count_fds() != before)
		fail("%d fds after the cycles, %d before", count_fds(), before);
	printf("cycles ok: %u connect/transfer/teardown cycles from %u threads, opened %llu, "
	       "closed %llu, no fd left\n", ok, threads, (unsigned long long)stats().opened,
	       (unsigned long long)stats().closed);
	free(cy);
	free(t);
}

/* A packet exactly as given: header fields the guest stack would never write. */
static void raw_send(const void *bytes, uint32_t len)
{
	struct vdriver *d = &h.g.q[TXQ];
	struct vbuf b;

	while (reap_tx(), !d->nr_free)
		wait_irq(1);
	b = (struct vbuf){ tx_gpa(d->free_head), len, false };
	memcpy(guest_mem_ptr(&h.mem, b.gpa, len), bytes, len);
	vdriver_queue_head(d, (uint16_t)vdriver_add(d, &b, 1));
	kick(TXQ);
}

static struct vsock_hdr hostile_hdr(uint32_t lport, uint32_t rport, uint16_t op)
{
	return (struct vsock_hdr){ .src_cid = GUEST_CID, .dst_cid = VSOCK_HOST_CID,
				   .src_port = lport, .dst_port = rport,
				   .type = VSOCK_TYPE_STREAM, .op = op, .buf_alloc = GUEST_BUF };
}

static bool tx_drained(void *arg)
{
	(void)arg;
	reap_tx();
	return h.g.q[TXQ].nr_free == QSIZE && !guest_step();
}

static void scenario_hostile(void)
{
	struct vsock_hdr bad;
	struct gconn *c, *stray;
	uint8_t buf[128] = { 0 };
	int lfd = host_listen(6400), conn;
	uint64_t hash;

	c = guest_connect(6400);
	conn = accept(lfd, NULL, NULL);
	/* Dropped without an answer: another source CID, another destination,
	 * a length beyond the buffer, a chain shorter than a header. */
	bad = hostile_hdr(c->lport, 6400, VSOCK_OP_RW);
	bad.src_cid = 99;
	raw_send(&bad, sizeof(bad));
	bad = hostile_hdr(c->lport, 6400, VSOCK_OP_RW);
	bad.dst_cid = 7;
	raw_send(&bad, sizeof(bad));
	bad = hostile_hdr(c->lport, 6400, VSOCK_OP_RW);
	bad.len = 1u << 31;
	memcpy(buf, &bad, sizeof(bad));
	raw_send(buf, sizeof(buf));
	raw_send(buf, 20);
	guest_run_until(tx_drained, NULL, "the device to take the bad packets");
	if (c->rst || stats().connections != 1 || stats().resets_sent)
		fail("a dropped packet changed the connection (rst %d, %u open, %llu resets)",
		     c->rst, stats().connections, (unsigned long long)stats().resets_sent);
	/* A packet for no connection is answered with RST; so is a datagram. */
	stray = galloc(777, 6400);
	bad = hostile_hdr(777, 6400, VSOCK_OP_RW);
	raw_send(&bad, sizeof(bad));
	guest_run_until(got_rst, stray, "the RST for a packet of no connection");
	gfree(stray);
	/* An unknown op resets its connection, and the host program sees its
	 * stream end. */
	bad = hostile_hdr(c->lport, 6400, 42);
	raw_send(&bad, sizeof(bad));
	guest_run_until(got_rst, c, "the RST for an unknown op");
	if (drain(conn, &hash) != 0)
		fail("bytes after the reset");
	close(conn);
	close(lfd);
	guest_run_until(device_empty, NULL, "every connection's end");
	printf("hostile ok: bad CIDs, lengths and short chains dropped; stray packet and "
	       "unknown op reset (%llu RSTs)\n", (unsigned long long)stats().resets_sent);
}

static bool connections_are(void *arg)
{
	return stats().connections == *(unsigned int *)arg;
}

static bool opened_at_least(void *arg)
{
	return stats().opened >= *(uint64_t *)arg;
}

/* How many of fds kiln has closed (their read side at end of stream). */
static unsigned int count_closed_by_kiln(const int *fds, unsigned int n)
{
	unsigned int closed = 0;
	char byte;

	for (unsigned int i = 0; i < n; i++)
		closed += recv(fds[i], &byte, 1, MSG_DONTWAIT | MSG_PEEK) == 0;
	return closed;
}

/* Host programs that never finish their CONNECT line: those that go free
 * their slot and fd; silent ones hold at most VSOCK_MAX_HANDSHAKES slots,
 * later ones are closed at once, so the guest's connections keep theirs. */
static void scenario_half_said(void)
{
	enum { SILENT = VSOCK_MAX_HANDSHAKES + 8 };
	int fds[SILENT];
	unsigned int want = 0, closed = 0;
	uint64_t opened = stats().opened + 5;

	for (int i = 0; i < 5; i++) {
		int fd = host_unix(h.path, false);

		write_all(fd, "CONNECT 12", 10);
		if (i % 2)
			shutdown(fd, SHUT_WR); /* half-closed: still reading */
		else
			close(fd);
		fds[i] = i % 2 ? fd : -1;
	}
	guest_run_until(opened_at_least, &opened, "the programs gone mid-line to be taken");
	guest_run_until(connections_are, &want, "the slots of programs gone mid-line");
	for (int i = 0; i < 5; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	for (int i = 0; i < SILENT; i++)
		fds[i] = host_unix(h.path, false);
	want = VSOCK_MAX_HANDSHAKES;
	guest_run_until(connections_are, &want, "the silent programs' slots");
	for (time_t end = time(NULL) + 10; time(NULL) < end; usleep(10000))
		if ((closed = count_closed_by_kiln(fds, SILENT)) >= SILENT - VSOCK_MAX_HANDSHAKES)
			break;
	if (closed != SILENT - VSOCK_MAX_HANDSHAKES || stats().connections != VSOCK_MAX_HANDSHAKES)
		fail("%u silent programs refused, %u slots held", closed, stats().connections);
	for (int i = 0; i < SILENT; i++)
		close(fds[i]);
	want = 0;
	guest_run_until(connections_are, &want, "the silent programs' slots to go");
	printf("half-said ok: programs gone mid-line freed; %d silent held, %u refused\n",
	       VSOCK_MAX_HANDSHAKES, closed);
}

int main(int argc, char **argv)
{
	const char *scenario = argc > 2 ? argv[2] : "";
	unsigned long n = argc > 3 ? strtoul(argv[3], NULL, 0) : 0;

	if (argc < 3)
		fail("usage: vsock-harness DIR SCENARIO [N [THREADS]]");
	snprintf(h.dir, sizeof(h.dir), "%s", argv[1]);
	snprintf(h.path, sizeof(h.path), "%s/v.sock", h.dir);
	h.deadline = time(NULL) + DEADLINE_S;
	h.g.next_port = 40000;
	if (guest_mem_create(&h.mem, RAM, LAYOUT_PCI_HOLE_START))
		fail("guest memory");
	make_device();
	bring_up();
	if (!strcmp(scenario, "echo"))
		scenario_echo();
	else if (!strcmp(scenario, "bulk"))
		scenario_bulk(n ? n : 64);
	else if (!strcmp(scenario, "many"))
		scenario_many(n ? (unsigned int)n : 100);
	else if (!strcmp(scenario, "close"))
		scenario_close();
	else if (!strcmp(scenario, "credit"))
		scenario_credit();
	else if (!strcmp(scenario, "hostile"))
		scenario_hostile();
	else if (!strcmp(scenario, "half-said"))
		scenario_half_said();
	else if (!strcmp(scenario, "lifecycle"))
		scenario_lifecycle();
	else if (!strcmp(scenario, "snapshot"))
		scenario_snapshot();
	else if (!strcmp(scenario, "cycles"))
		scenario_cycles(n ? (unsigned int)n : 10000,
				argc > 4 ? (unsigned int)strtoul(argv[4], NULL, 0) : 4);
	else
		fail("unknown scenario '%s'", scenario);
	if (strcmp(scenario, "lifecycle"))
		device_list_destroy(&h.devices);
	for (unsigned int i = 0; i < MAX_GCONN; i++)
		free(h.g.conns[i].echo_buf);
	guest_mem_destroy(&h.mem);
	return 0;
}
