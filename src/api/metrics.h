/* SPDX-License-Identifier: MIT */
/*
 * Firecracker's metrics: PUT /metrics (or a config file's "metrics") names a
 * file or FIFO; kiln appends one JSON object per line at each FlushMetrics
 * and every 60 s, each counter the change since the previous line. The API
 * request counters live here; the device ones in util/metrics.h.
 */
#ifndef KILN_API_METRICS_H
#define KILN_API_METRICS_H

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>

#include "util/error.h"
#include "util/metrics.h"

#define METRICS_PERIOD_S 60

/* The request kinds Firecracker counts, each with a count and a fails. */
enum api_counter {
	API_GET_INSTANCE_INFO, API_GET_MACHINE_CFG, API_GET_VMM_VERSION,
	API_PUT_ACTIONS, API_PUT_BOOT_SOURCE, API_PUT_DRIVE, API_PUT_LOGGER,
	API_PUT_MACHINE_CFG, API_PUT_METRICS, API_PUT_CPU_CONFIG,
	API_PATCH_DRIVE, API_PATCH_MACHINE_CFG,
	API_PUT_NETWORK, API_PATCH_NETWORK,
	API_COUNTER_COUNT,
	API_NOT_COUNTED = API_COUNTER_COUNT,
};

struct metrics_writer {
	pthread_mutex_t lock;
	pthread_cond_t wake;
	pthread_t thread;
	bool thread_started, stopping;
	int fd;                   /* -1 until opened */
	unsigned long count[API_COUNTER_COUNT], fails[API_COUNTER_COUNT];
	unsigned long sync_response_fails;
	/* what the previous line reported, for the deltas */
	unsigned long last_count[API_COUNTER_COUNT], last_fails[API_COUNTER_COUNT];
	unsigned long last_sync_response_fails;
	struct kiln_metrics last_device;
};

void metrics_writer_init(struct metrics_writer *w);
/* Open path (a file, appended to, or a FIFO) and start the 60 s flusher.
 * -EALREADY when already open. */
int metrics_writer_open(struct metrics_writer *w, const char *path, struct kiln_err *err);
/* Append one line now; -ENOENT when nothing is open. */
int metrics_writer_flush(struct metrics_writer *w, struct kiln_err *err);
void metrics_writer_count(struct metrics_writer *w, enum api_counter counter, bool failed);
void metrics_writer_response_failed(struct metrics_writer *w);
/* Stop the flusher, write a last line, close. */
void metrics_writer_close(struct metrics_writer *w);

#endif
