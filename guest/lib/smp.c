// SPDX-License-Identifier: MIT
/*
 * SMP bring-up the way firmware-less test kernels do it: the real-mode
 * trampoline goes to physical page 0 and each AP gets INIT then SIPI
 * (vector 0). APs then sleep in HLT until the BSP hands them work.
 */
#include "guest.h"

#define IPI_WAKE_VECTOR 0xf0
#define ICR_INIT        0x00004500u
#define ICR_STARTUP     0x00004600u
#define ICR_FIXED       0x00004000u
#define BRINGUP_SPINS   20000000u

extern char trampoline_start[], trampoline_end[], trampoline_cpu[];

struct cpu_work {
	void (*fn)(void *);
	void *arg;
	volatile int pending;
};

static volatile unsigned int cpus_up = 1;
static struct cpu_work work[MAX_CPUS];

unsigned int cpu_count(void)
{
	return cpus_up;
}

static void wake_handler(struct regs *r)
{
	(void)r;
	lapic_eoi();
}

void ap_main(unsigned int cpu);
void ap_main(unsigned int cpu)
{
	idt_load();
	lapic_enable();
	gdt_tss_init(cpu);
	user_init();
	__atomic_add_fetch(&cpus_up, 1, __ATOMIC_RELEASE);
	for (;;) {
		__asm__ volatile("cli");
		if (__atomic_load_n(&work[cpu].pending, __ATOMIC_ACQUIRE)) {
			work[cpu].fn(work[cpu].arg);
			__atomic_store_n(&work[cpu].pending, 0, __ATOMIC_RELEASE);
			continue;
		}
		/* STI's one-instruction shadow closes the race with the IPI. */
		__asm__ volatile("sti; hlt");
	}
}

static void copy_trampoline(unsigned int cpu)
{
	/* volatile: page 0 is a real address here, not a null pointer. */
	volatile uint8_t *dst = (volatile uint8_t *)(uintptr_t)TRAMPOLINE_ADDR;
	size_t len = (size_t)(trampoline_end - trampoline_start);

	*(volatile uint32_t *)trampoline_cpu = cpu;
	for (size_t i = 0; i < len; i++)
		dst[i] = (uint8_t)trampoline_start[i];
}

unsigned int smp_start(unsigned int expected)
{
	idt_set_handler(IPI_WAKE_VECTOR, wake_handler);
	if (expected > MAX_CPUS)
		expected = MAX_CPUS;
	for (unsigned int cpu = 1; cpu < expected; cpu++) {
		unsigned int spins = 0;

		copy_trampoline(cpu);
		lapic_send_ipi(cpu, ICR_INIT);
		lapic_send_ipi(cpu, ICR_STARTUP | (TRAMPOLINE_ADDR >> 12));
		while (__atomic_load_n(&cpus_up, __ATOMIC_ACQUIRE) < cpu + 1 && ++spins < BRINGUP_SPINS)
			cpu_relax();
		if (spins == BRINGUP_SPINS)
			break;
	}
	return cpus_up;
}

void on_cpu_start(unsigned int cpu, void (*fn)(void *), void *arg)
{
	work[cpu].fn = fn;
	work[cpu].arg = arg;
	__atomic_store_n(&work[cpu].pending, 1, __ATOMIC_RELEASE);
	lapic_send_ipi(cpu, ICR_FIXED | IPI_WAKE_VECTOR);
}

void on_cpu_wait(unsigned int cpu)
{
	while (__atomic_load_n(&work[cpu].pending, __ATOMIC_ACQUIRE))
		cpu_relax();
}

void on_cpu(unsigned int cpu, void (*fn)(void *), void *arg)
{
	if (cpu == cpu_index()) {
		fn(arg);
		return;
	}
	on_cpu_start(cpu, fn, arg);
	on_cpu_wait(cpu);
}
