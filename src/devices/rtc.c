// SPDX-License-Identifier: MIT
#include "devices/rtc.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "bus/io_bus.h"
#include "sandbox/seccomp.h"
#include "util/log.h"
#include "util/state_buf.h"
#include "vm/memory.h"

#define NSEC_PER_SEC     1000000000LL
#define SEC_PER_DAY      86400
#define RTC_INVALID      -1      /* a register value that is no number */
#define POWER_ON_REG_A   (RTC_A_DIVIDER_32K | 0x06)   /* 1024 Hz periodic rate */
#define POWER_ON_REG_B   RTC_B_24H                    /* BCD, 24-hour */
#define KIB              1024ULL
#define MIB              (1024 * KIB)
#define GIB              (1024 * MIB)

/* Guest time: seconds since the epoch and nanoseconds into the second. */
struct rtc_time {
	int64_t sec;
	int64_t nsec;
};

static int64_t floor_div(int64_t a, int64_t b)
{
	return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

static int64_t floor_mod(int64_t a, int64_t b)
{
	return a - floor_div(a, b) * b;
}

static struct rtc_time time_normalise(int64_t sec, int64_t nsec)
{
	return (struct rtc_time){ sec + floor_div(nsec, NSEC_PER_SEC), floor_mod(nsec, NSEC_PER_SEC) };
}

static bool time_before(struct rtc_time a, struct rtc_time b)
{
	return a.sec < b.sec || (a.sec == b.sec && a.nsec < b.nsec);
}

static bool clock_running(const struct rtc *rtc)
{
	return !(rtc->s.cmos[RTC_REG_B] & RTC_B_SET) &&
	       (rtc->s.cmos[RTC_REG_A] & RTC_A_DIVIDER) == RTC_A_DIVIDER_32K;
}

static struct rtc_time guest_now(const struct rtc *rtc)
{
	int64_t host = rtc->clock.now_ns(rtc->clock.ctx);

	return time_normalise(floor_div(host, NSEC_PER_SEC) + rtc->s.offset_sec,
			      floor_mod(host, NSEC_PER_SEC) + rtc->s.offset_nsec);
}

/* The host clock time at which the guest's clock shows t. */
static int64_t host_ns_at(const struct rtc *rtc, struct rtc_time t)
{
	return (t.sec - rtc->s.offset_sec) * NSEC_PER_SEC + (t.nsec - rtc->s.offset_nsec);
}

/* Make the guest's clock show t now. */
static void set_guest_time(struct rtc *rtc, struct rtc_time t)
{
	int64_t host = rtc->clock.now_ns(rtc->clock.ctx);
	struct rtc_time off = time_normalise(t.sec - floor_div(host, NSEC_PER_SEC),
					     t.nsec - floor_mod(host, NSEC_PER_SEC));

	rtc->s.offset_sec = off.sec;
	rtc->s.offset_nsec = off.nsec;
	/* A new time starts with nothing pending from the old one. */
	rtc->s.seen_sec = t.sec;
	rtc->s.seen_nsec = t.nsec;
}

/* Register encodings: BCD or binary per register B's DM bit. */
static uint8_t encode(const struct rtc *rtc, int value)
{
	if (rtc->s.cmos[RTC_REG_B] & RTC_B_DM_BINARY)
		return (uint8_t)value;
	return (uint8_t)(((value / 10) << 4) | (value % 10));
}

static int decode(const struct rtc *rtc, uint8_t value)
{
	if (rtc->s.cmos[RTC_REG_B] & RTC_B_DM_BINARY)
		return value;
	if ((value >> 4) > 9 || (value & 0xf) > 9)
		return RTC_INVALID;
	return (value >> 4) * 10 + (value & 0xf);
}

/* Hours: 0-23, or 1-12 with bit 7 for PM in 12-hour mode. */
static uint8_t encode_hour(const struct rtc *rtc, int hour)
{
	int h12 = hour % 12 ? hour % 12 : 12;

	if (rtc->s.cmos[RTC_REG_B] & RTC_B_24H)
		return encode(rtc, hour);
	return encode(rtc, h12) | (hour >= 12 ? 0x80 : 0);
}

static int decode_hour(const struct rtc *rtc, uint8_t value)
{
	int h;

	if (rtc->s.cmos[RTC_REG_B] & RTC_B_24H) {
		h = decode(rtc, value);
		return h >= 0 && h < 24 ? h : RTC_INVALID;
	}
	h = decode(rtc, value & 0x7f);
	if (h < 1 || h > 12)
		return RTC_INVALID;
	return h % 12 + ((value & 0x80) ? 12 : 0);
}

static uint8_t time_register(const struct rtc *rtc, const struct tm *tm, unsigned int index)
{
	switch (index) {
	case RTC_SECONDS:      return encode(rtc, tm->tm_sec);
	case RTC_MINUTES:      return encode(rtc, tm->tm_min);
	case RTC_HOURS:        return encode_hour(rtc, tm->tm_hour);
	case RTC_DAY_OF_WEEK:  return encode(rtc, tm->tm_wday + 1);
	case RTC_DAY_OF_MONTH: return encode(rtc, tm->tm_mday);
	case RTC_MONTH:        return encode(rtc, tm->tm_mon + 1);
	case RTC_YEAR:         return encode(rtc, (tm->tm_year + 1900) % 100);
	default:               return encode(rtc, ((tm->tm_year + 1900) / 100) % 100);
	}
}

static bool is_time_register(unsigned int index)
{
	return index <= RTC_YEAR || index == RTC_CENTURY;
}

static bool is_alarm_register(unsigned int index)
{
	return index == RTC_SECONDS_ALARM || index == RTC_MINUTES_ALARM ||
	       index == RTC_HOURS_ALARM;
}

static void broken_down(struct rtc_time t, struct tm *tm)
{
	time_t sec = (time_t)t.sec;

	if (!gmtime_r(&sec, tm))
		memset(tm, 0, sizeof(*tm));
}

/* Copy the running time into the time registers (the clock stops). */
static void freeze_time(struct rtc *rtc)
{
	struct tm tm;

	broken_down(guest_now(rtc), &tm);
	for (unsigned int i = 0; i < RTC_CMOS_SIZE; i++)
		if (is_time_register(i) && !is_alarm_register(i))
			rtc->s.cmos[i] = time_register(rtc, &tm, i);
}

/* A field as the registers say, or fallback when they hold no number. */
static int decode_or(const struct rtc *rtc, unsigned int index, int fallback)
{
	int v = decode(rtc, rtc->s.cmos[index]);

	return v == RTC_INVALID ? fallback : v;
}

/* The clock starts again from the time registers, nsec into the second. */
static void thaw_time(struct rtc *rtc, int64_t nsec)
{
	int hour = decode_hour(rtc, rtc->s.cmos[RTC_HOURS]);
	struct tm tm = {
		.tm_sec = decode_or(rtc, RTC_SECONDS, 0),
		.tm_min = decode_or(rtc, RTC_MINUTES, 0),
		.tm_hour = hour == RTC_INVALID ? 0 : hour,
		.tm_mday = decode_or(rtc, RTC_DAY_OF_MONTH, 1),
		.tm_mon = decode_or(rtc, RTC_MONTH, 1) - 1,
		.tm_year = decode_or(rtc, RTC_CENTURY, 20) * 100 + decode_or(rtc, RTC_YEAR, 0) - 1900,
	};

	/* timegm() normalises out-of-range fields, as a guest's nonsense deserves. */
	set_guest_time(rtc, (struct rtc_time){ (int64_t)timegm(&tm), nsec });
}

/* An alarm field: "don't care" (the two top bits set), a value, or a
 * register that can never match (no valid number). */
#define ALARM_ANY   -1
#define ALARM_NEVER -2

static int alarm_field(const struct rtc *rtc, unsigned int index)
{
	uint8_t v = rtc->s.cmos[index];
	int value;

	if ((v & 0xc0) == 0xc0)
		return ALARM_ANY;
	value = index == RTC_HOURS_ALARM ? decode_hour(rtc, v) : decode(rtc, v);
	return value < 0 ? ALARM_NEVER : value;
}

static bool field_matches(int alarm, int value)
{
	return alarm == ALARM_ANY || alarm == value;
}

/* The first second after `after` whose time of day the alarm matches,
 * within a day; false when there is none. Skips whole hours and minutes
 * that cannot match, so it takes at most a few thousand steps. */
static bool next_alarm(const struct rtc *rtc, int64_t after, int64_t *out)
{
	int hour = alarm_field(rtc, RTC_HOURS_ALARM), min = alarm_field(rtc, RTC_MINUTES_ALARM);
	int sec = alarm_field(rtc, RTC_SECONDS_ALARM);
	int64_t t = after + 1;

	if (hour == ALARM_NEVER || min == ALARM_NEVER || sec == ALARM_NEVER)
		return false;
	while (t <= after + SEC_PER_DAY) {
		int64_t day_sec = floor_mod(t, SEC_PER_DAY);

		if (!field_matches(hour, (int)(day_sec / 3600)))
			t += 3600 - day_sec % 3600;
		else if (!field_matches(min, (int)(day_sec / 60 % 60)))
			t += 60 - day_sec % 60;
		else if (!field_matches(sec, (int)(day_sec % 60)))
			t++;
		else {
			*out = t;
			return true;
		}
	}
	return false;
}

/* Periodic interrupt rate in Hz from register A's rate select; 0: off. */
static int64_t periodic_hz(const struct rtc *rtc)
{
	unsigned int rs = rtc->s.cmos[RTC_REG_A] & RTC_A_RATE;

	if (rs == 0)
		return 0;
	if (rs <= 2)
		return 512 >> rs;       /* 1: 256 Hz, 2: 128 Hz (as rates 8 and 9) */
	return 65536 >> rs;             /* 3: 8192 Hz ... 15: 2 Hz */
}

/* How many periodic ticks the clock has passed by time t. */
static int64_t periodic_ticks(struct rtc_time t, int64_t hz)
{
	return t.sec * hz + t.nsec * hz / NSEC_PER_SEC;
}

static struct rtc_time periodic_tick_time(int64_t tick, int64_t hz)
{
	int64_t sec = floor_div(tick, hz);

	/* Round up, so the tick has really passed at that time. */
	return (struct rtc_time){ sec, (floor_mod(tick, hz) * NSEC_PER_SEC + hz - 1) / hz };
}

static uint8_t enabled_flags(const struct rtc *rtc)
{
	uint8_t b = rtc->s.cmos[RTC_REG_B];

	return (uint8_t)(((b & RTC_B_PIE) ? RTC_C_PF : 0) | ((b & RTC_B_AIE) ? RTC_C_AF : 0) |
			 ((b & RTC_B_UIE) ? RTC_C_UF : 0));
}

/* IRQF follows the flags and their enables; IRQ 8 goes up with it, which
 * is the edge an edge-triggered ISA line needs. */
static void update_irq(struct rtc *rtc)
{
	bool want = rtc->s.flags & enabled_flags(rtc);

	if (want && !rtc->s.irq_high) {
		rtc->s.irq_high = true;
		machine_set_irq(rtc->machine, RTC_IRQ, 1);
		if (rtc->tap.raised)
			rtc->tap.raised(rtc->tap.ctx);
	} else if (!want && rtc->s.irq_high) {
		rtc->s.irq_high = false;
		machine_set_irq(rtc->machine, RTC_IRQ, 0);
	}
}

/* Account for everything the chip did between the last look and now. */
static void catch_up(struct rtc *rtc)
{
	struct rtc_time now, seen = { rtc->s.seen_sec, rtc->s.seen_nsec };
	int64_t hz = periodic_hz(rtc), alarm;

	if (!clock_running(rtc))
		return;
	now = guest_now(rtc);
	if (!time_before(seen, now))
		return;
	if (now.sec > seen.sec) {
		rtc->s.flags |= RTC_C_UF;
		if (next_alarm(rtc, seen.sec, &alarm) && alarm <= now.sec)
			rtc->s.flags |= RTC_C_AF;
	}
	if (hz && periodic_ticks(now, hz) > periodic_ticks(seen, hz))
		rtc->s.flags |= RTC_C_PF;
	rtc->s.seen_sec = now.sec;
	rtc->s.seen_nsec = now.nsec;
	update_irq(rtc);
}

/* The next moment an enabled interrupt can rise, in host clock time; -1
 * when none can (nothing enabled, the clock stopped, or IRQF already up:
 * nothing new reaches the line until the guest reads register C). */
static int64_t next_deadline(const struct rtc *rtc)
{
	struct rtc_time seen = { rtc->s.seen_sec, rtc->s.seen_nsec }, next = { INT64_MAX, 0 };
	uint8_t b = rtc->s.cmos[RTC_REG_B];
	int64_t hz = periodic_hz(rtc), alarm;

	if (!clock_running(rtc) || rtc->s.irq_high)
		return -1;
	if (b & RTC_B_UIE)
		next = (struct rtc_time){ seen.sec + 1, 0 };
	if ((b & RTC_B_AIE) && next_alarm(rtc, seen.sec, &alarm) && alarm < next.sec)
		next = (struct rtc_time){ alarm, 0 };
	if ((b & RTC_B_PIE) && hz) {
		struct rtc_time tick = periodic_tick_time(periodic_ticks(seen, hz) + 1, hz);

		if (time_before(tick, next))
			next = tick;
	}
	return next.sec == INT64_MAX ? -1 : host_ns_at(rtc, next);
}

static void rearm(struct rtc *rtc)
{
	int64_t deadline = next_deadline(rtc);

	if (deadline != rtc->armed_ns && rtc->timer.arm) {
		rtc->armed_ns = deadline;
		rtc->timer.arm(rtc->timer.ctx, deadline);
	}
}

static uint8_t read_register_a(struct rtc *rtc)
{
	uint8_t a = rtc->s.cmos[RTC_REG_A] & ~RTC_A_UIP;

	/* Only the last 244 us before an update: Linux polls UIP, and a
	 * longer window would only make it wait. */
	if (clock_running(rtc) && guest_now(rtc).nsec >= NSEC_PER_SEC - RTC_UIP_NS)
		a |= RTC_A_UIP;
	return a;
}

static uint8_t read_register_c(struct rtc *rtc)
{
	uint8_t c = rtc->s.flags | (rtc->s.irq_high ? RTC_C_IRQF : 0);

	rtc->s.flags = 0;
	update_irq(rtc);
	return c;
}

static uint8_t read_register(struct rtc *rtc, unsigned int index)
{
	struct tm tm;

	switch (index) {
	case RTC_REG_A:
		return read_register_a(rtc);
	case RTC_REG_C:
		return read_register_c(rtc);
	case RTC_REG_D:
		return RTC_D_VRT;
	default:
		if (is_time_register(index) && !is_alarm_register(index) && clock_running(rtc)) {
			broken_down(guest_now(rtc), &tm);
			return time_register(rtc, &tm, index);
		}
		return rtc->s.cmos[index];
	}
}

/* A time field written while the clock runs: the clock jumps to the new
 * field, keeping the rest and the fraction of the second. */
static void write_running_time(struct rtc *rtc, unsigned int index, uint8_t value)
{
	struct rtc_time now = guest_now(rtc);

	if (index == RTC_DAY_OF_WEEK)
		return; /* follows from the date */
	freeze_time(rtc);
	rtc->s.cmos[index] = value;
	thaw_time(rtc, now.nsec);
}

/* Registers A and B can start or stop the clock. */
static void write_control(struct rtc *rtc, unsigned int index, uint8_t value)
{
	bool was_running = clock_running(rtc), running;
	uint8_t old = rtc->s.cmos[index];

	if (index == RTC_REG_A)
		value = (uint8_t)((value & ~RTC_A_UIP) | (old & RTC_A_UIP));
	else if (value & RTC_B_SET)
		value &= (uint8_t)~RTC_B_UIE;   /* SET turns off update interrupts */
	rtc->s.cmos[index] = value;
	running = clock_running(rtc);
	if (was_running && !running) {
		/* The registers take the time in the format before the write. */
		rtc->s.cmos[index] = old;
		freeze_time(rtc);
		rtc->s.cmos[index] = value;
	} else if (!was_running && running) {
		/* Out of SET the next update is a second away; out of divider
		 * reset, half a second. */
		bool from_reset = index == RTC_REG_A &&
				  (old & RTC_A_DIVIDER) != RTC_A_DIVIDER_32K;

		thaw_time(rtc, from_reset ? NSEC_PER_SEC / 2 : 0);
	}
	update_irq(rtc);
}

static void write_register(struct rtc *rtc, unsigned int index, uint8_t value)
{
	if (index == RTC_REG_A || index == RTC_REG_B)
		write_control(rtc, index, value);
	else if (index == RTC_REG_C || index == RTC_REG_D)
		return; /* read-only */
	else if (is_time_register(index) && !is_alarm_register(index) && clock_running(rtc))
		write_running_time(rtc, index, value);
	else
		rtc->s.cmos[index] = value;
}

static void index_write(struct rtc *rtc, uint8_t value)
{
	/* Bit 7 masks NMI on a real chipset; kiln has no NMI source behind
	 * it, but keeps the bit as written. */
	rtc->s.index_byte = value;
}

static unsigned int selected(const struct rtc *rtc)
{
	return rtc->s.index_byte & (RTC_CMOS_SIZE - 1);
}

void rtc_io(void *ctx, uint64_t offset, uint8_t *data, unsigned int size, bool is_write)
{
	struct rtc *rtc = ctx;

	pthread_mutex_lock(&rtc->lock);
	catch_up(rtc);
	/* A wider access covers both ports, a byte each, as on the ISA bus. */
	for (unsigned int i = 0; i < size; i++) {
		uint64_t port = offset + i;

		if (port == 0 && is_write)
			index_write(rtc, data[i]);
		else if (port == 0)
			data[i] = rtc->s.index_byte; /* readable, as chipsets allow */
		else if (port == 1 && is_write)
			write_register(rtc, selected(rtc), data[i]);
		else if (port == 1)
			data[i] = read_register(rtc, selected(rtc));
		else if (!is_write)
			data[i] = 0xff;
	}
	rearm(rtc);
	pthread_mutex_unlock(&rtc->lock);
}

void rtc_service(struct rtc *rtc)
{
	pthread_mutex_lock(&rtc->lock);
	rtc->armed_ns = -1;     /* a one-shot timer that fired is disarmed */
	catch_up(rtc);
	rearm(rtc);
	pthread_mutex_unlock(&rtc->lock);
}

void rtc_set_irq_tap(struct rtc *rtc, const struct rtc_irq_tap *tap)
{
	pthread_mutex_lock(&rtc->lock);
	rtc->tap = *tap;
	pthread_mutex_unlock(&rtc->lock);
}

void rtc_reset(struct rtc *rtc)
{
	pthread_mutex_lock(&rtc->lock);
	catch_up(rtc);
	rtc->s.cmos[RTC_REG_B] &= (uint8_t)~(RTC_B_PIE | RTC_B_AIE | RTC_B_UIE | RTC_B_SQWE);
	rtc->s.flags = 0;
	update_irq(rtc);
	rearm(rtc);
	pthread_mutex_unlock(&rtc->lock);
}

static void put_le16(struct rtc *rtc, unsigned int index, uint64_t value)
{
	rtc->s.cmos[index] = (uint8_t)value;
	rtc->s.cmos[index + 1] = (uint8_t)(value >> 8);
}

void rtc_set_memory_size(struct rtc *rtc, uint64_t below_4g, uint64_t above_4g)
{
	uint64_t ext_kib = below_4g > MIB ? (below_4g - MIB) / KIB : 0;
	uint64_t over_16m = below_4g > 16 * MIB ? (below_4g - 16 * MIB) >> 16 : 0;
	uint64_t over_4g = above_4g >> 16;

	pthread_mutex_lock(&rtc->lock);
	put_le16(rtc, 0x15, 640);                                 /* base memory, KiB */
	put_le16(rtc, 0x17, ext_kib > 0xfc00 ? 0xfc00 : ext_kib); /* 1 MiB - 64 MiB, KiB */
	put_le16(rtc, 0x30, ext_kib > 0xfc00 ? 0xfc00 : ext_kib);
	put_le16(rtc, 0x34, over_16m > 0xffff ? 0xffff : over_16m);
	over_4g = over_4g > 0xffffff ? 0xffffff : over_4g;
	rtc->s.cmos[0x5b] = (uint8_t)over_4g;
	rtc->s.cmos[0x5c] = (uint8_t)(over_4g >> 8);
	rtc->s.cmos[0x5d] = (uint8_t)(over_4g >> 16);
	pthread_mutex_unlock(&rtc->lock);
}

void rtc_init(struct rtc *rtc, const struct machine_ops *machine, const struct rtc_clock *clock,
	      const struct rtc_timer *timer)
{
	memset(rtc, 0, sizeof(*rtc));
	pthread_mutex_init(&rtc->lock, NULL);
	rtc->machine = machine;
	rtc->clock = *clock;
	if (timer)
		rtc->timer = *timer;
	rtc->armed_ns = -1;
	rtc->timer_fd = rtc->stop_fd = -1;
	rtc->s.cmos[RTC_REG_A] = POWER_ON_REG_A;
	rtc->s.cmos[RTC_REG_B] = POWER_ON_REG_B;
	set_guest_time(rtc, time_normalise(0, rtc->clock.now_ns(rtc->clock.ctx)));
}

void rtc_destroy(struct rtc *rtc)
{
	pthread_mutex_destroy(&rtc->lock);
}

/* The board's clock and timer: CLOCK_REALTIME and an absolute timerfd on
 * it, served by one thread that sleeps while nothing is armed. */
static int64_t host_realtime_ns(void *ctx)
{
	struct timespec ts;

	(void)ctx;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * NSEC_PER_SEC + ts.tv_nsec;
}

static void timerfd_arm(void *ctx, int64_t deadline_ns)
{
	struct rtc *rtc = ctx;
	struct itimerspec when = { 0 };

	/* it_value zero disarms; a deadline already past still fires. */
	if (deadline_ns >= 0) {
		when.it_value.tv_sec = deadline_ns / NSEC_PER_SEC;
		when.it_value.tv_nsec = deadline_ns % NSEC_PER_SEC;
		if (!when.it_value.tv_sec && !when.it_value.tv_nsec)
			when.it_value.tv_nsec = 1;
	}
	if (timerfd_settime(rtc->timer_fd, TFD_TIMER_ABSTIME, &when, NULL) < 0)
		pr_warn("rtc: cannot arm its timer: %s", strerror(errno));
}

static void *timer_thread(void *arg)
{
	struct rtc *rtc = arg;
	struct pollfd fds[2] = {
		{ .fd = rtc->timer_fd, .events = POLLIN },
		{ .fd = rtc->stop_fd, .events = POLLIN },
	};
	struct kiln_err err = { 0 };
	uint64_t expirations;

	pthread_setname_np(pthread_self(), "rtc"); /* itself: no /proc in a jail */
	rtc->start_result = sandbox_enter(SANDBOX_THREAD_RTC, &err);
	sem_post(&rtc->started);
	if (rtc->start_result)
		return NULL;
	sandbox_test_violation(SANDBOX_THREAD_RTC);

	while (poll(fds, 2, -1) >= 0 || errno == EINTR) {
		if (fds[1].revents)
			break;
		if ((fds[0].revents & POLLIN) &&
		    read(rtc->timer_fd, &expirations, sizeof(expirations)) > 0)
			rtc_service(rtc);
	}
	return NULL;
}

static void rtc_release(struct device *dev)
{
	struct rtc *rtc = dev->priv;
	uint64_t one = 1;

	if (rtc->thread_started) {
		if (write(rtc->stop_fd, &one, sizeof(one)) != sizeof(one))
			pr_warn("rtc: cannot stop its timer thread");
		pthread_join(rtc->thread, NULL);
	}
	if (rtc->timer_fd >= 0)
		close(rtc->timer_fd);
	if (rtc->stop_fd >= 0)
		close(rtc->stop_fd);
	rtc_destroy(rtc);
}

static void rtc_device_reset(struct device *dev)
{
	rtc_reset(dev->priv);
}

static int rtc_start_timer(struct device *dev, struct kiln_err *err)
{
	struct rtc *rtc = dev->priv;
	int ret;

	sem_init(&rtc->started, 0, 0);
	ret = pthread_create(&rtc->thread, NULL, timer_thread, rtc);
	if (ret)
		return err_set_errno(err, -ret, "rtc: cannot start its timer thread");
	rtc->thread_started = true;
	while (sem_wait(&rtc->started) && errno == EINTR)
		;
	if (rtc->start_result)
		return err_set_errno(err, rtc->start_result,
				     "rtc: cannot install the rtc seccomp filter");
	return 0;
}

#define RTC_STATE_VERSION 1
/* Far beyond any time the registers can show (year 9999), and small
 * enough that no sum of these and the host clock overflows. */
#define RTC_STATE_MAX_SEC (1LL << 40)

/* The guest's time is saved as its offset from the host's wall clock, so
 * a restored clock goes on following the host's, as it did before. */
static int rtc_save(struct device *dev, struct device_state *out, struct kiln_err *err)
{
	struct rtc *rtc = dev->priv;
	struct state_writer w = { 0 };

	pthread_mutex_lock(&rtc->lock);
	catch_up(rtc);
	state_put_bytes(&w, rtc->s.cmos, RTC_CMOS_SIZE);
	state_put_u8(&w, rtc->s.index_byte);
	state_put_u64(&w, (uint64_t)rtc->s.offset_sec);
	state_put_u64(&w, (uint64_t)rtc->s.offset_nsec);
	state_put_u64(&w, (uint64_t)rtc->s.seen_sec);
	state_put_u64(&w, (uint64_t)rtc->s.seen_nsec);
	state_put_u8(&w, rtc->s.flags);
	state_put_u8(&w, rtc->s.irq_high);
	pthread_mutex_unlock(&rtc->lock);
	return device_state_finish(&w, RTC_STATE_VERSION, out, dev->name, err);
}

static bool seconds_ok(int64_t sec)
{
	return sec > -RTC_STATE_MAX_SEC && sec < RTC_STATE_MAX_SEC;
}

static int rtc_check(const struct rtc_state *s, bool bad, const char *name, struct kiln_err *err)
{
	if (!seconds_ok(s->offset_sec))
		return device_state_bad_field(name, "clock offset", (unsigned long long)s->offset_sec,
					      err);
	if (s->offset_nsec < 0 || s->offset_nsec >= NSEC_PER_SEC)
		return device_state_bad_field(name, "clock offset nanoseconds",
					      (unsigned long long)s->offset_nsec, err);
	if (!seconds_ok(s->seen_sec))
		return device_state_bad_field(name, "last update time",
					      (unsigned long long)s->seen_sec, err);
	if (s->seen_nsec < 0 || s->seen_nsec >= NSEC_PER_SEC)
		return device_state_bad_field(name, "last update nanoseconds",
					      (unsigned long long)s->seen_nsec, err);
	if (s->flags & ~(RTC_C_PF | RTC_C_AF | RTC_C_UF))
		return device_state_bad_field(name, "register C flags", s->flags, err);
	if (bad)
		return device_state_bad_field(name, "IRQ flag", 2, err);
	return 0;
}

static int rtc_load(struct device *dev, const struct device_state *in, struct kiln_err *err)
{
	struct rtc *rtc = dev->priv;
	struct state_reader r = state_reader_init(in->data, in->len);
	struct rtc_state s = { 0 };
	bool bad = false;
	int ret;

	if ((ret = device_state_check_version(in, RTC_STATE_VERSION, dev->name, err)))
		return ret;
	state_get_bytes(&r, s.cmos, RTC_CMOS_SIZE);
	s.index_byte = state_get_u8(&r);
	s.offset_sec = (int64_t)state_get_u64(&r);
	s.offset_nsec = (int64_t)state_get_u64(&r);
	s.seen_sec = (int64_t)state_get_u64(&r);
	s.seen_nsec = (int64_t)state_get_u64(&r);
	s.flags = state_get_u8(&r);
	s.irq_high = state_get_bool(&r, &bad);
	if ((ret = device_state_check_length(&r, dev->name, err)) ||
	    (ret = rtc_check(&s, bad, dev->name, err)))
		return ret;
	pthread_mutex_lock(&rtc->lock);
	rtc->s = s;
	/* The line as it was (IRQF up until the guest reads C); the interrupt
	 * controller's own state says whether the edge was taken. */
	machine_set_irq(rtc->machine, RTC_IRQ, s.irq_high);
	rtc->armed_ns = -1;
	catch_up(rtc);
	rearm(rtc);
	pthread_mutex_unlock(&rtc->lock);
	return 0;
}

static const struct device_ops rtc_ops = {
	.start = rtc_start_timer, .reset = rtc_device_reset, .save = rtc_save, .load = rtc_load,
	.destroy = rtc_release,
};

static void memory_split(const struct guest_memory *mem, uint64_t *below_4g, uint64_t *above_4g)
{
	*below_4g = *above_4g = 0;
	for (unsigned int i = 0; i < mem->nr_slots; i++) {
		if (mem->slots[i].gpa < 4 * GIB)
			*below_4g += mem->slots[i].size;
		else
			*above_4g += mem->slots[i].size;
	}
}

static int rtc_create(const struct device_env *env, struct kiln_err *err)
{
	const struct rtc_clock clock = { host_realtime_ns, NULL };
	struct rtc *rtc = device_list_add_new(env->devices, "rtc", sizeof(*rtc), &rtc_ops, err);
	uint64_t below_4g, above_4g;
	struct rtc_timer timer;

	if (!rtc)
		return err->code;
	timer = (struct rtc_timer){ timerfd_arm, rtc };
	rtc_init(rtc, env->machine, &clock, &timer);
	memory_split(env->mem, &below_4g, &above_4g);
	rtc_set_memory_size(rtc, below_4g, above_4g);
	/* glibc's gmtime_r reads the time zone (/etc/localtime) on its first
	 * call: have it done now, not on a vCPU under its seccomp filter. */
	tzset();
	/* The timer's files now, while kiln may open them; its thread at start. */
	rtc->timer_fd = timerfd_create(CLOCK_REALTIME, TFD_CLOEXEC | TFD_NONBLOCK);
	rtc->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (rtc->timer_fd < 0 || rtc->stop_fd < 0)
		return err_set_errno(err, -errno, "rtc: cannot create its timer");
	return device_register_io(env->pio, RTC_INDEX_PORT, RTC_PORT_LEN, rtc_io, rtc, "rtc", err);
}

const struct device_kind rtc_kind = { "rtc", rtc_create };
