// SPDX-License-Identifier: MIT
/* CPUID as a guest kernel relies on it under KVM: hypervisor bit, the
 * KVM signature, kvm-clock features, and a per-CPU APIC ID. */
#include "guest.h"

static void check_apic_id(void *ok)
{
	uint32_t a, b, c, d;

	cpuid(1, 0, &a, &b, &c, &d);
	if ((b >> 24) != lapic_id())
		*(volatile bool *)ok = false;
}

void guest_main(void)
{
	uint32_t a, b, c, d;
	char sig[13] = { 0 };
	unsigned int cpus = (unsigned int)fw_cfg_read(FW_CFG_NB_CPUS, 2), up;
	volatile bool ids_ok = true;

	cpuid(0, 0, &a, &b, &c, &d);
	report_info("max basic leaf %u", a);
	cpuid(1, 0, &a, &b, &c, &d);
	report(c & (1u << 31), "hypervisor bit (CPUID.1:ECX[31])");
	report((b >> 24) == 0, "boot CPU's APIC ID is 0");
	cpuid(0x40000000, 0, &a, &b, &c, &d);
	memcpy(sig, &b, 4);
	memcpy(sig + 4, &c, 4);
	memcpy(sig + 8, &d, 4);
	report(!memcmp(sig, "KVMKVMKVM\0\0\0", 12), "KVM signature at 0x40000000 ('%s')", sig);
	report(a >= 0x40000001, "0x40000000 reports max leaf 0x%x", a);
	cpuid(0x40000001, 0, &a, &b, &c, &d);
	report(a & (1u << 3), "KVM_FEATURE_CLOCKSOURCE2 (0x40000001 EAX = 0x%x)", a);
	report(a & (1u << 0), "KVM_FEATURE_CLOCKSOURCE");
	up = smp_start(cpus);
	for (unsigned int i = 0; i < up; i++)
		on_cpu(i, check_apic_id, (void *)&ids_ok);
	report(up == cpus && ids_ok, "CPUID APIC ID equals the LAPIC ID on all %u CPUs", up);
}
