// SPDX-License-Identifier: MIT
/* Just enough ACPI for a test kernel: find tables, sleep types, power off
 * through S5. */
#include "guest.h"

#define SLP_EN (1u << 13)
#define POWER_OFF_WAIT_S 10

static uint8_t checksum(const uint8_t *p, uint32_t len)
{
	uint8_t sum = 0;

	while (len--)
		sum = (uint8_t)(sum + *p++);
	return sum;
}

const void *acpi_find_rsdp(void)
{
	for (uintptr_t a = 0xe0000; a < 0x100000; a += 16) {
		const uint8_t *p = (const uint8_t *)a;

		if (!memcmp(p, "RSD PTR ", 8) && checksum(p, 20) == 0)
			return p;
	}
	return 0;
}

static uint32_t rd32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static uint64_t rd64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }

const void *acpi_find_table(const char *sig)
{
	const uint8_t *rsdp = acpi_find_rsdp(), *root;
	bool xsdt;
	uint32_t n;

	if (!rsdp)
		return 0;
	xsdt = rsdp[15] >= 2 && rd64(rsdp + 24);
	root = (const uint8_t *)(uintptr_t)(xsdt ? rd64(rsdp + 24) : rd32(rsdp + 16));
	n = (rd32(root + 4) - 36) / (xsdt ? 8 : 4);
	for (uint32_t i = 0; i < n; i++) {
		const uint8_t *t = (const uint8_t *)(uintptr_t)(xsdt ? rd64(root + 36 + 8 * i)
								   : rd32(root + 36 + 4 * i));

		if (!memcmp(t, sig, 4))
			return t;
		/* The DSDT is reached through the FADT, not the root table. */
		if (!memcmp(sig, "DSDT", 4) && !memcmp(t, "FACP", 4))
			return (const void *)(uintptr_t)rd32(t + 40);
	}
	return 0;
}

/* SLP_TYPa from a \_Sx package: "_Sx_", PackageOp, length, count, value. */
int acpi_sleep_type(const char *name)
{
	const uint8_t *dsdt = acpi_find_table("DSDT");
	uint32_t len = dsdt ? rd32(dsdt + 4) : 0;

	for (uint32_t i = 36; i + 8 < len; i++) {
		const uint8_t *p = dsdt + i;

		if (memcmp(p, name, 4) || p[4] != 0x12)
			continue;
		p += 5 + ((p[5] >> 6) + 1) + 1; /* PkgLength bytes, NumElements */
		if (*p == 0x0a)                   /* BytePrefix */
			return p[1];
		return *p == 0x01 ? 1 : 0;        /* OneOp / ZeroOp */
	}
	return -1;
}

/* A VMM may stop the machine a little after the write (QEMU does it from its
 * main loop), so give it POWER_OFF_WAIT_S seconds of the PM timer first. */
static void wait_for_power_off(uint16_t pm_timer_port)
{
	struct pm_clock clock;

	if (!pm_timer_port)
		return;
	pm_clock_start(&clock, pm_timer_port);
	while (pm_clock_ticks(&clock) < POWER_OFF_WAIT_S * PM_TIMER_HZ)
		cpu_relax();
}

void acpi_poweroff(void)
{
	const uint8_t *fadt = acpi_find_table("FACP");
	int slp_typ = acpi_sleep_type("_S5_");

	if (!fadt || slp_typ < 0)
		return;
	outw((uint16_t)rd32(fadt + 64), (uint16_t)((slp_typ << 10) | SLP_EN));
	wait_for_power_off((uint16_t)rd32(fadt + 76));
}
