/* SPDX-License-Identifier: MIT */
/*
 * User-mode networking (`--net user`): the guest's Ethernet frames go to
 * libslirp, which answers DHCP and DNS itself and carries TCP and UDP
 * through the host's own sockets, so it needs neither root nor a tap.
 * net_user_open (net_backend.h) builds the backend; this header adds what
 * only this backend has.
 *
 * One thread ("net-user") owns the Slirp instance, since libslirp is not
 * thread-safe: it polls the device's end of a socket pair and slirp's
 * sockets, and runs slirp's timers. The device side is fds[0], one
 * SOCK_SEQPACKET socket: one frame per read or write, no header.
 */
#ifndef KILN_BACKENDS_NET_USER_H
#define KILN_BACKENDS_NET_USER_H

#include <stdint.h>

#include "backends/net_backend.h"

/* The guest's network, as QEMU's user-mode networking lays it out. */
#define NET_USER_NETWORK    "10.0.2.0"
#define NET_USER_NETMASK    "255.255.255.0"
#define NET_USER_HOST       "10.0.2.2"   /* gateway; the host's 127.0.0.1 */
#define NET_USER_NAMESERVER "10.0.2.3"   /* forwards to the host's resolver */
#define NET_USER_DHCP_START "10.0.2.15"  /* the first (usually only) lease */
#define NET_USER_PREFIX6    "fec0::"     /* /64; host fec0::2, DNS fec0::3 */

/* Frames slirp had for the guest while the device's end was full: dropped,
 * as a NIC drops them, for TCP to send again. */
uint64_t net_user_frames_dropped(const struct net_backend *be);

#endif
