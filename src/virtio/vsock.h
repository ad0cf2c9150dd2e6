/* SPDX-License-Identifier: MIT */
/*
 * virtio-vsock (virtio 1.2, 5.10), stream sockets only, with its host side
 * on Unix sockets (backends/vsock_unix.h). Three queues: rx (host to
 * guest), tx (guest to host), event (TRANSPORT_RESET after a device reset).
 *
 * Threads: the tx worker takes the guest's packets and writes their bytes
 * to the host streams; the rx worker sleeps on the guest's rx buffers and
 * on the backend's epoll set, reads host streams straight into guest
 * buffers (within the credit the guest gave) and sends every control packet;
 * the event worker answers the event queue. All three share one lock over
 * the connection table (see vsock.c, conn_free, for why teardown is safe).
 *
 * Flow control both ways: the host reads no more than the guest's credit
 * (buf_alloc - (sent - fwd_cnt)), and buffers at most VSOCK_HOST_BUF_ALLOC
 * bytes per connection of what the guest sent but a host program has not
 * taken yet, which is exactly the credit kiln advertises; a guest that
 * sends beyond it gets its connection reset.
 */
#ifndef KILN_VIRTIO_VSOCK_H
#define KILN_VIRTIO_VSOCK_H

#include <pthread.h>
#include <stdint.h>

#include "backends/vsock_unix.h"
#include "util/state_buf.h"
#include "devices/device.h"
#include "virtio/worker.h"

#define VIRTIO_ID_VSOCK 19
#define VIRTIO_VSOCK_QUEUES 3
#define VSOCK_HOST_CID 2
#define VSOCK_MAX_CONNECTIONS 1024
/* Host programs connected to PATH that have not sent their CONNECT line. */
#define VSOCK_MAX_HANDSHAKES 64
/* Per connection: what kiln holds of the guest's bytes, at most. */
#define VSOCK_HOST_BUF_ALLOC (256u * 1024)
#define VSOCK_RX_PENDING 256   /* guest rx buffers held (the queue's size) */
#define VSOCK_RX_SEGMENTS 4    /* of each, the first segments */
#define VSOCK_STRAY_RESETS 64  /* RSTs for packets of no connection */
#define VSOCK_EVENT_PENDING 16

/* The packet header (5.10.6), little-endian like the host. */
struct vsock_hdr {
	uint64_t src_cid, dst_cid;
	uint32_t src_port, dst_port, len;
	uint16_t type, op;
	uint32_t flags, buf_alloc, fwd_cnt;
} __attribute__((packed));

enum vsock_op {
	VSOCK_OP_INVALID, VSOCK_OP_REQUEST, VSOCK_OP_RESPONSE, VSOCK_OP_RST,
	VSOCK_OP_SHUTDOWN, VSOCK_OP_RW, VSOCK_OP_CREDIT_UPDATE, VSOCK_OP_CREDIT_REQUEST,
};
#define VSOCK_TYPE_STREAM 1
#define VSOCK_SHUTDOWN_RCV  1u
#define VSOCK_SHUTDOWN_SEND 2u
#define VSOCK_EVENT_TRANSPORT_RESET 0

enum vsock_conn_state {
	VSOCK_CONN_FREE,
	VSOCK_CONN_HANDSHAKE,    /* host program connected, CONNECT line not read yet */
	VSOCK_CONN_CONNECTING,   /* REQUEST to the guest, no answer yet */
	VSOCK_CONN_ESTABLISHED,
	VSOCK_CONN_CLOSING,      /* stream closed; an RST for the guest waits */
};

struct vsock_conn {
	enum vsock_conn_state state;
	uint32_t gen;            /* with the slot, the tag its stream's events carry */
	int stream;              /* -1 once closed */
	uint32_t guest_port, host_port;
	bool readable;           /* the stream may have bytes (no EAGAIN since its edge) */
	bool host_eof;           /* the host's sending half ended */
	bool stream_shut;        /* our sending half of the stream is shut */
	bool guest_shut_send, guest_shut_rcv;
	unsigned int pending;    /* 1 << op: control packets to send */
	uint32_t shutdown_flags; /* of the pending SHUTDOWN */
	/* host -> guest: the guest's credit */
	uint32_t peer_buf_alloc, peer_fwd_cnt, rx_cnt;
	/* guest -> host: bytes written to the stream, and the last we told */
	uint32_t fwd_cnt, reported_fwd_cnt;
	uint8_t *tx_buf;         /* ring of VSOCK_HOST_BUF_ALLOC, only while not empty */
	uint32_t tx_head, tx_len;
};

struct vsock_rx_buf {
	uint16_t head;
	unsigned int nr_iov;
	uint64_t capacity;
	struct iovec iov[VSOCK_RX_SEGMENTS];
};

struct vsock_stray_reset {
	uint32_t guest_port, host_port;
};

struct virtio_vsock_stats {
	unsigned int connections;      /* in the table now */
	uint64_t opened, closed;       /* streams, since the device was made */
	uint64_t tx_buffered;          /* guest bytes held for host streams now */
	uint64_t tx_buffered_peak;     /* ... at most, ever, over all connections */
	uint64_t tx_conn_buffered_peak;/* ... at most in one connection */
	uint64_t rx_bytes, tx_bytes;   /* payload to / from the guest */
	uint64_t resets_sent;
};

/* The device's whole state, in one struct (for the snapshot work). */
struct virtio_vsock {
	pthread_mutex_t lock;    /* everything below, for the three workers */
	uint64_t guest_cid;
	struct vsock_unix host;
	struct vsock_conn conns[VSOCK_MAX_CONNECTIONS];
	unsigned int nr_conns, high, next_scan;
	uint32_t next_gen, next_host_port;
	struct vsock_rx_buf rx[VSOCK_RX_PENDING];
	unsigned int rx_first, rx_count;
	struct vsock_stray_reset stray[VSOCK_STRAY_RESETS];
	unsigned int nr_stray;
	struct vsock_rx_buf events[VSOCK_EVENT_PENDING];
	unsigned int nr_events;
	bool reset_event_pending;
	struct virtio_vsock_stats stats;
};

/* 3 <= cid < 0xffffffff (0, 1 and 2 are the hypervisor's, local and the
 * host's; -1 is "any"): 0 or -EINVAL with a message. */
int virtio_vsock_check_cid(uint64_t cid, struct kiln_err *err);

/* Set up a device for guest_cid with its host side at path; listening
 * starts with virtio_vsock_start. The caller frees with virtio_vsock_free. */
int virtio_vsock_init(struct virtio_vsock *v, uint64_t guest_cid, const char *path,
		      struct kiln_err *err);
int virtio_vsock_start(void *device, struct kiln_err *err);
void virtio_vsock_free(void *device);

long virtio_vsock_handle(void *device, struct virtq_worker *w, struct virtq_chain *chain);
int virtio_vsock_queue_poll(void *device, unsigned int queue, struct virtq_worker_poll *poll);
void virtio_vsock_queue_stop(void *device, unsigned int queue);
void virtio_vsock_config_read(void *device, uint64_t off, uint8_t *data, unsigned int size);
/* Snapshot hooks (struct virtio_device_model). */
unsigned int virtio_vsock_queue_held(void *device, unsigned int queue);
void virtio_vsock_save(void *device, struct state_writer *w);
int virtio_vsock_load(void *device, struct state_reader *r, const char *name,
		      struct kiln_err *err);
void virtio_vsock_get_stats(struct virtio_vsock *v, struct virtio_vsock_stats *out);

/* The board's entry: one device when --vsock is given. */
extern const struct device_kind virtio_vsock_kind;

#endif
