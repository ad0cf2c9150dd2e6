// SPDX-License-Identifier: MIT
#include "x86/firmware_state.h"

#include <string.h>

/* The 8254's read/write state after "LSB then MSB" access was selected. */
#define PIT_RW_LSB_THEN_MSB 3

bool firmware_state_wanted(enum boot_format format)
{
	return format == BOOT_FORMAT_MULTIBOOT;
}

void firmware_pic_state(struct kvm_pic_state *pic, bool slave)
{
	uint8_t elcr_mask = pic->elcr_mask;   /* the chipset's, kept */

	/* ICW1-ICW4 done (edge, cascade, 8086 mode, normal EOI), OCW1 the
	 * mask, nothing pending or in service. */
	memset(pic, 0, sizeof(*pic));
	pic->irq_base = slave ? FIRMWARE_PIC_SLAVE_BASE : FIRMWARE_PIC_MASTER_BASE;
	pic->imr = slave ? FIRMWARE_PIC_SLAVE_IMR : FIRMWARE_PIC_MASTER_IMR;
	pic->init4 = 1;
	pic->elcr = 0;
	pic->elcr_mask = elcr_mask;
}

void firmware_pit_state(struct kvm_pit_state2 *pit)
{
	struct kvm_pit_channel_state *ch0 = &pit->channels[0];

	memset(ch0, 0, sizeof(*ch0));
	ch0->count = FIRMWARE_PIT_DIVISOR;
	ch0->mode = FIRMWARE_PIT_MODE;
	ch0->rw_mode = PIT_RW_LSB_THEN_MSB;
	ch0->read_state = PIT_RW_LSB_THEN_MSB;
	ch0->write_state = PIT_RW_LSB_THEN_MSB;
	ch0->gate = 1;
}
