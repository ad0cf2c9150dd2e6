/* SPDX-License-Identifier: MIT */
/*
 * ACPI tables for the guest: RSDP, RSDT, XSDT, FADT, FACS, DSDT (compiled
 * from dsdt.asl by iasl) and MADT, written at LAYOUT_ACPI_BASE where both
 * the 0xE0000-0xFFFFF scan and the boot protocols' RSDP pointer find them.
 */
#ifndef KILN_X86_ACPI_H
#define KILN_X86_ACPI_H

#include <stddef.h>
#include <stdint.h>

#include "util/error.h"
#include "vm/memory.h"

struct acpi_config {
	unsigned int nr_cpus;
	uint64_t mmio64_base, mmio64_size;  /* the 64-bit PCI window, in the DSDT */
};

/* Build every table into buf, laid out as if buf sat at guest-physical
 * base. Returns the bytes used, or a negative errno when they do not fit. */
long acpi_build_tables(const struct acpi_config *cfg, uint8_t *buf, size_t len, uint64_t base);

/* Build the tables into guest RAM; *rsdp_gpa gets the RSDP's address. */
int acpi_build(const struct guest_memory *mem, const struct acpi_config *cfg,
	       uint64_t *rsdp_gpa, struct kiln_err *err);

/* The FACS (ACPI 6.5, 5.2.10): the OS's waking vectors for S3. */
struct acpi_facs {
	char signature[4];            /* "FACS" */
	uint32_t length;              /* 64 */
	uint32_t hardware_signature;
	uint32_t firmware_waking_vector;   /* real mode: CS = v >> 4, IP = v & 0xf */
	uint32_t global_lock;
	uint32_t flags;               /* S4BIOS_F, 64BIT_WAKE_SUPPORTED_F: both 0 */
	uint64_t x_firmware_waking_vector; /* non-zero: 32-bit protected mode there */
	uint8_t version;              /* 2 */
	uint8_t reserved0[3];
	uint32_t ospm_flags;
	uint8_t reserved1[24];
} __attribute__((packed));

_Static_assert(sizeof(struct acpi_facs) == 64, "FACS layout");

/* Sum of len bytes modulo 256: 0 for a table with a correct checksum. */
uint8_t acpi_checksum(const void *data, size_t len);

#endif
