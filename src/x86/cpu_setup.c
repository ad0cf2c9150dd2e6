// SPDX-License-Identifier: MIT
#include "x86/cpu_setup.h"

#include <errno.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>

#include "vm/kvm.h"
#include "x86/cpu_features.h"
#include "x86/cpuid.h"
#include "x86/hyperv.h"

/* CPUID leaves kiln may add to what KVM reports (paravirt, topology,
 * template leaves). */
#define CPUID_EXTRA_ENTRIES 32

/* Every MSR of the template must be one KVM lets a VMM set. */
static int check_template_msrs(int kvm_fd, const struct cpu_config *t, struct kiln_err *err)
{
	uint32_t *listed;
	unsigned int count;
	int ret = 0;

	if (!t->nr_msrs)
		return 0;
	ret = kvm_get_msr_lists(kvm_fd, &listed, &count);
	if (ret)
		return err_set_errno(err, ret, "cannot read KVM's MSR lists");
	for (unsigned int i = 0; i < t->nr_msrs && !ret; i++) {
		unsigned int j = 0;

		while (j < count && listed[j] != t->msrs[i].addr)
			j++;
		if (j == count)
			ret = err_set(err, -EOPNOTSUPP, "CPU template: KVM does not let a VMM set "
				      "MSR 0x%x on this host", t->msrs[i].addr);
	}
	free(listed);
	return ret;
}

static int apply_template_msrs(struct vcpu *vcpu, unsigned int index,
			       const struct cpu_config *t, struct kiln_err *err)
{
	for (unsigned int i = 0; i < t->nr_msrs; i++) {
		const struct msr_modifier *m = &t->msrs[i];
		uint64_t value;
		int ret = vcpu_get_msr(vcpu, m->addr, &value);

		if (ret)
			return err_set_errno(err, ret, "CPU template: cannot read MSR 0x%x of vCPU %u",
					     m->addr, index);
		value = msr_modifier_apply(m, value);
		ret = vcpu_set_msr(vcpu, m->addr, value);
		if (ret)
			return err_set(err, ret, "CPU template: KVM refused MSR 0x%x = 0x%llx on "
				       "vCPU %u", m->addr, (unsigned long long)value, index);
	}
	return 0;
}

struct cpu_shape {
	struct kvm_cpuid2 *supported;   /* with the KVM-backed extras */
	unsigned int capacity;
	unsigned int hyperv;            /* enum hyperv_feature mask; 0: none */
	struct kvm_cpuid2 *hyperv_leaves; /* KVM_GET_SUPPORTED_HV_CPUID's answer */
	struct cpu_feature_spec features;
	struct cpu_config template;
};

/* What KVM must do per vCPU for the Hyper-V leaves it was given: SynIC
 * (its second version, which leaves the message and event pages as they
 * are when the guest enables them, as the TLFS says; the first cleared
 * them), enforcing those leaves on MSRs and hypercalls where KVM can, and
 * the VP index the guest's SynIC and flush masks name it by. */
static int setup_hyperv_vcpu(struct vm *vm, unsigned int i, unsigned int features,
			     struct kiln_err *err)
{
	struct vcpu *vcpu = &vm->vcpus[i];
	int ret;

	if ((features & HYPERV_SYNIC) && (ret = vcpu_enable_cap(vcpu, KVM_CAP_HYPERV_SYNIC2, 0)))
		return err_set_errno(err, ret, "--hyperv: cannot enable SynIC on vCPU %u", i);
	if (kvm_check_cap(vm->kvm_fd, KVM_CAP_HYPERV_ENFORCE_CPUID) > 0 &&
	    (ret = vcpu_enable_cap(vcpu, KVM_CAP_HYPERV_ENFORCE_CPUID, 1)))
		return err_set_errno(err, ret, "--hyperv: cannot make KVM enforce the Hyper-V "
				     "CPUID leaves on vCPU %u", i);
	if ((features & HYPERV_VPINDEX) && (ret = vcpu_set_msr(vcpu, HV_MSR_VP_INDEX, i)))
		return err_set_errno(err, ret, "--hyperv: cannot set vCPU %u's VP index", i);
	return 0;
}

static int shape_vcpu(struct vm *vm, unsigned int i, const struct cpu_shape *shape,
		      struct kvm_cpuid2 *table, struct kiln_err *err)
{
	size_t bytes = sizeof(*table) + shape->capacity * sizeof(table->entries[0]);
	int ret;

	memcpy(table, shape->supported, bytes);
	ret = cpuid_fixup(table, shape->capacity, i, vm->nr_vcpus, err);
	if (!ret && shape->hyperv)
		ret = hyperv_cpuid_apply(table, shape->capacity, shape->hyperv_leaves,
					 shape->hyperv, err);
	if (!ret)
		ret = cpu_features_apply(table, &shape->features, err);
	if (!ret)
		ret = cpu_template_apply_cpuid(table, shape->capacity, &shape->template, err);
	if (!ret && (ret = vcpu_set_cpuid(&vm->vcpus[i], table)))
		err_set_errno(err, ret, "cannot set vCPU %u's CPUID", i);
	if (!ret && shape->hyperv)
		ret = setup_hyperv_vcpu(vm, i, shape->hyperv, err);
	if (!ret)
		ret = apply_template_msrs(&vm->vcpus[i], i, &shape->template, err);
	return ret;
}

/* KVM's Hyper-V leaves, from the system fd where KVM answers there, else
 * from the first vCPU's; and every capability the features stand on. */
static int prepare_hyperv(struct vm *vm, unsigned int features, struct cpu_shape *shape,
			  struct kiln_err *err)
{
	int kvm_fd = vm->kvm_fd, ret;

	if (kvm_check_cap(kvm_fd, KVM_CAP_HYPERV_CPUID) <= 0)
		return err_set(err, -EOPNOTSUPP, "--hyperv: this host's KVM (%s) has no Hyper-V "
			       "emulation (no KVM_CAP_HYPERV_CPUID)", kvm_backend_name());
	for (unsigned int i = 0; i < hyperv_nr_features; i++) {
		const struct hyperv_feature_desc *f = &hyperv_features[i];

		if ((features & f->feature) && kvm_check_cap(kvm_fd, f->kvm_cap) <= 0)
			return err_set(err, -EOPNOTSUPP, "--hyperv: '%s' needs %s, which this "
				       "host's KVM lacks", f->name, f->kvm_cap_name);
	}
	if (kvm_check_cap(kvm_fd, KVM_CAP_SYS_HYPERV_CPUID) > 0)
		ret = kvm_get_supported_hv_cpuid(kvm_fd, &shape->hyperv_leaves);
	else
		ret = vcpu_get_supported_hv_cpuid(&vm->vcpus[0], &shape->hyperv_leaves);
	if (ret)
		return err_set_errno(err, ret, "--hyperv: KVM_GET_SUPPORTED_HV_CPUID failed");
	shape->hyperv = features;
	return 0;
}

static int prepare_shape(struct vm *vm, const struct cpu_setup *setup,
			 struct cpu_shape *shape, struct kiln_err *err)
{
	struct cpuid_kvm_extras extras = {
		.tsc_deadline = kvm_check_cap(setup->kvm_fd, KVM_CAP_TSC_DEADLINE_TIMER) > 0,
	};
	int ret;

	memset(shape, 0, sizeof(*shape));
	if (setup->features && (ret = cpu_feature_spec_parse(setup->features, &shape->features,
							     err)))
		return ret;
	ret = cpu_profile_template(setup->profile, setup->custom_json, &shape->template, err);
	if (!ret)
		ret = check_template_msrs(setup->kvm_fd, &shape->template, err);
	if (!ret && setup->hyperv)
		ret = prepare_hyperv(vm, setup->hyperv, shape, err);
	if (ret)
		return ret;
	ret = kvm_get_supported_cpuid(setup->kvm_fd, &shape->supported, CPUID_EXTRA_ENTRIES,
				      &shape->capacity);
	if (ret)
		return err_set_errno(err, ret, "KVM_GET_SUPPORTED_CPUID failed");
	cpuid_add_kvm_backed(shape->supported, &extras);
	return 0;
}

int cpu_setup_vcpus(struct vm *vm, const struct cpu_setup *setup, struct kiln_err *err)
{
	struct kvm_cpuid2 *table = NULL;
	struct cpu_shape shape;
	int ret = prepare_shape(vm, setup, &shape, err);

	if (!ret && !(table = malloc(sizeof(*table) +
				     shape.capacity * sizeof(table->entries[0]))))
		ret = err_set(err, -ENOMEM, "out of memory for the CPUID table");
	for (unsigned int i = 0; !ret && i < vm->nr_vcpus; i++)
		ret = shape_vcpu(vm, i, &shape, table, err);
	free(table);
	free(shape.supported);
	free(shape.hyperv_leaves);
	cpu_template_free(&shape.template);
	return ret;
}
