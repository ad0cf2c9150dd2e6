// SPDX-License-Identifier: MIT
#include "vm/saved_state.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "vm/kvm.h"
#include "vm/vm.h"

/* One KVM_GET_MSRS/KVM_SET_MSRS batch: KVM takes the header and entries
 * in one buffer, room for the most MSRs kiln saves. */
static struct kvm_msrs *msr_batch_alloc(void)
{
	return calloc(1, sizeof(struct kvm_msrs) +
			 VCPU_SAVED_MAX_MSRS * sizeof(struct kvm_msr_entry));
}

static int vcpu_ioctl(struct vcpu *vcpu, unsigned long request, void *arg, const char *what,
		      struct kiln_err *err)
{
	if (ioctl(vcpu->fd, request, arg) < 0)
		return err_set_errno(err, -errno, "vCPU %u: %s", vcpu->index, what);
	return 0;
}

/*
 * KVM_GET_MSRS stops at the first MSR it cannot read and returns how many
 * it read; an MSR KVM lists but this vCPU's model lacks is skipped and the
 * read goes on after it.
 */
static int save_msrs(struct vcpu *vcpu, const uint32_t *indices, unsigned int nr,
		     struct vcpu_saved_state *out, struct kiln_err *err)
{
	struct kvm_msrs *batch;
	unsigned int next = 0;

	if (nr > VCPU_SAVED_MAX_MSRS)
		return err_set(err, -E2BIG, "vCPU %u: KVM lists %u MSRs, more than the %u kiln saves",
			       vcpu->index, nr, VCPU_SAVED_MAX_MSRS);
	batch = msr_batch_alloc();
	if (!batch)
		return err_set(err, -ENOMEM, "out of memory");
	out->nr_msrs = 0;
	while (next < nr) {
		unsigned int count = nr - next;
		int got;

		memset(batch->entries, 0, count * sizeof(batch->entries[0]));
		batch->nmsrs = count;
		for (unsigned int i = 0; i < count; i++)
			batch->entries[i].index = indices[next + i];
		got = ioctl(vcpu->fd, KVM_GET_MSRS, batch);
		if (got < 0) {
			free(batch);
			return err_set_errno(err, -errno, "vCPU %u: KVM_GET_MSRS", vcpu->index);
		}
		memcpy(&out->msrs[out->nr_msrs], batch->entries, (size_t)got * sizeof(batch->entries[0]));
		out->nr_msrs += (uint32_t)got;
		next += (unsigned int)got + 1; /* past the one it could not read */
	}
	free(batch);
	return 0;
}

static int restore_msrs(struct vcpu *vcpu, const struct vcpu_saved_state *state, struct kiln_err *err)
{
	struct kvm_msrs *batch;
	int set;

	if (state->nr_msrs > VCPU_SAVED_MAX_MSRS)
		return err_set(err, -EINVAL, "vCPU %u: %u saved MSRs, more than %u", vcpu->index,
			       state->nr_msrs, VCPU_SAVED_MAX_MSRS);
	batch = msr_batch_alloc();
	if (!batch)
		return err_set(err, -ENOMEM, "out of memory");
	batch->nmsrs = state->nr_msrs;
	memcpy(batch->entries, state->msrs, state->nr_msrs * sizeof(state->msrs[0]));
	set = ioctl(vcpu->fd, KVM_SET_MSRS, batch);
	free(batch);
	if (set < 0)
		return err_set_errno(err, -errno, "vCPU %u: KVM_SET_MSRS", vcpu->index);
	/* Unlike a read, a refused write is an error: the state would be partial. */
	if ((uint32_t)set != state->nr_msrs)
		return err_set(err, -EINVAL, "vCPU %u: KVM refused MSR %#x (%u of %u set)", vcpu->index,
			       state->msrs[set].index, (unsigned int)set, state->nr_msrs);
	return 0;
}

/* KVM_GET_XSAVE or KVM_SET_XSAVE through a struct kvm_xsave. */
static int xsave_transfer(struct vcpu *vcpu, unsigned long request, uint32_t *region,
			  struct kiln_err *err)
{
	struct kvm_xsave *xsave = calloc(1, sizeof(*xsave));
	bool get = request == KVM_GET_XSAVE;
	int ret;

	if (!xsave)
		return err_set(err, -ENOMEM, "out of memory");
	_Static_assert(sizeof(xsave->region) == 1024 * sizeof(uint32_t), "XSAVE region size");
	if (!get)
		memcpy(xsave->region, region, sizeof(xsave->region));
	ret = vcpu_ioctl(vcpu, request, xsave, get ? "KVM_GET_XSAVE" : "KVM_SET_XSAVE", err);
	if (!ret && get)
		memcpy(region, xsave->region, sizeof(xsave->region));
	free(xsave);
	return ret;
}

int vcpu_save_state(struct vcpu *vcpu, const uint32_t *msr_indices, unsigned int nr_msrs,
		    struct vcpu_saved_state *out, struct kiln_err *err)
{
	int ret;

	memset(out, 0, sizeof(*out));
	/* MP state first: reading it makes KVM deliver pending INIT/SIPI into
	 * the state the other reads then see. */
	ret = vcpu_ioctl(vcpu, KVM_GET_MP_STATE, &out->mp_state, "KVM_GET_MP_STATE", err);
	if (!ret)
		ret = vcpu_ioctl(vcpu, KVM_GET_REGS, &out->regs, "KVM_GET_REGS", err);
	if (!ret)
		ret = vcpu_ioctl(vcpu, KVM_GET_SREGS, &out->sregs, "KVM_GET_SREGS", err);
	if (!ret)
		ret = xsave_transfer(vcpu, KVM_GET_XSAVE, out->xsave, err);
	out->has_xcrs = kvm_check_cap(vcpu->vm->kvm_fd, KVM_CAP_XCRS) > 0;
	if (!ret && out->has_xcrs)
		ret = vcpu_ioctl(vcpu, KVM_GET_XCRS, &out->xcrs, "KVM_GET_XCRS", err);
	if (!ret)
		ret = vcpu_ioctl(vcpu, KVM_GET_DEBUGREGS, &out->debugregs, "KVM_GET_DEBUGREGS", err);
	if (!ret)
		ret = vcpu_ioctl(vcpu, KVM_GET_LAPIC, &out->lapic, "KVM_GET_LAPIC", err);
	if (!ret)
		ret = save_msrs(vcpu, msr_indices, nr_msrs, out, err);
	/* Events last: the reads above do not change them. */
	if (!ret)
		ret = vcpu_ioctl(vcpu, KVM_GET_VCPU_EVENTS, &out->events, "KVM_GET_VCPU_EVENTS", err);
	return ret;
}

int vcpu_restore_state(struct vcpu *vcpu, const struct vcpu_saved_state *state, struct kiln_err *err)
{
	struct vcpu_saved_state *copy;
	int ret;

	/* KVM's setters take non-const pointers; give them a copy. */
	copy = malloc(sizeof(*copy));
	if (!copy)
		return err_set(err, -ENOMEM, "out of memory");
	memcpy(copy, state, sizeof(*copy));
	ret = vcpu_ioctl(vcpu, KVM_SET_MP_STATE, &copy->mp_state, "KVM_SET_MP_STATE", err);
	if (!ret)
		ret = vcpu_ioctl(vcpu, KVM_SET_REGS, &copy->regs, "KVM_SET_REGS", err);
	/* Special registers before the LAPIC: they carry the APIC base. */
	if (!ret)
		ret = vcpu_ioctl(vcpu, KVM_SET_SREGS, &copy->sregs, "KVM_SET_SREGS", err);
	if (!ret)
		ret = xsave_transfer(vcpu, KVM_SET_XSAVE, copy->xsave, err);
	if (!ret && copy->has_xcrs)
		ret = vcpu_ioctl(vcpu, KVM_SET_XCRS, &copy->xcrs, "KVM_SET_XCRS", err);
	if (!ret)
		ret = vcpu_ioctl(vcpu, KVM_SET_DEBUGREGS, &copy->debugregs, "KVM_SET_DEBUGREGS", err);
	if (!ret)
		ret = vcpu_ioctl(vcpu, KVM_SET_LAPIC, &copy->lapic, "KVM_SET_LAPIC", err);
	/* MSRs after the LAPIC: the TSC deadline is armed against it. */
	if (!ret)
		ret = restore_msrs(vcpu, copy, err);
	/* Events last: setting registers may drop a pending exception. */
	if (!ret)
		ret = vcpu_ioctl(vcpu, KVM_SET_VCPU_EVENTS, &copy->events, "KVM_SET_VCPU_EVENTS", err);
	free(copy);
	return ret;
}

static int vm_ioctl(struct vm *vm, unsigned long request, void *arg, const char *what,
		    struct kiln_err *err)
{
	if (ioctl(vm->vm_fd, request, arg) < 0)
		return err_set_errno(err, -errno, "%s", what);
	return 0;
}

int vm_save_state(struct vm *vm, struct vm_saved_state *out, struct kiln_err *err)
{
	int ret;

	memset(out, 0, sizeof(*out));
	out->pic_master.chip_id = KVM_IRQCHIP_PIC_MASTER;
	out->pic_slave.chip_id = KVM_IRQCHIP_PIC_SLAVE;
	out->ioapic.chip_id = KVM_IRQCHIP_IOAPIC;
	ret = vm_ioctl(vm, KVM_GET_IRQCHIP, &out->pic_master, "KVM_GET_IRQCHIP (PIC master)", err);
	if (!ret)
		ret = vm_ioctl(vm, KVM_GET_IRQCHIP, &out->pic_slave, "KVM_GET_IRQCHIP (PIC slave)",
			       err);
	if (!ret)
		ret = vm_ioctl(vm, KVM_GET_IRQCHIP, &out->ioapic, "KVM_GET_IRQCHIP (IOAPIC)", err);
	if (!ret)
		ret = vm_ioctl(vm, KVM_GET_PIT2, &out->pit, "KVM_GET_PIT2", err);
	if (!ret)
		ret = vm_ioctl(vm, KVM_GET_CLOCK, &out->clock, "KVM_GET_CLOCK", err);
	return ret;
}

int vm_restore_state(struct vm *vm, const struct vm_saved_state *state, struct kiln_err *err)
{
	struct vm_saved_state copy = *state;
	int ret;

	if (copy.pic_master.chip_id != KVM_IRQCHIP_PIC_MASTER ||
	    copy.pic_slave.chip_id != KVM_IRQCHIP_PIC_SLAVE ||
	    copy.ioapic.chip_id != KVM_IRQCHIP_IOAPIC)
		return err_set(err, -EINVAL, "saved interrupt controllers are in the wrong slots");
	ret = vm_ioctl(vm, KVM_SET_IRQCHIP, &copy.pic_master, "KVM_SET_IRQCHIP (PIC master)", err);
	if (!ret)
		ret = vm_ioctl(vm, KVM_SET_IRQCHIP, &copy.pic_slave, "KVM_SET_IRQCHIP (PIC slave)",
			       err);
	if (!ret)
		ret = vm_ioctl(vm, KVM_SET_IRQCHIP, &copy.ioapic, "KVM_SET_IRQCHIP (IOAPIC)", err);
	if (!ret)
		ret = vm_ioctl(vm, KVM_SET_PIT2, &copy.pit, "KVM_SET_PIT2", err);
	/* Only the clock's value goes back; its flags describe the old host. */
	copy.clock.flags = 0;
	if (!ret)
		ret = vm_ioctl(vm, KVM_SET_CLOCK, &copy.clock, "KVM_SET_CLOCK", err);
	return ret;
}
