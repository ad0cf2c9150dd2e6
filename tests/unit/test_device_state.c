// SPDX-License-Identifier: MIT
/* Platform devices' snapshot state: each is driven through its ports as a
 * guest would, saved, loaded into a fresh device of the same kind, and read
 * back through the ports; bad sections are refused with one line. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bus/pci.h"
#include "config.h"
#include "devices/acpi_pm.h"
#include "devices/device.h"
#include "devices/fw_cfg.h"
#include "devices/i8042.h"
#include "devices/pc_testdev.h"
#include "devices/pci_host.h"
#include "devices/rtc.h"
#include "devices/serial.h"
#include "util/snapshot_file.h"
#include "util/state_buf.h"
#include "vm/memory.h"
#include "x86/layout.h"

struct fake_machine {
	int irq_level[24];
	int suspends;
};

static void fake_stop(void *ctx, enum machine_stop_reason reason, int status)
{
	(void)ctx; (void)reason; (void)status;
}

static void fake_irq(void *ctx, unsigned int gsi, int level)
{
	((struct fake_machine *)ctx)->irq_level[gsi] = level;
}

static void fake_suspend(void *ctx)
{
	((struct fake_machine *)ctx)->suspends++;
}

/* One board's worth of platform devices, on its own buses. */
struct board {
	struct fake_machine fake;
	struct machine_ops machine;
	struct io_bus pio, mmio;
	struct pci_bus pci;
	struct guest_memory mem;
	struct kiln_config cfg;
	struct device_list devices;
};

static const struct device_kind *const kinds[] = {
	&serial_kind, &i8042_kind, &acpi_pm_kind, &rtc_kind, &fw_cfg_kind, &pci_host_kind,
	&pc_testdev_kind,
};

static struct board *board_new(void)
{
	struct board *b = calloc(1, sizeof(*b));
	struct kiln_err err = { 0 };

	cr_assert_not_null(b);
	b->machine = (struct machine_ops){ .stop = fake_stop, .set_irq = fake_irq,
					   .suspend = fake_suspend, .ctx = &b->fake };
	cr_assert_eq(guest_mem_create(&b->mem, 16 << 20, 3ULL << 30), 0);
	pci_bus_init(&b->pci, 0xc0000000, 0xd0000000, 0, 0);
	b->cfg.cpus = 1;
	b->cfg.memory_mib = 16;
	b->cfg.test_devices = true;
	struct device_env env = {
		.cfg = &b->cfg, .machine = &b->machine, .pio = &b->pio, .mmio = &b->mmio,
		.pci = &b->pci,
		.mem = &b->mem, .console_fd = -1, .devices = &b->devices,
	};
	for (unsigned int i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		cr_assert_eq(kinds[i]->create(&env, &err), 0, "%s: %s", kinds[i]->name, err.msg);
	return b;
}

static void board_free(struct board *b)
{
	device_list_destroy(&b->devices);
	guest_mem_destroy(&b->mem);
	free(b);
}

static void out(struct board *b, uint16_t port, unsigned int size, uint64_t value)
{
	uint8_t data[8];

	io_data_put(data, size, value);
	cr_assert(io_bus_access(&b->pio, port, data, size, true));
}

static uint64_t in(struct board *b, uint16_t port, unsigned int size)
{
	uint8_t data[8];

	cr_assert(io_bus_access(&b->pio, port, data, size, false));
	return io_data_get(data, size);
}

static struct device *dev_of(struct board *b, const char *name)
{
	struct device *dev = device_list_find(&b->devices, name);

	cr_assert_not_null(dev, "%s", name);
	return dev;
}

/* The whole board through a state file, as a snapshot carries it. */
static void carry_over(struct board *from, struct board *to)
{
	struct snapshot_writer w;
	struct snapshot_file *file = calloc(1, sizeof(*file));
	struct kiln_err err = { 0 };
	uint8_t *buf;
	size_t len;

	snapshot_writer_init(&w);
	cr_assert_eq(device_list_save(&from->devices, &w, &err), 0, "%s", err.msg);
	cr_assert_eq(snapshot_writer_finish(&w, &buf, &len, &err), 0, "%s", err.msg);
	cr_assert_eq(snapshot_file_parse(buf, len, "test", file, &err), 0, "%s", err.msg);
	cr_assert_eq(device_list_load(&to->devices, file, NULL, &err), 0, "%s", err.msg);
	free(file);
	free(buf);
}

Test(device_state, serial_keeps_registers_and_fifo)
{
	struct board *a = board_new(), *b = board_new();
	struct serial *uart = dev_of(a, "com1")->priv;

	out(a, 0x3fb, 1, 0x80);          /* DLAB: divisor 3 */
	out(a, 0x3f8, 1, 0x03);
	out(a, 0x3fb, 1, 0x03);          /* 8N1 */
	out(a, 0x3f9, 1, 0x01);          /* receive interrupt */
	out(a, 0x3ff, 1, 0x5a);          /* scratch */
	out(a, 0x3fa, 1, 0x01);          /* FIFO on */
	for (const char *p = "kiln"; *p; p++)
		cr_assert(serial_receive(uart, (uint8_t)*p));
	cr_assert_eq(in(a, 0x3f8, 1), 'k');
	carry_over(a, b);
	cr_assert_eq(b->fake.irq_level[4], 1, "the restored UART drives its IRQ: data waits");
	cr_assert_eq(in(b, 0x3fb, 1), 0x03);
	cr_assert_eq(in(b, 0x3f9, 1), 0x01);
	cr_assert_eq(in(b, 0x3ff, 1), 0x5a);
	cr_assert_eq(in(b, 0x3fa, 1) & 0xcf, 0xc4, "FIFO on, receive data interrupt pending");
	out(b, 0x3fb, 1, 0x83);
	cr_assert_eq(in(b, 0x3f8, 1), 0x03, "divisor latch kept");
	out(b, 0x3fb, 1, 0x03);
	cr_assert_eq(in(b, 0x3f8, 1), 'i');
	cr_assert_eq(in(b, 0x3f8, 1), 'l');
	cr_assert_eq(in(b, 0x3f8, 1), 'n');
	cr_assert_eq(in(b, 0x3fd, 1) & 1, 0, "FIFO drained");
	cr_assert_eq(b->fake.irq_level[4], 0);
	cr_assert(serial_receive(dev_of(b, "com1")->priv, 'x'), "and it goes on receiving");
	cr_assert_eq(in(b, 0x3f8, 1), 'x');
	board_free(a);
	board_free(b);
}

Test(device_state, i8042_keeps_its_queue_and_keyboard)
{
	struct board *a = board_new(), *b = board_new();

	out(a, 0x64, 1, 0x60);           /* write command byte: no translation */
	out(a, 0x60, 1, 0x05);
	out(a, 0x60, 1, 0xf0);           /* keyboard: scan set ... */
	cr_assert_eq(in(a, 0x60, 1), 0xfa);
	out(a, 0x60, 1, 0x03);           /* ... 3 */
	cr_assert_eq(in(a, 0x60, 1), 0xfa);
	out(a, 0x60, 1, 0xf2);           /* identify: ACK, 0xab, 0x83 */
	cr_assert_eq(in(a, 0x60, 1), 0xfa);
	carry_over(a, b);
	cr_assert_eq(in(b, 0x64, 1) & 0x01, 0x01, "output buffer still full");
	cr_assert_eq(in(b, 0x60, 1), 0xab);
	cr_assert_eq(in(b, 0x60, 1), 0x83);
	cr_assert_eq(in(b, 0x64, 1) & 0x01, 0);
	out(b, 0x60, 1, 0xf0);           /* which scan set? */
	out(b, 0x60, 1, 0x00);
	cr_assert_eq(in(b, 0x60, 1), 0xfa);
	cr_assert_eq(in(b, 0x60, 1), 0xfa);
	cr_assert_eq(in(b, 0x60, 1), 3, "the keyboard's scan set came along");
	out(b, 0x64, 1, 0x20);
	cr_assert_eq(in(b, 0x60, 1), 0x05, "command byte kept");
	board_free(a);
	board_free(b);
}

Test(device_state, acpi_pm_timer_counts_on_from_what_the_guest_saw)
{
	struct board *a = board_new(), *b = board_new();
	struct acpi_pm *pm = dev_of(a, "acpi-pm")->priv;
	uint32_t before, after;

	out(a, ACPI_PM1A_EVT_BLK + 2, 2, ACPI_PM1_PWRBTN | ACPI_PM1_RTC);
	/* A machine that has run three seconds: its timer is far from 0. */
	pm->timer_origin_ns -= 3000000000ULL;
	before = (uint32_t)in(a, ACPI_PM_TMR_BLK, 4);
	carry_over(a, b);
	after = (uint32_t)in(b, ACPI_PM_TMR_BLK, 4);
	cr_assert_lt((after - before) & 0xffffff, ACPI_PM_TIMER_HZ / 2,
		     "the restored timer goes on from 0x%x (reads 0x%x), not from 0", before, after);
	cr_assert_eq(in(b, ACPI_PM1A_EVT_BLK + 2, 2), ACPI_PM1_PWRBTN | ACPI_PM1_RTC);
	cr_assert_eq(in(b, ACPI_PM1A_CNT_BLK, 2) & ACPI_PM1_SCI_EN, ACPI_PM1_SCI_EN);
	acpi_pm_rtc_event(dev_of(b, "acpi-pm")->priv);
	cr_assert_eq(b->fake.irq_level[ACPI_SCI_IRQ], 1, "RTC_EN came along: the SCI rises");
	board_free(a);
	board_free(b);
}

Test(device_state, rtc_keeps_cmos_and_the_guest_time)
{
	struct board *a = board_new(), *b = board_new();

	out(a, 0x70, 1, 0x40);
	out(a, 0x71, 1, 0x5a);            /* CMOS RAM */
	out(a, 0x70, 1, RTC_REG_B);
	out(a, 0x71, 1, RTC_B_24H | RTC_B_DM_BINARY);
	out(a, 0x70, 1, RTC_YEAR);
	out(a, 0x71, 1, 1);               /* the guest sets its clock to 20x01 */
	out(a, 0x70, 1, RTC_CENTURY);
	out(a, 0x71, 1, 19);              /* 1901 */
	out(a, 0x70, 1, 0x8a);            /* NMI masked, register A selected */
	carry_over(a, b);
	cr_assert_eq(in(b, 0x70, 1), 0x8a, "index and NMI mask kept");
	out(b, 0x70, 1, 0x40);
	cr_assert_eq(in(b, 0x71, 1), 0x5a);
	out(b, 0x70, 1, RTC_REG_B);
	cr_assert_eq(in(b, 0x71, 1), RTC_B_24H | RTC_B_DM_BINARY);
	out(b, 0x70, 1, RTC_CENTURY);
	cr_assert_eq(in(b, 0x71, 1), 19, "the guest's clock, not the host's");
	out(b, 0x70, 1, RTC_YEAR);
	cr_assert_eq(in(b, 0x71, 1), 1);
	board_free(a);
	board_free(b);
}

Test(device_state, fw_cfg_and_pci_host_keep_their_position)
{
	struct board *a = board_new(), *b = board_new();
	uint8_t command[2] = { 0x06, 0 };

	out(a, FW_CFG_SELECTOR_PORT, 2, FW_CFG_SIGNATURE);
	cr_assert_eq(in(a, FW_CFG_DATA_PORT, 1), 'Q');
	cr_assert_eq(in(a, FW_CFG_DATA_PORT, 1), 'E');
	pci_config_access(&a->pci, 0, PCI_COMMAND, command, 2, true);
	pci_config_port_io(&a->pci, 0, (uint8_t[]){ 0x04, 0, 0, 0x80 }, 4, true);
	carry_over(a, b);
	cr_assert_eq(in(b, FW_CFG_DATA_PORT, 1), 'M', "the item's offset came along");
	cr_assert_eq(in(b, FW_CFG_DATA_PORT, 1), 'U');
	cr_assert_eq(b->pci.config_address, 0x80000004u, "the 0xcf8 latch");
	pci_config_access(&b->pci, 0, PCI_COMMAND, command, 2, false);
	cr_assert_eq(command[0], 0x06, "the bridge's command register");
	board_free(a);
	board_free(b);
}

Test(device_state, pc_testdev_keeps_scratch_and_buffer)
{
	struct board *a = board_new(), *b = board_new();
	uint8_t data[4] = { 1, 2, 3, 4 };

	out(a, PC_TESTDEV_SCRATCH_PORT, 4, 0xdeadbeef);
	cr_assert(io_bus_access(&a->mmio, PC_TESTDEV_MMIO_BASE + 0x1230, data, 4, true));
	carry_over(a, b);
	cr_assert_eq(in(b, PC_TESTDEV_SCRATCH_PORT, 4), 0xdeadbeef);
	memset(data, 0, sizeof(data));
	cr_assert(io_bus_access(&b->mmio, PC_TESTDEV_MMIO_BASE + 0x1230, data, 4, false));
	cr_assert_arr_eq(data, ((uint8_t[]){ 1, 2, 3, 4 }), 4);
	board_free(a);
	board_free(b);
}

/* One device's section, for the refusals. */
static struct device_state saved(struct board *b, const char *name)
{
	struct device *dev = dev_of(b, name);
	struct device_state state = { 0 };
	struct kiln_err err = { 0 };

	cr_assert_eq(dev->ops->save(dev, &state, &err), 0, "%s", err.msg);
	return state;
}

static void assert_refused(struct board *b, const char *name, const struct device_state *s,
			   const char *words)
{
	struct device *dev = dev_of(b, name);
	struct kiln_err err = { 0 };

	cr_assert_eq(dev->ops->load(dev, s, &err), -EINVAL, "%s: %s", name, words);
	cr_assert_not_null(strstr(err.msg, name), "names the device: %s", err.msg);
	cr_assert_not_null(strstr(err.msg, words), "says '%s': %s", words, err.msg);
	cr_assert_null(strchr(err.msg, '\n'), "one line");
}

Test(device_state, every_device_refuses_other_versions_and_lengths)
{
	struct board *a = board_new(), *b = board_new();
	const char *names[] = { "com1", "i8042", "acpi-pm", "rtc", "fw_cfg", "pci-host",
				"pc-testdev" };

	for (unsigned int i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		struct device_state s = saved(a, names[i]);
		uint8_t *longer = calloc(1, s.len + 1);
		struct device_state v2 = s, shorter = s, extra = s;

		v2.version = s.version + 1;
		assert_refused(b, names[i], &v2, "version 2 is not supported");
		shorter.len = s.len - 1;
		assert_refused(b, names[i], &shorter, "too short");
		memcpy(longer, s.data, s.len);
		extra.data = longer;
		extra.len = s.len + 1;
		assert_refused(b, names[i], &extra, "too long");
		free(longer);
		free(s.data);
	}
	board_free(a);
	board_free(b);
}

/* Change one byte of a device's section and expect it refused. */
static void refuse_byte(struct board *a, struct board *b, const char *name, size_t off,
			uint8_t value, const char *words)
{
	struct device_state s = saved(a, name);

	cr_assert_lt(off, s.len);
	((uint8_t *)s.data)[off] = value;
	assert_refused(b, name, &s, words);
	free(s.data);
}

Test(device_state, out_of_range_fields_are_refused)
{
	struct board *a = board_new(), *b = board_new();

	refuse_byte(a, b, "com1", 0, 0xff, "IER");
	refuse_byte(a, b, "com1", 7, 2, "THR interrupt");
	refuse_byte(a, b, "com1", 8, 17, "receive FIFO count");
	refuse_byte(a, b, "i8042", I8042_RAM_LEN + 5, 17, "output queue length");
	refuse_byte(a, b, "i8042", I8042_RAM_LEN + 7 + 2 * I8042_QUEUE_LEN, 7, "scan-code set");
	refuse_byte(a, b, "i8042", I8042_RAM_LEN, 0x02, "output port");
	refuse_byte(a, b, "acpi-pm", 3, 0x80, "PM1 enable");
	refuse_byte(a, b, "acpi-pm", 6, 2, "sleeping flag");
	refuse_byte(a, b, "acpi-pm", 10, 0x01, "PM timer");
	refuse_byte(a, b, "rtc", RTC_CMOS_SIZE + 1 + 8 + 3, 0x40, "clock offset nanoseconds");
	refuse_byte(a, b, "rtc", RTC_CMOS_SIZE + 1 + 32, 0x80, "register C flags");
	refuse_byte(a, b, "pci-host", 4 + PCI_VENDOR_ID, 0x00, "config space byte");
	board_free(a);
	board_free(b);
}

Test(device_state, a_machine_saved_asleep_sleeps_on)
{
	struct board *a = board_new(), *b = board_new();

	out(a, ACPI_PM1A_CNT_BLK, 2, (ACPI_SLP_TYP_S3 << ACPI_PM1_SLP_TYP_SHIFT) | ACPI_SLP_EN);
	cr_assert_eq(a->fake.suspends, 1);
	carry_over(a, b);
	cr_assert_eq(b->fake.suspends, 1, "the restored machine is put to sleep");
	cr_assert(acpi_pm_sleeping(dev_of(b, "acpi-pm")->priv));
	cr_assert(acpi_pm_power_button_wake(dev_of(b, "acpi-pm")->priv), "and wakes");
	board_free(a);
	board_free(b);
}

Test(state_buf, fields_are_little_endian_and_bounded)
{
	struct state_writer w = { 0 };
	struct state_reader r;
	void *data;
	size_t len;
	bool bad = false;

	state_put_u8(&w, 0x01);
	state_put_u16(&w, 0x0302);
	state_put_u32(&w, 0x07060504);
	state_put_u64(&w, 0x0f0e0d0c0b0a0908ULL);
	cr_assert_eq(state_writer_take(&w, &data, &len), 0);
	cr_assert_eq(len, 15);
	for (unsigned int i = 0; i < len; i++)
		cr_assert_eq(((uint8_t *)data)[i], i + 1, "byte %u", i);
	r = state_reader_init(data, len);
	cr_assert_eq(state_get_bool(&r, &bad), true);
	cr_assert_eq(state_get_u16(&r), 0x0302);
	cr_assert_eq(state_get_u32(&r), 0x07060504);
	cr_assert_not(state_reader_done(&r), "bytes left");
	cr_assert_eq(state_get_u64(&r), 0x0f0e0d0c0b0a0908ULL);
	cr_assert(state_reader_done(&r));
	cr_assert_eq(state_get_u8(&r), 0, "nothing past the end");
	cr_assert_not(state_reader_done(&r), "overrun");
	cr_assert_not(bad);
	free(data);
}
