// SPDX-License-Identifier: MIT
#include "x86/emulation_gap.h"

#include <string.h>

#include "util/log.h"
#include "x86/page_walk.h"

#define MSR_STAR 0xc0000081

unsigned int emulation_gap_fetch(const struct guest_memory *mem, const struct kvm_regs *regs,
				 const struct kvm_sregs *sregs, unsigned int phys_bits,
				 uint8_t bytes[15])
{
	struct walk_cpu cpu = { sregs->cr0, sregs->cr3, sregs->cr4, sregs->efer, regs->rflags,
				phys_bits };
	unsigned int got = 0;

	while (got < 15) {
		uint64_t va = insn_code_address(regs, sregs, got);
		struct walk_request req = { .va = va, .access = WALK_FETCH,
					    .user = (sregs->cs.selector & 3) == 3 };
		struct walk_result res;
		unsigned int chunk = 0x1000 - (va & 0xfff);

		if (page_walk(mem, &cpu, &req, &res) != WALK_OK)
			break;
		if (chunk > 15 - got)
			chunk = 15 - got;
		if (guest_mem_read(mem, res.gpa, bytes + got, chunk))
			break;
		got += chunk;
	}
	return got;
}

static bool deliver(struct vcpu *vcpu, struct kvm_sregs *sregs, const struct insn_outcome *out)
{
	struct kvm_vcpu_events events;

	if (!out->exception && !out->soft_interrupt)
		return true;
	if (vcpu_get_events(vcpu, &events))
		return false;
	if (out->exception) {
		if (out->vector == 14) {
			sregs->cr2 = out->cr2;
			if (vcpu_set_regs(vcpu, NULL, sregs))
				return false;
		}
		events.exception.injected = 1;
		events.exception.nr = out->vector;
		events.exception.has_error_code = out->has_error;
		events.exception.error_code = out->error_code;
	} else {
		/* The gate's DPL was checked already and RIP is past the INT:
		 * deliver it like an external interrupt on that vector. */
		events.interrupt.injected = 1;
		events.interrupt.nr = out->vector;
		events.interrupt.soft = 0;
	}
	events.flags = 0;
	return vcpu_set_events(vcpu, &events) == 0;
}

/* MXCSR lives in the legacy area of the XSAVE image (byte 24); the
 * XSAVE interface is used because it is what holds the live guest state
 * on every backend (KVM_GET_FPU may not, here it read zero). */
#define XSAVE_MXCSR_OFFSET 24

static bool mxcsr_access(struct vcpu *vcpu, uint32_t *mxcsr, bool store)
{
	struct kvm_xsave xsave;

	if (vcpu_get_xsave(vcpu, &xsave))
		return false;
	if (!store) {
		memcpy(mxcsr, (uint8_t *)xsave.region + XSAVE_MXCSR_OFFSET, 4);
		return true;
	}
	memcpy((uint8_t *)xsave.region + XSAVE_MXCSR_OFFSET, mxcsr, 4);
	return vcpu_set_xsave(vcpu, &xsave) == 0;
}

bool emulation_gap_complete(struct vcpu *vcpu, unsigned int phys_bits,
			    struct emulation_stats *stats)
{
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	struct insn_state state = { 0 };
	struct insn insn;
	struct insn_outcome out;
	uint8_t bytes[15];
	unsigned int n;

	if (vcpu_get_regs(vcpu, &regs, &sregs))
		return false;
	n = emulation_gap_fetch(&vcpu->vm->mem, &regs, &sregs, phys_bits, bytes);
	if (insn_decode_mode(bytes, n, insn_mode_of(&sregs), &insn))
		return false;
	if ((insn.kind == INSN_LDMXCSR || insn.kind == INSN_STMXCSR) &&
	    !mxcsr_access(vcpu, &state.mxcsr, false))
		return false;
	if (insn.kind == INSN_SYSRET && vcpu_get_msr(vcpu, MSR_STAR, &state.star))
		return false;
	if (insn_execute(&insn, &vcpu->vm->mem, &regs, &sregs, phys_bits, &state, &out))
		return false;
	if (vcpu_set_regs(vcpu, &regs, out.sregs_changed ? &sregs : NULL))
		return false;
	if (out.mxcsr_changed && !mxcsr_access(vcpu, &state.mxcsr, true))
		return false;
	if (!deliver(vcpu, &sregs, &out))
		return false;
	atomic_fetch_add(&stats->completed[insn.kind], 1);
	return true;
}

void emulation_stats_print(const struct emulation_stats *stats, FILE *out)
{
	for (unsigned int k = 1; k < INSN_KINDS; k++) {
		unsigned long n = atomic_load(&stats->completed[k]);

		if (n)
			fprintf(out, "kiln: stats: completed %s %lu times\n", insn_names[k], n);
	}
}
