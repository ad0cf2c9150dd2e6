/* SPDX-License-Identifier: MIT */
/*
 * Custom CPU templates in Firecracker's JSON form (its CpuConfig):
 *
 *   {"cpuid_modifiers": [{"leaf": "0x1", "subleaf": "0x0", "flags": 0,
 *                         "modifiers": [{"register": "ecx",
 *                                        "bitmap": "0bxxxxxxxxxx0xxxxxxxxxxxxxxxxxxxxx"}]}],
 *    "msr_modifiers": [{"addr": "0x10a", "bitmap": "0b" 64 of 0/1/x}]}
 *
 * Numbers are strings holding an integer ("0x" hex or decimal); a bitmap is
 * "0b" then 32 (CPUID) or 64 (MSR) of 0, 1 or x, most significant bit
 * first, '_' allowed between them: 0 clears the bit, 1 sets it, x keeps
 * it. Firecracker's aarch64 fields (reg_modifiers, vcpu_features) and
 * kvm_capabilities are accepted only empty. Pure code: the board applies
 * the MSR modifiers through the vm layer.
 */
#ifndef KILN_X86_CPU_TEMPLATE_H
#define KILN_X86_CPU_TEMPLATE_H

#include <jansson.h>
#include <linux/kvm.h>
#include <stdint.h>

#include "util/error.h"
#include "x86/cpuid.h"

/* One register of one leaf: bits in mask take their value from value. */
struct cpuid_modifier {
	uint32_t leaf, subleaf, flags;
	enum cpuid_reg reg;
	uint32_t mask, value;
};

struct msr_modifier {
	uint32_t addr;
	uint64_t mask, value;
};

struct cpu_config {
	unsigned int nr_cpuid, nr_msrs;
	struct cpuid_modifier *cpuid;
	struct msr_modifier *msrs;
};

/* The pvm-safe profile as a template (see cpu_profile.h). */
extern const char cpu_template_pvm_safe_json[];

/*
 * Read a template from its JSON document or text; what names the source in
 * errors ("--cpu-template t.json", "cpu-config"). 0, or -EINVAL with err
 * saying which field is wrong and why; t is empty on error. Free with
 * cpu_template_free.
 */
int cpu_template_from_json(json_t *doc, const char *what, struct cpu_config *t,
			   struct kiln_err *err);
int cpu_template_parse(const char *text, const char *what, struct cpu_config *t,
		       struct kiln_err *err);
void cpu_template_free(struct cpu_config *t);

/* Read the file at path and check it is a valid template: *text is its
 * content (free() it). 0, or a negative errno with err starting with
 * option and the path ("--cpu-template t.json: ..."). */
int cpu_template_read_file(const char *option, const char *path, char **text,
			   struct kiln_err *err);

/*
 * Apply the CPUID modifiers to table (room for capacity entries); a leaf
 * the table lacks is added (zeroed, with the modifier's flags). Then the
 * leaves above the maxima leaf 0 and 0x80000000 report are dropped
 * (cpuid_trim_to_max_leaves). 0, or -ENOSPC with err.
 */
int cpu_template_apply_cpuid(struct kvm_cpuid2 *table, unsigned int capacity,
			     const struct cpu_config *t, struct kiln_err *err);

/* value with the modifier's bits set and cleared. */
uint64_t msr_modifier_apply(const struct msr_modifier *m, uint64_t value);

#endif
