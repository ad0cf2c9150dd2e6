// SPDX-License-Identifier: MIT
#include "backends/vsock_unix.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

/* "CONNECT 4294967295\n" is 19 bytes; a longer line is not a request. */
#define CONNECT_LINE_MAX 32

int vsock_unix_init(struct vsock_unix *u, const char *path, struct kiln_err *err)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = VSOCK_UNIX_TAG_WAKE };

	memset(u, 0, sizeof(*u));
	u->listen_fd = u->epoll_fd = u->wake_fd = -1;
	/* PATH_4294967295 must fit too. */
	if (!path || !*path || strlen(path) + 12 > sizeof(u->path) - 1)
		return err_set(err, -ENAMETOOLONG, "--vsock socket '%s': empty or longer than %zu "
			       "bytes", path ? path : "", sizeof(u->path) - 13);
	snprintf(u->path, sizeof(u->path), "%s", path);
	u->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	u->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (u->epoll_fd < 0 || u->wake_fd < 0 ||
	    epoll_ctl(u->epoll_fd, EPOLL_CTL_ADD, u->wake_fd, &ev)) {
		int ret = -errno;

		vsock_unix_close(u);
		return err_set_errno(err, ret, "vsock: cannot make its epoll set");
	}
	return 0;
}

static void unix_address(struct sockaddr_un *addr, const char *path)
{
	memset(addr, 0, sizeof(*addr));
	addr->sun_family = AF_UNIX;
	/* vsock_unix_init checked that PATH_<port> fits. */
	memcpy(addr->sun_path, path, strnlen(path, sizeof(addr->sun_path) - 1));
}

/* Someone accepts connections on path: another kiln (or anything else). */
static bool someone_listens(const char *path)
{
	struct sockaddr_un addr;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	bool live;

	if (fd < 0)
		return false;
	unix_address(&addr, path);
	/* A full backlog (EAGAIN) is a live listener too. */
	live = !connect(fd, (struct sockaddr *)&addr, sizeof(addr)) || errno == EAGAIN;
	close(fd);
	return live;
}

int vsock_unix_listen(struct vsock_unix *u, struct kiln_err *err)
{
	/* Level-triggered: the device takes a bounded number of connections
	 * per round, and those left in the backlog must wake it again. */
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = VSOCK_UNIX_TAG_LISTENER };
	struct sockaddr_un addr;
	struct stat st;
	int fd;

	if (someone_listens(u->path))
		return err_set(err, -EADDRINUSE, "--vsock socket '%s': another process (a second "
			       "kiln?) already listens there", u->path);
	/* Nobody listens: a socket file left by a kiln that died goes; any
	 * other file is not kiln's to delete. */
	if (lstat(u->path, &st) == 0 && !S_ISSOCK(st.st_mode))
		return err_set(err, -EEXIST, "--vsock socket '%s': a file that is not a socket is "
			       "there", u->path);
	if (unlink(u->path) && errno != ENOENT)
		return err_set_errno(err, -errno, "--vsock socket '%s': cannot replace it", u->path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return err_set_errno(err, -errno, "vsock: cannot make a Unix socket");
	unix_address(&addr, u->path);
	if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) || listen(fd, 128)) {
		int ret = -errno;

		close(fd);
		return err_set_errno(err, ret, "--vsock socket '%s': cannot listen there", u->path);
	}
	u->bound = true;
	u->listen_fd = fd;
	if (epoll_ctl(u->epoll_fd, EPOLL_CTL_ADD, fd, &ev))
		return err_set_errno(err, -errno, "vsock: cannot watch '%s'", u->path);
	return 0;
}

void vsock_unix_close(struct vsock_unix *u)
{
	if (u->listen_fd >= 0)
		close(u->listen_fd);
	if (u->bound)
		unlink(u->path);
	if (u->epoll_fd >= 0)
		close(u->epoll_fd);
	if (u->wake_fd >= 0)
		close(u->wake_fd);
	u->listen_fd = u->epoll_fd = u->wake_fd = -1;
	u->bound = false;
}

int vsock_unix_poll_fd(const struct vsock_unix *u)
{
	return u->epoll_fd;
}

static unsigned int event_bits(uint32_t events)
{
	unsigned int what = 0;

	if (events & EPOLLIN)
		what |= VSOCK_STREAM_READABLE;
	if (events & EPOLLOUT)
		what |= VSOCK_STREAM_WRITABLE;
	/* RDHUP: end of input, seen by the next read; HUP/ERR: gone. */
	if (events & EPOLLRDHUP)
		what |= VSOCK_STREAM_READABLE;
	if (events & (EPOLLHUP | EPOLLERR))
		what |= VSOCK_STREAM_HANGUP | VSOCK_STREAM_READABLE;
	return what;
}

int vsock_unix_events(struct vsock_unix *u, struct vsock_unix_event *out, int max)
{
	struct epoll_event ev[64];
	int n, count = 0;

	if (max > 64)
		max = 64;
	n = epoll_wait(u->epoll_fd, ev, max, 0);
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	for (int i = 0; i < n; i++) {
		if (ev[i].data.u64 == VSOCK_UNIX_TAG_WAKE) {
			uint64_t count_unused;

			/* Level-triggered: drained here, so it wakes once per wake. */
			if (read(u->wake_fd, &count_unused, sizeof(count_unused)) < 0)
				(void)count_unused;
		}
		out[count++] = (struct vsock_unix_event){ ev[i].data.u64, event_bits(ev[i].events) };
	}
	return count;
}

void vsock_unix_wake(struct vsock_unix *u)
{
	uint64_t one = 1;

	/* Fails only when the counter would overflow: still readable then. */
	if (write(u->wake_fd, &one, sizeof(one)) < 0)
		(void)one;
}

int vsock_unix_accept(struct vsock_unix *u)
{
	int fd = accept4(u->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

	if (fd >= 0)
		return fd;
	/* A connection that went before we took it: try the next. */
	return errno == ECONNABORTED || errno == EINTR ? -EINTR : -errno;
}

int vsock_unix_connect(const struct vsock_unix *u, uint32_t port)
{
	struct sockaddr_un addr;
	char path[sizeof(u->path) + 16];   /* init checked PATH_<port> fits sun_path */
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	if (fd < 0)
		return -errno;
	snprintf(path, sizeof(path), "%s_%" PRIu32, u->path, port);
	unix_address(&addr, path);
	/* A Unix connect completes at once or not at all; a full backlog
	 * (EAGAIN) refuses like nobody listening. */
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr))) {
		int ret = -errno;

		close(fd);
		return ret == -EAGAIN ? -ECONNREFUSED : ret;
	}
	return fd;
}

int vsock_unix_watch(struct vsock_unix *u, int stream, uint64_t tag)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
				  .data.u64 = tag };

	return epoll_ctl(u->epoll_fd, EPOLL_CTL_ADD, stream, &ev) ? -errno : 0;
}

/* The line's port: "CONNECT " then decimal digits only, within 32 bits. */
static int parse_connect(const char *line, uint32_t *port)
{
	unsigned long long value;
	char *end;

	if (strncmp(line, "CONNECT ", 8) || line[8] < '0' || line[8] > '9')
		return -EPROTO;
	errno = 0;
	value = strtoull(line + 8, &end, 10);
	if (errno || *end != '\n' || value > UINT32_MAX)
		return -EPROTO;
	*port = (uint32_t)value;
	return 1;
}

/* The peer shut its sending half (or is gone): what it sent is all. */
static bool peer_done_writing(int stream)
{
	struct pollfd p = { .fd = stream, .events = POLLRDHUP };

	return poll(&p, 1, 0) == 1 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

int vsock_unix_read_connect(int stream, uint32_t *port)
{
	char line[CONNECT_LINE_MAX + 1];
	ssize_t n = recv(stream, line, CONNECT_LINE_MAX, MSG_PEEK);
	char *newline;

	if (n < 0)
		return errno == EAGAIN ? 0 : -errno;
	if (n == 0)
		return -ECONNRESET;
	line[n] = '\0';
	newline = memchr(line, '\n', (size_t)n);
	if (!newline && n == CONNECT_LINE_MAX)
		return -EPROTO;
	if (!newline)
		return peer_done_writing(stream) ? -ECONNRESET : 0; /* the line never ends */
	/* Take the line only: what follows it is the stream's first bytes. */
	n = recv(stream, line, (size_t)(newline - line + 1), 0);
	if (n != newline - line + 1)
		return n < 0 ? -errno : -EIO;
	line[n] = '\0';
	return parse_connect(line, port);
}

int vsock_unix_send_ok(int stream, uint32_t host_port)
{
	char line[24];
	int len = snprintf(line, sizeof(line), "OK %" PRIu32 "\n", host_port);
	struct iovec iov = { line, (size_t)len };

	/* A fresh socket's buffer always has room for one short line. */
	return vsock_stream_send(stream, &iov, 1) == len ? 0 : -EIO;
}

ssize_t vsock_stream_recv(int stream, const struct iovec *iov, int iovcnt)
{
	ssize_t n = readv(stream, iov, iovcnt);

	return n < 0 ? -errno : n;
}

ssize_t vsock_stream_send(int stream, const struct iovec *iov, int iovcnt)
{
	/* MSG_NOSIGNAL: a peer that went away is an error, not SIGPIPE. */
	struct msghdr msg = { .msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)iovcnt };
	ssize_t n = sendmsg(stream, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);

	return n < 0 ? -errno : n;
}

bool vsock_stream_hung_up(int stream)
{
	struct pollfd fd = { .fd = stream, .events = POLLOUT };

	return poll(&fd, 1, 0) == 1 && (fd.revents & (POLLHUP | POLLERR));
}

void vsock_stream_shutdown_send(int stream)
{
	shutdown(stream, SHUT_WR);
}

void vsock_stream_close(int stream)
{
	close(stream);
}
