// SPDX-License-Identifier: MIT
#include "x86/cpu_profile.h"

#include <errno.h>
#include <string.h>

enum cpu_template cpu_template_resolve(enum cpu_template requested, bool pvm_host,
				       bool no_pvm_profile, bool cpu_model_given)
{
	if (requested != CPU_TEMPLATE_AUTO)
		return requested;
	if (cpu_model_given)
		return CPU_TEMPLATE_HOST;
	return pvm_host && !no_pvm_profile ? CPU_TEMPLATE_PVM_SAFE : CPU_TEMPLATE_HOST;
}

int cpu_profile_template(enum cpu_template profile, const char *custom_json,
			 struct cpu_config *t, struct kiln_err *err)
{
	memset(t, 0, sizeof(*t));
	switch (profile) {
	case CPU_TEMPLATE_PVM_SAFE:
		return cpu_template_parse(cpu_template_pvm_safe_json, "pvm-safe", t, err);
	case CPU_TEMPLATE_CUSTOM:
		if (!custom_json)
			return err_set(err, -EINVAL, "a custom CPU template was chosen but none given");
		return cpu_template_parse(custom_json, "CPU template", t, err);
	default:
		return 0;
	}
}
