// SPDX-License-Identifier: MIT
#include "devices/serial.h"

#include <stdlib.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "bus/io_bus.h"
#include "util/metrics.h"
#include "util/log.h"
#include "util/state_buf.h"

enum { REG_DATA, REG_IER, REG_IIR_FCR, REG_LCR, REG_MCR, REG_LSR, REG_MSR, REG_SCR };

#define IER_RX_AVAIL   0x01
#define IER_THR_EMPTY  0x02
#define IIR_NONE       0x01
#define IIR_THR_EMPTY  0x02
#define IIR_RX_AVAIL   0x04
#define IIR_FIFO_ON    0xc0
#define FCR_ENABLE     0x01
#define FCR_CLEAR_RX   0x02
#define LCR_DLAB       0x80
#define MCR_LOOPBACK   0x10
#define LSR_DATA_READY 0x01
#define LSR_THR_EMPTY  0x20
#define LSR_TX_EMPTY   0x40
#define MSR_CTS        0x10
#define MSR_DSR        0x20
#define MSR_RI         0x40
#define MSR_DCD        0x80

void serial_init(struct serial *uart, const struct machine_ops *machine, unsigned int irq,
		 int out_fd)
{
	memset(uart, 0, sizeof(*uart));
	pthread_mutex_init(&uart->lock, NULL);
	uart->machine = machine;
	uart->irq = irq;
	bounded_output_init(&uart->out, out_fd, "COM1");
	uart->mcr = 0x08; /* OUT2: interrupts routed, as firmware leaves it */
	uart->rx_space_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
}

void serial_destroy(struct serial *uart)
{
	if (uart->rx_space_fd >= 0)
		close(uart->rx_space_fd);
	uart->rx_space_fd = -1;
	pthread_mutex_destroy(&uart->lock);
}

int serial_rx_space_fd(const struct serial *uart)
{
	return uart->rx_space_fd;
}

/* A feeder found the FIFO full and the guest has drained it to half: wake
 * the feeder. Half, not the first free byte, so that one wake-up refills
 * eight bytes rather than one. */
static void rx_space_freed(struct serial *uart)
{
	uint64_t one = 1;

	if (!uart->rx_space_wanted || uart->rx_count > SERIAL_FIFO_LEN / 2)
		return;
	uart->rx_space_wanted = false;
	if (uart->rx_space_fd >= 0 && write(uart->rx_space_fd, &one, sizeof(one)) < 0 &&
	    errno != EAGAIN)
		pr_warn("serial: %s", strerror(errno));
}

static uint8_t serial_iir(const struct serial *uart)
{
	uint8_t fifo = (uart->fcr & FCR_ENABLE) ? IIR_FIFO_ON : 0;

	if ((uart->ier & IER_RX_AVAIL) && uart->rx_count)
		return fifo | IIR_RX_AVAIL;
	if ((uart->ier & IER_THR_EMPTY) && uart->thr_interrupt)
		return fifo | IIR_THR_EMPTY;
	return fifo | IIR_NONE;
}

static void serial_update_irq(struct serial *uart)
{
	int level = (serial_iir(uart) & IIR_NONE) ? 0 : 1;

	if (level != uart->irq_level) {
		uart->irq_level = level;
		machine_set_irq(uart->machine, uart->irq, level);
	}
}

static bool rx_push(struct serial *uart, uint8_t byte)
{
	if (uart->rx_count == SERIAL_FIFO_LEN)
		return false;
	uart->rx[(uart->rx_head + uart->rx_count) % SERIAL_FIFO_LEN] = byte;
	uart->rx_count++;
	return true;
}

static uint8_t rx_pop(struct serial *uart)
{
	uint8_t byte;

	if (!uart->rx_count) {
		METRIC_INC(uart_missed_read_count);
		return 0;
	}
	METRIC_INC(uart_read_count);
	byte = uart->rx[uart->rx_head];
	uart->rx_head = (uart->rx_head + 1) % SERIAL_FIFO_LEN;
	uart->rx_count--;
	rx_space_freed(uart);
	return byte;
}

static void transmit(struct serial *uart, uint8_t byte)
{
	if (uart->mcr & MCR_LOOPBACK) {
		rx_push(uart, byte);
	} else if (bounded_output_write(&uart->out, &byte, 1)) {
		METRIC_INC(uart_missed_write_count); /* past --console-limit */
	} else {
		METRIC_INC(uart_write_count);
	}
	/* Transmission is instantaneous, so THR is empty again at once. */
	uart->thr_interrupt = true;
}

static uint8_t modem_status(const struct serial *uart)
{
	uint8_t mcr = uart->mcr;

	if (!(mcr & MCR_LOOPBACK))
		return MSR_DCD | MSR_DSR | MSR_CTS;
	/* Loopback wires DTR->DSR, RTS->CTS, OUT1->RI, OUT2->DCD. */
	return ((mcr & 0x01) ? MSR_DSR : 0) | ((mcr & 0x02) ? MSR_CTS : 0) |
	       ((mcr & 0x04) ? MSR_RI : 0) | ((mcr & 0x08) ? MSR_DCD : 0);
}

static void serial_write(struct serial *uart, unsigned int reg, uint8_t value)
{
	bool dlab = uart->lcr & LCR_DLAB;

	switch (reg) {
	case REG_DATA:
		if (dlab)
			uart->dll = value;
		else
			transmit(uart, value);
		break;
	case REG_IER:
		if (dlab) {
			uart->dlm = value;
			break;
		}
		/* Enabling the THR-empty interrupt with THR empty raises it. */
		if (!(uart->ier & IER_THR_EMPTY) && (value & IER_THR_EMPTY))
			uart->thr_interrupt = true;
		uart->ier = value & 0x0f;
		break;
	case REG_IIR_FCR:
		uart->fcr = value & 0xc9;
		if (value & FCR_CLEAR_RX) {
			uart->rx_count = 0;
			rx_space_freed(uart);
		}
		break;
	case REG_LCR:
		uart->lcr = value;
		break;
	case REG_MCR:
		uart->mcr = value & 0x1f;
		break;
	case REG_SCR:
		uart->scr = value;
		break;
	default: /* LSR and MSR are read-only */
		break;
	}
}

static uint8_t serial_read(struct serial *uart, unsigned int reg)
{
	bool dlab = uart->lcr & LCR_DLAB;
	uint8_t iir;

	switch (reg) {
	case REG_DATA:
		return dlab ? uart->dll : rx_pop(uart);
	case REG_IER:
		return dlab ? uart->dlm : uart->ier;
	case REG_IIR_FCR:
		iir = serial_iir(uart);
		/* Reading IIR acknowledges a THR-empty interrupt it reports. */
		if ((iir & 0x0f) == IIR_THR_EMPTY)
			uart->thr_interrupt = false;
		return iir;
	case REG_LCR:
		return uart->lcr;
	case REG_MCR:
		return uart->mcr;
	case REG_LSR:
		return LSR_THR_EMPTY | LSR_TX_EMPTY | (uart->rx_count ? LSR_DATA_READY : 0);
	case REG_MSR:
		return modem_status(uart);
	default:
		return uart->scr;
	}
}

void serial_io(void *ctx, uint64_t offset, uint8_t *data, unsigned int size, bool is_write)
{
	struct serial *uart = ctx;

	pthread_mutex_lock(&uart->lock);
	/* A wider access touches consecutive registers, one byte each. The bus
	 * hands over the whole access when it starts inside the UART, so the
	 * bytes past the last register are the empty bus's: writes go nowhere
	 * and reads see 0xff, never a wrap-around to THR/RBR (which would
	 * transmit or consume a received byte). */
	for (unsigned int i = 0; i < size; i++) {
		uint64_t reg = offset + i;

		if (reg >= SERIAL_PORT_LEN) {
			if (!is_write)
				data[i] = 0xff;
			continue;
		}
		if (is_write)
			serial_write(uart, (unsigned int)reg, data[i]);
		else
			data[i] = serial_read(uart, (unsigned int)reg);
	}
	serial_update_irq(uart);
	pthread_mutex_unlock(&uart->lock);
}

bool serial_receive(struct serial *uart, uint8_t byte)
{
	bool queued;

	pthread_mutex_lock(&uart->lock);
	queued = rx_push(uart, byte);
	if (!queued)
		uart->rx_space_wanted = true;
	serial_update_irq(uart);
	pthread_mutex_unlock(&uart->lock);
	return queued;
}

static void serial_release(struct device *dev)
{
	serial_destroy(dev->priv);
}

#define SERIAL_STATE_VERSION 1

/* Registers, then the receive FIFO oldest first. The IRQ line is not
 * saved: it follows from the registers. */
static int serial_save(struct device *dev, struct device_state *out, struct kiln_err *err)
{
	struct serial *uart = dev->priv;
	struct state_writer w = { 0 };

	pthread_mutex_lock(&uart->lock);
	state_put_u8(&w, uart->ier);
	state_put_u8(&w, uart->lcr);
	state_put_u8(&w, uart->mcr);
	state_put_u8(&w, uart->scr);
	state_put_u8(&w, uart->dll);
	state_put_u8(&w, uart->dlm);
	state_put_u8(&w, uart->fcr);
	state_put_u8(&w, uart->thr_interrupt);
	state_put_u8(&w, (uint8_t)uart->rx_count);
	for (unsigned int i = 0; i < SERIAL_FIFO_LEN; i++)
		state_put_u8(&w, i < uart->rx_count
				 ? uart->rx[(uart->rx_head + i) % SERIAL_FIFO_LEN] : 0);
	pthread_mutex_unlock(&uart->lock);
	return device_state_finish(&w, SERIAL_STATE_VERSION, out, dev->name, err);
}

static int serial_check(const struct serial *s, bool bad_bool, const char *name,
			struct kiln_err *err)
{
	if (s->ier & ~0x0f)
		return device_state_bad_field(name, "IER", s->ier, err);
	if (s->mcr & ~0x1f)
		return device_state_bad_field(name, "MCR", s->mcr, err);
	if (s->fcr & ~0xc9)
		return device_state_bad_field(name, "FCR", s->fcr, err);
	if (bad_bool)
		return device_state_bad_field(name, "THR interrupt flag", 2, err);
	if (s->rx_count > SERIAL_FIFO_LEN)
		return device_state_bad_field(name, "receive FIFO count", s->rx_count, err);
	return 0;
}

static int serial_load(struct device *dev, const struct device_state *in, struct kiln_err *err)
{
	struct serial *uart = dev->priv, s = { 0 };
	struct state_reader r = state_reader_init(in->data, in->len);
	bool bad = false;
	int ret;

	if ((ret = device_state_check_version(in, SERIAL_STATE_VERSION, dev->name, err)))
		return ret;
	s.ier = state_get_u8(&r);
	s.lcr = state_get_u8(&r);
	s.mcr = state_get_u8(&r);
	s.scr = state_get_u8(&r);
	s.dll = state_get_u8(&r);
	s.dlm = state_get_u8(&r);
	s.fcr = state_get_u8(&r);
	s.thr_interrupt = state_get_bool(&r, &bad);
	s.rx_count = state_get_u8(&r);
	state_get_bytes(&r, s.rx, SERIAL_FIFO_LEN);
	if ((ret = device_state_check_length(&r, dev->name, err)) ||
	    (ret = serial_check(&s, bad, dev->name, err)))
		return ret;
	pthread_mutex_lock(&uart->lock);
	uart->ier = s.ier;
	uart->lcr = s.lcr;
	uart->mcr = s.mcr;
	uart->scr = s.scr;
	uart->dll = s.dll;
	uart->dlm = s.dlm;
	uart->fcr = s.fcr;
	uart->thr_interrupt = s.thr_interrupt;
	memcpy(uart->rx, s.rx, sizeof(uart->rx));
	uart->rx_head = 0;
	uart->rx_count = s.rx_count;
	uart->rx_space_wanted = false;
	uart->irq_level = -1;     /* drive the line to what the registers say */
	serial_update_irq(uart);
	pthread_mutex_unlock(&uart->lock);
	return 0;
}

static const struct device_ops serial_ops = {
	.save = serial_save, .load = serial_load, .destroy = serial_release,
};

static int serial_create(const struct device_env *env, struct kiln_err *err)
{
	struct serial *uart = device_list_add_new(env->devices, "com1", sizeof(*uart), &serial_ops,
						  err);

	if (!uart)
		return err->code;
	serial_init(uart, env->machine, SERIAL_COM1_IRQ, env->console_fd);
	bounded_output_set_limit(&uart->out, env->cfg->console_limit);
	return device_register_io(env->pio, SERIAL_COM1_PORT, SERIAL_PORT_LEN, serial_io, uart,
				  "serial", err);
}

const struct device_kind serial_kind = { "serial", serial_create };
