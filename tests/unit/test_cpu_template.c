// SPDX-License-Identifier: MIT
/* Firecracker-form CPU templates: reading good and bad JSON, and applying
 * one to a synthetic CPUID table. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "x86/cpu_template.h"

#define X32 "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
#define X64 X32 X32

static const char good[] =
	"{\"cpuid_modifiers\": ["
	" {\"leaf\": \"0x1\", \"subleaf\": \"0x0\", \"flags\": 0, \"modifiers\": ["
	"  {\"register\": \"ecx\", \"bitmap\": \"0bxxxxxxxxxx0xxxxxxxxxxxxxxxxxxxx1\"},"
	"  {\"register\": \"edx\", \"bitmap\": \"0b1111_0000_xxxx_xxxx_xxxx_xxxx_xxxx_xxxx\"}]},"
	" {\"leaf\": \"7\", \"subleaf\": \"0\", \"flags\": 1, \"modifiers\": ["
	"  {\"register\": \"ebx\", \"bitmap\": \"0b" X32 "\"}]}],"
	" \"msr_modifiers\": [{\"addr\": \"0x10a\", \"bitmap\": \"0b" "1" X32
	"xxxxxxxxxxxxxxxxxxxxxxxxxxxxx" "00\"}],"
	" \"kvm_capabilities\": [], \"reg_modifiers\": []}";

Test(cpu_template, reads_firecrackers_form)
{
	struct cpu_config t;
	struct kiln_err err = { 0 };

	cr_assert_eq(cpu_template_parse(good, "t.json", &t, &err), 0, "%s", err.msg);
	cr_assert_eq(t.nr_cpuid, 3);
	cr_assert(t.cpuid[0].leaf == 1 && t.cpuid[0].subleaf == 0 && t.cpuid[0].flags == 0);
	cr_assert_eq(t.cpuid[0].reg, CPUID_ECX);
	cr_assert_eq(t.cpuid[0].mask, (1u << 21) | 1u, "0 and 1 decide, x keeps");
	cr_assert_eq(t.cpuid[0].value, 1u);
	cr_assert_eq(t.cpuid[1].reg, CPUID_EDX);
	cr_assert_eq(t.cpuid[1].mask, 0xff000000u, "_ separates, counts nothing");
	cr_assert_eq(t.cpuid[1].value, 0xf0000000u);
	cr_assert(t.cpuid[2].leaf == 7 && t.cpuid[2].flags == 1, "decimal numbers too");
	cr_assert_eq(t.cpuid[2].mask, 0, "all x: nothing changes");
	cr_assert_eq(t.nr_msrs, 1);
	cr_assert_eq(t.msrs[0].addr, 0x10a);
	cr_assert_eq(t.msrs[0].mask, (1ull << 63) | 3ull);
	cr_assert_eq(t.msrs[0].value, 1ull << 63);
	cpu_template_free(&t);
}

Test(cpu_template, empty_is_fine)
{
	struct cpu_config t;

	cr_assert_eq(cpu_template_parse("{}", "t", &t, NULL), 0);
	cr_assert_eq(t.nr_cpuid + t.nr_msrs, 0);
	cr_assert_eq(cpu_template_parse("{\"cpuid_modifiers\": [], \"msr_modifiers\": []}", "t",
				       &t, NULL), 0);
}

/* Each bad document and a piece of the message it must give. */
static const struct { const char *json, *message; } bad[] = {
	{ "[]", "t: must be a JSON object" },
	{ "{\"cpuid_modifiers\": {}}", "t: cpuid_modifiers must be an array" },
	{ "{\"msr_modifiers\": 3}", "t: msr_modifiers must be an array" },
	{ "{\"cpu_modifiers\": []}", "has an unknown field `cpu_modifiers`" },
	{ "{\"cpuid_modifiers\": [3]}", "cpuid_modifiers[0] must be a JSON object" },
	{ "{\"cpuid_modifiers\": [{\"subleaf\": \"0\", \"modifiers\": []}]}",
	  "cpuid_modifiers[0].leaf is missing" },
	{ "{\"cpuid_modifiers\": [{\"leaf\": 1, \"subleaf\": \"0\", \"modifiers\": []}]}",
	  "cpuid_modifiers[0].leaf must be a string holding a number" },
	{ "{\"cpuid_modifiers\": [{\"leaf\": \"one\", \"subleaf\": \"0\", \"modifiers\": []}]}",
	  "cpuid_modifiers[0].leaf is not a number" },
	{ "{\"cpuid_modifiers\": [{\"leaf\": \"0x\", \"subleaf\": \"0\", \"modifiers\": []}]}",
	  "leaf is not a number" },
	{ "{\"cpuid_modifiers\": [{\"leaf\": \"-1\", \"subleaf\": \"0\", \"modifiers\": []}]}",
	  "leaf is not a number" },
	{ "{\"cpuid_modifiers\": [{\"leaf\": \"0x100000000\", \"subleaf\": \"0\", "
	  "\"modifiers\": []}]}", "leaf is out of range" },
	{ "{\"cpuid_modifiers\": [{\"leaf\": \"1\", \"modifiers\": []}]}",
	  "cpuid_modifiers[0].subleaf is missing" },
	{ "{\"cpuid_modifiers\": [{\"leaf\": \"1\", \"subleaf\": \"0\", \"flags\": \"0\", "
	  "\"modifiers\": []}]}", "flags must be a non-negative integer" },
	{ "{\"cpuid_modifiers\": [{\"leaf\": \"1\", \"subleaf\": \"0\"}]}",
	  "cpuid_modifiers[0].modifiers is missing" },
	{ "{\"cpuid_modifiers\": [{\"leaf\": \"1\", \"subleaf\": \"0\", \"modifiers\": {}}]}",
	  "modifiers must be an array" },
	{ "{\"cpuid_modifiers\": [{\"leaf\": \"1\", \"subleaf\": \"0\", \"modifiers\": "
	  "[{\"register\": \"rax\", \"bitmap\": \"0b" X32 "\"}]}]}",
	  "cpuid_modifiers[0].modifiers[0].register must be one of" },
	{ "{\"cpuid_modifiers\": [{\"leaf\": \"1\", \"subleaf\": \"0\", \"modifiers\": "
	  "[{\"bitmap\": \"0b" X32 "\"}]}]}", "modifiers[0].register is missing" },
	{ "{\"cpuid_modifiers\": [{\"leaf\": \"1\", \"subleaf\": \"0\", \"modifiers\": "
	  "[{\"register\": \"eax\"}]}]}", "modifiers[0].bitmap is missing" },
	{ "{\"cpuid_modifiers\": [{\"leaf\": \"1\", \"subleaf\": \"0\", \"modifiers\": "
	  "[{\"register\": \"eax\", \"bitmap\": \"0bx\"}]}]}",
	  "bitmap must have 32 bits after 0b (it has 1)" },
	{ "{\"cpuid_modifiers\": [{\"leaf\": \"1\", \"subleaf\": \"0\", \"modifiers\": "
	  "[{\"register\": \"eax\", \"bitmap\": \"0b" X32 "1\"}]}]}",
	  "bitmap must have 32 bits after 0b (it has more than 32)" },
	{ "{\"cpuid_modifiers\": [{\"leaf\": \"1\", \"subleaf\": \"0\", \"modifiers\": "
	  "[{\"register\": \"eax\", \"bitmap\": \"0b" "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx2" "\"}]}]}",
	  "bitmap has '2': only 0, 1, x and _ may follow 0b" },
	{ "{\"cpuid_modifiers\": [{\"leaf\": \"1\", \"subleaf\": \"0\", \"modifiers\": "
	  "[{\"register\": \"eax\", \"bitmap\": \"" X32 "\"}]}]}",
	  "bitmap must be a string starting with 0b" },
	{ "{\"cpuid_modifiers\": [{\"leaf\": \"1\", \"subleaf\": \"0\", \"modifiers\": "
	  "[{\"register\": \"eax\", \"bitmap\": 5}]}]}", "bitmap must be a string starting" },
	{ "{\"cpuid_modifiers\": [{\"leaf\": \"1\", \"subleaf\": \"0\", \"modifiers\": "
	  "[{\"register\": \"eax\", \"bitmap\": \"0b" X32 "\", \"mask\": 1}]}]}",
	  "modifiers[0] has an unknown field `mask`" },
	{ "{\"msr_modifiers\": [{\"bitmap\": \"0b" X64 "\"}]}", "msr_modifiers[0].addr is missing" },
	{ "{\"msr_modifiers\": [{\"addr\": \"0x10a\", \"bitmap\": \"0b" X32 "\"}]}",
	  "msr_modifiers[0].bitmap must have 64 bits after 0b (it has 32)" },
	{ "{\"msr_modifiers\": [{\"addr\": \"0x10a\"}]}", "msr_modifiers[0].bitmap is missing" },
	{ "{\"kvm_capabilities\": [\"171\"]}", "kvm_capabilities is not supported by kiln" },
	{ "{\"reg_modifiers\": [{}]}", "reg_modifiers is for aarch64 only" },
	{ "{\"vcpu_features\": 1}", "vcpu_features must be an array" },
	{ "{\"msr_modifiers\": [], \"msr_modifiers\": []}", "t: not valid JSON" },
	{ "{", "t: not valid JSON" },
};

Test(cpu_template, every_kind_of_bad_input_is_named)
{
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct cpu_config t;
		struct kiln_err err = { 0 };

		cr_assert_eq(cpu_template_parse(bad[i].json, "t", &t, &err), -EINVAL, "%s",
			     bad[i].json);
		cr_assert(strstr(err.msg, bad[i].message), "%s\n gave: %s\n want: %s", bad[i].json,
			  err.msg, bad[i].message);
		cr_assert_eq(t.nr_cpuid + t.nr_msrs, 0, "nothing kept on error");
		cr_assert_null(t.cpuid);
	}
}

static struct kvm_cpuid2 *table(unsigned int capacity)
{
	struct kvm_cpuid2 *t = calloc(1, sizeof(*t) + capacity * sizeof(t->entries[0]));

	t->entries[0] = (struct kvm_cpuid_entry2){ .function = 0, .eax = 0xd };
	t->entries[1] = (struct kvm_cpuid_entry2){ .function = 1, .ecx = 0x80200000,
						   .edx = 0x0f8bfbff };
	t->entries[2] = (struct kvm_cpuid_entry2){ .function = 7, .index = 0,
						   .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX,
						   .ebx = 0x1234 };
	t->entries[3] = (struct kvm_cpuid_entry2){ .function = 0x80000000, .eax = 0x80000008 };
	t->entries[4] = (struct kvm_cpuid_entry2){ .function = 0x80000008, .eax = 0x3039 };
	t->nent = 5;
	return t;
}

Test(cpu_template, applies_to_a_table)
{
	struct kvm_cpuid2 *t = table(8);
	struct cpu_config config;
	struct kiln_err err = { 0 };

	cr_assert_eq(cpu_template_parse(good, "t", &config, &err), 0, "%s", err.msg);
	cr_assert_eq(cpu_template_apply_cpuid(t, 8, &config, &err), 0, "%s", err.msg);
	cr_assert_eq(cpuid_find(t, 1, 0)->ecx, 0x80000001, "x2apic cleared, bit 0 set");
	cr_assert_eq(cpuid_find(t, 1, 0)->edx, 0xf08bfbff);
	cr_assert_eq(cpuid_find(t, 7, 0)->ebx, 0x1234);
	cr_assert_eq(t->nent, 5);
	cpu_template_free(&config);
	free(t);
}

Test(cpu_template, adds_a_missing_leaf_and_trims_above_the_maxima)
{
	struct kvm_cpuid2 *t = table(8);
	struct cpu_config config;
	struct kiln_err err = { 0 };
	const char *json =
		"{\"cpuid_modifiers\": ["
		"{\"leaf\": \"0x6\", \"subleaf\": \"0x0\", \"flags\": 0, \"modifiers\": "
		"[{\"register\": \"eax\", \"bitmap\": \"0bxxxxxxxxxxxxxxxxxxxxxxxxxxxxx1xx\"}]},"
		"{\"leaf\": \"0x80000000\", \"subleaf\": \"0x0\", \"flags\": 0, \"modifiers\": "
		"[{\"register\": \"eax\", \"bitmap\": \"0b10000000000000000000000000000001\"}]}]}";

	cr_assert_eq(cpu_template_parse(json, "t", &config, &err), 0, "%s", err.msg);
	cr_assert_eq(cpu_template_apply_cpuid(t, 8, &config, &err), 0, "%s", err.msg);
	cr_assert_eq(cpuid_find(t, 6, 0)->eax, 4, "leaf 6 added with ARAT");
	cr_assert_null(cpuid_find(t, 0x80000008, 0), "above the new extended maximum");
	cr_assert_not_null(cpuid_find(t, 7, 0), "basic leaves stay below leaf 0's 0xd");
	cpu_template_free(&config);
	free(t);
}

Test(cpu_template, no_room_for_a_new_leaf)
{
	struct kvm_cpuid2 *t = table(5);
	struct cpu_config config;
	struct kiln_err err = { 0 };
	const char *json = "{\"cpuid_modifiers\": [{\"leaf\": \"0x6\", \"subleaf\": \"0x0\", "
			   "\"modifiers\": [{\"register\": \"eax\", \"bitmap\": \"0b" X32 "\"}]}]}";

	cr_assert_eq(cpu_template_parse(json, "t", &config, &err), 0, "%s", err.msg);
	cr_assert_eq(cpu_template_apply_cpuid(t, 5, &config, &err), -ENOSPC);
	cr_assert(strstr(err.msg, "0x6"), "%s", err.msg);
	cpu_template_free(&config);
	free(t);
}

Test(cpu_template, msr_modifier_keeps_the_x_bits)
{
	struct msr_modifier m = { .addr = 0x10a, .mask = 0xff, .value = 0x0f };

	cr_assert_eq(msr_modifier_apply(&m, 0xabcdef12345678f0ull), 0xabcdef123456780full);
}

Test(cpu_template, pvm_safe_is_a_template)
{
	struct cpu_config config;
	struct kiln_err err = { 0 };

	cr_assert_eq(cpu_template_parse(cpu_template_pvm_safe_json, "pvm-safe", &config, &err), 0,
		     "%s", err.msg);
	cr_assert_eq(config.nr_cpuid, 2);
	cr_assert(config.cpuid[0].leaf == 0 && config.cpuid[0].mask == ~0u &&
		  config.cpuid[0].value == 6, "maximum basic leaf 6");
	cr_assert(config.cpuid[1].leaf == 1 && config.cpuid[1].reg == CPUID_ECX &&
		  config.cpuid[1].mask == (1u << 22) && config.cpuid[1].value == 0, "MOVBE off");
	cpu_template_free(&config);
}

Test(cpu_template, read_file_checks_the_template)
{
	char path[] = "/tmp/kiln-cpu-template-XXXXXX";
	int fd = mkstemp(path);
	struct kiln_err err = { 0 };
	char *text = NULL;

	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, good, strlen(good)), (ssize_t)strlen(good));
	cr_assert_eq(cpu_template_read_file("--cpu-template", path, &text, &err), 0, "%s", err.msg);
	cr_assert_str_eq(text, good);
	free(text);
	cr_assert_eq(ftruncate(fd, 0), 0);
	cr_assert_eq(pwrite(fd, "{\"cpuid_modifiers\": 1}", 22, 0), 22);
	cr_assert_eq(cpu_template_read_file("--cpu-template", path, &text, &err), -EINVAL);
	cr_assert(strstr(err.msg, path) && strstr(err.msg, "must be an array"), "%s", err.msg);
	close(fd);
	unlink(path);
	err = (struct kiln_err){ 0 };
	cr_assert_eq(cpu_template_read_file("--cpu-template", path, &text, &err), -ENOENT);
	cr_assert(strstr(err.msg, "cannot open"), "%s", err.msg);
}
