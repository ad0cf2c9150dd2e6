// SPDX-License-Identifier: MIT
/*
 * --net user's backend (backends/net_user.c) as a device sees it: one
 * frame fd with no header, the network QEMU users expect answering on it,
 * and forwards that bind the host's loopback and go away with the backend.
 * The end-to-end runs (DHCP, HTTP, DNS, forwards) are in
 * tests/harness/test_net_user.py.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "backends/net_user.h"

static const uint8_t guest_mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };

static void open_backend(const struct net_user_config *cfg, struct net_backend *be)
{
	struct kiln_err err = { 0 };

	cr_assert_eq(net_user_open(cfg, be, &err), 0, "%s", err.msg);
}

Test(net_user, the_device_gets_one_frame_fd_without_a_header)
{
	struct net_user_config cfg = { 0 };
	struct net_backend be;
	int type = 0;
	socklen_t len = sizeof(type);

	open_backend(&cfg, &be);
	cr_assert_eq(be.nr_fds, 1);
	cr_assert_eq(be.vnet_hdr_len, 0);
	cr_assert_eq(be.offloads, 0);
	cr_assert_null(be.set_offloads);
	cr_assert_not_null(be.start);
	cr_assert_not_null(be.destroy);
	cr_assert_geq(be.fds[0], 0);
	for (unsigned int i = 1; i < NET_MAX_QUEUE_PAIRS; i++)
		cr_assert_eq(be.fds[i], -1);
	/* One frame per read or write, and never blocking the device. */
	cr_assert_eq(getsockopt(be.fds[0], SOL_SOCKET, SO_TYPE, &type, &len), 0);
	cr_assert_eq(type, SOCK_SEQPACKET);
	cr_assert(fcntl(be.fds[0], F_GETFL) & O_NONBLOCK);
	/* Destroyed without ever starting: nothing to join. */
	be.destroy(&be);
}

/* An ARP request from the guest for target, as a driver would send it. */
static size_t arp_request(uint8_t *frame, const char *target)
{
	struct in_addr sender, wanted;

	inet_pton(AF_INET, NET_USER_DHCP_START, &sender);
	inet_pton(AF_INET, target, &wanted);
	memset(frame, 0xff, 6);                    /* broadcast */
	memcpy(frame + 6, guest_mac, 6);
	frame[12] = 0x08, frame[13] = 0x06;        /* ARP */
	frame[14] = 0x00, frame[15] = 0x01;        /* Ethernet */
	frame[16] = 0x08, frame[17] = 0x00;        /* IPv4 */
	frame[18] = 6, frame[19] = 4;
	frame[20] = 0x00, frame[21] = 0x01;        /* request */
	memcpy(frame + 22, guest_mac, 6);
	memcpy(frame + 28, &sender, 4);
	memset(frame + 32, 0, 6);
	memcpy(frame + 38, &wanted, 4);
	memset(frame + 42, 0, 18);                 /* padded to 60 bytes */
	return 60;
}

/* The first ARP reply on the device's fd, within 10 s. */
static ssize_t read_arp_reply(int fd, uint8_t *frame, size_t size)
{
	for (int tries = 0; tries < 100; tries++) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, 100) <= 0)
			continue;
		n = read(fd, frame, size);
		if (n >= 42 && frame[12] == 0x08 && frame[13] == 0x06 && frame[21] == 2)
			return n;
	}
	return -1;
}

static void check_arp_answer(struct net_backend *be, const char *who)
{
	uint8_t frame[1600];
	struct in_addr addr;
	size_t len = arp_request(frame, who);
	/* slirp's own addresses answer with 52:55 and the address. */
	uint8_t mac[6] = { 0x52, 0x55 };

	inet_pton(AF_INET, who, &addr);
	memcpy(mac + 2, &addr, 4);
	cr_assert_eq(write(be->fds[0], frame, len), (ssize_t)len);
	cr_assert_gt(read_arp_reply(be->fds[0], frame, sizeof(frame)), 0, "no ARP reply for %s", who);
	cr_assert_arr_eq(frame, guest_mac, 6, "to the guest");
	cr_assert_arr_eq(frame + 22, mac, 6, "%s's MAC", who);
	cr_assert_arr_eq(frame + 28, &addr, 4, "for %s", who);
}

Test(net_user, the_gateway_and_the_nameserver_answer_arp)
{
	struct net_user_config cfg = { 0 };
	struct net_backend be;
	struct kiln_err err = { 0 };

	open_backend(&cfg, &be);
	cr_assert_eq(be.start(&be, &err), 0, "%s", err.msg);
	check_arp_answer(&be, NET_USER_HOST);
	check_arp_answer(&be, NET_USER_NAMESERVER);
	be.destroy(&be);
}

static int listening_socket(uint16_t *port)
{
	struct sockaddr_in addr = { .sin_family = AF_INET,
				    .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(addr);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	cr_assert_geq(fd, 0);
	cr_assert_eq(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	cr_assert_eq(listen(fd, 1), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&addr, &len), 0);
	*port = ntohs(addr.sin_port);
	return fd;
}

Test(net_user, a_taken_host_port_is_one_clear_line)
{
	struct net_user_config cfg = { .nr_fwd = 1 };
	struct net_backend be;
	struct kiln_err err = { 0 };
	char want[128];
	int taken = listening_socket(&cfg.fwd[0].host_port);

	cfg.fwd[0].guest_port = 80;
	cr_assert_eq(net_user_open(&cfg, &be, &err), -EADDRINUSE);
	snprintf(want, sizeof(want), "--net user: host port %u is taken (Address already in use)",
		 cfg.fwd[0].host_port);
	cr_assert_str_eq(err.msg, want);
	close(taken);
}

static int connect_loopback(uint16_t port)
{
	struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons(port),
				    .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	int ret;

	cr_assert_geq(fd, 0);
	ret = connect(fd, (struct sockaddr *)&addr, sizeof(addr)) ? -errno : 0;
	close(fd);
	return ret;
}

Test(net_user, a_forward_listens_on_loopback_until_destroyed)
{
	struct net_user_config cfg = { .nr_fwd = 1 };
	struct net_backend be;
	int probe = listening_socket(&cfg.fwd[0].host_port);

	/* A port that was just free; the probe closes to hand it over. */
	close(probe);
	cfg.fwd[0].guest_port = 8080;
	open_backend(&cfg, &be);
	cr_assert_eq(connect_loopback(cfg.fwd[0].host_port), 0);
	be.destroy(&be);
	cr_assert_eq(connect_loopback(cfg.fwd[0].host_port), -ECONNREFUSED);
}

Test(net_user, a_forward_needs_both_ports)
{
	struct net_user_config cfg = { .nr_fwd = 1 };
	struct net_backend be;
	struct kiln_err err = { 0 };

	cfg.fwd[0].host_port = 8080;
	cr_assert_eq(net_user_open(&cfg, &be, &err), -EINVAL);
	cr_assert_str_eq(err.msg, "--net user: a tcp forward needs a host and a guest port");
}

static uint16_t ip_checksum(const uint8_t *p, size_t len)
{
	uint32_t sum = 0;

	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* The largest IPv4 datagram (65535 bytes: a driver with its MTU raised to
 * 65535 sends it whole) in one Ethernet frame of 65549 bytes, which the
 * device accepts: it must reach the host intact, not cut at 64 KiB. */
Test(net_user, a_frame_as_large_as_the_device_takes_arrives_whole)
{
	enum { IP_LEN = 65535, UDP_LEN = IP_LEN - 20, PAYLOAD = UDP_LEN - 8 };
	static uint8_t frame[14 + IP_LEN], got[PAYLOAD + 1];
	struct sockaddr_in addr = { .sin_family = AF_INET,
				    .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(addr);
	struct net_user_config cfg = { 0 };
	struct kiln_err err = { 0 };
	struct pollfd p = { .events = POLLIN };
	struct net_backend be;
	struct in_addr src, dst;
	uint8_t *ip = frame + 14, *udp = ip + 20;
	int sink = socket(AF_INET, SOCK_DGRAM, 0), rcvbuf = 1 << 20;

	cr_assert_geq(sink, 0);
	setsockopt(sink, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	cr_assert_eq(bind(sink, (struct sockaddr *)&addr, sizeof(addr)), 0);
	cr_assert_eq(getsockname(sink, (struct sockaddr *)&addr, &len), 0);
	cr_assert_leq(sizeof(frame), NET_FRAME_MAX, "a frame the device would hand over");
	cr_assert_gt(sizeof(frame), 65536);

	inet_pton(AF_INET, NET_USER_DHCP_START, &src);
	inet_pton(AF_INET, NET_USER_HOST, &dst);
	memcpy(frame, (uint8_t[]){ 0x52, 0x55, 10, 0, 2, 2 }, 6);
	memcpy(frame + 6, guest_mac, 6);
	frame[12] = 0x08, frame[13] = 0x00;                 /* IPv4 */
	ip[0] = 0x45, ip[2] = IP_LEN >> 8, ip[3] = IP_LEN & 0xff;
	ip[6] = 0x40, ip[8] = 64, ip[9] = 17;               /* DF, TTL, UDP */
	memcpy(ip + 12, &src, 4);
	memcpy(ip + 16, &dst, 4);
	ip[10] = ip[11] = 0;
	{
		uint16_t sum = ip_checksum(ip, 20);

		ip[10] = (uint8_t)(sum >> 8), ip[11] = (uint8_t)sum;
	}
	udp[0] = 0x9c, udp[1] = 0x40;                       /* source port 40000 */
	memcpy(udp + 2, &addr.sin_port, 2);
	udp[4] = UDP_LEN >> 8, udp[5] = UDP_LEN & 0xff;     /* checksum 0: none */
	for (int i = 0; i < PAYLOAD; i++)
		udp[8 + i] = (uint8_t)(i * 7 + i / 251);

	open_backend(&cfg, &be);
	cr_assert_eq(be.start(&be, &err), 0, "%s", err.msg);
	cr_assert_eq(write(be.fds[0], frame, sizeof(frame)), (ssize_t)sizeof(frame));
	p.fd = sink;
	cr_assert_eq(poll(&p, 1, 10000), 1, "the datagram never reached the host");
	cr_assert_eq(recv(sink, got, sizeof(got), 0), PAYLOAD, "cut short");
	cr_assert_arr_eq(got, udp + 8, PAYLOAD, "the bytes changed on the way");
	be.destroy(&be);
	close(sink);
}
