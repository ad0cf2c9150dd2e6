// SPDX-License-Identifier: MIT
/*
 * Completing an instruction for KVM over hostile guest state: the input sets
 * the CPU's paging mode (off, 32-bit, PAE, 4- or 5-level, with WP, SMEP,
 * SMAP, NX, PSE in any mix), CS:RIP, the registers, the IDT, and writes guest
 * RAM freely (page tables at any level, instruction bytes, operands). kiln
 * then fetches through its page walker (src/x86/page_walk.c), decodes
 * (insn_decode.c) and executes (insn_execute.c) as it does on a PVM host,
 * and walks a few more addresses with every kind of access.
 */
#include <stdint.h>

#include "fuzz_input.h"
#include "x86/control_regs.h"
#include "x86/emulation_gap.h"
#include "x86/insn.h"
#include "x86/page_walk.h"

#define RAM (1ULL << 20)

static struct guest_memory mem;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	FUZZ_SETUP(guest_mem_create(&mem, RAM, 3ULL << 30) == 0);
	return 0;
}

/* A guest-physical address: mostly inside RAM, sometimes just past it. */
static uint64_t gpa_from(uint32_t v)
{
	return (v & 0x80000000u) ? (uint64_t)v << 8 : v % (RAM + 0x2000);
}

/* The paging mode and control bits, from two input bytes. */
static void set_mode(struct fuzz_input *in, struct kvm_sregs *s, struct kvm_regs *r)
{
	uint8_t mode = fuzz_u8(in), bits = fuzz_u8(in);
	static const uint64_t cr4_bits[] = { CR4_PSE, CR4_SMEP, CR4_SMAP };

	s->cr0 = CR0_PE | ((bits & 1) ? CR0_WP : 0);
	switch (mode % 5) {
	case 0: /* protected mode, paging off */
		break;
	case 1: /* 32-bit paging */
		s->cr0 |= CR0_PG;
		break;
	case 2: /* PAE */
		s->cr0 |= CR0_PG;
		s->cr4 |= CR4_PAE;
		break;
	case 4: /* 5-level */
		s->cr4 |= CR4_LA57;
		/* fall through */
	case 3: /* 4-level */
		s->cr0 |= CR0_PG;
		s->cr4 |= CR4_PAE;
		s->efer |= EFER_LME | EFER_LMA;
		s->cs.l = (bits & 2) ? 0 : 1;
		break;
	}
	for (unsigned int i = 0; i < 3; i++)
		if (bits & (4u << i))
			s->cr4 |= cr4_bits[i];
	if (bits & 0x20)
		s->efer |= EFER_NXE;
	if (bits & 0x40)
		r->rflags |= 1ULL << 18; /* AC */
	if (mode & 0x80) { /* and now and then raw values on top */
		s->cr0 ^= fuzz_u32(in);
		s->cr4 ^= fuzz_u32(in);
		s->efer ^= fuzz_u16(in);
	}
	s->cr3 = gpa_from(fuzz_u32(in));
	s->cs.db = !s->cs.l;
	s->cs.selector = fuzz_u8(in);           /* its low bits are the CPL */
	s->cs.dpl = s->cs.selector & 3;
	s->ss.dpl = s->cs.dpl;
	s->cs.present = s->ss.present = 1;
}

static void set_registers(struct fuzz_input *in, struct kvm_regs *r, struct kvm_sregs *s)
{
	r->rip = fuzz_u64(in);
	for (unsigned int i = 0; i < 16; i++) /* small values mostly: addresses in RAM */
		*insn_reg(r, i) = (fuzz_u8(in) & 0x80) ? fuzz_u64(in) : fuzz_u16(in) * 16ULL;
	r->rflags |= 2;
	s->idt.base = fuzz_u32(in);
	s->idt.limit = fuzz_u16(in);
	s->gdt.base = fuzz_u32(in);
	s->gdt.limit = fuzz_u16(in);
	s->fs.base = fuzz_u32(in);
	s->gs.base = fuzz_u32(in);
}

/* Guest RAM: chunks of (where, length, bytes); page-table entries mostly. */
static void write_ram(struct fuzz_input *in)
{
	unsigned int n = fuzz_u8(in) % 32;

	for (unsigned int i = 0; i < n && fuzz_left(in); i++) {
		uint64_t gpa = fuzz_u32(in) % RAM;
		uint8_t len = fuzz_u8(in) % 32;
		uint8_t *p = guest_mem_ptr(&mem, gpa, len);

		if (p)
			fuzz_take(in, p, len);
	}
}

static void walk_more(struct fuzz_input *in, const struct kvm_sregs *s, const struct kvm_regs *r)
{
	struct walk_cpu cpu = { s->cr0, s->cr3, s->cr4, s->efer, r->rflags, 36 + fuzz_u8(in) % 17 };

	for (unsigned int i = 0; i < 4 && fuzz_left(in); i++) {
		uint8_t how = fuzz_u8(in);
		struct walk_request req = { .va = fuzz_u64(in), .access = how % 3,
					    .user = how & 4, .set_accessed_dirty = how & 8 };
		struct walk_result res;

		if (page_walk(&mem, &cpu, &req, &res) == WALK_OK)
			FUZZ_CHECK(res.page_size >= 4096 && !(res.page_size & (res.page_size - 1)),
				   "page size %lu", res.page_size);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_input in = fuzz_input(data, size);
	struct kvm_regs regs = { 0 };
	struct kvm_sregs sregs = { 0 };
	struct insn_state state = { .mxcsr = 0x1f80 };
	struct insn_outcome out;
	struct insn insn;
	uint8_t bytes[15];
	unsigned int phys_bits, n;

	memset(mem.slots[0].hva, 0, RAM);
	set_mode(&in, &sregs, &regs);
	set_registers(&in, &regs, &sregs);
	phys_bits = 36 + fuzz_u8(&in) % 17;
	state.star = fuzz_u64(&in);
	write_ram(&in);
	n = emulation_gap_fetch(&mem, &regs, &sregs, phys_bits, bytes);
	FUZZ_CHECK(n <= 15, "fetched %u bytes", n);
	if (!insn_decode(bytes, n, sregs.cs.l, &insn)) {
		FUZZ_CHECK(insn.len >= 1 && insn.len <= n, "length %u of %u bytes", insn.len, n);
		(void)insn_execute(&insn, &mem, &regs, &sregs, phys_bits, &state, &out);
	}
	walk_more(&in, &sregs, &regs);
	return 0;
}
