// SPDX-License-Identifier: MIT
/* The boot CPU's C entry: library set-up, then the test's guest_main(). */
#include "guest.h"

void guest_start(void);
#define PIC_MASTER_DATA 0x21
#define PIC_SLAVE_DATA  0xa1

void guest_start(void)
{
	/* Firmware may have left the 8259 PIC unmasked with its timer on
	 * vectors 8-15, which collide with exceptions: the tests use the LAPIC. */
	outb(PIC_MASTER_DATA, 0xff);
	outb(PIC_SLAVE_DATA, 0xff);
	idt_init();
	lapic_enable();
	gdt_tss_init(0);
	user_init();
	guest_main();
	report_summary_and_exit();
}
