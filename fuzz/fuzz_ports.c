// SPDX-License-Identifier: MIT
/*
 * Every platform device's port I/O, as a guest's IN and OUT reach it: the
 * devices are made by their own create functions (the board's table, minus
 * the virtio ones) on a port bus with PCI configuration at 0xcf8, and the
 * input is a sequence of accesses of any size to any of their ports (or
 * anywhere else). After each input the devices are reset, as on a reboot.
 */
#include <fcntl.h>
#include <stdint.h>
#include <unistd.h>

#include "bus/pci.h"
#include "devices/acpi_pm.h"
#include "devices/debug_exit.h"
#include "devices/fw_cfg.h"
#include "devices/i8042.h"
#include "devices/pc_testdev.h"
#include "devices/pci_host.h"
#include "devices/rtc.h"
#include "devices/serial.h"
#include "fuzz_input.h"
#include "vm/memory.h"
#include "x86/layout.h"

static const struct device_kind *const platform_kinds[] = {
	&serial_kind, &i8042_kind, &fw_cfg_kind, &acpi_pm_kind, &pc_testdev_kind,
	&debug_exit_kind, &pci_host_kind, &rtc_kind,
};

/* The machine: it only counts what the devices ask of it. */
struct fake_machine {
	unsigned long stops, irq_changes, suspends;
};

static void fake_stop(void *ctx, enum machine_stop_reason reason, int status)
{
	struct fake_machine *m = ctx;

	(void)reason;
	(void)status;
	m->stops++;
}

static void fake_irq(void *ctx, unsigned int gsi, int level)
{
	struct fake_machine *m = ctx;

	FUZZ_CHECK(gsi < 24 && (level == 0 || level == 1), "IRQ %u level %d", gsi, level);
	m->irq_changes++;
}

/* ACPI S3 entry: a real machine parks its vCPUs; here the devices go on. */
static void fake_suspend(void *ctx)
{
	struct fake_machine *m = ctx;

	m->suspends++;
}

static struct fake_machine machine;
static const struct machine_ops machine_ops = { .stop = fake_stop, .set_irq = fake_irq,
						.suspend = fake_suspend, .ctx = &machine };
static struct kiln_config cfg = { .command = KILN_CMD_RUN, .cpus = 2, .memory_mib = 256,
				  .debug_exit = true, .test_devices = true };
static struct io_bus pio, mmio;
static struct pci_bus pci;
static struct device_list devices;
static struct guest_memory mem; /* the RTC's CMOS reports its size */

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct device_env env = { .cfg = &cfg, .machine = &machine_ops, .pio = &pio,
				  .mmio = &mmio, .pci = &pci, .devices = &devices, .mem = &mem };
	struct kiln_err err = { 0 };

	(void)argc;
	(void)argv;
	FUZZ_SETUP(guest_mem_create(&mem, 256ULL << 20, 3ULL << 30) == 0);
	env.console_fd = open("/dev/null", O_WRONLY);
	FUZZ_SETUP(env.console_fd >= 0);
	pci_bus_init(&pci, LAYOUT_PCI_MMIO32, LAYOUT_PCI_MMIO32_END, 1ULL << 32, 1ULL << 33);
	FUZZ_SETUP(io_bus_register(&pio, 0xcf8, 8, pci_config_port_io, &pci, "pci-config") == 0);
	for (size_t i = 0; i < sizeof(platform_kinds) / sizeof(platform_kinds[0]); i++)
		FUZZ_SETUP(platform_kinds[i]->create(&env, &err) == 0);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const unsigned int sizes[4] = { 1, 2, 4, 1 }; /* what IN and OUT can do */
	struct fuzz_input in = fuzz_input(data, size);

	while (fuzz_left(&in)) {
		uint8_t op = fuzz_u8(&in), bytes[8] = { 0 };
		unsigned int len = sizes[op & 3];
		uint64_t port;

		/* Mostly a registered range (offset within it), sometimes any port. */
		if (op & 0x80) {
			port = fuzz_u16(&in);
		} else {
			const struct io_range *r = &pio.ranges[fuzz_u8(&in) % pio.nr_ranges];

			port = r->base + fuzz_u8(&in) % r->len;
		}
		if (op & 4)
			fuzz_take(&in, bytes, len);
		io_bus_access(&pio, port, bytes, len, op & 4);
	}
	device_list_reset(&devices);
	return 0;
}
