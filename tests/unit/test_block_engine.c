// SPDX-License-Identifier: MIT
/* The block engine through its interface only, on a real image file: every
 * operation, a batch sent with one submit, completions with the right user
 * data and results, the notifier, the depth limit, and results that report
 * a short transfer or an error instead of hiding it. */
#include <criterion/criterion.h>
#include <liburing.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backends/block_engine.h"

#define IMAGE_BYTES (1ULL << 20)
#define BLOCK 4096

static char path[64];
static struct block_backend backend;
static struct block_engine *engine;

/* Block b of the image holds the byte b + 1 throughout. */
static uint8_t pattern_of(uint64_t offset)
{
	return (uint8_t)(offset / BLOCK + 1);
}

static void make_image(void)
{
	uint8_t block[BLOCK];
	int fd;

	/* Not tmpfs: the image lives where O_DIRECT works, like a real one. */
	snprintf(path, sizeof(path), "/var/tmp/kiln-engine-XXXXXX");
	fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	for (uint64_t off = 0; off < IMAGE_BYTES; off += BLOCK) {
		memset(block, pattern_of(off), sizeof(block));
		cr_assert_eq(pwrite(fd, block, sizeof(block), (off_t)off), BLOCK);
	}
	close(fd);
}

static void open_engine(bool readonly, unsigned int depth)
{
	struct kiln_err err = { 0 };

	cr_assert_eq(block_open(&backend, path, readonly, BLOCK_DIRECT_AUTO, &err), 0, "%s",
		     err.msg);
	cr_assert_eq(block_engine_create(&engine, &backend, depth), 0);
}

static void setup(void)
{
	make_image();
	engine = NULL;
}

static void teardown(void)
{
	block_engine_destroy(engine);
	block_close(&backend);
	unlink(path);
}

TestSuite(block_engine, .init = setup, .fini = teardown, .timeout = 30);

static void *aligned_buffer(size_t len)
{
	void *p = NULL;

	cr_assert_eq(posix_memalign(&p, BLOCK, len), 0);
	return p;
}

/* Submit what is queued, then wait for and reap exactly n completions. */
static void collect(struct block_completion *out, unsigned int n)
{
	unsigned int got = 0;

	while (got < n) {
		cr_assert_eq(block_engine_wait(engine), 0);
		got += block_engine_reap(engine, out + got, n - got);
	}
	cr_assert_eq(block_engine_in_flight(engine), 0, "all %u reaped", n);
}

static bool notifier_readable(int timeout_ms)
{
	struct pollfd p = { .fd = engine->notifier_fd, .events = POLLIN };

	return poll(&p, 1, timeout_ms) == 1;
}

static void file_read(uint64_t off, void *buf, size_t len)
{
	int fd = open(path, O_RDONLY);

	cr_assert_eq(pread(fd, buf, len, (off_t)off), (ssize_t)len);
	close(fd);
}

Test(block_engine, vectored_write_then_read_round_trips)
{
	uint8_t *out = aligned_buffer(2 * BLOCK), *in = aligned_buffer(2 * BLOCK), back[2 * BLOCK];
	struct iovec wv[2] = { { out, BLOCK }, { out + BLOCK, BLOCK } };
	struct iovec rv[2] = { { in + BLOCK, BLOCK }, { in, BLOCK } };
	struct block_completion done;

	open_engine(false, 8);
	for (int i = 0; i < 2 * BLOCK; i++)
		out[i] = (uint8_t)(i * 7 + 3);
	cr_assert_eq(block_engine_write(engine, wv, 2, 16 * BLOCK, 0xabcdef0123ULL), 0);
	collect(&done, 1);
	cr_assert_eq(done.user_data, 0xabcdef0123ULL);
	cr_assert_eq(done.result, 2 * BLOCK, "bytes written");
	file_read(16 * BLOCK, back, sizeof(back));
	cr_assert_arr_eq(back, out, sizeof(back), "the write reached the file");

	/* Read it back with the segments swapped: the engine honours the iovec order. */
	cr_assert_eq(block_engine_read(engine, rv, 2, 16 * BLOCK, 42), 0);
	collect(&done, 1);
	cr_assert_eq(done.user_data, 42);
	cr_assert_eq(done.result, 2 * BLOCK);
	cr_assert_arr_eq(in + BLOCK, out, BLOCK);
	cr_assert_arr_eq(in, out + BLOCK, BLOCK);
	free(out);
	free(in);
}

Test(block_engine, a_batch_of_many_goes_out_with_one_submit)
{
	enum { N = 64 };
	uint8_t *buf = aligned_buffer(N * BLOCK);
	struct iovec iov[N];
	struct block_completion done[N];
	bool seen[N] = { false };

	open_engine(false, N);
	for (unsigned int i = 0; i < N; i++) {
		/* Every other block, backwards, so order and offsets both matter. */
		uint64_t off = (uint64_t)(2 * (N - 1 - i)) * BLOCK;

		iov[i] = (struct iovec){ buf + i * BLOCK, BLOCK };
		cr_assert_eq(block_engine_read(engine, &iov[i], 1, off, 1000 + i), 0);
	}
	cr_assert_eq(block_engine_in_flight(engine), N, "queued, not yet submitted");
	cr_assert_eq(block_engine_submit(engine), N, "one submit sends the whole batch");
	cr_assert_eq(block_engine_submit(engine), 0, "nothing left to send");
	collect(done, N);
	for (unsigned int k = 0; k < N; k++) {
		unsigned int i = (unsigned int)(done[k].user_data - 1000);

		cr_assert_lt(i, N, "user data %llu is one we gave",
			     (unsigned long long)done[k].user_data);
		cr_assert_not(seen[i], "request %u completed twice", i);
		seen[i] = true;
		cr_assert_eq(done[k].result, BLOCK);
		for (unsigned int b = 0; b < BLOCK; b++)
			cr_assert_eq(buf[i * BLOCK + b], pattern_of((uint64_t)(2 * (N - 1 - i)) * BLOCK),
				     "request %u byte %u", i, b);
	}
	free(buf);
}

Test(block_engine, the_notifier_is_readable_exactly_while_completions_wait)
{
	uint8_t *buf = aligned_buffer(BLOCK);
	struct iovec iov = { buf, BLOCK };
	struct block_completion done;

	open_engine(false, 4);
	cr_assert_not(notifier_readable(0), "quiet before any I/O");
	cr_assert_not(block_engine_has_completions(engine));
	cr_assert_eq(block_engine_read(engine, &iov, 1, 0, 7), 0);
	cr_assert_eq(block_engine_submit(engine), 1);
	cr_assert(notifier_readable(5000), "readable once the read completed");
	cr_assert(block_engine_has_completions(engine));
	cr_assert_eq(block_engine_reap(engine, &done, 1), 1);
	cr_assert_eq(done.user_data, 7);
	cr_assert_not(notifier_readable(0), "reaping cleared it");
	cr_assert_not(block_engine_has_completions(engine));
	cr_assert_eq(block_engine_reap(engine, &done, 1), 0, "nothing more to reap");
	free(buf);
}

Test(block_engine, flush_discard_and_write_zeroes)
{
	uint8_t *buf = aligned_buffer(BLOCK), back[4 * BLOCK], zero[4 * BLOCK] = { 0 };
	uint8_t before[BLOCK], after[BLOCK];
	struct iovec iov = { buf, BLOCK };
	struct block_completion done[3];

	open_engine(false, 8);
	memset(buf, 0x5c, BLOCK);
	cr_assert_eq(block_engine_write(engine, &iov, 1, 100 * BLOCK, 1), 0);
	cr_assert_eq(block_engine_flush(engine, 2), 0);
	collect(done, 2);
	for (int k = 0; k < 2; k++)
		cr_assert_eq(done[k].result, done[k].user_data == 1 ? BLOCK : 0,
			     "op %llu", (unsigned long long)done[k].user_data);

	file_read(9 * BLOCK, before, BLOCK);
	file_read(14 * BLOCK, after, BLOCK);
	cr_assert_eq(block_engine_discard(engine, 10 * BLOCK, 4 * BLOCK, 10), 0);
	cr_assert_eq(block_engine_write_zeroes(engine, 20 * BLOCK, 4 * BLOCK, false, 11), 0);
	cr_assert_eq(block_engine_write_zeroes(engine, 30 * BLOCK, 4 * BLOCK, true, 12), 0);
	collect(done, 3);
	for (int k = 0; k < 3; k++)
		cr_assert_eq(done[k].result, 0, "op %llu: %s", (unsigned long long)done[k].user_data,
			     strerror((int)-done[k].result));
	for (uint64_t start = 10; start <= 30; start += 10) {
		file_read(start * BLOCK, back, sizeof(back));
		cr_assert_arr_eq(back, zero, sizeof(back), "blocks %llu.. read back zero",
				 (unsigned long long)start);
	}
	file_read(9 * BLOCK, back, BLOCK);
	cr_assert_arr_eq(back, before, BLOCK, "the block before the discard is untouched");
	file_read(14 * BLOCK, back, BLOCK);
	cr_assert_arr_eq(back, after, BLOCK, "the block after it too");
	file_read(100 * BLOCK, back, BLOCK);
	cr_assert_arr_eq(back, buf, BLOCK, "the flushed write is there");
	free(buf);
}

Test(block_engine, a_read_past_the_end_reports_a_short_transfer)
{
	uint8_t *buf = aligned_buffer(4 * BLOCK);
	struct iovec iov = { buf, 4 * BLOCK };
	struct block_completion done;

	open_engine(false, 4);
	cr_assert_eq(block_engine_read(engine, &iov, 1, IMAGE_BYTES - BLOCK, 5), 0);
	collect(&done, 1);
	cr_assert_eq(done.user_data, 5);
	cr_assert_eq(done.result, BLOCK, "only the last block exists");
	cr_assert_eq(buf[0], pattern_of(IMAGE_BYTES - BLOCK));
	free(buf);
}

Test(block_engine, errors_come_back_as_negative_errno)
{
	uint8_t *buf = aligned_buffer(BLOCK);
	struct iovec iov = { buf, BLOCK };
	struct block_completion done[2];

	/* Read-only descriptors: the host refuses the writes, not the engine. */
	open_engine(true, 4);
	memset(buf, 0x11, BLOCK);
	cr_assert_eq(block_engine_write(engine, &iov, 1, 0, 1), 0);
	cr_assert_eq(block_engine_write_zeroes(engine, 0, BLOCK, false, 2), 0);
	collect(done, 2);
	for (int k = 0; k < 2; k++)
		cr_assert_eq(done[k].result, -EBADF, "op %llu: %lld",
			     (unsigned long long)done[k].user_data, (long long)done[k].result);
	file_read(0, buf, BLOCK);
	cr_assert_eq(buf[0], pattern_of(0), "the image is unchanged");
	free(buf);
}

Test(block_engine, it_holds_depth_operations_and_no_more)
{
	uint8_t *buf = aligned_buffer(BLOCK);
	struct iovec iov = { buf, BLOCK };
	struct block_completion done[4];

	open_engine(false, 4);
	for (int i = 0; i < 4; i++)
		cr_assert_eq(block_engine_read(engine, &iov, 1, 0, (uint64_t)i), 0);
	cr_assert_eq(block_engine_flush(engine, 9), -EAGAIN, "a fifth is refused");
	cr_assert_eq(block_engine_in_flight(engine), 4);
	collect(done, 4);
	cr_assert_eq(block_engine_flush(engine, 9), 0, "room again once reaped");
	collect(done, 1);
	cr_assert_eq(done[0].user_data, 9);
	cr_assert_eq(block_engine_wait(engine), 0, "waiting with nothing in flight returns");
	free(buf);
}

Test(block_engine, a_backend_replaced_in_place_serves_the_next_operation)
{
	uint8_t *buf = aligned_buffer(BLOCK);
	struct iovec iov = { buf, BLOCK };
	struct kiln_err err = { 0 };
	struct block_completion done;
	char other[64];
	int fd;

	snprintf(other, sizeof(other), "/var/tmp/kiln-engine2-XXXXXX");
	fd = mkstemp(other);
	cr_assert_geq(fd, 0);
	memset(buf, 0xd7, BLOCK);
	cr_assert_eq(pwrite(fd, buf, BLOCK, 0), BLOCK);
	close(fd);
	open_engine(false, 4);
	cr_assert_eq(block_replace(&backend, other, &err), 0, "%s", err.msg);
	cr_assert_eq(backend.size, BLOCK);
	memset(buf, 0, BLOCK);
	cr_assert_eq(block_engine_read(engine, &iov, 1, 0, 1), 0);
	collect(&done, 1);
	cr_assert_eq(done.result, BLOCK);
	cr_assert_eq(buf[0], 0xd7, "read from the new file");
	cr_assert_eq(buf[BLOCK - 1], 0xd7);
	unlink(other);
	free(buf);
}

Test(block_engine, a_fifo_is_refused_without_waiting_for_a_writer)
{
	char dir[] = "/tmp/kiln-fifo-XXXXXX", path[64];
	struct block_backend b;
	struct kiln_err err = { 0 };

	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/disk", dir);
	cr_assert_eq(mkfifo(path, 0600), 0);
	/* A client names a FIFO as a drive: an error at once, not a hang. */
	cr_assert_eq(block_open(&b, path, true, BLOCK_DIRECT_AUTO, &err), -EINVAL);
	cr_assert(strstr(err.msg, "not a regular file or block device"), "%s", err.msg);
	unlink(path);
	rmdir(dir);
}

/* A ring restricted as every engine's is carries block I/O, and the kernel
 * refuses anything else (here: opening a file), so a thread allowed
 * io_uring_enter cannot have the kernel's workers open files for it. */
Test(block_engine, ring_refuses_what_block_io_does_not_need)
{
	struct io_uring ring;
	struct io_uring_cqe *cqe;
	char byte = 'k', got = 0;
	struct iovec iov = { &got, 1 };
	int pipe_fds[2];

	cr_assert_eq(io_uring_queue_init(4, &ring, IORING_SETUP_R_DISABLED), 0);
	cr_assert_eq(block_uring_restrict(&ring), 0);
	cr_assert_eq(pipe(pipe_fds), 0);
	cr_assert_eq(write(pipe_fds[1], &byte, 1), 1);
	io_uring_prep_readv(io_uring_get_sqe(&ring), pipe_fds[0], &iov, 1, 0);
	cr_assert_eq(io_uring_submit_and_wait(&ring, 1), 1);
	cr_assert_eq(io_uring_wait_cqe(&ring, &cqe), 0);
	cr_assert_eq(cqe->res, 1, "a read is allowed: %d", cqe->res);
	cr_assert_eq(got, 'k');
	io_uring_cqe_seen(&ring, cqe);
	io_uring_prep_openat(io_uring_get_sqe(&ring), AT_FDCWD, "/etc/hostname", O_RDONLY, 0);
	io_uring_submit(&ring);
	cr_assert_eq(io_uring_wait_cqe(&ring, &cqe), 0);
	cr_assert_eq(cqe->res, -EACCES, "openat through the ring: %d", cqe->res);
	io_uring_cqe_seen(&ring, cqe);
	cr_assert_lt(io_uring_register_eventfd(&ring, pipe_fds[1]), 0,
		     "no registration after the restrictions");
	io_uring_queue_exit(&ring);
	close(pipe_fds[0]);
	close(pipe_fds[1]);
}
