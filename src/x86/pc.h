/* SPDX-License-Identifier: MIT */
/*
 * The x86 PC kiln builds from a configuration: RAM, firmware tables, the
 * platform devices on their ports, CPUID per vCPU, the loaded kernel and
 * the boot CPU's entry state.
 */
#ifndef KILN_X86_PC_H
#define KILN_X86_PC_H

#include <pthread.h>

#include "config.h"
#include "bus/pci.h"
#include "devices/device.h"
#include "devices/serial.h"
#include "util/error.h"
#include "virtio/pci.h"
#include "vm/vm.h"
#include "x86/boot.h"
#include "x86/emulation_gap.h"

struct pc {
	int kvm_fd;
	struct vm vm;
	bool vm_created;
	struct pci_bus pci;
	struct virtio_pci_host virtio_host;
	/* Every device, platform and virtio, in creation order. */
	struct device_list devices;
	struct serial *com1;      /* the console's input goes here */
	struct boot_entry entry;
	unsigned int phys_bits;
	int cpu_template;         /* resolved enum cpu_template */
	struct emulation_stats emulation;
	pthread_mutex_t lifecycle_lock;  /* pause and resume, one at a time */
	bool paused;
	/* Snapshots (x86/snapshot.c): the configuration as the "config"
	 * section holds it, the MSRs KVM lets a VMM save (read while kiln may
	 * still ask /dev/kvm), and whether a full snapshot or a restore gave
	 * a memory file a Diff snapshot can go on top of. */
	char *snapshot_config;
	uint32_t *msr_indices;
	unsigned int nr_msrs;
	bool has_snapshot_base;
};

/* Build the whole machine, ready for pc_start(): files open, no thread
 * running yet (so --jail can confine kiln in between). */
int pc_create(struct pc *pc, const struct kiln_config *cfg, int console_fd,
	      struct kiln_err *err);
/* An empty machine, which pc_destroy takes (pc_create starts with it). */
void pc_init(struct pc *pc);
/* pc_create for a restore (x86/snapshot.h): RAM mapped privately from
 * mem_fd, no kernel loaded, no firmware tables written, no boot state set;
 * the snapshot's state is loaded afterwards. */
int pc_create_restored(struct pc *pc, const struct kiln_config *cfg, int console_fd, int mem_fd,
		       struct kiln_err *err);
/* Start the devices' threads, then the vCPUs. On failure the caller
 * joins the vCPUs (vm_join) and destroys the machine. */
int pc_start(struct pc *pc, struct kiln_err *err);
/* pc_start for a machine restored paused: devices paused, vCPUs parked
 * before their first instruction; pc_resume runs it. */
int pc_start_paused(struct pc *pc, struct kiln_err *err);
void pc_destroy(struct pc *pc);

/*
 * Pause: every vCPU out of KVM_RUN and parked, then every device paused
 * (no I/O in flight); resume undoes it in reverse. -EALREADY when the
 * machine is already paused (resp. running): nothing changes.
 */
int pc_pause(struct pc *pc, struct kiln_err *err);
int pc_resume(struct pc *pc, struct kiln_err *err);
bool pc_paused(struct pc *pc);

/* Press Ctrl-Alt-Del on the guest's keyboard (Firecracker's SendCtrlAltDel);
 * a machine asleep in ACPI S3 gets a power button press instead, which
 * wakes it. */
int pc_send_ctrl_alt_del(struct pc *pc, struct kiln_err *err);

/* Back disk index (blk<index>) by path from now on: the device is paused
 * around the swap and the guest is told its configuration changed. */
int pc_replace_disk(struct pc *pc, unsigned int index, const char *path, struct kiln_err *err);

#endif
