// SPDX-License-Identifier: MIT
#include "x86/cpu_template.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Maximum basic leaf 6 (bitmap of EAX = 6) and MOVBE (CPUID.1:ECX[22]) off. */
const char cpu_template_pvm_safe_json[] =
	"{\"cpuid_modifiers\": ["
	"{\"leaf\": \"0x0\", \"subleaf\": \"0x0\", \"flags\": 0, \"modifiers\": ["
	"{\"register\": \"eax\", \"bitmap\": \"0b00000000000000000000000000000110\"}]},"
	"{\"leaf\": \"0x1\", \"subleaf\": \"0x0\", \"flags\": 0, \"modifiers\": ["
	"{\"register\": \"ecx\", \"bitmap\": \"0bxxxxxxxxx0xxxxxxxxxxxxxxxxxxxxxx\"}]}]}";

#define MAX_TEMPLATE_BYTES (1u << 20)

/* Where in the document a value sits, for error messages. */
struct where {
	const char *what;         /* the source: a file or "cpu-config" */
	char path[96];            /* "cpuid_modifiers[2].modifiers[0]" */
};

static int bad(const struct where *at, const char *field, struct kiln_err *err,
	       const char *problem)
{
	const char *dot = *at->path && field ? "." : "";
	const char *space = *at->path || field ? " " : "";

	return err_set(err, -EINVAL, "%s: %s%s%s%s%s", at->what, at->path, dot,
		       field ? field : "", space, problem);
}

/* "0x1f" or "31" (no sign, no spaces), at most max. */
static int parse_number(json_t *value, uint64_t max, uint64_t *out)
{
	const char *text = json_string_value(value), *digits;
	char *end;

	if (!text)
		return -EINVAL;
	digits = (text[0] == '0' && (text[1] == 'x' || text[1] == 'X')) ? text + 2 : text;
	if (!*digits || strspn(digits, digits == text ? "0123456789" :
			       "0123456789abcdefABCDEF") != strlen(digits))
		return -EINVAL;
	errno = 0;
	*out = strtoull(digits, &end, digits == text ? 10 : 16);
	return errno || *out > max ? -ERANGE : 0;
}

static int read_number(json_t *obj, const char *field, uint64_t max, const struct where *at,
		       uint64_t *out, struct kiln_err *err)
{
	json_t *value = json_object_get(obj, field);
	int ret;

	if (!value)
		return bad(at, field, err, "is missing");
	if (!json_is_string(value))
		return bad(at, field, err, "must be a string holding a number (\"0x1\" or \"1\")");
	ret = parse_number(value, max, out);
	if (ret == -ERANGE)
		return bad(at, field, err, "is out of range");
	if (ret)
		return bad(at, field, err, "is not a number (\"0x1\" or \"1\")");
	return 0;
}

/* "0b" then bits of 0, 1, x (and '_' between them), most significant first. */
static int read_bitmap(json_t *obj, unsigned int bits, const struct where *at, uint64_t *mask,
		       uint64_t *value, struct kiln_err *err)
{
	json_t *field = json_object_get(obj, "bitmap");
	const char *text = json_string_value(field);
	unsigned int count = 0;
	char problem[96];

	if (!field)
		return bad(at, "bitmap", err, "is missing");
	if (!text || strncmp(text, "0b", 2))
		return bad(at, "bitmap", err, "must be a string starting with 0b");
	*mask = *value = 0;
	for (const char *c = text + 2; *c; c++) {
		if (*c == '_')
			continue;
		if (*c != '0' && *c != '1' && *c != 'x') {
			snprintf(problem, sizeof(problem), "has '%c': only 0, 1, x and _ may follow 0b",
				 *c);
			return bad(at, "bitmap", err, problem);
		}
		if (++count > bits)
			break;
		*mask = (*mask << 1) | (*c != 'x');
		*value = (*value << 1) | (*c == '1');
	}
	if (count != bits) {
		snprintf(problem, sizeof(problem), "must have %u bits after 0b (it has %s%u)", bits,
			 count > bits ? "more than " : "", count > bits ? bits : count);
		return bad(at, "bitmap", err, problem);
	}
	return 0;
}

/* obj is an object whose fields are all among allowed (NULL-terminated). */
static int check_object(json_t *obj, const char *const *allowed, const struct where *at,
			struct kiln_err *err)
{
	const char *key;
	json_t *value;
	char problem[128];

	if (!json_is_object(obj))
		return bad(at, NULL, err, "must be a JSON object");
	json_object_foreach(obj, key, value) {
		const char *const *name = allowed;

		while (*name && strcmp(*name, key))
			name++;
		if (!*name) {
			snprintf(problem, sizeof(problem), "has an unknown field `%.48s`", key);
			return bad(at, NULL, err, problem);
		}
	}
	return 0;
}

static json_t *array_field(json_t *obj, const char *field, const struct where *at,
			   struct kiln_err *err)
{
	json_t *value = json_object_get(obj, field);

	if (value && !json_is_array(value)) {
		bad(at, field, err, "must be an array");
		return NULL;
	}
	return value;
}

static int read_register(json_t *mod, const struct where *at, struct cpuid_modifier *out,
			 struct kiln_err *err)
{
	static const char *const fields[] = { "register", "bitmap", NULL };
	const char *name = json_string_value(json_object_get(mod, "register"));
	uint64_t mask, value;
	int reg, ret = check_object(mod, fields, at, err);

	if (ret)
		return ret;
	if (!json_object_get(mod, "register"))
		return bad(at, "register", err, "is missing");
	reg = name ? cpuid_reg_from_name(name) : -1;
	if (reg < 0)
		return bad(at, "register", err, "must be one of \"eax\", \"ebx\", \"ecx\", \"edx\"");
	ret = read_bitmap(mod, 32, at, &mask, &value, err);
	out->reg = (enum cpuid_reg)reg;
	out->mask = (uint32_t)mask;
	out->value = (uint32_t)value;
	return ret;
}

static int read_flags(json_t *leaf, const struct where *at, uint32_t *flags,
		      struct kiln_err *err)
{
	json_t *value = json_object_get(leaf, "flags");

	*flags = 0;
	if (!value)
		return 0;
	if (!json_is_integer(value) || json_integer_value(value) < 0 ||
	    json_integer_value(value) > UINT32_MAX)
		return bad(at, "flags", err, "must be a non-negative integer (KVM's CPUID flags)");
	*flags = (uint32_t)json_integer_value(value);
	return 0;
}

static int add_cpuid_leaf(struct cpu_config *t, json_t *leaf, struct where *at,
			  struct kiln_err *err)
{
	static const char *const fields[] = { "leaf", "subleaf", "flags", "modifiers", NULL };
	struct cpuid_modifier base;
	size_t prefix = strlen(at->path), i;
	uint64_t number;
	json_t *mods, *mod;
	int ret;

	if ((ret = check_object(leaf, fields, at, err)) ||
	    (ret = read_number(leaf, "leaf", UINT32_MAX, at, &number, err)))
		return ret;
	base.leaf = (uint32_t)number;
	if ((ret = read_number(leaf, "subleaf", UINT32_MAX, at, &number, err)) ||
	    (ret = read_flags(leaf, at, &base.flags, err)))
		return ret;
	base.subleaf = (uint32_t)number;
	mods = json_object_get(leaf, "modifiers");
	if (!mods)
		return bad(at, "modifiers", err, "is missing");
	if (!array_field(leaf, "modifiers", at, err))
		return -EINVAL;
	json_array_foreach(mods, i, mod) {
		struct cpuid_modifier *slot = realloc(t->cpuid, (t->nr_cpuid + 1) * sizeof(*slot));

		if (!slot)
			return err_set(err, -ENOMEM, "out of memory");
		t->cpuid = slot;
		slot = &t->cpuid[t->nr_cpuid];
		*slot = base;
		snprintf(at->path + prefix, sizeof(at->path) - prefix, ".modifiers[%zu]", i);
		if ((ret = read_register(mod, at, slot, err)))
			return ret;
		t->nr_cpuid++;
	}
	return 0;
}

static int add_msr(struct cpu_config *t, json_t *msr, const struct where *at,
		   struct kiln_err *err)
{
	static const char *const fields[] = { "addr", "bitmap", NULL };
	struct msr_modifier *slot;
	uint64_t addr;
	int ret;

	if ((ret = check_object(msr, fields, at, err)) ||
	    (ret = read_number(msr, "addr", UINT32_MAX, at, &addr, err)))
		return ret;
	slot = realloc(t->msrs, (t->nr_msrs + 1) * sizeof(*slot));
	if (!slot)
		return err_set(err, -ENOMEM, "out of memory");
	t->msrs = slot;
	slot = &t->msrs[t->nr_msrs];
	slot->addr = (uint32_t)addr;
	if ((ret = read_bitmap(msr, 64, at, &slot->mask, &slot->value, err)))
		return ret;
	t->nr_msrs++;
	return 0;
}

/* Firecracker's other fields: kiln has nothing to do with them, so they
 * may only be empty. */
static int check_unsupported_fields(json_t *doc, struct where *at, struct kiln_err *err)
{
	static const char *const fields[] = { "kvm_capabilities", "vcpu_features",
					      "reg_modifiers" };

	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		json_t *value = array_field(doc, fields[i], at, err);

		if (!value && json_object_get(doc, fields[i]))
			return -EINVAL;
		if (value && json_array_size(value))
			return bad(at, fields[i], err, i ? "is for aarch64 only: leave it out or empty"
						      : "is not supported by kiln: leave it out or "
							"empty");
	}
	return 0;
}

static int read_sections(json_t *doc, struct where *at, struct cpu_config *t,
			 struct kiln_err *err)
{
	static const char *const fields[] = { "cpuid_modifiers", "msr_modifiers",
					      "kvm_capabilities", "vcpu_features",
					      "reg_modifiers", NULL };
	json_t *leaves, *msrs, *item;
	size_t i;
	int ret;

	if ((ret = check_object(doc, fields, at, err)) ||
	    (ret = check_unsupported_fields(doc, at, err)))
		return ret;
	leaves = array_field(doc, "cpuid_modifiers", at, err);
	if (!leaves && json_object_get(doc, "cpuid_modifiers"))
		return -EINVAL;
	msrs = array_field(doc, "msr_modifiers", at, err);
	if (!msrs && json_object_get(doc, "msr_modifiers"))
		return -EINVAL;
	json_array_foreach(leaves, i, item) {
		snprintf(at->path, sizeof(at->path), "cpuid_modifiers[%zu]", i);
		if ((ret = add_cpuid_leaf(t, item, at, err)))
			return ret;
	}
	json_array_foreach(msrs, i, item) {
		snprintf(at->path, sizeof(at->path), "msr_modifiers[%zu]", i);
		if ((ret = add_msr(t, item, at, err)))
			return ret;
	}
	return 0;
}

int cpu_template_from_json(json_t *doc, const char *what, struct cpu_config *t,
			   struct kiln_err *err)
{
	struct where at = { .what = what };
	int ret;

	memset(t, 0, sizeof(*t));
	ret = read_sections(doc, &at, t, err);
	if (ret)
		cpu_template_free(t);
	return ret;
}

int cpu_template_parse(const char *text, const char *what, struct cpu_config *t,
		       struct kiln_err *err)
{
	json_error_t error;
	json_t *doc = json_loads(text, JSON_REJECT_DUPLICATES, &error);
	int ret;

	memset(t, 0, sizeof(*t));
	if (!doc)
		return err_set(err, -EINVAL, "%s: not valid JSON: %s at line %d column %d", what,
			       error.text, error.line, error.column);
	ret = cpu_template_from_json(doc, what, t, err);
	json_decref(doc);
	return ret;
}

void cpu_template_free(struct cpu_config *t)
{
	free(t->cpuid);
	free(t->msrs);
	memset(t, 0, sizeof(*t));
}

static int read_whole_file(const char *option, const char *path, char **text,
			   struct kiln_err *err)
{
	FILE *f = fopen(path, "r");
	size_t used;
	char *buf;

	if (!f)
		return err_set_errno(err, -errno, "%s %s: cannot open it%s", option, path,
				     strcmp(option, "--cpu-template") ? "" : " (names: host, pvm-safe)");
	buf = malloc(MAX_TEMPLATE_BYTES + 1);
	used = buf ? fread(buf, 1, MAX_TEMPLATE_BYTES + 1, f) : 0;
	fclose(f);
	if (!buf)
		return err_set(err, -ENOMEM, "out of memory");
	if (used > MAX_TEMPLATE_BYTES) {
		free(buf);
		return err_set(err, -EFBIG, "%s %s: larger than %u bytes", option, path,
			       MAX_TEMPLATE_BYTES);
	}
	buf[used] = '\0';
	*text = buf;
	return 0;
}

int cpu_template_read_file(const char *option, const char *path, char **text,
			   struct kiln_err *err)
{
	struct cpu_config t;
	char what[300];
	int ret = read_whole_file(option, path, text, err);

	if (ret)
		return ret;
	snprintf(what, sizeof(what), "%s %s", option, path);
	ret = cpu_template_parse(*text, what, &t, err);
	cpu_template_free(&t);
	if (ret) {
		free(*text);
		*text = NULL;
	}
	return ret;
}

int cpu_template_apply_cpuid(struct kvm_cpuid2 *table, unsigned int capacity,
			     const struct cpu_config *t, struct kiln_err *err)
{
	for (unsigned int i = 0; i < t->nr_cpuid; i++) {
		const struct cpuid_modifier *m = &t->cpuid[i];
		struct kvm_cpuid_entry2 *e = cpuid_get_or_add(table, capacity, m->leaf, m->subleaf,
							      m->flags);
		uint32_t *reg;

		if (!e)
			return err_set(err, -ENOSPC, "no room in the CPUID table for the template's "
				       "leaf 0x%x.%u", m->leaf, m->subleaf);
		reg = cpuid_reg_ptr(e, m->reg);
		*reg = (*reg & ~m->mask) | m->value;
	}
	cpuid_trim_to_max_leaves(table);
	return 0;
}

uint64_t msr_modifier_apply(const struct msr_modifier *m, uint64_t value)
{
	return (value & ~m->mask) | m->value;
}
