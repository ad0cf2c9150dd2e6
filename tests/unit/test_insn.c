// SPDX-License-Identifier: MIT
/* Decoder and executor for the instructions kiln completes for KVM. */
#include <criterion/criterion.h>
#include <stddef.h>
#include <string.h>

#include "x86/insn.h"

Test(insn, register_table_maps_every_encoding)
{
	struct kvm_regs r;
	const size_t want[16] = {
		offsetof(struct kvm_regs, rax), offsetof(struct kvm_regs, rcx),
		offsetof(struct kvm_regs, rdx), offsetof(struct kvm_regs, rbx),
		offsetof(struct kvm_regs, rsp), offsetof(struct kvm_regs, rbp),
		offsetof(struct kvm_regs, rsi), offsetof(struct kvm_regs, rdi),
		offsetof(struct kvm_regs, r8), offsetof(struct kvm_regs, r9),
		offsetof(struct kvm_regs, r10), offsetof(struct kvm_regs, r11),
		offsetof(struct kvm_regs, r12), offsetof(struct kvm_regs, r13),
		offsetof(struct kvm_regs, r14), offsetof(struct kvm_regs, r15),
	};

	for (unsigned int i = 0; i < 16; i++)
		cr_assert_eq((uint8_t *)insn_reg(&r, i) - (uint8_t *)&r, (ptrdiff_t)want[i],
			     "register %u", i);
	cr_assert_neq((uint8_t *)insn_reg(&r, 1) - (uint8_t *)&r,
		      (ptrdiff_t)offsetof(struct kvm_regs, rbx), "1 is RCX, not kvm_regs' 2nd field");
}

static struct insn decode(const char *hex_bytes, unsigned int n, int *ret)
{
	struct insn i;

	*ret = insn_decode((const uint8_t *)hex_bytes, n, true, &i);
	return i;
}

Test(insn, decodes_each_supported_form)
{
	int ret;
	struct insn i;

	i = decode("\xcc", 1, &ret);
	cr_assert(!ret && i.kind == INSN_INT3 && i.len == 1);
	i = decode("\xcd\x80", 2, &ret);
	cr_assert(!ret && i.kind == INSN_INT && i.imm8 == 0x80 && i.len == 2);
	i = decode("\x9b", 1, &ret);
	cr_assert(!ret && i.kind == INSN_FWAIT);
	/* popcnt r9, r10: F3 4D 0F B8 CA */
	i = decode("\xf3\x4d\x0f\xb8\xca", 5, &ret);
	cr_assert(!ret && i.kind == INSN_POPCNT && !i.mem && i.reg == 9 && i.rm == 10 && i.rex_w);
	/* popcnt eax, [rbx + rcx*4 + 0x10]: F3 0F B8 44 8B 10 */
	i = decode("\xf3\x0f\xb8\x44\x8b\x10", 6, &ret);
	cr_assert(!ret && i.mem && i.base == 3 && i.index == 1 && i.scale == 4 && i.disp == 0x10);
	/* ldmxcsr [rip + 0x100]: 0F AE 15 00 01 00 00 */
	i = decode("\x0f\xae\x15\x00\x01\x00\x00", 7, &ret);
	cr_assert(!ret && i.kind == INSN_LDMXCSR && i.base == 16 && i.disp == 0x100 && i.len == 7);
	/* stmxcsr [rsp - 4]: 0F AE 5C 24 FC */
	i = decode("\x0f\xae\x5c\x24\xfc", 5, &ret);
	cr_assert(!ret && i.kind == INSN_STMXCSR && i.base == 4 && i.index == -1 && i.disp == -4);
	/* lock cmpxchg16b gs:[r12]: 65 F0 49 0F C7 0C 24 */
	i = decode("\x65\xf0\x49\x0f\xc7\x0c\x24", 7, &ret);
	cr_assert(!ret && i.kind == INSN_CMPXCHG16B && i.lock && i.base == 12 && i.seg == 5);
}

Test(insn, refuses_what_it_does_not_complete)
{
	int ret;

	decode("\x90", 1, &ret);
	cr_assert_neq(ret, 0, "nop is not ours");
	decode("\x0f\xc7\x0c\x24", 4, &ret);
	cr_assert_neq(ret, 0, "cmpxchg8b (no REX.W)");
	decode("\x0f\xae\xd0", 3, &ret);
	cr_assert_neq(ret, 0, "ldmxcsr needs a memory operand");
	decode("\xf0\xcc", 2, &ret);
	cr_assert_neq(ret, 0, "lock int3");
	decode("\xf3\x0f\xb8", 3, &ret);
	cr_assert_neq(ret, 0, "truncated");
}

/* Execution over a 4-level identity map of the first 2 MiB. */
#define RAM (16ULL << 20)
static struct guest_memory mem;
static struct kvm_regs regs;
static struct kvm_sregs sregs;

static void setup(void)
{
	uint64_t pml4 = 0x1000 | 7, pdpt = 0x2000 | 7, pd = 0x0 | 0x87;

	cr_assert_eq(guest_mem_create(&mem, RAM, 3ULL << 30), 0);
	guest_mem_write(&mem, 0x0000, &pml4, 8);  /* PML4 at 0 */
	pml4 = 0x1000;
	guest_mem_write(&mem, 0x1000, &pdpt, 8);
	guest_mem_write(&mem, 0x2000, &pd, 8);
	memset(&regs, 0, sizeof(regs));
	memset(&sregs, 0, sizeof(sregs));
	sregs.cr0 = (1ULL << 31) | 1 | (1ULL << 16);
	sregs.cr4 = 1ULL << 5;
	sregs.efer = (1ULL << 10) | (1ULL << 8);
	sregs.cs.l = 1;
	regs.rip = 0x100000;
}

static void teardown(void)
{
	guest_mem_destroy(&mem);
}

TestSuite(insn_exec, .init = setup, .fini = teardown);

static struct insn_outcome run(const char *bytes, unsigned int n)
{
	struct insn i;
	struct insn_outcome out;
	struct insn_state state = { .mxcsr = 0x1f80 };

	cr_assert_eq(insn_decode((const uint8_t *)bytes, n, true, &i), 0);
	cr_assert_eq(insn_execute(&i, &mem, &regs, &sregs, 46, &state, &out), 0);
	return out;
}

Test(insn_exec, popcnt_flags_and_zero_extension)
{
	regs.rcx = 0xffffffff00000007ULL;
	regs.rax = ~0ULL;
	regs.rflags = 0x8d5; /* CF PF AF SF OF set */
	run("\xf3\x0f\xb8\xc1", 4); /* popcnt eax, ecx */
	cr_assert_eq(regs.rax, 3, "32-bit result zero-extends");
	cr_assert_eq(regs.rflags & 0x8d5, 0, "CF PF AF SF OF cleared");
	cr_assert_eq(regs.rip, 0x100004);
	regs.rcx = 0;
	run("\xf3\x48\x0f\xb8\xc1", 5);
	cr_assert(regs.rflags & 0x40, "ZF for a zero source");
}

Test(insn_exec, cmpxchg16b_on_memory)
{
	uint64_t m[2] = { 1, 2 }, back[2];

	guest_mem_write(&mem, 0x8000, m, 16);
	regs.rdi = 0x8000;
	regs.rax = 1, regs.rdx = 2, regs.rbx = 7, regs.rcx = 8;
	run("\xf0\x48\x0f\xc7\x0f", 5); /* lock cmpxchg16b [rdi] */
	guest_mem_read(&mem, 0x8000, back, 16);
	cr_assert(back[0] == 7 && back[1] == 8 && (regs.rflags & 0x40));
	regs.rax = 0, regs.rdx = 0;
	run("\xf0\x48\x0f\xc7\x0f", 5);
	cr_assert(regs.rax == 7 && regs.rdx == 8 && !(regs.rflags & 0x40));
	regs.rdi = 0x8008;
	cr_assert(run("\xf0\x48\x0f\xc7\x0f", 5).vector == 13, "misaligned: #GP");
}

Test(insn_exec, page_fault_carries_this_accesss_code)
{
	struct insn_outcome out;

	regs.rdi = 0x400000; /* beyond the 2 MiB map */
	out = run("\xf0\x48\x0f\xc7\x0f", 5);
	cr_assert(out.exception && out.vector == 14 && out.error_code == 0x2 && out.cr2 == 0x400000,
		  "write, not present: code 0x%x", out.error_code);
	out = run("\xf3\x0f\xb8\x07", 4); /* popcnt eax, [rdi] */
	cr_assert(out.exception && out.error_code == 0x0, "read: code 0x%x", out.error_code);
	cr_assert_eq(regs.rip, 0x100000, "a faulting instruction does not retire");
}

Test(insn_exec, int_n_checks_the_gate)
{
	uint8_t gate_dpl0[16] = { [5] = 0x8e }, gate_dpl3[16] = { [5] = 0xee }, absent[16] = { 0 };
	struct insn_outcome out;

	sregs.idt.base = 0x9000;
	sregs.idt.limit = 0xfff;
	guest_mem_write(&mem, 0x9000 + 0x40 * 16, gate_dpl0, 16);
	guest_mem_write(&mem, 0x9000 + 0x80 * 16, gate_dpl3, 16);
	guest_mem_write(&mem, 0x9000 + 0x41 * 16, absent, 16);
	out = run("\xcd\x40", 2);
	cr_assert(out.soft_interrupt && out.vector == 0x40 && regs.rip == 0x100002);
	sregs.cs.selector = 3; /* CPL 3 */
	out = run("\xcd\x40", 2);
	cr_assert(out.exception && out.vector == 13 && out.error_code == 0x40 * 8 + 2);
	out = run("\xcd\x80", 2);
	cr_assert(out.soft_interrupt && out.vector == 0x80, "DPL 3 gate allows CPL 3");
	sregs.cs.selector = 0;
	out = run("\xcd\x41", 2);
	cr_assert(out.exception && out.vector == 11, "not present: #NP");
	sregs.idt.limit = 0x3ff;
	out = run("\xcd\x80", 2);
	cr_assert(out.exception && out.vector == 13, "beyond the IDT limit: #GP");
}

Test(insn_exec, int_n_at_cpl3_reads_a_supervisor_only_idt)
{
	uint8_t gate_dpl3[16] = { [5] = 0xee };
	uint64_t supervisor_pd = 0x0 | 0x83; /* present, writable, 2 MiB, not user */
	struct insn_outcome out;

	/* As every OS maps it: the IDT on a page user code may not read. */
	guest_mem_write(&mem, 0x2000, &supervisor_pd, 8);
	sregs.idt.base = 0x9000;
	sregs.idt.limit = 0xfff;
	guest_mem_write(&mem, 0x9000 + 0x80 * 16, gate_dpl3, 16);
	sregs.cs.selector = 3;
	out = run("\xcd\x80", 2);
	cr_assert(!out.exception, "#%u (code 0x%x): the gate was read as a user access",
		  out.vector, out.error_code);
	cr_assert(out.soft_interrupt && out.vector == 0x80 && regs.rip == 0x100002);
	sregs.cr4 |= 1ULL << 21;   /* SMAP: it does not apply to a supervisor page */
	out = run("\xcd\x80", 2);
	cr_assert(out.soft_interrupt && out.vector == 0x80);
}

Test(insn_exec, int3_and_fwait)
{
	struct insn_outcome out = run("\xcc", 1);

	cr_assert(out.exception && out.vector == 3 && !out.has_error && regs.rip == 0x100001);
	sregs.cr0 |= (1 << 3) | (1 << 1); /* TS and MP */
	cr_assert_eq(run("\x9b", 1).vector, 7, "fwait with TS and MP: #NM");
}

Test(insn_exec, clac_and_stac)
{
	regs.rflags = 2;
	run("\x0f\x01\xcb", 3);
	cr_assert(regs.rflags & (1ULL << 18), "stac sets AC");
	run("\x0f\x01\xca", 3);
	cr_assert(!(regs.rflags & (1ULL << 18)), "clac clears AC");
	cr_assert_eq(regs.rip, 0x100006);
	sregs.cs.selector = 3;
	cr_assert_eq(run("\x0f\x01\xca", 3).vector, 6, "#UD at CPL 3");
}

Test(insn_exec, mxcsr_round_trip_and_its_exceptions)
{
	struct insn i;
	struct insn_outcome out;
	struct insn_state state = { .mxcsr = 0x1f80 };
	uint32_t value = 0x7f80;
	/* ldmxcsr [rip + 0x100], then stmxcsr [rip + 0x100] */
	const uint8_t ld[] = { 0x0f, 0xae, 0x15, 0x00, 0x01, 0x00, 0x00 };
	const uint8_t st[] = { 0x0f, 0xae, 0x1d, 0x00, 0x01, 0x00, 0x00 };
	uint64_t operand = regs.rip + sizeof(ld) + 0x100;

	cr_assert_eq(insn_decode(ld, sizeof(ld), true, &i), 0);
	cr_assert_eq(guest_mem_write(&mem, operand, &value, 4), 0);
	cr_assert_eq(insn_execute(&i, &mem, &regs, &sregs, 46, &state, &out), 0);
	cr_assert(out.exception && out.vector == 6, "#UD while CR4.OSFXSR is clear");
	cr_assert_eq(state.mxcsr, 0x1f80);
	sregs.cr4 |= 1ULL << 9;
	sregs.cr0 |= 1ULL << 3;
	cr_assert_eq(insn_execute(&i, &mem, &regs, &sregs, 46, &state, &out), 0);
	cr_assert(out.exception && out.vector == 7, "#NM while CR0.TS is set");
	sregs.cr0 &= ~(1ULL << 3);
	memset(&out, 0, sizeof(out));
	cr_assert_eq(insn_execute(&i, &mem, &regs, &sregs, 46, &state, &out), 0);
	cr_assert(!out.exception && out.mxcsr_changed && state.mxcsr == 0x7f80, "loaded 0x%x",
		  state.mxcsr);
	cr_assert_eq(regs.rip, 0x100000 + sizeof(ld));
	state.mxcsr = 0x1fa0;
	cr_assert_eq(insn_decode(st, sizeof(st), true, &i), 0);
	cr_assert_eq(insn_execute(&i, &mem, &regs, &sregs, 46, &state, &out), 0);
	cr_assert_eq(guest_mem_read(&mem, regs.rip + 0x100, &value, 4), 0);
	cr_assert_eq(value, 0x1fa0, "stored at the RIP-relative operand");
}

/* STAR[63:48] = 0x18: user SS 0x23, 64-bit user CS 0x2b, 32-bit user CS 0x1b. */
#define STAR_FOR_TESTS (0x18ULL << 48 | 0x08ULL << 32)

static struct insn_outcome sysret(const uint8_t *bytes, unsigned int n, uint64_t star)
{
	struct insn i;
	struct insn_outcome out;
	struct insn_state state = { .star = star };

	cr_assert_eq(insn_decode(bytes, n, true, &i), 0);
	cr_assert_eq(i.kind, INSN_SYSRET);
	cr_assert_eq(i.len, n);
	cr_assert_eq(insn_execute(&i, &mem, &regs, &sregs, 46, &state, &out), 0);
	return out;
}

static const uint8_t sysretq[] = { 0x48, 0x0f, 0x07 }, sysretl[] = { 0x0f, 0x07 };

Test(insn_exec, sysretq_returns_to_64bit_user_code)
{
	struct insn_outcome out;

	sregs.efer |= 1; /* SCE */
	sregs.cs = (struct kvm_segment){ .selector = 0x08, .l = 1, .present = 1, .s = 1, .type = 11 };
	regs.rcx = 0x7fffdeadb000ULL;
	regs.r11 = 0x3c7fd7 | 0x200 | (1ULL << 1) | (1ULL << 16) | (3ULL << 12) | 0xffff000000000000ULL;
	out = sysret(sysretq, sizeof(sysretq), STAR_FOR_TESTS);
	cr_assert(!out.exception && out.sregs_changed);
	cr_assert_eq(regs.rip, 0x7fffdeadb000ULL, "RIP from RCX");
	cr_assert_eq(regs.rflags, 0x3c7fd7 | 2, "RFLAGS from R11, RF and VM cleared, bit 1 set");
	cr_assert_eq(sregs.cs.selector, 0x2b, "STAR[63:48] + 16, RPL 3");
	cr_assert(sregs.cs.l && !sregs.cs.db && sregs.cs.dpl == 3 && sregs.cs.type == 11 &&
		  sregs.cs.present && sregs.cs.s && sregs.cs.g && sregs.cs.base == 0);
	cr_assert_eq(sregs.ss.selector, 0x23, "STAR[63:48] + 8, RPL 3");
	cr_assert(sregs.ss.db && sregs.ss.dpl == 3 && sregs.ss.type == 3 && sregs.ss.present &&
		  sregs.ss.limit == 0xffffffff);
}

Test(insn_exec, sysretl_returns_to_32bit_user_code)
{
	struct insn_outcome out;

	sregs.efer |= 1;
	sregs.cs = (struct kvm_segment){ .selector = 0x08, .l = 1, .present = 1, .s = 1, .type = 11 };
	regs.rcx = 0xffffffff00401000ULL;
	regs.r11 = 0x202;
	out = sysret(sysretl, sizeof(sysretl), STAR_FOR_TESTS);
	cr_assert(!out.exception);
	cr_assert_eq(regs.rip, 0x401000, "RIP is ECX, zero-extended");
	cr_assert_eq(sregs.cs.selector, 0x1b, "STAR[63:48], RPL 3");
	cr_assert(!sregs.cs.l && sregs.cs.db, "32-bit compatibility-mode code");
}

Test(insn_exec, sysret_faults)
{
	struct insn_outcome out;
	uint64_t rip = regs.rip;

	sregs.cs = (struct kvm_segment){ .selector = 0x08, .l = 1, .present = 1, .s = 1, .type = 11 };
	regs.rcx = 0x401000;
	out = sysret(sysretq, sizeof(sysretq), STAR_FOR_TESTS);
	cr_assert(out.exception && out.vector == 6, "#UD while EFER.SCE is clear");
	sregs.efer |= 1;
	sregs.cs.selector = 0x2b;
	sregs.cs.dpl = 3;
	out = sysret(sysretq, sizeof(sysretq), STAR_FOR_TESTS);
	cr_assert(out.exception && out.vector == 13 && out.error_code == 0, "#GP(0) at CPL 3");
	sregs.cs.selector = 0x08;
	sregs.cs.dpl = 0;
	regs.rcx = 0x0000800000000000ULL;
	out = sysret(sysretq, sizeof(sysretq), STAR_FOR_TESTS);
	cr_assert(out.exception && out.vector == 13, "#GP(0) for a non-canonical RCX");
	cr_assert_eq(regs.rip, rip, "nothing retired");
	cr_assert_eq(sregs.cs.selector, 0x08);
	sregs.cr4 |= 1ULL << 12; /* LA57: the same RCX is canonical with 57 bits */
	out = sysret(sysretq, sizeof(sysretq), STAR_FOR_TESTS);
	cr_assert(!out.exception && regs.rip == 0x0000800000000000ULL);
}

/* Outside 64-bit mode the address wraps: [eax+ebx] past 4 GiB in 32-bit code
 * (here compatibility mode, whose 4-level tables would map the unwrapped
 * address elsewhere) reads the wrapped address, as the CPU does. */
Test(insn_exec, effective_address_wraps_at_32_bits_outside_64bit_mode)
{
	uint32_t value = 0x00ff00ff;
	struct insn i;
	struct insn_outcome out;
	struct insn_state state = { 0 };
	const uint8_t popcnt_eax_eax_ebx[] = { 0xf3, 0x0f, 0xb8, 0x04, 0x18 };

	guest_mem_write(&mem, 0x8000, &value, 4);
	sregs.cs.l = 0;
	sregs.cs.db = 1;
	regs.rax = 0xfffff000;
	regs.rbx = 0x9000;                       /* eax + ebx = 0x1_0000_8000 */
	cr_assert_eq(insn_decode_mode(popcnt_eax_eax_ebx, sizeof(popcnt_eax_eax_ebx),
				      insn_mode_of(&sregs), &i), 0);
	cr_assert_eq(insn_address(&i, &regs, &sregs), 0x8000);
	cr_assert_eq(insn_execute(&i, &mem, &regs, &sregs, 46, &state, &out), 0);
	cr_assert_not(out.exception, "fault at 0x%llx", (unsigned long long)out.cr2);
	cr_assert_eq(regs.rax, 16, "popcount of the value at the wrapped address");
}

static uint64_t address_of(const uint8_t *bytes, unsigned int n, const struct kvm_regs *r,
			   const struct kvm_sregs *s)
{
	struct insn i;

	cr_assert_eq(insn_decode_mode(bytes, n, insn_mode_of(s), &i), 0);
	return insn_address(&i, r, s);
}

Test(insn, addresses_wrap_at_the_address_size)
{
	struct kvm_regs r = { 0 };
	struct kvm_sregs s = { 0 };
	/* popcnt ax, [bx+si+0x7f]  (16-bit code; no 0x66: 16-bit operand) */
	const uint8_t bx_si[] = { 0xf3, 0x0f, 0xb8, 0x40, 0x7f };
	/* popcnt eax, [ebp-0x10]   (32-bit addressing) */
	const uint8_t ebp[] = { 0xf3, 0x0f, 0xb8, 0x45, 0xf0 };
	/* fs: popcnt eax, [ecx]    (32-bit) */
	const uint8_t fs_ecx[] = { 0x64, 0xf3, 0x0f, 0xb8, 0x01 };
	/* addr32 popcnt eax, [rcx+rdx] (64-bit code with 0x67) */
	const uint8_t a32_rcx_rdx[] = { 0x67, 0xf3, 0x0f, 0xb8, 0x04, 0x11 };
	/* popcnt eax, [rcx+rdx]    (64-bit) */
	const uint8_t rcx_rdx[] = { 0xf3, 0x0f, 0xb8, 0x04, 0x11 };
	struct insn i;

	/* Real mode: BX + SI + 0x7f wraps at 64 KiB, DS's base is added. */
	s.ds.base = 0x10000;
	r.rbx = 0xfff0;
	r.rsi = 0x0020;
	cr_assert_eq(address_of(bx_si, sizeof(bx_si), &r, &s), 0x10000 + 0x008f);
	cr_assert_eq(insn_decode_mode(bx_si, sizeof(bx_si), INSN_MODE_16, &i), 0);
	cr_assert(i.opsize16 && i.addr_size == 2);

	/* 32-bit code: EBP-based addresses use SS; the sum wraps at 4 GiB. */
	s.cs.db = 1;
	s.ss.base = 0x100;
	r.rbp = 0x8;
	cr_assert_eq(address_of(ebp, sizeof(ebp), &r, &s), 0xf8, "EBP - 0x10 is 0xfffffff8; SS base past 4 GiB wraps");
	s.fs.base = 0xffff0000;
	r.rcx = 0x20000;
	cr_assert_eq(address_of(fs_ecx, sizeof(fs_ecx), &r, &s), 0x10000,
		     "segment base plus offset wraps at 32 bits");

	/* 64-bit code: no wrap, except with the address-size prefix. */
	s.efer = 1ULL << 10;
	s.cs.l = 1;
	s.cs.db = 0;
	r.rcx = 0xffffffffULL;
	r.rdx = 0x11;
	cr_assert_eq(address_of(rcx_rdx, sizeof(rcx_rdx), &r, &s), 0x100000010ULL);
	cr_assert_eq(address_of(a32_rcx_rdx, sizeof(a32_rcx_rdx), &r, &s), 0x10);
}

Test(insn, code_address_wraps_outside_64bit_mode)
{
	struct kvm_regs r = { .rip = 0xfffe };
	struct kvm_sregs s = { .cs = { .base = 0xf0000 } };

	cr_assert_eq(insn_code_address(&r, &s, 3), 0xf0001, "IP wraps at 64 KiB in 16-bit code");
	s.cs.db = 1;
	s.cs.base = 0xfffff000;
	r.rip = 0xff0;
	cr_assert_eq(insn_code_address(&r, &s, 0x20), 0x10, "CS base + EIP wraps at 4 GiB");
	s.efer = 1ULL << 10;
	s.cs.l = 1;
	r.rip = 0xffffffffULL;
	cr_assert_eq(insn_code_address(&r, &s, 1), 0x100000000ULL, "CS base ignored, no wrap");
}
