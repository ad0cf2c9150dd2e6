// SPDX-License-Identifier: MIT
/* The register dump printed when a guest dies: enough to find the fault
 * without a debugger. */
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>

#include "vm/vm.h"

#define CODE_BYTES 16

static void dump_segment(const char *name, const struct kvm_segment *s)
{
	fprintf(stderr, "  %-4s sel=%04x base=%016llx limit=%08x type=%x s=%u dpl=%u p=%u l=%u db=%u g=%u\n",
		name, s->selector, (unsigned long long)s->base, s->limit, s->type, s->s,
		s->dpl, s->present, s->l, s->db, s->g);
}

/* Code bytes at CS:RIP, translated by KVM through the guest's page tables. */
static void dump_code(struct vcpu *vcpu, const struct kvm_regs *regs,
		      const struct kvm_sregs *sregs)
{
	struct kvm_translation tr = { .linear_address = sregs->cs.base + regs->rip };
	uint8_t code[CODE_BYTES];

	if (ioctl(vcpu->fd, KVM_TRANSLATE, &tr) < 0 || !tr.valid ||
	    guest_mem_read(&vcpu->vm->mem, tr.physical_address, code, sizeof(code)) < 0) {
		fprintf(stderr, "  code: <not readable at linear 0x%llx>\n",
			(unsigned long long)tr.linear_address);
		return;
	}
	fprintf(stderr, "  code at gpa 0x%llx:", (unsigned long long)tr.physical_address);
	for (unsigned int i = 0; i < sizeof(code); i++)
		fprintf(stderr, " %02x", code[i]);
	fprintf(stderr, "\n");
}

void vcpu_dump(struct vcpu *vcpu)
{
	struct kvm_regs r;
	struct kvm_sregs s;

	if (vcpu_get_regs(vcpu, &r, &s) < 0) {
		fprintf(stderr, "  (registers not readable)\n");
		return;
	}
	fprintf(stderr,
		"  rip=%016llx rsp=%016llx rflags=%016llx\n"
		"  rax=%016llx rbx=%016llx rcx=%016llx rdx=%016llx\n"
		"  rsi=%016llx rdi=%016llx rbp=%016llx\n"
		"  r8 =%016llx r9 =%016llx r10=%016llx r11=%016llx\n"
		"  r12=%016llx r13=%016llx r14=%016llx r15=%016llx\n"
		"  cr0=%016llx cr2=%016llx cr3=%016llx cr4=%016llx efer=%016llx\n",
		r.rip, r.rsp, r.rflags, r.rax, r.rbx, r.rcx, r.rdx, r.rsi, r.rdi, r.rbp,
		r.r8, r.r9, r.r10, r.r11, r.r12, r.r13, r.r14, r.r15,
		s.cr0, s.cr2, s.cr3, s.cr4, s.efer);
	dump_segment("cs", &s.cs);
	dump_segment("ss", &s.ss);
	dump_segment("ds", &s.ds);
	dump_segment("tr", &s.tr);
	fprintf(stderr, "  gdt base=%016llx limit=%04x  idt base=%016llx limit=%04x\n",
		(unsigned long long)s.gdt.base, s.gdt.limit,
		(unsigned long long)s.idt.base, s.idt.limit);
	dump_code(vcpu, &r, &s);
}
