/* SPDX-License-Identifier: MIT */
/*
 * `--cpu host[,+FEATURE|-FEATURE]...`: CPU features by their Linux
 * /proc/cpuinfo names, each a bit of one CPUID leaf. "-f" clears f and
 * every feature that needs it (clearing xsave clears the AVX family,
 * xsaveopt, xsavec, xgetbv1, xsaves and pku; clearing avx clears avx2, fma,
 * f16c and AVX-512...). "+f" asks for f: it must be a bit KVM can back on
 * this host (in its supported table with kiln's additions), and what f
 * needs must stay on. Pure functions over struct kvm_cpuid2: no ioctls.
 */
#ifndef KILN_X86_CPU_FEATURES_H
#define KILN_X86_CPU_FEATURES_H

#include <linux/kvm.h>
#include <stdbool.h>
#include <stdint.h>

#include "util/error.h"
#include "x86/cpuid.h"

struct cpu_feature {
	const char *name;         /* as in /proc/cpuinfo */
	uint32_t leaf, subleaf;
	enum cpuid_reg reg;
	unsigned int bit;
	const char *needs;        /* the feature it depends on, or NULL */
};

/* The feature of that name, or NULL. */
const struct cpu_feature *cpu_feature_find(const char *name);

#define CPU_MAX_FEATURE_CHANGES 64

struct cpu_feature_change {
	const struct cpu_feature *feature;
	bool enable;
};

/* A parsed --cpu value: the model (only "host") and the changes in order. */
struct cpu_feature_spec {
	unsigned int nr_changes;
	struct cpu_feature_change changes[CPU_MAX_FEATURE_CHANGES];
};

/*
 * Parse "host[,+f|-f]...". 0, or -EINVAL with err saying what is wrong
 * ("--cpu: unknown CPU feature 'foo'", an unknown model, a name without
 * its + or -, too many changes).
 */
int cpu_feature_spec_parse(const char *text, struct cpu_feature_spec *spec,
			   struct kiln_err *err);

/*
 * Apply the changes in order to table (one vCPU's, after cpuid_fixup).
 * Every "+f" must be set in table as it comes in (what KVM and kiln can
 * back); 0, or -EOPNOTSUPP ("--cpu: KVM cannot provide 'avx512f' on this
 * host") or -EINVAL (a "+f" whose prerequisite ends up off); on error the
 * table is half changed and not to be used.
 */
int cpu_features_apply(struct kvm_cpuid2 *table, const struct cpu_feature_spec *spec,
		       struct kiln_err *err);

/* Whether the feature's bit is set in table (false when its leaf is absent). */
bool cpu_feature_present(struct kvm_cpuid2 *table, const struct cpu_feature *feature);

#endif
