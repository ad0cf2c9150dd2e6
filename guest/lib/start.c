// SPDX-License-Identifier: MIT
/* The boot CPU's C entry: library set-up, then the test's guest_main(). */
#include "guest.h"

void guest_start(void);
void guest_start(void)
{
	idt_init();
	lapic_enable();
	gdt_tss_init(0);
	user_init();
	guest_main();
	report_summary_and_exit();
}
