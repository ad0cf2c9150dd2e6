/* SPDX-License-Identifier: MIT */
/*
 * The PC's i8042 keyboard controller with a PS/2 keyboard behind it and no
 * AUX (mouse) port: enough for Linux's i8042 and atkbd drivers to probe it
 * without timeouts, for the host to press Ctrl-Alt-Del (Firecracker's
 * SendCtrlAltDel), and for the guest to reset the machine through it
 * (command 0xfe, or output-port bit 0 cleared).
 *
 * Writes take effect at once, so the input buffer is never full. Bytes for
 * the guest wait in one queue behind the output buffer; the head of the
 * queue is what port 0x60 reads. One mutex covers the device: vCPU threads
 * use the ports while the API thread injects keys.
 */
#ifndef KILN_DEVICES_I8042_H
#define KILN_DEVICES_I8042_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "devices/machine.h"
#include "devices/device.h"

#define I8042_DATA_PORT    0x60
#define I8042_COMMAND_PORT 0x64
#define I8042_KBD_IRQ      1
#define I8042_AUX_IRQ      12

/* Linux's driver flushes at most 16 bytes before it declares the controller
 * absent, so the queue never holds more. */
#define I8042_QUEUE_LEN    16
#define I8042_RAM_LEN      32   /* controller RAM; byte 0 is the command byte */

struct i8042_byte {
	uint8_t value;
	bool from_aux;            /* status AUX data bit, IRQ 12 instead of 1 */
};

/* The PS/2 keyboard on the first port. */
struct i8042_keyboard {
	uint8_t pending_command;  /* command waiting for its parameter, 0: none */
	uint8_t scan_set;         /* 1, 2 or 3 */
	bool scanning;            /* sends key presses (enable 0xf4) */
	uint8_t leds;
	uint8_t typematic;
	uint8_t last_sent;        /* for resend (0xfe) */
};

struct i8042 {
	pthread_mutex_t lock;
	const struct machine_ops *machine;
	uint8_t ram[I8042_RAM_LEN];
	uint8_t output_port;
	uint8_t pending_command;  /* controller command waiting for a data byte, 0: none */
	bool last_write_was_command;
	bool translating_break;   /* translation saw the keyboard's 0xf0 prefix */
	uint8_t output_buffer;    /* the last byte read: what an empty buffer reads */
	struct i8042_byte queue[I8042_QUEUE_LEN];
	unsigned int queue_head, queue_count;
	struct i8042_keyboard kbd;
};

/* Power-on state, as firmware leaves it: translation on, keyboard enabled
 * with its interrupt, scan-code set 2. */
void i8042_init(struct i8042 *dev, const struct machine_ops *machine);
void i8042_destroy(struct i8042 *dev);

/* Port handlers for the I/O bus: 0x60 (data) and 0x64 (status/command). */
void i8042_data_io(void *ctx, uint64_t offset, uint8_t *data, unsigned int size, bool is_write);
void i8042_command_io(void *ctx, uint64_t offset, uint8_t *data, unsigned int size, bool is_write);

/*
 * Press and release Ctrl, Alt and Delete: six key events queued as the guest
 * will read them (scan-code set 1 when the controller translates, else the
 * keyboard's set), with an interrupt. Dropped whole when the keyboard is not
 * scanning, its port is disabled, or the queue has no room for all of them.
 * Safe from any thread.
 */
void i8042_send_ctrl_alt_del(struct i8042 *dev);

/* The board's entry: the keyboard controller at 0x60/0x64. */
extern const struct device_kind i8042_kind;

#endif
