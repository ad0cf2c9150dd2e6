/* SPDX-License-Identifier: MIT */
/*
 * CPU profiles. "host" passes KVM's supported CPUID through; "pvm-safe",
 * chosen automatically on PVM hosts, hides what the PVM emulator cannot run
 * at guest CPL0 and kiln does not complete. Built on what a guest reads back
 * here: bits outside KVM_GET_SUPPORTED_CPUID's set come from the hardware and
 * cannot be cleared, but the maximum basic leaf is honoured, so lowering it
 * to 6 hides leaf 7 (SMAP, INVPCID, FSGSBASE...) and leaf 0xD (XSAVE).
 */
#ifndef KILN_X86_CPU_PROFILE_H
#define KILN_X86_CPU_PROFILE_H

#include <linux/kvm.h>
#include <stdbool.h>

enum cpu_template { CPU_TEMPLATE_AUTO, CPU_TEMPLATE_HOST, CPU_TEMPLATE_PVM_SAFE };

#define PVM_SAFE_MAX_BASIC_LEAF 6

/* Appended to a Linux guest's command line under pvm-safe: features the
 * guest would otherwise try (they trap or run emulated slowly) and the
 * watchdogs that fire on a guest running 1800x slower than real time. */
#define PVM_LINUX_CMDLINE \
	"clearcpuid=pni,ssse3,sse4_1,sse4_2,aes,pclmulqdq,avx,fma,f16c,movbe,xsave,rdrand " \
	"nowatchdog nmi_watchdog=0 rcupdate.rcu_cpu_stall_suppress=1"

/* AUTO becomes PVM_SAFE on a PVM backend unless turned off. */
enum cpu_template cpu_template_resolve(enum cpu_template requested, bool pvm_host,
				       bool no_pvm_profile);

/* Apply the profile to a table built by cpuid_fixup. */
void cpu_profile_apply(struct kvm_cpuid2 *table, enum cpu_template profile);

#endif
