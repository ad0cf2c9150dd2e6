// SPDX-License-Identifier: MIT
/* The i8042 and its keyboard, driven through the I/O bus as a vCPU would,
 * in the order Linux's i8042 and atkbd drivers talk to them. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <string.h>

#include "bus/io_bus.h"
#include "devices/i8042.h"

#define STATUS_OBF      0x01
#define STATUS_IBF      0x02
#define STATUS_SYSTEM   0x04
#define STATUS_COMMAND  0x08
#define STATUS_UNLOCKED 0x10
#define STATUS_AUX      0x20

#define CTR_KBD_INT     0x01
#define CTR_SYSTEM      0x04
#define CTR_KBD_DISABLE 0x10
#define CTR_AUX_DISABLE 0x20
#define CTR_TRANSLATE   0x40

/* A machine that records interrupt edges and stop requests. */
struct fake_machine {
	enum machine_stop_reason reason;
	int stops;
	int level[16];
	int rising_edges[16];
};

static void fake_stop(void *ctx, enum machine_stop_reason reason, int status)
{
	struct fake_machine *m = ctx;

	cr_assert_eq(status, 0, "a reset exits with status 0");
	if (m->stops++ == 0)
		m->reason = reason;
}

static void fake_irq(void *ctx, unsigned int gsi, int level)
{
	struct fake_machine *m = ctx;

	cr_assert_lt(gsi, 16u);
	if (level && !m->level[gsi])
		m->rising_edges[gsi]++;
	m->level[gsi] = level;
}

static struct fake_machine fake;
static struct machine_ops ops = { .stop = fake_stop, .set_irq = fake_irq, .ctx = &fake };
static struct io_bus bus;
static struct i8042 kbc;

static void setup(void)
{
	memset(&fake, 0, sizeof(fake));
	memset(&bus, 0, sizeof(bus));
	i8042_init(&kbc, &ops);
	cr_assert_eq(io_bus_register(&bus, I8042_DATA_PORT, 1, i8042_data_io, &kbc, "kbd"), 0);
	cr_assert_eq(io_bus_register(&bus, I8042_COMMAND_PORT, 1, i8042_command_io, &kbc,
				     "kbd"), 0);
}

static void teardown(void)
{
	i8042_destroy(&kbc);
}

TestSuite(i8042, .init = setup, .fini = teardown);

static uint8_t status(void)
{
	uint8_t data = 0;

	io_bus_access(&bus, I8042_COMMAND_PORT, &data, 1, false);
	return data;
}

/* Writes wait for the input buffer as Linux does; ours is always empty. */
static void write_port(uint16_t port, uint8_t value)
{
	cr_assert_eq(status() & STATUS_IBF, 0, "input buffer must be empty before a write");
	io_bus_access(&bus, port, &value, 1, true);
}

static void command(uint8_t value)
{
	write_port(I8042_COMMAND_PORT, value);
}

static void data_out(uint8_t value)
{
	write_port(I8042_DATA_PORT, value);
}

static uint8_t read_data(void)
{
	uint8_t data = 0;

	io_bus_access(&bus, I8042_DATA_PORT, &data, 1, false);
	return data;
}

/* The next byte for the guest: the output buffer must say one is there. */
static uint8_t expect_byte(void)
{
	cr_assert(status() & STATUS_OBF, "a byte should be waiting");
	return read_data();
}

static void expect_bytes(const uint8_t *want, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++) {
		uint8_t got = expect_byte();

		cr_assert_eq(got, want[i], "byte %u: got 0x%02x, want 0x%02x", i, got, want[i]);
	}
	cr_assert_eq(status() & STATUS_OBF, 0, "nothing after the %u bytes", n);
}

static void expect_empty(void)
{
	cr_assert_eq(status() & STATUS_OBF, 0, "output buffer should be empty");
}

static uint8_t read_ctr(void)
{
	command(0x20);
	return expect_byte();
}

static void write_ctr(uint8_t value)
{
	command(0x60);
	data_out(value);
}

Test(i8042, linux_probe_sequence)
{
	uint8_t ctr;
	int edges;

	/* i8042_platform_init: A20 through the output port, then a null command. */
	command(0xd1);
	data_out(0xdf);
	command(0xff);
	cr_assert_eq(fake.stops, 0, "neither may reset the machine");
	expect_empty(); /* i8042_controller_check's flush finds the controller idle */

	/* i8042_controller_init: a stable CTR, translation as firmware left it. */
	ctr = read_ctr();
	cr_assert_eq(read_ctr(), ctr);
	cr_assert(ctr & CTR_TRANSLATE);
	cr_assert(status() & STATUS_UNLOCKED, "no keylock warning");
	cr_assert(status() & STATUS_SYSTEM);
	ctr = (uint8_t)((ctr | CTR_KBD_DISABLE) & ~CTR_KBD_INT);
	write_ctr(ctr);
	cr_assert_eq(read_ctr(), ctr, "CTR written back reads the same");

	/* Self-test and keyboard interface test. */
	command(0xaa);
	cr_assert_eq(expect_byte(), 0x55);
	command(0xab);
	cr_assert_eq(expect_byte(), 0x00);

	/* i8042_check_aux: the loopback does not come back unchanged and the
	 * AUX interface test reports an error, so there is no AUX port. */
	command(0xd3);
	data_out(0x5a);
	cr_assert(status() & STATUS_AUX, "the loopback answer is AUX data");
	cr_assert_neq(read_data(), 0x5a);
	command(0xa9);
	uint8_t aux_test = expect_byte();
	cr_assert(aux_test != 0x00 && aux_test != 0xfa && aux_test != 0xff,
		  "AUX test must fail (got 0x%02x)", aux_test);
	expect_empty();

	/* i8042_enable_kbd_port, then atkbd: get ID, deactivate, LEDs, rate, enable. */
	ctr = (uint8_t)((ctr & ~CTR_KBD_DISABLE) | CTR_KBD_INT);
	edges = fake.rising_edges[I8042_KBD_IRQ]; /* firmware left IRQ 1 on: early reads */
	write_ctr(ctr);
	cr_assert_eq(fake.rising_edges[I8042_KBD_IRQ], edges, "nothing to interrupt for yet");
	data_out(0xff);
	expect_bytes((const uint8_t[]){ 0xfa, 0xaa }, 2);
	data_out(0xf2);
	expect_bytes((const uint8_t[]){ 0xfa, 0xab, 0x41 }, 3); /* 0x83 translated */
	data_out(0xf5);
	expect_bytes((const uint8_t[]){ 0xfa }, 1);
	data_out(0xed);
	data_out(0x00);
	expect_bytes((const uint8_t[]){ 0xfa, 0xfa }, 2);
	data_out(0xf3);
	data_out(0x2b);
	expect_bytes((const uint8_t[]){ 0xfa, 0xfa }, 2);
	data_out(0xf4);
	expect_bytes((const uint8_t[]){ 0xfa }, 1);
	cr_assert_eq(fake.rising_edges[I8042_KBD_IRQ] - edges, 11,
		     "one interrupt per keyboard byte");
	cr_assert_eq(fake.rising_edges[I8042_AUX_IRQ], 0);
	cr_assert_eq(fake.level[I8042_KBD_IRQ], 0, "edges: the line ends low");
	cr_assert_eq(fake.stops, 0);
}

Test(i8042, keyboard_id_untranslated_and_other_commands)
{
	write_ctr(CTR_SYSTEM); /* no translation, no interrupts */
	data_out(0xf2);
	expect_bytes((const uint8_t[]){ 0xfa, 0xab, 0x83 }, 3);
	data_out(0xee);
	expect_bytes((const uint8_t[]){ 0xee }, 1);
	data_out(0xfe);
	expect_bytes((const uint8_t[]){ 0xee }, 1); /* resend repeats the last byte */
	data_out(0x12);
	expect_bytes((const uint8_t[]){ 0xfe }, 1); /* unknown: asks for a resend */
	data_out(0xf0);
	data_out(0x09);
	expect_bytes((const uint8_t[]){ 0xfa, 0xfe }, 2); /* no scan-code set 9 */
	data_out(0xf0);
	data_out(0x00);
	expect_bytes((const uint8_t[]){ 0xfa, 0xfa, 0x02 }, 3); /* each byte ACKed */
	data_out(0xed);
	data_out(0xf4); /* a command in place of the LED byte runs as a command */
	expect_bytes((const uint8_t[]){ 0xfa, 0xfa }, 2);
	data_out(0xf6);
	expect_bytes((const uint8_t[]){ 0xfa }, 1);
	cr_assert_eq(fake.rising_edges[I8042_KBD_IRQ], 0, "keyboard interrupt is off");
}

Test(i8042, status_tracks_last_port_written)
{
	command(0xae);
	cr_assert(status() & STATUS_COMMAND);
	data_out(0xf4);
	cr_assert_eq(status() & STATUS_COMMAND, 0);
	expect_bytes((const uint8_t[]){ 0xfa }, 1);
	command(0xad);
	cr_assert(read_ctr() & CTR_KBD_DISABLE);
	command(0xae);
	cr_assert_eq(read_ctr() & CTR_KBD_DISABLE, 0);
	command(0xa7);
	cr_assert(read_ctr() & CTR_AUX_DISABLE);
	command(0xa8);
	cr_assert_eq(read_ctr() & CTR_AUX_DISABLE, 0);
	write_ctr(0x00);
	cr_assert_eq(status() & STATUS_SYSTEM, 0, "system flag follows the CTR");
}

Test(i8042, interrupt_exactly_when_a_byte_waits_and_is_enabled)
{
	write_ctr(CTR_TRANSLATE | CTR_SYSTEM); /* interrupt off */
	command(0xaa);
	cr_assert(status() & STATUS_OBF);
	cr_assert_eq(fake.rising_edges[I8042_KBD_IRQ], 0, "disabled: no interrupt");

	write_ctr(CTR_TRANSLATE | CTR_SYSTEM | CTR_KBD_INT);
	cr_assert_eq(fake.rising_edges[I8042_KBD_IRQ], 1, "enabling with a byte waiting");
	write_ctr(CTR_TRANSLATE | CTR_SYSTEM | CTR_KBD_INT);
	cr_assert_eq(fake.rising_edges[I8042_KBD_IRQ], 1, "already enabled: no new edge");
	cr_assert_eq(read_data(), 0x55);
	cr_assert_eq(fake.rising_edges[I8042_KBD_IRQ], 1, "queue empty after the read");

	data_out(0xf2); /* three bytes at once: one edge now, one per further byte */
	cr_assert_eq(fake.rising_edges[I8042_KBD_IRQ], 2);
	read_data();
	cr_assert_eq(fake.rising_edges[I8042_KBD_IRQ], 3);
	read_data();
	cr_assert_eq(fake.rising_edges[I8042_KBD_IRQ], 4);
	read_data();
	cr_assert_eq(fake.rising_edges[I8042_KBD_IRQ], 4, "no byte left, no interrupt");
	read_data();
	cr_assert_eq(fake.rising_edges[I8042_KBD_IRQ], 4);
	cr_assert_eq(fake.level[I8042_KBD_IRQ], 0);
}

static const uint8_t CAD_SET1[] = { 0x1d, 0x38, 0xe0, 0x53, 0xe0, 0xd3, 0xb8, 0x9d };
static const uint8_t CAD_SET2[] = { 0x14, 0x11, 0xe0, 0x71, 0xe0, 0xf0, 0x71,
				    0xf0, 0x11, 0xf0, 0x14 };

Test(i8042, ctrl_alt_del_in_set_1_when_translating)
{
	i8042_send_ctrl_alt_del(&kbc);
	cr_assert_eq(fake.rising_edges[I8042_KBD_IRQ], 1);
	expect_bytes(CAD_SET1, sizeof(CAD_SET1));
	cr_assert_eq(fake.rising_edges[I8042_KBD_IRQ], (int)sizeof(CAD_SET1),
		     "one interrupt per byte read");
}

Test(i8042, ctrl_alt_del_in_set_2_without_translation)
{
	write_ctr(CTR_SYSTEM | CTR_KBD_INT);
	i8042_send_ctrl_alt_del(&kbc);
	expect_bytes(CAD_SET2, sizeof(CAD_SET2));
	cr_assert_eq(fake.rising_edges[I8042_KBD_IRQ], (int)sizeof(CAD_SET2));
}

Test(i8042, ctrl_alt_del_follows_the_keyboards_scan_set)
{
	write_ctr(CTR_SYSTEM);
	data_out(0xf0);
	data_out(0x01);
	expect_bytes((const uint8_t[]){ 0xfa, 0xfa }, 2);
	i8042_send_ctrl_alt_del(&kbc);
	expect_bytes(CAD_SET1, sizeof(CAD_SET1));

	data_out(0xf0);
	data_out(0x03);
	expect_bytes((const uint8_t[]){ 0xfa, 0xfa }, 2);
	i8042_send_ctrl_alt_del(&kbc);
	expect_bytes((const uint8_t[]){ 0x11, 0x19, 0x64, 0xf0, 0x64, 0xf0, 0x19, 0xf0, 0x11 },
		     9);
}

Test(i8042, ctrl_alt_del_dropped_when_keyboard_is_off)
{
	data_out(0xf5); /* keyboard stops scanning */
	expect_bytes((const uint8_t[]){ 0xfa }, 1);
	i8042_send_ctrl_alt_del(&kbc);
	expect_empty();
	data_out(0xf4);
	expect_bytes((const uint8_t[]){ 0xfa }, 1);
	command(0xad); /* controller disables the keyboard port */
	i8042_send_ctrl_alt_del(&kbc);
	expect_empty();
	command(0xae);
	i8042_send_ctrl_alt_del(&kbc);
	expect_bytes(CAD_SET1, sizeof(CAD_SET1));
}

Test(i8042, reset_by_pulse_command)
{
	command(0xff);
	cr_assert_eq(fake.stops, 0, "0xff pulses no line");
	command(0xfe);
	cr_assert_eq(fake.stops, 1);
	cr_assert_eq(fake.reason, MACHINE_STOP_RESET);
}

Test(i8042, reset_by_output_port)
{
	command(0xd0);
	cr_assert_eq(expect_byte() & 0x03, 0x03, "out of reset, A20 on");
	command(0xd1);
	data_out(0xdd); /* A20 off, reset line still high */
	cr_assert_eq(fake.stops, 0);
	command(0xd0);
	cr_assert_eq(expect_byte(), 0xdd);
	command(0xd1);
	data_out(0xde);
	cr_assert_eq(fake.stops, 1);
	cr_assert_eq(fake.reason, MACHINE_STOP_RESET);
}

Test(i8042, full_queue_drops_instead_of_overflowing)
{
	write_ctr(CTR_SYSTEM); /* untranslated, so bytes come back as written */
	for (unsigned int i = 0; i < 3 * I8042_QUEUE_LEN; i++) {
		command(0xd2); /* write keyboard output buffer */
		data_out((uint8_t)i);
	}
	i8042_send_ctrl_alt_del(&kbc); /* no room: dropped whole */
	for (unsigned int i = 0; i < I8042_QUEUE_LEN; i++)
		cr_assert_eq(expect_byte(), i, "the first %u bytes, in order", I8042_QUEUE_LEN);
	expect_empty();
	cr_assert_eq(read_data(), I8042_QUEUE_LEN - 1, "an empty buffer reads its last byte");

	/* Room for only part of the sequence: none of it is queued. */
	for (unsigned int i = 0; i < I8042_QUEUE_LEN - sizeof(CAD_SET2) + 1; i++) {
		command(0xd2);
		data_out(0x42);
	}
	i8042_send_ctrl_alt_del(&kbc);
	for (unsigned int i = 0; i < I8042_QUEUE_LEN - sizeof(CAD_SET2) + 1; i++)
		cr_assert_eq(expect_byte(), 0x42);
	expect_empty();
}

#define INJECTIONS 2000

static void *inject_ctrl_alt_del(void *arg)
{
	struct i8042 *dev = arg;

	for (unsigned int i = 0; i < INJECTIONS; i++)
		i8042_send_ctrl_alt_del(dev);
	return NULL;
}

Test(i8042, ctrl_alt_del_from_another_thread)
{
	pthread_t injector;
	unsigned long total = 0;
	bool done = false;

	cr_assert_eq(pthread_create(&injector, NULL, inject_ctrl_alt_del, &kbc), 0);
	/* Read as the guest's interrupt handler would, until the injector is
	 * finished and the queue drained: whole sequences only, in order. */
	while (!done || (status() & STATUS_OBF)) {
		if (status() & STATUS_OBF) {
			uint8_t got = read_data();

			cr_assert_eq(got, CAD_SET1[total % sizeof(CAD_SET1)],
				     "byte %lu: 0x%02x", total, got);
			total++;
		} else if (pthread_tryjoin_np(injector, NULL) == 0) {
			done = true;
		}
	}
	cr_assert_eq(total % sizeof(CAD_SET1), 0, "no sequence cut short");
	cr_assert_gt(total, 0);
	cr_assert_eq(fake.rising_edges[I8042_KBD_IRQ], (int)total,
		     "one interrupt per byte presented");
}
