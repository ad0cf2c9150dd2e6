// SPDX-License-Identifier: MIT
#include "x86/pc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/log.h"
#include "virtio/rng.h"
#include "vm/irq.h"
#include "vm/kvm.h"
#include "x86/acpi.h"
#include "x86/boot_cpu.h"
#include "x86/cpu_profile.h"
#include "x86/cpuid.h"
#include "x86/layout.h"

/* CPUID leaves kiln may add to what KVM reports (paravirt, topology). */
#define CPUID_EXTRA_ENTRIES 16

static int check_layout(int kvm_fd, uint64_t ram_size, unsigned int *phys_bits_out,
			struct kiln_err *err)
{
	struct guest_memory plan;
	struct kvm_cpuid2 *supported;
	unsigned int capacity, phys_bits;
	int ret;

	if (guest_mem_plan(&plan, ram_size, LAYOUT_PCI_HOLE_START) < 0)
		return err_set(err, -EINVAL, "cannot lay out %llu MiB of guest RAM",
			       (unsigned long long)(ram_size >> 20));
	ret = kvm_get_supported_cpuid(kvm_fd, &supported, 0, &capacity);
	if (ret)
		return err_set_errno(err, ret, "KVM_GET_SUPPORTED_CPUID failed");
	phys_bits = cpuid_phys_addr_bits(supported);
	*phys_bits_out = phys_bits;
	free(supported);
	if (layout_check_phys_bits(&plan, phys_bits))
		return err_set(err, -ERANGE, "%llu MiB of RAM and the 64-bit PCI window after it "
			       "end at guest-physical 0x%llx, beyond the CPU's %u physical "
			       "address bits", (unsigned long long)(ram_size >> 20),
			       (unsigned long long)(layout_pci_mmio64(&plan) +
						    LAYOUT_PCI_MMIO64_SIZE), phys_bits);
	return 0;
}

static bool pc_complete_emulation(struct vcpu *vcpu, void *ctx)
{
	struct pc *pc = ctx;

	return emulation_gap_complete(vcpu, pc->phys_bits, &pc->emulation);
}

static int register_port(struct pc *pc, uint64_t base, uint64_t len, io_handler_fn fn,
			 void *ctx, const char *name, struct kiln_err *err)
{
	int ret = io_bus_register(&pc->vm.pio, base, len, fn, ctx, name);

	return ret ? err_set_errno(err, ret, "cannot register %s at port 0x%llx", name,
				   (unsigned long long)base) : 0;
}

/* QEMU's test device, for kvm-unit-tests-style guests. */
static int pc_add_testdev(struct pc *pc, struct kiln_err *err)
{
	int ret;

	pc_testdev_init(&pc->testdev, &pc->vm.machine);
	ret = register_port(pc, PC_TESTDEV_SCRATCH_PORT, PC_TESTDEV_SCRATCH_LEN,
			    pc_testdev_port_io, &pc->testdev, "pc-testdev", err);
	if (!ret)
		ret = register_port(pc, PC_TESTDEV_IRQ_PORT, PC_TESTDEV_IRQ_LINES,
				    pc_testdev_irq_io, &pc->testdev, "pc-testdev-irq", err);
	if (ret)
		return ret;
	ret = io_bus_register(&pc->vm.mmio, PC_TESTDEV_MMIO_BASE, PC_TESTDEV_MMIO_LEN,
			      pc_testdev_mmio, &pc->testdev, "pc-testdev-mmio");
	return ret ? err_set_errno(err, ret, "cannot register pc-testdev's MMIO buffer") : 0;
}

static int pc_add_devices(struct pc *pc, const struct kiln_config *cfg, int console_fd,
			  struct kiln_err *err)
{
	const struct machine_ops *m = &pc->vm.machine;
	int ret;

	serial_init(&pc->serial, m, SERIAL_COM1_IRQ, console_fd);
	pc->i8042.machine = m;
	pc->debug_exit.machine = m;
	fw_cfg_init(&pc->fw_cfg, cfg->memory_mib << 20, cfg->cpus);
	acpi_pm_init(&pc->acpi_pm, m);

	ret = register_port(pc, SERIAL_COM1_PORT, SERIAL_PORT_LEN, serial_io, &pc->serial,
			    "serial", err);
	if (!ret)
		ret = register_port(pc, I8042_DATA_PORT, 1, i8042_data_io, &pc->i8042,
				    "i8042", err);
	if (!ret)
		ret = register_port(pc, I8042_COMMAND_PORT, 1, i8042_command_io, &pc->i8042,
				    "i8042", err);
	if (!ret)
		ret = register_port(pc, FW_CFG_SELECTOR_PORT, FW_CFG_PORT_LEN, fw_cfg_io,
				    &pc->fw_cfg, "fw_cfg", err);
	if (!ret)
		ret = register_port(pc, ACPI_PM_BASE, ACPI_PM_PORT_LEN, acpi_pm_io,
				    &pc->acpi_pm, "acpi-pm", err);
	if (!ret)
		ret = pc_add_testdev(pc, err);
	if (!ret && cfg->debug_exit)
		ret = register_port(pc, DEBUG_EXIT_PORT, DEBUG_EXIT_LEN, debug_exit_io,
				    &pc->debug_exit, "debug-exit", err);
	return ret;
}

static int host_ioeventfd(void *ctx, uint64_t addr, unsigned int len, int fd, bool add)
{
	return add ? vm_ioeventfd_add(ctx, addr, len, fd) : vm_ioeventfd_remove(ctx, addr, len, fd);
}

static int host_msi_route(void *ctx, unsigned int route, uint64_t addr, uint32_t data, int fd)
{
	return vm_msi_route(ctx, route, addr, data, fd);
}

/* A virtio device's MSI routes: one per queue, and one for config changes. */
static int pc_alloc_routes(struct pc *pc, unsigned int nr_queues, unsigned int *route_base)
{
	return vm_msi_alloc(&pc->vm, nr_queues + 1, route_base);
}

static int pc_add_disk(struct pc *pc, const struct kiln_disk *d, const struct virtio_pci_host *host,
		       struct kiln_err *err)
{
	unsigned int i = pc->nr_disks;
	struct virtio_device_model model = {
		.device_id = VIRTIO_ID_BLOCK, .class_code = 0x018000,
		.nr_queues = d->queues, .queue_max_size = VIRTIO_BLK_QUEUE_SIZE,
		.handler = virtio_blk_handle, .config_read = virtio_blk_config_read,
		.queue_poll = virtio_blk_queue_poll,
	};
	static const char *const names[KILN_MAX_DISKS] = {
		"blk0", "blk1", "blk2", "blk3", "blk4", "blk5", "blk6", "blk7",
	};
	unsigned int route_base;
	int ret;

	pc->disks[i] = calloc(1, sizeof(*pc->disks[i]));
	pc->disk_pci[i] = calloc(1, sizeof(*pc->disk_pci[i]));
	if (!pc->disks[i] || !pc->disk_pci[i])
		return err_set(err, -ENOMEM, "out of memory for disk '%s'", d->path);
	pc->nr_disks++;
	ret = virtio_blk_init(pc->disks[i], d->path, d->readonly, d->queues, d->serial,
			      (enum block_direct)d->direct, err);
	if (ret)
		return ret;
	pc->disks[i]->busy_poll_ns = d->poll_us * 1000;
	model.name = names[i];
	model.device = pc->disks[i];
	model.features = virtio_blk_features(pc->disks[i]);
	ret = pc_alloc_routes(pc, model.nr_queues, &route_base);
	if (!ret)
		ret = virtio_pci_init(pc->disk_pci[i], &model, &pc->vm.mem, host, route_base);
	if (!ret)
		ret = pci_bus_plug(&pc->pci, &pc->disk_pci[i]->pci);
	return ret < 0 ? err_set_errno(err, ret, "cannot add disk '%s'", d->path) : 0;
}

static int pc_add_console(struct pc *pc, const struct kiln_config *cfg,
			  const struct virtio_pci_host *host, struct kiln_err *err)
{
	struct virtio_device_model model = {
		.name = "con0", .device_id = VIRTIO_ID_CONSOLE, .class_code = 0x078000,
		.nr_queues = VIRTIO_CONSOLE_QUEUES, .queue_max_size = 256,
		.handler = virtio_console_handle, .queue_poll = virtio_console_queue_poll,
	};
	int out = STDOUT_FILENO, in = cfg->console == CONSOLE_VIRTIO ? STDIN_FILENO : -1, ret;
	unsigned int route_base;

	if (cfg->virtio_console_path) {
		pc->console_out_fd = open(cfg->virtio_console_path,
					  O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (pc->console_out_fd < 0)
			return err_set_errno(err, -errno, "--virtio-console '%s'",
					     cfg->virtio_console_path);
		out = pc->console_out_fd;
	}
	pc->console = calloc(1, sizeof(*pc->console));
	pc->console_pci = calloc(1, sizeof(*pc->console_pci));
	if (!pc->console || !pc->console_pci)
		return err_set(err, -ENOMEM, "out of memory for the virtio console");
	virtio_console_init(pc->console, out, in);
	model.device = pc->console;
	ret = pc_alloc_routes(pc, model.nr_queues, &route_base);
	if (!ret)
		ret = virtio_pci_init(pc->console_pci, &model, &pc->vm.mem, host, route_base);
	if (!ret)
		ret = pci_bus_plug(&pc->pci, &pc->console_pci->pci);
	return ret < 0 ? err_set_errno(err, ret, "cannot add the virtio console") : 0;
}

/* PCI bus 0: host bridge in slot 0, then the virtio devices asked for. */
static int pc_add_pci(struct pc *pc, const struct kiln_config *cfg, struct kiln_err *err)
{
	static const struct virtio_device_model rng_model = {
		.name = "rng0", .device_id = VIRTIO_ID_RNG, .class_code = 0xff0000,
		.nr_queues = VIRTIO_RNG_QUEUES, .queue_max_size = 256,
		.handler = virtio_rng_handle,
	};
	struct virtio_pci_host host = {
		.ioeventfd = host_ioeventfd, .msi_route = host_msi_route, .ctx = &pc->vm,
	};
	uint64_t mmio64 = layout_pci_mmio64(&pc->vm.mem);
	unsigned int route_base;
	int ret;

	pci_bus_init(&pc->pci, LAYOUT_PCI_MMIO32, LAYOUT_PCI_MMIO32_END, mmio64,
		     mmio64 + LAYOUT_PCI_MMIO64_SIZE);
	pci_device_init(&pc->host_bridge, 0x1b36, 0x0008, 0x060000, 0);
	ret = register_port(pc, 0xcf8, 8, pci_config_port_io, &pc->pci, "pci-config", err);
	if (!ret)
		ret = io_bus_register(&pc->vm.mmio, LAYOUT_PCI_ECAM, LAYOUT_PCI_ECAM_SIZE,
				      pci_ecam_io, &pc->pci, "pci-ecam");
	if (!ret)
		ret = io_bus_register(&pc->vm.mmio, LAYOUT_PCI_MMIO32,
				      LAYOUT_PCI_MMIO32_END - LAYOUT_PCI_MMIO32, pci_mmio32_io,
				      &pc->pci, "pci-mmio32");
	if (!ret)
		ret = io_bus_register(&pc->vm.mmio, pc->pci.mmio64.base,
				      pc->pci.mmio64.end - pc->pci.mmio64.base, pci_mmio64_io,
				      &pc->pci, "pci-mmio64");
	if (!ret)
		ret = pci_bus_plug(&pc->pci, &pc->host_bridge);
	if (ret < 0)
		return err_set_errno(err, ret, "cannot set up PCI bus 0");
	for (unsigned int i = 0; i < cfg->nr_disks; i++)
		if ((ret = pc_add_disk(pc, &cfg->disks[i], &host, err)))
			return ret;
	if (cfg->virtio_console && (ret = pc_add_console(pc, cfg, &host, err)))
		return ret;
	if (!cfg->rng)
		return 0;
	pc->rng = calloc(1, sizeof(*pc->rng));
	if (!pc->rng)
		return err_set(err, -ENOMEM, "out of memory for virtio-rng");
	ret = pc_alloc_routes(pc, rng_model.nr_queues, &route_base);
	if (!ret)
		ret = virtio_pci_init(pc->rng, &rng_model, &pc->vm.mem, &host, route_base);
	if (!ret)
		ret = pci_bus_plug(&pc->pci, &pc->rng->pci);
	return ret < 0 ? err_set_errno(err, ret, "cannot add virtio-rng") : 0;
}

static int pc_setup_cpuid(struct pc *pc, struct kiln_err *err)
{
	struct kvm_cpuid2 *supported, *table;
	unsigned int capacity;
	size_t bytes;
	int ret;

	ret = kvm_get_supported_cpuid(pc->kvm_fd, &supported, CPUID_EXTRA_ENTRIES, &capacity);
	if (ret)
		return err_set_errno(err, ret, "KVM_GET_SUPPORTED_CPUID failed");
	bytes = sizeof(*table) + capacity * sizeof(table->entries[0]);
	table = malloc(bytes);
	if (!table) {
		free(supported);
		return err_set(err, -ENOMEM, "out of memory for the CPUID table");
	}
	for (unsigned int i = 0; i < pc->vm.nr_vcpus && !ret; i++) {
		memcpy(table, supported, bytes);
		ret = cpuid_fixup(table, capacity, i, pc->vm.nr_vcpus, err);
		if (!ret)
			cpu_profile_apply(table, (enum cpu_template)pc->cpu_template);
		if (!ret && (ret = vcpu_set_cpuid(&pc->vm.vcpus[i], table)))
			err_set_errno(err, ret, "cannot set vCPU %u's CPUID", i);
	}
	free(table);
	free(supported);
	return ret;
}

static int pc_setup_vcpus(struct pc *pc, struct kiln_err *err)
{
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	int ret;

	for (unsigned int i = 0; i < pc->vm.nr_vcpus; i++) {
		struct vcpu *vcpu = &pc->vm.vcpus[i];

		ret = vcpu_set_lapic_lint(vcpu);
		if (!ret)
			ret = vcpu_set_fpu_defaults(vcpu);
		if (ret)
			return err_set_errno(err, ret, "cannot initialise vCPU %u", i);
	}
	/* Only the boot CPU gets the entry state; the others wait for
	 * INIT/SIPI in the in-kernel LAPIC, as on real hardware. */
	ret = vcpu_get_regs(&pc->vm.vcpus[0], &regs, &sregs);
	if (ret)
		return err_set_errno(err, ret, "cannot read the boot vCPU's registers");
	ret = boot_cpu_setup(&pc->vm.mem, &pc->entry, &regs, &sregs);
	if (ret)
		return err_set_errno(err, ret, "cannot prepare the boot CPU state");
	ret = vcpu_set_regs(&pc->vm.vcpus[0], &regs, &sregs);
	return ret ? err_set_errno(err, ret, "cannot set the boot vCPU's registers") : 0;
}

static int pc_load(struct pc *pc, const struct kiln_config *cfg, struct kiln_err *err)
{
	/* The tables describe the windows the PCI bus decodes. */
	struct acpi_config acpi = {
		.nr_cpus = cfg->cpus,
		.mmio64_base = pc->pci.mmio64.base,
		.mmio64_size = pc->pci.mmio64.end - pc->pci.mmio64.base,
	};
	struct boot_request req = {
		.mem = &pc->vm.mem,
		.kernel_path = cfg->kernel,
		.initrd_path = cfg->initrd,
		.cmdline = cfg->cmdline ? cfg->cmdline : "",
		.linux_cmdline_extra = pc->cpu_template == CPU_TEMPLATE_PVM_SAFE ? PVM_LINUX_CMDLINE
										  : NULL,
	};
	int ret;

	ret = acpi_build(&pc->vm.mem, &acpi, &req.rsdp_gpa, err);
	if (!ret)
		ret = boot_load(&req, &pc->entry, err);
	return ret;
}

int pc_create(struct pc *pc, const struct kiln_config *cfg, int console_fd,
	      struct kiln_err *err)
{
	uint64_t ram_size = cfg->memory_mib << 20;
	int ret;

	memset(pc, 0, sizeof(*pc));
	pc->console_out_fd = -1;
	pc->kvm_fd = kvm_open(kvm_device_path(cfg->kvm_device), err);
	if (pc->kvm_fd < 0)
		return pc->kvm_fd;
	ret = check_layout(pc->kvm_fd, ram_size, &pc->phys_bits, err);
	if (ret)
		return ret;
	pc->cpu_template = cpu_template_resolve((enum cpu_template)cfg->cpu_template,
						!strcmp(kvm_backend_name(), "PVM"),
						cfg->no_pvm_profile);
	/* Say so to a person at a terminal; scripts keep a quiet stderr. */
	if (pc->cpu_template == CPU_TEMPLATE_PVM_SAFE && cfg->cpu_template == CPU_TEMPLATE_AUTO &&
	    (isatty(STDERR_FILENO) || cfg->verbose))
		fprintf(stderr, "kiln: notice: PVM host: using the pvm-safe CPU profile "
			"(--no-pvm-profile to turn it off)\n");
	ret = vm_create(&pc->vm, pc->kvm_fd, ram_size, LAYOUT_PCI_HOLE_START, cfg->cpus, err);
	pc->vm_created = true;
	if (ret)
		return ret;
	pc->vm.trace_mmio = cfg->trace_mmio;
	pc->vm.complete_emulation = pc_complete_emulation;
	pc->vm.complete_emulation_ctx = pc;
	ret = pc_add_devices(pc, cfg, console_fd, err);
	if (!ret)
		ret = pc_add_pci(pc, cfg, err);
	if (!ret)
		ret = pc_load(pc, cfg, err);
	if (!ret)
		ret = pc_setup_cpuid(pc, err);
	if (!ret)
		ret = pc_setup_vcpus(pc, err);
	return ret;
}

void pc_destroy(struct pc *pc)
{
	if (pc->console_pci)
		virtio_pci_reset(pc->console_pci);
	free(pc->console_pci);
	free(pc->console);
	pc->console_pci = NULL;
	pc->console = NULL;
	if (pc->console_out_fd > 0)
		close(pc->console_out_fd);
	pc->console_out_fd = -1;
	for (unsigned int i = 0; i < pc->nr_disks; i++) {
		if (pc->disk_pci[i])
			virtio_pci_reset(pc->disk_pci[i]);
		if (pc->disks[i])
			virtio_blk_destroy(pc->disks[i]);
		free(pc->disk_pci[i]);
		free(pc->disks[i]);
	}
	pc->nr_disks = 0;
	if (pc->rng) {
		virtio_pci_reset(pc->rng);
		free(pc->rng);
		pc->rng = NULL;
	}
	if (pc->vm_created)
		vm_destroy(&pc->vm);
	serial_destroy(&pc->serial);
	if (pc->kvm_fd >= 0)
		close(pc->kvm_fd);
	pc->kvm_fd = -1;
	pc->vm_created = false;
}
