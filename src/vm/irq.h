/* SPDX-License-Identifier: MIT */
/*
 * The KVM side of device notifications, handed to transports as plain
 * functions so devices and transports never issue KVM ioctls themselves:
 * an ioeventfd turns a guest's MMIO write into an eventfd signal inside the
 * kernel, and an irqfd turns an eventfd signal into an MSI for the guest.
 */
#ifndef KILN_VM_IRQ_H
#define KILN_VM_IRQ_H

#include <stdint.h>

struct vm;

#define VM_MAX_MSI_ROUTES 256

/* Signal fd on any write of len bytes at MMIO address addr. */
int vm_ioeventfd_add(struct vm *vm, uint64_t addr, unsigned int len, int fd);
int vm_ioeventfd_remove(struct vm *vm, uint64_t addr, unsigned int len, int fd);

/*
 * Route route (0 .. VM_MAX_MSI_ROUTES-1) as the MSI (addr, data) and bind
 * fd to it, or unbind it when fd is -1. Masked vectors are unbound.
 */
int vm_msi_route(struct vm *vm, unsigned int route, uint64_t addr, uint32_t data, int fd);

#endif
