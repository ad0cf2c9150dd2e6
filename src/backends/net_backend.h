/* SPDX-License-Identifier: MIT */
/*
 * A network backend as the device sees it: one fd per queue pair carrying
 * whole Ethernet frames, one frame per read()/write() (readv/writev),
 * optionally prefixed by a virtio_net_hdr_v1-sized header. The tap backend
 * (net_tap.c) and user-mode networking (net_user.c) provide one; the
 * device (virtio/net.c) never knows which.
 */
#ifndef KILN_BACKENDS_NET_BACKEND_H
#define KILN_BACKENDS_NET_BACKEND_H

#include <stdint.h>

#include "config.h"
#include "util/error.h"

/* The virtio-net feature bits a backend can honour (virtio 1.2, 5.1.3):
 * facts of the spec, here so that backends need not reach into virtio. */
#define VIRTIO_NET_F_CSUM       0
#define VIRTIO_NET_F_GUEST_CSUM 1
#define VIRTIO_NET_F_GUEST_TSO4 7
#define VIRTIO_NET_F_GUEST_TSO6 8
#define VIRTIO_NET_F_GUEST_ECN  9
#define VIRTIO_NET_F_HOST_TSO4  11
#define VIRTIO_NET_F_HOST_TSO6  12
#define VIRTIO_NET_F_HOST_ECN   13

/* The largest frame either way, header not counted: a 64 KiB GSO frame
 * with its Ethernet and VLAN headers, or a 65535-byte IP packet on a
 * driver that raised its MTU. Every backend takes frames this large. */
#define NET_FRAME_MAX (65536 + 256)

/* struct virtio_net_hdr_v1's size: flags, gso_type, hdr_len, gso_size,
 * csum_start, csum_offset, num_buffers. */
#define NET_VNET_HDR_LEN 12

struct net_backend {
	int fds[NET_MAX_QUEUE_PAIRS];   /* non-blocking; pollable for reading */
	unsigned int nr_fds;            /* queue pairs the backend can serve */
	unsigned int vnet_hdr_len;      /* 12, or 0: frames without a header */
	uint64_t offloads;              /* VIRTIO_NET_F_* bits the backend can honour (0 for slirp) */
	/* Apply the guest's offload choice (GUEST_CSUM/GUEST_TSO*): NULL when offloads == 0. */
	int (*set_offloads)(struct net_backend *be, uint64_t guest_features, struct kiln_err *err);
	int (*start)(struct net_backend *be, struct kiln_err *err);  /* threads, after --jail; may be NULL */
	void (*destroy)(struct net_backend *be);
	void *priv;
	/* Added by the tap backend: serve only the first pairs fds (the
	 * guest's VQ_PAIRS_SET), so the host sends no frames to queues the
	 * guest does not read. NULL when nr_fds is 1. */
	int (*set_queue_pairs)(struct net_backend *be, unsigned int pairs, struct kiln_err *err);
};

/* Open (or create) the tap cfg->name with queues fds (IFF_MULTI_QUEUE when
 * queues > 1). 0, or -errno with one line in err. */
int net_tap_open(const struct net_tap_config *cfg, unsigned int queues, struct net_backend *out,
		 struct kiln_err *err);
/* By the user-mode networking backend (libslirp). */
int net_user_open(const struct net_user_config *cfg, struct net_backend *out,
		  struct kiln_err *err);

#endif
