// SPDX-License-Identifier: MIT
#include "virtio/worker.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "sandbox/seccomp.h"
#include "util/log.h"

static void virtq_worker_release_locks(struct virtq_worker *w)
{
	close(w->ctl_fd);
	w->ctl_fd = -1;
	pthread_cond_destroy(&w->ctl_cond);
	pthread_mutex_destroy(&w->ctl_lock);
}

static void signal_fd(int fd)
{
	uint64_t one = 1;

	/* An eventfd write fails only when its counter would overflow, which
	 * still leaves it readable: the wake-up is not lost. */
	if (write(fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		pr_warn("virtq worker: eventfd write: %s", strerror(errno));
}

static void drain_fd(int fd)
{
	uint64_t count;

	if (read(fd, &count, sizeof(count)) < 0 && errno != EAGAIN)
		pr_warn("virtq worker: eventfd read: %s", strerror(errno));
}

static bool control_pending(struct virtq_worker *w);

/* A driver that keeps the ring full would keep serve() from returning: it
 * looks for a pause or stop request every this many requests. */
#define CONTROL_CHECK_EVERY 64

/* Serve what is available, ending the batch early when a control request
 * waits; false when the ring is broken. */
static bool serve(struct virtq_worker *w, struct virtq_chain *chain)
{
	unsigned int taken;
	int r;

	for (taken = 1;; taken++) {
		long written = 0;

		/* What is left stays in the ring, served once it is answered. */
		if (taken % CONTROL_CHECK_EVERY == 0 && control_pending(w))
			return true;
		r = virtq_pop(&w->vq, chain);
		if (r == 0)
			return true;
		if (r == VIRTQ_ERR_RING) {
			atomic_store(&w->needs_reset, true);
			return false;
		}
		if (r > 0)
			written = w->handler(w->device, w, chain);
		if (written == VIRTQ_PENDING)
			continue;
		/* A malformed chain or a failed request completes empty. */
		virtq_worker_complete(w, chain->head, written > 0 ? (uint32_t)written : 0);
	}
}

void virtq_worker_push(struct virtq_worker *w, uint16_t head, uint32_t written)
{
	virtq_push(&w->vq, head, written);
	atomic_fetch_add(&w->served, 1);
}

void virtq_worker_interrupt(struct virtq_worker *w)
{
	if (virtq_should_interrupt(&w->vq))
		signal_fd(w->irq_fd);
}

void virtq_worker_complete(struct virtq_worker *w, uint16_t head, uint32_t written)
{
	virtq_worker_push(w, head, written);
	virtq_worker_interrupt(w);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* The device's extra fd has work: it takes it (reading its own fd), then
 * sends its backend what that queued. */
static void device_ready(struct virtq_worker *w)
{
	w->extra.ready(w->device, w);
	if (w->extra.batch_done)
		w->extra.batch_done(w->device, w);
}

static bool device_pending(struct virtq_worker *w)
{
	if (!w->extra.pending || !w->extra.pending(w->device, w))
		return false;
	device_ready(w);
	return true;
}

/*
 * Before sleeping, watch the ring and the device's backend for a while with
 * kicks still suppressed, as vhost's busyloop and QEMU's adaptive polling
 * do: under load the next request or completion often comes within
 * microseconds, and catching it here saves the driver an exit and us two
 * context switches. True when there is work.
 */
static bool busy_poll(struct virtq_worker *w)
{
	uint64_t end;

	if (!w->busy_poll_ns)
		return false;
	end = now_ns() + w->busy_poll_ns;
	do {
		if (virtq_has_avail(&w->vq) || device_pending(w)) {
			atomic_fetch_add(&w->busy_poll_hits, 1);
			return true;
		}
		__builtin_ia32_pause();
	} while (now_ns() < end);
	return false;
}

/* The window adapts to what the last sleep showed: a wake-up that came
 * within the longest window would have been caught by a longer poll, so
 * double it (from max/8); a longer sleep halves it, to nothing below max/8.
 * Halving rather than closing keeps it open where long waits (a slow disk)
 * alternate with short ones (the driver's next request); an idle queue
 * sleeps anyway, so it costs nothing. */
static void adapt_busy_poll(struct virtq_worker *w, uint64_t slept_ns)
{
	uint64_t max = w->extra.busy_poll_max_ns, least = max / 8 ? max / 8 : 1;

	if (!max)
		w->busy_poll_ns = 0;
	else if (slept_ns > max)
		w->busy_poll_ns = w->busy_poll_ns / 2 < least ? 0 : w->busy_poll_ns / 2;
	else
		w->busy_poll_ns = w->busy_poll_ns ? w->busy_poll_ns * 2 : least;
	if (w->busy_poll_ns > max)
		w->busy_poll_ns = max;
}

/* The device still has requests of this queue in its backend. */
static bool device_in_flight(struct virtq_worker *w)
{
	return w->extra.in_flight && w->extra.in_flight(w->device, w);
}

/* Requests in flight complete before the worker parks: wait for the
 * device's completions (its extra fd) and take them. */
static void finish_in_flight(struct virtq_worker *w)
{
	struct pollfd fd = { .fd = w->extra.fd, .events = POLLIN };

	/* What the last batch queued but could not send goes now, or it
	 * would never complete. */
	if (device_in_flight(w) && w->extra.batch_done)
		w->extra.batch_done(w->device, w);
	while (device_in_flight(w) && fd.fd >= 0) {
		if (poll(&fd, 1, -1) < 0 && errno != EINTR)
			return;
		if (fd.revents & POLLIN)
			device_ready(w);
	}
}

/*
 * Answer a control request at a batch boundary. Returns true when the
 * thread must end. A pause parks here until resume or stop.
 */
static bool take_control(struct virtq_worker *w)
{
	bool stop;

	drain_fd(w->ctl_fd);
	pthread_mutex_lock(&w->ctl_lock);
	atomic_store(&w->ctl_pending, false);
	if (w->pause_requested && !w->stop_requested) {
		pthread_mutex_unlock(&w->ctl_lock);
		finish_in_flight(w);
		pthread_mutex_lock(&w->ctl_lock);
		w->parked = true;
		pthread_cond_broadcast(&w->ctl_cond);
		while (w->pause_requested && !w->stop_requested)
			pthread_cond_wait(&w->ctl_cond, &w->ctl_lock);
		w->parked = false;
	}
	stop = w->stop_requested;
	pthread_mutex_unlock(&w->ctl_lock);
	return stop;
}

/* No system call: a worker that never sleeps checks this between batches. */
static bool control_pending(struct virtq_worker *w)
{
	return atomic_load_explicit(&w->ctl_pending, memory_order_acquire);
}

static void post_control(struct virtq_worker *w)
{
	atomic_store_explicit(&w->ctl_pending, true, memory_order_release);
	signal_fd(w->ctl_fd);
}

/* Serve the attached queue until a stop request (true) or a broken ring
 * (false: the queue then idles until it is stopped). */
static bool serve_queue(struct virtq_worker *w, struct virtq_chain *chain)
{
	struct pollfd fds[3] = {
		{ .fd = w->kick_fd, .events = POLLIN },
		{ .fd = w->ctl_fd, .events = POLLIN },
		{ .fd = w->extra.fd, .events = POLLIN },
	};
	bool extra_hung_up = false;

	for (;;) {
		uint64_t slept;
		bool ok;

		/* About to serve: the driver need not kick until we sleep again. */
		virtq_suppress_kicks(&w->vq);
		ok = serve(w, chain);

		if (w->extra.batch_done)
			w->extra.batch_done(w->device, w);
		if (!ok)
			return false; /* broken ring: wait for the device reset */
		/* A busy queue may never sleep: look for a request between batches. */
		if (control_pending(w) && take_control(w))
			return true;
		if (busy_poll(w) || !virtq_prepare_sleep(&w->vq))
			continue;
		/* The clock is read only where a window adapts to it. */
		slept = w->extra.busy_poll_max_ns ? now_ns() : 0;
		fds[2].fd = extra_hung_up || (w->extra.fd_wanted &&
					     !w->extra.fd_wanted(w->device, w)) ? -1 : w->extra.fd;
		if (poll(fds, 3, -1) < 0 && errno != EINTR)
			return false;
		if (slept)
			adapt_busy_poll(w, now_ns() - slept);
		if (fds[1].revents && take_control(w))
			return true;
		if (fds[0].revents)
			drain_fd(w->kick_fd);
		if (fds[2].revents & POLLIN)
			device_ready(w);
		else if (fds[2].revents && (!w->extra.fd_wanted ||
					    w->extra.fd_wanted(w->device, w)))
			extra_hung_up = true; /* with nothing to read: stop polling it */
	}
}

/* A broken queue idles until it is stopped, ignoring kicks (and parking
 * when asked, so a pause of the machine still ends). */
static void idle_until_stopped(struct virtq_worker *w)
{
	struct pollfd ctl = { .fd = w->ctl_fd, .events = POLLIN };

	for (;;) {
		if (poll(&ctl, 1, -1) > 0 && take_control(w))
			return;
	}
}

/* Until a queue is attached (true) or the thread must end (false). */
static bool wait_for_queue(struct virtq_worker *w)
{
	bool attached;

	pthread_mutex_lock(&w->ctl_lock);
	while (!w->attached && !w->exit_requested)
		pthread_cond_wait(&w->ctl_cond, &w->ctl_lock);
	attached = w->attached && !w->exit_requested;
	pthread_mutex_unlock(&w->ctl_lock);
	return attached;
}

static void detached(struct virtq_worker *w)
{
	pthread_mutex_lock(&w->ctl_lock);
	w->attached = false;
	pthread_cond_broadcast(&w->ctl_cond);
	pthread_mutex_unlock(&w->ctl_lock);
}

/* The thread's filter goes on before it touches any queue; the creator
 * waits for the outcome. */
static bool enter_sandbox(struct virtq_worker *w, struct virtq_chain *chain)
{
	struct kiln_err err = { 0 };
	int ret = chain ? sandbox_enter(w->sandbox, &err) : -ENOMEM;

	pthread_mutex_lock(&w->ctl_lock);
	w->start_result = ret ? ret : 1;
	pthread_cond_broadcast(&w->ctl_cond);
	pthread_mutex_unlock(&w->ctl_lock);
	return !ret;
}

/*
 * The thread lives as long as its worker: it is made before any filter is
 * installed, installs its own kind's filter, then serves each queue the
 * device attaches (virtq_worker_start) until it is stopped, and parks in
 * between, as the kernel's vhost worker does. So the threads that start
 * and reset queues (vCPUs) never create threads, and a worker's filter is
 * its own list and nothing else.
 */
static void *worker_main(void *arg)
{
	struct virtq_worker *w = arg;
	struct virtq_chain *chain = malloc(sizeof(*chain));

	/* Named by itself (prctl), before virtq_worker_init returns: naming
	 * another thread goes through /proc, which a jailed kiln has not. */
	pthread_setname_np(pthread_self(), w->name);
	if (!enter_sandbox(w, chain))
		goto out;
	while (wait_for_queue(w)) {
		sandbox_test_violation(w->sandbox);
		if (!serve_queue(w, chain)) {
			atomic_store(&w->needs_reset, true);
			idle_until_stopped(w);
		}
		detached(w);
	}
out:
	free(chain);
	return NULL;
}

int virtq_worker_init(struct virtq_worker *w, const char *name, enum sandbox_thread sandbox,
		      struct kiln_err *err)
{
	int ret;

	memset(w, 0, sizeof(*w));
	snprintf(w->name, sizeof(w->name), "%s", name);
	w->sandbox = sandbox;
	w->extra.fd = -1;
	/* Read here, where files may be opened: with one CPU, what a busy
	 * poll waits for cannot run while it spins. */
	w->one_cpu = sysconf(_SC_NPROCESSORS_ONLN) < 2;
	w->ctl_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (w->ctl_fd < 0)
		return err_set_errno(err, -errno, "cannot create %s's eventfd", name);
	pthread_mutex_init(&w->ctl_lock, NULL);
	pthread_cond_init(&w->ctl_cond, NULL);
	ret = pthread_create(&w->thread, NULL, worker_main, w);
	if (ret) {
		virtq_worker_release_locks(w);
		return err_set_errno(err, -ret, "cannot start %s's thread", name);
	}
	w->thread_alive = true;
	pthread_mutex_lock(&w->ctl_lock);
	while (!w->start_result)
		pthread_cond_wait(&w->ctl_cond, &w->ctl_lock);
	ret = w->start_result < 0 ? w->start_result : 0;
	pthread_mutex_unlock(&w->ctl_lock);
	if (ret) {
		err_set_errno(err, ret, "%s: cannot install the %s seccomp filter", name,
			      sandbox_thread_name(sandbox));
		virtq_worker_destroy(w);
	}
	return ret;
}

void virtq_worker_destroy(struct virtq_worker *w)
{
	if (!w->thread_alive)
		return;
	virtq_worker_stop(w);
	pthread_mutex_lock(&w->ctl_lock);
	w->exit_requested = true;
	pthread_cond_broadcast(&w->ctl_cond);
	pthread_mutex_unlock(&w->ctl_lock);
	pthread_join(w->thread, NULL);
	w->thread_alive = false;
	virtq_worker_release_locks(w);
}

int virtq_worker_start(struct virtq_worker *w, const struct virtq *vq, int kick_fd,
		       int irq_fd, virtq_handler_fn handler, void *device, unsigned int queue,
		       const char *name)
{
	return virtq_worker_start_polling(w, vq, kick_fd, irq_fd, handler, device, queue, name,
					  NULL);
}

void virtq_worker_attach(struct virtq_worker *w, const struct virtq *vq, int kick_fd,
			int irq_fd, virtq_handler_fn handler, void *device, unsigned int queue,
			const struct virtq_worker_poll *extra)
{
	uint64_t stale;

	pthread_mutex_lock(&w->ctl_lock);
	w->extra = extra ? *extra : (struct virtq_worker_poll){ .fd = -1 };
	if (w->one_cpu)
		w->extra.busy_poll_max_ns = 0;
	w->vq = *vq;
	w->kick_fd = kick_fd;
	w->irq_fd = irq_fd;
	w->handler = handler;
	w->device = device;
	w->queue = queue;
	w->stop_requested = w->pause_requested = w->parked = false;
	atomic_store(&w->ctl_pending, false);
	atomic_store(&w->needs_reset, false);
	atomic_store(&w->served, 0);
	atomic_store(&w->busy_poll_hits, 0);
	w->busy_poll_ns = 0;
	/* A stop request of the last queue must not end this one. */
	if (read(w->ctl_fd, &stale, sizeof(stale)) < 0 && errno != EAGAIN)
		pr_warn("virtq worker: eventfd read: %s", strerror(errno));
	w->attached = true;
	w->running = true;
	pthread_cond_broadcast(&w->ctl_cond);
	pthread_mutex_unlock(&w->ctl_lock);
}

int virtq_worker_start_polling(struct virtq_worker *w, const struct virtq *vq, int kick_fd,
			       int irq_fd, virtq_handler_fn handler, void *device,
			       unsigned int queue, const char *name,
			       const struct virtq_worker_poll *extra)
{
	struct kiln_err err = { 0 };
	int ret;

	/* A thread for this queue only: stopping the queue ends it. */
	ret = virtq_worker_init(w, name, SANDBOX_THREAD_NONE, &err);
	if (ret)
		return ret;
	w->thread_per_queue = true;
	virtq_worker_attach(w, vq, kick_fd, irq_fd, handler, device, queue, extra);
	return 0;
}

void virtq_worker_wake(struct virtq_worker *w)
{
	/* A control wake-up with no request: the thread only loops once. */
	if (w->thread_alive)
		signal_fd(w->ctl_fd);
}

void virtq_worker_stop(struct virtq_worker *w)
{
	if (!w->running)
		return;
	pthread_mutex_lock(&w->ctl_lock);
	w->stop_requested = true;
	post_control(w);
	pthread_cond_broadcast(&w->ctl_cond);
	while (w->attached)
		pthread_cond_wait(&w->ctl_cond, &w->ctl_lock);
	pthread_mutex_unlock(&w->ctl_lock);
	w->running = false;
	if (w->thread_per_queue) {
		w->thread_per_queue = false;
		virtq_worker_destroy(w);
	}
}

void virtq_worker_pause(struct virtq_worker *w)
{
	if (!w->running)
		return;
	pthread_mutex_lock(&w->ctl_lock);
	if (!w->pause_requested) {
		w->pause_requested = true;
		post_control(w);
	}
	while (!w->parked)
		pthread_cond_wait(&w->ctl_cond, &w->ctl_lock);
	pthread_mutex_unlock(&w->ctl_lock);
}

void virtq_worker_resume(struct virtq_worker *w)
{
	if (!w->running)
		return;
	pthread_mutex_lock(&w->ctl_lock);
	w->pause_requested = false;
	pthread_cond_broadcast(&w->ctl_cond);
	pthread_mutex_unlock(&w->ctl_lock);
}
