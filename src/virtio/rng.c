// SPDX-License-Identifier: MIT
#include "virtio/rng.h"

#include <errno.h>
#include <sys/random.h>

/* Fill len bytes at p; getrandom may return fewer than asked. */
static int fill_random(uint8_t *p, size_t len)
{
	while (len) {
		ssize_t n = getrandom(p, len, 0);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

long virtio_rng_handle(void *device, struct virtq_worker *w, struct virtq_chain *chain)
{
	long written = 0;

	(void)device;
	(void)w;
	/* Readable buffers carry nothing for this device: skip them. */
	for (unsigned int i = chain->nr_out; i < chain->nr_out + chain->nr_in; i++) {
		int ret = fill_random(chain->iov[i].iov_base, chain->iov[i].iov_len);

		if (ret)
			return written ? written : ret;
		written += (long)chain->iov[i].iov_len;
	}
	return written;
}
