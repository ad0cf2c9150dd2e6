/* SPDX-License-Identifier: MIT */
/*
 * Completing, in kiln, an instruction the KVM backend refused to emulate
 * (KVM_EXIT_INTERNAL_ERROR, suberror 1): fetch it at RIP through the page
 * walker, decode, execute, write the vCPU back, and count it.
 */
#ifndef KILN_X86_EMULATION_GAP_H
#define KILN_X86_EMULATION_GAP_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>

#include "vm/vm.h"
#include "x86/insn.h"

struct emulation_stats {
	atomic_ulong completed[INSN_KINDS];
};

/* Up to 15 instruction bytes at CS:RIP, fetched page by page through the
 * guest's page tables; returns how many could be read. */
unsigned int emulation_gap_fetch(const struct guest_memory *mem, const struct kvm_regs *regs,
				 const struct kvm_sregs *sregs, unsigned int phys_bits,
				 uint8_t bytes[15]);

/* true when the instruction was completed and the vCPU may run on. */
bool emulation_gap_complete(struct vcpu *vcpu, unsigned int phys_bits,
			    struct emulation_stats *stats);

/* One line per instruction kind that was completed. */
void emulation_stats_print(const struct emulation_stats *stats, FILE *out);

#endif
