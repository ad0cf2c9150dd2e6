/* SPDX-License-Identifier: MIT */
/*
 * The guest-physical memory map kiln gives every x86 guest. One place for
 * every fixed address, so loaders, firmware tables and devices agree.
 *
 *   0x00000000  RAM (page 0 free for the guest's AP trampoline)
 *   0x00000500  boot GDT                      (Linux/PVH entry)
 *   0x00001000  multiboot info, its mmap, cmdline (to 0x7fff)
 *   0x00007000  Linux zero page / PVH start info
 *   0x00009000  boot page tables (PML4, PDPT, 4 PDs: identity 4 GiB)
 *   0x00020000  kernel command line (up to 64 KiB)
 *   0x0009fc00  end of low RAM (EBDA and legacy area reserved above)
 *   0x000e0000  ACPI tables, RSDP first (the 0xE0000-0xFFFFF scan finds it)
 *   0x00100000  kernel (bzImage protected-mode part / PVH / multiboot)
 *   ...         initrd at the top of low RAM, below initrd_addr_max
 *   0xc0000000  32-bit PCI hole (3 GiB to 4 GiB): ECAM for bus 0, then BARs
 *               to 0xe0000000; above that nothing is claimed
 *   0xfec00000  IOAPIC
 *   0xfee00000  LAPIC
 *   0x100000000 RAM above the hole
 */
#ifndef KILN_X86_LAYOUT_H
#define KILN_X86_LAYOUT_H

#include <stdint.h>

#include "vm/memory.h"

#define LAYOUT_BOOT_GDT        0x00000500ULL
#define LAYOUT_BOOT_GDT_END    0x00000600ULL   /* room for 32 descriptors */
#define LAYOUT_MB_INFO         0x00001000ULL
#define LAYOUT_MB_INFO_END     0x00008000ULL
#define LAYOUT_ZERO_PAGE       0x00007000ULL
#define LAYOUT_START_INFO      0x00007000ULL
#define LAYOUT_PAGE_TABLES     0x00009000ULL
#define LAYOUT_CMDLINE         0x00020000ULL
#define LAYOUT_CMDLINE_MAX     0x00010000ULL
#define LAYOUT_LOW_RAM_END     0x0009fc00ULL
#define LAYOUT_ACPI_BASE       0x000e0000ULL
#define LAYOUT_ACPI_END        0x00100000ULL
/* The FACS, 64-byte aligned right after the RSDP: the OS writes its waking
 * vector here and kiln reads it there on the wake from S3. */
#define LAYOUT_ACPI_FACS       (LAYOUT_ACPI_BASE + 0x40)
#define LAYOUT_ACPI_FACS_LEN   64
#define LAYOUT_HIGH_MEMORY     0x00100000ULL
#define LAYOUT_PCI_HOLE_START  0xc0000000ULL
#define LAYOUT_PCI_HOLE_END    0x100000000ULL
#define LAYOUT_PCI_ECAM        0xc0000000ULL   /* bus 0 only: 1 MiB */
#define LAYOUT_PCI_ECAM_SIZE   0x00100000ULL
#define LAYOUT_PCI_MMIO32      0xc1000000ULL   /* BARs below 4 GiB */
#define LAYOUT_PCI_MMIO32_END  0xe0000000ULL   /* 0xe0000000 up stays unclaimed */
/* The 64-bit MMIO window starts at the first 1 GiB boundary at or above
 * both 4 GiB and the end of RAM (layout_pci_mmio64). */
#define LAYOUT_PCI_MMIO64_ALIGN (1ULL << 30)
#define LAYOUT_PCI_MMIO64_SIZE  (32ULL << 30)
#define LAYOUT_IOAPIC          0xfec00000ULL
#define LAYOUT_LAPIC           0xfee00000ULL
#define LAYOUT_TESTDEV_MMIO    0xff000000ULL

/* ACPI fixed-hardware ports (PM1a event/control blocks and PM timer, at
 * QEMU's addresses so test kernels that hard-code them still work). */
#define ACPI_PM_BASE           0x600
#define ACPI_PM1A_EVT_BLK      (ACPI_PM_BASE + 0)   /* 4 bytes: status, enable */
#define ACPI_PM1A_CNT_BLK      (ACPI_PM_BASE + 4)   /* 2 bytes */
#define ACPI_PM_TMR_BLK        (ACPI_PM_BASE + 8)   /* 4 bytes, 3.579545 MHz */
#define ACPI_SCI_IRQ           9
#define ACPI_SLP_TYP_S5        0                    /* \_S5 package value */
#define ACPI_SLP_TYP_S3        1                    /* \_S3 package value */
#define ACPI_SLP_EN            (1u << 13)
#define ACPI_RESET_PORT        0x64                 /* FADT reset register: i8042 */
#define ACPI_RESET_VALUE       0xfe

/* RAM smaller than this cannot hold the fixed areas above plus a kernel. */
#define LAYOUT_MIN_RAM         (8ULL << 20)

enum e820_type {
	E820_RAM = 1,
	E820_RESERVED = 2,
	E820_ACPI = 3,
};

struct e820_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
} __attribute__((packed));

#define LAYOUT_E820_MAX 8

/*
 * The e820 map for RAM laid out as mem describes: low RAM, the reserved
 * legacy area with the ACPI tables, RAM from 1 MiB to the hole, RAM above
 * 4 GiB. Returns the number of entries written (at most max), or -EINVAL.
 */
int layout_e820(const struct guest_memory *mem, struct e820_entry *out, int max);

/* End of RAM below 4 GiB (top of the first slot). */
uint64_t layout_low_ram_end(const struct guest_memory *mem);

/*
 * Page-table levels a guest needs to map an address space of addr_bits
 * with pages of (1 << page_shift) bytes and 8-byte entries:
 * (addr_bits - 4) / (page_shift - 3): 39 -> 3, 48 -> 4, 57 -> 5.
 */
unsigned int layout_paging_levels(unsigned int addr_bits, unsigned int page_shift);

/* Base of the 64-bit PCI MMIO window for RAM laid out as mem. */
uint64_t layout_pci_mmio64(const struct guest_memory *mem);

/* 0 when RAM and the 64-bit MMIO window laid out for mem fit below
 * 2^phys_bits, else -ERANGE. */
int layout_check_phys_bits(const struct guest_memory *mem, unsigned int phys_bits);

#endif
