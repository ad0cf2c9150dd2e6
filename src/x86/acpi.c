// SPDX-License-Identifier: MIT
#include "x86/acpi.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "devices/rtc.h"
#include "dsdt_aml.h"
#include "x86/layout.h"

#define ACPI_OEM_ID       "KILN  "
#define ACPI_OEM_TABLE_ID "KILNVM  "
#define ACPI_CREATOR_ID   "KILN"
#define ACPI_IOAPIC_ID    0
#define ACPI_ALIGN        16

struct acpi_header {
	char signature[4];
	uint32_t length;
	uint8_t revision;
	uint8_t checksum;
	char oem_id[6];
	char oem_table_id[8];
	uint32_t oem_revision;
	char creator_id[4];
	uint32_t creator_revision;
} __attribute__((packed));

struct acpi_rsdp {
	char signature[8];
	uint8_t checksum;
	char oem_id[6];
	uint8_t revision;
	uint32_t rsdt_address;
	uint32_t length;
	uint64_t xsdt_address;
	uint8_t extended_checksum;
	uint8_t reserved[3];
} __attribute__((packed));

/* Generic Address Structure. */
struct acpi_gas {
	uint8_t space_id;      /* 1: system I/O */
	uint8_t bit_width;
	uint8_t bit_offset;
	uint8_t access_size;   /* 1 byte, 2 word, 3 dword */
	uint64_t address;
} __attribute__((packed));

struct acpi_fadt {
	struct acpi_header header;
	uint32_t firmware_ctrl, dsdt;
	uint8_t reserved0, preferred_pm_profile;
	uint16_t sci_int;
	uint32_t smi_cmd;
	uint8_t acpi_enable, acpi_disable, s4bios_req, pstate_cnt;
	uint32_t pm1a_evt_blk, pm1b_evt_blk, pm1a_cnt_blk, pm1b_cnt_blk, pm2_cnt_blk;
	uint32_t pm_tmr_blk, gpe0_blk, gpe1_blk;
	uint8_t pm1_evt_len, pm1_cnt_len, pm2_cnt_len, pm_tmr_len, gpe0_blk_len, gpe1_blk_len;
	uint8_t gpe1_base, cst_cnt;
	uint16_t p_lvl2_lat, p_lvl3_lat, flush_size, flush_stride;
	uint8_t duty_offset, duty_width, day_alrm, mon_alrm, century;
	uint16_t iapc_boot_arch;
	uint8_t reserved1;
	uint32_t flags;
	struct acpi_gas reset_reg;
	uint8_t reset_value;
	uint16_t arm_boot_arch;
	uint8_t minor_version;
	uint64_t x_firmware_ctrl, x_dsdt;
	struct acpi_gas x_pm1a_evt_blk, x_pm1b_evt_blk, x_pm1a_cnt_blk, x_pm1b_cnt_blk;
	struct acpi_gas x_pm2_cnt_blk, x_pm_tmr_blk, x_gpe0_blk, x_gpe1_blk;
	struct acpi_gas sleep_control_reg, sleep_status_reg;
	uint64_t hypervisor_vendor_id;
} __attribute__((packed));

_Static_assert(sizeof(struct acpi_fadt) == 276, "FADT layout (ACPI 6.x: 276 bytes)");
_Static_assert(sizeof(struct acpi_rsdp) == 36, "RSDP layout");

#define FADT_WBINVD        (1u << 0)
#define FADT_PROC_C1       (1u << 2)
#define FADT_PWR_BUTTON    (1u << 4)   /* no fixed power button */
#define FADT_SLP_BUTTON    (1u << 5)   /* no fixed sleep button */
#define FADT_RESET_REG_SUP (1u << 10)
#define FADT_BOOT_8042     (1u << 1)

#define MADT_PCAT_COMPAT   1u
#define MADT_LAPIC_ENABLED 1u
#define MADT_IRQ_LEVEL_HIGH 0x000d  /* active high, level triggered */

struct madt_lapic { uint8_t type, length, uid, apic_id; uint32_t flags; } __attribute__((packed));
struct madt_ioapic {
	uint8_t type, length, id, reserved;
	uint32_t address, gsi_base;
} __attribute__((packed));
struct madt_override {
	uint8_t type, length, bus, source;
	uint32_t gsi;
	uint16_t flags;
} __attribute__((packed));
struct madt_lapic_nmi { uint8_t type, length, uid; uint16_t flags; uint8_t lint; } __attribute__((packed));

/* A cursor over the output buffer; every table starts 16-byte aligned. */
struct acpi_writer {
	uint8_t *buf;
	size_t len, used;
	uint64_t base;
	bool overflow;
	bool no_mmio64;  /* the DSDT lacks the 64-bit window placeholder */
};

static void *writer_take_aligned(struct acpi_writer *w, size_t size, size_t align,
				 uint64_t *gpa)
{
	size_t start = (w->used + align - 1) & ~(align - 1);

	if (w->overflow || start > w->len || size > w->len - start) {
		w->overflow = true;
		return NULL;
	}
	w->used = start + size;
	*gpa = w->base + start;
	memset(w->buf + start, 0, size);
	return w->buf + start;
}

static void *writer_take(struct acpi_writer *w, size_t size, uint64_t *gpa)
{
	return writer_take_aligned(w, size, ACPI_ALIGN, gpa);
}

uint8_t acpi_checksum(const void *data, size_t len)
{
	const uint8_t *p = data;
	uint8_t sum = 0;

	for (size_t i = 0; i < len; i++)
		sum = (uint8_t)(sum + p[i]);
	return sum;
}

static void fill_header(struct acpi_header *h, const char *sig, uint32_t length,
			uint8_t revision)
{
	memcpy(h->signature, sig, 4);
	h->length = length;
	h->revision = revision;
	memcpy(h->oem_id, ACPI_OEM_ID, 6);
	memcpy(h->oem_table_id, ACPI_OEM_TABLE_ID, 8);
	h->oem_revision = 1;
	memcpy(h->creator_id, ACPI_CREATOR_ID, 4);
	h->creator_revision = 1;
}

static void finish_table(void *table)
{
	struct acpi_header *h = table;

	h->checksum = 0;
	h->checksum = (uint8_t)-acpi_checksum(table, h->length);
}

static struct acpi_gas io_register(uint16_t port, uint8_t bytes)
{
	return (struct acpi_gas){
		.space_id = 1, .bit_width = (uint8_t)(bytes * 8),
		.access_size = bytes == 1 ? 1 : bytes == 2 ? 2 : 3, .address = port,
	};
}

/* dsdt.asl's placeholder for the 64-bit window's base ("KILNMM64"). */
#define MMIO64_PLACEHOLDER 0x34364D4D4E4C494BULL
#define QWORD_ADDRESS_TAG  0x8a  /* large resource: QWord address space */
#define QWORD_MIN_OFFSET   14    /* tag, length, type, 2 flags, granularity */

/* Write the 64-bit window into the QWordMemory descriptor that carries the
 * placeholder: minimum, maximum and length (translation stays 0). */
static int patch_mmio64(uint8_t *aml, size_t len, uint64_t base, uint64_t size)
{
	for (size_t i = QWORD_MIN_OFFSET; i + 32 <= len; i++) {
		uint64_t v, max = base + size - 1;

		memcpy(&v, aml + i, 8);
		if (v != MMIO64_PLACEHOLDER || aml[i - QWORD_MIN_OFFSET] != QWORD_ADDRESS_TAG)
			continue;
		memcpy(aml + i, &base, 8);
		memcpy(aml + i + 8, &max, 8);
		memcpy(aml + i + 24, &size, 8);
		return 0;
	}
	return -ENOENT;
}

static uint64_t build_dsdt(struct acpi_writer *w, const struct acpi_config *cfg)
{
	uint64_t gpa = 0;
	uint8_t *dsdt = writer_take(w, sizeof(dsdt_aml_code), &gpa);

	if (!dsdt)
		return 0;
	memcpy(dsdt, dsdt_aml_code, sizeof(dsdt_aml_code));
	if (patch_mmio64(dsdt, sizeof(dsdt_aml_code), cfg->mmio64_base, cfg->mmio64_size)) {
		w->no_mmio64 = true;
		return 0;
	}
	finish_table(dsdt);
	return gpa;
}

/* The FACS has no checksum and is not listed in the XSDT: the FADT
 * points at it. 64-byte aligned (ACPI 6.5, 5.2.10). */
static uint64_t build_facs(struct acpi_writer *w, const struct acpi_config *cfg)
{
	uint64_t gpa = 0;
	struct acpi_facs *facs = writer_take_aligned(w, sizeof(*facs), 64, &gpa);

	if (!facs)
		return 0;
	memcpy(facs->signature, "FACS", 4);
	facs->length = sizeof(*facs);
	/* Changes with the hardware an S4 image would find: the vCPU count. */
	facs->hardware_signature = 0x4b494c00u | cfg->nr_cpus;
	facs->version = 2;
	return gpa;
}

static uint64_t build_fadt(struct acpi_writer *w, uint64_t dsdt, uint64_t facs)
{
	uint64_t gpa = 0;
	struct acpi_fadt *f = writer_take(w, sizeof(*f), &gpa);

	if (!f)
		return 0;
	fill_header(&f->header, "FACP", sizeof(*f), 6);
	/* One pointer: with both set, ACPICA installs the FACS twice. */
	f->firmware_ctrl = (uint32_t)facs;
	f->dsdt = (uint32_t)dsdt;
	f->x_dsdt = dsdt;
	f->sci_int = ACPI_SCI_IRQ;
	f->smi_cmd = 0; /* no SMM: the machine is always in ACPI mode */
	f->pm1a_evt_blk = ACPI_PM1A_EVT_BLK;
	f->pm1a_cnt_blk = ACPI_PM1A_CNT_BLK;
	f->pm_tmr_blk = ACPI_PM_TMR_BLK;
	f->pm1_evt_len = 4;
	f->pm1_cnt_len = 2;
	f->pm_tmr_len = 4;
	f->p_lvl2_lat = 101; /* > 100: C2 not supported */
	f->p_lvl3_lat = 1001; /* > 1000: C3 not supported */
	f->iapc_boot_arch = FADT_BOOT_8042; /* "CMOS RTC not present" stays clear */
	f->century = RTC_CENTURY;
	f->flags = FADT_WBINVD | FADT_PROC_C1 | FADT_PWR_BUTTON | FADT_SLP_BUTTON |
		   FADT_RESET_REG_SUP;
	f->reset_reg = io_register(ACPI_RESET_PORT, 1);
	f->reset_value = ACPI_RESET_VALUE;
	f->minor_version = 4;
	f->x_pm1a_evt_blk = io_register(ACPI_PM1A_EVT_BLK, 4);
	f->x_pm1a_cnt_blk = io_register(ACPI_PM1A_CNT_BLK, 2);
	f->x_pm_tmr_blk = io_register(ACPI_PM_TMR_BLK, 4);
	memcpy(&f->hypervisor_vendor_id, "KILN\0\0\0\0", 8);
	finish_table(f);
	return gpa;
}

static uint64_t build_madt(struct acpi_writer *w, unsigned int nr_cpus)
{
	size_t size = sizeof(struct acpi_header) + 8 + nr_cpus * sizeof(struct madt_lapic) +
		      sizeof(struct madt_ioapic) + 2 * sizeof(struct madt_override) +
		      sizeof(struct madt_lapic_nmi);
	uint64_t gpa = 0;
	uint8_t *t = writer_take(w, size, &gpa), *p;
	uint32_t lapic = (uint32_t)LAYOUT_LAPIC, flags = MADT_PCAT_COMPAT;

	if (!t)
		return 0;
	fill_header((struct acpi_header *)t, "APIC", (uint32_t)size, 5);
	p = t + sizeof(struct acpi_header);
	memcpy(p, &lapic, 4);
	memcpy(p + 4, &flags, 4);
	p += 8;
	for (unsigned int i = 0; i < nr_cpus; i++, p += sizeof(struct madt_lapic)) {
		struct madt_lapic e = { 0, sizeof(e), (uint8_t)i, (uint8_t)i, MADT_LAPIC_ENABLED };

		memcpy(p, &e, sizeof(e));
	}
	struct madt_ioapic io = { 1, sizeof(io), ACPI_IOAPIC_ID, 0, (uint32_t)LAYOUT_IOAPIC, 0 };
	struct madt_override timer = { 2, sizeof(timer), 0, 0, 2, 0 };
	struct madt_override sci = { 2, sizeof(sci), 0, ACPI_SCI_IRQ, ACPI_SCI_IRQ,
				     MADT_IRQ_LEVEL_HIGH };
	struct madt_lapic_nmi nmi = { 4, sizeof(nmi), 0xff, 0, 1 };

	memcpy(p, &io, sizeof(io));
	p += sizeof(io);
	memcpy(p, &timer, sizeof(timer));
	p += sizeof(timer);
	memcpy(p, &sci, sizeof(sci));
	p += sizeof(sci);
	memcpy(p, &nmi, sizeof(nmi));
	finish_table(t);
	return gpa;
}

/* MCFG: one ECAM allocation, segment 0, bus 0 only. */
static uint64_t build_mcfg(struct acpi_writer *w)
{
	size_t size = sizeof(struct acpi_header) + 8 + 16;
	uint64_t gpa = 0, base = LAYOUT_PCI_ECAM;
	uint8_t *t = writer_take(w, size, &gpa), *p;

	if (!t)
		return 0;
	fill_header((struct acpi_header *)t, "MCFG", (uint32_t)size, 1);
	p = t + sizeof(struct acpi_header) + 8;
	memcpy(p, &base, 8);
	p[10] = 0;                                   /* start bus */
	p[11] = (uint8_t)((LAYOUT_PCI_ECAM_SIZE >> 20) - 1); /* end bus */
	finish_table(t);
	return gpa;
}

static uint64_t build_root_tables(struct acpi_writer *w, const uint64_t *tables,
				  unsigned int n, uint64_t *xsdt_gpa)
{
	size_t hdr = sizeof(struct acpi_header);
	uint64_t rsdt_gpa = 0;
	uint8_t *rsdt = writer_take(w, hdr + 4 * n, &rsdt_gpa);
	uint8_t *xsdt = writer_take(w, hdr + 8 * n, xsdt_gpa);

	if (!rsdt || !xsdt)
		return 0;
	fill_header((struct acpi_header *)rsdt, "RSDT", (uint32_t)(hdr + 4 * n), 1);
	fill_header((struct acpi_header *)xsdt, "XSDT", (uint32_t)(hdr + 8 * n), 1);
	for (unsigned int i = 0; i < n; i++) {
		uint32_t addr32 = (uint32_t)tables[i];

		memcpy(rsdt + hdr + 4 * i, &addr32, 4);
		memcpy(xsdt + hdr + 8 * i, &tables[i], 8);
	}
	finish_table(rsdt);
	finish_table(xsdt);
	return rsdt_gpa;
}

long acpi_build_tables(const struct acpi_config *cfg, uint8_t *buf, size_t len, uint64_t base)
{
	struct acpi_writer w = { .buf = buf, .len = len, .base = base };
	uint64_t rsdp_gpa, xsdt_gpa = 0, tables[3], rsdt_gpa, facs_gpa;
	struct acpi_rsdp *rsdp;

	if (cfg->nr_cpus == 0 || cfg->nr_cpus > 255 || !cfg->mmio64_size ||
	    cfg->mmio64_base + cfg->mmio64_size < cfg->mmio64_base)
		return -EINVAL;
	/* The RSDP first, so it sits at base where the legacy scan looks. */
	rsdp = writer_take(&w, sizeof(*rsdp), &rsdp_gpa);
	facs_gpa = build_facs(&w, cfg);
	tables[0] = build_fadt(&w, build_dsdt(&w, cfg), facs_gpa);
	tables[1] = build_madt(&w, cfg->nr_cpus);
	tables[2] = build_mcfg(&w);
	rsdt_gpa = build_root_tables(&w, tables, 3, &xsdt_gpa);
	if (w.no_mmio64)
		return -ENOENT;
	if (w.overflow || !rsdp)
		return -ENOSPC;
	if (facs_gpa != base + (LAYOUT_ACPI_FACS - LAYOUT_ACPI_BASE))
		return -EINVAL;  /* where the wake looks for it */
	memcpy(rsdp->signature, "RSD PTR ", 8);
	memcpy(rsdp->oem_id, ACPI_OEM_ID, 6);
	rsdp->revision = 2;
	rsdp->rsdt_address = (uint32_t)rsdt_gpa;
	rsdp->length = sizeof(*rsdp);
	rsdp->xsdt_address = xsdt_gpa;
	rsdp->checksum = (uint8_t)-acpi_checksum(rsdp, 20);
	rsdp->extended_checksum = (uint8_t)-acpi_checksum(rsdp, sizeof(*rsdp));
	return (long)w.used;
}

int acpi_build(const struct guest_memory *mem, const struct acpi_config *cfg,
	       uint64_t *rsdp_gpa, struct kiln_err *err)
{
	size_t len = LAYOUT_ACPI_END - LAYOUT_ACPI_BASE;
	uint8_t *area = guest_mem_ptr(mem, LAYOUT_ACPI_BASE, len);
	long used;

	if (!area)
		return err_set(err, -EFAULT, "guest RAM does not cover the ACPI area");
	used = acpi_build_tables(cfg, area, len, LAYOUT_ACPI_BASE);
	if (used < 0)
		return err_set(err, (int)used, "ACPI tables for %u CPUs do not fit in %zu KiB",
			       cfg->nr_cpus, len >> 10);
	*rsdp_gpa = LAYOUT_ACPI_BASE;
	return 0;
}
