/* SPDX-License-Identifier: MIT */
/*
 * CPU profiles: which CPU template shapes the vCPUs. "host" passes KVM's
 * supported CPUID through (with the bits KVM backs but leaves out, such as
 * TSC-deadline); "custom" is a Firecracker-form template (cpu_template.h);
 * "pvm-safe", chosen automatically on PVM hosts, is a built-in template that
 * hides what the PVM emulator cannot run at guest CPL0 and kiln does not
 * complete. It is built on what a guest reads back there: bits outside
 * KVM_GET_SUPPORTED_CPUID's set come from the hardware and cannot be
 * cleared, but the maximum basic leaf is honoured, so lowering it to 6
 * hides leaf 7 (SMAP, INVPCID, FSGSBASE...) and leaf 0xD (XSAVE).
 */
#ifndef KILN_X86_CPU_PROFILE_H
#define KILN_X86_CPU_PROFILE_H

#include <stdbool.h>

#include "util/error.h"
#include "x86/cpu_template.h"

enum cpu_template { CPU_TEMPLATE_AUTO, CPU_TEMPLATE_HOST, CPU_TEMPLATE_PVM_SAFE,
		    CPU_TEMPLATE_CUSTOM };

#define PVM_SAFE_MAX_BASIC_LEAF 6

/* Appended to a Linux guest's command line under pvm-safe: features the
 * guest would otherwise try (they trap or run emulated slowly) and the
 * watchdogs that fire on a guest running 1800x slower than real time. */
#define PVM_LINUX_CMDLINE \
	"clearcpuid=pni,ssse3,sse4_1,sse4_2,aes,pclmulqdq,avx,fma,f16c,movbe,xsave,rdrand " \
	"nowatchdog nmi_watchdog=0 rcupdate.rcu_cpu_stall_suppress=1"

/*
 * AUTO becomes PVM_SAFE on a PVM backend unless turned off, or unless a
 * CPU model was asked for (--cpu host): then it is HOST.
 */
enum cpu_template cpu_template_resolve(enum cpu_template requested, bool pvm_host,
				       bool no_pvm_profile, bool cpu_model_given);

/*
 * The template a resolved profile stands for: none (empty) for HOST, the
 * built-in one for PVM_SAFE, custom_json (Firecracker's CpuConfig) for
 * CUSTOM. 0, or -EINVAL with err when custom_json is missing or invalid.
 */
int cpu_profile_template(enum cpu_template profile, const char *custom_json,
			 struct cpu_config *t, struct kiln_err *err);

#endif
