// SPDX-License-Identifier: MIT
/*
 * virtio-net over PCI against a real tap: the guest is 10.78.0.2 with the
 * MAC 02:00:00:78:00:02 (--net tap=NAME,mac=...), the tap's side
 * 10.78.0.1 (tests/guest/test_net_guest.py sets it up in a network
 * namespace). The driver reads the MAC and link status from config space,
 * posts receive buffers, asks for the host's MAC with ARP and pings it.
 */
#include "virtio.h"

#define QSIZE   64
#define RXBUFS  16
#define BUF_LEN 2048
#define HDR_LEN 12

static uint8_t rx_ring[16384] __attribute__((aligned(4096)));
static uint8_t tx_ring[16384] __attribute__((aligned(4096)));
static uint8_t rx_buf[RXBUFS][BUF_LEN] __attribute__((aligned(64)));
static uint8_t tx_buf[BUF_LEN] __attribute__((aligned(64)));
static struct virtio_dev dev;
static struct virtio_queue rxq, txq;

static const uint8_t guest_mac[6] = { 0x02, 0x00, 0x00, 0x78, 0x00, 0x02 };
static const uint8_t guest_ip[4] = { 10, 78, 0, 2 }, host_ip[4] = { 10, 78, 0, 1 };
static uint8_t host_mac[6];

static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }

static uint16_t checksum(const uint8_t *p, unsigned int len)
{
	uint32_t sum = 0;

	for (unsigned int i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* One frame out: a zeroed header (no offloads), then the frame. */
static bool send(unsigned int len)
{
	static uint8_t hdr[HDR_LEN];
	struct vbuf_g bufs[2] = { { hdr, HDR_LEN, false }, { tx_buf, len, false } };
	uint64_t deadline = rdtsc() + 10000000000ULL;
	uint16_t id;
	uint32_t used;

	virtio_submit_chain(&txq, bufs, 2);
	while (!virtio_reap(&txq, &id, &used))
		if (rdtsc() > deadline)
			return false;
	return true;
}

/* The next frame whose EtherType is type and for which match says yes;
 * every buffer goes back to the device. */
static bool receive(uint16_t type, bool (*match)(const uint8_t *f, uint32_t len))
{
	uint64_t deadline = rdtsc() + 20000000000ULL;

	while (rdtsc() < deadline) {
		uint16_t id;
		uint32_t len;
		bool hit;

		if (!virtio_reap(&rxq, &id, &len)) {
			cpu_relax();
			continue;
		}
		hit = len > HDR_LEN + 14 && id < RXBUFS &&
		      get16(rx_buf[id] + HDR_LEN + 12) == type &&
		      match(rx_buf[id] + HDR_LEN, len - HDR_LEN);
		virtio_submit(&rxq, rx_buf[id], BUF_LEN, true);
		if (hit)
			return true;
	}
	return false;
}

static bool arp_reply(const uint8_t *f, uint32_t len)
{
	if (len < 42 || get16(f + 20) != 2 || memcmp(f + 28, host_ip, 4) ||
	    memcmp(f + 32, guest_mac, 6))
		return false;
	memcpy(host_mac, f + 22, 6);
	return true;
}

static bool echo_reply(const uint8_t *f, uint32_t len)
{
	return len >= 14 + 20 + 8 + 32 && f[23] == 1 && f[34] == 0 &&
	       get16(f + 38) == 0x6b6e && !memcmp(f + 42, tx_buf + 42, 32);
}

static void eth(const uint8_t *dst, uint16_t type)
{
	memcpy(tx_buf, dst, 6);
	memcpy(tx_buf + 6, guest_mac, 6);
	put16(tx_buf + 12, type);
}

static bool arp(void)
{
	static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

	memset(tx_buf, 0, 42);
	eth(bcast, 0x0806);
	put16(tx_buf + 14, 1);
	put16(tx_buf + 16, 0x0800);
	tx_buf[18] = 6;
	tx_buf[19] = 4;
	put16(tx_buf + 20, 1);
	memcpy(tx_buf + 22, guest_mac, 6);
	memcpy(tx_buf + 28, guest_ip, 4);
	memcpy(tx_buf + 38, host_ip, 4);
	return send(42) && receive(0x0806, arp_reply);
}

static bool ping(void)
{
	uint8_t *ip = tx_buf + 14, *icmp = tx_buf + 34;

	memset(tx_buf, 0, 74);
	eth(host_mac, 0x0800);
	ip[0] = 0x45;
	put16(ip + 2, 20 + 8 + 32);
	ip[8] = 64;
	ip[9] = 1;
	memcpy(ip + 12, guest_ip, 4);
	memcpy(ip + 16, host_ip, 4);
	put16(ip + 10, checksum(ip, 20));
	icmp[0] = 8;
	put16(icmp + 4, 0x6b6e);
	put16(icmp + 6, 1);
	for (int i = 0; i < 32; i++)
		icmp[8 + i] = (uint8_t)(0xa0 + i);
	put16(icmp + 2, checksum(icmp, 40));
	return send(74) && receive(0x0800, echo_reply);
}

void guest_main(void)
{
	int slot = pci_find(0x1af4, 0x1041);
	uint8_t mac[6], status;

	report(slot >= 0, "virtio-net found on PCI bus 0 (1af4:1041, slot %d)", slot);
	if (slot < 0)
		return;
	report(virtio_open(&dev, (unsigned int)slot) && dev.device_cfg,
	       "common, notify, ISR and device capabilities");
	status = virtio_negotiate(&dev, (1ULL << VIRTIO_F_VERSION_1) | (1ULL << 5) | (1ULL << 16));
	report(status & 8, "FEATURES_OK accepted (status 0x%x)", status);
	for (int i = 0; i < 6; i++)
		mac[i] = dev.device_cfg[i];
	report(!memcmp(mac, guest_mac, 6), "config space: MAC %02x:%02x:%02x:%02x:%02x:%02x",
	       mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
	report(dev.device_cfg[6] & 1, "config space: link up");
	report(virtio_queue_setup(&dev, &rxq, 0, QSIZE, rx_ring, 0xffff) &&
	       virtio_queue_setup(&dev, &txq, 1, QSIZE, tx_ring, 0xffff), "RX and TX queues enabled");
	virtio_queue_poll_only(&rxq);
	virtio_queue_poll_only(&txq);
	virtio_driver_ok(&dev);
	for (unsigned int i = 0; i < RXBUFS; i++)
		virtio_add_chain(&rxq, &(struct vbuf_g){ rx_buf[i], BUF_LEN, true }, 1);
	virtio_kick(&rxq);
	report(arp(), "ARP: the host answered with its MAC");
	report(ping(), "ICMP: the host answered the echo request");
	report(!(virtio_status(&dev) & 0x40), "device does not need a reset");
}
