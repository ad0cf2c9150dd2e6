// SPDX-License-Identifier: MIT
#include "x86/pc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "devices/acpi_pm.h"
#include "devices/debug_exit.h"
#include "devices/fw_cfg.h"
#include "devices/i8042.h"
#include "devices/pc_testdev.h"
#include "devices/pci_host.h"
#include "devices/rtc.h"
#include "util/log.h"
#include "virtio/blk.h"
#include "virtio/console.h"
#include "virtio/pci_device.h"
#include "virtio/net.h"
#include "virtio/rng.h"
#include "virtio/vsock.h"
#include "vm/irq.h"
#include "vm/kvm.h"
#include "x86/acpi.h"
#include "x86/acpi_wake.h"
#include "x86/boot_cpu.h"
#include "x86/cpu_profile.h"
#include "x86/cpu_setup.h"
#include "x86/cpuid.h"
#include "x86/firmware_state.h"
#include "x86/layout.h"
#include "x86/snapshot_config.h"

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

static int host_ioeventfd(void *ctx, uint64_t addr, unsigned int len, int fd, bool add)
{
	struct pc *pc = ctx;

	return add ? vm_ioeventfd_add(&pc->vm, addr, len, fd)
		   : vm_ioeventfd_remove(&pc->vm, addr, len, fd);
}

static int host_msi_route(void *ctx, unsigned int route, uint64_t addr, uint32_t data, int fd)
{
	struct pc *pc = ctx;

	return vm_msi_route(&pc->vm, route, addr, data, fd);
}

static int host_msi_alloc(void *ctx, unsigned int count, unsigned int *first)
{
	struct pc *pc = ctx;

	return vm_msi_alloc(&pc->vm, count, first);
}

/* PCI bus 0: configuration space at 0xcf8 and in ECAM, BARs in the two
 * windows of the layout. Its functions are devices of their own. */
static int pc_setup_pci_bus(struct pc *pc, struct kiln_err *err)
{
	uint64_t mmio64 = layout_pci_mmio64(&pc->vm.mem);
	int ret;

	pci_bus_init(&pc->pci, LAYOUT_PCI_MMIO32, LAYOUT_PCI_MMIO32_END, mmio64,
		     mmio64 + LAYOUT_PCI_MMIO64_SIZE);
	ret = device_register_io(&pc->vm.pio, 0xcf8, 8, pci_config_port_io, &pc->pci,
				 "pci-config", err);
	if (!ret)
		ret = device_register_io(&pc->vm.mmio, LAYOUT_PCI_ECAM, LAYOUT_PCI_ECAM_SIZE,
					 pci_ecam_io, &pc->pci, "pci-ecam", err);
	if (!ret)
		ret = device_register_io(&pc->vm.mmio, LAYOUT_PCI_MMIO32,
					 LAYOUT_PCI_MMIO32_END - LAYOUT_PCI_MMIO32, pci_mmio32_io,
					 &pc->pci, "pci-mmio32", err);
	if (!ret)
		ret = device_register_io(&pc->vm.mmio, pc->pci.mmio64.base,
					 pc->pci.mmio64.end - pc->pci.mmio64.base, pci_mmio64_io,
					 &pc->pci, "pci-mmio64", err);
	return ret;
}

/*
 * The board: every kind of device it can have, in the order they are made
 * (which is also the PCI slot order). A kind creates nothing when the
 * configuration does not ask for it. A new device is its file and a line
 * here.
 */
static const struct device_kind *const pc_device_kinds[] = {
	&serial_kind,
	&i8042_kind,
	&rtc_kind,
	&fw_cfg_kind,
	&acpi_pm_kind,
	&pc_testdev_kind,
	&debug_exit_kind,
	&pci_host_kind,
	&virtio_blk_kind,
	&virtio_console_kind,
	&virtio_rng_kind,
	&virtio_net_kind,
	&virtio_vsock_kind,
};

/* The wake from S3, on each vCPU's own thread (vm/vcpu_run.c): the boot
 * CPU at the OS's waking vector, the others waiting for INIT/SIPI. Pending
 * events go: they belong to the state before the sleep. */
static int pc_wake_vcpu(struct vcpu *vcpu, void *ctx)
{
	struct pc *pc = ctx;
	struct kvm_vcpu_events events;
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	bool boot = vcpu->index == 0;
	int ret = vcpu_get_regs(vcpu, &regs, &sregs);

	if (!ret && boot)
		ret = acpi_wake_boot_cpu(&pc->vm.mem, LAYOUT_ACPI_FACS, &regs, &sregs);
	else if (!ret)
		acpi_wake_other_cpu(&regs, &sregs);
	if (ret == -ENOEXEC)
		pr_err("the guest slept in S3 without a usable waking vector in its FACS");
	if (!ret)
		ret = vcpu_set_regs(vcpu, &regs, &sregs);
	memset(&events, 0, sizeof(events));
	if (!ret)
		ret = vcpu_set_events(vcpu, &events);
	if (!ret)
		ret = vcpu_set_mp_state(vcpu, boot ? KVM_MP_STATE_RUNNABLE
						   : KVM_MP_STATE_INIT_RECEIVED);
	return ret;
}

/* The chipset's wiring between devices: the RTC's interrupt also sets
 * ACPI's RTC_STS, which wakes the machine from S3 when RTC_EN is set. */
static void pc_wire_devices(struct pc *pc)
{
	struct device *rtc = device_list_find(&pc->devices, "rtc");
	struct device *pm = device_list_find(&pc->devices, "acpi-pm");

	if (rtc && pm)
		rtc_set_irq_tap(rtc->priv, &(struct rtc_irq_tap){ acpi_pm_rtc_event, pm->priv });
}

static int pc_add_devices(struct pc *pc, const struct kiln_config *cfg, int console_fd,
			  struct kiln_err *err)
{
	const struct device_env env = {
		.cfg = cfg, .machine = &pc->vm.machine, .pio = &pc->vm.pio, .mmio = &pc->vm.mmio,
		.pci = &pc->pci, .mem = &pc->vm.mem, .virtio = &pc->virtio_host,
		.console_fd = console_fd, .devices = &pc->devices,
	};
	struct device *com1;
	int ret;

	pc->virtio_host = (struct virtio_pci_host){
		.ioeventfd = host_ioeventfd, .msi_route = host_msi_route,
		.msi_alloc = host_msi_alloc, .ctx = pc,
	};
	ret = pc_setup_pci_bus(pc, err);
	for (size_t i = 0; !ret && i < sizeof(pc_device_kinds) / sizeof(pc_device_kinds[0]); i++)
		ret = pc_device_kinds[i]->create(&env, err);
	if (ret)
		return ret;
	com1 = device_list_find(&pc->devices, "com1");
	pc->com1 = com1 ? com1->priv : NULL;
	pc_wire_devices(pc);
	return 0;
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

/* The PICs and PIT as a PC BIOS leaves them, for the images a firmware's
 * loader would have started (x86/firmware_state.h). */
static int pc_setup_firmware_timers(struct pc *pc, struct kiln_err *err)
{
	struct kvm_pic_state pic;
	struct kvm_pit_state2 pit;
	int ret = 0;

	if (!firmware_state_wanted(pc->entry.format))
		return 0;
	for (unsigned int chip = KVM_IRQCHIP_PIC_MASTER; !ret && chip <= KVM_IRQCHIP_PIC_SLAVE;
	     chip++) {
		ret = vm_get_pic(&pc->vm, chip, &pic);
		if (!ret) {
			firmware_pic_state(&pic, chip == KVM_IRQCHIP_PIC_SLAVE);
			ret = vm_set_pic(&pc->vm, chip, &pic);
		}
	}
	if (ret)
		return err_set_errno(err, ret, "cannot initialise the in-kernel PIC");
	ret = vm_get_pit(&pc->vm, &pit);
	if (!ret) {
		firmware_pit_state(&pit);
		ret = vm_set_pit(&pc->vm, &pit);
	}
	return ret ? err_set_errno(err, ret, "cannot start the in-kernel PIT") : 0;
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

int pc_start(struct pc *pc, struct kiln_err *err)
{
	int ret = device_list_start(&pc->devices, err);

	return ret ? ret : vm_start(&pc->vm, err);
}

int pc_start_paused(struct pc *pc, struct kiln_err *err)
{
	int ret = device_list_start(&pc->devices, err);

	if (!ret)
		ret = device_list_pause(&pc->devices, err);
	if (!ret)
		ret = vm_start_paused(&pc->vm, err);
	if (!ret)
		pc->paused = true;
	return ret;
}

/* What snapshots need from the machine being built, read now: the
 * configuration and the MSR list (/dev/kvm is out of reach later). */
static int pc_prepare_snapshots(struct pc *pc, const struct kiln_config *cfg,
				struct kiln_err *err)
{
	int ret;

	pc->snapshot_config = snapshot_config_encode(cfg, pc->cpu_template);
	if (!pc->snapshot_config)
		return err_set(err, -ENOMEM, "out of memory");
	ret = kvm_get_msr_lists(pc->kvm_fd, &pc->msr_indices, &pc->nr_msrs);
	return ret ? err_set_errno(err, ret, "cannot list the MSRs KVM saves") : 0;
}

/* Everything but the guest's contents: KVM, RAM (from mem_fd when >= 0),
 * devices, CPUID. */
static int pc_build(struct pc *pc, const struct kiln_config *cfg, int console_fd, int mem_fd,
		    struct kiln_err *err)
{
	uint64_t ram_size = cfg->memory_mib << 20;
	int ret;

	pc->kvm_fd = kvm_open(kvm_device_path(cfg->kvm_device), err);
	if (pc->kvm_fd < 0)
		return pc->kvm_fd;
	ret = check_layout(pc->kvm_fd, ram_size, &pc->phys_bits, err);
	if (ret)
		return ret;
	pc->cpu_template = cpu_template_resolve((enum cpu_template)cfg->cpu_template,
						!strcmp(kvm_backend_name(), "PVM"),
						cfg->no_pvm_profile, cfg->cpu_features != NULL);
	/* Say so to a person at a terminal; scripts keep a quiet stderr. */
	if (pc->cpu_template == CPU_TEMPLATE_PVM_SAFE && cfg->cpu_template == CPU_TEMPLATE_AUTO &&
	    (isatty(STDERR_FILENO) || cfg->verbose))
		fprintf(stderr, "kiln: notice: PVM host: using the pvm-safe CPU profile "
			"(--no-pvm-profile to turn it off)\n");
	ret = vm_create_from_file(&pc->vm, pc->kvm_fd, ram_size, LAYOUT_PCI_HOLE_START, cfg->cpus,
				  mem_fd, cfg->track_dirty_pages, err);
	pc->vm_created = true;
	if (ret)
		return ret;
	pc->vm.trace_mmio = cfg->trace_mmio;
	pc->vm.complete_emulation = pc_complete_emulation;
	pc->vm.complete_emulation_ctx = pc;
	pc->vm.wake_vcpu = pc_wake_vcpu;
	pc->vm.wake_vcpu_ctx = pc;
	ret = pc_add_devices(pc, cfg, console_fd, err);
	if (!ret)
		ret = pc_prepare_snapshots(pc, cfg, err);
	if (!ret)
		ret = cpu_setup_vcpus(&pc->vm, &(struct cpu_setup){
			.kvm_fd = pc->kvm_fd, .profile = (enum cpu_template)pc->cpu_template,
			.custom_json = cfg->cpu_config, .features = cfg->cpu_features,
			.hyperv = cfg->hyperv }, err);
	return ret;
}

void pc_init(struct pc *pc)
{
	memset(pc, 0, sizeof(*pc));
	pc->kvm_fd = -1;
	pthread_mutex_init(&pc->lifecycle_lock, NULL);
}

int pc_create(struct pc *pc, const struct kiln_config *cfg, int console_fd,
	      struct kiln_err *err)
{
	int ret;

	pc_init(pc);
	ret = boot_check(cfg->kernel, cfg->initrd, err);
	if (!ret)
		ret = pc_build(pc, cfg, console_fd, -1, err);
	/* What a restore takes from the memory file and the state instead:
	 * kernel, firmware tables, the boot CPU's entry state, timers. */
	if (!ret)
		ret = pc_load(pc, cfg, err);
	if (!ret)
		ret = pc_setup_vcpus(pc, err);
	if (!ret)
		ret = pc_setup_firmware_timers(pc, err);
	return ret;
}

int pc_create_restored(struct pc *pc, const struct kiln_config *cfg, int console_fd, int mem_fd,
		       struct kiln_err *err)
{
	pc_init(pc);
	return pc_build(pc, cfg, console_fd, mem_fd, err);
}

void pc_destroy(struct pc *pc)
{
	/* Devices first: their workers touch guest RAM, which the VM owns. */
	device_list_destroy(&pc->devices);
	pc->com1 = NULL;
	if (pc->vm_created)
		vm_destroy(&pc->vm);
	if (pc->kvm_fd >= 0)
		close(pc->kvm_fd);
	pc->kvm_fd = -1;
	pc->vm_created = false;
	free(pc->snapshot_config);
	free(pc->msr_indices);
	pc->snapshot_config = NULL;
	pc->msr_indices = NULL;
}

int pc_pause(struct pc *pc, struct kiln_err *err)
{
	int ret;

	pthread_mutex_lock(&pc->lifecycle_lock);
	if (pc->paused) {
		ret = err_set(err, -EALREADY, "the machine is already paused");
		goto out;
	}
	/* vCPUs first: a parked guest makes no new requests while the
	 * devices finish what they have in flight. */
	ret = vm_pause(&pc->vm, err);
	if (ret)
		goto out;
	ret = device_list_pause(&pc->devices, err);
	if (ret) {
		vm_resume(&pc->vm, NULL);
		goto out;
	}
	pc->paused = true;
out:
	pthread_mutex_unlock(&pc->lifecycle_lock);
	return ret;
}

int pc_resume(struct pc *pc, struct kiln_err *err)
{
	int ret = 0;

	pthread_mutex_lock(&pc->lifecycle_lock);
	if (!pc->paused) {
		ret = err_set(err, -EALREADY, "the machine is already running");
	} else {
		device_list_resume(&pc->devices);
		ret = vm_resume(&pc->vm, err);
		/* vCPUs still parked (their clock not restored): so are the
		 * devices, and the machine stays paused. A stopping machine
		 * counts as running: it is on its way out either way. */
		if (ret && ret != -ESHUTDOWN && !device_list_pause(&pc->devices, NULL))
			pc->paused = true;
		else
			pc->paused = false;
	}
	pthread_mutex_unlock(&pc->lifecycle_lock);
	return ret;
}

bool pc_paused(struct pc *pc)
{
	bool paused;

	pthread_mutex_lock(&pc->lifecycle_lock);
	paused = pc->paused;
	pthread_mutex_unlock(&pc->lifecycle_lock);
	return paused;
}

struct disk_swap {
	const char *path;
	struct kiln_err *err;
};

static int swap_disk(void *device, void *arg)
{
	struct disk_swap *swap = arg;

	return virtio_blk_replace_backend(device, swap->path, swap->err);
}

int pc_replace_disk(struct pc *pc, unsigned int index, const char *path, struct kiln_err *err)
{
	struct disk_swap swap = { path, err };
	struct virtio_pci *vp;
	struct device *dev;
	char name[16];
	int ret;

	snprintf(name, sizeof(name), "blk%u", index);
	dev = device_list_find(&pc->devices, name);
	vp = dev ? virtio_pci_device_transport(dev) : NULL;
	if (!vp)
		return err_set(err, -ENOENT, "no disk %u", index);
	/* Under the lifecycle lock: a machine pause or resume waits for it. */
	pthread_mutex_lock(&pc->lifecycle_lock);
	ret = virtio_pci_change_config(vp, swap_disk, &swap);
	pthread_mutex_unlock(&pc->lifecycle_lock);
	return ret;
}

int pc_send_ctrl_alt_del(struct pc *pc, struct kiln_err *err)
{
	struct device *kbd = device_list_find(&pc->devices, "i8042");
	struct device *pm = device_list_find(&pc->devices, "acpi-pm");

	/* A sleeping machine has no keyboard awake: the request is a press
	 * of the power button, which wakes it. */
	if (pm && acpi_pm_power_button_wake(pm->priv))
		return 0;
	if (!kbd)
		return err_set(err, -ENODEV, "the machine has no i8042 keyboard controller");
	i8042_send_ctrl_alt_del(kbd->priv);
	return 0;
}
