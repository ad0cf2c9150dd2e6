// SPDX-License-Identifier: MIT
/* PCI bus 0 as a guest's enumeration code sees it through 0xcf8/0xcfc. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "bus/pci.h"

#define WINDOW   0xc1000000ULL
#define WINDOW64 0x100000000ULL     /* 4 GiB: the 64-bit window of a small guest */

static struct pci_bus bus;
static struct pci_device dev;
static uint64_t last_offset;
static unsigned int accesses;
static void *last_ctx;

static void bar_handler(void *ctx, uint64_t offset, uint8_t *data, unsigned int size,
			bool is_write)
{
	last_ctx = ctx;
	last_offset = offset;
	accesses++;
	if (!is_write)
		io_data_put(data, size, 0x1234);
}

static uint32_t cfg_read(unsigned int slot, unsigned int reg, unsigned int size)
{
	uint8_t data[4];

	io_data_put(data, 4, 0x80000000u | (slot << 11) | (reg & 0xfc));
	pci_config_port_io(&bus, 0, data, 4, true);
	pci_config_port_io(&bus, 4 + (reg & 3), data, size, false);
	return (uint32_t)io_data_get(data, size);
}

static void cfg_write(unsigned int slot, unsigned int reg, unsigned int size, uint32_t v)
{
	uint8_t data[4];

	io_data_put(data, 4, 0x80000000u | (slot << 11) | (reg & 0xfc));
	pci_config_port_io(&bus, 0, data, 4, true);
	io_data_put(data, size, v);
	pci_config_port_io(&bus, 4 + (reg & 3), data, size, true);
}

static void setup(void)
{
	uint8_t cap[8] = { 0, 0, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff };

	pci_bus_init(&bus, WINDOW, 0xe0000000ULL, WINDOW64, WINDOW64 + (32ULL << 30));
	pci_device_init(&dev, 0x1af4, 0x1044, 0xff0000, 1);
	cr_assert_eq(pci_device_add_bar(&dev, 1, 0x1000, false, bar_handler, "bar1"), 0);
	cr_assert_eq(pci_device_add_bar(&dev, 4, 0x8000, true, bar_handler, "bar4"), 0);
	cr_assert_eq(pci_device_add_cap(&dev, 0x09, cap, sizeof(cap)), 0x40);
	cr_assert_eq(pci_device_add_cap(&dev, 0x11, cap, 4), 0x48);
	cr_assert_eq(pci_bus_plug(&bus, &dev), 0);
	accesses = 0;
}

TestSuite(pci, .init = setup);

Test(pci, ids_and_empty_slots)
{
	cr_assert_eq(cfg_read(0, 0x00, 4), 0x10441af4);
	cr_assert_eq(cfg_read(0, 0x02, 2), 0x1044);
	cr_assert_eq(cfg_read(0, 0x0b, 1), 0xff, "class");
	cr_assert_eq(cfg_read(1, 0x00, 4), 0xffffffffu, "no device in slot 1");
	cr_assert_eq(cfg_read(31, 0x00, 2), 0xffff);
}

Test(pci, capability_list)
{
	cr_assert(cfg_read(0, 0x06, 2) & 0x10, "status: capability list");
	cr_assert_eq(cfg_read(0, 0x34, 1), 0x40);
	cr_assert_eq(cfg_read(0, 0x40, 1), 0x09);
	cr_assert_eq(cfg_read(0, 0x41, 1), 0x48, "next capability");
	cr_assert_eq(cfg_read(0, 0x42, 2), 0xbbaa, "body");
	cr_assert_eq(cfg_read(0, 0x48, 1), 0x11);
	cr_assert_eq(cfg_read(0, 0x49, 1), 0, "end of list");
}

Test(pci, bar_sizing_and_placement)
{
	uint32_t lo = cfg_read(0, 0x20, 4), hi = cfg_read(0, 0x24, 4);

	cr_assert_eq(lo & 0xf, 0x4, "64-bit memory BAR");
	cr_assert_eq(((uint64_t)hi << 32 | (lo & ~0xfu)), WINDOW64,
		     "the 64-bit BAR at the 64-bit window's start");
	cr_assert_eq(cfg_read(0, 0x14, 4), (uint32_t)WINDOW, "the 32-bit BAR in the 32-bit window");
	cfg_write(0, 0x20, 4, 0xffffffff);
	cfg_write(0, 0x24, 4, 0xffffffff);
	cr_assert_eq(cfg_read(0, 0x20, 4), 0xffff8004u, "size mask of 32 KiB + type");
	cr_assert_eq(cfg_read(0, 0x24, 4), 0xffffffffu);
	cfg_write(0, 0x14, 4, 0xffffffff);
	cr_assert_eq(cfg_read(0, 0x14, 4), 0xfffff000u, "size mask of 4 KiB, 32-bit type");
	cfg_write(0, 0x20, 4, 0x10000);
	cfg_write(0, 0x24, 4, 0x2);
	cr_assert_eq(dev.bars[4].addr, 0x200010000ULL, "the guest moved the BAR");
}

Test(pci, mmio_only_with_memory_space_enabled)
{
	uint8_t data[4];

	pci_mmio64_io(&bus, 0x10, data, 4, false);
	cr_assert_eq(accesses, 0, "memory decoding is off after reset");
	cr_assert_eq(io_data_get(data, 4), 0xffffffffu);
	cfg_write(0, 0x04, 2, 0x2);
	pci_mmio64_io(&bus, 0x10, data, 4, false);
	cr_assert_eq(accesses, 1);
	cr_assert_eq(last_offset, 0x10);
	cr_assert_str_eq(last_ctx, "bar4");
	cr_assert_eq(io_data_get(data, 4), 0x1234);
	pci_mmio64_io(&bus, 0x8000, data, 4, false);
	cr_assert_eq(accesses, 1, "past the BAR");
	pci_mmio64_io(&bus, 0x7ffe, data, 4, false);
	cr_assert_eq(accesses, 1, "straddling the BAR's end");
	pci_mmio32_io(&bus, 0x10, data, 4, false);
	cr_assert_eq(accesses, 2);
	cr_assert_str_eq(last_ctx, "bar1", "the 32-bit window reaches the 32-bit BAR");
}

Test(pci, windows_fill_up)
{
	static struct pci_device more[PCI_MAX_DEVICES];
	int ret = 0;
	unsigned int plugged = 0;

	/* 4 GiB 64-bit BARs: the 32 GiB window takes 7 beyond the first device's. */
	for (unsigned int i = 0; i < PCI_MAX_DEVICES && ret >= 0; i++) {
		pci_device_init(&more[i], 0x1af4, 0x1000, 0, 0);
		cr_assert_eq(pci_device_add_bar(&more[i], 0, 4ULL << 30, true, bar_handler, NULL), 0);
		ret = pci_bus_plug(&bus, &more[i]);
		plugged += ret >= 0;
	}
	cr_assert_eq(ret, -ENOSPC);
	cr_assert_eq(plugged, 7, "4 GiB-aligned BARs after the first 32 KiB one");
	cr_assert_eq(more[6].bars[0].addr, WINDOW64 + (28ULL << 30));
}

Test(pci, without_a_64bit_window_64bit_bars_go_low)
{
	struct pci_bus low;
	struct pci_device d;

	pci_bus_init(&low, WINDOW, 0xe0000000ULL, 0, 0);
	pci_device_init(&d, 0x1af4, 0x1000, 0, 0);
	cr_assert_eq(pci_device_add_bar(&d, 4, 0x8000, true, bar_handler, NULL), 0);
	cr_assert_eq(pci_bus_plug(&low, &d), 0);
	cr_assert_eq(d.bars[4].addr, WINDOW);
}

Test(pci, read_only_fields_stay)
{
	cfg_write(0, 0x00, 4, 0x12345678);
	cr_assert_eq(cfg_read(0, 0x00, 4), 0x10441af4);
	cfg_write(0, 0x34, 1, 0x80);
	cr_assert_eq(cfg_read(0, 0x34, 1), 0x40);
}

Test(pci, ecam_matches_port_io)
{
	uint8_t data[4];

	pci_ecam_io(&bus, (0 << 15) | 0x00, data, 4, false);
	cr_assert_eq(io_data_get(data, 4), 0x10441af4);
	pci_ecam_io(&bus, (3 << 15) | 0x00, data, 4, false);
	cr_assert_eq(io_data_get(data, 4), 0xffffffffu);
	pci_ecam_io(&bus, (0 << 15) | 0x400, data, 4, false);
	cr_assert_eq(io_data_get(data, 4), 0, "extended space of a present device reads 0");
}
