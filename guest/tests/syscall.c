// SPDX-License-Identifier: MIT
/*
 * The SYSCALL/SYSRET round trip a 64-bit OS makes for every system call:
 * from CPL3, SYSCALL must land at LSTAR at CPL0 with CS/SS from STAR[47:32],
 * RCX = the return address, R11 = RFLAGS and RFLAGS masked by FMASK; SYSRETQ
 * must come back to RCX at CPL3 with CS/SS from STAR[63:48] and RFLAGS = R11.
 *
 * Run on the nested AMD-V host (tests/linux/test_linux_e2e.py). Not among
 * the guests run on this host yet: PVM hosts deliver SYSCALL from a guest
 * that is not PVM-aware at CPL3 (README), which kiln does not correct yet.
 */
#include "guest.h"

#define MSR_STAR  0xc0000081
#define MSR_LSTAR 0xc0000082
#define MSR_FMASK 0xc0000084
#define FMASK     0x4700ULL    /* TF, IF, DF, NT */
#define USER_RFLAGS 0x0ed7ULL  /* CF PF AF ZF SF, DF, OF: visible, harmless at CPL3 */

/* What the entry and the return saw. */
uint64_t entry_cs, entry_ss, entry_rcx, entry_r11, entry_rflags, user_cs_after, rflags_after;
extern char syscall_return_point[];
uint64_t syscall_round_trip(void *arg);
void syscall_entry(void);

__asm__(".text\n"
	".globl syscall_round_trip\n"
	"syscall_round_trip:\n"           /* CPL3 */
	"	push $" "0x0ed7" "\n"
	"	popfq\n"
	"	syscall\n"
	".globl syscall_return_point\n"
	"syscall_return_point:\n"
	"	pushfq\n"
	"	pop %rax\n"
	"	mov %rax, rflags_after(%rip)\n"
	"	push $0x202\n"                  /* leave DF and friends clear for C */
	"	popfq\n"
	"	mov %cs, %rax\n"
	"	mov %rax, user_cs_after(%rip)\n"
	"	ret\n"
	".globl syscall_entry\n"
	"syscall_entry:\n"                /* CPL0 when SYSCALL did its job */
	"	mov %rcx, entry_rcx(%rip)\n"
	"	mov %r11, entry_r11(%rip)\n"
	"	mov %cs, %rax\n"
	"	mov %rax, entry_cs(%rip)\n"
	"	mov %ss, %rax\n"
	"	mov %rax, entry_ss(%rip)\n"
	"	pushfq\n"
	"	pop %rax\n"
	"	mov %rax, entry_rflags(%rip)\n"
	"	testb $3, entry_cs(%rip)\n"
	"	jnz 1f\n"
	"	sysretq\n"
	/* Still at CPL3 (a PVM host's SYSCALL): SYSRET would fault, so return
	 * to the trampoline instead and let the checks report what arrived. */
	"1:	ret\n");

void guest_main(void)
{
	const uint64_t user_base = SEL_USER_DS - 8; /* SS = base + 8, CS = base + 16 */

	wrmsr(MSR_STAR, user_base << 48 | (uint64_t)SEL_KERNEL_CS << 32);
	wrmsr(MSR_LSTAR, (uintptr_t)syscall_entry);
	wrmsr(MSR_FMASK, FMASK);
	user_call(syscall_round_trip, 0);

	report(entry_cs == SEL_KERNEL_CS, "SYSCALL: CS 0x%lx at LSTAR (CPL %lu)", entry_cs,
	       entry_cs & 3);
	report(entry_ss == SEL_KERNEL_DS, "SYSCALL: SS 0x%lx", entry_ss);
	report(entry_rcx == (uintptr_t)syscall_return_point, "SYSCALL: RCX 0x%lx is the return "
	       "address 0x%lx", entry_rcx, (uintptr_t)syscall_return_point);
	report((entry_r11 & 0xfff) == (USER_RFLAGS | 2), "SYSCALL: R11 0x%lx holds RFLAGS", entry_r11);
	report(!(entry_rflags & FMASK), "SYSCALL: RFLAGS 0x%lx masked by FMASK 0x%llx", entry_rflags,
	       FMASK);
	report(user_cs_after == (SEL_USER_CS | 3), "SYSRETQ: back at CPL3, CS 0x%lx", user_cs_after);
	report((rflags_after & 0xfff) == (USER_RFLAGS | 2), "SYSRETQ: RFLAGS 0x%lx from R11",
	       rflags_after);
}
