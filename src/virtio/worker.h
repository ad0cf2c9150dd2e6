/* SPDX-License-Identifier: MIT */
/*
 * One worker thread per virtqueue, the userspace counterpart of vhost's
 * per-virtqueue workers: it sleeps on the queue's kick eventfd (a KVM
 * ioeventfd under a VM, a plain eventfd under the host harness), serves
 * every available chain through the device's handler, and signals the
 * interrupt eventfd (a KVM irqfd, or plain) when the driver wants one.
 * Devices see eventfds, never KVM.
 */
#ifndef KILN_VIRTIO_WORKER_H
#define KILN_VIRTIO_WORKER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "sandbox/seccomp.h"
#include "util/error.h"
#include "virtio/queue.h"

struct virtq_worker;

/*
 * Serve one request. Returns the number of bytes written into the chain's
 * writable buffers (what goes into the used ring), a negative errno to
 * complete the request with nothing written, or VIRTQ_PENDING when the
 * device completes it later with virtq_worker_complete() from the same
 * thread (from its poll callback, e.g. on block I/O completions).
 */
#define VIRTQ_PENDING (1L << 40)
typedef long (*virtq_handler_fn)(void *device, struct virtq_worker *w, struct virtq_chain *chain);

/* Optional: an extra fd the worker also sleeps on, and what to do when it
 * is readable (a block engine's completion notifier, console input); ready
 * reads the fd itself. */
struct virtq_worker_poll {
	int fd;
	void (*ready)(void *device, struct virtq_worker *w);
	/* Optional: called after each batch of requests, so a device can
	 * submit them to its backend with one system call. */
	void (*batch_done)(void *device, struct virtq_worker *w);
	/* Optional: true when ready has work, found without a system call
	 * (a block engine's completion queue); lets the worker busy-poll. */
	bool (*pending)(void *device, struct virtq_worker *w);
	/* Optional: false while the device cannot take what fd has (its
	 * buffer is full, or the input ended): the worker then leaves fd out
	 * of its sleep instead of waking for it again and again. Asked before
	 * each sleep. */
	bool (*fd_wanted)(void *device, struct virtq_worker *w);
	/* Longest busy-poll before sleeping, in ns; 0: never poll. */
	uint32_t busy_poll_max_ns;
	/* Optional: true while the device has requests of this queue in its
	 * backend (submitted, not completed). A pause waits, still reaping
	 * through ready, until this is false, so a paused queue has no I/O in
	 * flight. */
	bool (*in_flight)(void *device, struct virtq_worker *w);
};

struct virtq_worker {
	struct virtq vq;
	int kick_fd;             /* readable when the driver notified */
	int irq_fd;              /* written to interrupt the driver */
	int ctl_fd;              /* private: wakes the thread for stop or pause */
	virtq_handler_fn handler;
	struct virtq_worker_poll extra;  /* fd -1 when unused */
	void *device;
	unsigned int queue;
	char name[16];           /* thread name, e.g. "vq-rng0-0" */
	pthread_t thread;
	bool running;            /* a queue is attached: between start and stop */
	/* The thread itself (private): it outlives the queues it serves. */
	enum sandbox_thread sandbox;  /* its seccomp list */
	bool thread_alive;       /* between virtq_worker_init and _destroy */
	bool thread_per_queue;   /* made by virtq_worker_start: stop ends it */
	bool one_cpu;            /* no busy-polling on a one-CPU host */
	bool attached, exit_requested; /* under ctl_lock */
	int start_result;        /* under ctl_lock: 1 once filtered, or -errno */
	/* Pause and stop requests, and the thread's answer (under ctl_lock). */
	pthread_mutex_t ctl_lock;
	pthread_cond_t ctl_cond;
	bool stop_requested, pause_requested, parked;
	atomic_bool ctl_pending;  /* a request awaits the thread: checked per batch */
	atomic_bool needs_reset; /* the driver corrupted the ring */
	atomic_ulong served;     /* requests completed, for tests and stats */
	atomic_ulong busy_poll_hits; /* polls that found work, for tests and stats */
	uint64_t busy_poll_ns;   /* private: the current adaptive poll window */
};

/*
 * A lasting worker: its thread starts now, parked, installs the seccomp
 * filter of kind sandbox, and then serves each queue attached to it until
 * that queue is stopped, as the kernel's vhost worker does. Made while the
 * machine is built, before any filter, so the threads that start and reset
 * queues (vCPUs) never create threads. 0, or -errno with err.
 */
int virtq_worker_init(struct virtq_worker *w, const char *name, enum sandbox_thread sandbox,
		      struct kiln_err *err);
/* Serve vq on a worker from virtq_worker_init (see virtq_worker_start for
 * the arguments); virtq_worker_stop detaches it again. */
void virtq_worker_attach(struct virtq_worker *w, const struct virtq *vq, int kick_fd,
			int irq_fd, virtq_handler_fn handler, void *device, unsigned int queue,
			const struct virtq_worker_poll *extra);
/* Stop any queue and end the thread; a worker never initialised is fine
 * when zeroed. */
void virtq_worker_destroy(struct virtq_worker *w);

/*
 * Start serving vq (already set up with virtq_init) on a new thread named
 * name, unfiltered, that ends when the queue stops (w need not be
 * initialised). kick_fd and irq_fd stay owned by the caller. Returns 0 or
 * -errno.
 */
int virtq_worker_start(struct virtq_worker *w, const struct virtq *vq, int kick_fd,
		       int irq_fd, virtq_handler_fn handler, void *device, unsigned int queue,
		       const char *name);

/* Like virtq_worker_start, with an extra fd to poll (see above). */
int virtq_worker_start_polling(struct virtq_worker *w, const struct virtq *vq, int kick_fd,
			       int irq_fd, virtq_handler_fn handler, void *device,
			       unsigned int queue, const char *name,
			       const struct virtq_worker_poll *extra);

/* Complete a request the handler left pending; worker thread only. */
void virtq_worker_complete(struct virtq_worker *w, uint16_t head, uint32_t written);

/* The same for a batch: push each request, then decide on one interrupt
 * for all of them (one fence and at most one eventfd write). */
void virtq_worker_push(struct virtq_worker *w, uint16_t head, uint32_t written);
void virtq_worker_interrupt(struct virtq_worker *w);

/* Wake the thread so it asks the device again what to sleep on
 * (extra.fd_wanted); any thread, at any time the worker exists. */
void virtq_worker_wake(struct virtq_worker *w);

/* Stop serving after the request in hand, and wait until the thread has
 * let go of the queue (a thread from virtq_worker_start ends). */
void virtq_worker_stop(struct virtq_worker *w);

/*
 * Park the thread at the end of the batch it is serving, once the device
 * reports nothing in flight (extra.in_flight), and wait until it is parked:
 * from then on it touches neither the ring nor guest memory. The queue's
 * state (ring indices, suppression) is kept: pause is not a reset. A kick
 * that arrives while paused is served after virtq_worker_resume. Pausing a
 * parked worker, or resuming a running one, does nothing.
 */
void virtq_worker_pause(struct virtq_worker *w);
void virtq_worker_resume(struct virtq_worker *w);

#endif
