// SPDX-License-Identifier: MIT
#include "virtio/console.h"

#include "virtio/pci_device.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { RECEIVEQ = 0, TRANSMITQ = 1 };

void virtio_console_init(struct virtio_console *con, int out_fd, int in_fd)
{
	memset(con, 0, sizeof(*con));
	pthread_mutex_init(&con->lock, NULL);
	bounded_output_init(&con->out, out_fd, "virtio console");
	con->in_fd = in_fd;
	con->opened_fd = -1;
}

void virtio_console_queue_stop(void *device, unsigned int queue)
{
	struct virtio_console *con = device;

	if (queue != RECEIVEQ)
		return;
	pthread_mutex_lock(&con->lock);
	con->nr_rx = 0;
	pthread_mutex_unlock(&con->lock);
}

/* Hand buffered input to waiting receive buffers; worker of queue 0 only. */
static void deliver(struct virtio_console *con, struct virtq_worker *w)
{
	pthread_mutex_lock(&con->lock);
	while (con->nr_rx && con->input_len) {
		struct console_rx *rx = &con->rx[0];
		size_t n = con->input_len < rx->len ? con->input_len : rx->len;

		memcpy(rx->buf, con->input, n);
		memmove(con->input, con->input + n, con->input_len - n);
		con->input_len -= n;
		virtq_worker_complete(w, rx->head, (uint32_t)n);
		memmove(&con->rx[0], &con->rx[1], --con->nr_rx * sizeof(con->rx[0]));
	}
	pthread_mutex_unlock(&con->lock);
}

static void input_ready(void *device, struct virtq_worker *w)
{
	struct virtio_console *con = device;
	ssize_t n;

	pthread_mutex_lock(&con->lock);
	/* A full buffer takes nothing: a read of 0 bytes is not end of input. */
	if (con->input_len < sizeof(con->input)) {
		n = read(con->in_fd, con->input + con->input_len,
			 sizeof(con->input) - con->input_len);
		if (n > 0)
			con->input_len += (size_t)n;
		else if (n == 0 || (errno != EAGAIN && errno != EINTR))
			con->input_closed = true;
	}
	pthread_mutex_unlock(&con->lock);
	deliver(con, w);
}

/* Host input is read only while there is room for it (the rest waits in
 * the pipe or terminal, as flow control), and not after it ended. */
static bool input_wanted(void *device, struct virtq_worker *w)
{
	struct virtio_console *con = device;
	bool wanted;

	(void)w;
	pthread_mutex_lock(&con->lock);
	wanted = !con->input_closed && con->input_len < sizeof(con->input);
	pthread_mutex_unlock(&con->lock);
	return wanted;
}

int virtio_console_queue_poll(void *device, unsigned int queue, struct virtq_worker_poll *poll)
{
	struct virtio_console *con = device;

	/* The transmit queue needs nothing extra; a closed input stops waking. */
	*poll = (struct virtq_worker_poll){
		.fd = queue == RECEIVEQ && !con->input_closed ? con->in_fd : -1,
		.ready = input_ready,
		.fd_wanted = input_wanted,
	};
	return 0;
}

/* Only the transmit queue's worker calls this: the output needs no lock.
 * Output that is gone or past --console-limit is dropped; the guest goes on. */
static long transmit(struct virtio_console *con, const struct virtq_chain *chain)
{
	for (unsigned int i = 0; i < chain->nr_out; i++)
		bounded_output_write(&con->out, chain->iov[i].iov_base, chain->iov[i].iov_len);
	return 0;
}

long virtio_console_handle(void *device, struct virtq_worker *w, struct virtq_chain *chain)
{
	struct virtio_console *con = device;

	if (w->queue == TRANSMITQ)
		return transmit(con, chain);
	if (w->queue != RECEIVEQ || chain->nr_in == 0)
		return -EINVAL;
	pthread_mutex_lock(&con->lock);
	if (con->nr_rx == CONSOLE_RX_PENDING) {
		pthread_mutex_unlock(&con->lock);
		return -ENOSPC;
	}
	con->rx[con->nr_rx++] = (struct console_rx){
		.head = chain->head, .buf = chain->iov[chain->nr_out].iov_base,
		.len = (uint32_t)chain->iov[chain->nr_out].iov_len,
	};
	pthread_mutex_unlock(&con->lock);
	deliver(con, w);
	return VIRTQ_PENDING;
}

static void console_free(void *device)
{
	struct virtio_console *con = device;

	if (con->opened_fd >= 0)
		close(con->opened_fd);
	pthread_mutex_destroy(&con->lock);
	free(con);
}

static unsigned int console_queue_held(void *device, unsigned int queue)
{
	struct virtio_console *con = device;
	unsigned int held;

	pthread_mutex_lock(&con->lock);
	held = queue == RECEIVEQ ? con->nr_rx : 0;
	pthread_mutex_unlock(&con->lock);
	return held;
}

/* hvc0: output to --virtio-console=PATH or the terminal; with --console
 * virtio it also reads the terminal. */
static int virtio_console_create(const struct device_env *env, struct kiln_err *err)
{
	const struct kiln_config *cfg = env->cfg;
	struct virtio_device_model model = {
		.device_id = VIRTIO_ID_CONSOLE, .class_code = 0x078000,
		.nr_queues = VIRTIO_CONSOLE_QUEUES, .queue_max_size = 256,
		.handler = virtio_console_handle, .queue_poll = virtio_console_queue_poll,
		.queue_stop = virtio_console_queue_stop, .queue_held = console_queue_held,
		.worker_sandbox = SANDBOX_THREAD_WORKER_CONSOLE,
	};
	struct virtio_console *con;
	int out = STDOUT_FILENO;

	if (!cfg->virtio_console)
		return 0;
	con = calloc(1, sizeof(*con));
	if (!con)
		return err_set(err, -ENOMEM, "out of memory for the virtio console");
	if (cfg->virtio_console_path) {
		out = open(cfg->virtio_console_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (out < 0) {
			free(con);
			return err_set_errno(err, -errno, "--virtio-console '%s'",
					     cfg->virtio_console_path);
		}
	}
	virtio_console_init(con, out, cfg->console == CONSOLE_VIRTIO ? STDIN_FILENO : -1);
	bounded_output_set_limit(&con->out, cfg->console_limit);
	if (cfg->virtio_console_path)
		con->opened_fd = out;
	model.device = con;
	return virtio_pci_device_add(env, "con0", &model, console_free, err);
}

const struct device_kind virtio_console_kind = { "virtio-console", virtio_console_create };
