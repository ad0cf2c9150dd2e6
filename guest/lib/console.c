// SPDX-License-Identifier: MIT
/* COM1 output and a small printf. Lines are formatted into a buffer and
 * written under a lock so CPUs do not interleave characters. */
#include "guest.h"

#define COM1 0x3f8
#define LSR_THR_EMPTY 0x20

static volatile int console_lock;

static void lock(void)
{
	while (__atomic_exchange_n(&console_lock, 1, __ATOMIC_ACQUIRE))
		cpu_relax();
}

static void unlock(void)
{
	__atomic_store_n(&console_lock, 0, __ATOMIC_RELEASE);
}

static void serial_put(char c)
{
	while (!(inb(COM1 + 5) & LSR_THR_EMPTY))
		cpu_relax();
	outb(COM1, (uint8_t)c);
}

void putchar(int c)
{
	lock();
	serial_put((char)c);
	unlock();
}

void puts(const char *s)
{
	lock();
	while (*s)
		serial_put(*s++);
	unlock();
}

struct out {
	char *buf;
	size_t size, len;
};

static void emit(struct out *o, char c)
{
	if (o->len + 1 < o->size)
		o->buf[o->len] = c;
	o->len++;
}

static void emit_number(struct out *o, uint64_t v, unsigned int base, int width, char pad,
			bool negative)
{
	char digits[24];
	int n = 0;

	do {
		digits[n++] = "0123456789abcdef"[v % base];
		v /= base;
	} while (v);
	if (negative)
		digits[n++] = '-';
	for (; width > n; width--)
		emit(o, pad);
	while (n)
		emit(o, digits[--n]);
}

int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap)
{
	struct out o = { buf, size, 0 };

	for (; *fmt; fmt++) {
		int width = 0, longs = 0;
		char pad = ' ';
		uint64_t v;

		if (*fmt != '%') {
			emit(&o, *fmt);
			continue;
		}
		fmt++;
		if (*fmt == '0')
			pad = '0';
		while (*fmt >= '0' && *fmt <= '9')
			width = width * 10 + (*fmt++ - '0');
		while (*fmt == 'l') {
			longs++;
			fmt++;
		}
		switch (*fmt) {
		case 'd':
			v = longs ? (uint64_t)va_arg(ap, long) : (uint64_t)(long)va_arg(ap, int);
			emit_number(&o, (int64_t)v < 0 ? -v : v, 10, width, pad, (int64_t)v < 0);
			break;
		case 'u':
		case 'x':
			v = longs ? va_arg(ap, uint64_t) : va_arg(ap, unsigned int);
			emit_number(&o, v, *fmt == 'u' ? 10 : 16, width, pad, false);
			break;
		case 'p':
			emit(&o, '0');
			emit(&o, 'x');
			emit_number(&o, (uintptr_t)va_arg(ap, void *), 16, width, pad, false);
			break;
		case 's': {
			const char *s = va_arg(ap, const char *);

			for (s = s ? s : "(null)"; *s; s++)
				emit(&o, *s);
			break;
		}
		case 'c':
			emit(&o, (char)va_arg(ap, int));
			break;
		case '%':
			emit(&o, '%');
			break;
		default:
			emit(&o, '?');
			break;
		}
	}
	if (size)
		buf[o.len < size ? o.len : size - 1] = '\0';
	return (int)o.len;
}

int snprintf(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, size, fmt, ap);
	va_end(ap);
	return n;
}

int printf(const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	puts(buf);
	return n;
}
