/* SPDX-License-Identifier: MIT */
/*
 * A block engine: how a device does asynchronous I/O on a block backend
 * without knowing how it is done. The device queues operations, each tagged
 * with its own user data, sends them all with one submit, and reaps
 * completions (user data and result) once the engine's notifier fd is
 * readable. io_uring is the one engine (block_uring.c); a device sees only
 * this table, so another engine (a thread pool, a test double) plugs in
 * without touching it.
 *
 * One engine serves one thread: a virtqueue's worker queues, submits and
 * reaps on it, and nothing else does meanwhile.
 */
#ifndef KILN_BACKENDS_BLOCK_ENGINE_H
#define KILN_BACKENDS_BLOCK_ENGINE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "backends/block.h"

struct block_completion {
	uint64_t user_data;   /* as given when the operation was queued */
	int64_t result;       /* bytes moved (0 for flush, discard, zeroes), or -errno */
};

struct block_engine;

struct block_engine_ops {
	/* Queue one operation; it goes to the host at the next submit (or
	 * earlier, when the engine's own submission queue fills). The iovec
	 * array and its buffers must stay valid until the completion is reaped.
	 * Return 0, or -EAGAIN when the engine already holds depth operations. */
	int (*read)(struct block_engine *e, const struct iovec *iov, unsigned int n,
		    uint64_t offset, uint64_t user_data);
	int (*write)(struct block_engine *e, const struct iovec *iov, unsigned int n,
		     uint64_t offset, uint64_t user_data);
	int (*flush)(struct block_engine *e, uint64_t user_data);
	int (*discard)(struct block_engine *e, uint64_t offset, uint64_t len, uint64_t user_data);
	/* unmap: the range may be deallocated as long as it reads back zero. */
	int (*write_zeroes)(struct block_engine *e, uint64_t offset, uint64_t len, bool unmap,
			    uint64_t user_data);
	/* Send everything queued with one system call. Returns how many
	 * operations went out, or -errno. */
	int (*submit)(struct block_engine *e);
	/* Take up to max completions without sleeping; returns how many. It
	 * clears the notifier first, so call it again while it fills out. */
	unsigned int (*reap)(struct block_engine *e, struct block_completion *out,
			     unsigned int max);
	/* True when reap would find something, known without a system call. */
	bool (*has_completions)(struct block_engine *e);
	/* Submit what is queued and sleep until a completion is there to reap
	 * (at once when one is, or when nothing is in flight). 0 or -errno. */
	int (*wait)(struct block_engine *e);
	/* Operations queued or submitted whose completion was not reaped yet. */
	unsigned int (*in_flight)(const struct block_engine *e);
	void (*destroy)(struct block_engine *e);
};

struct block_engine {
	const struct block_engine_ops *ops;
	/* Read at every operation, never cached: a backend replaced in place
	 * (block_replace) while nothing is in flight serves the next one. */
	const struct block_backend *backend;
	int notifier_fd;      /* readable while completions wait to be reaped */
};

/* The host's engine (io_uring, in block_uring.c) on backend: depth
 * operations at most in flight (its rings are sized for that, so a
 * completion is never dropped). Returns 0 or -errno. */
int block_engine_create(struct block_engine **out, const struct block_backend *backend,
			unsigned int depth);

static inline int block_engine_read(struct block_engine *e, const struct iovec *iov,
				    unsigned int n, uint64_t offset, uint64_t user_data)
{
	return e->ops->read(e, iov, n, offset, user_data);
}

static inline int block_engine_write(struct block_engine *e, const struct iovec *iov,
				     unsigned int n, uint64_t offset, uint64_t user_data)
{
	return e->ops->write(e, iov, n, offset, user_data);
}

static inline int block_engine_flush(struct block_engine *e, uint64_t user_data)
{
	return e->ops->flush(e, user_data);
}

static inline int block_engine_discard(struct block_engine *e, uint64_t offset, uint64_t len,
				       uint64_t user_data)
{
	return e->ops->discard(e, offset, len, user_data);
}

static inline int block_engine_write_zeroes(struct block_engine *e, uint64_t offset,
					    uint64_t len, bool unmap, uint64_t user_data)
{
	return e->ops->write_zeroes(e, offset, len, unmap, user_data);
}

static inline int block_engine_submit(struct block_engine *e)
{
	return e->ops->submit(e);
}

static inline unsigned int block_engine_reap(struct block_engine *e,
					     struct block_completion *out, unsigned int max)
{
	return e->ops->reap(e, out, max);
}

static inline bool block_engine_has_completions(struct block_engine *e)
{
	return e->ops->has_completions(e);
}

static inline int block_engine_wait(struct block_engine *e)
{
	return e->ops->wait(e);
}

static inline unsigned int block_engine_in_flight(const struct block_engine *e)
{
	return e->ops->in_flight(e);
}

static inline void block_engine_destroy(struct block_engine *e)
{
	if (e)
		e->ops->destroy(e);
}

/* io_uring's engine: limit a ring created with IORING_SETUP_R_DISABLED to
 * the operations block I/O needs (read, write, fsync, fallocate) and no
 * further registration, then enable it. Every engine's ring is made so;
 * public for the unit test that checks the kernel refuses the rest. */
struct io_uring;
int block_uring_restrict(struct io_uring *ring);

#endif
