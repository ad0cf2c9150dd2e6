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

	if (route >= VM_MAX_MSI_ROUTES)
		return -EINVAL;
	pthread_mutex_lock(&vm->msi_lock);
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
