/* SPDX-License-Identifier: MIT */
/*
 * A 16550A UART (COM1 at 0x3f8, IRQ 4). Transmitted bytes go to out_fd at
 * once (up to the console limit when that is a file) (the device has no baud-rate delay); received bytes are pushed by the
 * main thread with serial_receive(). One mutex covers the registers because
 * a vCPU thread and the main thread both touch them.
 */
#ifndef KILN_DEVICES_SERIAL_H
#define KILN_DEVICES_SERIAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "devices/machine.h"
#include "devices/device.h"
#include "util/bounded_output.h"

#define SERIAL_COM1_PORT 0x3f8
#define SERIAL_COM1_IRQ  4
#define SERIAL_PORT_LEN  8
#define SERIAL_FIFO_LEN  16

struct serial {
	pthread_mutex_t lock;
	const struct machine_ops *machine;
	unsigned int irq;
	struct bounded_output out; /* transmitted bytes; fd -1: discarded */
	uint8_t ier, lcr, mcr, scr, dll, dlm, fcr;
	bool thr_interrupt;        /* THR-empty interrupt pending */
	int irq_level;
	uint8_t rx[SERIAL_FIFO_LEN];
	unsigned int rx_head, rx_count;
	int rx_space_fd;           /* eventfd: the full receive FIFO has room again */
	bool rx_space_wanted;      /* serial_receive found it full since */
};

void serial_init(struct serial *uart, const struct machine_ops *machine, unsigned int irq,
		 int out_fd);
void serial_destroy(struct serial *uart);
void serial_io(void *ctx, uint64_t offset, uint8_t *data, unsigned int size, bool is_write);

/* Queue one byte from the host; false when the receive FIFO is full. */
bool serial_receive(struct serial *uart, uint8_t byte);
/* Readable after serial_receive found the FIFO full and the guest has since
 * drained it to half: whoever feeds the UART waits on it instead of dropping
 * input (-1 when it could not be made; then poll). */
int serial_rx_space_fd(const struct serial *uart);

/* The board's entry: COM1 at 0x3f8, IRQ 4, output to env->console_fd. */
extern const struct device_kind serial_kind;

#endif
