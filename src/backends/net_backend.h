/* SPDX-License-Identifier: MIT */
/*
 * What virtio-net sees of a network backend (tap, or user-mode networking
 * through libslirp): fds carrying whole Ethernet frames. The device never
 * knows which backend is behind them.
 */
#ifndef KILN_BACKENDS_NET_BACKEND_H
#define KILN_BACKENDS_NET_BACKEND_H

#include <stdint.h>

#include "config.h"
#include "util/error.h"

#define NET_MAX_QUEUE_PAIRS 8
/* A network backend as the device sees it: one fd per queue pair carrying
 * whole Ethernet frames, one frame per read()/write() (readv/writev),
 * optionally prefixed by a virtio_net_hdr_v1-sized header. */
struct net_backend {
	int fds[NET_MAX_QUEUE_PAIRS];   /* non-blocking; pollable for reading */
	unsigned int nr_fds;            /* queue pairs the backend can serve */
	unsigned int vnet_hdr_len;      /* 12, or 0: frames without a header */
	uint64_t offloads;              /* VIRTIO_NET_F_* bits the backend can honour (0 for slirp) */
	int (*set_offloads)(struct net_backend *be, uint64_t guest_features, struct kiln_err *err); /* NULL when offloads == 0 */
	int (*start)(struct net_backend *be, struct kiln_err *err);  /* threads, after --jail; may be NULL */
	void (*destroy)(struct net_backend *be);
	void *priv;
};
int net_user_open(const struct net_user_config *cfg, struct net_backend *out, struct kiln_err *err);

#endif
