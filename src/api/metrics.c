// SPDX-License-Identifier: MIT
/* The metrics file: one JSON line per flush, deltas (api/metrics.h). */
#include "api/metrics.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "sandbox/seccomp.h"
#include "util/log.h"

/* Firecracker's group and field names for each api_counter. */
static const struct {
	const char *group, *count, *fails; /* fails NULL: GETs count only */
} counter_names[API_COUNTER_COUNT] = {
	[API_GET_INSTANCE_INFO] = { "get_api_requests", "instance_info_count", NULL },
	[API_GET_MACHINE_CFG] = { "get_api_requests", "machine_cfg_count", NULL },
	[API_GET_VMM_VERSION] = { "get_api_requests", "vmm_version_count", NULL },
	[API_PUT_ACTIONS] = { "put_api_requests", "actions_count", "actions_fails" },
	[API_PUT_BOOT_SOURCE] = { "put_api_requests", "boot_source_count", "boot_source_fails" },
	[API_PUT_DRIVE] = { "put_api_requests", "drive_count", "drive_fails" },
	[API_PUT_LOGGER] = { "put_api_requests", "logger_count", "logger_fails" },
	[API_PUT_MACHINE_CFG] = { "put_api_requests", "machine_cfg_count", "machine_cfg_fails" },
	[API_PUT_METRICS] = { "put_api_requests", "metrics_count", "metrics_fails" },
	[API_PUT_CPU_CONFIG] = { "put_api_requests", "cpu_cfg_count", "cpu_cfg_fails" },
	[API_PATCH_DRIVE] = { "patch_api_requests", "drive_count", "drive_fails" },
	[API_PUT_NETWORK] = { "put_api_requests", "network_count", "network_fails" },
	[API_PATCH_NETWORK] = { "patch_api_requests", "network_count", "network_fails" },
	[API_PATCH_MACHINE_CFG] = { "patch_api_requests", "machine_cfg_count",
				    "machine_cfg_fails" },
};

void metrics_writer_init(struct metrics_writer *w)
{
	memset(w, 0, sizeof(*w));
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->wake, NULL);
	w->fd = -1;
}

void metrics_writer_count(struct metrics_writer *w, enum api_counter counter, bool failed)
{
	if (counter >= API_COUNTER_COUNT)
		return;
	pthread_mutex_lock(&w->lock);
	w->count[counter]++;
	if (failed && counter_names[counter].fails)
		w->fails[counter]++;
	pthread_mutex_unlock(&w->lock);
}

void metrics_writer_response_failed(struct metrics_writer *w)
{
	pthread_mutex_lock(&w->lock);
	w->sync_response_fails++;
	pthread_mutex_unlock(&w->lock);
}

static json_t *group(json_t *line, const char *name)
{
	json_t *g = json_object_get(line, name);

	if (!g) {
		g = json_object();
		json_object_set_new(line, name, g);
	}
	return g;
}

/* current - last for a device counter, and remember current. */
#define DEVICE_DELTA(w, field) ({ \
	unsigned long now_ = METRIC_GET(field); \
	unsigned long then_ = atomic_load(&(w)->last_device.field); \
	atomic_store(&(w)->last_device.field, now_); \
	(json_int_t)(now_ - then_); })

static void add_device_groups(struct metrics_writer *w, json_t *line)
{
	json_object_set_new(line, "vcpu", json_pack("{s:I, s:I, s:I, s:I, s:I}",
		"exit_io_in", DEVICE_DELTA(w, exit_io_in),
		"exit_io_out", DEVICE_DELTA(w, exit_io_out),
		"exit_mmio_read", DEVICE_DELTA(w, exit_mmio_read),
		"exit_mmio_write", DEVICE_DELTA(w, exit_mmio_write),
		"failures", DEVICE_DELTA(w, vcpu_failures)));
	json_object_set_new(line, "block", json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
		"read_bytes", DEVICE_DELTA(w, block_read_bytes),
		"write_bytes", DEVICE_DELTA(w, block_write_bytes),
		"read_count", DEVICE_DELTA(w, block_read_count),
		"write_count", DEVICE_DELTA(w, block_write_count),
		"flush_count", DEVICE_DELTA(w, block_flush_count),
		"execute_fails", DEVICE_DELTA(w, block_execute_fails),
		"invalid_reqs_count", DEVICE_DELTA(w, block_invalid_reqs)));
	json_object_set_new(line, "uart", json_pack("{s:I, s:I, s:I, s:I}",
		"read_count", DEVICE_DELTA(w, uart_read_count),
		"write_count", DEVICE_DELTA(w, uart_write_count),
		"missed_read_count", DEVICE_DELTA(w, uart_missed_read_count),
		"missed_write_count", DEVICE_DELTA(w, uart_missed_write_count)));
}

/* One line, under w->lock. */
static json_t *build_line(struct metrics_writer *w)
{
	struct timespec now;
	json_t *line = json_object();

	clock_gettime(CLOCK_REALTIME, &now);
	json_object_set_new(line, "utc_timestamp_ms",
			    json_integer((json_int_t)now.tv_sec * 1000 + now.tv_nsec / 1000000));
	json_object_set_new(group(line, "api_server"), "sync_response_fails",
			    json_integer((json_int_t)(w->sync_response_fails -
						      w->last_sync_response_fails)));
	w->last_sync_response_fails = w->sync_response_fails;
	for (int i = 0; i < API_COUNTER_COUNT; i++) {
		json_t *g = group(line, counter_names[i].group);

		json_object_set_new(g, counter_names[i].count,
				    json_integer((json_int_t)(w->count[i] - w->last_count[i])));
		if (counter_names[i].fails)
			json_object_set_new(g, counter_names[i].fails,
					    json_integer((json_int_t)(w->fails[i] - w->last_fails[i])));
		w->last_count[i] = w->count[i];
		w->last_fails[i] = w->fails[i];
	}
	add_device_groups(w, line);
	return line;
}

static int write_line(struct metrics_writer *w)
{
	json_t *line = build_line(w);
	char *text = line ? json_dumps(line, JSON_COMPACT) : NULL;
	size_t len = text ? strlen(text) : 0;
	ssize_t done;
	int ret = 0;

	json_decref(line);
	if (!text)
		return -ENOMEM;
	text[len] = '\n'; /* json_dumps' NUL becomes the line end: one write() */
	done = write(w->fd, text, len + 1);
	if (done < 0)
		ret = -errno;
	else if ((size_t)done != len + 1)
		ret = -EIO;
	free(text);
	return ret;
}

static void *flusher(void *arg)
{
	struct metrics_writer *w = arg;
	struct kiln_err err = { 0 };
	struct timespec deadline;

	/* Never unfiltered: without its filter the thread flushes nothing
	 * (FlushMetrics still does). */
	if (sandbox_enter(SANDBOX_THREAD_METRICS, &err)) {
		pr_err("%s", err.msg);
		return NULL;
	}
	sandbox_test_violation(SANDBOX_THREAD_METRICS);
	pthread_mutex_lock(&w->lock);
	while (!w->stopping) {
		clock_gettime(CLOCK_MONOTONIC, &deadline);
		deadline.tv_sec += METRICS_PERIOD_S;
		while (!w->stopping &&
		       pthread_cond_timedwait(&w->wake, &w->lock, &deadline) != ETIMEDOUT)
			;
		if (!w->stopping)
			write_line(w); /* a full FIFO drops the line, as a flush would fail */
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

static int open_output(const char *path)
{
	struct stat st;

	/* A FIFO opened read-write never blocks for a reader, and a missing
	 * reader does not fail the open. */
	if (!stat(path, &st) && S_ISFIFO(st.st_mode))
		return open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
}

int metrics_writer_open(struct metrics_writer *w, const char *path, struct kiln_err *err)
{
	pthread_condattr_t attr;
	int fd;

	if (w->fd >= 0)
		return err_set(err, -EALREADY, "Reinitialization of metrics not allowed.");
	fd = open_output(path);
	if (fd < 0)
		return err_set_errno(err, -errno, "metrics: cannot open metrics_path %s", path);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_destroy(&w->wake);
	pthread_cond_init(&w->wake, &attr);
	pthread_condattr_destroy(&attr);
	w->fd = fd;
	if (pthread_create(&w->thread, NULL, flusher, w)) {
		close(fd);
		w->fd = -1;
		return err_set(err, -EAGAIN, "metrics: cannot start the flusher thread");
	}
	w->thread_started = true;
	return 0;
}

int metrics_writer_flush(struct metrics_writer *w, struct kiln_err *err)
{
	int ret;

	pthread_mutex_lock(&w->lock);
	ret = w->fd < 0 ? -ENOENT : write_line(w);
	pthread_mutex_unlock(&w->lock);
	if (ret == -ENOENT)
		return err_set(err, ret, "metrics are not configured (PUT /metrics first)");
	if (ret)
		return err_set_errno(err, ret, "cannot write the metrics");
	return 0;
}

void metrics_writer_close(struct metrics_writer *w)
{
	if (w->thread_started) {
		pthread_mutex_lock(&w->lock);
		w->stopping = true;
		pthread_cond_signal(&w->wake);
		pthread_mutex_unlock(&w->lock);
		pthread_join(w->thread, NULL);
		w->thread_started = false;
	}
	if (w->fd >= 0) {
		write_line(w);
		close(w->fd);
		w->fd = -1;
	}
}
