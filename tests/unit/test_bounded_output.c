// SPDX-License-Identifier: MIT
/* Console output with a size limit: a file stops growing at the limit, with
 * one line on stderr; terminals and pipes are never cut. */
#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/bounded_output.h"

#define LIMIT_LINE "kiln: warning: COM1 output file reached its limit of 10 bytes " \
		   "(--console-limit); further output dropped\n"

static int temp_file(void)
{
	char path[] = "/tmp/kiln-bounded-XXXXXX";
	int fd = mkstemp(path);

	cr_assert_geq(fd, 0);
	unlink(path);
	return fd;
}

static size_t file_contents(int fd, char *buf, size_t size)
{
	ssize_t n = pread(fd, buf, size, 0);

	cr_assert_geq(n, 0);
	return (size_t)n;
}

Test(bounded_output, file_stops_at_the_limit_and_says_so_once, .init = cr_redirect_stderr)
{
	struct bounded_output out;
	int fd = temp_file();
	char buf[64];

	bounded_output_init(&out, fd, "COM1");
	bounded_output_set_limit(&out, 10);
	cr_assert_eq(bounded_output_write(&out, "abcdef", 6), 0);
	cr_assert_eq(bounded_output_write(&out, "ghijkl", 6), 2, "two bytes past the limit");
	cr_assert_eq(bounded_output_write(&out, "mno", 3), 3);
	cr_assert_eq(bounded_output_write(&out, "p", 1), 1);
	cr_assert_eq(file_contents(fd, buf, sizeof(buf)), 10);
	cr_assert_eq(memcmp(buf, "abcdefghij", 10), 0);
	fflush(stderr);
	cr_assert_stderr_eq_str(LIMIT_LINE, "exactly one line, the first time only");
	close(fd);
}

Test(bounded_output, zero_is_no_limit, .init = cr_redirect_stderr)
{
	struct bounded_output out;
	int fd = temp_file();
	char data[4096], buf[sizeof(data) + 1];

	memset(data, 'x', sizeof(data));
	bounded_output_init(&out, fd, "COM1");
	bounded_output_set_limit(&out, 0);
	cr_assert_eq(bounded_output_write(&out, data, sizeof(data)), 0);
	cr_assert_eq(file_contents(fd, buf, sizeof(buf)), sizeof(data));
	fflush(stderr);
	cr_assert_stderr_eq_str("");
	close(fd);
}

Test(bounded_output, a_pipe_fills_no_disk_and_is_never_cut)
{
	struct bounded_output out;
	int pipe_fds[2];
	char buf[32];

	cr_assert_eq(pipe(pipe_fds), 0);
	bounded_output_init(&out, pipe_fds[1], "COM1");
	bounded_output_set_limit(&out, 4);
	cr_assert_eq(bounded_output_write(&out, "0123456789", 10), 0);
	cr_assert_eq(read(pipe_fds[0], buf, sizeof(buf)), 10);
	cr_assert_eq(memcmp(buf, "0123456789", 10), 0);
	close(pipe_fds[0]);
	close(pipe_fds[1]);
}

Test(bounded_output, no_fd_discards)
{
	struct bounded_output out;

	bounded_output_init(&out, -1, "COM1");
	bounded_output_set_limit(&out, 4);
	cr_assert_eq(bounded_output_write(&out, "0123456789", 10), 0);
}
