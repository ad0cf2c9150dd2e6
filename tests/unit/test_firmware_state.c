// SPDX-License-Identifier: MIT
/* The PIC and PIT state kiln leaves for images a firmware's loader starts. */
#include <criterion/criterion.h>
#include <string.h>

#include "x86/firmware_state.h"

Test(firmware_state, only_for_multiboot_images)
{
	cr_assert(firmware_state_wanted(BOOT_FORMAT_MULTIBOOT));
	cr_assert_not(firmware_state_wanted(BOOT_FORMAT_BZIMAGE), "Linux sets up its own");
	cr_assert_not(firmware_state_wanted(BOOT_FORMAT_PVH));
}

Test(firmware_state, pics_at_the_bios_vector_bases_edge_triggered)
{
	struct kvm_pic_state master, slave;

	/* What KVM's reset might hold: garbage to be replaced, elcr_mask kept. */
	memset(&master, 0x5a, sizeof(master));
	memset(&slave, 0xa5, sizeof(slave));
	master.elcr_mask = 0xf8;
	slave.elcr_mask = 0xde;
	firmware_pic_state(&master, false);
	firmware_pic_state(&slave, true);
	cr_assert_eq(master.irq_base, 0x08);
	cr_assert_eq(slave.irq_base, 0x70);
	cr_assert_eq(master.imr, 0xf8, "IRQ 0, 1 and the cascade open");
	cr_assert_eq(slave.imr, 0xfe, "IRQ 8 open");
	cr_assert_eq(master.elcr | slave.elcr, 0, "every ISA line edge-triggered");
	cr_assert_eq(master.elcr_mask, 0xf8);
	cr_assert_eq(slave.elcr_mask, 0xde);
	cr_assert(master.init4 && slave.init4, "ICW4 given: 8086 mode");
	cr_assert_eq(master.init_state | slave.init_state, 0, "initialisation finished");
	cr_assert_eq(master.irr | master.isr | slave.irr | slave.isr, 0, "nothing pending");
	cr_assert_eq(master.auto_eoi | slave.auto_eoi, 0);
}

Test(firmware_state, pit_channel0_at_18_2_hz)
{
	struct kvm_pit_state2 pit;

	memset(&pit, 0, sizeof(pit));
	pit.channels[2].gate = 0;
	pit.channels[2].mode = 0xff;
	firmware_pit_state(&pit);
	cr_assert_eq(pit.channels[0].mode, 3, "square wave");
	cr_assert_eq(pit.channels[0].count, 65536, "1193182 Hz / 65536 = 18.2 Hz");
	cr_assert_eq(pit.channels[0].gate, 1);
	cr_assert_eq(pit.channels[0].rw_mode, 3, "LSB then MSB");
	cr_assert_eq(pit.channels[0].bcd, 0);
	cr_assert_eq(pit.channels[2].mode, 0xff, "other channels untouched");
}
