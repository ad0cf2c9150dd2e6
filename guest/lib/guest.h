/* SPDX-License-Identifier: MIT */
/* The test-guest library: what a test kernel under guest/tests/ can use. */
#ifndef GUEST_GUEST_H
#define GUEST_GUEST_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "layout.h"
#include "regs.h"

/* ---- CPU primitives ---- */
static inline void outb(uint16_t port, uint8_t v) { __asm__ volatile("outb %0, %1" :: "a"(v), "Nd"(port)); }
static inline void outw(uint16_t port, uint16_t v) { __asm__ volatile("outw %0, %1" :: "a"(v), "Nd"(port)); }
static inline void outl(uint16_t port, uint32_t v) { __asm__ volatile("outl %0, %1" :: "a"(v), "Nd"(port)); }
static inline uint8_t inb(uint16_t port) { uint8_t v; __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port)); return v; }
static inline uint16_t inw(uint16_t port) { uint16_t v; __asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(port)); return v; }
static inline uint32_t inl(uint16_t port) { uint32_t v; __asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port)); return v; }

static inline uint64_t rdmsr(uint32_t msr)
{
	uint32_t lo, hi;

	__asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
	return ((uint64_t)hi << 32) | lo;
}

static inline void wrmsr(uint32_t msr, uint64_t v)
{
	__asm__ volatile("wrmsr" :: "c"(msr), "a"((uint32_t)v), "d"((uint32_t)(v >> 32)) : "memory");
}

static inline void cpuid(uint32_t leaf, uint32_t sub, uint32_t *a, uint32_t *b, uint32_t *c,
			 uint32_t *d)
{
	__asm__ volatile("cpuid" : "=a"(*a), "=b"(*b), "=c"(*c), "=d"(*d) : "a"(leaf), "c"(sub));
}

static inline uint64_t rdtsc(void)
{
	uint32_t lo, hi;

	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return ((uint64_t)hi << 32) | lo;
}

static inline uint32_t mmio_read32(uintptr_t addr) { return *(volatile uint32_t *)addr; }
static inline void mmio_write32(uintptr_t addr, uint32_t v) { *(volatile uint32_t *)addr = v; }
static inline void cpu_relax(void) { __asm__ volatile("pause" ::: "memory"); }

/* ---- console and reporting ---- */
void putchar(int c);
void puts(const char *s);
int printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap);
int snprintf(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

void report(bool ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void report_skip(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void report_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The checks reported so far and how many failed (for code that reports
 * its own SUMMARY, such as a real-mode continuation). */
void report_counts(unsigned int *tests_out, unsigned int *failures_out);
/* Print the SUMMARY line and leave through isa-debug-exit: code 0 when no
 * check failed (kiln/QEMU exit status 1), else 1 (status 3). */
__attribute__((noreturn)) void report_summary_and_exit(void);
__attribute__((noreturn)) void debug_exit(uint32_t code);

/* ---- boot information ---- */
struct mb_info;
const struct mb_info *multiboot_info(void);
const char *cmdline(void);
/* Value of key=value on the command line, or NULL. */
const char *cmdline_get(const char *key);
uint64_t cmdline_get_u64(const char *key, uint64_t fallback);
uint64_t strtou64(const char *s, const char **end);

/* ---- memory ---- */
void *memset(void *dst, int c, size_t n);
void *memcpy(void *dst, const void *src, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
/* True when buf[0..n) holds a newline. */
bool memchr_nl(const char *buf, size_t n);
int strncmp(const char *a, const char *b, size_t n);

/* ---- firmware configuration ---- */
#define FW_CFG_SIGNATURE 0x00
#define FW_CFG_RAM_SIZE  0x03
#define FW_CFG_NB_CPUS   0x05
#define FW_CFG_MAX_RAM   0x11
uint64_t fw_cfg_read(uint16_t key, unsigned int len);

/* ---- interrupts and exceptions ---- */
void idt_init(void);
void idt_load(void);
typedef void (*irq_handler)(struct regs *regs);
void idt_set_handler(unsigned int vector, irq_handler handler);
/* Expected exceptions: run fn; if it raises vector, resume after it. */
struct fault {
	bool raised;
	unsigned int vector;
	uint64_t error_code;
	uint64_t cr2;
	uint64_t rip;
};
/* Arm: the next exception of any vector on this CPU jumps to resume. */
void fault_expect(uintptr_t resume);
struct fault fault_last(void);

/* ---- per-CPU ---- */
unsigned int cpu_index(void);
unsigned int cpu_count(void);          /* CPUs that checked in */
void gdt_tss_init(unsigned int cpu);

/* ---- SMP ---- */
/* Start every AP; returns the number of CPUs up (BSP included). */
unsigned int smp_start(unsigned int expected);
/* Run fn(arg) on cpu and wait for it. */
void on_cpu(unsigned int cpu, void (*fn)(void *), void *arg);
/* The same in two halves, so that several CPUs work at once (cpu is an AP). */
void on_cpu_start(unsigned int cpu, void (*fn)(void *), void *arg);
void on_cpu_wait(unsigned int cpu);

/* ---- CPL3 ---- */
void user_init(void);
/* Run fn(arg) at CPL3 with IOPL 3; returns fn's result. */
uint64_t user_call(uint64_t (*fn)(void *), void *arg);
/* Called first by the exception dispatcher: true (and no return) when r
 * is the trap that ends a user_call. */
bool user_return_trap(struct regs *r);

/* ---- LAPIC ---- */
#define LAPIC_BASE 0xfee00000UL
void lapic_enable(void);
uint32_t lapic_id(void);
/* Periodic so a tick missed while interrupts are off cannot leave HLT
 * waiting forever. */
void lapic_timer(uint8_t vector, uint32_t count, bool periodic);
void lapic_timer_stop(void);
void lapic_eoi(void);
void lapic_send_ipi(uint32_t apic_id, uint32_t icr_low);

/* ---- ACPI PM timer (guest/lib/pm_timer.c) ---- */
#define PM_TIMER_PORT 0x608       /* kiln's and QEMU's PM_TMR_BLK */
#define PM_TIMER_HZ   3579545UL
/* Ticks since pm_clock_start; read at least every 4.7 s (the counter wraps). */
struct pm_clock { uint16_t port; uint32_t last; uint64_t ticks; };
void pm_clock_start(struct pm_clock *c, uint16_t port);
uint64_t pm_clock_ticks(struct pm_clock *c);

/* ---- ACPI ---- */
const void *acpi_find_rsdp(void);
const void *acpi_find_table(const char *sig);
/* SLP_TYPa of the DSDT's sleep package name ("_S3_", "_S5_"), or -1. */
int acpi_sleep_type(const char *name);
/* ACPI S5 through the FADT; returns only if the machine is still on 10 s later. */
void acpi_poweroff(void);

/* ---- PCI (mechanism #1; works at CPL3) ---- */
uint32_t pci_read32(unsigned int slot, unsigned int reg);
void pci_write32(unsigned int slot, unsigned int reg, uint32_t v);
uint8_t pci_read8(unsigned int slot, unsigned int reg);
void pci_write16(unsigned int slot, unsigned int reg, uint16_t v);
int pci_find(uint16_t vendor, uint16_t device);
uint64_t pci_bar(unsigned int slot, unsigned int index);
/* Identity-map [phys, phys + size) where it lies beyond the boot-time
 * 4 GiB (a BAR in the 64-bit window): uncached, user accessible. Returns
 * the pointer, or NULL after reporting a failed check. */
void *map_phys(uint64_t phys, uint64_t size);
/* Next capability with id after config offset after (0: from the start). */
unsigned int pci_find_cap(unsigned int slot, uint8_t id, unsigned int after);

/* Every test guest provides this; argc-style checks use cmdline(). */
void guest_main(void);

#endif
