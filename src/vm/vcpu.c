// SPDX-License-Identifier: MIT
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "util/log.h"
#include "vm/kvm.h"
#include "vm/vcpu_run.h"

#define VCPU_KICK_SIGNAL SIGUSR1

static void kick_handler(int sig)
{
	(void)sig; /* only there to interrupt KVM_RUN */
}

int vcpu_install_kick_handler(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = kick_handler; /* no SA_RESTART: KVM_RUN must return */
	sigemptyset(&sa.sa_mask);
	return sigaction(VCPU_KICK_SIGNAL, &sa, NULL) < 0 ? -errno : 0;
}

void vcpu_kick(struct vcpu *vcpu)
{
	/* immediate_exit covers the window before the thread enters KVM_RUN;
	 * the signal covers a thread already inside it. */
	__atomic_store_n(&vcpu->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
	if (vcpu->thread_started)
		pthread_kill(vcpu->thread, VCPU_KICK_SIGNAL);
}

int vcpu_set_cpuid(struct vcpu *vcpu, const struct kvm_cpuid2 *table)
{
	return ioctl(vcpu->fd, KVM_SET_CPUID2, table) < 0 ? -errno : 0;
}

int vcpu_enable_cap(struct vcpu *vcpu, uint32_t cap, uint64_t arg0)
{
	struct kvm_enable_cap enable = { .cap = cap, .args = { arg0 } };

	return ioctl(vcpu->fd, KVM_ENABLE_CAP, &enable) < 0 ? -errno : 0;
}

int vcpu_get_supported_hv_cpuid(struct vcpu *vcpu, struct kvm_cpuid2 **table)
{
	return kvm_get_supported_hv_cpuid(vcpu->fd, table);
}

int vcpu_get_regs(struct vcpu *vcpu, struct kvm_regs *regs, struct kvm_sregs *sregs)
{
	if (regs && ioctl(vcpu->fd, KVM_GET_REGS, regs) < 0)
		return -errno;
	if (sregs && ioctl(vcpu->fd, KVM_GET_SREGS, sregs) < 0)
		return -errno;
	return 0;
}

int vcpu_set_regs(struct vcpu *vcpu, const struct kvm_regs *regs, const struct kvm_sregs *sregs)
{
	/* Special registers first: the mode they set decides how RIP is read. */
	if (sregs && ioctl(vcpu->fd, KVM_SET_SREGS, sregs) < 0)
		return -errno;
	if (regs && ioctl(vcpu->fd, KVM_SET_REGS, regs) < 0)
		return -errno;
	return 0;
}

/* struct kvm_msrs ends in a flexible array: room for one entry after it
 * (a union, as ISO C allows no struct member after a flexible one). */
union one_msr {
	struct kvm_msrs head;
	uint8_t room[sizeof(struct kvm_msrs) + sizeof(struct kvm_msr_entry)];
};

/* KVM_GET_MSRS or KVM_SET_MSRS on one MSR; KVM answers how many it did. */
static int one_msr_ioctl(struct vcpu *vcpu, unsigned long request, uint32_t index,
			 uint64_t *value)
{
	union one_msr msrs = { 0 };
	int n;

	msrs.head.nmsrs = 1;
	msrs.head.entries[0].index = index;
	msrs.head.entries[0].data = *value;
	n = ioctl(vcpu->fd, request, &msrs);
	if (n < 0)
		return -errno;
	if (n != 1)
		return -EINVAL; /* KVM stops at the first MSR it refuses */
	*value = msrs.head.entries[0].data;
	return 0;
}

int vcpu_get_msr(struct vcpu *vcpu, uint32_t index, uint64_t *value)
{
	*value = 0;
	return one_msr_ioctl(vcpu, KVM_GET_MSRS, index, value);
}

int vcpu_set_msr(struct vcpu *vcpu, uint32_t index, uint64_t value)
{
	return one_msr_ioctl(vcpu, KVM_SET_MSRS, index, &value);
}

int vcpu_get_events(struct vcpu *vcpu, struct kvm_vcpu_events *events)
{
	return ioctl(vcpu->fd, KVM_GET_VCPU_EVENTS, events) < 0 ? -errno : 0;
}

int vcpu_set_events(struct vcpu *vcpu, const struct kvm_vcpu_events *events)
{
	return ioctl(vcpu->fd, KVM_SET_VCPU_EVENTS, events) < 0 ? -errno : 0;
}

int vcpu_get_xsave(struct vcpu *vcpu, struct kvm_xsave *xsave)
{
	return ioctl(vcpu->fd, KVM_GET_XSAVE, xsave) < 0 ? -errno : 0;
}

int vcpu_set_xsave(struct vcpu *vcpu, const struct kvm_xsave *xsave)
{
	return ioctl(vcpu->fd, KVM_SET_XSAVE, xsave) < 0 ? -errno : 0;
}

int vcpu_set_mp_state(struct vcpu *vcpu, uint32_t state)
{
	struct kvm_mp_state mp = { .mp_state = state };

	return ioctl(vcpu->fd, KVM_SET_MP_STATE, &mp) < 0 ? -errno : 0;
}

int vcpu_set_fpu_defaults(struct vcpu *vcpu)
{
	struct kvm_fpu fpu;

	memset(&fpu, 0, sizeof(fpu));
	fpu.fcw = 0x37f;    /* FNINIT state: all exceptions masked */
	fpu.mxcsr = 0x1f80; /* reset value: all SSE exceptions masked */
	return ioctl(vcpu->fd, KVM_SET_FPU, &fpu) < 0 ? -errno : 0;
}

#define APIC_LVT_LINT0   0x350
#define APIC_LVT_LINT1   0x360
#define APIC_MODE_EXTINT 0x700
#define APIC_MODE_NMI    0x400

static void lapic_set_reg(struct kvm_lapic_state *lapic, unsigned int reg, uint32_t value)
{
	memcpy(&lapic->regs[reg], &value, sizeof(value));
}

int vcpu_set_lapic_lint(struct vcpu *vcpu)
{
	struct kvm_lapic_state lapic;

	/* What PC firmware leaves behind: LINT0 takes the PIC's ExtINT,
	 * LINT1 takes NMI. Linux relies on it for the PIC and NMI watchdog. */
	if (ioctl(vcpu->fd, KVM_GET_LAPIC, &lapic) < 0)
		return -errno;
	lapic_set_reg(&lapic, APIC_LVT_LINT0, APIC_MODE_EXTINT);
	lapic_set_reg(&lapic, APIC_LVT_LINT1, APIC_MODE_NMI);
	return ioctl(vcpu->fd, KVM_SET_LAPIC, &lapic) < 0 ? -errno : 0;
}
