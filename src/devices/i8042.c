// SPDX-License-Identifier: MIT
#include "devices/i8042.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bus/io_bus.h"
#include "util/state_buf.h"

/* Status register (port 0x64 read). */
#define STATUS_OBF          0x01  /* output buffer full: port 0x60 has a byte */
#define STATUS_SYSTEM       0x04  /* mirrors the command byte's system flag */
#define STATUS_COMMAND      0x08  /* the last write went to port 0x64 */
#define STATUS_NOT_INHIBIT  0x10  /* keyboard not locked */
#define STATUS_AUX_DATA     0x20  /* the byte in the output buffer is from AUX */

/* Command byte (controller RAM byte 0). */
#define RAM_COMMAND_BYTE    0
#define CTR_KBD_INT         0x01
#define CTR_AUX_INT         0x02
#define CTR_SYSTEM          0x04
#define CTR_KBD_DISABLE     0x10
#define CTR_AUX_DISABLE     0x20
#define CTR_TRANSLATE       0x40
#define CTR_POWER_ON        (CTR_TRANSLATE | CTR_SYSTEM | CTR_KBD_INT)

/* Output port: bit 0 low holds the CPU in reset; bit 1 is the A20 gate. */
#define OUTPUT_PORT_NO_RESET 0x01
#define OUTPUT_PORT_A20      0x02

/* Controller commands (port 0x64 write). */
#define CMD_READ_RAM_FIRST  0x20  /* 0x20-0x3f: read RAM byte cmd & 0x1f */
#define CMD_READ_RAM_LAST   0x3f
#define CMD_WRITE_RAM_FIRST 0x60  /* 0x60-0x7f: write RAM byte cmd & 0x1f */
#define CMD_WRITE_RAM_LAST  0x7f
#define CMD_AUX_DISABLE     0xa7
#define CMD_AUX_ENABLE      0xa8
#define CMD_AUX_TEST        0xa9
#define CMD_SELF_TEST       0xaa
#define CMD_KBD_TEST        0xab
#define CMD_KBD_DISABLE     0xad
#define CMD_KBD_ENABLE      0xae
#define CMD_READ_OUTPUT     0xd0
#define CMD_WRITE_OUTPUT    0xd1
#define CMD_WRITE_KBD_OBUF  0xd2
#define CMD_WRITE_AUX_OBUF  0xd3  /* AUX loopback */
#define CMD_WRITE_AUX       0xd4
#define CMD_PULSE_FIRST     0xf0  /* 0xf0-0xff: pulse output lines whose bit is 0 */

#define SELF_TEST_PASSED    0x55
#define PORT_TEST_PASSED    0x00
/* No AUX channel: the interface test reports its clock line stuck low, and
 * nothing comes back through it (all ones, as from an empty bus). Linux
 * concludes from these two answers that there is no AUX port. */
#define AUX_TEST_CLOCK_LOW  0x01
#define AUX_NOTHING_THERE   0xff
#define AUX_NO_DEVICE       0xfe

/* Keyboard commands (port 0x60 write) and replies. */
#define KBD_CMD_SET_LEDS    0xed
#define KBD_CMD_ECHO        0xee
#define KBD_CMD_SCAN_SET    0xf0
#define KBD_CMD_GET_ID      0xf2
#define KBD_CMD_TYPEMATIC   0xf3
#define KBD_CMD_ENABLE      0xf4
#define KBD_CMD_DISABLE     0xf5
#define KBD_CMD_DEFAULTS    0xf6
#define KBD_CMD_SET3_FIRST  0xf7  /* 0xf7-0xfa: set-3 key types, for all keys */
#define KBD_CMD_SET3_LAST   0xfa
#define KBD_CMD_RESEND      0xfe
#define KBD_CMD_RESET       0xff
#define KBD_ACK             0xfa
#define KBD_RESEND          0xfe  /* also the answer to what it does not know */
#define KBD_SELF_TEST_OK    0xaa
#define KBD_ID_FIRST        0xab
#define KBD_ID_SECOND       0x83
#define KBD_DEFAULT_TYPEMATIC 0x2b  /* 10.9 characters/s after 500 ms */

#define SCAN_EXTENDED       0xe0
#define SCAN_BREAK_PREFIX   0xf0  /* sets 2 and 3 */
#define SCAN_SET1_BREAK     0x80  /* set 1: make code | 0x80 */

/* A key's make code in each scan-code set; extended keys have an 0xe0
 * prefix in sets 1 and 2. */
struct key_codes {
	uint8_t set1, set2, set3;
	bool extended;
};

static const struct key_codes KEY_LEFT_CTRL = { 0x1d, 0x14, 0x11, false };
static const struct key_codes KEY_LEFT_ALT  = { 0x38, 0x11, 0x19, false };
static const struct key_codes KEY_DELETE    = { 0x53, 0x71, 0x64, true };

/*
 * The controller's set 2 -> set 1 translation, for the bytes this keyboard
 * sends: its keys, the ID's second byte (hence Linux's "ab41") and the
 * scan-code set numbers. Other bytes (ACK, prefixes, self-test) pass as they
 * are; a 0xf0 prefix is swallowed and sets bit 7 of the next byte.
 */
static const struct { uint8_t set2, set1; } TRANSLATION[] = {
	{ 0x01, 0x43 }, { 0x02, 0x41 }, { 0x03, 0x3f },
	{ 0x11, 0x38 }, { 0x14, 0x1d }, { 0x71, 0x53 }, { 0x83, 0x41 },
};

#define CTRL_ALT_DEL_MAX_BYTES 16

static void pulse_irq(struct i8042 *dev, unsigned int irq)
{
	/* ISA interrupts are edge-triggered: one rising edge per byte. */
	machine_set_irq(dev->machine, irq, 1);
	machine_set_irq(dev->machine, irq, 0);
}

/* The interrupt the byte in the output buffer raises under command byte
 * ctr, or -1 when there is no byte or its port's interrupt is off. */
static int head_irq(const struct i8042 *dev, uint8_t ctr)
{
	const struct i8042_byte *head = &dev->queue[dev->queue_head];

	if (!dev->queue_count)
		return -1;
	if (head->from_aux)
		return (ctr & CTR_AUX_INT) ? I8042_AUX_IRQ : -1;
	return (ctr & CTR_KBD_INT) ? I8042_KBD_IRQ : -1;
}

/* A new byte sits in the output buffer: interrupt if its port may. */
static void present_head(struct i8042 *dev)
{
	int irq = head_irq(dev, dev->ram[RAM_COMMAND_BYTE]);

	if (irq >= 0)
		pulse_irq(dev, (unsigned int)irq);
}

static unsigned int queue_room(const struct i8042 *dev)
{
	return I8042_QUEUE_LEN - dev->queue_count;
}

/* False (and the byte dropped) when the queue is full. */
static bool queue_push(struct i8042 *dev, uint8_t value, bool from_aux)
{
	struct i8042_byte *slot;

	if (!queue_room(dev))
		return false;
	slot = &dev->queue[(dev->queue_head + dev->queue_count) % I8042_QUEUE_LEN];
	slot->value = value;
	slot->from_aux = from_aux;
	if (dev->queue_count++ == 0)
		present_head(dev);
	return true;
}

static uint8_t queue_pop(struct i8042 *dev)
{
	if (dev->queue_count) {
		dev->output_buffer = dev->queue[dev->queue_head].value;
		dev->queue_head = (dev->queue_head + 1) % I8042_QUEUE_LEN;
		dev->queue_count--;
		present_head(dev);
	}
	return dev->output_buffer;
}

static uint8_t status_register(const struct i8042 *dev)
{
	uint8_t status = STATUS_NOT_INHIBIT;

	if (dev->queue_count) {
		status |= STATUS_OBF;
		if (dev->queue[dev->queue_head].from_aux)
			status |= STATUS_AUX_DATA;
	}
	if (dev->ram[RAM_COMMAND_BYTE] & CTR_SYSTEM)
		status |= STATUS_SYSTEM;
	if (dev->last_write_was_command)
		status |= STATUS_COMMAND;
	return status;
}

static uint8_t set2_to_set1(uint8_t code)
{
	for (unsigned int i = 0; i < sizeof(TRANSLATION) / sizeof(TRANSLATION[0]); i++)
		if (TRANSLATION[i].set2 == code)
			return TRANSLATION[i].set1;
	return code;
}

/* A byte from the keyboard as the guest will read it; false while the
 * translation holds a break prefix back. */
static bool from_keyboard(struct i8042 *dev, uint8_t raw, uint8_t *out)
{
	if (!(dev->ram[RAM_COMMAND_BYTE] & CTR_TRANSLATE)) {
		*out = raw;
		return true;
	}
	if (raw == SCAN_BREAK_PREFIX) {
		dev->translating_break = true;
		return false;
	}
	*out = set2_to_set1(raw) | (dev->translating_break ? SCAN_SET1_BREAK : 0);
	dev->translating_break = false;
	return true;
}

static void kbd_send(struct i8042 *dev, uint8_t raw)
{
	uint8_t value;

	dev->kbd.last_sent = raw;
	if (from_keyboard(dev, raw, &value))
		queue_push(dev, value, false);
}

static void kbd_defaults(struct i8042_keyboard *kbd)
{
	kbd->pending_command = 0;
	kbd->typematic = KBD_DEFAULT_TYPEMATIC;
}

static void kbd_reset(struct i8042_keyboard *kbd)
{
	kbd_defaults(kbd);
	kbd->scan_set = 2;
	kbd->leds = 0;
	kbd->scanning = true;
}

/* The byte after a command that takes one; false when it is not valid. */
static bool kbd_parameter(struct i8042 *dev, uint8_t command, uint8_t value)
{
	struct i8042_keyboard *kbd = &dev->kbd;

	switch (command) {
	case KBD_CMD_SET_LEDS:
		kbd->leds = value & 0x07;
		kbd_send(dev, KBD_ACK);
		return true;
	case KBD_CMD_TYPEMATIC:
		kbd->typematic = value & 0x7f;
		kbd_send(dev, KBD_ACK);
		return true;
	case KBD_CMD_SCAN_SET:
		if (value > 3)
			return false;
		kbd_send(dev, KBD_ACK);
		if (value == 0)
			kbd_send(dev, kbd->scan_set);
		else
			kbd->scan_set = value;
		return true;
	default:
		return false;
	}
}

static void kbd_command(struct i8042 *dev, uint8_t command)
{
	struct i8042_keyboard *kbd = &dev->kbd;

	switch (command) {
	case KBD_CMD_SET_LEDS:
	case KBD_CMD_TYPEMATIC:
	case KBD_CMD_SCAN_SET:
		kbd->pending_command = command;
		kbd_send(dev, KBD_ACK);
		break;
	case KBD_CMD_ECHO:
		kbd_send(dev, KBD_CMD_ECHO);
		break;
	case KBD_CMD_GET_ID:
		kbd_send(dev, KBD_ACK);
		kbd_send(dev, KBD_ID_FIRST);
		kbd_send(dev, KBD_ID_SECOND);
		break;
	case KBD_CMD_ENABLE:
		kbd->scanning = true;
		kbd_send(dev, KBD_ACK);
		break;
	case KBD_CMD_DISABLE:
		kbd_defaults(kbd);
		kbd->scanning = false;
		kbd_send(dev, KBD_ACK);
		break;
	case KBD_CMD_DEFAULTS:
		kbd_defaults(kbd);
		kbd_send(dev, KBD_ACK);
		break;
	case KBD_CMD_RESEND:
		kbd_send(dev, kbd->last_sent);
		break;
	case KBD_CMD_RESET:
		kbd_reset(kbd);
		kbd_send(dev, KBD_ACK);
		kbd_send(dev, KBD_SELF_TEST_OK);
		break;
	default:
		if (command >= KBD_CMD_SET3_FIRST && command <= KBD_CMD_SET3_LAST)
			kbd_send(dev, KBD_ACK); /* every key already makes and breaks */
		else
			kbd_send(dev, KBD_RESEND);
		break;
	}
}

/* A byte the guest wrote to the keyboard. Parameters are below 0x80, so a
 * byte with bit 7 set always starts a new command, cancelling a pending one. */
static void kbd_receive(struct i8042 *dev, uint8_t byte)
{
	uint8_t pending = dev->kbd.pending_command;

	dev->kbd.pending_command = 0;
	if (pending && !(byte & 0x80)) {
		if (!kbd_parameter(dev, pending, byte))
			kbd_send(dev, KBD_RESEND);
		return;
	}
	kbd_command(dev, byte);
}

static void write_command_byte(struct i8042 *dev, uint8_t value)
{
	bool was_enabled = head_irq(dev, dev->ram[RAM_COMMAND_BYTE]) >= 0;

	dev->ram[RAM_COMMAND_BYTE] = value;
	/* Enabling the interrupt of a byte already waiting raises it. */
	if (!was_enabled)
		present_head(dev);
}

static void write_output_port(struct i8042 *dev, uint8_t value)
{
	dev->output_port = value;
	if (!(value & OUTPUT_PORT_NO_RESET))
		machine_stop(dev->machine, MACHINE_STOP_RESET, 0);
}

/* The data byte a controller command was waiting for. */
static void controller_data(struct i8042 *dev, uint8_t command, uint8_t value)
{
	if (command >= CMD_WRITE_RAM_FIRST && command <= CMD_WRITE_RAM_LAST) {
		if (command == CMD_WRITE_RAM_FIRST)
			write_command_byte(dev, value);
		else
			dev->ram[command & 0x1f] = value;
		return;
	}
	switch (command) {
	case CMD_WRITE_OUTPUT:
		write_output_port(dev, value);
		break;
	case CMD_WRITE_KBD_OBUF:
		queue_push(dev, value, false);
		break;
	case CMD_WRITE_AUX_OBUF:
		queue_push(dev, AUX_NOTHING_THERE, true);
		break;
	case CMD_WRITE_AUX:
		queue_push(dev, AUX_NO_DEVICE, true);
		break;
	default:
		break;
	}
}

static bool command_takes_data(uint8_t command)
{
	return (command >= CMD_WRITE_RAM_FIRST && command <= CMD_WRITE_RAM_LAST) ||
	       (command >= CMD_WRITE_OUTPUT && command <= CMD_WRITE_AUX);
}

static void controller_command(struct i8042 *dev, uint8_t command)
{
	uint8_t *ctr = &dev->ram[RAM_COMMAND_BYTE];

	dev->pending_command = command_takes_data(command) ? command : 0;
	if (command >= CMD_READ_RAM_FIRST && command <= CMD_READ_RAM_LAST) {
		queue_push(dev, dev->ram[command & 0x1f], false);
		return;
	}
	switch (command) {
	case CMD_AUX_DISABLE:
		*ctr |= CTR_AUX_DISABLE;
		break;
	case CMD_AUX_ENABLE:
		*ctr &= ~CTR_AUX_DISABLE;
		break;
	case CMD_AUX_TEST:
		queue_push(dev, AUX_TEST_CLOCK_LOW, false);
		break;
	case CMD_SELF_TEST:
		*ctr |= CTR_SYSTEM;
		queue_push(dev, SELF_TEST_PASSED, false);
		break;
	case CMD_KBD_TEST:
		queue_push(dev, PORT_TEST_PASSED, false);
		break;
	case CMD_KBD_DISABLE:
		*ctr |= CTR_KBD_DISABLE;
		break;
	case CMD_KBD_ENABLE:
		*ctr &= ~CTR_KBD_DISABLE;
		break;
	case CMD_READ_OUTPUT:
		queue_push(dev, dev->output_port, false);
		break;
	default:
		/* 0xf0-0xff pulse the output lines whose bit is clear; line 0 is reset.
		 * 0xff pulses none (Linux sends it as a null command). */
		if (command >= CMD_PULSE_FIRST && !(command & OUTPUT_PORT_NO_RESET))
			machine_stop(dev->machine, MACHINE_STOP_RESET, 0);
		break;
	}
}

void i8042_init(struct i8042 *dev, const struct machine_ops *machine)
{
	memset(dev, 0, sizeof(*dev));
	pthread_mutex_init(&dev->lock, NULL);
	dev->machine = machine;
	dev->ram[RAM_COMMAND_BYTE] = CTR_POWER_ON;
	dev->output_port = OUTPUT_PORT_NO_RESET | OUTPUT_PORT_A20;
	kbd_reset(&dev->kbd);
}

void i8042_destroy(struct i8042 *dev)
{
	pthread_mutex_destroy(&dev->lock);
}

void i8042_data_io(void *ctx, uint64_t offset, uint8_t *data, unsigned int size, bool is_write)
{
	struct i8042 *dev = ctx;
	uint8_t command;

	(void)offset;
	pthread_mutex_lock(&dev->lock);
	if (!is_write) {
		io_data_put(data, size, queue_pop(dev));
	} else {
		dev->last_write_was_command = false;
		command = dev->pending_command;
		dev->pending_command = 0;
		if (command)
			controller_data(dev, command, data[0]);
		else
			kbd_receive(dev, data[0]);
	}
	pthread_mutex_unlock(&dev->lock);
}

void i8042_command_io(void *ctx, uint64_t offset, uint8_t *data, unsigned int size, bool is_write)
{
	struct i8042 *dev = ctx;

	(void)offset;
	pthread_mutex_lock(&dev->lock);
	if (!is_write) {
		io_data_put(data, size, status_register(dev));
	} else {
		dev->last_write_was_command = true;
		controller_command(dev, data[0]);
	}
	pthread_mutex_unlock(&dev->lock);
}

/* Append a key's make or break code in the keyboard's scan-code set. */
static unsigned int key_bytes(const struct key_codes *key, unsigned int set, bool press,
			      uint8_t *out)
{
	unsigned int n = 0;

	if (set == 3) {
		if (!press)
			out[n++] = SCAN_BREAK_PREFIX;
		out[n++] = key->set3;
		return n;
	}
	if (key->extended)
		out[n++] = SCAN_EXTENDED;
	if (set == 1) {
		out[n++] = key->set1 | (press ? 0 : SCAN_SET1_BREAK);
		return n;
	}
	if (!press)
		out[n++] = SCAN_BREAK_PREFIX;
	out[n++] = key->set2;
	return n;
}

void i8042_send_ctrl_alt_del(struct i8042 *dev)
{
	const struct key_codes *keys[] = { &KEY_LEFT_CTRL, &KEY_LEFT_ALT, &KEY_DELETE };
	uint8_t raw[CTRL_ALT_DEL_MAX_BYTES], seen[CTRL_ALT_DEL_MAX_BYTES];
	unsigned int nr_raw = 0, nr_seen = 0;

	pthread_mutex_lock(&dev->lock);
	if (!dev->kbd.scanning || (dev->ram[RAM_COMMAND_BYTE] & CTR_KBD_DISABLE))
		goto out;
	/* Press all three, then release them in reverse order. */
	for (unsigned int i = 0; i < 3; i++)
		nr_raw += key_bytes(keys[i], dev->kbd.scan_set, true, raw + nr_raw);
	for (unsigned int i = 3; i-- > 0;)
		nr_raw += key_bytes(keys[i], dev->kbd.scan_set, false, raw + nr_raw);
	for (unsigned int i = 0; i < nr_raw; i++)
		if (from_keyboard(dev, raw[i], &seen[nr_seen]))
			nr_seen++;
	if (nr_seen > queue_room(dev))
		goto out;
	dev->kbd.last_sent = raw[nr_raw - 1];
	for (unsigned int i = 0; i < nr_seen; i++)
		queue_push(dev, seen[i], false);
out:
	pthread_mutex_unlock(&dev->lock);
}

static void i8042_release(struct device *dev)
{
	i8042_destroy(dev->priv);
}

#define I8042_STATE_VERSION 1

static int i8042_save(struct device *device, struct device_state *out, struct kiln_err *err)
{
	struct i8042 *dev = device->priv;
	struct state_writer w = { 0 };

	pthread_mutex_lock(&dev->lock);
	state_put_bytes(&w, dev->ram, I8042_RAM_LEN);
	state_put_u8(&w, dev->output_port);
	state_put_u8(&w, dev->pending_command);
	state_put_u8(&w, dev->last_write_was_command);
	state_put_u8(&w, dev->translating_break);
	state_put_u8(&w, dev->output_buffer);
	/* The queue oldest first: its head is what port 0x60 reads next. */
	state_put_u8(&w, (uint8_t)dev->queue_count);
	for (unsigned int i = 0; i < I8042_QUEUE_LEN; i++) {
		const struct i8042_byte *b = &dev->queue[(dev->queue_head + i) % I8042_QUEUE_LEN];
		bool used = i < dev->queue_count;

		state_put_u8(&w, used ? b->value : 0);
		state_put_u8(&w, used && b->from_aux);
	}
	state_put_u8(&w, dev->kbd.pending_command);
	state_put_u8(&w, dev->kbd.scan_set);
	state_put_u8(&w, dev->kbd.scanning);
	state_put_u8(&w, dev->kbd.leds);
	state_put_u8(&w, dev->kbd.typematic);
	state_put_u8(&w, dev->kbd.last_sent);
	pthread_mutex_unlock(&dev->lock);
	return device_state_finish(&w, I8042_STATE_VERSION, out, device->name, err);
}

static int i8042_check(const struct i8042 *s, const char *name, struct kiln_err *err)
{
	uint8_t kcmd = s->kbd.pending_command;

	if (!(s->output_port & OUTPUT_PORT_NO_RESET))
		return device_state_bad_field(name, "output port", s->output_port, err);
	if (s->pending_command && !command_takes_data(s->pending_command))
		return device_state_bad_field(name, "pending command", s->pending_command, err);
	if (s->queue_count > I8042_QUEUE_LEN)
		return device_state_bad_field(name, "output queue length", s->queue_count, err);
	if (kcmd && kcmd != KBD_CMD_SET_LEDS && kcmd != KBD_CMD_TYPEMATIC &&
	    kcmd != KBD_CMD_SCAN_SET)
		return device_state_bad_field(name, "keyboard pending command", kcmd, err);
	if (s->kbd.scan_set < 1 || s->kbd.scan_set > 3)
		return device_state_bad_field(name, "keyboard scan-code set", s->kbd.scan_set, err);
	if (s->kbd.leds & ~0x07)
		return device_state_bad_field(name, "keyboard LEDs", s->kbd.leds, err);
	if (s->kbd.typematic & ~0x7f)
		return device_state_bad_field(name, "keyboard typematic", s->kbd.typematic, err);
	return 0;
}

/* Everything into s (a scratch struct) so nothing changes unless all of it
 * is valid. */
static void i8042_read_state(struct state_reader *r, struct i8042 *s, bool *bad)
{
	state_get_bytes(r, s->ram, I8042_RAM_LEN);
	s->output_port = state_get_u8(r);
	s->pending_command = state_get_u8(r);
	s->last_write_was_command = state_get_bool(r, bad);
	s->translating_break = state_get_bool(r, bad);
	s->output_buffer = state_get_u8(r);
	s->queue_count = state_get_u8(r);
	for (unsigned int i = 0; i < I8042_QUEUE_LEN; i++) {
		s->queue[i].value = state_get_u8(r);
		s->queue[i].from_aux = state_get_bool(r, bad);
	}
	s->kbd.pending_command = state_get_u8(r);
	s->kbd.scan_set = state_get_u8(r);
	s->kbd.scanning = state_get_bool(r, bad);
	s->kbd.leds = state_get_u8(r);
	s->kbd.typematic = state_get_u8(r);
	s->kbd.last_sent = state_get_u8(r);
}

static int i8042_load(struct device *device, const struct device_state *in, struct kiln_err *err)
{
	struct i8042 *dev = device->priv, *s;
	struct state_reader r = state_reader_init(in->data, in->len);
	bool bad = false;
	int ret;

	if ((ret = device_state_check_version(in, I8042_STATE_VERSION, device->name, err)))
		return ret;
	s = calloc(1, sizeof(*s));
	if (!s)
		return err_set(err, -ENOMEM, "%s: out of memory", device->name);
	i8042_read_state(&r, s, &bad);
	ret = device_state_check_length(&r, device->name, err);
	if (!ret && bad)
		ret = device_state_bad_field(device->name, "a flag", 2, err);
	if (!ret)
		ret = i8042_check(s, device->name, err);
	if (!ret) {
		/* The interrupt of a byte waiting was raised before the save
		 * (the interrupt controller's state says whether it was taken). */
		pthread_mutex_lock(&dev->lock);
		memcpy(dev->ram, s->ram, sizeof(dev->ram));
		dev->output_port = s->output_port;
		dev->pending_command = s->pending_command;
		dev->last_write_was_command = s->last_write_was_command;
		dev->translating_break = s->translating_break;
		dev->output_buffer = s->output_buffer;
		memcpy(dev->queue, s->queue, sizeof(dev->queue));
		dev->queue_head = 0;
		dev->queue_count = s->queue_count;
		dev->kbd = s->kbd;
		pthread_mutex_unlock(&dev->lock);
	}
	free(s);
	return ret;
}

static const struct device_ops i8042_ops = {
	.save = i8042_save, .load = i8042_load, .destroy = i8042_release,
};

static int i8042_create(const struct device_env *env, struct kiln_err *err)
{
	struct i8042 *dev = device_list_add_new(env->devices, "i8042", sizeof(*dev), &i8042_ops,
						err);
	int ret;

	if (!dev)
		return err->code;
	i8042_init(dev, env->machine);
	ret = device_register_io(env->pio, I8042_DATA_PORT, 1, i8042_data_io, dev, "i8042", err);
	if (!ret)
		ret = device_register_io(env->pio, I8042_COMMAND_PORT, 1, i8042_command_io, dev,
					 "i8042", err);
	return ret;
}

const struct device_kind i8042_kind = { "i8042", i8042_create };
