/* SPDX-License-Identifier: MIT */
/*
 * Process-wide counters, Firecracker's metrics where it has the counter
 * (api requests, vCPU exits, block I/O, serial bytes). Each is bumped where
 * the event happens, with a relaxed atomic add; the API's metrics writer
 * (api/metrics.c) reads them and appends one JSON object per flush.
 * One kiln process runs one machine, so one set of counters is the truth.
 */
#ifndef KILN_UTIL_METRICS_H
#define KILN_UTIL_METRICS_H

#include <stdatomic.h>

struct kiln_metrics {
	/* vCPU exits (Firecracker's "vcpu" group) */
	atomic_ulong exit_io_in, exit_io_out, exit_mmio_read, exit_mmio_write;
	atomic_ulong vcpu_failures;
	/* virtio-blk, all disks (Firecracker's "block" group) */
	atomic_ulong block_read_bytes, block_write_bytes, block_read_count, block_write_count;
	atomic_ulong block_flush_count, block_execute_fails, block_invalid_reqs;
	/* COM1 (Firecracker's "uart" group): bytes the guest read and wrote;
	 * missed writes are the bytes dropped past --console-limit */
	atomic_ulong uart_read_count, uart_write_count, uart_missed_read_count;
	atomic_ulong uart_missed_write_count;
};

extern struct kiln_metrics kiln_metrics;

#define METRIC_ADD(field, n) \
	atomic_fetch_add_explicit(&kiln_metrics.field, (unsigned long)(n), memory_order_relaxed)
#define METRIC_INC(field) METRIC_ADD(field, 1)
#define METRIC_GET(field) atomic_load_explicit(&kiln_metrics.field, memory_order_relaxed)

#endif
