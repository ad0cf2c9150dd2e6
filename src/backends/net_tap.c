// SPDX-License-Identifier: MIT
/*
 * A tap device as a network backend: /dev/net/tun with IFF_TAP, IFF_NO_PI
 * and IFF_VNET_HDR (every frame carries a 12-byte virtio_net_hdr_v1, so
 * checksum and segmentation offloads pass through both ways), one fd per
 * queue pair with IFF_MULTI_QUEUE. Opened while kiln can still open files
 * (before --jail); the ioctls later (offloads, queue attach) need no
 * capability.
 */
#include "backends/net_backend.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define TUN_PATH "/dev/net/tun"

struct tap_state {
	char name[IFNAMSIZ];
	unsigned int attached;   /* fds [0, attached) take frames */
};

static const char *open_hint(int code)
{
	switch (code) {
	case -ENOENT:
	case -ENODEV:
		return " (no " TUN_PATH ": load the tun module)";
	case -EPERM:
	case -EACCES:
		return " (creating or attaching a tap needs CAP_NET_ADMIN, or a tap owned by this user)";
	case -EBUSY:
		return " (another process holds it, or it was made with other flags: "
		       "queues=N needs a multi_queue tap, one queue a plain one)";
	case -EINVAL:
		return " (it exists with other flags: queues=N > 1 needs a multi_queue tap)";
	default:
		return "";
	}
}

static int open_queue(const char *name, bool multi_queue, struct kiln_err *err)
{
	struct ifreq ifr = { 0 };
	int fd = open(TUN_PATH, O_RDWR | O_NONBLOCK | O_CLOEXEC), ret, hdr_len = NET_VNET_HDR_LEN;

	if (fd < 0) {
		ret = -errno;
		return err_set_errno(err, ret, "tap '%s': cannot open " TUN_PATH "%s", name,
				     open_hint(ret));
	}
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name);
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | (multi_queue ? IFF_MULTI_QUEUE : 0);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		ret = -errno;
		close(fd);
		return err_set_errno(err, ret, "tap '%s': cannot open or create it%s", name,
				     open_hint(ret));
	}
	/* TUNSETOFFLOAD with nothing: proves the tap takes offload settings
	 * and starts with none until the guest chooses. */
	if (ioctl(fd, TUNSETVNETHDRSZ, &hdr_len) < 0 || ioctl(fd, TUNSETOFFLOAD, 0) < 0) {
		ret = -errno;
		close(fd);
		return err_set_errno(err, ret, "tap '%s': cannot configure its virtio header and "
				     "offloads", name);
	}
	return fd;
}

static int tap_set_offloads(struct net_backend *be, uint64_t guest_features,
			    struct kiln_err *err)
{
	struct tap_state *tap = be->priv;
	unsigned int flags = 0;

	if (guest_features & (1ULL << VIRTIO_NET_F_GUEST_CSUM))
		flags |= TUN_F_CSUM;
	/* Segmentation offloads need checksum offload (the spec ties them). */
	if (flags & TUN_F_CSUM) {
		if (guest_features & (1ULL << VIRTIO_NET_F_GUEST_TSO4))
			flags |= TUN_F_TSO4;
		if (guest_features & (1ULL << VIRTIO_NET_F_GUEST_TSO6))
			flags |= TUN_F_TSO6;
		if ((flags & (TUN_F_TSO4 | TUN_F_TSO6)) &&
		    (guest_features & (1ULL << VIRTIO_NET_F_GUEST_ECN)))
			flags |= TUN_F_TSO_ECN;
	}
	/* One setting for the whole device, through any of its queues. */
	if (ioctl(be->fds[0], TUNSETOFFLOAD, (unsigned long)flags) < 0)
		return err_set_errno(err, -errno, "tap '%s': cannot set offloads 0x%x", tap->name,
				     flags);
	return 0;
}

static int set_queue_attached(struct net_backend *be, unsigned int q, bool attach)
{
	struct ifreq ifr = { .ifr_flags = attach ? IFF_ATTACH_QUEUE : IFF_DETACH_QUEUE };

	return ioctl(be->fds[q], TUNSETQUEUE, &ifr) < 0 ? -errno : 0;
}

/* The kernel spreads frames over attached queues only: the others are
 * detached, so no frame waits where the guest does not look. */
static int tap_set_queue_pairs(struct net_backend *be, unsigned int pairs,
			       struct kiln_err *err)
{
	struct tap_state *tap = be->priv;
	int ret;

	if (pairs < 1 || pairs > be->nr_fds)
		return err_set(err, -EINVAL, "tap '%s': %u queue pairs (1 to %u)", tap->name, pairs,
			       be->nr_fds);
	/* Attach first, detach after: the tap always keeps a queue. */
	for (unsigned int q = tap->attached; q < pairs; q++)
		if ((ret = set_queue_attached(be, q, true)))
			return err_set_errno(err, ret, "tap '%s': cannot attach queue %u", tap->name, q);
	for (unsigned int q = pairs; q < tap->attached; q++)
		if ((ret = set_queue_attached(be, q, false)))
			return err_set_errno(err, ret, "tap '%s': cannot detach queue %u", tap->name, q);
	tap->attached = pairs;
	return 0;
}

static void tap_destroy(struct net_backend *be)
{
	for (unsigned int q = 0; q < be->nr_fds; q++)
		if (be->fds[q] >= 0)
			close(be->fds[q]);
	be->nr_fds = 0;
	free(be->priv);
	be->priv = NULL;
}

int net_tap_open(const struct net_tap_config *cfg, unsigned int queues, struct net_backend *out,
		 struct kiln_err *err)
{
	struct tap_state *tap;

	memset(out, 0, sizeof(*out));
	if (!cfg->name[0] || strnlen(cfg->name, sizeof(cfg->name)) >= IFNAMSIZ)
		return err_set(err, -EINVAL, "a tap needs a name of 1 to %d characters",
			       IFNAMSIZ - 1);
	if (queues < 1 || queues > NET_MAX_QUEUE_PAIRS)
		return err_set(err, -EINVAL, "tap '%s': queues=%u (1 to %d)", cfg->name, queues,
			       NET_MAX_QUEUE_PAIRS);
	tap = calloc(1, sizeof(*tap));
	if (!tap)
		return err_set(err, -ENOMEM, "tap '%s': out of memory", cfg->name);
	snprintf(tap->name, sizeof(tap->name), "%s", cfg->name);
	*out = (struct net_backend){
		.vnet_hdr_len = NET_VNET_HDR_LEN,
		.offloads = (1ULL << VIRTIO_NET_F_CSUM) | (1ULL << VIRTIO_NET_F_GUEST_CSUM) |
			    (1ULL << VIRTIO_NET_F_HOST_TSO4) | (1ULL << VIRTIO_NET_F_HOST_TSO6) |
			    (1ULL << VIRTIO_NET_F_HOST_ECN) | (1ULL << VIRTIO_NET_F_GUEST_TSO4) |
			    (1ULL << VIRTIO_NET_F_GUEST_TSO6) | (1ULL << VIRTIO_NET_F_GUEST_ECN),
		.set_offloads = tap_set_offloads,
		.set_queue_pairs = queues > 1 ? tap_set_queue_pairs : NULL,
		.destroy = tap_destroy,
		.priv = tap,
	};
	for (unsigned int q = 0; q < queues; q++) {
		int fd = open_queue(cfg->name, queues > 1, err);

		/* One queue of a tap made multi_queue serves as well. */
		if (fd == -EINVAL && queues == 1)
			fd = open_queue(cfg->name, true, err);

		if (fd < 0) {
			tap_destroy(out);
			return fd;
		}
		out->fds[out->nr_fds++] = fd;
	}
	tap->attached = queues;
	return 0;
}
