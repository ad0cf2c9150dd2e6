// SPDX-License-Identifier: MIT
/* virtio-net's parsing of what the driver writes: TX headers, control
 * commands, feature sets; and the --net text forms. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net_spec.h"
#include "virtio/net.h"

#define F(bit) (1ULL << (bit))

static const uint64_t tso_features = F(VIRTIO_NET_F_CSUM) | F(VIRTIO_NET_F_HOST_TSO4);

Test(virtio_net, tx_header_plain_frame)
{
	struct virtio_net_hdr_v1 h = { 0 };

	cr_assert(virtio_net_tx_header_ok(0, &h, 60));
	cr_assert_not(virtio_net_tx_header_ok(0, &h, 13), "shorter than an Ethernet header");
	cr_assert_not(virtio_net_tx_header_ok(0, &h, VIRTIO_NET_FRAME_MAX + 1));
}

Test(virtio_net, tx_header_checksum_needs_csum_and_fits_the_frame)
{
	struct virtio_net_hdr_v1 h = { .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM, .csum_start = 34,
				       .csum_offset = 16 };

	cr_assert_not(virtio_net_tx_header_ok(0, &h, 100), "CSUM not negotiated");
	cr_assert(virtio_net_tx_header_ok(F(VIRTIO_NET_F_CSUM), &h, 100));
	cr_assert(virtio_net_tx_header_ok(F(VIRTIO_NET_F_CSUM), &h, 52));
	cr_assert_not(virtio_net_tx_header_ok(F(VIRTIO_NET_F_CSUM), &h, 51), "field past the end");
	h.csum_start = 0xffff;
	h.csum_offset = 0xffff;
	cr_assert_not(virtio_net_tx_header_ok(F(VIRTIO_NET_F_CSUM), &h, 65000), "no wrap-around");
}

Test(virtio_net, tx_header_flags_only_the_drivers)
{
	struct virtio_net_hdr_v1 h = { .flags = VIRTIO_NET_HDR_F_DATA_VALID };

	cr_assert_not(virtio_net_tx_header_ok(~0ULL, &h, 100));
	h.flags = 0x80;
	cr_assert_not(virtio_net_tx_header_ok(~0ULL, &h, 100));
}

Test(virtio_net, tx_header_gso_only_as_negotiated)
{
	struct virtio_net_hdr_v1 h = { .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM, .csum_start = 34,
				       .csum_offset = 16, .gso_type = VIRTIO_NET_HDR_GSO_TCPV4,
				       .gso_size = 1448, .hdr_len = 54 };

	cr_assert(virtio_net_tx_header_ok(tso_features, &h, 30054));
	cr_assert_not(virtio_net_tx_header_ok(F(VIRTIO_NET_F_CSUM), &h, 30054), "no HOST_TSO4");
	h.gso_type = VIRTIO_NET_HDR_GSO_TCPV6;
	cr_assert_not(virtio_net_tx_header_ok(tso_features, &h, 30054), "no HOST_TSO6");
	h.gso_type = VIRTIO_NET_HDR_GSO_TCPV4 | VIRTIO_NET_HDR_GSO_ECN;
	cr_assert_not(virtio_net_tx_header_ok(tso_features, &h, 30054), "no HOST_ECN");
	cr_assert(virtio_net_tx_header_ok(tso_features | F(VIRTIO_NET_F_HOST_ECN), &h, 30054));
	h.gso_type = 3; /* UDP fragmentation offload: never offered */
	cr_assert_not(virtio_net_tx_header_ok(~0ULL, &h, 30054));
	h.gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
	h.gso_size = 0;
	cr_assert_not(virtio_net_tx_header_ok(tso_features, &h, 30054), "gso_size 0");
	h.gso_size = 1448;
	h.flags = 0;
	cr_assert_not(virtio_net_tx_header_ok(tso_features, &h, 30054), "GSO without NEEDS_CSUM");
	h.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
	h.hdr_len = 40000;
	cr_assert_not(virtio_net_tx_header_ok(tso_features, &h, 30054), "hdr_len past the end");
}

/* A backend that records what the device asked of it. */
static unsigned int pairs_set;
static int fake_set_queue_pairs(struct net_backend *be, unsigned int pairs, struct kiln_err *err)
{
	(void)be;
	(void)err;
	pairs_set = pairs;
	return 0;
}

static uint64_t offloads_set;
static int fake_set_offloads(struct net_backend *be, uint64_t features, struct kiln_err *err)
{
	(void)be;
	(void)err;
	offloads_set = features;
	return 0;
}

static struct virtio_net net;

static void make_net(unsigned int pairs)
{
	struct net_backend be = { .nr_fds = pairs, .vnet_hdr_len = NET_VNET_HDR_LEN,
				  .offloads = tso_features,
				  .set_offloads = fake_set_offloads,
				  .set_queue_pairs = fake_set_queue_pairs };
	static const uint8_t mac[6] = { 2, 0, 0, 0, 0, 1 };
	struct kiln_err err = { 0 };

	for (unsigned int i = 0; i < pairs; i++)
		be.fds[i] = -1;
	cr_assert_eq(virtio_net_init(&net, "net0", &be, pairs, mac, &err), 0, "%s", err.msg);
}

static void destroy_net(void)
{
	virtio_net_destroy(&net);
}

TestSuite(virtio_net_ctrl, .fini = destroy_net);

Test(virtio_net_ctrl, features_offered_follow_the_backend)
{
	uint64_t f;

	make_net(2);
	f = virtio_net_features(&net);
	cr_assert(f & F(VIRTIO_NET_F_MQ));
	cr_assert(f & F(VIRTIO_NET_F_MRG_RXBUF));
	cr_assert(f & F(VIRTIO_NET_F_HOST_TSO4));
	cr_assert_not(f & F(VIRTIO_NET_F_GUEST_TSO4), "the backend cannot");
}

Test(virtio_net_ctrl, features_ok_applies_offloads_and_one_pair)
{
	uint64_t f = F(VIRTIO_NET_F_CTRL_VQ) | F(VIRTIO_NET_F_MQ) | tso_features;

	make_net(2);
	cr_assert_eq(virtio_net_features_ok(&net, f), 0);
	cr_assert_eq(offloads_set, f);
	cr_assert_eq(pairs_set, 1);
	cr_assert_eq(net.active_pairs, 1);
	/* The spec's dependencies. */
	cr_assert_neq(virtio_net_features_ok(&net, F(VIRTIO_NET_F_HOST_TSO4)), 0);
	cr_assert_neq(virtio_net_features_ok(&net, F(VIRTIO_NET_F_MQ)), 0);
	cr_assert_neq(virtio_net_features_ok(&net, F(VIRTIO_NET_F_GUEST_TSO4)), 0);
}

Test(virtio_net_ctrl, queue_pairs_validated)
{
	uint8_t two[4] = { VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, 2, 0 };
	uint8_t three[4] = { VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, 3, 0 };
	uint8_t zero[4] = { VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, 0, 0 };

	make_net(2);
	cr_assert_eq(virtio_net_ctrl_command(&net, two, 4), VIRTIO_NET_ERR, "MQ not negotiated");
	virtio_net_features_ok(&net, F(VIRTIO_NET_F_CTRL_VQ) | F(VIRTIO_NET_F_MQ));
	cr_assert_eq(virtio_net_ctrl_command(&net, two, 4), VIRTIO_NET_OK);
	cr_assert_eq(pairs_set, 2);
	cr_assert_eq(virtio_net_ctrl_command(&net, three, 4), VIRTIO_NET_ERR);
	cr_assert_eq(virtio_net_ctrl_command(&net, zero, 4), VIRTIO_NET_ERR);
	cr_assert_eq(virtio_net_ctrl_command(&net, two, 3), VIRTIO_NET_ERR, "short");
	cr_assert_eq(virtio_net_ctrl_command(&net, two, 1), VIRTIO_NET_ERR, "no command");
	cr_assert_eq(pairs_set, 2);
}

Test(virtio_net_ctrl, rx_mode_and_mac_table)
{
	uint8_t promisc[3] = { VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_PROMISC, 1 };
	uint8_t bad_value[3] = { VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_ALLMULTI, 2 };
	uint8_t other_rx[3] = { VIRTIO_NET_CTRL_RX, 5, 1 };
	/* One unicast entry, no multicast ones. */
	uint8_t table[2 + 4 + 6 + 4] = { VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_TABLE_SET, 1 };
	/* Claims 0x40000000 entries. */
	uint8_t huge[2 + 4 + 6] = { VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_TABLE_SET, 0, 0, 0,
				    0x40 };
	uint8_t unknown[3] = { 7, 0, 0 };

	make_net(1);
	cr_assert_eq(virtio_net_ctrl_command(&net, promisc, 3), VIRTIO_NET_ERR, "no CTRL_RX");
	virtio_net_features_ok(&net, F(VIRTIO_NET_F_CTRL_VQ) | F(VIRTIO_NET_F_CTRL_RX));
	cr_assert_eq(virtio_net_ctrl_command(&net, promisc, 3), VIRTIO_NET_OK);
	cr_assert_eq(virtio_net_ctrl_command(&net, bad_value, 3), VIRTIO_NET_ERR);
	cr_assert_eq(virtio_net_ctrl_command(&net, other_rx, 3), VIRTIO_NET_ERR);
	cr_assert_eq(virtio_net_ctrl_command(&net, table, sizeof(table)), VIRTIO_NET_OK);
	cr_assert_eq(virtio_net_ctrl_command(&net, table, sizeof(table) - 1), VIRTIO_NET_ERR);
	cr_assert_eq(virtio_net_ctrl_command(&net, huge, sizeof(huge)), VIRTIO_NET_ERR);
	cr_assert_eq(virtio_net_ctrl_command(&net, unknown, 3), VIRTIO_NET_ERR);
}

Test(virtio_net_ctrl, config_space)
{
	uint8_t cfg[12];

	make_net(2);
	virtio_net_config_read(&net, 0, cfg, 6);
	cr_assert_arr_eq(cfg, ((uint8_t[]){ 2, 0, 0, 0, 0, 1 }), 6);
	virtio_net_config_read(&net, 6, cfg, 2);
	cr_assert_eq(cfg[0], VIRTIO_NET_S_LINK_UP);
	virtio_net_config_read(&net, 8, cfg, 2);
	cr_assert_eq(cfg[0], 2);
	memset(cfg, 0xaa, sizeof(cfg));
	virtio_net_config_read(&net, 10, cfg, 4);
	cr_assert_eq(cfg[0] | cfg[1] | cfg[2] | cfg[3], 0, "past the end reads zero");
}

Test(virtio_net, random_mac_is_local_unicast)
{
	uint8_t a[6], b[6];

	cr_assert_eq(virtio_net_random_mac(a), 0);
	cr_assert_eq(virtio_net_random_mac(b), 0);
	cr_assert_eq(a[0] & 3, 2);
	cr_assert(memcmp(a, b, 6), "two in a row differ");
}

Test(net_spec, tap_with_settings)
{
	struct net_config nc;
	struct kiln_err err = { 0 };

	cr_assert_eq(net_spec_parse("tap=tap0,mac=02:aA:00:00:00:09,queues=4", &nc, &err), 0,
		     "%s", err.msg);
	cr_assert_eq(nc.kind, NET_TAP);
	cr_assert_str_eq(nc.tap.name, "tap0");
	cr_assert(nc.mac_set);
	cr_assert_arr_eq(nc.mac, ((uint8_t[]){ 2, 0xaa, 0, 0, 0, 9 }), 6);
	cr_assert_eq(nc.queues, 4);
}

Test(net_spec, default_is_user)
{
	struct net_config nc;
	struct kiln_err err = { 0 };

	cr_assert_eq(net_spec_parse(NULL, &nc, &err), 0);
	cr_assert_eq(nc.kind, NET_USER);
	cr_assert_eq(nc.queues, 1);
	cr_assert_eq(net_spec_parse("", &nc, &err), 0);
	cr_assert_eq(nc.kind, NET_USER);
}

Test(net_spec, hostfwd_forms)
{
	struct net_config nc;
	struct kiln_err err = { 0 };

	cr_assert_eq(net_spec_parse("user,hostfwd=tcp::2222-:22,hostfwd=udp:127.0.0.1:5353-"
				    "10.0.2.15:53", &nc, &err), 0, "%s", err.msg);
	cr_assert_eq(nc.user.nr_fwd, 2);
	cr_assert_not(nc.user.fwd[0].udp);
	cr_assert_eq(nc.user.fwd[0].host_port, 2222);
	cr_assert_eq(nc.user.fwd[0].host_addr, 0);
	cr_assert_eq(nc.user.fwd[0].guest_port, 22);
	cr_assert_eq(nc.user.fwd[0].guest_addr, 0);
	cr_assert(nc.user.fwd[1].udp);
	cr_assert_eq(nc.user.fwd[1].host_addr, htonl(0x7f000001));
	cr_assert_eq(nc.user.fwd[1].guest_addr, htonl(0x0a00020f));
	cr_assert_eq(nc.user.fwd[1].guest_port, 53);
}

Test(net_spec, bad_forms)
{
	static const char *bad[] = {
		"tap=", "tap=0123456789abcdef", "tap=t,queues=0", "tap=t,queues=9",
		"tap=t,queues=2x", "tap=t,mac=03:00:00:00:00:01", "tap=t,mac=02:00:00:00:00",
		"tap=t,mac=02:00:00:00:00:0g", "tap=t,mac=02-00-00-00-00-01",
		"tap=t,mac= 2:00:00:00:00:01", "tap=t,hostfwd=tcp::1-:1", "user,queues=2",
		"user,hostfwd=tcp::0-:22", "user,hostfwd=tcp::70000-:22", "user,hostfwd=sctp::1-:1",
		"user,hostfwd=tcp::22", "user,hostfwd=tcp:1.2.3.4.5:22-:22", "vde", "tap",
	};
	struct net_config nc;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct kiln_err err = { 0 };

		cr_assert_eq(net_spec_parse(bad[i], &nc, &err), -EINVAL, "%s", bad[i]);
		cr_assert(err.msg[0], "%s: no message", bad[i]);
	}
}

Test(net_spec, at_most_sixteen_forwards)
{
	char spec[1024] = "user";
	struct net_config nc;
	struct kiln_err err = { 0 };

	for (int i = 0; i < NET_MAX_HOSTFWD; i++)
		snprintf(spec + strlen(spec), sizeof(spec) - strlen(spec), ",hostfwd=tcp::%d-:22",
			 1000 + i);
	cr_assert_eq(net_spec_parse(spec, &nc, &err), 0, "%s", err.msg);
	strcat(spec, ",hostfwd=tcp::999-:22");
	cr_assert_eq(net_spec_parse(spec, &nc, &err), -EINVAL);
}

/* The model's snapshot state: a second device (another random MAC) gets
 * the first one's MAC and queue pairs in use, the pairs set on its
 * backend through the driver's VQ_PAIRS_SET path. */
static struct virtio_net *saved_net_copy(const uint8_t mac[6], void **data, size_t *len)
{
	struct net_backend be = { .nr_fds = 2, .vnet_hdr_len = NET_VNET_HDR_LEN,
				  .offloads = tso_features, .set_offloads = fake_set_offloads,
				  .set_queue_pairs = fake_set_queue_pairs, .fds = { -1, -1 } };
	struct virtio_net *other = calloc(1, sizeof(*other));
	struct state_writer w = { 0 };
	struct kiln_err err = { 0 };

	virtio_net_save(&net, &w);
	cr_assert_eq(state_writer_take(&w, data, len), 0);
	cr_assert_eq(virtio_net_init(other, "net0", &be, 2, mac, &err), 0, "%s", err.msg);
	return other;
}

Test(virtio_net_ctrl, snapshot_keeps_mac_and_pairs_in_use)
{
	uint8_t two[4] = { VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, 2, 0 };
	uint64_t f = F(VIRTIO_NET_F_CTRL_VQ) | F(VIRTIO_NET_F_MQ);
	static const uint8_t other_mac[6] = { 2, 9, 9, 9, 9, 9 };
	struct virtio_net *other;
	struct state_reader r;
	struct kiln_err err = { 0 };
	uint8_t cfg[6];
	size_t len;
	void *data;

	make_net(2);
	virtio_net_features_ok(&net, f);
	cr_assert_eq(virtio_net_ctrl_command(&net, two, 4), VIRTIO_NET_OK);
	other = saved_net_copy(other_mac, &data, &len);
	cr_assert_eq(virtio_net_features_ok(other, f), 0, "the transport's load, first");
	cr_assert_eq(pairs_set, 1);
	r = state_reader_init(data, len);
	cr_assert_eq(virtio_net_load(other, &r, "net0", &err), 0, "%s", err.msg);
	cr_assert_eq(other->active_pairs, 2);
	cr_assert_eq(pairs_set, 2, "the backend serves both pairs again");
	virtio_net_config_read(other, 0, cfg, 6);
	cr_assert_arr_eq(cfg, ((uint8_t[]){ 2, 0, 0, 0, 0, 1 }), 6, "the guest's MAC");
	/* Two pairs in use without MQ negotiated: refused. */
	virtio_net_features_ok(other, F(VIRTIO_NET_F_CTRL_VQ));
	r = state_reader_init(data, len);
	cr_assert_eq(virtio_net_load(other, &r, "net0", &err), -EINVAL);
	cr_assert_not_null(strstr(err.msg, "net0"), "%s", err.msg);
	((uint8_t *)data)[6] = 3;
	err = (struct kiln_err){ 0 };
	r = state_reader_init(data, len);
	cr_assert_eq(virtio_net_load(other, &r, "net0", &err), -EINVAL);
	cr_assert_not_null(strstr(err.msg, "queue pairs in use"), "%s", err.msg);
	err = (struct kiln_err){ 0 };
	r = state_reader_init(data, len - 1);
	cr_assert_eq(virtio_net_load(other, &r, "net0", &err), -EINVAL);
	cr_assert_not_null(strstr(err.msg, "too short"), "%s", err.msg);
	virtio_net_destroy(other);
	free(other);
	free(data);
}
