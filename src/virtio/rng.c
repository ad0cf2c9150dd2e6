// SPDX-License-Identifier: MIT
#include "virtio/rng.h"

#include "virtio/pci_device.h"

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

static int virtio_rng_create(const struct device_env *env, struct kiln_err *err)
{
	static const struct virtio_device_model model = {
		.device_id = VIRTIO_ID_RNG, .class_code = 0xff0000,
		.nr_queues = VIRTIO_RNG_QUEUES, .queue_max_size = 256,
		.handler = virtio_rng_handle,
		.worker_sandbox = SANDBOX_THREAD_WORKER_RNG,
	};

	return env->cfg->rng ? virtio_pci_device_add(env, "rng0", &model, NULL, err) : 0;
}

const struct device_kind virtio_rng_kind = { "virtio-rng", virtio_rng_create };
