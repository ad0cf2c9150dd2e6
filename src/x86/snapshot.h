/* SPDX-License-Identifier: MIT */
/*
 * Snapshots of the whole machine (issue 13). The state file
 * (util/snapshot_file.h) holds the sections "config" (x86/snapshot_config.h),
 * "board" (kiln's own: vCPU count, RAM size, ACPI S3), "vm" (KVM's PICs,
 * IOAPIC, PIT, clock), "vcpu<N>" (vm/saved_state.h) and one per device
 * with state (devices/device.h). Guest RAM goes to a file of its own, the
 * layout guest_mem_save writes, which a restore maps privately.
 */
#ifndef KILN_X86_SNAPSHOT_H
#define KILN_X86_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "util/error.h"
#include "util/snapshot_file.h"

struct pc;

enum pc_snapshot_type { PC_SNAPSHOT_FULL, PC_SNAPSHOT_DIFF };

/*
 * Snapshot a paused machine: RAM to mem_path (Full: all of it, through a
 * temporary file renamed into place; Diff: only the pages written since
 * the last snapshot or the restore, in place into mem_path, which should
 * be a copy of that snapshot's memory file), then the state to state_path
 * (temporary file and rename: a failure never leaves half a file there).
 * Refused on a running machine, and Diff without dirty page tracking or
 * before any Full snapshot or restore. 0, or -errno with one line.
 */
int pc_snapshot_create(struct pc *pc, enum pc_snapshot_type type, const char *state_path,
		       const char *mem_path, struct kiln_err *err);

/* A state file read and checked, with the configuration it holds. */
struct pc_snapshot {
	uint8_t *buf;
	size_t len;
	struct snapshot_file file;
	struct kiln_config cfg;   /* strings live as long as the snapshot */
	void *cfg_holder;
};

/* Read state_path and check everything that can be checked without KVM:
 * the container (truncated, corrupted, other version), the configuration,
 * the sections a machine of that configuration needs. 0 or -errno with
 * one line naming the cause. */
int pc_snapshot_open(const char *state_path, struct pc_snapshot **out, struct kiln_err *err);
void pc_snapshot_close(struct pc_snapshot *snap);

/*
 * Build the machine snap describes with RAM mapped privately from mem_path
 * and load every piece of its state; not started (pc_start or
 * pc_start_paused next). cfg is the configuration to build: snap->cfg,
 * possibly with track_dirty_pages set. On failure the caller destroys pc;
 * nothing has run.
 */
int pc_restore(struct pc *pc, const struct pc_snapshot *snap, const struct kiln_config *cfg,
	       const char *mem_path, int console_fd, struct kiln_err *err);

#endif
