/* SPDX-License-Identifier: MIT */
/*
 * The PC's CMOS real-time clock, an MC146818 at ports 0x70 (index, bit 7
 * masks NMI) and 0x71 (data), interrupting on IRQ 8, with its 128 bytes of
 * CMOS RAM.
 *
 * The time is the host's clock plus an offset the guest changes by setting
 * the time; it is computed when read, so a running clock costs nothing.
 * The status flags (update ended, alarm, periodic) are brought up to date
 * lazily, whenever the guest touches the chip; only an interrupt the guest
 * has enabled, and not yet acknowledged by reading register C, arms a
 * timer. Clock and timer are injected, so tests drive time by hand.
 */
#ifndef KILN_DEVICES_RTC_H
#define KILN_DEVICES_RTC_H

#include <pthread.h>
#include <semaphore.h>
#include <stdbool.h>
#include <stdint.h>

#include "devices/device.h"
#include "devices/machine.h"

#define RTC_INDEX_PORT   0x70
#define RTC_PORT_LEN     2
#define RTC_IRQ          8
#define RTC_CMOS_SIZE    128

/* Register indices. */
#define RTC_SECONDS      0x00
#define RTC_SECONDS_ALARM 0x01
#define RTC_MINUTES      0x02
#define RTC_MINUTES_ALARM 0x03
#define RTC_HOURS        0x04
#define RTC_HOURS_ALARM  0x05
#define RTC_DAY_OF_WEEK  0x06
#define RTC_DAY_OF_MONTH 0x07
#define RTC_MONTH        0x08
#define RTC_YEAR         0x09
#define RTC_REG_A        0x0a
#define RTC_REG_B        0x0b
#define RTC_REG_C        0x0c
#define RTC_REG_D        0x0d
#define RTC_CENTURY      0x32  /* the FADT's CENTURY field names it */

/* Register A. */
#define RTC_A_UIP        0x80  /* an update is less than 244 us away */
#define RTC_A_DIVIDER    0x70
#define RTC_A_DIVIDER_32K 0x20 /* the only divider setting that runs the clock */
#define RTC_A_RATE       0x0f
/* Register B. */
#define RTC_B_SET        0x80
#define RTC_B_PIE        0x40
#define RTC_B_AIE        0x20
#define RTC_B_UIE        0x10
#define RTC_B_SQWE       0x08
#define RTC_B_DM_BINARY  0x04
#define RTC_B_24H        0x02
#define RTC_B_DSE        0x01
/* Register C. */
#define RTC_C_IRQF       0x80
#define RTC_C_PF         0x40
#define RTC_C_AF         0x20
#define RTC_C_UF         0x10
/* Register D. */
#define RTC_D_VRT        0x80

#define RTC_NMI_DISABLE  0x80  /* in the byte written to the index port */
#define RTC_UIP_NS       244000

/* The host's wall clock (CLOCK_REALTIME) in nanoseconds. */
struct rtc_clock {
	int64_t (*now_ns)(void *ctx);
	void *ctx;
};

/* Call rtc_service() once the host clock reaches deadline_ns; -1: never. */
struct rtc_timer {
	void (*arm)(void *ctx, int64_t deadline_ns);
	void *ctx;
};

/* Everything the guest can observe, in one place for save and load. The
 * time registers in cmos[] hold the time only while the clock is stopped
 * (SET, or the divider held in reset); while it runs they are computed. */
struct rtc_state {
	uint8_t cmos[RTC_CMOS_SIZE];
	uint8_t index_byte;       /* last write to 0x70: index and NMI mask */
	int64_t offset_sec;       /* guest time = host clock + offset */
	int64_t offset_nsec;      /* 0 .. 1e9 - 1 */
	int64_t seen_sec;         /* guest time the flags are up to date with */
	int64_t seen_nsec;
	uint8_t flags;            /* register C's PF, AF and UF */
	bool irq_high;            /* IRQF: IRQ 8 asserted until C is read */
};

/* Told each time IRQ 8 rises: the chipset's RTC_STS (ACPI PM1) sees the
 * same signal, and it can wake a sleeping machine. */
struct rtc_irq_tap {
	void (*raised)(void *ctx);
	void *ctx;
};

struct rtc {
	pthread_mutex_t lock;
	const struct machine_ops *machine;
	struct rtc_clock clock;
	struct rtc_timer timer;
	struct rtc_irq_tap tap;
	int64_t armed_ns;         /* what the timer was last armed for */
	struct rtc_state s;
	/* The board's timer thread (absent in tests). */
	int timer_fd, stop_fd;
	pthread_t thread;
	bool thread_started;
	sem_t started;            /* posted once the thread's filter is on (or failed) */
	int start_result;         /* 0, or -errno from installing the filter */
};

/* Power-on state: the time is the host's, 24-hour BCD (what firmware
 * leaves), divider running at 1024 Hz periodic rate, no interrupts on. */
void rtc_init(struct rtc *rtc, const struct machine_ops *machine, const struct rtc_clock *clock,
	      const struct rtc_timer *timer);
void rtc_destroy(struct rtc *rtc);

/* Ports 0x70-0x71 for the I/O bus (offset 0 index, 1 data). */
void rtc_io(void *ctx, uint64_t offset, uint8_t *data, unsigned int size, bool is_write);

/* The timer fired: bring the flags up to date, interrupt, re-arm. */
void rtc_service(struct rtc *rtc);

/* IRQ 8's rising edge also goes to tap (the board wires it to ACPI's
 * RTC_STS, as on a PC chipset). */
void rtc_set_irq_tap(struct rtc *rtc, const struct rtc_irq_tap *tap);

/* The RESET pin: interrupt enables and flags cleared, time and RAM kept. */
void rtc_reset(struct rtc *rtc);

/* The memory-size bytes firmware leaves in CMOS RAM (base, extended,
 * above 16 MiB in 64 KiB units at 0x34, above 4 GiB at 0x5b). */
void rtc_set_memory_size(struct rtc *rtc, uint64_t below_4g, uint64_t above_4g);

/* The board's entry: the RTC at 0x70 with a timerfd thread for its interrupts. */
extern const struct device_kind rtc_kind;

#endif
