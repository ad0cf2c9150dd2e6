// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "x86/control_regs.h"
#include "x86/insn.h"

const char *const insn_names[INSN_KINDS] = {
	[INSN_UNKNOWN] = "unknown", [INSN_INT3] = "int3", [INSN_INT] = "int",
	[INSN_POPCNT] = "popcnt", [INSN_FWAIT] = "fwait", [INSN_LDMXCSR] = "ldmxcsr",
	[INSN_STMXCSR] = "stmxcsr", [INSN_CMPXCHG16B] = "cmpxchg16b", [INSN_CLAC] = "clac",
	[INSN_STAC] = "stac", [INSN_SYSRET] = "sysret",
};

uint64_t *insn_reg(struct kvm_regs *regs, unsigned int number)
{
	/* One explicit table: the encoding order is not struct kvm_regs' order. */
	static const size_t offsets[16] = {
		offsetof(struct kvm_regs, rax), offsetof(struct kvm_regs, rcx),
		offsetof(struct kvm_regs, rdx), offsetof(struct kvm_regs, rbx),
		offsetof(struct kvm_regs, rsp), offsetof(struct kvm_regs, rbp),
		offsetof(struct kvm_regs, rsi), offsetof(struct kvm_regs, rdi),
		offsetof(struct kvm_regs, r8), offsetof(struct kvm_regs, r9),
		offsetof(struct kvm_regs, r10), offsetof(struct kvm_regs, r11),
		offsetof(struct kvm_regs, r12), offsetof(struct kvm_regs, r13),
		offsetof(struct kvm_regs, r14), offsetof(struct kvm_regs, r15),
	};

	return (uint64_t *)((uint8_t *)regs + offsets[number & 15]);
}

struct cursor {
	const uint8_t *bytes;
	unsigned int avail, pos;
};

static int next_byte(struct cursor *c, uint8_t *b)
{
	if (c->pos >= c->avail || c->pos >= 15)
		return -EINVAL;
	*b = c->bytes[c->pos++];
	return 0;
}

static int read_disp(struct cursor *c, unsigned int size, int64_t *disp)
{
	uint8_t b;
	uint32_t v = 0;

	for (unsigned int i = 0; i < size; i++) {
		if (next_byte(c, &b))
			return -EINVAL;
		v |= (uint32_t)b << (8 * i);
	}
	*disp = size == 1 ? (int8_t)v : size == 2 ? (int16_t)v : (int32_t)v;
	return 0;
}

/* 16-bit addressing has no SIB byte: rm picks one of eight fixed base and
 * index pairs (SDM vol. 2, table 2-1); mod 0 with rm 6 is a bare disp16. */
static int decode_modrm16(struct cursor *c, uint8_t mod, uint8_t rm, struct insn *insn)
{
	enum { BX = 3, BP = 5, SI = 6, DI = 7 };
	static const int bases[8] = { BX, BX, BP, BP, -1, -1, BP, BX };
	static const int indexes[8] = { SI, DI, SI, DI, SI, DI, -1, -1 };

	insn->base = bases[rm];
	insn->index = indexes[rm];
	if (mod == 0 && rm == 6) {
		insn->base = -1;
		return read_disp(c, 2, &insn->disp);
	}
	if (rm == 4 || rm == 5) {
		/* SI or DI alone is the base. */
		insn->base = insn->index;
		insn->index = -1;
	}
	if (mod == 1)
		return read_disp(c, 1, &insn->disp);
	if (mod == 2)
		return read_disp(c, 2, &insn->disp);
	return 0;
}

static int decode_modrm(struct cursor *c, bool long_mode, struct insn *insn)
{
	uint8_t modrm, sib, mod, rm;
	unsigned int rex_r = (insn->rex >> 2) & 1, rex_x = (insn->rex >> 1) & 1, rex_b = insn->rex & 1;

	if (next_byte(c, &modrm))
		return -EINVAL;
	insn->has_modrm = true;
	mod = modrm >> 6;
	rm = modrm & 7;
	insn->reg = ((modrm >> 3) & 7) | (rex_r << 3);
	insn->base = insn->index = -1;
	insn->scale = 1;
	if (mod == 3) {
		insn->rm = rm | (rex_b << 3);
		return 0;
	}
	insn->mem = true;
	if (insn->addr_size == 2)
		return decode_modrm16(c, mod, rm, insn);
	if (rm == 4) {
		unsigned int index;

		if (next_byte(c, &sib))
			return -EINVAL;
		insn->scale = 1u << (sib >> 6);
		index = ((sib >> 3) & 7) | (rex_x << 3);
		insn->index = index == 4 ? -1 : (int)index;
		if ((sib & 7) == 5 && mod == 0)
			return read_disp(c, 4, &insn->disp);
		insn->base = (sib & 7) | (rex_b << 3);
	} else if (rm == 5 && mod == 0) {
		insn->base = long_mode ? 16 : -1; /* RIP-relative only in 64-bit mode */
		return read_disp(c, 4, &insn->disp);
	} else {
		insn->base = rm | (rex_b << 3);
	}
	if (mod == 1)
		return read_disp(c, 1, &insn->disp);
	if (mod == 2)
		return read_disp(c, 4, &insn->disp);
	return 0;
}

static int decode_0f(struct cursor *c, bool long_mode, bool rep, struct insn *insn)
{
	uint8_t op;

	if (next_byte(c, &op))
		return -EINVAL;
	if (op == 0xb8 && rep) {
		insn->kind = INSN_POPCNT;
		return decode_modrm(c, long_mode, insn);
	}
	if (op == 0x07) {
		insn->kind = INSN_SYSRET; /* REX.W: back to 64-bit code */
		return 0;
	}
	if (op == 0x01) {
		/* 0F 01 CA is CLAC, 0F 01 CB is STAC; other 0F 01 forms are not ours. */
		if (next_byte(c, &op) || (op != 0xca && op != 0xcb))
			return -EINVAL;
		insn->kind = op == 0xca ? INSN_CLAC : INSN_STAC;
		return 0;
	}
	if (op != 0xae && op != 0xc7)
		return -EINVAL;
	if (decode_modrm(c, long_mode, insn) || !insn->mem)
		return -EINVAL;
	if (op == 0xae && (insn->reg & 7) == 2)
		insn->kind = INSN_LDMXCSR;
	else if (op == 0xae && (insn->reg & 7) == 3)
		insn->kind = INSN_STMXCSR;
	else if (op == 0xc7 && (insn->reg & 7) == 1 && insn->rex_w)
		insn->kind = INSN_CMPXCHG16B;
	else
		return -EINVAL;
	return 0;
}

enum insn_mode insn_mode_of(const struct kvm_sregs *sregs)
{
	if ((sregs->efer & EFER_LMA) && sregs->cs.l)
		return INSN_MODE_64;
	return sregs->cs.db ? INSN_MODE_32 : INSN_MODE_16;
}

/* Operand and address sizes from the mode and the 0x66 / 0x67 prefixes. */
static void set_sizes(struct insn *insn, enum insn_mode mode, bool opsize_prefix,
		      bool addr_prefix)
{
	static const unsigned int addr_size[3][2] = { { 2, 4 }, { 4, 2 }, { 8, 4 } };

	insn->addr_size = addr_size[mode][addr_prefix];
	insn->opsize16 = (mode == INSN_MODE_16) != opsize_prefix;
}

int insn_decode(const uint8_t *bytes, unsigned int avail, bool long_mode, struct insn *insn)
{
	return insn_decode_mode(bytes, avail, long_mode ? INSN_MODE_64 : INSN_MODE_32, insn);
}

int insn_decode_mode(const uint8_t *bytes, unsigned int avail, enum insn_mode mode,
		     struct insn *insn)
{
	struct cursor c = { bytes, avail, 0 };
	bool long_mode = mode == INSN_MODE_64;
	bool rep = false, opsize_prefix = false, addr_prefix = false;
	uint8_t b;
	int ret;

	memset(insn, 0, sizeof(*insn));
	insn->seg = -1;
	for (;;) {
		if (next_byte(&c, &b))
			return -EINVAL;
		if (b == 0xf0)
			insn->lock = true;
		else if (b == 0xf3 || b == 0xf2)
			rep = b == 0xf3;
		else if (b == 0x66)
			opsize_prefix = true;
		else if (b == 0x67)
			addr_prefix = true;
		else if (b == 0x26 || b == 0x2e || b == 0x36 || b == 0x3e)
			insn->seg = (b >> 3) & 3;   /* 0 ES, 1 CS, 2 SS, 3 DS */
		else if (b == 0x64 || b == 0x65)
			insn->seg = b - 0x60;       /* 4 FS, 5 GS */
		else
			break;
	}
	set_sizes(insn, mode, opsize_prefix, addr_prefix);
	if (long_mode && (b & 0xf0) == 0x40) {
		insn->rex = b;
		insn->rex_w = b & 8;
		if (next_byte(&c, &b))
			return -EINVAL;
	}
	switch (b) {
	case 0xcc:
		insn->kind = INSN_INT3;
		ret = 0;
		break;
	case 0xcd:
		insn->kind = INSN_INT;
		ret = next_byte(&c, &insn->imm8);
		break;
	case 0x9b:
		insn->kind = INSN_FWAIT;
		ret = 0;
		break;
	case 0x0f:
		ret = decode_0f(&c, long_mode, rep, insn);
		break;
	default:
		ret = -EINVAL;
		break;
	}
	/* LOCK is valid only on CMPXCHG16B among these. */
	if (!ret && insn->lock && insn->kind != INSN_CMPXCHG16B)
		ret = -EINVAL;
	insn->len = c.pos;
	return ret;
}

/* The base of segment register sreg (0 ES ... 5 GS). */
static uint64_t segment_base(const struct kvm_sregs *sregs, int sreg)
{
	const struct kvm_segment *segs[6] = { &sregs->es, &sregs->cs, &sregs->ss,
					      &sregs->ds, &sregs->fs, &sregs->gs };

	return segs[sreg]->base;
}

uint64_t insn_address(const struct insn *insn, const struct kvm_regs *regs,
		      const struct kvm_sregs *sregs)
{
	enum { SREG_SS = 2, SREG_DS = 3, SREG_FS = 4, RSP = 4, RBP = 5 };
	struct kvm_regs *r = (struct kvm_regs *)regs;
	uint64_t ea = (uint64_t)insn->disp;
	int sreg = insn->seg;

	if (insn->base == 16)
		ea += regs->rip + insn->len;
	else if (insn->base >= 0)
		ea += *insn_reg(r, (unsigned int)insn->base);
	if (insn->index >= 0)
		ea += *insn_reg(r, (unsigned int)insn->index) * insn->scale;
	/* Only the low address-size bits of the registers and the sum count. */
	if (insn->addr_size < 8)
		ea &= (1ULL << (8 * insn->addr_size)) - 1;
	if (insn_mode_of(sregs) == INSN_MODE_64)
		return sreg >= SREG_FS ? ea + segment_base(sregs, sreg) : ea;
	if (sreg < 0)
		sreg = insn->base == RSP || insn->base == RBP ? SREG_SS : SREG_DS;
	return (uint32_t)(segment_base(sregs, sreg) + ea);
}

uint64_t insn_code_address(const struct kvm_regs *regs, const struct kvm_sregs *sregs,
			   unsigned int offset)
{
	enum insn_mode mode = insn_mode_of(sregs);
	uint64_t ip = regs->rip + offset;

	if (mode == INSN_MODE_64)
		return ip;
	if (mode == INSN_MODE_16)
		ip &= 0xffff;
	return (uint32_t)(sregs->cs.base + ip);
}
