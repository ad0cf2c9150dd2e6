// SPDX-License-Identifier: MIT
#include "vm/irq.h"

#include <errno.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "vm/vm.h"

/* GSIs below this belong to the in-kernel IOAPIC/PIC routes. */
#define MSI_GSI_BASE 24

int vm_ioeventfd_add(struct vm *vm, uint64_t addr, unsigned int len, int fd)
{
	struct kvm_ioeventfd io = { .addr = addr, .len = len, .fd = fd };

	return ioctl(vm->vm_fd, KVM_IOEVENTFD, &io) < 0 ? -errno : 0;
}

int vm_ioeventfd_remove(struct vm *vm, uint64_t addr, unsigned int len, int fd)
{
	struct kvm_ioeventfd io = { .addr = addr, .len = len, .fd = fd,
				    .flags = KVM_IOEVENTFD_FLAG_DEASSIGN };

	return ioctl(vm->vm_fd, KVM_IOEVENTFD, &io) < 0 ? -errno : 0;
}

/* The default routes KVM_CREATE_IRQCHIP sets up: IOAPIC pins and PIC lines. */
static unsigned int default_routes(struct kvm_irq_routing_entry *e)
{
	unsigned int n = 0;

	for (unsigned int gsi = 0; gsi < MSI_GSI_BASE; gsi++) {
		e[n++] = (struct kvm_irq_routing_entry){
			.gsi = gsi, .type = KVM_IRQ_ROUTING_IRQCHIP,
			.u.irqchip = { .irqchip = KVM_IRQCHIP_IOAPIC, .pin = gsi },
		};
		if (gsi < 16 && gsi != 2)
			e[n++] = (struct kvm_irq_routing_entry){
				.gsi = gsi, .type = KVM_IRQ_ROUTING_IRQCHIP,
				.u.irqchip = { .irqchip = gsi < 8 ? KVM_IRQCHIP_PIC_MASTER
								  : KVM_IRQCHIP_PIC_SLAVE,
					       .pin = gsi % 8 },
			};
	}
	return n;
}

/* KVM_SET_GSI_ROUTING replaces the whole table, so kiln keeps it. */
static int push_routes(struct vm *vm)
{
	size_t max = 2 * MSI_GSI_BASE + VM_MAX_MSI_ROUTES;
	struct kvm_irq_routing *r = calloc(1, sizeof(*r) + max * sizeof(r->entries[0]));
	unsigned int n;
	int ret;

	if (!r)
		return -ENOMEM;
	n = default_routes(r->entries);
	for (unsigned int i = 0; i < VM_MAX_MSI_ROUTES; i++) {
		if (!vm->msi[i].active)
			continue;
		r->entries[n++] = (struct kvm_irq_routing_entry){
			.gsi = MSI_GSI_BASE + i, .type = KVM_IRQ_ROUTING_MSI,
			.u.msi = { .address_lo = (uint32_t)vm->msi[i].addr,
				   .address_hi = (uint32_t)(vm->msi[i].addr >> 32),
				   .data = vm->msi[i].data },
		};
	}
	r->nr = n;
	ret = ioctl(vm->vm_fd, KVM_SET_GSI_ROUTING, r) < 0 ? -errno : 0;
	free(r);
	return ret;
}

static int irqfd(struct vm *vm, unsigned int route, int fd, bool assign)
{
	struct kvm_irqfd req = { .fd = (uint32_t)fd, .gsi = MSI_GSI_BASE + route,
				 .flags = assign ? 0 : KVM_IRQFD_FLAG_DEASSIGN };

	return ioctl(vm->vm_fd, KVM_IRQFD, &req) < 0 ? -errno : 0;
}

int vm_msi_route(struct vm *vm, unsigned int route, uint64_t addr, uint32_t data, int fd)
{
	struct vm_msi *m;
	int ret = 0;

	pthread_mutex_lock(&vm->msi_lock);
	if (!msi_route_pool_in_use(&vm->msi_pool, route)) {
		pthread_mutex_unlock(&vm->msi_lock);
		return -EINVAL;
	}
	m = &vm->msi[route];
	if (m->active && m->fd >= 0)
		irqfd(vm, route, m->fd, false);
	m->active = fd >= 0;
	m->addr = addr;
	m->data = data;
	m->fd = fd;
	ret = push_routes(vm);
	if (!ret && fd >= 0)
		ret = irqfd(vm, route, fd, true);
	pthread_mutex_unlock(&vm->msi_lock);
	return ret;
}

void msi_route_pool_init(struct msi_route_pool *pool, unsigned int capacity)
{
	memset(pool, 0, sizeof(*pool));
	pool->capacity = capacity < VM_MAX_MSI_ROUTES ? capacity : VM_MAX_MSI_ROUTES;
}

bool msi_route_pool_in_use(const struct msi_route_pool *pool, unsigned int route)
{
	return route < pool->capacity && (pool->used[route / 64] >> (route % 64)) & 1;
}

static void pool_mark(struct msi_route_pool *pool, unsigned int first, unsigned int count,
		      bool used)
{
	for (unsigned int r = first; r < first + count; r++) {
		uint64_t bit = 1ULL << (r % 64);

		if (used)
			pool->used[r / 64] |= bit;
		else
			pool->used[r / 64] &= ~bit;
	}
}

int msi_route_pool_alloc(struct msi_route_pool *pool, unsigned int count, unsigned int *first)
{
	unsigned int run = 0;

	if (count == 0)
		return -EINVAL;
	for (unsigned int r = 0; r < pool->capacity; r++) {
		run = msi_route_pool_in_use(pool, r) ? 0 : run + 1;
		if (run == count) {
			*first = r + 1 - count;
			pool_mark(pool, *first, count, true);
			return 0;
		}
	}
	return -ENOSPC;
}

int msi_route_pool_free(struct msi_route_pool *pool, unsigned int first, unsigned int count)
{
	if (count == 0 || first >= pool->capacity || count > pool->capacity - first)
		return -EINVAL;
	for (unsigned int r = first; r < first + count; r++)
		if (!msi_route_pool_in_use(pool, r))
			return -EINVAL;
	pool_mark(pool, first, count, false);
	return 0;
}

int vm_msi_alloc(struct vm *vm, unsigned int count, unsigned int *first)
{
	int ret;

	pthread_mutex_lock(&vm->msi_lock);
	ret = msi_route_pool_alloc(&vm->msi_pool, count, first);
	pthread_mutex_unlock(&vm->msi_lock);
	return ret;
}

/* Unbind the block's bound routes; the caller holds msi_lock. */
static int unbind_block(struct vm *vm, unsigned int first, unsigned int count)
{
	bool changed = false;
	int ret = 0;

	for (unsigned int r = first; r < first + count; r++) {
		struct vm_msi *m = &vm->msi[r];
		int unbound = 0;

		if (!m->active)
			continue;
		if (m->fd >= 0)
			unbound = irqfd(vm, r, m->fd, false);
		if (unbound && !ret)
			ret = unbound;
		*m = (struct vm_msi){ .fd = -1 };
		changed = true;
	}
	if (changed) {
		int pushed = push_routes(vm);

		if (!ret)
			ret = pushed;
	}
	return ret;
}

int vm_msi_free(struct vm *vm, unsigned int first, unsigned int count)
{
	int ret;

	pthread_mutex_lock(&vm->msi_lock);
	ret = msi_route_pool_free(&vm->msi_pool, first, count);
	if (!ret)
		ret = unbind_block(vm, first, count);
	pthread_mutex_unlock(&vm->msi_lock);
	return ret;
}
