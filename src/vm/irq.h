/* SPDX-License-Identifier: MIT */
/*
 * The KVM side of device notifications, handed to transports as plain
 * functions so devices and transports never issue KVM ioctls themselves:
 * an ioeventfd turns a guest's MMIO write into an eventfd signal inside the
 * kernel, and an irqfd turns an eventfd signal into an MSI for the guest.
 */
#ifndef KILN_VM_IRQ_H
#define KILN_VM_IRQ_H

#include <stdbool.h>
#include <stdint.h>

struct vm;

#define VM_MAX_MSI_ROUTES 256

/*
 * Which MSI routes are handed out: first fit over a bitmap, so a transport
 * gets one contiguous block (a route per vector) and returns it whole.
 * Pure bookkeeping, no KVM: struct vm holds one behind its msi_lock.
 */
struct msi_route_pool {
	uint64_t used[VM_MAX_MSI_ROUTES / 64];
	unsigned int capacity;
};

/* An empty pool of capacity routes (clamped to VM_MAX_MSI_ROUTES). */
void msi_route_pool_init(struct msi_route_pool *pool, unsigned int capacity);
/* The lowest free block of count routes: 0 with *first set, -EINVAL for
 * count 0, -ENOSPC when no such block is free. */
int msi_route_pool_alloc(struct msi_route_pool *pool, unsigned int count, unsigned int *first);
/* Give back [first, first + count): -EINVAL unless every route in it is in use. */
int msi_route_pool_free(struct msi_route_pool *pool, unsigned int first, unsigned int count);
bool msi_route_pool_in_use(const struct msi_route_pool *pool, unsigned int route);

/* The same on the VM's pool, under its lock. vm_msi_free also unbinds any
 * route of the block still bound, so a later owner starts clean. */
int vm_msi_alloc(struct vm *vm, unsigned int count, unsigned int *first);
int vm_msi_free(struct vm *vm, unsigned int first, unsigned int count);

/* Signal fd on any write of len bytes at MMIO address addr. */
int vm_ioeventfd_add(struct vm *vm, uint64_t addr, unsigned int len, int fd);
int vm_ioeventfd_remove(struct vm *vm, uint64_t addr, unsigned int len, int fd);

/*
 * Route route (one from vm_msi_alloc) as the MSI (addr, data) and bind fd
 * to it, or unbind it when fd is -1. Masked vectors are unbound. -EINVAL
 * for a route not allocated.
 */
int vm_msi_route(struct vm *vm, unsigned int route, uint64_t addr, uint32_t data, int fd);

#endif
