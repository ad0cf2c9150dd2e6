// SPDX-License-Identifier: MIT
/* The boot CPU's entry state: GDT, page tables and registers, decoded the way
 * the CPU would read them. */
#include <errno.h>

#include "boot_fixture.h"
#include "x86/boot_cpu.h"

#define CR0_PE   (1ULL << 0)
#define CR0_PG   (1ULL << 31)
#define CR4_PAE  (1ULL << 5)
#define EFER_LME (1ULL << 8)
#define EFER_LMA (1ULL << 10)
#define APIC_BASE_SENTINEL 0xfee00900ULL
#define PAGE_TABLE_BYTES (6 * 4096)

TestSuite(boot_cpu, .init = fixture_setup, .fini = fixture_teardown);

/* KVM_GET_SREGS-like input: fields the setup must keep carry sentinels. */
static struct kvm_sregs reset_sregs(void)
{
	struct kvm_sregs s;

	memset(&s, 0, sizeof(s));
	s.apic_base = APIC_BASE_SENTINEL;
	s.tr = (struct kvm_segment){ .limit = 0xffff, .type = 11, .present = 1 };
	s.ldt = (struct kvm_segment){ .limit = 0xffff, .type = 2, .present = 1 };
	s.idt.limit = 0xffff;
	s.interrupt_bitmap[1] = 0x1234;
	s.cr0 = 0x60000010; /* reset value: CD, NW, ET */
	return s;
}

static struct boot_entry linux_entry(void)
{
	return (struct boot_entry){
		.format = BOOT_FORMAT_BZIMAGE, .mode = BOOT_MODE_LONG64,
		.rip = 0x1000200, .rsi = LAYOUT_ZERO_PAGE,
	};
}

static struct boot_entry multiboot_entry(void)
{
	return (struct boot_entry){
		.format = BOOT_FORMAT_MULTIBOOT, .mode = BOOT_MODE_PROTECTED32,
		.rip = 0x400010, .rax = 0x2badb002, .rbx = LAYOUT_MB_INFO,
	};
}

/* The segment a CPU would load from descriptor `selector` of the guest GDT. */
static struct kvm_segment decode_gdt(const struct kvm_sregs *s, uint16_t selector)
{
	uint64_t d;
	uint32_t limit;
	struct kvm_segment seg = { .selector = selector };

	cr_assert_leq(selector + 7u, s->gdt.limit, "selector 0x%x inside the GDT limit", selector);
	d = guest64(s->gdt.base + selector);
	limit = (uint32_t)((d & 0xffff) | (((d >> 48) & 0xf) << 16));
	seg.g = (d >> 55) & 1;
	seg.limit = seg.g ? (limit << 12) | 0xfff : limit;
	seg.base = ((d >> 16) & 0xffffff) | (((d >> 56) & 0xff) << 24);
	seg.type = (d >> 40) & 0xf;
	seg.s = (d >> 44) & 1;
	seg.dpl = (d >> 45) & 3;
	seg.present = (d >> 47) & 1;
	seg.avl = (d >> 52) & 1;
	seg.l = (d >> 53) & 1;
	seg.db = (d >> 54) & 1;
	return seg;
}

/* The cached segment equals what its GDT descriptor says, and is flat ring 0. */
static void check_segment(const struct kvm_sregs *s, const struct kvm_segment *seg,
			  const char *name)
{
	struct kvm_segment want = decode_gdt(s, seg->selector);

	cr_assert_eq(seg->base, 0, "%s base", name);
	cr_assert_eq(seg->limit, 0xffffffff, "%s limit", name);
	cr_assert_eq(seg->base, want.base, "%s base vs GDT", name);
	cr_assert_eq(seg->limit, want.limit, "%s limit vs GDT", name);
	cr_assert_eq(seg->type, want.type, "%s type vs GDT", name);
	cr_assert_eq(seg->s, 1, "%s is a code/data segment", name);
	cr_assert_eq(want.s, 1, "%s GDT S bit", name);
	cr_assert_eq(seg->dpl, 0, "%s ring 0", name);
	cr_assert_eq(want.dpl, 0, "%s GDT DPL", name);
	cr_assert_eq(seg->present, 1, "%s present", name);
	cr_assert_eq(want.present, 1, "%s GDT P bit", name);
	cr_assert_eq(seg->l, want.l, "%s L vs GDT", name);
	cr_assert_eq(seg->db, want.db, "%s D/B vs GDT", name);
	cr_assert_eq(seg->g, want.g, "%s G vs GDT", name);
	cr_assert_eq(seg->unusable, 0, "%s usable", name);
}

static void check_data_segments(const struct kvm_sregs *s)
{
	const struct kvm_segment *data[] = { &s->ds, &s->es, &s->fs, &s->gs, &s->ss };
	const char *names[] = { "DS", "ES", "FS", "GS", "SS" };

	for (unsigned int i = 0; i < 5; i++) {
		cr_assert_eq(data[i]->selector, 0x18, "%s = __BOOT_DS", names[i]);
		cr_assert_eq(data[i]->type & 0xa, 0x2, "%s is read/write data", names[i]);
		cr_assert_eq(data[i]->db, 1, "%s 32-bit", names[i]);
		check_segment(s, data[i], names[i]);
	}
}

static void check_kept_from_kvm(const struct kvm_sregs *s)
{
	cr_assert_eq(s->apic_base, APIC_BASE_SENTINEL, "APIC base kept");
	cr_assert_eq(s->tr.type, 11, "TR kept");
	cr_assert_eq(s->ldt.type, 2, "LDT kept");
	cr_assert_eq(s->idt.limit, 0xffff, "IDT kept");
	cr_assert_eq(s->interrupt_bitmap[1], 0x1234, "interrupt bitmap kept");
	cr_assert_eq(s->gdt.base, LAYOUT_BOOT_GDT);
}

/* Walk PML4 -> PDPT -> PD (2 MiB pages) as the MMU would. */
static uint64_t translate(uint64_t cr3, uint64_t va)
{
	uint64_t pml4e = guest64(cr3 + ((va >> 39) & 511) * 8);
	uint64_t pdpte, pde;

	cr_assert(pml4e & 1, "PML4E present for 0x%lx", va);
	cr_assert(pml4e & 2, "PML4E writable");
	pdpte = guest64((pml4e & ~0xfffULL) + ((va >> 30) & 511) * 8);
	cr_assert(pdpte & 1, "PDPTE present for 0x%lx", va);
	cr_assert_eq(pdpte & 0x80, 0, "PDPTE points at a PD, not a 1 GiB page");
	pde = guest64((pdpte & ~0xfffULL) + ((va >> 21) & 511) * 8);
	cr_assert(pde & 1, "PDE present for 0x%lx", va);
	cr_assert(pde & 2, "PDE writable");
	cr_assert(pde & 0x80, "PDE maps a 2 MiB page");
	return (pde & ~0x1fffffULL & ((1ULL << 52) - 1)) | (va & 0x1fffff);
}

Test(boot_cpu, long_mode_entry)
{
	struct boot_entry e = linux_entry();
	struct kvm_sregs s = reset_sregs();
	struct kvm_regs r;

	memset(&r, 0xcc, sizeof(r));
	cr_assert_eq(boot_cpu_setup(&fx.mem, &e, &r, &s), 0);
	cr_assert(s.cr0 & CR0_PE, "protected mode");
	cr_assert(s.cr0 & CR0_PG, "paging on");
	cr_assert_eq(s.cr0 & 0x60000000, 0, "caches enabled (CD and NW clear)");
	cr_assert(s.cr4 & CR4_PAE, "PAE");
	cr_assert_eq(s.efer & (EFER_LME | EFER_LMA), EFER_LME | EFER_LMA, "long mode active");
	cr_assert_eq(s.cr3, LAYOUT_PAGE_TABLES);

	cr_assert_eq(s.cs.selector, 0x10, "CS = __BOOT_CS");
	cr_assert_eq(s.cs.l, 1, "64-bit code");
	cr_assert_eq(s.cs.db, 0, "L=1 needs D=0");
	cr_assert_eq(s.cs.type & 0x8, 0x8, "code");
	cr_assert(s.cs.type & 0x2, "readable");
	check_segment(&s, &s.cs, "CS");
	check_data_segments(&s);
	check_kept_from_kvm(&s);

	cr_assert_eq(r.rip, 0x1000200);
	cr_assert_eq(r.rsi, LAYOUT_ZERO_PAGE, "RSI = boot_params");
	cr_assert_eq(r.rflags, 0x2, "interrupts off, reserved bit 1 set");
	cr_assert_eq(r.rax, 0);
	cr_assert_eq(r.rbx, 0);
	cr_assert_eq(r.rsp, 0, "no stale register values");
	cr_assert_eq(r.r15, 0);
}

Test(boot_cpu, page_tables_map_4_gib_one_to_one)
{
	struct boot_entry e = linux_entry();
	struct kvm_sregs s = reset_sregs();
	struct kvm_regs r;
	const uint64_t probes[] = { 0, 0x1000200, 0x1234567, 0x40000000, 0xbfffffff,
				    0xfee00000, 0xffffffff };

	guest_mem_destroy(&fx.mem);
	cr_assert_eq(guest_mem_create(&fx.mem, 4 * GiB, LAYOUT_PCI_HOLE_START), 0);
	/* stale bytes where the tables go must not survive as entries */
	memset(guest_mem_ptr(&fx.mem, LAYOUT_PAGE_TABLES, PAGE_TABLE_BYTES), 0xff,
	       PAGE_TABLE_BYTES);
	cr_assert_eq(boot_cpu_setup(&fx.mem, &e, &r, &s), 0);
	for (unsigned int i = 0; i < sizeof(probes) / sizeof(probes[0]); i++)
		cr_assert_eq(translate(s.cr3, probes[i]), probes[i], "identity at 0x%lx", probes[i]);
	for (uint64_t va = 0; va < 4 * GiB; va += 2 * MiB)
		cr_assert_eq(translate(s.cr3, va), va);
	cr_assert_eq(guest64(s.cr3 + 8), 0, "nothing mapped above 512 GiB");
	cr_assert_eq(guest64((guest64(s.cr3) & ~0xfffULL) + 4 * 8), 0, "nothing at 4 GiB+");
	cr_assert_leq(LAYOUT_PAGE_TABLES + PAGE_TABLE_BYTES, LAYOUT_CMDLINE,
		      "tables stay below the command line");
}

Test(boot_cpu, protected_mode_entry)
{
	struct boot_entry e = multiboot_entry();
	struct kvm_sregs s = reset_sregs();
	struct kvm_regs r;

	/* A low multiboot image may live where long-mode page tables would go. */
	memset(guest_mem_ptr(&fx.mem, LAYOUT_PAGE_TABLES, PAGE_TABLE_BYTES), 0x5a,
	       PAGE_TABLE_BYTES);
	cr_assert_eq(boot_cpu_setup(&fx.mem, &e, &r, &s), 0);
	cr_assert(s.cr0 & CR0_PE, "protected mode");
	cr_assert_eq(s.cr0 & CR0_PG, 0, "paging off");
	cr_assert_eq(s.cr4, 0);
	cr_assert_eq(s.efer, 0);
	cr_assert_eq(s.cs.selector, 0x10);
	cr_assert_eq(s.cs.l, 0);
	cr_assert_eq(s.cs.db, 1, "32-bit code");
	cr_assert_eq(s.cs.type & 0x8, 0x8, "code");
	check_segment(&s, &s.cs, "CS");
	check_data_segments(&s);
	check_kept_from_kvm(&s);
	for (uint64_t a = LAYOUT_PAGE_TABLES; a < LAYOUT_PAGE_TABLES + PAGE_TABLE_BYTES; a += 512)
		cr_assert_eq(guest8(a), 0x5a, "no page tables written for a 32-bit entry");

	cr_assert_eq(r.rip, 0x400010);
	cr_assert_eq(r.rax, 0x2badb002);
	cr_assert_eq(r.rbx, LAYOUT_MB_INFO);
	cr_assert_eq(r.rsi, 0);
	cr_assert_eq(r.rflags, 0x2);
}

Test(boot_cpu, gdt_keeps_the_null_descriptors)
{
	struct boot_entry e = multiboot_entry();
	struct kvm_sregs s = reset_sregs();
	struct kvm_regs r;

	memset(guest_mem_ptr(&fx.mem, LAYOUT_BOOT_GDT, 0x100), 0xff, 0x100);
	cr_assert_eq(boot_cpu_setup(&fx.mem, &e, &r, &s), 0);
	cr_assert_eq(guest64(LAYOUT_BOOT_GDT), 0, "null descriptor");
	cr_assert_eq(guest64(LAYOUT_BOOT_GDT + 8), 0, "0x08 unused, as in Linux's boot GDT");
	cr_assert_eq(s.gdt.limit, 4 * 8 - 1);
	cr_assert_leq(LAYOUT_BOOT_GDT + s.gdt.limit + 1, LAYOUT_BOOT_GDT_END);
}

Test(boot_cpu, too_little_ram_for_page_tables)
{
	struct boot_entry e = linux_entry();
	struct kvm_sregs s = reset_sregs();
	struct kvm_regs r;

	guest_mem_destroy(&fx.mem);
	cr_assert_eq(guest_mem_create(&fx.mem, 0x8000, LAYOUT_PCI_HOLE_START), 0);
	cr_assert_eq(boot_cpu_setup(&fx.mem, &e, &r, &s), -EFAULT);
	e = multiboot_entry();
	s = reset_sregs();
	cr_assert_eq(boot_cpu_setup(&fx.mem, &e, &r, &s), 0, "a 32-bit entry needs only the GDT");
}

Test(boot_cpu, entry_beyond_4_gib_is_refused)
{
	struct boot_entry e = multiboot_entry();
	struct kvm_sregs s = reset_sregs();
	struct kvm_regs r;

	e.rip = 0x100000000ULL;
	cr_assert_eq(boot_cpu_setup(&fx.mem, &e, &r, &s), -ERANGE);
	e = linux_entry();
	e.rsi = 0x100001000ULL;
	cr_assert_eq(boot_cpu_setup(&fx.mem, &e, &r, &s), -ERANGE);
}
