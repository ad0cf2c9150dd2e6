// SPDX-License-Identifier: MIT
/* The IDT, exception dispatch, and expected faults. */
#include "guest.h"

struct idt_gate {
	uint16_t offset_low, selector;
	uint8_t ist, type;
	uint16_t offset_mid;
	uint32_t offset_high, reserved;
} __attribute__((packed));

extern char isr_stubs[];

static struct idt_gate idt[256] __attribute__((aligned(16)));
static irq_handler handlers[256];

/* Per CPU: where an expected fault resumes, and what it was. */
static volatile uintptr_t fault_resume[MAX_CPUS];
static struct fault fault_seen[MAX_CPUS];

void idt_init(void)
{
	for (unsigned int v = 0; v < 256; v++) {
		uintptr_t addr = (uintptr_t)isr_stubs + 16 * v;

		idt[v] = (struct idt_gate){
			.offset_low = (uint16_t)addr, .selector = SEL_KERNEL_CS,
			.type = 0x8e, /* present, DPL 0, 64-bit interrupt gate */
			.offset_mid = (uint16_t)(addr >> 16), .offset_high = (uint32_t)(addr >> 32),
		};
	}
	idt_load();
}

void idt_load(void)
{
	struct { uint16_t limit; uint64_t base; } __attribute__((packed)) desc = {
		sizeof(idt) - 1, (uintptr_t)idt,
	};

	__asm__ volatile("lidt %0" :: "m"(desc));
}

void idt_set_handler(unsigned int vector, irq_handler handler)
{
	handlers[vector & 0xff] = handler;
}

void fault_expect(uintptr_t resume)
{
	unsigned int cpu = cpu_index();

	fault_seen[cpu].raised = false;
	fault_resume[cpu] = resume;
}

struct fault fault_last(void)
{
	unsigned int cpu = cpu_index();

	fault_resume[cpu] = 0;
	return fault_seen[cpu];
}

static uint64_t read_cr2(void)
{
	uint64_t v;

	__asm__ volatile("mov %%cr2, %0" : "=r"(v));
	return v;
}

void isr_dispatch(struct regs *r);
void isr_dispatch(struct regs *r)
{
	unsigned int cpu = cpu_index();

	if (user_return_trap(r))
		return; /* not reached: the trap resumes user_call's caller */
	if (r->vector < 32 && fault_resume[cpu]) {
		fault_seen[cpu] = (struct fault){
			.raised = true, .vector = (unsigned int)r->vector,
			.error_code = r->error_code, .cr2 = r->vector == 14 ? read_cr2() : 0,
			.rip = r->rip,
		};
		r->rip = fault_resume[cpu];
		fault_resume[cpu] = 0;
		return;
	}
	if (handlers[r->vector]) {
		handlers[r->vector](r);
		return;
	}
	printf("FAIL: unexpected exception %lu (error 0x%lx) at rip 0x%lx on CPU %u\n",
	       r->vector, r->error_code, r->rip, cpu);
	report(false, "no unexpected exceptions");
	report_summary_and_exit();
}
