/* SPDX-License-Identifier: MIT */
/*
 * virtio-console (virtio 1.2, 5.3) with one port and no multiport: queue 0
 * receives (host input into the guest's buffers), queue 1 transmits (the
 * guest's output to a file or the terminal). Linux calls the port hvc0.
 */
#ifndef KILN_VIRTIO_CONSOLE_H
#define KILN_VIRTIO_CONSOLE_H

#include <pthread.h>

#include "devices/device.h"
#include "util/bounded_output.h"
#include "virtio/worker.h"

#define VIRTIO_ID_CONSOLE 3
#define VIRTIO_CONSOLE_QUEUES 2
#define CONSOLE_RX_PENDING 256
#define CONSOLE_IN_BUFFER 4096

struct console_rx {
	uint16_t head;
	void *buf;             /* the chain's first writable buffer */
	uint32_t len;
};

struct virtio_console {
	struct bounded_output out;  /* where the guest's output goes */
	int in_fd;             /* host input, -1 for none */
	pthread_mutex_t lock;  /* the two queues' workers share the state */
	struct console_rx rx[CONSOLE_RX_PENDING];
	unsigned int nr_rx;
	uint8_t input[CONSOLE_IN_BUFFER];
	size_t input_len;
	bool input_closed;
	int opened_fd;         /* out.fd when kiln opened it (a file), else -1 */
};

void virtio_console_init(struct virtio_console *con, int out_fd, int in_fd);
long virtio_console_handle(void *device, struct virtq_worker *w, struct virtq_chain *chain);
/* Queue 0 also sleeps on the input fd. */
int virtio_console_queue_poll(void *device, unsigned int queue, struct virtq_worker_poll *poll);

/* A reset queue's receive buffers belong to the old ring: forget them. */
void virtio_console_queue_stop(void *device, unsigned int queue);

/* The board's entry: hvc0 when --virtio-console or --console virtio. */
extern const struct device_kind virtio_console_kind;

#endif
