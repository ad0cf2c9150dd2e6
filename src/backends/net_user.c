// SPDX-License-Identifier: MIT
/*
 * User-mode networking through libslirp (net_user.h). libslirp is not
 * thread-safe, so everything that touches the Slirp instance after
 * net_user_open runs on one thread: the guest's frames (read from our end
 * of the socket pair), slirp's host sockets and its timers, all in one
 * poll loop. The device only reads and writes fds[0].
 */
#include "backends/net_user.h"

#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <slirp/libslirp.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "sandbox/seccomp.h"
#include "util/log.h"

/* Frames taken from the device per round, so slirp's sockets get a turn. */
#define FRAMES_PER_ROUND   64
/* Room in the socket pair for a burst from the host; the kernel caps it at
 * net.core.wmem_max unless we are root. */
#define PAIR_BUFFER_BYTES  (4 << 20)

struct net_user_timer {
	struct net_user_timer *next;
	SlirpTimerId id;
	SlirpTimerCb cb;          /* the older callback form; NULL: slirp_handle_timer */
	void *cb_opaque;
	int64_t expire_ms;        /* -1: not armed */
};

struct net_user {
	Slirp *slirp;
	int device_fd;            /* fds[0]: the device's end */
	int slirp_fd;             /* ours */
	int stop_fd;              /* eventfd: destroy asks the thread to end */
	struct net_user_timer *timers;
	struct pollfd *pollfds;   /* rebuilt every round from slirp's sockets */
	unsigned int nr_pollfds, cap_pollfds;
	bool poll_failed;         /* the table could not grow: poll what we have */
	pthread_t thread;
	bool thread_alive;
	pthread_mutex_t lock;
	pthread_cond_t started;
	int start_result;         /* 0 until the thread reports; 1 ok, or -errno */
	_Atomic uint64_t frames_dropped;
	/* As large as the device hands over: a SEQPACKET read into less
	 * would cut the frame short without a word. */
	uint8_t frame[NET_FRAME_MAX];
};

static int64_t monotonic_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---- slirp's callbacks, all on the backend's thread (or in open) ---- */

static ssize_t send_to_guest(const void *buf, size_t len, void *opaque)
{
	struct net_user *nu = opaque;
	ssize_t n = send(nu->slirp_fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);

	/* A full device end is a busy NIC: drop, and TCP sends again. */
	if (n < 0)
		atomic_fetch_add(&nu->frames_dropped, 1);
	return (ssize_t)len;
}

static void guest_error(const char *msg, void *opaque)
{
	(void)opaque;
	pr_debug("net user: guest error: %s", msg);
}

static int64_t clock_get_ns(void *opaque)
{
	(void)opaque;
	return monotonic_ns();
}

static void *timer_add(struct net_user *nu, SlirpTimerId id, SlirpTimerCb cb, void *cb_opaque)
{
	struct net_user_timer *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->id = id;
	t->cb = cb;
	t->cb_opaque = cb_opaque;
	t->expire_ms = -1;
	t->next = nu->timers;
	nu->timers = t;
	return t;
}

static void *timer_new(SlirpTimerCb cb, void *cb_opaque, void *opaque)
{
	return timer_add(opaque, SLIRP_TIMER_NUM, cb, cb_opaque);
}

static void *timer_new_opaque(SlirpTimerId id, void *cb_opaque, void *opaque)
{
	return timer_add(opaque, id, NULL, cb_opaque);
}

static void timer_free(void *timer, void *opaque)
{
	struct net_user *nu = opaque;

	for (struct net_user_timer **p = &nu->timers; *p; p = &(*p)->next) {
		if (*p == timer) {
			*p = (*p)->next;
			free(timer);
			return;
		}
	}
}

static void timer_mod(void *timer, int64_t expire_ms, void *opaque)
{
	(void)opaque;
	((struct net_user_timer *)timer)->expire_ms = expire_ms;
}

/* The loop polls every round anew, so there is nothing to register. */
static void poll_fd_noop(int fd, void *opaque)
{
	(void)fd;
	(void)opaque;
}

/* Called when slirp can take more for a socket: the loop looks again
 * after every round anyway. */
static void notify_noop(void *opaque)
{
	(void)opaque;
}

static const SlirpCb slirp_callbacks = {
	.send_packet = send_to_guest,
	.guest_error = guest_error,
	.clock_get_ns = clock_get_ns,
	.timer_new = timer_new,
	.timer_free = timer_free,
	.timer_mod = timer_mod,
	.register_poll_fd = poll_fd_noop,
	.unregister_poll_fd = poll_fd_noop,
	.notify = notify_noop,
	.timer_new_opaque = timer_new_opaque,
};

/* ---- the poll table ---- */

static short to_poll_events(int slirp_events)
{
	short events = 0;

	if (slirp_events & SLIRP_POLL_IN)
		events |= POLLIN;
	if (slirp_events & SLIRP_POLL_OUT)
		events |= POLLOUT;
	if (slirp_events & SLIRP_POLL_PRI)
		events |= POLLPRI;
	return events;
}

static int add_pollfd(struct net_user *nu, int fd, short events)
{
	if (nu->nr_pollfds == nu->cap_pollfds) {
		unsigned int cap = nu->cap_pollfds ? nu->cap_pollfds * 2 : 16;
		struct pollfd *grown = realloc(nu->pollfds, cap * sizeof(*grown));

		if (!grown) {
			nu->poll_failed = true;
			return -1;
		}
		nu->pollfds = grown;
		nu->cap_pollfds = cap;
	}
	nu->pollfds[nu->nr_pollfds] = (struct pollfd){ .fd = fd, .events = events };
	return (int)nu->nr_pollfds++;
}

static int slirp_add_poll(int fd, int events, void *opaque)
{
	return add_pollfd(opaque, fd, to_poll_events(events));
}

static int slirp_get_revents(int idx, void *opaque)
{
	struct net_user *nu = opaque;
	short revents;
	int events = 0;

	if (idx < 0 || (unsigned int)idx >= nu->nr_pollfds)
		return 0;
	revents = nu->pollfds[idx].revents;
	if (revents & POLLIN)
		events |= SLIRP_POLL_IN;
	if (revents & POLLOUT)
		events |= SLIRP_POLL_OUT;
	if (revents & POLLPRI)
		events |= SLIRP_POLL_PRI;
	if (revents & (POLLERR | POLLNVAL))
		events |= SLIRP_POLL_ERR;
	if (revents & POLLHUP)
		events |= SLIRP_POLL_HUP;
	return events;
}

/* ---- the thread ---- */

/* The next armed timer's distance in ms (0 when one is due), or -1. */
static int64_t next_timer_ms(const struct net_user *nu, int64_t now_ms)
{
	int64_t next = -1;

	for (const struct net_user_timer *t = nu->timers; t; t = t->next) {
		int64_t left;

		if (t->expire_ms < 0)
			continue;
		left = t->expire_ms > now_ms ? t->expire_ms - now_ms : 0;
		if (next < 0 || left < next)
			next = left;
	}
	return next;
}

/* Fire each due timer once; a callback may re-arm or free timers, so
 * start over after each one. */
static void run_timers(struct net_user *nu)
{
	int64_t now_ms = monotonic_ns() / 1000000;
	bool fired = true;

	while (fired) {
		fired = false;
		for (struct net_user_timer *t = nu->timers; t; t = t->next) {
			if (t->expire_ms < 0 || t->expire_ms > now_ms)
				continue;
			t->expire_ms = -1;
			if (t->cb)
				t->cb(t->cb_opaque);
			else
				slirp_handle_timer(nu->slirp, t->id, t->cb_opaque);
			fired = true;
			break;
		}
	}
}

static void take_guest_frames(struct net_user *nu)
{
	for (int i = 0; i < FRAMES_PER_ROUND; i++) {
		ssize_t n = recv(nu->slirp_fd, nu->frame, sizeof(nu->frame), MSG_DONTWAIT);

		if (n <= 0)
			return;
		slirp_input(nu->slirp, nu->frame, (int)n);
	}
}

/* One round: poll the device's end, the stop eventfd and slirp's sockets,
 * then let slirp handle what is ready. false once stopped. */
static bool poll_round(struct net_user *nu)
{
	uint32_t timeout_ms = UINT32_MAX;
	int64_t timer_ms;
	int ready;

	nu->nr_pollfds = 0;
	nu->poll_failed = false;
	add_pollfd(nu, nu->stop_fd, POLLIN);
	add_pollfd(nu, nu->slirp_fd, POLLIN);
	if (nu->poll_failed)
		return false;
	slirp_pollfds_fill(nu->slirp, &timeout_ms, slirp_add_poll, nu);
	timer_ms = next_timer_ms(nu, monotonic_ns() / 1000000);
	if (timer_ms >= 0 && (uint64_t)timer_ms < timeout_ms)
		timeout_ms = (uint32_t)timer_ms;
	ready = poll(nu->pollfds, nu->nr_pollfds, timeout_ms == UINT32_MAX ? -1 : (int)timeout_ms);
	if (ready > 0 && (nu->pollfds[0].revents & POLLIN))
		return false;
	slirp_pollfds_poll(nu->slirp, ready < 0, slirp_get_revents, nu);
	if (ready > 0 && (nu->pollfds[1].revents & POLLIN))
		take_guest_frames(nu);
	run_timers(nu);
	return true;
}

static void report_start(struct net_user *nu, int result)
{
	pthread_mutex_lock(&nu->lock);
	nu->start_result = result;
	pthread_cond_broadcast(&nu->started);
	pthread_mutex_unlock(&nu->lock);
}

static void block_sigpipe(void)
{
	sigset_t pipe;

	sigemptyset(&pipe);
	sigaddset(&pipe, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe, NULL);
}

static void *net_user_main(void *arg)
{
	struct net_user *nu = arg;
	struct kiln_err err = { 0 };
	int ret;

	/* Named by itself: naming another thread goes through /proc. */
	pthread_setname_np(pthread_self(), "net-user");
	/* slirp writes to host sockets without MSG_NOSIGNAL: a peer that went
	 * away must cost its connection (EPIPE), never kiln. Blocked here, a
	 * SIGPIPE stays pending on this thread and is never delivered. */
	block_sigpipe();
	ret = sandbox_enter(SANDBOX_THREAD_NET_USER, &err);
	report_start(nu, ret ? ret : 1);
	if (ret)
		return NULL;
	sandbox_test_violation(SANDBOX_THREAD_NET_USER);
	while (poll_round(nu))
		;
	return NULL;
}

/* ---- the backend's interface ---- */

static int net_user_start(struct net_backend *be, struct kiln_err *err)
{
	struct net_user *nu = be->priv;
	int ret;

	if (nu->thread_alive)
		return 0;
	ret = pthread_create(&nu->thread, NULL, net_user_main, nu);
	if (ret)
		return err_set_errno(err, -ret, "--net user: cannot start its thread");
	nu->thread_alive = true;
	pthread_mutex_lock(&nu->lock);
	while (!nu->start_result)
		pthread_cond_wait(&nu->started, &nu->lock);
	ret = nu->start_result < 0 ? nu->start_result : 0;
	pthread_mutex_unlock(&nu->lock);
	if (ret)
		return err_set_errno(err, ret, "--net user: cannot install the %s seccomp filter",
				     sandbox_thread_name(SANDBOX_THREAD_NET_USER));
	return 0;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static void net_user_free(struct net_user *nu)
{
	if (nu->thread_alive) {
		uint64_t one = 1;

		/* An eventfd write cannot fail short of an overflow. */
		if (write(nu->stop_fd, &one, sizeof(one)) != sizeof(one))
			pr_warn("net user: cannot signal its thread to stop");
		pthread_join(nu->thread, NULL);
	}
	if (nu->slirp)
		slirp_cleanup(nu->slirp);
	while (nu->timers)
		timer_free(nu->timers, nu);
	close_fd(&nu->device_fd);
	close_fd(&nu->slirp_fd);
	close_fd(&nu->stop_fd);
	pthread_mutex_destroy(&nu->lock);
	pthread_cond_destroy(&nu->started);
	free(nu->pollfds);
	free(nu);
}

static void net_user_destroy(struct net_backend *be)
{
	if (!be->priv)
		return;
	net_user_free(be->priv);
	be->priv = NULL;
	be->nr_fds = 0;
	be->fds[0] = -1;
}

uint64_t net_user_frames_dropped(const struct net_backend *be)
{
	const struct net_user *nu = be->priv;

	return nu ? atomic_load(&nu->frames_dropped) : 0;
}

static int open_socket_pair(struct net_user *nu, struct kiln_err *err)
{
	int pair[2];
	int size = PAIR_BUFFER_BYTES;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, pair))
		return err_set_errno(err, -errno, "--net user: cannot create its socket pair");
	nu->device_fd = pair[0];
	nu->slirp_fd = pair[1];
	/* A larger buffer only spares retransmissions; its absence is no error. */
	for (int i = 0; i < 2; i++) {
		if (setsockopt(pair[i], SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof(size)))
			(void)setsockopt(pair[i], SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
	}
	nu->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (nu->stop_fd < 0)
		return err_set_errno(err, -errno, "--net user: cannot create its eventfd");
	return 0;
}

static struct in_addr ipv4(const char *text)
{
	struct in_addr addr = { 0 };

	inet_pton(AF_INET, text, &addr);
	return addr;
}

static struct in6_addr ipv6(const char *prefix, unsigned int last)
{
	struct in6_addr addr = { 0 };

	inet_pton(AF_INET6, prefix, &addr);
	addr.s6_addr[15] = (uint8_t)last;
	return addr;
}

static Slirp *new_slirp(struct net_user *nu)
{
	SlirpConfig sc = {
		.version = 4,
		.in_enabled = true,
		.vnetwork = ipv4(NET_USER_NETWORK),
		.vnetmask = ipv4(NET_USER_NETMASK),
		.vhost = ipv4(NET_USER_HOST),
		.vdhcp_start = ipv4(NET_USER_DHCP_START),
		.vnameserver = ipv4(NET_USER_NAMESERVER),
		.in6_enabled = true,
		.vprefix_addr6 = ipv6(NET_USER_PREFIX6, 0),
		.vprefix_len = 64,
		.vhost6 = ipv6(NET_USER_PREFIX6, 2),
		.vnameserver6 = ipv6(NET_USER_PREFIX6, 3),
	};

	return slirp_new(&sc, &slirp_callbacks, nu);
}

static int add_forward(struct net_user *nu, const struct net_hostfwd *fwd, struct kiln_err *err)
{
	struct in_addr host = { .s_addr = fwd->host_addr ? fwd->host_addr : htonl(INADDR_LOOPBACK) };
	struct in_addr guest = { .s_addr = fwd->guest_addr ? fwd->guest_addr
							   : ipv4(NET_USER_DHCP_START).s_addr };
	const char *proto = fwd->udp ? "udp" : "tcp";

	if (!fwd->host_port || !fwd->guest_port)
		return err_set(err, -EINVAL, "--net user: a %s forward needs a host and a guest port",
			       proto);
	errno = 0;
	if (!slirp_add_hostfwd(nu->slirp, fwd->udp, host, fwd->host_port, guest, fwd->guest_port))
		return 0;
	if (errno == EADDRINUSE)
		return err_set(err, -EADDRINUSE, "--net user: host port %u is taken (%s)",
			       fwd->host_port, strerror(EADDRINUSE));
	return err_set_errno(err, errno ? -errno : -EINVAL,
			     "--net user: cannot forward %s host port %u", proto, fwd->host_port);
}

int net_user_open(const struct net_user_config *cfg, struct net_backend *out,
		  struct kiln_err *err)
{
	struct net_user *nu;
	int ret;

	if (cfg->nr_fwd > NET_MAX_HOSTFWD)
		return err_set(err, -EINVAL, "--net user: at most %d forwards", NET_MAX_HOSTFWD);
	nu = calloc(1, sizeof(*nu));
	if (!nu)
		return err_set(err, -ENOMEM, "--net user: out of memory");
	nu->device_fd = nu->slirp_fd = nu->stop_fd = -1;
	pthread_mutex_init(&nu->lock, NULL);
	pthread_cond_init(&nu->started, NULL);
	ret = open_socket_pair(nu, err);
	if (!ret) {
		nu->slirp = new_slirp(nu);
		if (!nu->slirp)
			ret = err_set(err, -ENOMEM, "--net user: libslirp refused its configuration");
	}
	for (unsigned int i = 0; !ret && i < cfg->nr_fwd; i++)
		ret = add_forward(nu, &cfg->fwd[i], err);
	if (ret) {
		net_user_free(nu);
		return ret;
	}
	memset(out, 0, sizeof(*out));
	for (unsigned int i = 0; i < NET_MAX_QUEUE_PAIRS; i++)
		out->fds[i] = -1;
	out->fds[0] = nu->device_fd;
	out->nr_fds = 1;
	out->vnet_hdr_len = 0;
	out->offloads = 0;
	out->set_offloads = NULL;
	out->start = net_user_start;
	out->destroy = net_user_destroy;
	out->priv = nu;
	return 0;
}
