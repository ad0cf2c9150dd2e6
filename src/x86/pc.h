/* SPDX-License-Identifier: MIT */
/*
 * The x86 PC kiln builds from a configuration: RAM, firmware tables, the
 * platform devices on their ports, CPUID per vCPU, the loaded kernel and
 * the boot CPU's entry state.
 */
#ifndef KILN_X86_PC_H
#define KILN_X86_PC_H

#include "config.h"
#include "devices/acpi_pm.h"
#include "devices/debug_exit.h"
#include "devices/fw_cfg.h"
#include "devices/i8042.h"
#include "devices/pc_testdev.h"
#include "devices/serial.h"
#include "bus/pci.h"
#include "util/error.h"
#include "virtio/blk.h"
#include "virtio/console.h"
#include "virtio/pci.h"
#include "vm/vm.h"
#include "x86/boot.h"
#include "x86/emulation_gap.h"

struct pc {
	int kvm_fd;
	struct vm vm;
	bool vm_created;
	struct serial serial;
	struct i8042 i8042;
	struct debug_exit debug_exit;
	struct fw_cfg fw_cfg;
	struct acpi_pm acpi_pm;
	struct pc_testdev testdev;
	struct pci_bus pci;
	struct pci_device host_bridge;
	struct virtio_pci *rng;
	struct virtio_pci *disk_pci[KILN_MAX_DISKS];
	struct virtio_blk *disks[KILN_MAX_DISKS];
	unsigned int nr_disks;
	struct virtio_console *console;
	struct virtio_pci *console_pci;
	int console_out_fd;       /* opened for --virtio-console=PATH, else -1 */
	struct boot_entry entry;
	unsigned int phys_bits;
	int cpu_template;         /* resolved enum cpu_template */
	struct emulation_stats emulation;
};

/* Build the whole machine, ready for vm_start(). */
int pc_create(struct pc *pc, const struct kiln_config *cfg, int console_fd,
	      struct kiln_err *err);
void pc_destroy(struct pc *pc);

#endif
