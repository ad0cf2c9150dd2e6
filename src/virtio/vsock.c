// SPDX-License-Identifier: MIT
#include "virtio/vsock.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "virtio/pci_device.h"

enum { RXQ = 0, TXQ = 1, EVQ = 2 };

#define OP(op) (1u << (op))
/* Tell the guest its credit grew once it grew by this much. */
#define CREDIT_UPDATE_STEP (VSOCK_HOST_BUF_ALLOC / 4)
/* A stream's events carry its slot and generation, never a pointer. */
#define CONN_TAG(v, c) (((uint64_t)(c)->gen << 32) | (uint64_t)((c) - (v)->conns))

_Static_assert(sizeof(struct vsock_hdr) == 44, "virtio-vsock header is 44 bytes");

int virtio_vsock_check_cid(uint64_t cid, struct kiln_err *err)
{
	if (cid < 3 || cid >= 0xffffffffULL)
		return err_set(err, -EINVAL, "vsock guest CID %llu: it must be at least 3 and below "
			       "4294967295 (0-2 and -1 are reserved)", (unsigned long long)cid);
	return 0;
}

/* ---- scatter lists ---- */

static void iov_copy_from(const struct iovec *iov, unsigned int n, uint64_t off, void *dst,
			  uint64_t len)
{
	uint8_t *out = dst;

	for (unsigned int i = 0; i < n && len; i++) {
		uint64_t seg = iov[i].iov_len, take;

		if (off >= seg) {
			off -= seg;
			continue;
		}
		take = seg - off < len ? seg - off : len;
		memcpy(out, (uint8_t *)iov[i].iov_base + off, take);
		out += take;
		len -= take;
		off = 0;
	}
}

static void iov_copy_to(const struct iovec *iov, unsigned int n, uint64_t off, const void *src,
			uint64_t len)
{
	const uint8_t *in = src;

	for (unsigned int i = 0; i < n && len; i++) {
		uint64_t seg = iov[i].iov_len, take;

		if (off >= seg) {
			off -= seg;
			continue;
		}
		take = seg - off < len ? seg - off : len;
		memcpy((uint8_t *)iov[i].iov_base + off, in, take);
		in += take;
		len -= take;
		off = 0;
	}
}

/* len bytes from off as at most max segments; their count. */
static unsigned int iov_slice(const struct iovec *iov, unsigned int n, uint64_t off, uint64_t len,
			      struct iovec *out, unsigned int max)
{
	unsigned int count = 0;

	for (unsigned int i = 0; i < n && len && count < max; i++) {
		uint64_t seg = iov[i].iov_len, take;

		if (off >= seg) {
			off -= seg;
			continue;
		}
		take = seg - off < len ? seg - off : len;
		out[count++] = (struct iovec){ (uint8_t *)iov[i].iov_base + off, take };
		len -= take;
		off = 0;
	}
	return count;
}

/* ---- the connection table (every function here runs under v->lock) ---- */

static struct vsock_conn *conn_find(struct virtio_vsock *v, uint32_t guest_port,
				    uint32_t host_port)
{
	for (unsigned int i = 0; i < v->high; i++) {
		struct vsock_conn *c = &v->conns[i];

		/* A host program still in its handshake has no ports yet. */
		if (c->state != VSOCK_CONN_FREE && c->state != VSOCK_CONN_HANDSHAKE &&
		    c->guest_port == guest_port && c->host_port == host_port)
			return c;
	}
	return NULL;
}

static struct vsock_conn *conn_by_tag(struct virtio_vsock *v, uint64_t tag)
{
	uint32_t slot = (uint32_t)tag;
	struct vsock_conn *c;

	if (slot >= VSOCK_MAX_CONNECTIONS)
		return NULL;
	c = &v->conns[slot];
	/* A stale event (its stream closed, the slot reused) matches nothing. */
	return c->state != VSOCK_CONN_FREE && c->gen == (uint32_t)(tag >> 32) ? c : NULL;
}

static struct vsock_conn *conn_alloc(struct virtio_vsock *v, int stream)
{
	for (unsigned int i = 0; i < VSOCK_MAX_CONNECTIONS; i++) {
		struct vsock_conn *c = &v->conns[i];

		if (c->state != VSOCK_CONN_FREE)
			continue;
		*c = (struct vsock_conn){ .state = VSOCK_CONN_HANDSHAKE, .gen = ++v->next_gen,
					  .stream = stream };
		v->nr_conns++;
		v->stats.connections = v->nr_conns;
		v->stats.opened++;
		if (i + 1 > v->high)
			v->high = i + 1;
		return c;
	}
	return NULL;
}

static void conn_close_stream(struct virtio_vsock *v, struct vsock_conn *c)
{
	if (c->stream < 0)
		return;
	/* Closing removes it from the epoll set too (its only copy). */
	vsock_stream_close(c->stream);
	c->stream = -1;
	v->stats.closed++;
	v->stats.tx_buffered -= c->tx_len;
	free(c->tx_buf);
	c->tx_buf = NULL;
	c->tx_len = c->tx_head = 0;
}

/*
 * Why freeing here is safe while three workers (and a vCPU or the main
 * thread resetting the device) run: a connection is only ever reached
 * under v->lock, which the caller holds, and no thread keeps a pointer to
 * it past unlocking; the backend's events carry (slot, generation), which
 * conn_by_tag checks again under the lock, so an event for a freed or
 * reused slot finds nothing. The stream's fd is closed exactly once
 * (conn_close_stream sets it to -1), and closing it also takes it out of
 * the epoll set, so no later event can name its number.
 */
static void conn_free(struct virtio_vsock *v, struct vsock_conn *c)
{
	conn_close_stream(v, c);
	c->state = VSOCK_CONN_FREE;
	c->pending = 0;
	v->nr_conns--;
	v->stats.connections = v->nr_conns;
	while (v->high && v->conns[v->high - 1].state == VSOCK_CONN_FREE)
		v->high--;
}

/* Tear the connection down: the host program sees its socket close now,
 * the guest an RST as soon as an rx buffer takes it; then the slot goes. */
static void conn_reset(struct virtio_vsock *v, struct vsock_conn *c)
{
	conn_close_stream(v, c);
	c->state = VSOCK_CONN_CLOSING;
	c->pending = OP(VSOCK_OP_RST);
}

static void free_all(struct virtio_vsock *v)
{
	for (unsigned int i = 0; i < v->high; i++)
		if (v->conns[i].state != VSOCK_CONN_FREE)
			conn_free(v, &v->conns[i]);
	v->nr_stray = 0;
}

/* An RST for a packet that has no connection; dropped when the ring is
 * full (a guest flooding bogus packets loses its answers, nothing more). */
static void stray_reset(struct virtio_vsock *v, const struct vsock_hdr *h)
{
	if (h->op == VSOCK_OP_RST || v->nr_stray == VSOCK_STRAY_RESETS)
		return;
	v->stray[v->nr_stray++] = (struct vsock_stray_reset){ h->src_port, h->dst_port };
}

static uint32_t guest_credit(const struct vsock_conn *c)
{
	uint32_t in_flight = c->rx_cnt - c->peer_fwd_cnt;

	return in_flight >= c->peer_buf_alloc ? 0 : c->peer_buf_alloc - in_flight;
}

static bool conn_has_data(const struct vsock_conn *c)
{
	return c->state == VSOCK_CONN_ESTABLISHED && c->readable && !c->host_eof &&
	       !c->guest_shut_rcv && guest_credit(c) > 0;
}

/* After bytes went to the host program: tell the guest of its credit in
 * steps, and finish the guest's shutdown once nothing is held back. */
static void after_forward(struct virtio_vsock *v, struct vsock_conn *c)
{
	if (c->fwd_cnt - c->reported_fwd_cnt >= CREDIT_UPDATE_STEP)
		c->pending |= OP(VSOCK_OP_CREDIT_UPDATE);
	if (c->tx_len || c->stream < 0)
		return;
	free(c->tx_buf); /* an idle connection holds no buffer */
	c->tx_buf = NULL;
	c->tx_head = 0;
	if (c->guest_shut_send && !c->stream_shut) {
		vsock_stream_shutdown_send(c->stream);
		c->stream_shut = true;
	}
	/* Both halves shut by the guest and all delivered: the guest waits
	 * for our RST to let its socket go. */
	if (c->guest_shut_send && c->guest_shut_rcv)
		conn_reset(v, c);
}

static void forwarded(struct virtio_vsock *v, struct vsock_conn *c, uint32_t n)
{
	c->fwd_cnt += n;
	v->stats.tx_bytes += n;
}

/* Write what the guest's bytes held back to the host stream. */
static void tx_flush(struct virtio_vsock *v, struct vsock_conn *c)
{
	while (c->tx_len && c->stream >= 0) {
		uint32_t first = VSOCK_HOST_BUF_ALLOC - c->tx_head;
		struct iovec iov[2] = { { c->tx_buf + c->tx_head, first < c->tx_len ? first : c->tx_len },
					{ c->tx_buf, first < c->tx_len ? c->tx_len - first : 0 } };
		ssize_t n = vsock_stream_send(c->stream, iov, iov[1].iov_len ? 2 : 1);

		if (n == -EAGAIN)
			return;
		if (n < 0) {
			conn_reset(v, c);
			return;
		}
		c->tx_head = (uint32_t)((c->tx_head + (uint64_t)n) % VSOCK_HOST_BUF_ALLOC);
		c->tx_len -= (uint32_t)n;
		v->stats.tx_buffered -= (uint64_t)n;
		forwarded(v, c, (uint32_t)n);
	}
	after_forward(v, c);
}

/* Keep bytes the stream would not take, within the credit. */
static int tx_hold(struct virtio_vsock *v, struct vsock_conn *c, const struct virtq_chain *chain,
		   uint64_t off, uint32_t len)
{
	uint32_t tail, first;

	if (!c->tx_buf && !(c->tx_buf = malloc(VSOCK_HOST_BUF_ALLOC)))
		return -ENOMEM;
	tail = (c->tx_head + c->tx_len) % VSOCK_HOST_BUF_ALLOC;
	first = VSOCK_HOST_BUF_ALLOC - tail < len ? VSOCK_HOST_BUF_ALLOC - tail : len;
	iov_copy_from(chain->iov, chain->nr_out, off, c->tx_buf + tail, first);
	iov_copy_from(chain->iov, chain->nr_out, off + first, c->tx_buf, len - first);
	c->tx_len += len;
	v->stats.tx_buffered += len;
	if (v->stats.tx_buffered > v->stats.tx_buffered_peak)
		v->stats.tx_buffered_peak = v->stats.tx_buffered;
	if (c->tx_len > v->stats.tx_conn_buffered_peak)
		v->stats.tx_conn_buffered_peak = c->tx_len;
	return 0;
}

/* RW: the guest's bytes to the host program, straight when its socket
 * takes them, else held (never more than the credit kiln gave). */
static void tx_rw(struct virtio_vsock *v, struct vsock_conn *c, const struct virtq_chain *chain,
		  uint32_t len)
{
	struct iovec iov[64];
	uint32_t sent = 0;

	if (c->state != VSOCK_CONN_ESTABLISHED || c->guest_shut_send ||
	    c->tx_len + (uint64_t)len > VSOCK_HOST_BUF_ALLOC) {
		conn_reset(v, c); /* data it may not send, or beyond its credit */
		return;
	}
	if (!c->tx_len && len) {
		unsigned int n = iov_slice(chain->iov, chain->nr_out, sizeof(struct vsock_hdr), len,
					   iov, 64);
		ssize_t ret = vsock_stream_send(c->stream, iov, (int)n);

		if (ret < 0 && ret != -EAGAIN) {
			conn_reset(v, c);
			return;
		}
		sent = ret > 0 ? (uint32_t)ret : 0;
		forwarded(v, c, sent);
	}
	if (sent < len && tx_hold(v, c, chain, sizeof(struct vsock_hdr) + sent, len - sent)) {
		conn_reset(v, c);
		return;
	}
	after_forward(v, c);
}

static void tx_shutdown(struct virtio_vsock *v, struct vsock_conn *c, uint32_t flags)
{
	if (flags & VSOCK_SHUTDOWN_RCV)
		c->guest_shut_rcv = true;
	if (flags & VSOCK_SHUTDOWN_SEND)
		c->guest_shut_send = true;
	if (c->state != VSOCK_CONN_ESTABLISHED)
		conn_reset(v, c);
	else
		after_forward(v, c);
}

/* The guest accepted a host program's connection: tell the program. */
static void tx_response(struct virtio_vsock *v, struct vsock_conn *c)
{
	if (c->state != VSOCK_CONN_CONNECTING || vsock_unix_send_ok(c->stream, c->host_port)) {
		conn_reset(v, c);
		return;
	}
	c->state = VSOCK_CONN_ESTABLISHED;
	c->readable = true; /* bytes may have come after the CONNECT line */
}

/* A guest connect to host port P: the program listening on PATH_P. */
static void tx_request(struct virtio_vsock *v, const struct vsock_hdr *h)
{
	int stream = vsock_unix_connect(&v->host, h->dst_port);
	struct vsock_conn *c = stream >= 0 ? conn_alloc(v, stream) : NULL;

	if (!c) {
		if (stream >= 0)
			vsock_stream_close(stream);
		stray_reset(v, h);
		return;
	}
	c->state = VSOCK_CONN_ESTABLISHED;
	c->guest_port = h->src_port;
	c->host_port = h->dst_port;
	c->peer_buf_alloc = h->buf_alloc;
	c->peer_fwd_cnt = h->fwd_cnt;
	c->readable = true;
	c->pending = OP(VSOCK_OP_RESPONSE);
	if (vsock_unix_watch(&v->host, stream, CONN_TAG(v, c)))
		conn_reset(v, c);
}

static void tx_for_conn(struct virtio_vsock *v, struct vsock_conn *c, const struct vsock_hdr *h,
			const struct virtq_chain *chain)
{
	if (h->op == VSOCK_OP_RST) {
		conn_free(v, c); /* the guest wants no answer */
		return;
	}
	c->peer_buf_alloc = h->buf_alloc;
	c->peer_fwd_cnt = h->fwd_cnt;
	if (c->state == VSOCK_CONN_CLOSING)
		return; /* its RST is on the way */
	switch (h->op) {
	case VSOCK_OP_RW: tx_rw(v, c, chain, h->len); break;
	case VSOCK_OP_SHUTDOWN: tx_shutdown(v, c, h->flags); break;
	case VSOCK_OP_RESPONSE: tx_response(v, c); break;
	case VSOCK_OP_CREDIT_UPDATE: break;
	case VSOCK_OP_CREDIT_REQUEST: c->pending |= OP(VSOCK_OP_CREDIT_UPDATE); break;
	default: conn_reset(v, c); break; /* a second REQUEST, or an unknown op */
	}
}

/* One packet from the guest; the answer, if any, waits for the rx worker. */
static long tx_packet(struct virtio_vsock *v, const struct virtq_chain *chain)
{
	struct vsock_hdr h;
	struct vsock_conn *c;
	bool wake;

	if (chain->out_len < sizeof(h))
		return -EINVAL;
	iov_copy_from(chain->iov, chain->nr_out, 0, &h, sizeof(h)); /* read once */
	/* Another CID we could not answer; a length beyond the buffers. */
	if (h.src_cid != v->guest_cid || h.dst_cid != VSOCK_HOST_CID ||
	    h.len > chain->out_len - sizeof(h))
		return -EINVAL;
	pthread_mutex_lock(&v->lock);
	c = conn_find(v, h.src_port, h.dst_port);
	if (h.type != VSOCK_TYPE_STREAM && c)
		conn_reset(v, c);
	else if (h.type != VSOCK_TYPE_STREAM || (!c && h.op != VSOCK_OP_REQUEST))
		stray_reset(v, &h);
	else if (!c)
		tx_request(v, &h);
	else
		tx_for_conn(v, c, &h, chain);
	c = conn_find(v, h.src_port, h.dst_port);
	wake = v->nr_stray || (c && (c->pending || conn_has_data(c)));
	pthread_mutex_unlock(&v->lock);
	if (wake)
		vsock_unix_wake(&v->host);
	return 0;
}

/* ---- host -> guest (the rx worker) ---- */

static uint32_t put_packet(struct virtio_vsock *v, struct vsock_rx_buf *b, uint32_t guest_port,
			   uint32_t host_port, uint16_t op, uint32_t len, uint32_t flags,
			   const struct vsock_conn *c)
{
	struct vsock_hdr h = {
		.src_cid = VSOCK_HOST_CID, .dst_cid = v->guest_cid, .src_port = host_port,
		.dst_port = guest_port, .len = len, .type = VSOCK_TYPE_STREAM, .op = op,
		.flags = flags, .buf_alloc = c ? VSOCK_HOST_BUF_ALLOC : 0,
		.fwd_cnt = c ? c->fwd_cnt : 0,
	};

	iov_copy_to(b->iov, b->nr_iov, 0, &h, sizeof(h));
	if (op == VSOCK_OP_RST)
		v->stats.resets_sent++;
	return (uint32_t)sizeof(h) + len;
}

static uint32_t conn_packet(struct virtio_vsock *v, struct vsock_conn *c, struct vsock_rx_buf *b,
			    uint16_t op, uint32_t len, uint32_t flags)
{
	uint32_t n = put_packet(v, b, c->guest_port, c->host_port, op, len, flags, c);

	c->reported_fwd_cnt = c->fwd_cnt; /* every header carries it */
	c->pending &= ~(OP(op) | OP(VSOCK_OP_CREDIT_UPDATE));
	return n;
}

/* Read the host stream into b, within the guest's credit: the packet's
 * size, or 0 when there was nothing (state updated). */
static uint32_t conn_read(struct virtio_vsock *v, struct vsock_conn *c, struct vsock_rx_buf *b)
{
	uint64_t room = b->capacity - sizeof(struct vsock_hdr), credit = guest_credit(c);
	struct iovec iov[VSOCK_RX_SEGMENTS];
	unsigned int n = iov_slice(b->iov, b->nr_iov, sizeof(struct vsock_hdr),
				   room < credit ? room : credit, iov, VSOCK_RX_SEGMENTS);
	ssize_t got;

	/* A buffer with room for the header only: the bytes wait for the next
	 * (a read into nothing would look like the end of the stream). */
	if (n == 0)
		return 0;
	got = vsock_stream_recv(c->stream, iov, (int)n);

	if (got > 0) {
		c->rx_cnt += (uint32_t)got;
		v->stats.rx_bytes += (uint64_t)got;
		return conn_packet(v, c, b, VSOCK_OP_RW, (uint32_t)got, 0);
	}
	c->readable = false;
	if (got == 0) {
		/* The host program's sending half ended; all of it, when its
		 * socket is gone (then the guest will not be heard either). */
		c->host_eof = true;
		c->shutdown_flags = VSOCK_SHUTDOWN_SEND |
				    (vsock_stream_hung_up(c->stream) ? VSOCK_SHUTDOWN_RCV : 0);
		c->pending |= OP(VSOCK_OP_SHUTDOWN);
	} else if (got != -EAGAIN) {
		conn_reset(v, c);
	}
	return 0;
}

/* The next packet c has for the guest, in b: its size, or 0. */
static uint32_t conn_next_packet(struct virtio_vsock *v, struct vsock_conn *c,
				 struct vsock_rx_buf *b)
{
	uint32_t n;

	if (c->pending & OP(VSOCK_OP_RST)) {
		n = conn_packet(v, c, b, VSOCK_OP_RST, 0, 0);
		conn_free(v, c);
		return n;
	}
	if (c->pending & OP(VSOCK_OP_REQUEST))
		return conn_packet(v, c, b, VSOCK_OP_REQUEST, 0, 0);
	if (c->pending & OP(VSOCK_OP_RESPONSE))
		return conn_packet(v, c, b, VSOCK_OP_RESPONSE, 0, 0);
	if (conn_has_data(c) && (n = conn_read(v, c, b)))
		return n;
	if (c->pending & OP(VSOCK_OP_RST))
		return conn_next_packet(v, c, b); /* the read failed */
	if (c->pending & OP(VSOCK_OP_SHUTDOWN))
		return conn_packet(v, c, b, VSOCK_OP_SHUTDOWN, 0, c->shutdown_flags);
	if (c->pending & OP(VSOCK_OP_CREDIT_UPDATE))
		return conn_packet(v, c, b, VSOCK_OP_CREDIT_UPDATE, 0, 0);
	return 0;
}

/* Fill b with the next packet of any connection, taking them in turn. */
static uint32_t next_packet(struct virtio_vsock *v, struct vsock_rx_buf *b)
{
	if (v->nr_stray) {
		struct vsock_stray_reset r = v->stray[--v->nr_stray];

		return put_packet(v, b, r.guest_port, r.host_port, VSOCK_OP_RST, 0, 0, NULL);
	}
	for (unsigned int i = 0; i < v->high; i++) {
		unsigned int slot = (v->next_scan + i) % v->high;
		struct vsock_conn *c = &v->conns[slot];
		uint32_t n;

		if (c->state == VSOCK_CONN_FREE || c->state == VSOCK_CONN_HANDSHAKE)
			continue;
		n = conn_next_packet(v, c, b);
		if (n) {
			v->next_scan = slot + 1;
			return n;
		}
	}
	return 0;
}

/* Hand packets to the guest while it has rx buffers; one interrupt. */
static void rx_pump(struct virtio_vsock *v, struct virtq_worker *w)
{
	bool pushed = false;

	pthread_mutex_lock(&v->lock);
	while (v->rx_count) {
		struct vsock_rx_buf *b = &v->rx[v->rx_first];
		uint32_t n = next_packet(v, b);

		if (!n)
			break;
		virtq_worker_push(w, b->head, n);
		pushed = true;
		v->rx_first = (v->rx_first + 1) % VSOCK_RX_PENDING;
		v->rx_count--;
	}
	pthread_mutex_unlock(&v->lock);
	if (pushed)
		virtq_worker_interrupt(w);
}

static unsigned int count_handshakes(const struct virtio_vsock *v)
{
	unsigned int n = 0;

	for (unsigned int i = 0; i < v->high; i++)
		n += v->conns[i].state == VSOCK_CONN_HANDSHAKE;
	return n;
}

/* Host connections taken per round: a host flooding PATH with connects
 * (each refused or not) cannot keep the worker, and the device's lock, from
 * the guest's traffic; the rest wait in the backlog for the next round (the
 * listener is level-triggered). */
#define VSOCK_ACCEPTS_PER_ROUND 16

/* A host program connected to PATH: it has to say CONNECT first. Programs
 * that have not said it yet hold at most VSOCK_MAX_HANDSHAKES slots, so
 * silent ones cannot take the table from the guest's connections. */
static void accept_some(struct virtio_vsock *v)
{
	for (unsigned int taken = 0; taken < VSOCK_ACCEPTS_PER_ROUND; taken++) {
		int stream = vsock_unix_accept(&v->host);
		struct vsock_conn *c;

		if (stream == -EINTR)
			continue;
		if (stream < 0)
			return;
		c = count_handshakes(v) < VSOCK_MAX_HANDSHAKES ? conn_alloc(v, stream) : NULL;
		if (!c) {
			vsock_stream_close(stream); /* no room: refused */
			continue;
		}
		if (vsock_unix_watch(&v->host, stream, CONN_TAG(v, c)))
			conn_free(v, c);
	}
}

static uint32_t new_host_port(struct virtio_vsock *v, uint32_t guest_port)
{
	for (;;) {
		uint32_t port = v->next_host_port++;

		/* Below 1024 and -1 look like services: not for a stream's end. */
		if (port >= 1024 && port != UINT32_MAX && !conn_find(v, guest_port, port))
			return port;
	}
}

static void handshake(struct virtio_vsock *v, struct vsock_conn *c)
{
	uint32_t port;
	int ret = vsock_unix_read_connect(c->stream, &port);

	if (ret < 0) {
		conn_free(v, c); /* the guest never heard of it */
	} else if (ret > 0) {
		c->guest_port = port;
		c->host_port = new_host_port(v, port);
		c->state = VSOCK_CONN_CONNECTING;
		c->pending = OP(VSOCK_OP_REQUEST);
	}
}

static void stream_event(struct virtio_vsock *v, const struct vsock_unix_event *ev)
{
	struct vsock_conn *c = conn_by_tag(v, ev->tag);

	if (!c)
		return;
	if (c->state == VSOCK_CONN_HANDSHAKE) {
		if (ev->what & VSOCK_STREAM_READABLE)
			handshake(v, c);
		/* Gone before a whole CONNECT line: its slot and fd go too (the
		 * line will never complete, and nothing else would free them). */
		if (c->state == VSOCK_CONN_HANDSHAKE && (ev->what & VSOCK_STREAM_HANGUP))
			conn_free(v, c);
		return;
	}
	if (ev->what & VSOCK_STREAM_READABLE)
		c->readable = true;
	if ((ev->what & VSOCK_STREAM_WRITABLE) && c->tx_len)
		tx_flush(v, c);
	/* A program gone before the guest answered: the guest gets an RST. */
	if ((ev->what & VSOCK_STREAM_HANGUP) && c->state == VSOCK_CONN_CONNECTING)
		conn_reset(v, c);
}

static void rx_backend_ready(void *device, struct virtq_worker *w)
{
	struct virtio_vsock *v = device;
	struct vsock_unix_event ev[64];
	int n;

	pthread_mutex_lock(&v->lock);
	n = vsock_unix_events(&v->host, ev, 64);
	for (int i = 0; i < n; i++) {
		if (ev[i].tag == VSOCK_UNIX_TAG_LISTENER)
			accept_some(v);
		else if (ev[i].tag != VSOCK_UNIX_TAG_WAKE)
			stream_event(v, &ev[i]);
	}
	pthread_mutex_unlock(&v->lock);
	rx_pump(v, w);
}

static bool hold_buffer(struct vsock_rx_buf *b, const struct virtq_chain *chain)
{
	if (chain->nr_in == 0 || chain->in_len < sizeof(struct vsock_hdr))
		return false;
	b->head = chain->head;
	b->nr_iov = chain->nr_in < VSOCK_RX_SEGMENTS ? chain->nr_in : VSOCK_RX_SEGMENTS;
	b->capacity = 0;
	for (unsigned int i = 0; i < b->nr_iov; i++) {
		b->iov[i] = chain->iov[chain->nr_out + i];
		b->capacity += b->iov[i].iov_len;
	}
	return b->capacity >= sizeof(struct vsock_hdr);
}

static long rx_buffer(struct virtio_vsock *v, struct virtq_worker *w,
		      const struct virtq_chain *chain)
{
	struct vsock_rx_buf *b;

	pthread_mutex_lock(&v->lock);
	b = &v->rx[(v->rx_first + v->rx_count) % VSOCK_RX_PENDING];
	if (v->rx_count == VSOCK_RX_PENDING || !hold_buffer(b, chain)) {
		pthread_mutex_unlock(&v->lock);
		return -EINVAL;
	}
	v->rx_count++;
	pthread_mutex_unlock(&v->lock);
	rx_pump(v, w);
	return VIRTQ_PENDING;
}

/* ---- the event queue ---- */

/* The event queue's buffers wait for an event; the only one is
 * TRANSPORT_RESET, owed after a device reset. */
static long event_buffer(struct virtio_vsock *v, const struct virtq_chain *chain)
{
	uint32_t event = VSOCK_EVENT_TRANSPORT_RESET;
	bool send, kept = false;

	if (chain->nr_in == 0 || chain->iov[chain->nr_out].iov_len < sizeof(event))
		return -EINVAL;
	pthread_mutex_lock(&v->lock);
	send = v->reset_event_pending;
	v->reset_event_pending = false;
	if (!send && v->nr_events < VSOCK_EVENT_PENDING) {
		v->events[v->nr_events++] = (struct vsock_rx_buf){
			.head = chain->head, .nr_iov = 1, .iov = { chain->iov[chain->nr_out] } };
		kept = true;
	}
	pthread_mutex_unlock(&v->lock);
	if (!send)
		return kept ? VIRTQ_PENDING : -ENOSPC; /* more than we keep: back empty */
	iov_copy_to(&chain->iov[chain->nr_out], chain->nr_in, 0, &event, sizeof(event));
	return sizeof(event);
}

long virtio_vsock_handle(void *device, struct virtq_worker *w, struct virtq_chain *chain)
{
	struct virtio_vsock *v = device;

	switch (w->queue) {
	case TXQ: return tx_packet(v, chain);
	case RXQ: return rx_buffer(v, w, chain);
	case EVQ: return event_buffer(v, chain);
	default: return -EINVAL;
	}
}

int virtio_vsock_queue_poll(void *device, unsigned int queue, struct virtq_worker_poll *poll)
{
	struct virtio_vsock *v = device;

	/* The rx worker also sleeps on the host side's epoll set. */
	*poll = (struct virtq_worker_poll){
		.fd = queue == RXQ ? vsock_unix_poll_fd(&v->host) : -1,
		.ready = rx_backend_ready,
	};
	return 0;
}

/* A reset queue's buffers belong to the old ring. Connections do not
 * outlive the device's reset: the host programs see their sockets close,
 * and the driver that comes up next hears TRANSPORT_RESET. The other
 * workers may still run (queues stop one by one): all under the lock. */
void virtio_vsock_queue_stop(void *device, unsigned int queue)
{
	struct virtio_vsock *v = device;

	pthread_mutex_lock(&v->lock);
	if (queue == RXQ) {
		v->rx_count = v->rx_first = 0;
		v->reset_event_pending = true;
	} else if (queue == EVQ) {
		v->nr_events = 0;
	}
	if (queue != EVQ)
		free_all(v);
	pthread_mutex_unlock(&v->lock);
}

void virtio_vsock_config_read(void *device, uint64_t off, uint8_t *data, unsigned int size)
{
	struct virtio_vsock *v = device;
	uint8_t config[8];

	memcpy(config, &v->guest_cid, sizeof(config)); /* le64 guest_cid */
	for (unsigned int i = 0; i < size; i++)
		data[i] = off + i < sizeof(config) ? config[off + i] : 0;
}

void virtio_vsock_get_stats(struct virtio_vsock *v, struct virtio_vsock_stats *out)
{
	pthread_mutex_lock(&v->lock);
	*out = v->stats;
	pthread_mutex_unlock(&v->lock);
}

int virtio_vsock_init(struct virtio_vsock *v, uint64_t guest_cid, const char *path,
		      struct kiln_err *err)
{
	int ret = virtio_vsock_check_cid(guest_cid, err);

	memset(v, 0, sizeof(*v));
	v->host.listen_fd = v->host.epoll_fd = v->host.wake_fd = -1;
	if (ret)
		return ret;
	ret = vsock_unix_init(&v->host, path, err);
	if (ret)
		return ret;
	pthread_mutex_init(&v->lock, NULL);
	v->guest_cid = guest_cid;
	v->next_host_port = 1024;
	return 0;
}

/* At the device's start: kiln is in its jail by then, so PATH and PATH_P
 * are both seen from there. */
int virtio_vsock_start(void *device, struct kiln_err *err)
{
	struct virtio_vsock *v = device;

	return vsock_unix_listen(&v->host, err);
}

/* After the transport's reset: no worker runs, no connection is left. */
void virtio_vsock_free(void *device)
{
	struct virtio_vsock *v = device;

	free_all(v);
	vsock_unix_close(&v->host);
	pthread_mutex_destroy(&v->lock);
	free(v);
}

/* Snapshots: receive and event buffers are held until used. */
unsigned int virtio_vsock_queue_held(void *device, unsigned int queue)
{
	struct virtio_vsock *v = device;
	unsigned int held;

	pthread_mutex_lock(&v->lock);
	held = queue == RXQ ? v->rx_count : queue == EVQ ? v->nr_events : 0;
	pthread_mutex_unlock(&v->lock);
	return held;
}

/* The guest's CID only: connections do not survive a snapshot (their host
 * ends are gone), so the restored device tells the driver with
 * TRANSPORT_RESET in its first event buffer, and the guest drops them. */
void virtio_vsock_save(void *device, struct state_writer *w)
{
	struct virtio_vsock *v = device;

	state_put_u64(w, v->guest_cid);
}

int virtio_vsock_load(void *device, struct state_reader *r, const char *name,
		      struct kiln_err *err)
{
	struct virtio_vsock *v = device;
	uint64_t cid = state_get_u64(r);
	int ret = device_state_check_length(r, name, err);

	if (ret)
		return ret;
	if (cid != v->guest_cid)
		return err_set(err, -EINVAL, "%s: the snapshot's guest CID %llu is not this "
			       "device's %llu", name, (unsigned long long)cid,
			       (unsigned long long)v->guest_cid);
	pthread_mutex_lock(&v->lock);
	free_all(v);
	v->reset_event_pending = true;
	pthread_mutex_unlock(&v->lock);
	return 0;
}

static int virtio_vsock_create(const struct device_env *env, struct kiln_err *err)
{
	const struct kiln_config *cfg = env->cfg;
	struct virtio_device_model model = {
		.device_id = VIRTIO_ID_VSOCK, .class_code = 0x028000,
		.nr_queues = VIRTIO_VSOCK_QUEUES, .queue_max_size = VSOCK_RX_PENDING,
		.handler = virtio_vsock_handle, .queue_poll = virtio_vsock_queue_poll,
		.queue_stop = virtio_vsock_queue_stop, .config_read = virtio_vsock_config_read,
		.start = virtio_vsock_start, .queue_held = virtio_vsock_queue_held,
		.save = virtio_vsock_save, .load = virtio_vsock_load,
		.worker_sandbox = SANDBOX_THREAD_WORKER_VSOCK,
	};
	struct virtio_vsock *v;
	int ret;

	if (!cfg->vsock.enabled)
		return 0;
	/* Abstract Unix socket names are per network namespace, and the vsock
	 * workers may connect Unix sockets: in a jail that kept the host's
	 * namespace (for --net user) they could reach the host's. */
	if (cfg->jail_dir && cfg->jail_keep_network)
		return err_set(err, -EINVAL, "vsock: not with --net user in a --jail (the jail then "
			       "shares the host's network namespace); use a tap with --jail");
	v = malloc(sizeof(*v));
	if (!v)
		return err_set(err, -ENOMEM, "out of memory for the vsock device");
	ret = virtio_vsock_init(v, cfg->vsock.guest_cid, cfg->vsock.uds_path, err);
	if (ret) {
		free(v);
		return ret;
	}
	model.device = v;
	return virtio_pci_device_add(env, "vsock0", &model, virtio_vsock_free, err);
}

const struct device_kind virtio_vsock_kind = { "virtio-vsock", virtio_vsock_create };
