// SPDX-License-Identifier: MIT
/* Completing the decoded instruction exactly as the SDM describes it. */
#include <errno.h>
#include <string.h>

#include "x86/control_regs.h"
#include "x86/insn.h"
#include "x86/page_walk.h"

#define RFLAGS_CF (1ULL << 0)
#define RFLAGS_PF (1ULL << 2)
#define RFLAGS_AF (1ULL << 4)
#define RFLAGS_ZF (1ULL << 6)
#define RFLAGS_SF (1ULL << 7)
#define RFLAGS_OF (1ULL << 11)
#define RFLAGS_AC (1ULL << 18)
#define VEC_UD 6
#define SYSRET_RFLAGS_KEPT 0x3c7fd7ULL
#define MXCSR_RESERVED 0xffff0000u
#define VEC_BP 3
#define VEC_NM 7
#define VEC_NP 11
#define VEC_GP 13
#define VEC_PF 14

static int raise(struct insn_outcome *out, uint8_t vector, bool has_error, uint32_t error)
{
	out->exception = true;
	out->vector = vector;
	out->has_error = has_error;
	out->error_code = error;
	return 0;
}

static unsigned int cpl(const struct kvm_sregs *sregs)
{
	return sregs->cs.selector & 3;
}

static struct walk_cpu walk_cpu_of(const struct kvm_regs *regs, const struct kvm_sregs *sregs,
				   unsigned int phys_bits)
{
	return (struct walk_cpu){ sregs->cr0, sregs->cr3, sregs->cr4, sregs->efer, regs->rflags,
				  phys_bits };
}

/* Host pointer for len bytes at linear va (one page at most), or a #PF.
 * An implicit access (to a descriptor table, SDM 4.6) is a supervisor
 * access whatever the CPL, and EFLAGS.AC does not lift SMAP for it. */
static int translate_as(const struct guest_memory *mem, const struct kvm_regs *regs,
			const struct kvm_sregs *sregs, unsigned int phys_bits, uint64_t va,
			unsigned int len, enum walk_access access, bool implicit, void **host,
			struct insn_outcome *out)
{
	struct walk_cpu cpu = walk_cpu_of(regs, sregs, phys_bits);
	struct walk_request req = { .va = va, .access = access,
				    .user = !implicit && cpl(sregs) == 3,
				    .set_accessed_dirty = true };
	struct walk_result res;

	if (implicit && cpl(sregs) == 3)
		cpu.rflags &= ~(1ULL << 18);

	if ((va & 0xfff) + len > 0x1000)
		return -EFAULT; /* callers keep operands inside a page */
	switch (page_walk(mem, &cpu, &req, &res)) {
	case WALK_OK:
		*host = guest_mem_ptr(mem, res.gpa, len);
		return *host ? 1 : -EFAULT;
	case WALK_PAGE_FAULT:
		out->cr2 = va;
		return raise(out, VEC_PF, true, res.error_code);
	case WALK_NOT_CANONICAL:
		return raise(out, VEC_GP, true, 0);
	default:
		return -EFAULT;
	}
}

static int translate(const struct guest_memory *mem, const struct kvm_regs *regs,
		     const struct kvm_sregs *sregs, unsigned int phys_bits, uint64_t va,
		     unsigned int len, enum walk_access access, void **host,
		     struct insn_outcome *out)
{
	return translate_as(mem, regs, sregs, phys_bits, va, len, access, false, host, out);
}

/* INT n: the gate must be present and its DPL at least the CPL. */
static int execute_int(const struct insn *insn, const struct guest_memory *mem,
		       struct kvm_regs *regs, const struct kvm_sregs *sregs,
		       unsigned int phys_bits, struct insn_outcome *out)
{
	uint32_t selector_error = insn->imm8 * 8u + 2; /* IDT, external = 0 */
	uint64_t gate_addr = sregs->idt.base + insn->imm8 * 16ULL;
	uint8_t *gate;
	int ret;

	if (insn->imm8 * 16u + 15 > sregs->idt.limit)
		return raise(out, VEC_GP, true, selector_error);
	/* The IDT is read as the CPU reads it: an implicit supervisor access. */
	ret = translate_as(mem, regs, sregs, phys_bits, gate_addr + 5, 1, WALK_READ, true,
			   (void **)&gate, out);
	if (ret <= 0)
		return ret;
	if (((*gate >> 5) & 3) < cpl(sregs))
		return raise(out, VEC_GP, true, selector_error);
	if (!(*gate & 0x80))
		return raise(out, VEC_NP, true, selector_error);
	regs->rip += insn->len;
	out->soft_interrupt = true;
	out->vector = insn->imm8;
	return 0;
}

static int execute_popcnt(const struct insn *insn, const struct guest_memory *mem,
			  struct kvm_regs *regs, const struct kvm_sregs *sregs,
			  unsigned int phys_bits, struct insn_outcome *out)
{
	unsigned int size = insn->rex_w ? 8 : insn->opsize16 ? 2 : 4;
	uint64_t src = 0, count;
	uint64_t *dst = insn_reg(regs, insn->reg);

	if (insn->mem) {
		void *p;
		int ret = translate(mem, regs, sregs, phys_bits, insn_address(insn, regs, sregs),
				    size, WALK_READ, &p, out);

		if (ret <= 0)
			return ret;
		guest_copy_once(&src, p, size);
	} else {
		src = *insn_reg(regs, insn->rm);
		if (size < 8)
			src &= (1ULL << (8 * size)) - 1;
	}
	count = (uint64_t)__builtin_popcountll(src);
	if (size == 2)
		*dst = (*dst & ~0xffffULL) | count;
	else
		*dst = count; /* a 32-bit result zero-extends */
	regs->rflags &= ~(RFLAGS_CF | RFLAGS_PF | RFLAGS_AF | RFLAGS_ZF | RFLAGS_SF | RFLAGS_OF);
	if (!src)
		regs->rflags |= RFLAGS_ZF;
	regs->rip += insn->len;
	return 0;
}

static int execute_mxcsr(const struct insn *insn, const struct guest_memory *mem,
			 struct kvm_regs *regs, const struct kvm_sregs *sregs,
			 unsigned int phys_bits, uint32_t *mxcsr, struct insn_outcome *out)
{
	bool load = insn->kind == INSN_LDMXCSR;
	uint64_t va = insn_address(insn, regs, sregs);
	uint32_t value;
	void *p;
	int ret;

	/* SSE state exists for the guest only once its OS says it saves it. */
	if ((sregs->cr0 & CR0_EM) || !(sregs->cr4 & CR4_OSFXSR))
		return raise(out, VEC_UD, false, 0);
	if (sregs->cr0 & CR0_TS)
		return raise(out, VEC_NM, false, 0);
	/* A 4-byte operand crossing a page is split by the CPU; here it is a
	 * case no guest needs: fail loudly rather than half-emulate. */
	ret = translate(mem, regs, sregs, phys_bits, va, 4, load ? WALK_READ : WALK_WRITE, &p, out);
	if (ret <= 0)
		return ret;
	if (load) {
		value = guest_load32(p); /* checked, then used: one fetch */
		if (value & MXCSR_RESERVED)
			return raise(out, VEC_GP, true, 0);
		*mxcsr = value;
		out->mxcsr_changed = true;
	} else {
		memcpy(p, mxcsr, 4);
	}
	regs->rip += insn->len;
	return 0;
}

/* A flat 4 GiB user segment, as SYSRET loads it (only the selector comes
 * from the descriptor table's place, the rest is fixed). */
static struct kvm_segment user_segment(uint16_t selector, uint8_t type, bool code64)
{
	return (struct kvm_segment){
		.base = 0, .limit = 0xffffffff, .selector = selector, .type = type,
		.present = 1, .dpl = 3, .s = 1, .g = 1,
		.l = code64, .db = type == 3 || !code64,
	};
}

/* SYSRET in long mode: back to CPL 3 at RCX (ECX without REX.W) with
 * RFLAGS from R11 and CS/SS derived from STAR[63:48]. */
static int execute_sysret(const struct insn *insn, struct kvm_regs *regs,
			  struct kvm_sregs *sregs, uint64_t star, struct insn_outcome *out)
{
	uint16_t base = (uint16_t)(star >> 48);

	if (!(sregs->efer & EFER_LMA))
		return -EINVAL; /* legacy-mode SYSRET: no guest of ours needs it */
	if (!sregs->cs.l || !(sregs->efer & EFER_SCE))
		return raise(out, VEC_UD, false, 0);
	if (cpl(sregs))
		return raise(out, VEC_GP, true, 0);
	if (insn->rex_w) {
		/* Intel raises #GP at CPL 0 rather than return to a bad RIP. */
		struct walk_cpu cpu = walk_cpu_of(regs, sregs, 0);

		if (!walk_canonical(&cpu, regs->rcx))
			return raise(out, VEC_GP, true, 0);
		regs->rip = regs->rcx;
		sregs->cs = user_segment((uint16_t)((base + 16) | 3), 11, true);
	} else {
		regs->rip = (uint32_t)regs->rcx;
		sregs->cs = user_segment((uint16_t)(base | 3), 11, false);
	}
	sregs->ss = user_segment((uint16_t)((base + 8) | 3), 3, false);
	regs->rflags = (regs->r11 & SYSRET_RFLAGS_KEPT) | 2;
	out->sregs_changed = true;
	return 0;
}

/* LOCK CMPXCHG16B itself, written out: a compiler builtin becomes a
 * libatomic call under some flags and sanitizers (gcc's TSan, clang
 * without -mcx16), and the guest needs the one atomic instruction. */
static bool cmpxchg16(unsigned __int128 *p, unsigned __int128 *expected, unsigned __int128 desired)
{
	uint64_t lo = (uint64_t)*expected, hi = (uint64_t)(*expected >> 64);
	bool equal;

	__asm__ volatile("lock cmpxchg16b %[mem]"
			 : [mem] "+m"(*p), "+a"(lo), "+d"(hi), "=@ccz"(equal)
			 : "b"((uint64_t)desired), "c"((uint64_t)(desired >> 64))
			 : "memory");
	*expected = ((unsigned __int128)hi << 64) | lo;
	return equal;
}

static int execute_cmpxchg16b(const struct insn *insn, const struct guest_memory *mem,
			      struct kvm_regs *regs, const struct kvm_sregs *sregs,
			      unsigned int phys_bits, struct insn_outcome *out)
{
	uint64_t va = insn_address(insn, regs, sregs);
	unsigned __int128 expected, desired;
	void *p;
	int ret;

	if (va & 15)
		return raise(out, VEC_GP, true, 0);
	/* The instruction always writes (the old value back on failure). */
	ret = translate(mem, regs, sregs, phys_bits, va, 16, WALK_WRITE, &p, out);
	if (ret <= 0)
		return ret;
	expected = ((unsigned __int128)regs->rdx << 64) | regs->rax;
	desired = ((unsigned __int128)regs->rcx << 64) | regs->rbx;
	if (cmpxchg16(p, &expected, desired)) {
		regs->rflags |= RFLAGS_ZF;
	} else {
		regs->rflags &= ~RFLAGS_ZF;
		regs->rax = (uint64_t)expected;
		regs->rdx = (uint64_t)(expected >> 64);
	}
	regs->rip += insn->len;
	return 0;
}

int insn_execute(const struct insn *insn, const struct guest_memory *mem, struct kvm_regs *regs,
		 struct kvm_sregs *sregs, unsigned int phys_bits, struct insn_state *state,
		 struct insn_outcome *out)
{
	memset(out, 0, sizeof(*out));
	switch (insn->kind) {
	case INSN_INT3:
		regs->rip += insn->len; /* a trap: the handler returns after it */
		return raise(out, VEC_BP, false, 0);
	case INSN_INT:
		return execute_int(insn, mem, regs, sregs, phys_bits, out);
	case INSN_POPCNT:
		return execute_popcnt(insn, mem, regs, sregs, phys_bits, out);
	case INSN_FWAIT:
		if ((sregs->cr0 & (CR0_TS | CR0_MP)) == (CR0_TS | CR0_MP))
			return raise(out, VEC_NM, false, 0);
		regs->rip += insn->len;
		return 0;
	case INSN_LDMXCSR:
	case INSN_STMXCSR:
		return execute_mxcsr(insn, mem, regs, sregs, phys_bits, &state->mxcsr, out);
	case INSN_CMPXCHG16B:
		return execute_cmpxchg16b(insn, mem, regs, sregs, phys_bits, out);
	case INSN_CLAC:
	case INSN_STAC:
		/* Privileged: #UD outside CPL 0 (the CPU offers SMAP, or the
		 * guest would not be running these). */
		if (cpl(sregs))
			return raise(out, VEC_UD, false, 0);
		if (insn->kind == INSN_CLAC)
			regs->rflags &= ~RFLAGS_AC;
		else
			regs->rflags |= RFLAGS_AC;
		regs->rip += insn->len;
		return 0;
	case INSN_SYSRET:
		return execute_sysret(insn, regs, sregs, state->star, out);
	default:
		return -EINVAL;
	}
}
