/* SPDX-License-Identifier: MIT */
/*
 * The host side of virtio-vsock: Unix stream sockets, as in Firecracker's
 * hybrid vsock, so the host needs no vsock module.
 *
 *   host -> guest: a program connects to PATH and writes "CONNECT <port>\n";
 *                  once the guest accepts, kiln answers "OK <host-port>\n"
 *                  and the socket carries the stream's bytes.
 *   guest -> host: a guest connect to (CID 2, port P) connects to "PATH_P".
 *
 * The device sees streams (an int handle), tags and events; the sockets,
 * the epoll set and the handshake's text live here. Nothing here knows
 * virtio.
 */
#ifndef KILN_BACKENDS_VSOCK_UNIX_H
#define KILN_BACKENDS_VSOCK_UNIX_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "util/error.h"

/* Tags the backend keeps for itself; a stream's tag is the device's. */
#define VSOCK_UNIX_TAG_LISTENER UINT64_MAX
#define VSOCK_UNIX_TAG_WAKE     (UINT64_MAX - 1)

/* What happened to a watched stream (bits). */
#define VSOCK_STREAM_READABLE 1u
#define VSOCK_STREAM_WRITABLE 2u
#define VSOCK_STREAM_HANGUP   4u   /* the peer closed, or an error */

struct vsock_unix {
	char path[108];          /* PATH (sun_path's size) */
	int listen_fd;           /* -1 until vsock_unix_listen */
	int epoll_fd;            /* every stream, the listener and wake_fd */
	int wake_fd;             /* eventfd: another thread has work for the poller */
	bool bound;              /* this kiln made PATH: removed at the end */
};

struct vsock_unix_event {
	uint64_t tag;
	unsigned int what;       /* VSOCK_STREAM_* bits */
};

/* Check path, make the epoll set and the wake eventfd; no socket yet.
 * 0 or -errno with err. */
int vsock_unix_init(struct vsock_unix *u, const char *path, struct kiln_err *err);
/* Listen on PATH. A live listener there (another kiln) is refused with a
 * clear message; a stale socket file nobody listens on is replaced. */
int vsock_unix_listen(struct vsock_unix *u, struct kiln_err *err);
/* Close everything and remove PATH if this kiln made it. */
void vsock_unix_close(struct vsock_unix *u);

/* The fd a poller sleeps on (readable when vsock_unix_events has some). */
int vsock_unix_poll_fd(const struct vsock_unix *u);
/* Up to max events, without blocking; their count, or -errno. */
int vsock_unix_events(struct vsock_unix *u, struct vsock_unix_event *ev, int max);
/* Wake the poller (from another thread); vsock_unix_events drains it. */
void vsock_unix_wake(struct vsock_unix *u);

/* A new host connection on PATH: its stream, -EAGAIN when none waits. */
int vsock_unix_accept(struct vsock_unix *u);
/* A stream to the host program listening on PATH_port; -errno (e.g.
 * -ECONNREFUSED, -ENOENT) when nobody does. */
int vsock_unix_connect(const struct vsock_unix *u, uint32_t port);
/* Watch stream (edge-triggered) and report its events with tag. */
int vsock_unix_watch(struct vsock_unix *u, int stream, uint64_t tag);

/* Read the "CONNECT <port>\n" line, and nothing after it: 1 with *port,
 * 0 while the line is incomplete, -EPROTO for anything else, -errno. */
int vsock_unix_read_connect(int stream, uint32_t *port);
/* Answer "OK <host_port>\n". */
int vsock_unix_send_ok(int stream, uint32_t host_port);

/* Stream I/O, never blocking: bytes moved, 0 at end of input (recv),
 * -EAGAIN when nothing can move now, or -errno. */
ssize_t vsock_stream_recv(int stream, const struct iovec *iov, int iovcnt);
ssize_t vsock_stream_send(int stream, const struct iovec *iov, int iovcnt);
/* The peer closed its whole socket (not only its sending half). */
bool vsock_stream_hung_up(int stream);
void vsock_stream_shutdown_send(int stream);
void vsock_stream_close(int stream);

#endif
