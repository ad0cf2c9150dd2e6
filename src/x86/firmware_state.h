/* SPDX-License-Identifier: MIT */
/*
 * The interrupt and timer state a PC BIOS leaves behind, for guests that
 * a firmware's loader would have started: both 8259s initialised (vector
 * bases 0x08 and 0x70, ISA lines edge-triggered, the lines the BIOS serves
 * unmasked) and PIT channel 0 in mode 3 with divisor 65536 (18.2 Hz).
 * KVM's own reset leaves the PICs uninitialised and the PIT stopped, so a
 * guest that turns interrupts on in real mode would wait for ever.
 * Pure: the board moves these in and out of KVM.
 */
#ifndef KILN_X86_FIRMWARE_STATE_H
#define KILN_X86_FIRMWARE_STATE_H

#include <linux/kvm.h>
#include <stdbool.h>

#include "x86/boot.h"

#define FIRMWARE_PIC_MASTER_BASE 0x08
#define FIRMWARE_PIC_SLAVE_BASE  0x70
/* Open: IRQ 0 (timer), 1 (keyboard), 2 (cascade); 8 (RTC) on the slave. */
#define FIRMWARE_PIC_MASTER_IMR  0xf8
#define FIRMWARE_PIC_SLAVE_IMR   0xfe
#define FIRMWARE_PIT_MODE        3       /* square wave, as PC BIOSes program it */
#define FIRMWARE_PIT_DIVISOR     0x10000 /* written as 0: 1193182 Hz / 65536 */

/* True for the images a firmware's loader hands over (multiboot); Linux's
 * direct entries (bzImage, PVH) set up their own PIC and PIT. */
bool firmware_state_wanted(enum boot_format format);

/* Turn the state read from KVM into what the BIOS leaves. */
void firmware_pic_state(struct kvm_pic_state *pic, bool slave);
void firmware_pit_state(struct kvm_pit_state2 *pit);

#endif
