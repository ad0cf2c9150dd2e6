// SPDX-License-Identifier: MIT
/*
 * Hyper-V enlightenments as a guest uses them (TLFS): the CPUID leaves
 * (Hyper-V at 0x40000000, KVM's at 0x40000100), the reference counter and
 * the reference TSC page against kvm-clock, SynIC with a synthetic timer
 * delivering HVMSG_TIMER_EXPIRED to its message page, a synthetic timer in
 * direct mode, the VP index of every vCPU, and the PV TLB flush hypercall
 * through the hypercall page. With expect=none on the command line it
 * checks the opposite: KVM's leaves where they always were and no Hyper-V
 * MSR; with expect=relaxed, that --hyperv=relaxed offers that alone.
 */
#include "guest.h"

#define MSR_GUEST_OS_ID     0x40000000
#define MSR_HYPERCALL       0x40000001
#define MSR_VP_INDEX        0x40000002
#define MSR_TIME_REF_COUNT  0x40000020
#define MSR_REFERENCE_TSC   0x40000021
#define MSR_SCONTROL        0x40000080
#define MSR_SVERSION        0x40000081
#define MSR_SIEFP           0x40000082
#define MSR_SIMP            0x40000083
#define MSR_EOM             0x40000084
#define MSR_SINT0           0x40000090
#define MSR_STIMER_CONFIG(n) (0x400000b0 + 2 * (n))
#define MSR_STIMER_COUNT(n)  (0x400000b1 + 2 * (n))
#define MSR_KVM_SYSTEM_TIME_NEW 0x4b564d01

#define STIMER_ENABLE       (1ull << 0)
#define STIMER_DIRECT       (1ull << 12)
#define STIMER_VECTOR(v)    ((uint64_t)(v) << 4)
#define STIMER_SINT(s)      ((uint64_t)(s) << 16)
#define TIMER_SINT          2
#define SINT_VECTOR         0x50
#define DIRECT_VECTOR       0x51
#define HVMSG_TIMER_EXPIRED 0x80000010u
#define MSG_FLAG_PENDING    1

#define HVCALL_FLUSH_VIRTUAL_ADDRESS_SPACE 0x0002
#define HVCALL_POST_MESSAGE 0x005c
#define HVCALL_BOGUS        0x7fff
#define HV_FLUSH_ALL_PROCESSORS (1ull << 0)
#define HV_FLUSH_ALL_VIRTUAL_ADDRESS_SPACES (1ull << 1)
#define HV_STATUS_INVALID_HYPERCALL_CODE 2

/* 100 ns units: the reference counter's. */
#define REF_PER_MS          10000ull
#define PVCLOCK_TSC_STABLE  1

struct pvclock {
	volatile uint32_t version, pad0;
	volatile uint64_t tsc_timestamp, system_time;
	volatile uint32_t tsc_to_system_mul;
	volatile int8_t tsc_shift;
	volatile uint8_t flags, pad[2];
} __attribute__((packed));

struct tsc_page {
	volatile uint32_t sequence, reserved;
	volatile uint64_t scale;
	volatile int64_t offset;
};

struct hv_message {
	volatile uint32_t type;
	volatile uint8_t payload_size, flags, reserved[2];
	volatile uint64_t port;
	volatile uint64_t payload[30];
};

struct timer_payload {
	uint32_t timer_index, reserved;
	uint64_t expiration_time, delivery_time;
};

static struct pvclock kvmclock __attribute__((aligned(64)));
static uint8_t tsc_page_mem[4096] __attribute__((aligned(4096)));
static uint8_t hypercall_page[4096] __attribute__((aligned(4096)));
static struct hv_message message_page[16] __attribute__((aligned(4096)));
static uint8_t event_page[4096] __attribute__((aligned(4096)));
static uint64_t hypercall_input[8] __attribute__((aligned(4096)));
static volatile unsigned int sint_interrupts, direct_interrupts;
static volatile uint64_t vp_index_of[MAX_CPUS];

/* RDMSR/WRMSR with a #GP caught: false when the MSR refused the access.
 * The MSR index sits in RBX across the call that arms the handler. */
static bool rdmsr_safe(uint32_t msr, uint64_t *value)
{
	uint32_t lo = 0, hi = 0;

	__asm__ volatile("lea 1f(%%rip), %%rdi\n\t"
			 "call fault_expect\n\t"
			 "mov %%ebx, %%ecx\n\t"
			 "rdmsr\n"
			 "1:"
			 : "+a"(lo), "+d"(hi)
			 : "b"(msr)
			 : "rcx", "rsi", "rdi", "r8", "r9", "r10", "r11", "memory");
	*value = ((uint64_t)hi << 32) | lo;
	return !fault_last().raised;
}

static void signature(uint32_t leaf, char out[13], uint32_t *max)
{
	uint32_t b, c, d;

	cpuid(leaf, 0, max, &b, &c, &d);
	memcpy(out, &b, 4);
	memcpy(out + 4, &c, 4);
	memcpy(out + 8, &d, 4);
	out[12] = '\0';
}

/* kvm-clock in ns (the version protocol as in kvmclock.c). */
static uint64_t kvmclock_ns(void)
{
	uint32_t v;
	uint64_t delta, ns;

	do {
		v = kvmclock.version;
		__asm__ volatile("" ::: "memory");
		delta = rdtsc() - kvmclock.tsc_timestamp;
		delta = kvmclock.tsc_shift >= 0 ? delta << kvmclock.tsc_shift
						: delta >> -kvmclock.tsc_shift;
		ns = kvmclock.system_time +
		     (uint64_t)(((unsigned __int128)delta * kvmclock.tsc_to_system_mul) >> 32);
		__asm__ volatile("" ::: "memory");
	} while ((v & 1) || v != kvmclock.version);
	return ns;
}

static void check_no_hyperv(void)
{
	char sig[13];
	uint32_t max;
	uint64_t value;

	signature(0x40000000, sig, &max);
	report(!memcmp(sig, "KVMKVMKVM", 10), "without --hyperv, 0x40000000 is KVM's ('%s')", sig);
	report(!rdmsr_safe(MSR_TIME_REF_COUNT, &value),
	       "without --hyperv, the reference counter MSR is refused");
}

/* --hyperv=relaxed: Hyper-V's leaves with that hint alone, and the MSRs
 * of what was not asked for refused (KVM enforces the leaves). */
static void check_relaxed_only(void)
{
	uint32_t max, a, b, c, d;
	uint64_t value;
	char sig[13];

	signature(0x40000000, sig, &max);
	report(!memcmp(sig, "Microsoft Hv", 13), "0x40000000 is Hyper-V's ('%s')", sig);
	cpuid(0x40000003, 0, &a, &b, &c, &d);
	report(a == 0x20 && b == 0 && d == 0, "privileges: the hypercall MSRs alone "
	       "(%08x %08x %08x)", a, b, d);
	cpuid(0x40000004, 0, &a, &b, &c, &d);
	report(a == 0x20, "relaxed timing alone recommended (0x%x)", a);
	report(!rdmsr_safe(MSR_TIME_REF_COUNT, &value), "the reference counter MSR is refused");
	report(!rdmsr_safe(MSR_SCONTROL, &value), "SynIC's MSRs are refused");
}

static void check_cpuid(void)
{
	uint32_t max, a, b, c, d;
	char sig[13];

	signature(0x40000000, sig, &max);
	report(!memcmp(sig, "Microsoft Hv", 13) && max >= 0x40000005,
	       "0x40000000 is Hyper-V's ('%s', up to 0x%x)", sig, max);
	cpuid(0x40000001, 0, &a, &b, &c, &d);
	report(a == 0x31237648, "0x40000001 says Hv#1 (0x%x)", a);
	signature(0x40000100, sig, &max);
	report(!memcmp(sig, "KVMKVMKVM", 10) && max >= 0x40000101,
	       "0x40000100 is KVM's ('%s', up to 0x%x)", sig, max);
	cpuid(0x40000101, 0, &a, &b, &c, &d);
	report(a & (1u << 3), "KVM's features at 0x40000101 offer kvm-clock (0x%x)", a);
	cpuid(0x40000003, 0, &a, &b, &c, &d);
	report_info("cpuid 0x40000003: %08x %08x %08x %08x", a, b, c, d);
	report((a & 0x26e) == 0x26e, "privileges: hypercall, reference counter and TSC page, "
	       "SynIC, timers, VP index (0x%x)", a);
	report(d & (1u << 19), "synthetic timers' direct mode offered");
	cpuid(0x40000004, 0, &a, &b, &c, &d);
	report_info("cpuid 0x40000004: %08x %08x %08x %08x", a, b, c, d);
	report((a & 0x24) == 0x24, "relaxed timing and remote TLB flush recommended (0x%x)", a);
}

/* Reference time from the TSC page: (TSC * scale) >> 64, plus offset. */
static bool tsc_page_read(struct tsc_page *p, uint64_t *ref)
{
	uint32_t seq;

	do {
		seq = p->sequence;
		if (seq == 0)
			return false;
		__asm__ volatile("" ::: "memory");
		*ref = (uint64_t)(((unsigned __int128)rdtsc() * p->scale) >> 64) + p->offset;
		__asm__ volatile("" ::: "memory");
	} while (seq != p->sequence);
	return true;
}

/* Both clocks over a busy wait of 200 ms of kvm-clock: each read in the
 * other's shadow so the window is the same to within two reads. */
static void check_reference_time(void)
{
	struct tsc_page *page = (struct tsc_page *)tsc_page_mem;
	uint64_t k0, r0, k1, r1, t0 = 0, t1 = 0, ref_ns, clock_ns, m;
	bool tsc_valid;

	wrmsr(MSR_KVM_SYSTEM_TIME_NEW, (uintptr_t)&kvmclock | 1);
	wrmsr(MSR_REFERENCE_TSC, (uintptr_t)page | 1);
	report(rdmsr(MSR_REFERENCE_TSC) == ((uintptr_t)page | 1), "TSC page MSR reads back");
	k0 = kvmclock_ns();
	r0 = rdmsr(MSR_TIME_REF_COUNT);
	tsc_valid = tsc_page_read(page, &t0);
	while (kvmclock_ns() - k0 < 200000000ull)
		cpu_relax();
	tsc_page_read(page, &t1);
	r1 = rdmsr(MSR_TIME_REF_COUNT);
	k1 = kvmclock_ns();
	ref_ns = (r1 - r0) * 100;
	clock_ns = k1 - k0;
	report_info("over the wait: kvm-clock %lu ns, reference counter %lu ns", clock_ns, ref_ns);
	report(r1 > r0 && ref_ns <= clock_ns && ref_ns * 100 >= clock_ns * 95,
	       "reference counter advances with kvm-clock (within 5%%)");
	/* KVM keeps the page valid exactly when kvm-clock is TSC-stable; else
	 * sequence 0 tells the guest to use the MSR (TLFS 12.7). */
	report(tsc_valid == !!(kvmclock.flags & PVCLOCK_TSC_STABLE),
	       "TSC page valid (sequence %u) exactly when kvm-clock is TSC-stable (flags 0x%x)",
	       page->sequence, kvmclock.flags);
	if (!tsc_valid)
		return;
	report(t1 > t0 && (t1 - t0) * 100 <= clock_ns && (t1 - t0) * 100 * 100 >= clock_ns * 95,
	       "TSC page time advances with kvm-clock (%lu ns)", (t1 - t0) * 100);
	tsc_page_read(page, &t0);
	m = rdmsr(MSR_TIME_REF_COUNT);
	tsc_page_read(page, &t1);
	report(t0 <= m + REF_PER_MS && m <= t1 + REF_PER_MS,
	       "TSC page and reference counter agree (%lu, %lu, %lu)", t0, m, t1);
}

static void on_sint(struct regs *r)
{
	(void)r;
	sint_interrupts++;
	lapic_eoi();
}

static void on_direct(struct regs *r)
{
	(void)r;
	direct_interrupts++;
	lapic_eoi();
}

static void wait_for(volatile unsigned int *count)
{
	/* sti takes effect after hlt starts, so a pending interrupt still
	 * wakes it; a lost one hangs, which the harness's timeout catches. */
	while (!*count)
		__asm__ volatile("sti; hlt; cli" ::: "memory");
}

static void enable_synic(void)
{
	wrmsr(MSR_SIEFP, (uintptr_t)event_page | 1);
	wrmsr(MSR_SIMP, (uintptr_t)message_page | 1);
	wrmsr(MSR_SINT0 + TIMER_SINT, SINT_VECTOR);
	wrmsr(MSR_SCONTROL, 1);
	report(rdmsr(MSR_SVERSION) == 1, "SynIC version 1");
	report(rdmsr(MSR_SIMP) == ((uintptr_t)message_page | 1) &&
	       rdmsr(MSR_SIEFP) == ((uintptr_t)event_page | 1) &&
	       (rdmsr(MSR_SINT0 + TIMER_SINT) & 0x100ff) == SINT_VECTOR,
	       "SynIC message and event pages and SINT%u read back", TIMER_SINT);
}

/* Message mode: timer 0 on SINT2 expires once at an absolute reference
 * time and leaves HVMSG_TIMER_EXPIRED in SINT2's message slot. */
static void check_stimer_message(void)
{
	volatile struct hv_message *msg = &message_page[TIMER_SINT];
	struct timer_payload payload;
	uint64_t expiry = rdmsr(MSR_TIME_REF_COUNT) + 10 * REF_PER_MS;

	idt_set_handler(SINT_VECTOR, on_sint);
	wrmsr(MSR_STIMER_COUNT(0), expiry);
	wrmsr(MSR_STIMER_CONFIG(0), STIMER_ENABLE | STIMER_SINT(TIMER_SINT));
	wait_for(&sint_interrupts);
	memcpy(&payload, (const void *)msg->payload, sizeof(payload));
	report(sint_interrupts == 1, "timer 0 interrupted once on SINT%u's vector 0x%x",
	       TIMER_SINT, SINT_VECTOR);
	report(msg->type == HVMSG_TIMER_EXPIRED && msg->payload_size >= sizeof(payload),
	       "SINT%u's slot holds HVMSG_TIMER_EXPIRED (type 0x%x, %u bytes)", TIMER_SINT,
	       msg->type, msg->payload_size);
	report(payload.timer_index == 0 && payload.expiration_time == expiry &&
	       payload.delivery_time >= expiry,
	       "the message names timer 0, its expiry %lu, delivered at %lu", expiry,
	       payload.delivery_time);
	report(!(rdmsr(MSR_STIMER_CONFIG(0)) & STIMER_ENABLE),
	       "a one-shot timer is disabled once it expired");
	msg->type = 0; /* slot free again; a queued message needs EOM */
	if (msg->flags & MSG_FLAG_PENDING)
		wrmsr(MSR_EOM, 0);
}

/* Direct mode: timer 1 interrupts on its own vector, with no message. */
static void check_stimer_direct(void)
{
	uint64_t expiry = rdmsr(MSR_TIME_REF_COUNT) + 10 * REF_PER_MS;

	idt_set_handler(DIRECT_VECTOR, on_direct);
	wrmsr(MSR_STIMER_COUNT(1), expiry);
	wrmsr(MSR_STIMER_CONFIG(1), STIMER_ENABLE | STIMER_DIRECT | STIMER_VECTOR(DIRECT_VECTOR));
	wait_for(&direct_interrupts);
	report(direct_interrupts == 1 && rdmsr(MSR_TIME_REF_COUNT) >= expiry,
	       "timer 1 in direct mode interrupted once on vector 0x%x, after its expiry",
	       DIRECT_VECTOR);
	report(sint_interrupts == 1 && message_page[0].type == 0 &&
	       message_page[TIMER_SINT].type == 0, "direct mode sent no SynIC message");
}

static void read_vp_index(void *arg)
{
	(void)arg;
	vp_index_of[lapic_id()] = rdmsr(MSR_VP_INDEX);
}

static void check_vp_index(void)
{
	unsigned int cpus = smp_start((unsigned int)fw_cfg_read(FW_CFG_NB_CPUS, 2));

	for (unsigned int i = 0; i < cpus; i++)
		on_cpu(i, read_vp_index, 0);
	for (unsigned int i = 0; i < cpus; i++)
		report(vp_index_of[i] == i, "vCPU %u's VP index is %lu", i, vp_index_of[i]);
	report(cpus >= 2, "%u vCPUs checked", cpus);
}

static uint64_t hypercall(uint64_t control, uint64_t input_gpa)
{
	register uint64_t output_gpa __asm__("r8") = 0;
	uint64_t status;

	__asm__ volatile("call *%[page]"
			 : "=a"(status), "+c"(control), "+d"(input_gpa), "+r"(output_gpa)
			 : [page] "r"(hypercall_page)
			 : "memory", "rsi", "rdi", "r9", "r10", "r11");
	return status;
}

static void check_hypercalls(void)
{
	uint64_t status;
	bool filled = false;

	/* The guest names itself before the page can be enabled (TLFS 3.13):
	 * an open-source OS, Linux's vendor code. */
	wrmsr(MSR_GUEST_OS_ID, 0x8100000000000000ull);
	wrmsr(MSR_HYPERCALL, (uintptr_t)hypercall_page | 1);
	for (unsigned int i = 0; i < 16; i++)
		filled |= hypercall_page[i] != 0;
	report((rdmsr(MSR_HYPERCALL) & ~0xfffull) == (uintptr_t)hypercall_page && filled,
	       "hypercall page enabled and filled in (%02x %02x %02x)", hypercall_page[0],
	       hypercall_page[1], hypercall_page[2]);
	hypercall_input[0] = 0; /* address space: all of them, by the flags */
	hypercall_input[1] = HV_FLUSH_ALL_PROCESSORS | HV_FLUSH_ALL_VIRTUAL_ADDRESS_SPACES;
	hypercall_input[2] = 0;
	status = hypercall(HVCALL_FLUSH_VIRTUAL_ADDRESS_SPACE, (uintptr_t)hypercall_input);
	report((status & 0xffff) == 0, "HvFlushVirtualAddressSpace succeeds (status %lu)",
	       status & 0xffff);
	status = hypercall(HVCALL_BOGUS, (uintptr_t)hypercall_input);
	report((status & 0xffff) == HV_STATUS_INVALID_HYPERCALL_CODE,
	       "an unknown hypercall is refused as such (status %lu)", status & 0xffff);
	/* No VMBus behind it: refused, whoever answers (KVM or the VMM). */
	memset(hypercall_input, 0, sizeof(hypercall_input));
	status = hypercall(HVCALL_POST_MESSAGE, (uintptr_t)hypercall_input);
	report((status & 0xffff) != 0, "HvPostMessage is refused (status %lu)", status & 0xffff);
}

void guest_main(void)
{
	const char *expect = cmdline_get("expect");

	if (expect && !strncmp(expect, "none", 4)) {
		check_no_hyperv();
		return;
	}
	if (expect && !strncmp(expect, "relaxed", 7)) {
		check_relaxed_only();
		return;
	}
	check_cpuid();
	check_hypercalls();
	check_reference_time();
	enable_synic();
	check_stimer_message();
	check_stimer_direct();
	check_vp_index();
}
