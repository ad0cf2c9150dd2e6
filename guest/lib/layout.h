/* SPDX-License-Identifier: MIT */
/* Constants shared by the test guests' assembly and C. */
#ifndef GUEST_LAYOUT_H
#define GUEST_LAYOUT_H

#define MB_HEADER_MAGIC   0x1BADB002
#define MB_BOOT_MAGIC     0x2BADB002

/* GDT selectors. */
#define SEL_KERNEL_CS     0x08
#define SEL_KERNEL_DS     0x10
#define SEL_KERNEL_CS32   0x18
#define SEL_USER_DS       0x20
#define SEL_USER_CS       0x28
#define SEL_TSS_BASE      0x30   /* one 16-byte TSS descriptor per CPU */

#define MAX_CPUS          64
#define STACK_SIZE        0x4000 /* per CPU, kernel and user each */

/* AP start-up: the trampoline is copied to physical 0 (SIPI vector 0). */
#define TRAMPOLINE_ADDR   0x0

/* The page tables identity-map 4 GiB with 2 MiB pages, user-accessible. */
#define IDENTITY_MAP_GIB  4

#endif
