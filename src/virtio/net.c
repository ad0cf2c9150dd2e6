// SPDX-License-Identifier: MIT
#include "virtio/net.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/uio.h>
#include <unistd.h>

#include "util/log.h"
#include "virtio/pci_device.h"

#define F(bit) (1ULL << (bit))
/* The shortest frame: an Ethernet header. */
#define ETH_HLEN_MIN 14
/* A backend whose socket is full gets this long to take a TX frame. */
#define TX_WAIT_MS 100

static bool has(uint64_t features, unsigned int bit)
{
	return features & F(bit);
}

static bool is_ctrl_queue(const struct virtio_net *net, unsigned int q)
{
	return q == 2 * net->pairs;
}

int virtio_net_random_mac(uint8_t mac[6])
{
	if (getrandom(mac, 6, 0) != 6)
		return -EIO;
	/* Locally administered (bit 1), unicast (bit 0 clear). */
	mac[0] = (uint8_t)((mac[0] & 0xfc) | 0x02);
	return 0;
}

int virtio_net_init(struct virtio_net *net, const char *name, struct net_backend *be,
		    unsigned int pairs, const uint8_t mac[6], struct kiln_err *err)
{
	memset(net, 0, sizeof(*net));
	net->be = *be;
	snprintf(net->name, sizeof(net->name), "%s", name);
	memcpy(net->mac, mac, 6);
	if (pairs < 1 || pairs > be->nr_fds || pairs > NET_MAX_QUEUE_PAIRS)
		return err_set(err, -EINVAL, "%s: %u queue pairs, the backend serves %u", name,
			       pairs, be->nr_fds);
	if (be->vnet_hdr_len != 0 && be->vnet_hdr_len != NET_VNET_HDR_LEN)
		return err_set(err, -EINVAL, "%s: backend header of %u bytes", name,
			       be->vnet_hdr_len);
	net->pairs = pairs;
	atomic_store(&net->active_pairs, pairs);
	/* Made now, on the thread building the machine: the vCPUs that
	 * enable queues allocate nothing this large. */
	for (unsigned int p = 0; p < pairs; p++) {
		net->rx[p] = calloc(1, sizeof(*net->rx[p]));
		if (!net->rx[p])
			return err_set(err, -ENOMEM, "%s: out of memory", name);
	}
	return 0;
}

void virtio_net_destroy(struct virtio_net *net)
{
	for (unsigned int p = 0; p < NET_MAX_QUEUE_PAIRS; p++) {
		free(net->rx[p]);
		net->rx[p] = NULL;
	}
	if (net->be.destroy)
		net->be.destroy(&net->be);
	net->be.destroy = NULL;
}

uint64_t virtio_net_features(const struct virtio_net *net)
{
	uint64_t f = F(VIRTIO_NET_F_MAC) | F(VIRTIO_NET_F_STATUS) | F(VIRTIO_NET_F_MRG_RXBUF) |
		     F(VIRTIO_NET_F_CTRL_VQ) | F(VIRTIO_NET_F_CTRL_RX);

	if (net->pairs > 1)
		f |= F(VIRTIO_NET_F_MQ);
	return f | (net->be.offloads & (F(VIRTIO_NET_F_CSUM) | F(VIRTIO_NET_F_GUEST_CSUM) |
					F(VIRTIO_NET_F_HOST_TSO4) | F(VIRTIO_NET_F_HOST_TSO6) |
					F(VIRTIO_NET_F_HOST_ECN) | F(VIRTIO_NET_F_GUEST_TSO4) |
					F(VIRTIO_NET_F_GUEST_TSO6) | F(VIRTIO_NET_F_GUEST_ECN)));
}

/* The spec's dependencies between features (5.1.3.1). */
static bool features_consistent(uint64_t f)
{
	bool guest_tso = has(f, VIRTIO_NET_F_GUEST_TSO4) || has(f, VIRTIO_NET_F_GUEST_TSO6);
	bool host_tso = has(f, VIRTIO_NET_F_HOST_TSO4) || has(f, VIRTIO_NET_F_HOST_TSO6);

	if ((guest_tso || has(f, VIRTIO_NET_F_GUEST_ECN)) && !has(f, VIRTIO_NET_F_GUEST_CSUM))
		return false;
	if (host_tso && !has(f, VIRTIO_NET_F_CSUM))
		return false;
	if ((has(f, VIRTIO_NET_F_GUEST_ECN) && !guest_tso) ||
	    (has(f, VIRTIO_NET_F_HOST_ECN) && !host_tso))
		return false;
	return !((has(f, VIRTIO_NET_F_MQ) || has(f, VIRTIO_NET_F_CTRL_RX)) &&
		 !has(f, VIRTIO_NET_F_CTRL_VQ));
}

/* The driver's features take effect: the backend's offloads follow its
 * choice, and one queue pair serves until VQ_PAIRS_SET says otherwise. */
int virtio_net_features_ok(void *device, uint64_t features)
{
	struct virtio_net *net = device;
	struct kiln_err err = { 0 };

	if (!features_consistent(features))
		return -EINVAL;
	net->features = features;
	if (net->be.set_offloads && net->be.set_offloads(&net->be, features, &err)) {
		pr_warn("%s: %s", net->name, err.msg);
		return -EIO;
	}
	if (net->be.set_queue_pairs && net->be.set_queue_pairs(&net->be, 1, &err)) {
		pr_warn("%s: %s", net->name, err.msg);
		return -EIO;
	}
	atomic_store(&net->active_pairs, 1);
	return 0;
}

void virtio_net_config_read(void *device, uint64_t off, uint8_t *data, unsigned int size)
{
	struct virtio_net *net = device;
	uint8_t cfg[12] = { 0 };
	uint16_t status = VIRTIO_NET_S_LINK_UP, pairs = (uint16_t)net->pairs;

	memcpy(cfg, net->mac, 6);
	memcpy(cfg + 6, &status, 2);
	memcpy(cfg + 8, &pairs, 2);
	if (off >= sizeof(cfg) || size > sizeof(cfg) - off)
		memset(data, 0, size);
	else
		memcpy(data, cfg + off, size);
}

/* Copy n bytes from the front of the readable segments, each fetched from
 * guest memory once; false when they hold fewer. */
static bool read_front(const struct virtq_chain *c, void *dst, size_t n)
{
	uint8_t *d = dst;

	for (unsigned int i = 0; i < c->nr_out && n; i++) {
		size_t k = c->iov[i].iov_len < n ? c->iov[i].iov_len : n;

		guest_copy_once(d, c->iov[i].iov_base, k);
		d += k;
		n -= k;
	}
	return n == 0;
}

bool virtio_net_tx_header_ok(uint64_t features, const struct virtio_net_hdr_v1 *h,
			     uint64_t frame_len)
{
	uint8_t gso = h->gso_type & (uint8_t)~VIRTIO_NET_HDR_GSO_ECN;

	if (frame_len < ETH_HLEN_MIN || frame_len > VIRTIO_NET_FRAME_MAX)
		return false;
	/* DATA_VALID and the rest are the device's to set. */
	if (h->flags & ~VIRTIO_NET_HDR_F_NEEDS_CSUM)
		return false;
	if ((h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) &&
	    (!has(features, VIRTIO_NET_F_CSUM) ||
	     (uint64_t)h->csum_start + h->csum_offset + 2 > frame_len))
		return false;
	if (h->gso_type == VIRTIO_NET_HDR_GSO_NONE)
		return true;
	if ((h->gso_type & VIRTIO_NET_HDR_GSO_ECN) && !has(features, VIRTIO_NET_F_HOST_ECN))
		return false;
	if (!(gso == VIRTIO_NET_HDR_GSO_TCPV4 && has(features, VIRTIO_NET_F_HOST_TSO4)) &&
	    !(gso == VIRTIO_NET_HDR_GSO_TCPV6 && has(features, VIRTIO_NET_F_HOST_TSO6)))
		return false;
	/* A segmented frame's checksum is the device's to finish. */
	return h->gso_size && (h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) && h->hdr_len <= frame_len;
}

/* Give the backend a frame its writev would not take at once a moment. */
static ssize_t backend_writev(int fd, const struct iovec *iov, int n)
{
	ssize_t r = writev(fd, iov, n);

	if (r < 0 && errno == EAGAIN) {
		struct pollfd p = { .fd = fd, .events = POLLOUT };

		if (poll(&p, 1, TX_WAIT_MS) > 0)
			r = writev(fd, iov, n);
	}
	return r;
}

static long tx_drop(struct virtio_net *net)
{
	atomic_fetch_add(&net->stats.tx_dropped, 1);
	return 0;
}

/* One frame to the backend: the header checked in a copy, the frame from
 * guest memory as it stands (the guest changing it meanwhile only spoils
 * its own frame). A TX chain completes with nothing written. */
static long tx_send(struct virtio_net *net, unsigned int pair, const struct virtq_chain *c)
{
	struct virtio_net_hdr_v1 h;
	struct iovec iov[VIRTQ_MAX_SEGMENTS + 1];
	uint64_t skip = NET_VNET_HDR_LEN, frame_len;
	int n = 0;

	if (c->nr_in || !read_front(c, &h, sizeof(h)))
		return tx_drop(net);
	frame_len = c->out_len - NET_VNET_HDR_LEN;
	if (!virtio_net_tx_header_ok(net->features, &h, frame_len))
		return tx_drop(net);
	if (h.gso_type == VIRTIO_NET_HDR_GSO_NONE)
		h.gso_size = h.hdr_len = 0;
	h.num_buffers = 0;
	if (net->be.vnet_hdr_len)
		iov[n++] = (struct iovec){ &h, NET_VNET_HDR_LEN };
	for (unsigned int i = 0; i < c->nr_out; i++) {
		uint8_t *base = c->iov[i].iov_base;
		size_t len = c->iov[i].iov_len;

		if (skip >= len) {
			skip -= len;
			continue;
		}
		iov[n++] = (struct iovec){ base + skip, len - skip };
		skip = 0;
	}
	if (n > IOV_MAX || backend_writev(net->be.fds[pair], iov, n) < 0)
		return tx_drop(net);
	atomic_fetch_add(&net->stats.tx_frames, 1);
	atomic_fetch_add(&net->stats.tx_bytes, frame_len);
	return 0;
}

/* Hold an RX chain until a frame comes (it completes then, from the
 * worker's poll callbacks). */
static long rx_take_buffer(struct net_rx_queue *rq, struct virtq_worker *w,
			   const struct virtq_chain *c)
{
	struct net_rx_buf *b;

	if (c->head >= VIRTIO_NET_QUEUE_SIZE)
		return -EINVAL;
	/* A head offered again while held gets nothing back for it (it would
	 * be in the used ring twice). */
	if (rq->held[c->head])
		return VIRTQ_PENDING;
	/* RX buffers are writable only, and hold at least the header. */
	if (c->nr_out || c->in_len < NET_VNET_HDR_LEN || rq->count == VIRTIO_NET_QUEUE_SIZE)
		return -EINVAL;
	b = &rq->bufs[(rq->first + rq->count) % VIRTIO_NET_QUEUE_SIZE];
	b->head = c->head;
	b->nr_iov = 0;
	b->cap = 0;
	for (unsigned int i = 0; i < c->nr_in && i < VIRTIO_NET_RX_MAX_SEGS; i++) {
		b->iov[b->nr_iov++] = c->iov[c->nr_out + i];
		b->cap += c->iov[c->nr_out + i].iov_len;
	}
	rq->held[c->head] = true;
	rq->count++;
	atomic_store(&rq->worker, w);
	rq->buffers_added = true;
	return VIRTQ_PENDING;
}

/* Copy len bytes of src into b's segments; the bytes written. */
static uint64_t fill_buffer(const struct net_rx_buf *b, const uint8_t *src, uint64_t len)
{
	uint64_t done = 0;

	for (unsigned int i = 0; i < b->nr_iov && done < len; i++) {
		uint64_t k = b->iov[i].iov_len < len - done ? b->iov[i].iov_len : len - done;

		memcpy(b->iov[i].iov_base, src + done, k);
		done += k;
	}
	return done;
}

static struct net_rx_buf *rx_buf(struct net_rx_queue *rq, unsigned int i)
{
	return &rq->bufs[(rq->first + i) % VIRTIO_NET_QUEUE_SIZE];
}

static void rx_release_first(struct net_rx_queue *rq)
{
	rq->held[rq->bufs[rq->first].head] = false;
	rq->first = (rq->first + 1) % VIRTIO_NET_QUEUE_SIZE;
	rq->count--;
}

static void rx_drop_frame(struct virtio_net *net, struct net_rx_queue *rq)
{
	atomic_fetch_add(&net->stats.rx_dropped, 1);
	rq->frame_len = 0;
}

/* Read the next frame into rq->frame; false when there is none. */
static bool rx_read(struct virtio_net *net, struct net_rx_queue *rq, int fd)
{
	unsigned int hdr = net->be.vnet_hdr_len;
	uint8_t *dst = rq->frame + NET_VNET_HDR_LEN - hdr;
	size_t room = sizeof(rq->frame) - (NET_VNET_HDR_LEN - hdr);

	for (;;) {
		ssize_t n = read(fd, dst, room);

		if (n < 0)
			return false; /* EAGAIN, or a backend gone: nothing to take */
		/* A runt, or a frame that may not have fit: dropped. */
		if ((size_t)n < hdr + ETH_HLEN_MIN || (size_t)n == room) {
			atomic_fetch_add(&net->stats.rx_dropped, 1);
			continue;
		}
		if (!hdr)
			memset(rq->frame, 0, NET_VNET_HDR_LEN);
		rq->frame_len = (size_t)n + NET_VNET_HDR_LEN - hdr;
		return true;
	}
}

/* How many held buffers the pending frame needs; 0 when those held do
 * not hold it (yet). */
static unsigned int rx_buffers_needed(const struct virtio_net *net, struct net_rx_queue *rq)
{
	uint64_t cap = 0;
	unsigned int i;

	if (!has(net->features, VIRTIO_NET_F_MRG_RXBUF))
		return rq->count && rx_buf(rq, 0)->cap >= rq->frame_len ? 1 : 0;
	for (i = 0; i < rq->count && cap < rq->frame_len; i++)
		cap += rx_buf(rq, i)->cap;
	return cap >= rq->frame_len ? i : 0;
}

/* The header as the negotiated features let the driver see it. */
static void rx_fix_header(const struct virtio_net *net, struct net_rx_queue *rq,
			  unsigned int buffers)
{
	struct virtio_net_hdr_v1 h;

	memcpy(&h, rq->frame, sizeof(h));
	if (!has(net->features, VIRTIO_NET_F_GUEST_CSUM))
		h.flags = 0;
	h.num_buffers = (uint16_t)buffers;
	memcpy(rq->frame, &h, sizeof(h));
}

/* The pending frame into held buffers. True when it is gone (delivered or
 * dropped), false when it waits for buffers. */
static bool rx_deliver(struct virtio_net *net, struct net_rx_queue *rq, struct virtq_worker *w)
{
	unsigned int need = rx_buffers_needed(net, rq);
	uint64_t done = 0;

	if (!need) {
		/* It can never fit: one chain too small, or a full ring. */
		if (!has(net->features, VIRTIO_NET_F_MRG_RXBUF) ? rq->count > 0
								: rq->count >= w->vq.size) {
			rx_drop_frame(net, rq);
			return true;
		}
		return false;
	}
	rx_fix_header(net, rq, need);
	for (unsigned int i = 0; i < need; i++) {
		struct net_rx_buf *b = rx_buf(rq, 0);
		uint64_t k = fill_buffer(b, rq->frame + done, rq->frame_len - done);

		done += k;
		virtq_worker_push(w, b->head, (uint32_t)k);
		rx_release_first(rq);
	}
	atomic_fetch_add(&net->stats.rx_frames, 1);
	atomic_fetch_add(&net->stats.rx_bytes, rq->frame_len - NET_VNET_HDR_LEN);
	rq->frame_len = 0;
	return true;
}

/* The backend has frames (or the driver posted buffers): deliver what
 * fits, then interrupt once. A batch is bounded so control requests are
 * answered; the fd stays readable for the next round. */
static void rx_process(void *device, struct virtq_worker *w)
{
	struct virtio_net *net = device;
	struct net_rx_queue *rq = net->rx[w->queue / 2];
	unsigned int delivered = 0;

	rq->buffers_added = false;
	for (unsigned int budget = 0; budget < VIRTIO_NET_QUEUE_SIZE; budget++) {
		if (!rq->frame_len && (!rq->count || !rx_read(net, rq, net->be.fds[w->queue / 2])))
			break;
		if (!rx_deliver(net, rq, w))
			break;
		delivered++;
	}
	if (delivered)
		virtq_worker_interrupt(w);
}

/* After a batch of kicks: new buffers may take a waiting frame. */
static void rx_batch_done(void *device, struct virtq_worker *w)
{
	struct virtio_net *net = device;

	if (net->rx[w->queue / 2]->buffers_added)
		rx_process(device, w);
}

/* Wake for frames only with a buffer to put one in and none waiting, and
 * only on a pair in use: a tap queue detached for VQ_PAIRS_SET polls as an
 * error, which would stop the worker watching it for good. The driver
 * refills (and kicks) a pair it takes into use again. */
static bool rx_fd_wanted(void *device, struct virtq_worker *w)
{
	struct virtio_net *net = device;
	struct net_rx_queue *rq = net->rx[w->queue / 2];

	return rq->count && !rq->frame_len && w->queue / 2 < atomic_load(&net->active_pairs);
}

static uint8_t ctrl_rx(const uint8_t *cmd, size_t len)
{
	if ((cmd[1] != VIRTIO_NET_CTRL_RX_PROMISC && cmd[1] != VIRTIO_NET_CTRL_RX_ALLMULTI) ||
	    len != 3 || cmd[2] > 1)
		return VIRTIO_NET_ERR;
	/* The tap delivers every frame anyway: nothing to filter. */
	return VIRTIO_NET_OK;
}

/* Two tables, unicast then multicast: a 32-bit count, then its MACs. */
static uint8_t ctrl_mac_table(const uint8_t *cmd, size_t len)
{
	size_t off = 2;

	if (cmd[1] != VIRTIO_NET_CTRL_MAC_TABLE_SET)
		return VIRTIO_NET_ERR;
	for (int table = 0; table < 2; table++) {
		uint32_t entries;

		if (len - off < 4)
			return VIRTIO_NET_ERR;
		memcpy(&entries, cmd + off, 4);
		off += 4;
		if (entries > (len - off) / 6)
			return VIRTIO_NET_ERR;
		off += (size_t)entries * 6;
	}
	/* Accepted, not filtered on: the tap is the host's to filter. */
	return off == len ? VIRTIO_NET_OK : VIRTIO_NET_ERR;
}

static uint8_t ctrl_mq(struct virtio_net *net, const uint8_t *cmd, size_t len)
{
	struct kiln_err err = { 0 };
	unsigned int old;
	uint16_t pairs;

	if (cmd[1] != VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET || len != 4 ||
	    !has(net->features, VIRTIO_NET_F_MQ))
		return VIRTIO_NET_ERR;
	memcpy(&pairs, cmd + 2, 2);
	if (pairs < 1 || pairs > net->pairs)
		return VIRTIO_NET_ERR;
	old = atomic_load(&net->active_pairs);
	/* Pairs leaving are out of use before their tap queues go, pairs
	 * coming after theirs are attached: no worker sleeps on a detached
	 * queue while it wants it. */
	if (pairs < old)
		atomic_store(&net->active_pairs, pairs);
	if (net->be.set_queue_pairs && net->be.set_queue_pairs(&net->be, pairs, &err)) {
		atomic_store(&net->active_pairs, old);
		pr_warn("%s: %s", net->name, err.msg);
		return VIRTIO_NET_ERR;
	}
	atomic_store(&net->active_pairs, pairs);
	/* Their RX workers look again at what to sleep on. */
	for (unsigned int p = 0; p < net->pairs; p++) {
		struct virtq_worker *rx = atomic_load(&net->rx[p]->worker);

		if (rx && (p < pairs) != (p < old))
			virtq_worker_wake(rx);
	}
	return VIRTIO_NET_OK;
}

uint8_t virtio_net_ctrl_command(struct virtio_net *net, const uint8_t *cmd, size_t len)
{
	if (len < 2)
		return VIRTIO_NET_ERR;
	switch (cmd[0]) {
	case VIRTIO_NET_CTRL_RX:
		return has(net->features, VIRTIO_NET_F_CTRL_RX) ? ctrl_rx(cmd, len) : VIRTIO_NET_ERR;
	case VIRTIO_NET_CTRL_MAC:
		return has(net->features, VIRTIO_NET_F_CTRL_RX) ? ctrl_mac_table(cmd, len)
								 : VIRTIO_NET_ERR;
	case VIRTIO_NET_CTRL_MQ:
		return ctrl_mq(net, cmd, len);
	default:
		return VIRTIO_NET_ERR;
	}
}

/* A control request: the command from the readable part (copied once),
 * the ack into the last writable byte. */
static long ctrl_handle(struct virtio_net *net, const struct virtq_chain *c)
{
	static _Thread_local uint8_t cmd[VIRTIO_NET_CTRL_MAX];
	const struct iovec *last;
	uint8_t ack = VIRTIO_NET_ERR;

	if (!c->nr_in)
		return -EINVAL;
	if (c->out_len <= sizeof(cmd) && read_front(c, cmd, c->out_len))
		ack = virtio_net_ctrl_command(net, cmd, c->out_len);
	if (ack != VIRTIO_NET_OK)
		atomic_fetch_add(&net->stats.ctrl_errors, 1);
	last = &c->iov[c->nr_out + c->nr_in - 1];
	((uint8_t *)last->iov_base)[last->iov_len - 1] = ack;
	return 1;
}

long virtio_net_handle(void *device, struct virtq_worker *w, struct virtq_chain *c)
{
	struct virtio_net *net = device;

	if (is_ctrl_queue(net, w->queue))
		return ctrl_handle(net, c);
	if (w->queue >= 2 * net->pairs)
		return -EINVAL;
	if (w->queue % 2 == 0)
		return rx_take_buffer(net->rx[w->queue / 2], w, c);
	return tx_send(net, w->queue / 2, c);
}

int virtio_net_queue_poll(void *device, unsigned int q, struct virtq_worker_poll *poll)
{
	struct virtio_net *net = device;

	*poll = (struct virtq_worker_poll){ .fd = -1 };
	if (q < 2 * net->pairs && q % 2 == 0)
		*poll = (struct virtq_worker_poll){
			.fd = net->be.fds[q / 2],
			.ready = rx_process,
			.batch_done = rx_batch_done,
			.fd_wanted = rx_fd_wanted,
		};
	return 0;
}

/* A reset RX queue forgets its buffers (the ring is gone) and the frame
 * it waited with. */
void virtio_net_queue_stop(void *device, unsigned int q)
{
	struct virtio_net *net = device;
	struct net_rx_queue *rq;

	if (q >= 2 * net->pairs || q % 2)
		return;
	rq = net->rx[q / 2];
	rq->first = rq->count = 0;
	rq->frame_len = 0;
	rq->buffers_added = false;
	memset(rq->held, 0, sizeof(rq->held));
}

unsigned int virtio_net_queue_held(void *device, unsigned int q)
{
	struct virtio_net *net = device;

	/* RX queues only: a TX chain is sent before its handler returns. */
	return q < 2 * net->pairs && q % 2 == 0 ? net->rx[q / 2]->count : 0;
}

/* The MAC (a random one is made per machine: the restored guest keeps
 * its own) and the queue pairs in use; the link is always up. */
void virtio_net_save(void *device, struct state_writer *w)
{
	struct virtio_net *net = device;

	state_put_bytes(w, net->mac, sizeof(net->mac));
	state_put_u16(w, (uint16_t)atomic_load(&net->active_pairs));
}

int virtio_net_load(void *device, struct state_reader *r, const char *name,
		    struct kiln_err *err)
{
	struct virtio_net *net = device;
	uint8_t mac[6], cmd[4] = { VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET };
	uint16_t pairs;
	int ret;

	state_get_bytes(r, mac, sizeof(mac));
	pairs = state_get_u16(r);
	if ((ret = device_state_check_length(r, name, err)))
		return ret;
	if (pairs < 1 || pairs > net->pairs)
		return device_state_bad_field(name, "queue pairs in use", pairs, err);
	memcpy(net->mac, mac, sizeof(mac));
	if (pairs == atomic_load(&net->active_pairs))
		return 0;
	/* The driver's VQ_PAIRS_SET, as it sent it. */
	memcpy(cmd + 2, &pairs, 2);
	if (virtio_net_ctrl_command(net, cmd, sizeof(cmd)) != VIRTIO_NET_OK)
		return err_set(err, -EINVAL, "%s: snapshot state: %u queue pairs in use, which "
			       "the negotiated features or the backend refuse", name, pairs);
	return 0;
}

int virtio_net_start(void *device, struct kiln_err *err)
{
	struct virtio_net *net = device;

	return net->be.start ? net->be.start(&net->be, err) : 0;
}

static void net_free(void *device)
{
	virtio_net_destroy(device);
	free(device);
}

static int open_backend(const struct net_config *nc, struct net_backend *be,
			struct kiln_err *err)
{
	if (nc->kind == NET_TAP)
		return net_tap_open(&nc->tap, nc->queues, be, err);
	if (nc->queues > 1)
		return err_set(err, -EINVAL, "user-mode networking has one queue pair");
	return net_user_open(&nc->user, be, err);
}

/* A tap that cannot be opened by a jailed kiln building its machine
 * inside the jail (API, --config-file): its network namespace is empty
 * unless --jail-netns names one. */
static int jail_hint(const struct kiln_config *cfg, const struct net_config *nc, int ret,
		     struct kiln_err *err)
{
	if (nc->kind != NET_TAP || !cfg->jail_dir || cfg->jail_netns ||
	    (!cfg->api_sock && !cfg->config_file))
		return ret;
	/* Instead of the open's message: this one says what to do. */
	if (err)
		err->code = 0;
	return err_set(err, ret, "tap '%s': a jailed kiln builds this machine in an empty network "
		       "namespace: name the tap's with --jail-netns PATH (and put /dev/net/tun in "
		       "the jail), or give --net with --kernel and no API", nc->tap.name);
}

static int add_net(const struct device_env *env, const struct net_config *nc, unsigned int i,
		   struct kiln_err *err)
{
	struct virtio_net *net = calloc(1, sizeof(*net));
	struct net_backend be;
	uint8_t mac[6];
	char name[16];
	int ret;

	if (!net)
		return err_set(err, -ENOMEM, "out of memory for network interface %u", i);
	snprintf(name, sizeof(name), "net%u", i);
	memcpy(mac, nc->mac, 6);
	if (!nc->mac_set && virtio_net_random_mac(mac)) {
		free(net);
		return err_set(err, -EIO, "%s: cannot make a MAC address", name);
	}
	ret = open_backend(nc, &be, err);
	if (ret) {
		free(net);
		return jail_hint(env->cfg, nc, ret, err);
	}
	ret = virtio_net_init(net, name, &be, be.nr_fds < nc->queues ? be.nr_fds : nc->queues,
			      mac, err);
	if (ret) {
		net_free(net);
		return ret;
	}
	struct virtio_device_model model = {
		.device_id = VIRTIO_ID_NET, .class_code = 0x020000,
		.features = virtio_net_features(net),
		.nr_queues = 2 * net->pairs + 1, .queue_max_size = VIRTIO_NET_QUEUE_SIZE,
		.handler = virtio_net_handle, .config_read = virtio_net_config_read,
		.queue_poll = virtio_net_queue_poll, .queue_stop = virtio_net_queue_stop,
		.features_ok = virtio_net_features_ok, .start = virtio_net_start,
		.queue_held = virtio_net_queue_held, .save = virtio_net_save,
		.load = virtio_net_load, .device = net, .worker_sandbox = SANDBOX_THREAD_WORKER_NET,
	};
	return virtio_pci_device_add(env, name, &model, net_free, err);
}

/* One virtio-net function per --net (or network interface), net0, net1, ... */
static int virtio_net_create(const struct device_env *env, struct kiln_err *err)
{
	int ret = 0;

	for (unsigned int i = 0; !ret && i < env->cfg->nr_nets; i++)
		ret = add_net(env, &env->cfg->nets[i], i, err);
	return ret;
}

const struct device_kind virtio_net_kind = { "virtio-net", virtio_net_create };
