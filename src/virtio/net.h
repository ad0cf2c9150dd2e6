/* SPDX-License-Identifier: MIT */
/*
 * virtio-net (virtio 1.2, 5.1) over a network backend (backends/
 * net_backend.h): queue pairs rx0, tx0, rx1, tx1, ... and a control queue
 * last, each on its own worker. TX chains go to the backend with one writev
 * per frame, their header copied and checked once; RX buffers the driver
 * posts are held until a frame comes, which is read whole into a per-queue
 * buffer and copied into one chain, or several with MRG_RXBUF.
 */
#ifndef KILN_VIRTIO_NET_H
#define KILN_VIRTIO_NET_H

#include <stdatomic.h>

#include "backends/net_backend.h"
#include "devices/device.h"
#include "util/state_buf.h"
#include "virtio/worker.h"

#define VIRTIO_ID_NET 1
#define VIRTIO_NET_QUEUE_SIZE 256
/* Writable segments of one RX chain the device uses (Linux's big-packet
 * chains without MRG_RXBUF have 19). */
#define VIRTIO_NET_RX_MAX_SEGS 64
/* Largest frame either way: what every backend takes. */
#define VIRTIO_NET_FRAME_MAX NET_FRAME_MAX

/* Device feature bits beyond the offloads (5.1.3). */
#define VIRTIO_NET_F_MAC        5
#define VIRTIO_NET_F_MRG_RXBUF  15
#define VIRTIO_NET_F_STATUS     16
#define VIRTIO_NET_F_CTRL_VQ    17
#define VIRTIO_NET_F_CTRL_RX    18
#define VIRTIO_NET_F_MQ         22

#define VIRTIO_NET_S_LINK_UP 1

/* struct virtio_net_hdr_v1 (5.1.6). */
struct virtio_net_hdr_v1 {
	uint8_t flags;
	uint8_t gso_type;
	uint16_t hdr_len;
	uint16_t gso_size;
	uint16_t csum_start;
	uint16_t csum_offset;
	uint16_t num_buffers;
};

#define VIRTIO_NET_HDR_F_NEEDS_CSUM 1
#define VIRTIO_NET_HDR_F_DATA_VALID 2
#define VIRTIO_NET_HDR_GSO_NONE  0
#define VIRTIO_NET_HDR_GSO_TCPV4 1
#define VIRTIO_NET_HDR_GSO_TCPV6 4
#define VIRTIO_NET_HDR_GSO_ECN   0x80

/* Control queue classes, commands and acks (5.1.6.5). */
#define VIRTIO_NET_OK  0
#define VIRTIO_NET_ERR 1
#define VIRTIO_NET_CTRL_RX 0
#define VIRTIO_NET_CTRL_RX_PROMISC  0
#define VIRTIO_NET_CTRL_RX_ALLMULTI 1
#define VIRTIO_NET_CTRL_MAC 1
#define VIRTIO_NET_CTRL_MAC_TABLE_SET 0
#define VIRTIO_NET_CTRL_MQ 4
#define VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET 0
/* The longest control command taken: a MAC table of 2 x 512 entries. */
#define VIRTIO_NET_CTRL_MAX (2 + 8 + 1024 * 6)

/* One RX chain the driver posted, held until a frame fills it. */
struct net_rx_buf {
	uint16_t head;
	uint16_t nr_iov;
	uint64_t cap;            /* bytes its writable segments hold */
	struct iovec iov[VIRTIO_NET_RX_MAX_SEGS];
};

struct net_rx_queue {
	struct net_rx_buf bufs[VIRTIO_NET_QUEUE_SIZE];   /* a FIFO from first */
	unsigned int first, count;
	bool held[VIRTIO_NET_QUEUE_SIZE];                /* by head: in bufs */
	bool buffers_added;      /* since the last delivery attempt */
	/* Its worker, for the control queue to wake on VQ_PAIRS_SET. */
	struct virtq_worker *_Atomic worker;
	/* A frame read from the backend and not yet delivered: always with a
	 * 12-byte virtio header at the front (zeroed when the backend has none). */
	uint8_t frame[NET_VNET_HDR_LEN + VIRTIO_NET_FRAME_MAX];
	size_t frame_len;        /* 0: none */
};

/* Counters, for tests and the metrics (any thread reads them). */
struct net_stats {
	atomic_ulong rx_frames, rx_bytes, rx_dropped;
	atomic_ulong tx_frames, tx_bytes, tx_dropped;
	atomic_ulong ctrl_errors;
};

/* The device's state, in one struct (for snapshots later). */
struct virtio_net {
	struct net_backend be;
	char name[16];           /* "net0": in messages */
	uint8_t mac[6];
	unsigned int pairs;      /* queue pairs offered (max_virtqueue_pairs) */
	/* Pairs the driver uses (VQ_PAIRS_SET, from the control queue's
	 * worker); the RX workers of the others leave their fd alone. */
	atomic_uint active_pairs;
	uint64_t features;       /* negotiated, set at FEATURES_OK */
	struct net_rx_queue *rx[NET_MAX_QUEUE_PAIRS];
	struct net_stats stats;
};

/* Take over be (on success and failure alike: it is destroyed with the
 * device). pairs: 1 to be->nr_fds. 0 or -errno with err. */
int virtio_net_init(struct virtio_net *net, const char *name, struct net_backend *be,
		    unsigned int pairs, const uint8_t mac[6], struct kiln_err *err);
void virtio_net_destroy(struct virtio_net *net);

/* What the device offers: its own bits and the backend's offloads. */
uint64_t virtio_net_features(const struct virtio_net *net);
/* The model's hooks (exported for the harness and unit tests). */
int virtio_net_features_ok(void *device, uint64_t features);
void virtio_net_config_read(void *device, uint64_t off, uint8_t *data, unsigned int size);
long virtio_net_handle(void *device, struct virtq_worker *w, struct virtq_chain *chain);
int virtio_net_queue_poll(void *device, unsigned int q, struct virtq_worker_poll *poll);
void virtio_net_queue_stop(void *device, unsigned int q);
int virtio_net_start(void *device, struct kiln_err *err);
/* Snapshot hooks (struct virtio_device_model). */
unsigned int virtio_net_queue_held(void *device, unsigned int q);
void virtio_net_save(void *device, struct state_writer *w);
int virtio_net_load(void *device, struct state_reader *r, const char *name,
		    struct kiln_err *err);

/* Whether a TX header (already copied out of guest memory) is one the
 * driver may send with the negotiated features, for a frame of frame_len
 * bytes after it. */
bool virtio_net_tx_header_ok(uint64_t features, const struct virtio_net_hdr_v1 *h,
			     uint64_t frame_len);
/* Carry out one control command (class, command, data: len bytes, copied
 * out of guest memory); returns the ack, VIRTIO_NET_OK or VIRTIO_NET_ERR. */
uint8_t virtio_net_ctrl_command(struct virtio_net *net, const uint8_t *cmd, size_t len);

/* A random locally administered unicast MAC (02-style, from getrandom). */
int virtio_net_random_mac(uint8_t mac[6]);

/* The board's entry: a virtio-net function per configured --net. */
extern const struct device_kind virtio_net_kind;

#endif
