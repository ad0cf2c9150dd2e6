/* SPDX-License-Identifier: MIT */
/* Architectural bits of CR0, CR4 and EFER that kiln reads or sets (Intel
 * SDM vol. 3, 2.5; AMD APM vol. 2, 3.1), in one place for the boot code,
 * the page walker, the instruction emulator and their tests. */
#ifndef KILN_X86_CONTROL_REGS_H
#define KILN_X86_CONTROL_REGS_H

#define CR0_PE     (1ULL << 0)
#define CR0_MP     (1ULL << 1)
#define CR0_EM     (1ULL << 2)
#define CR0_TS     (1ULL << 3)
#define CR0_ET     (1ULL << 4)   /* hard-wired to 1 on every CPU KVM runs on */
#define CR0_WP     (1ULL << 16)
#define CR0_PG     (1ULL << 31)

#define CR4_PSE    (1ULL << 4)
#define CR4_PAE    (1ULL << 5)
#define CR4_OSFXSR (1ULL << 9)
#define CR4_LA57   (1ULL << 12)
#define CR4_SMEP   (1ULL << 20)
#define CR4_SMAP   (1ULL << 21)

#define EFER_SCE   (1ULL << 0)
#define EFER_LME   (1ULL << 8)
#define EFER_LMA   (1ULL << 10)
#define EFER_NXE   (1ULL << 11)

#endif
