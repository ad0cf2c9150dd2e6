// SPDX-License-Identifier: MIT
/*
 * The io_uring block engine: one ring per engine (per virtqueue), every
 * operation one submission entry tagged with a slot of ours, one
 * io_uring_submit per batch, completions signalled on an eventfd.
 */
#include "backends/block_engine.h"

#include <errno.h>
#include <linux/falloc.h>
#include <liburing.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "util/log.h"

/* An operation between queueing and reaping: the caller's tag, and for
 * write-zeroes the range, in case the file system cannot zero it. */
struct uring_slot {
	uint64_t user_data;
	uint64_t offset, len;
	bool zeroes;
	uint32_t next_free;
};

struct uring_engine {
	struct block_engine base;
	struct io_uring ring;
	unsigned int depth;
	unsigned int in_flight;
	uint32_t free_head;          /* first free slot; depth when none */
	struct uring_slot slots[];
};

static struct uring_engine *uring_of(struct block_engine *e)
{
	return (struct uring_engine *)e;
}

/* A slot and a submission entry for one operation, or NULL when the engine
 * is at its depth. The ring has as many entries as there are slots, so a
 * free slot always finds a free entry. */
static struct io_uring_sqe *take_slot(struct uring_engine *u, uint64_t user_data,
				      struct uring_slot **slot_out)
{
	uint32_t s = u->free_head;
	struct io_uring_sqe *sqe;

	if (s >= u->depth)
		return NULL;
	sqe = io_uring_get_sqe(&u->ring);
	if (!sqe)
		return NULL;
	u->free_head = u->slots[s].next_free;
	u->slots[s] = (struct uring_slot){ .user_data = user_data };
	u->in_flight++;
	io_uring_sqe_set_data64(sqe, s);
	if (slot_out)
		*slot_out = &u->slots[s];
	return sqe;
}

static void release_slot(struct uring_engine *u, uint32_t s)
{
	u->slots[s].next_free = u->free_head;
	u->free_head = s;
	u->in_flight--;
}

/* A vectored read or write: O_DIRECT when block_fd_for says it can be. */
static int uring_vectored(struct block_engine *e, int op, const struct iovec *iov,
			  unsigned int n, uint64_t offset, uint64_t user_data)
{
	struct io_uring_sqe *sqe = take_slot(uring_of(e), user_data, NULL);

	if (!sqe)
		return -EAGAIN;
	io_uring_prep_rw(op, sqe, block_fd_for(e->backend, iov, n, offset), iov, n, offset);
	return 0;
}

static int uring_read(struct block_engine *e, const struct iovec *iov, unsigned int n,
		      uint64_t offset, uint64_t user_data)
{
	return uring_vectored(e, IORING_OP_READV, iov, n, offset, user_data);
}

static int uring_write(struct block_engine *e, const struct iovec *iov, unsigned int n,
		       uint64_t offset, uint64_t user_data)
{
	return uring_vectored(e, IORING_OP_WRITEV, iov, n, offset, user_data);
}

static int uring_flush(struct block_engine *e, uint64_t user_data)
{
	struct io_uring_sqe *sqe = take_slot(uring_of(e), user_data, NULL);

	if (!sqe)
		return -EAGAIN;
	io_uring_prep_fsync(sqe, e->backend->fd, IORING_FSYNC_DATASYNC);
	return 0;
}

static int uring_discard(struct block_engine *e, uint64_t offset, uint64_t len,
			 uint64_t user_data)
{
	struct io_uring_sqe *sqe = take_slot(uring_of(e), user_data, NULL);

	if (!sqe)
		return -EAGAIN;
	io_uring_prep_fallocate(sqe, e->backend->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				(off_t)offset, (off_t)len);
	return 0;
}

static int uring_write_zeroes(struct block_engine *e, uint64_t offset, uint64_t len,
			      bool unmap, uint64_t user_data)
{
	int mode = unmap ? FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE
			 : FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE;
	struct uring_slot *slot;
	struct io_uring_sqe *sqe = take_slot(uring_of(e), user_data, &slot);

	if (!sqe)
		return -EAGAIN;
	slot->zeroes = true;
	slot->offset = offset;
	slot->len = len;
	io_uring_prep_fallocate(sqe, e->backend->fd, mode, (off_t)offset, (off_t)len);
	return 0;
}

static int uring_submit(struct block_engine *e)
{
	struct uring_engine *u = uring_of(e);

	/* Nothing queued: no system call. */
	if (!io_uring_sq_ready(&u->ring))
		return 0;
	return io_uring_submit(&u->ring);
}

/* The result of slot s's operation, with write-zeroes finished the slow way
 * where the file system can neither zero nor punch a range (rare: it
 * blocks this thread for the plain writes). */
static int64_t settle(struct block_engine *e, const struct uring_slot *slot, int32_t res)
{
	if (slot->zeroes && res == -EOPNOTSUPP)
		return block_zero_fill(e->backend, slot->offset, slot->len);
	return res;
}

static unsigned int uring_reap(struct block_engine *e, struct block_completion *out,
			       unsigned int max)
{
	struct uring_engine *u = uring_of(e);
	struct io_uring_cqe *cqe;
	unsigned int n = 0;
	uint64_t count;

	/* Clear the notifier first: completions posted after this re-arm it. */
	if (read(e->notifier_fd, &count, sizeof(count)) < 0 && errno != EAGAIN)
		pr_warn("block engine: cannot read its notifier: %s", strerror(errno));
	while (n < max && io_uring_peek_cqe(&u->ring, &cqe) == 0) {
		uint32_t s = (uint32_t)io_uring_cqe_get_data64(cqe);
		int32_t res = cqe->res;

		io_uring_cqe_seen(&u->ring, cqe);
		out[n].user_data = u->slots[s].user_data;
		out[n].result = settle(e, &u->slots[s], res);
		release_slot(u, s);
		n++;
	}
	return n;
}

static bool uring_has_completions(struct block_engine *e)
{
	return io_uring_cq_ready(&uring_of(e)->ring) > 0;
}

static int uring_wait(struct block_engine *e)
{
	struct uring_engine *u = uring_of(e);
	struct io_uring_cqe *cqe;
	int ret = uring_submit(e);

	if (ret < 0)
		return ret;
	if (!u->in_flight || io_uring_cq_ready(&u->ring))
		return 0;
	return io_uring_wait_cqe(&u->ring, &cqe);
}

static unsigned int uring_in_flight(const struct block_engine *e)
{
	return ((const struct uring_engine *)e)->in_flight;
}

/* Leaving buffers to the kernel after they are freed is never right: wait
 * for whatever is still in flight, dropping its results. */
static void uring_destroy(struct block_engine *e)
{
	struct uring_engine *u = uring_of(e);
	struct block_completion dropped[16];

	while (u->in_flight) {
		int ret = uring_wait(e);

		if (ret < 0 && ret != -EINTR && ret != -EAGAIN) {
			pr_err("block engine: %u operations left in flight: %s", u->in_flight,
			       strerror(-ret));
			break;
		}
		uring_reap(e, dropped, 16);
	}
	io_uring_queue_exit(&u->ring);
	close(e->notifier_fd);
	free(u);
}

static const struct block_engine_ops uring_ops = {
	.read = uring_read,
	.write = uring_write,
	.flush = uring_flush,
	.discard = uring_discard,
	.write_zeroes = uring_write_zeroes,
	.submit = uring_submit,
	.reap = uring_reap,
	.has_completions = uring_has_completions,
	.wait = uring_wait,
	.in_flight = uring_in_flight,
	.destroy = uring_destroy,
};

/*
 * The operations a ring may ever carry. Its operations run in the kernel's
 * io_uring workers, outside the seccomp filter of the thread that submits
 * them: without this list a subverted thread allowed io_uring_enter could
 * have the kernel open files or sockets for it. With it the kernel refuses
 * every other operation, and every further registration, for the ring's
 * life.
 */
static const uint8_t allowed_ops[] = {
	IORING_OP_READV, IORING_OP_WRITEV, IORING_OP_FSYNC, IORING_OP_FALLOCATE,
};

int block_uring_restrict(struct io_uring *ring)
{
	struct io_uring_restriction res[sizeof(allowed_ops)] = { 0 };
	int ret;

	for (unsigned int i = 0; i < sizeof(allowed_ops); i++) {
		res[i].opcode = IORING_RESTRICTION_SQE_OP;
		res[i].sqe_op = allowed_ops[i];
	}
	/* The system call itself: Debian's liburing 2.3 declares
	 * io_uring_register_restrictions and io_uring_enable_rings but its
	 * library does not export them. */
	ret = (int)syscall(__NR_io_uring_register, ring->ring_fd, IORING_REGISTER_RESTRICTIONS,
			   res, sizeof(allowed_ops));
	if (ret >= 0)
		ret = (int)syscall(__NR_io_uring_register, ring->ring_fd,
				   IORING_REGISTER_ENABLE_RINGS, NULL, 0);
	return ret < 0 ? -errno : 0;
}

/* The ring, with the engine's notifier registered for its completions and
 * then its operations restricted (it is created disabled until then). */
static int ring_init(struct uring_engine *u)
{
	int ret;

	/* Completions are taken by the thread when it next enters the kernel
	 * instead of interrupting it where it runs (it sleeps in poll() when
	 * idle, which such a completion still wakes). Kernels before 5.19
	 * refuse the flag: fall back to the default. */
	ret = io_uring_queue_init(u->depth, &u->ring,
				  IORING_SETUP_COOP_TASKRUN | IORING_SETUP_R_DISABLED);
	if (ret == -EINVAL)
		ret = io_uring_queue_init(u->depth, &u->ring, IORING_SETUP_R_DISABLED);
	if (ret < 0)
		return ret;
	ret = io_uring_register_eventfd(&u->ring, u->base.notifier_fd);
	if (ret >= 0)
		ret = block_uring_restrict(&u->ring);
	if (ret < 0)
		io_uring_queue_exit(&u->ring);
	return ret;
}

int block_engine_create(struct block_engine **out, const struct block_backend *backend,
			unsigned int depth)
{
	struct uring_engine *u;
	int ret;

	if (depth == 0)
		return -EINVAL;
	u = calloc(1, sizeof(*u) + depth * sizeof(u->slots[0]));
	if (!u)
		return -ENOMEM;
	u->base.ops = &uring_ops;
	u->base.backend = backend;
	u->depth = depth;
	for (uint32_t s = 0; s < depth; s++)
		u->slots[s].next_free = s + 1;
	u->base.notifier_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (u->base.notifier_fd < 0) {
		ret = -errno;
		free(u);
		return ret;
	}
	ret = ring_init(u);
	if (ret < 0) {
		close(u->base.notifier_fd);
		free(u);
		return ret;
	}
	*out = &u->base;
	return 0;
}
