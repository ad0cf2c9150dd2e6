// SPDX-License-Identifier: MIT
/* ACPI tables: structure and checksums here, and a real ACPI parser (iasl's
 * disassembler) reading what kiln emits. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "x86/acpi.h"
#include "x86/layout.h"

#define AREA_LEN (LAYOUT_ACPI_END - LAYOUT_ACPI_BASE)

static uint8_t area[AREA_LEN];

static uint32_t rd32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static uint64_t rd64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }

/* Host pointer of a table at guest-physical gpa inside the area. */
static const uint8_t *table_at(uint64_t gpa)
{
	cr_assert(gpa >= LAYOUT_ACPI_BASE && gpa < LAYOUT_ACPI_END, "table at 0x%lx",
		  (unsigned long)gpa);
	return area + (gpa - LAYOUT_ACPI_BASE);
}

/* Where build() says the 64-bit PCI window is (as for a small guest). */
static uint64_t mmio64_base = 4ULL << 30;

static const uint8_t *build(unsigned int cpus)
{
	struct acpi_config cfg = { .nr_cpus = cpus, .mmio64_base = mmio64_base,
				   .mmio64_size = LAYOUT_PCI_MMIO64_SIZE };
	long used = acpi_build_tables(&cfg, area, sizeof(area), LAYOUT_ACPI_BASE);

	cr_assert_gt(used, 0);
	return area;
}

/* Find a table by signature through the XSDT. */
static const uint8_t *find(const char *sig)
{
	const uint8_t *xsdt = table_at(rd64(area + 24));
	uint32_t n = (rd32(xsdt + 4) - 36) / 8;

	for (uint32_t i = 0; i < n; i++) {
		const uint8_t *t = table_at(rd64(xsdt + 36 + 8 * i));

		if (!memcmp(t, sig, 4))
			return t;
	}
	return NULL;
}

Test(acpi, rsdp_at_scan_address_with_both_checksums)
{
	const uint8_t *rsdp = build(1);

	cr_assert_eq(memcmp(rsdp, "RSD PTR ", 8), 0);
	cr_assert_eq(LAYOUT_ACPI_BASE % 16, 0);
	cr_assert_eq(acpi_checksum(rsdp, 20), 0);
	cr_assert_eq(acpi_checksum(rsdp, 36), 0);
	cr_assert_eq(rsdp[15], 2, "ACPI 2.0+ RSDP");
	cr_assert_eq(rd32(rsdp + 20), 36);
}

Test(acpi, every_table_checksums_to_zero)
{
	const char *sigs[] = { "FACP", "APIC", "MCFG" };

	build(4);
	const uint8_t *rsdt = table_at(rd32(area + 16));
	const uint8_t *xsdt = table_at(rd64(area + 24));

	cr_assert_eq(acpi_checksum(rsdt, rd32(rsdt + 4)), 0);
	cr_assert_eq(acpi_checksum(xsdt, rd32(xsdt + 4)), 0);
	for (unsigned int i = 0; i < 3; i++) {
		const uint8_t *t = find(sigs[i]);

		cr_assert_not_null(t, "%s listed in the XSDT", sigs[i]);
		cr_assert_eq(acpi_checksum(t, rd32(t + 4)), 0, "%s checksum", sigs[i]);
	}
	const uint8_t *dsdt = table_at(rd64(find("FACP") + 140));

	cr_assert_eq(memcmp(dsdt, "DSDT", 4), 0);
	cr_assert_eq(acpi_checksum(dsdt, rd32(dsdt + 4)), 0);
}

Test(acpi, fadt_describes_pm_ports_reset_and_dsdt)
{
	build(1);
	const uint8_t *f = find("FACP");

	cr_assert_eq(rd32(f + 4), 276, "ACPI 6 FADT length");
	cr_assert_eq(f[8], 6);
	cr_assert_eq(*(const uint16_t *)(f + 46), ACPI_SCI_IRQ);
	cr_assert_eq(rd32(f + 48), 0, "no SMI_CMD: always in ACPI mode");
	cr_assert_eq(rd32(f + 56), ACPI_PM1A_EVT_BLK);
	cr_assert_eq(rd32(f + 64), ACPI_PM1A_CNT_BLK);
	cr_assert_eq(rd32(f + 76), ACPI_PM_TMR_BLK);
	cr_assert(f[88] == 4 && f[89] == 2 && f[91] == 4);
	cr_assert(rd32(f + 112) & (1u << 10), "RESET_REG_SUP");
	cr_assert_eq(f[116], 1, "reset register in system I/O space");
	cr_assert_eq(rd64(f + 120), ACPI_RESET_PORT);
	cr_assert_eq(f[128], ACPI_RESET_VALUE);
	cr_assert_eq(rd32(f + 40), rd64(f + 140), "DSDT and X_DSDT agree");
	cr_assert_eq(rd64(f + 172 + 4), ACPI_PM1A_CNT_BLK, "X_PM1a_CNT_BLK");
	cr_assert_eq(f[108], 0x32, "CENTURY: the RTC's century byte");
	cr_assert_eq((f[109] | f[110] << 8) & (1u << 5), 0, "a CMOS RTC is present");
}

Test(acpi, fadt_points_at_the_facs)
{
	build(4);
	const uint8_t *f = find("FACP");
	const uint8_t *facs;

	cr_assert_eq(rd32(f + 36), LAYOUT_ACPI_FACS, "FIRMWARE_CTRL");
	cr_assert_eq(rd64(f + 132), 0, "X_FIRMWARE_CTRL unset: the FACS is found once");
	cr_assert_eq(LAYOUT_ACPI_FACS % 64, 0, "64-byte aligned");
	facs = table_at(LAYOUT_ACPI_FACS);
	cr_assert_eq(memcmp(facs, "FACS", 4), 0);
	cr_assert_eq(rd32(facs + 4), 64, "length");
	cr_assert_neq(rd32(facs + 8), 0, "a hardware signature");
	cr_assert_eq(rd32(facs + 12), 0, "no waking vector until the OS writes one");
	cr_assert_eq(rd32(facs + 20), 0, "no S4BIOS, no 64-bit wake");
	cr_assert_eq(rd64(facs + 24), 0, "no X_ waking vector");
	cr_assert_eq(facs[32], 2, "version");
	cr_assert_eq(find("FACS"), NULL, "reached through the FADT, not the XSDT");
	cr_assert_eq(rd32(f + 112) & (1u << 6), 0,
		     "FIX_RTC clear: RTC_STS and RTC_EN are in the PM1 block");
}

Test(acpi, facs_hardware_signature_follows_the_cpu_count)
{
	uint32_t one, four;

	build(1);
	one = rd32(table_at(LAYOUT_ACPI_FACS) + 8);
	build(4);
	four = rd32(table_at(LAYOUT_ACPI_FACS) + 8);
	cr_assert_neq(one, four);
}

/* The first element of a \_Sx package in the DSDT's AML (ZeroOp, OneOp or
 * BytePrefix), or -1 when the name is missing. */
static int sleep_type(const uint8_t *dsdt, const char *name)
{
	uint32_t len = rd32(dsdt + 4);

	for (uint32_t i = 36; i + 10 < len; i++) {
		const uint8_t *p = dsdt + i;

		if (memcmp(p, name, 4) || p[4] != 0x12)   /* PackageOp */
			continue;
		p += 5 + ((p[5] >> 6) + 1) + 1;           /* PkgLength, NumElements */
		return *p == 0x0a ? p[1] : *p == 0x01 ? 1 : *p == 0x00 ? 0 : -2;
	}
	return -1;
}

Test(acpi, dsdt_sleep_types_match_the_pm_block)
{
	build(1);
	const uint8_t *dsdt = table_at(rd64(find("FACP") + 140));

	cr_assert_eq(sleep_type(dsdt, "_S3_"), ACPI_SLP_TYP_S3);
	cr_assert_eq(sleep_type(dsdt, "_S5_"), ACPI_SLP_TYP_S5);
	cr_assert_neq(ACPI_SLP_TYP_S3, ACPI_SLP_TYP_S5);
}

static unsigned int madt_count(const uint8_t *madt, uint8_t type, uint8_t *ids)
{
	unsigned int n = 0;

	for (uint32_t off = 44; off < rd32(madt + 4); off += madt[off + 1]) {
		cr_assert_gt(madt[off + 1], 0, "zero-length MADT entry");
		if (madt[off] != type)
			continue;
		if (ids)
			ids[n] = madt[off + 3];
		n++;
	}
	return n;
}

Test(acpi, madt_lists_each_cpu_and_the_ioapic)
{
	const unsigned int counts[] = { 1, 4, 16 };

	for (unsigned int c = 0; c < 3; c++) {
		uint8_t ids[64];

		build(counts[c]);
		const uint8_t *madt = find("APIC");

		cr_assert_eq(rd32(madt + 36), LAYOUT_LAPIC);
		cr_assert_eq(madt_count(madt, 0, ids), counts[c]);
		for (unsigned int i = 0; i < counts[c]; i++)
			cr_assert_eq(ids[i], i, "APIC ID of CPU %u", i);
		cr_assert_eq(madt_count(madt, 1, NULL), 1, "one IOAPIC");
		cr_assert_eq(madt_count(madt, 2, NULL), 2, "IRQ0 and SCI overrides");
	}
}

Test(acpi, refuses_when_it_does_not_fit)
{
	struct acpi_config cfg = { .nr_cpus = 8, .mmio64_base = 4ULL << 30,
				   .mmio64_size = LAYOUT_PCI_MMIO64_SIZE };

	cr_assert_lt(acpi_build_tables(&cfg, area, 200, LAYOUT_ACPI_BASE), 0);
	cfg.nr_cpus = 0;
	cr_assert_lt(acpi_build_tables(&cfg, area, sizeof(area), LAYOUT_ACPI_BASE), 0);
	cfg.nr_cpus = 1;
	cfg.mmio64_size = 0;
	cr_assert_lt(acpi_build_tables(&cfg, area, sizeof(area), LAYOUT_ACPI_BASE), 0,
		     "no 64-bit window");
}

/* iasl -d on one table; returns the disassembly text (malloc'd). */
static char *disassemble(const char *sig, unsigned int cpus)
{
	char dir[] = "/tmp/kiln-acpi-XXXXXX", path[128], cmd[512];
	const uint8_t *t;
	FILE *f;
	char *text;
	long size;

	build(cpus);
	t = !strcmp(sig, "DSDT") ? table_at(rd64(find("FACP") + 140))
	    : !strcmp(sig, "FACS") ? table_at(rd32(find("FACP") + 36)) : find(sig);
	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/%s.dat", dir, sig);
	f = fopen(path, "wb");
	cr_assert_not_null(f);
	fwrite(t, 1, rd32(t + 4), f);
	fclose(f);
	snprintf(cmd, sizeof(cmd), "cd %s && iasl -d %s.dat >iasl.log 2>&1", dir, sig);
	cr_assert_eq(system(cmd), 0, "iasl -d rejected the %s table", sig);
	snprintf(path, sizeof(path), "%s/%s.dsl", dir, sig);
	f = fopen(path, "rb");
	cr_assert_not_null(f, "iasl wrote no disassembly");
	fseek(f, 0, SEEK_END);
	size = ftell(f);
	rewind(f);
	text = calloc(1, (size_t)size + 1);
	cr_assert_eq(fread(text, 1, (size_t)size, f), (size_t)size);
	fclose(f);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	cr_assert_eq(system(cmd), 0);
	return text;
}

static unsigned int occurrences(const char *text, const char *needle)
{
	unsigned int n = 0;

	for (const char *p = text; (p = strstr(p, needle)); p++)
		n++;
	return n;
}

Test(acpi_iasl, madt_parses_with_each_cpu)
{
	char *text = disassemble("APIC", 4);

	cr_assert_eq(occurrences(text, "Subtable Type : 00 [Processor Local APIC]"), 4, "%s", text);
	cr_assert_eq(occurrences(text, "[I/O APIC]"), 1);
	cr_assert_eq(occurrences(text, "Checksum is incorrect"), 0);
	free(text);
}

Test(acpi_iasl, fadt_parses)
{
	char *text = disassemble("FACP", 1);

	cr_assert(strstr(text, "Signature : \"FACP\""), "%s", text);
	cr_assert(strstr(text, "PM1A Control Block Address : 00000604"), "%s", text);
	cr_assert_eq(occurrences(text, "Checksum is incorrect"), 0);
	free(text);
}

Test(acpi, mcfg_points_at_ecam)
{
	build(1);
	const uint8_t *m = find("MCFG");

	cr_assert_not_null(m);
	cr_assert_eq(rd64(m + 44), LAYOUT_PCI_ECAM);
	cr_assert_eq(m[44 + 10], 0, "start bus");
	cr_assert_eq(m[44 + 11], 0, "end bus: bus 0 only");
}

Test(acpi_iasl, mcfg_parses)
{
	char *text = disassemble("MCFG", 1);

	cr_assert(strstr(text, "Base Address : 00000000C0000000"), "%s", text);
	free(text);
}

Test(acpi_iasl, facs_parses)
{
	char *text = disassemble("FACS", 1);

	cr_assert(strstr(text, "Signature : \"FACS\""), "%s", text);
	cr_assert(strstr(text, "Length : 00000040"), "%s", text);
	cr_assert(strstr(text, "Version : 02"), "%s", text);
	free(text);
}

Test(acpi_iasl, dsdt_has_s3_and_s5)
{
	char *text = disassemble("DSDT", 1);

	cr_assert(strstr(text, "Name (_S3, Package"), "%s", text);
	cr_assert(strstr(text, "Name (_S5, Package"), "%s", text);
	cr_assert(strstr(text, "PNP0501"), "COM1 described: %s", text);
	cr_assert(strstr(text, "PNP0B00"), "the RTC described: %s", text);
	cr_assert(strstr(text, "IO (Decode16,\n                    0x0070,"), "RTC ports: %s", text);
	cr_assert(strstr(text, "IRQNoFlags ()\n                    {8}"), "RTC on IRQ 8: %s", text);
	cr_assert(strstr(text, "Device (PCI0)") && strstr(text, "PNP0A08"), "PCI host bridge");
	cr_assert(strstr(text, "0xC1000000"), "the MMIO32 window in _CRS");
	free(text);
}

/* The QWordMemory line iasl prints for the 64-bit window, with the values
 * kiln wrote over the placeholder. */
static void check_mmio64(uint64_t base)
{
	char *text, min[64], max[64], len[64];

	mmio64_base = base;
	text = disassemble("DSDT", 1);
	snprintf(min, sizeof(min), "0x%016llX, // Range Minimum", (unsigned long long)base);
	snprintf(max, sizeof(max), "0x%016llX, // Range Maximum",
		 (unsigned long long)(base + LAYOUT_PCI_MMIO64_SIZE - 1));
	snprintf(len, sizeof(len), "0x%016llX, // Length", (unsigned long long)LAYOUT_PCI_MMIO64_SIZE);
	cr_assert(strstr(text, "QWordMemory (ResourceProducer"), "%s", text);
	cr_assert(strstr(text, min) && strstr(text, max) && strstr(text, len),
		  "window at 0x%llx in _CRS: %s", (unsigned long long)base, text);
	cr_assert_eq(occurrences(text, "4B494C4E"), 0, "no placeholder left");
	cr_assert_eq(occurrences(text, "Checksum is incorrect"), 0);
	free(text);
}

Test(acpi_iasl, dsdt_has_the_mmio64_window)
{
	check_mmio64(4ULL << 30);
	check_mmio64(30ULL << 30);
}
