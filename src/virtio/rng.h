/* SPDX-License-Identifier: MIT */
/* virtio-rng (virtio 1.2, 5.4): one request queue; every writable buffer
 * the driver offers is filled from the host's getrandom(). */
#ifndef KILN_VIRTIO_RNG_H
#define KILN_VIRTIO_RNG_H

#include "devices/device.h"
#include "virtio/worker.h"

#define VIRTIO_ID_RNG 4
#define VIRTIO_RNG_QUEUES 1

/* virtq_handler_fn for the request queue; device may be NULL. */
long virtio_rng_handle(void *device, struct virtq_worker *w, struct virtq_chain *chain);

/* The board's entry: one virtio-rng with --rng. */
extern const struct device_kind virtio_rng_kind;

#endif
