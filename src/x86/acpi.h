/* SPDX-License-Identifier: MIT */
/*
 * ACPI tables for the guest: RSDP, RSDT, XSDT, FADT, DSDT (compiled from
 * dsdt.asl by iasl) and MADT, written at LAYOUT_ACPI_BASE where both the
 * 0xE0000-0xFFFFF scan and the boot protocols' RSDP pointer find them.
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

/* Sum of len bytes modulo 256: 0 for a table with a correct checksum. */
uint8_t acpi_checksum(const void *data, size_t len);

#endif
