// SPDX-License-Identifier: MIT
/* --cpu and --cpu-template on the command line. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "x86/cpu_profile.h"

#define ARGV(...) ((char *[]){ "kiln", __VA_ARGS__, NULL })
#define ARGC(...) ((int)(sizeof((char *[]){ "kiln", __VA_ARGS__ }) / sizeof(char *)))
#define PARSE(cfg, err, ...) \
	(memset(err, 0, sizeof(*err)), cli_parse(ARGC(__VA_ARGS__), ARGV(__VA_ARGS__), cfg, err))

Test(cli_cpu, cpu_model_and_features)
{
	struct kiln_config cfg;
	struct kiln_err err;

	cr_assert_eq(PARSE(&cfg, &err, "run", "--kernel", "k", "--cpu", "host,-x2apic,+rdtscp"), 0,
		     "%s", err.msg);
	cr_assert_str_eq(cfg.cpu_features, "host,-x2apic,+rdtscp");
	cr_assert_eq(cfg.cpu_template, CPU_TEMPLATE_AUTO, "the model alone picks no template");
	cr_assert_eq(PARSE(&cfg, &err, "run", "--kernel", "k"), 0);
	cr_assert_null(cfg.cpu_features);
}

Test(cli_cpu, cpu_errors_are_usage_errors)
{
	struct kiln_config cfg;
	struct kiln_err err;

	cr_assert_eq(PARSE(&cfg, &err, "run", "--kernel", "k", "--cpu", "host,+foo"), -EINVAL);
	cr_assert_str_eq(err.msg, "--cpu: unknown CPU feature 'foo'");
	cr_assert_eq(PARSE(&cfg, &err, "run", "--kernel", "k", "--cpu", "qemu64"), -EINVAL);
	cr_assert(strstr(err.msg, "unknown CPU model 'qemu64'"), "%s", err.msg);
}

Test(cli_cpu, template_names_and_files)
{
	static const char json[] = "{\"cpuid_modifiers\": [{\"leaf\": \"0x1\", \"subleaf\": "
				   "\"0x0\", \"flags\": 0, \"modifiers\": [{\"register\": \"ecx\", "
				   "\"bitmap\": \"0bxxxxxxxxxx0xxxxxxxxxxxxxxxxxxxxx\"}]}]}";
	char path[] = "/tmp/kiln-cli-template-XXXXXX";
	int fd = mkstemp(path);
	struct kiln_config cfg;
	struct kiln_err err;

	cr_assert_eq(PARSE(&cfg, &err, "run", "--kernel", "k", "--cpu-template", "pvm-safe"), 0);
	cr_assert_eq(cfg.cpu_template, CPU_TEMPLATE_PVM_SAFE);
	cr_assert_null(cfg.cpu_config);
	cr_assert_eq(PARSE(&cfg, &err, "run", "--kernel", "k", "--cpu-template", "host"), 0);
	cr_assert_eq(cfg.cpu_template, CPU_TEMPLATE_HOST);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, json, strlen(json)), (ssize_t)strlen(json));
	close(fd);
	cr_assert_eq(PARSE(&cfg, &err, "run", "--kernel", "k", "--cpu-template", path), 0, "%s",
		     err.msg);
	cr_assert_eq(cfg.cpu_template, CPU_TEMPLATE_CUSTOM);
	cr_assert_str_eq(cfg.cpu_config, json);
	free((char *)cfg.cpu_config);
	unlink(path);
	cr_assert_eq(PARSE(&cfg, &err, "run", "--kernel", "k", "--cpu-template", path), -ENOENT);
	cr_assert(strstr(err.msg, "cannot open") && strstr(err.msg, "host, pvm-safe"), "%s",
		  err.msg);
}

Test(cli_cpu, a_bad_template_file_is_named)
{
	char path[] = "/tmp/kiln-cli-template-XXXXXX";
	int fd = mkstemp(path);
	struct kiln_config cfg;
	struct kiln_err err;

	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, "{\"msr_modifiers\": [{\"addr\": \"x\"}]}", 34), 34);
	close(fd);
	cr_assert_eq(PARSE(&cfg, &err, "run", "--kernel", "k", "--cpu-template", path), -EINVAL);
	cr_assert(strstr(err.msg, path) && strstr(err.msg, "msr_modifiers[0].addr is not a number"),
		  "%s", err.msg);
	unlink(path);
}
