// SPDX-License-Identifier: MIT
#include "util/bounded_output.h"

#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/log.h"

void bounded_output_init(struct bounded_output *out, int fd, const char *name)
{
	struct stat st;

	*out = (struct bounded_output){ .fd = fd, .name = name };
	out->is_file = fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
}

void bounded_output_set_limit(struct bounded_output *out, uint64_t limit)
{
	out->limit = limit;
}

/* Best effort, like a wire: a closed terminal must not stop the guest. */
static void write_all(int fd, const uint8_t *p, size_t len)
{
	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		p += n;
		len -= (size_t)n;
	}
}

size_t bounded_output_write(struct bounded_output *out, const void *buf, size_t len)
{
	size_t allowed = len;

	if (out->fd < 0)
		return 0;
	if (out->is_file && out->limit) {
		uint64_t room = out->limit - out->written;

		if (len > room)
			allowed = (size_t)room;
		if (allowed < len && !out->limit_reported) {
			out->limit_reported = true;
			pr_warn("%s output file reached its limit of %llu bytes (--console-limit); "
				"further output dropped", out->name, (unsigned long long)out->limit);
		}
	}
	write_all(out->fd, buf, allowed);
	out->written += allowed;
	return len - allowed;
}
