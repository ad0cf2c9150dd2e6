// SPDX-License-Identifier: MIT
/* Platform devices driven through the I/O bus exactly as a guest would. */
#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bus/io_bus.h"
#include "devices/acpi_pm.h"
#include "devices/debug_exit.h"
#include "devices/fw_cfg.h"
#include "devices/i8042.h"
#include "devices/pc_testdev.h"
#include "devices/serial.h"
#include "util/metrics.h"
#include "x86/layout.h"

/* A machine that records what devices asked of it. */
struct fake_machine {
	enum machine_stop_reason reason;
	int status;
	int stops;
	int irq_level[24];
	int irq_changes;
};

static void fake_stop(void *ctx, enum machine_stop_reason reason, int status)
{
	struct fake_machine *m = ctx;

	if (m->stops++ == 0) {
		m->reason = reason;
		m->status = status;
	}
}

static void fake_irq(void *ctx, unsigned int gsi, int level)
{
	struct fake_machine *m = ctx;

	m->irq_level[gsi] = level;
	m->irq_changes++;
}

static struct fake_machine fake;
static struct machine_ops ops = { .stop = fake_stop, .set_irq = fake_irq, .ctx = &fake };
static struct io_bus bus;

static void setup(void)
{
	memset(&fake, 0, sizeof(fake));
	memset(&bus, 0, sizeof(bus));
}

static void out(uint16_t port, unsigned int size, uint64_t value)
{
	uint8_t data[8];

	io_data_put(data, size, value);
	io_bus_access(&bus, port, data, size, true);
}

static uint64_t in(uint16_t port, unsigned int size)
{
	uint8_t data[8];

	io_bus_access(&bus, port, data, size, false);
	return io_data_get(data, size);
}

TestSuite(devices, .init = setup);

Test(devices, unhandled_reads_are_all_ones)
{
	cr_assert_eq(in(0x1234, 1), 0xff);
	cr_assert_eq(in(0x1234, 2), 0xffff);
	cr_assert_eq(in(0x1234, 4), 0xffffffffu);
	out(0x1234, 4, 0); /* dropped, no crash */
}

Test(devices, bus_rejects_overlap_and_empty_ranges)
{
	struct i8042 kbd = { .machine = &ops };

	cr_assert_eq(io_bus_register(&bus, 0x60, 1, i8042_data_io, &kbd, "a"), 0);
	cr_assert_eq(io_bus_register(&bus, 0x5f, 2, i8042_data_io, &kbd, "b"), -EEXIST);
	cr_assert_eq(io_bus_register(&bus, 0x70, 0, i8042_data_io, &kbd, "c"), -EINVAL);
	cr_assert_eq(io_bus_register(&bus, UINT64_MAX, 2, i8042_data_io, &kbd, "d"), -EINVAL);
}

Test(devices, debug_exit_status_for_each_width)
{
	struct debug_exit dev = { .machine = &ops };
	const struct { unsigned int size; uint64_t code; int status; } cases[] = {
		{ 1, 0, 1 }, { 1, 1, 3 }, { 2, 38, 77 }, { 4, 0x7f, 0xff },
	};

	io_bus_register(&bus, DEBUG_EXIT_PORT, DEBUG_EXIT_LEN, debug_exit_io, &dev, "dx");
	for (unsigned int i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(&fake, 0, sizeof(fake));
		out(DEBUG_EXIT_PORT, cases[i].size, cases[i].code);
		cr_assert_eq(fake.reason, MACHINE_STOP_DEBUG_EXIT);
		cr_assert_eq(fake.status, cases[i].status, "code %lu size %u -> %d",
			     (unsigned long)cases[i].code, cases[i].size, fake.status);
	}
}

static uint64_t fw_cfg_read(uint16_t key, unsigned int len)
{
	uint64_t value = 0;

	out(FW_CFG_SELECTOR_PORT, 2, key);
	for (unsigned int i = 0; i < len; i++)
		value |= in(FW_CFG_DATA_PORT, 1) << (8 * i);
	return value;
}

Test(devices, fw_cfg_keys)
{
	struct fw_cfg cfg;

	fw_cfg_init(&cfg, 256ULL << 20, 4);
	io_bus_register(&bus, FW_CFG_SELECTOR_PORT, FW_CFG_PORT_LEN, fw_cfg_io, &cfg, "fw");
	cr_assert_eq(fw_cfg_read(FW_CFG_SIGNATURE, 4), 0x554d4551); /* "QEMU" */
	cr_assert_eq(fw_cfg_read(FW_CFG_RAM_SIZE, 8), 256ULL << 20);
	cr_assert_eq(fw_cfg_read(FW_CFG_NB_CPUS, 2), 4);
	cr_assert_eq(fw_cfg_read(FW_CFG_MAX_RAM, 8), 0);
	cr_assert_eq(fw_cfg_read(0x1234, 8), 0, "unknown keys read as zeros");
	/* Reading past an item's end gives zeros, and reselecting restarts. */
	cr_assert_eq(fw_cfg_read(FW_CFG_NB_CPUS, 4), 4);
	cr_assert_eq(fw_cfg_read(FW_CFG_NB_CPUS, 1), 4);
}

Test(devices, acpi_pm_poweroff_only_on_s5_with_slp_en)
{
	struct acpi_pm pm;

	acpi_pm_init(&pm, &ops);
	io_bus_register(&bus, ACPI_PM_BASE, ACPI_PM_PORT_LEN, acpi_pm_io, &pm, "pm");
	cr_assert(in(ACPI_PM1A_CNT_BLK, 2) & 1, "SCI_EN: always in ACPI mode");
	out(ACPI_PM1A_CNT_BLK, 2, (5u << 10) | ACPI_SLP_EN); /* S5? no: type 5 is not ours */
	cr_assert_eq(fake.stops, 0);
	out(ACPI_PM1A_CNT_BLK, 2, ACPI_SLP_TYP_S5 << 10); /* no SLP_EN */
	cr_assert_eq(fake.stops, 0);
	out(ACPI_PM1A_CNT_BLK, 2, (ACPI_SLP_TYP_S5 << 10) | ACPI_SLP_EN);
	cr_assert_eq(fake.reason, MACHINE_STOP_POWEROFF);
	cr_assert_eq(fake.status, 0);
}

Test(devices, acpi_pm_timer_advances)
{
	struct acpi_pm pm;
	uint32_t t0, t1;

	acpi_pm_init(&pm, &ops);
	io_bus_register(&bus, ACPI_PM_BASE, ACPI_PM_PORT_LEN, acpi_pm_io, &pm, "pm");
	t0 = (uint32_t)in(ACPI_PM_TMR_BLK, 4);
	usleep(2000);
	t1 = (uint32_t)in(ACPI_PM_TMR_BLK, 4);
	cr_assert_lt(t0, 1u << 24);
	cr_assert_neq(t0, t1, "the PM timer must tick");
}

/* Serial: a pipe stands in for the terminal. */
static int serial_pipe[2];
static struct serial uart;

static void serial_setup(void)
{
	setup();
	cr_assert_eq(pipe(serial_pipe), 0);
	serial_init(&uart, &ops, SERIAL_COM1_IRQ, serial_pipe[1]);
	io_bus_register(&bus, SERIAL_COM1_PORT, SERIAL_PORT_LEN, serial_io, &uart, "com1");
}

static void serial_teardown(void)
{
	serial_destroy(&uart);
	close(serial_pipe[0]);
	close(serial_pipe[1]);
}

TestSuite(serial, .init = serial_setup, .fini = serial_teardown);

#define COM1 SERIAL_COM1_PORT

Test(serial, transmit_reaches_output)
{
	char buf[8] = { 0 };

	cr_assert_eq(in(COM1 + 5, 1) & 0x60, 0x60, "idle LSR has THRE and TEMT");
	out(COM1, 1, 'o');
	out(COM1, 1, 'k');
	cr_assert_eq(read(serial_pipe[0], buf, 2), 2);
	cr_assert_str_eq(buf, "ok");
}

/* The counters behind the API's "uart" metrics (Firecracker's meaning:
 * bytes the guest wrote and read, and reads of an empty receiver). */
Test(serial, metrics_count_guest_reads_and_writes)
{
	unsigned long writes = METRIC_GET(uart_write_count), reads = METRIC_GET(uart_read_count);
	unsigned long missed = METRIC_GET(uart_missed_read_count);
	char buf[4];

	out(COM1, 1, 'a');
	out(COM1, 1, 'b');
	cr_assert_eq(read(serial_pipe[0], buf, 2), 2);
	cr_assert_eq(METRIC_GET(uart_write_count) - writes, 2);
	cr_assert(serial_receive(&uart, 'x'));
	cr_assert_eq(in(COM1, 1), 'x');
	cr_assert_eq(METRIC_GET(uart_read_count) - reads, 1);
	cr_assert_eq(METRIC_GET(uart_missed_read_count) - missed, 0);
	in(COM1, 1);
	cr_assert_eq(METRIC_GET(uart_missed_read_count) - missed, 1);
	cr_assert_eq(METRIC_GET(uart_read_count) - reads, 1);
}

Test(serial, divisor_latch_does_not_transmit)
{
	out(COM1 + 3, 1, 0x80);        /* DLAB */
	out(COM1 + 0, 1, 0x01);        /* DLL */
	out(COM1 + 1, 1, 0x00);        /* DLM */
	cr_assert_eq(in(COM1 + 0, 1), 0x01);
	out(COM1 + 3, 1, 0x03);        /* 8N1 */
	cr_assert_eq(in(COM1 + 3, 1), 0x03);
	out(COM1 + 7, 1, 0x5a);
	cr_assert_eq(in(COM1 + 7, 1), 0x5a, "scratch register holds its value");
}

Test(serial, receive_raises_and_clears_interrupt)
{
	out(COM1 + 1, 1, 0x01);                 /* IER: received data available */
	cr_assert_eq(in(COM1 + 2, 1) & 0x0f, 0x01, "nothing pending yet");
	cr_assert(serial_receive(&uart, 'x'));
	cr_assert_eq(fake.irq_level[SERIAL_COM1_IRQ], 1);
	cr_assert_eq(in(COM1 + 2, 1) & 0x0f, 0x04);
	cr_assert_eq(in(COM1 + 5, 1) & 1, 1, "LSR data ready");
	cr_assert_eq(in(COM1, 1), 'x');
	cr_assert_eq(fake.irq_level[SERIAL_COM1_IRQ], 0);
	cr_assert_eq(in(COM1 + 5, 1) & 1, 0);
}

Test(serial, thr_empty_interrupt_acknowledged_by_iir_read)
{
	out(COM1 + 1, 1, 0x02);                 /* IER: THR empty */
	cr_assert_eq(fake.irq_level[SERIAL_COM1_IRQ], 1);
	cr_assert_eq(in(COM1 + 2, 1) & 0x0f, 0x02);
	cr_assert_eq(fake.irq_level[SERIAL_COM1_IRQ], 0);
	cr_assert_eq(in(COM1 + 2, 1) & 0x0f, 0x01);
}

Test(serial, fifo_overflow_drops_bytes_and_loopback_echoes)
{
	unsigned int accepted = 0;

	for (unsigned int i = 0; i < SERIAL_FIFO_LEN + 4; i++)
		accepted += serial_receive(&uart, (uint8_t)i);
	cr_assert_eq(accepted, SERIAL_FIFO_LEN);
	out(COM1 + 2, 1, 0x07);                 /* enable and clear FIFOs */
	cr_assert_eq(in(COM1 + 2, 1) & 0xc0, 0xc0, "16550A reports FIFOs enabled");
	cr_assert_eq(in(COM1 + 5, 1) & 1, 0);
	out(COM1 + 4, 1, 0x10 | 0x02);          /* loopback, RTS */
	cr_assert_eq(in(COM1 + 6, 1) & 0xf0, 0x10, "RTS loops to CTS");
	out(COM1, 1, 'L');
	cr_assert_eq(in(COM1, 1), 'L');
}

/* A wide access at the last registers: the bytes past the UART's eight ports
 * belong to no register (reads see the empty bus's 0xff), and must not wrap
 * around to THR/RBR or IER. */
Test(serial, wide_access_past_last_register_does_not_wrap)
{
	char byte;

	cr_assert_eq(fcntl(serial_pipe[0], F_SETFL, O_NONBLOCK), 0);
	out(COM1 + 7, 4, 0x41424344);           /* SCR = 0x44; 'C', 'B', 'A' go nowhere */
	cr_assert_eq(in(COM1 + 7, 1), 0x44);
	cr_assert_eq(read(serial_pipe[0], &byte, 1), -1, "nothing was transmitted");
	cr_assert_eq(errno, EAGAIN);
	cr_assert_eq(in(COM1 + 1, 1), 0, "IER untouched");
	cr_assert(serial_receive(&uart, 'x'));
	cr_assert_eq(in(COM1 + 6, 4) >> 16, 0xffff, "bytes past SCR read as the empty bus");
	cr_assert_eq(in(COM1 + 7, 2), 0xff44);
	cr_assert_eq(in(COM1, 1), 'x', "the received byte was not consumed by a wrapped read");
}

/* COM1 writing to a file stops at the console limit and counts what it
 * dropped; the guest sees nothing of it (THR empties as always). */
Test(serial, file_output_stops_at_the_console_limit)
{
	char path[] = "/tmp/kiln-com1-XXXXXX", buf[16];
	int fd = mkstemp(path);
	unsigned long missed = METRIC_GET(uart_missed_write_count);

	cr_assert_geq(fd, 0);
	unlink(path);
	cr_redirect_stderr();
	serial_destroy(&uart);
	serial_init(&uart, &ops, SERIAL_COM1_IRQ, fd);
	bounded_output_set_limit(&uart.out, 4);
	for (const char *c = "hello!"; *c; c++)
		out(COM1, 1, (uint8_t)*c);
	cr_assert_eq(in(COM1 + 5, 1) & 0x60, 0x60, "the transmitter is idle as always");
	cr_assert_eq(pread(fd, buf, sizeof(buf), 0), 4);
	cr_assert_eq(memcmp(buf, "hell", 4), 0);
	cr_assert_eq(METRIC_GET(uart_missed_write_count) - missed, 2);
	fflush(stderr);
	cr_assert_stderr_eq_str("kiln: warning: COM1 output file reached its limit of 4 bytes "
				"(--console-limit); further output dropped\n");
	close(fd);
}

Test(devices, pc_testdev_scratch_irq_and_mmio)
{
	static struct pc_testdev dev;
	uint8_t data[8];

	pc_testdev_init(&dev, &ops);
	io_bus_register(&bus, PC_TESTDEV_SCRATCH_PORT, PC_TESTDEV_SCRATCH_LEN,
			pc_testdev_port_io, &dev, "td");
	io_bus_register(&bus, PC_TESTDEV_IRQ_PORT, PC_TESTDEV_IRQ_LINES, pc_testdev_irq_io,
			&dev, "td-irq");
	out(0xe0, 4, 0xdeadbeef);
	cr_assert_eq(in(0xe0, 4), 0xdeadbeef);
	cr_assert_eq(in(0xe8, 4), 0xdeadbeef, "0xe8 mirrors 0xe0");
	out(0xe9, 1, 0x11);
	cr_assert_eq(in(0xe0, 4), 0xdead11ef, "byte lanes");
	out(0xe4, 4, 0x12345678); /* ignored */
	cr_assert_eq(in(0xe0, 4), 0xdead11ef);
	out(0xea, 4, 0x99887766); /* 0xec-0xed are past the device: not scratch bytes 0-1 */
	cr_assert_eq(in(0xe0, 4), 0x776611ef, "only 0xea-0xeb (scratch bytes 2-3) changed");
	cr_assert_eq(in(0xea, 4), 0xffff7766, "bytes past 0xeb read as the empty bus");
	out(PC_TESTDEV_IRQ_PORT + 10, 1, 1);
	cr_assert_eq(fake.irq_level[10], 1);
	out(PC_TESTDEV_IRQ_PORT + 10, 1, 0);
	cr_assert_eq(fake.irq_level[10], 0);
	io_data_put(data, 8, 0x0102030405060708ULL);
	pc_testdev_mmio(&dev, 0x100, data, 8, true);
	memset(data, 0, sizeof(data));
	pc_testdev_mmio(&dev, 0x100, data, 8, false);
	cr_assert_eq(io_data_get(data, 8), 0x0102030405060708ULL);
	pc_testdev_mmio(&dev, PC_TESTDEV_MMIO_LEN - 2, data, 8, true); /* clipped, no overrun */
}
