// SPDX-License-Identifier: MIT
/*
 * kvm-clock as Linux uses it: a pvclock area per vCPU registered through
 * MSR_KVM_SYSTEM_TIME_NEW, read with the version protocol (even version,
 * retry when odd or changed); 10^6 reads per vCPU at CPL3 never step
 * back; its rate agrees with the ACPI PM timer; the wall clock from
 * MSR_KVM_WALL_CLOCK_NEW lies between the host's time at launch
 * (hosttime=SECONDS) and a minute later. The launch time is taken before the
 * VMM starts, so how long that takes is not the clock's error: the test
 * harness compares the printed wall clock with the host's clock as the line
 * arrives, to 2 s.
 */
#include "guest.h"

#define MSR_KVM_WALL_CLOCK_NEW  0x4b564d00
#define MSR_KVM_SYSTEM_TIME_NEW 0x4b564d01
#define READS_PER_CPU           1000000ULL

struct pvclock {
	volatile uint32_t version, pad0;
	volatile uint64_t tsc_timestamp, system_time;
	volatile uint32_t tsc_to_system_mul;
	volatile int8_t tsc_shift;
	volatile uint8_t flags, pad[2];
} __attribute__((packed));

struct wall_clock {
	volatile uint32_t version, sec, nsec;
};

struct cpu_result {
	uint64_t reads, retries, odd_seen, backward, max_step_back;
};

static struct pvclock clocks[MAX_CPUS] __attribute__((aligned(64)));
static struct wall_clock wall __attribute__((aligned(16)));
static struct cpu_result results[MAX_CPUS];

/* One consistent reading of this CPU's clock, in ns. */
static uint64_t pvclock_read(struct pvclock *c, struct cpu_result *res)
{
	uint32_t v1, v2;
	uint64_t delta, ns;

	for (;;) {
		v1 = c->version;
		__asm__ volatile("" ::: "memory");
		if (v1 & 1) {
			res->odd_seen++;
			continue;
		}
		delta = rdtsc() - c->tsc_timestamp;
		if (c->tsc_shift >= 0)
			delta <<= c->tsc_shift;
		else
			delta >>= -c->tsc_shift;
		ns = c->system_time + (uint64_t)(((unsigned __int128)delta * c->tsc_to_system_mul) >> 32);
		__asm__ volatile("" ::: "memory");
		v2 = c->version;
		if (v1 == v2)
			return ns;
		res->retries++;
	}
}

static uint64_t monotonic_loop(void *arg)
{
	unsigned int cpu = (unsigned int)(uintptr_t)arg;
	struct cpu_result *res = &results[cpu];
	uint64_t prev = pvclock_read(&clocks[cpu], res);

	for (uint64_t i = 0; i < READS_PER_CPU; i++) {
		uint64_t now = pvclock_read(&clocks[cpu], res);

		if (now < prev) {
			res->backward++;
			if (prev - now > res->max_step_back)
				res->max_step_back = prev - now;
		}
		prev = now;
		res->reads++;
	}
	return 0;
}

static void enable_clock(void *arg)
{
	(void)arg;
	wrmsr(MSR_KVM_SYSTEM_TIME_NEW, (uintptr_t)&clocks[cpu_index()] | 1);
}

static void run_loop(void *arg)
{
	(void)arg;
	user_call(monotonic_loop, (void *)(uintptr_t)cpu_index());
}

/* kvm-clock and TSC rates measured against the PM timer over 250 ms (long
 * enough that one slow timer read at either end, on a loaded or nested host,
 * stays well inside the 2% allowed),
 * at CPL3 so the loop itself does not distort the window. */
struct rate { uint64_t pm_ticks, clock_ns, tsc; };

static uint64_t measure_rate(void *arg)
{
	struct rate *r = arg;
	struct cpu_result scratch = { 0 };
	struct pm_clock pm;
	uint64_t ns0, tsc0;

	pm_clock_start(&pm, PM_TIMER_PORT);
	ns0 = pvclock_read(&clocks[0], &scratch);
	tsc0 = rdtsc();
	while (pm_clock_ticks(&pm) < PM_TIMER_HZ / 4)
		;
	r->clock_ns = pvclock_read(&clocks[0], &scratch) - ns0;
	r->tsc = rdtsc() - tsc0;
	r->pm_ticks = pm.ticks;
	return 0;
}

static void check_wall_clock(void)
{
	struct cpu_result scratch = { 0 };
	uint64_t host = cmdline_get_u64("hosttime", 0), now_s;

	wrmsr(MSR_KVM_WALL_CLOCK_NEW, (uintptr_t)&wall);
	report(!(wall.version & 1), "wall clock version is even (%u)", wall.version);
	now_s = wall.sec + (wall.nsec + pvclock_read(&clocks[0], &scratch)) / 1000000000ULL;
	report_info("wallclock %lu", now_s);
	if (!host) {
		report_skip("wall clock vs host: no hosttime= on the command line");
		return;
	}
	report(now_s + 1 >= host && now_s <= host + 60,
	       "wall clock %lu is between the launch time %lu and a minute later", now_s, host);
}

void guest_main(void)
{
	unsigned int cpus = smp_start((unsigned int)fw_cfg_read(FW_CFG_NB_CPUS, 2));
	struct rate rate = { 0 };
	uint64_t pm_ns, ratio_ppm;

	for (unsigned int i = 0; i < cpus; i++)
		on_cpu(i, enable_clock, 0);
	report(!(clocks[0].version & 1) && clocks[0].tsc_to_system_mul,
	       "pvclock area filled in (version %u, mul %u, shift %d, flags 0x%x)",
	       clocks[0].version, clocks[0].tsc_to_system_mul, clocks[0].tsc_shift,
	       clocks[0].flags);
	for (unsigned int i = 0; i < cpus; i++) {
		on_cpu(i, run_loop, 0);
		report(results[i].reads == READS_PER_CPU && results[i].backward == 0,
		       "CPU %u: %lu reads, no backward step (%lu back, max %lu ns; %lu retries, "
		       "%lu odd versions)", i, results[i].reads, results[i].backward,
		       results[i].max_step_back, results[i].retries, results[i].odd_seen);
	}
	user_call(measure_rate, &rate);
	pm_ns = rate.pm_ticks * 1000000000ULL / PM_TIMER_HZ;
	ratio_ppm = rate.clock_ns * 1000000ULL / (pm_ns ? pm_ns : 1);
	report_info("over %lu PM ticks: kvm-clock %lu ns, PM timer %lu ns, TSC %lu cycles (%lu MHz)",
		    rate.pm_ticks, rate.clock_ns, pm_ns, rate.tsc,
		    rate.clock_ns ? rate.tsc * 1000 / rate.clock_ns : 0);
	report(ratio_ppm > 980000 && ratio_ppm < 1020000,
	       "kvm-clock runs at the PM timer's rate (ratio %lu ppm)", ratio_ppm);
	report(rate.clock_ns && rate.tsc * 1000 / rate.clock_ns >= 100,
	       "TSC advances with kvm-clock (above 100 MHz)");
	check_wall_clock();
}
