// SPDX-License-Identifier: MIT
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "cli.h"
#include "sandbox/seccomp.h"

static int parse(struct kiln_config *cfg, struct kiln_err *err, int argc, char **argv)
{
	memset(err, 0, sizeof(*err));
	return cli_parse(argc, argv, cfg, err);
}

#define ARGV(...) ((char *[]){ "kiln", __VA_ARGS__, NULL })
#define ARGC(...) ((int)(sizeof((char *[]){ "kiln", __VA_ARGS__ }) / sizeof(char *)))
#define PARSE(cfg, err, ...) parse(cfg, err, ARGC(__VA_ARGS__), ARGV(__VA_ARGS__))

Test(cli, run_with_every_option)
{
	struct kiln_config cfg;
	struct kiln_err err;

	cr_assert_eq(PARSE(&cfg, &err, "run", "--kernel", "k", "--initrd", "i", "--cmdline",
			   "a b", "--cpus", "16", "--memory", "2G", "--console", "none",
			   "--debug-exit", "--trace-mmio", "--kvm-device", "/dev/x"), 0, "%s",
		     err.msg);
	cr_assert_eq(cfg.command, KILN_CMD_RUN);
	cr_assert_str_eq(cfg.kernel, "k");
	cr_assert_str_eq(cfg.initrd, "i");
	cr_assert_str_eq(cfg.cmdline, "a b");
	cr_assert_eq(cfg.cpus, 16);
	cr_assert_eq(cfg.memory_mib, 2048);
	cr_assert_eq(cfg.console, CONSOLE_NONE);
	cr_assert(cfg.debug_exit && cfg.trace_mmio);
	cr_assert_str_eq(cfg.kvm_device, "/dev/x");
}

Test(cli, defaults)
{
	struct kiln_config cfg;
	struct kiln_err err;

	cr_assert_eq(PARSE(&cfg, &err, "run", "--kernel", "k"), 0);
	cr_assert_eq(cfg.cpus, KILN_DEFAULT_CPUS);
	cr_assert_eq(cfg.memory_mib, KILN_DEFAULT_MEMORY_MIB);
	cr_assert_eq(cfg.console, CONSOLE_SERIAL);
	cr_assert_str_eq(cfg.cmdline, "");
	cr_assert(!cfg.debug_exit);
}

Test(cli, errors_name_the_problem)
{
	struct kiln_config cfg;
	struct kiln_err err;

	cr_assert_neq(PARSE(&cfg, &err, "run", "--kernel", "k", "--bogus"), 0);
	cr_assert(strstr(err.msg, "--bogus"), "%s", err.msg);
	cr_assert_neq(PARSE(&cfg, &err, "run"), 0);
	cr_assert(strstr(err.msg, "--kernel"), "%s", err.msg);
	cr_assert_neq(PARSE(&cfg, &err, "run", "--kernel", "k", "--cpus", "0"), 0);
	cr_assert(strstr(err.msg, "--cpus"), "%s", err.msg);
	cr_assert_neq(PARSE(&cfg, &err, "run", "--kernel", "k", "--cpus", "3x"), 0);
	cr_assert_neq(PARSE(&cfg, &err, "run", "--kernel", "k", "--memory", "-5"), 0);
	cr_assert_neq(PARSE(&cfg, &err, "run", "--kernel", "k", "--memory", "4"), 0);
	cr_assert_neq(PARSE(&cfg, &err, "run", "--kernel", "k", "--memory", "12T"), 0);
	cr_assert(strstr(err.msg, "suffix"), "%s", err.msg);
	cr_assert_neq(PARSE(&cfg, &err, "run", "--kernel", "k", "--console", "vga"), 0);
	cr_assert_neq(PARSE(&cfg, &err, "run", "--kernel"), 0);
	cr_assert(strstr(err.msg, "needs a value"), "%s", err.msg);
	cr_assert_neq(PARSE(&cfg, &err, "launch"), 0);
	cr_assert(strstr(err.msg, "launch"), "%s", err.msg);
	cr_assert_neq(PARSE(&cfg, &err, "run", "--kernel", "k", "extra"), 0);
}

Test(cli, help_and_version)
{
	struct kiln_config cfg;
	struct kiln_err err;

	cr_assert_eq(PARSE(&cfg, &err, "--help"), 0);
	cr_assert_eq(cfg.command, KILN_CMD_HELP);
	cr_assert_eq(PARSE(&cfg, &err, "run", "--help"), 0);
	cr_assert_eq(cfg.command, KILN_CMD_HELP);
	cr_assert_eq(PARSE(&cfg, &err, "--version"), 0);
	cr_assert_eq(cfg.command, KILN_CMD_VERSION);
}

Test(cli, api_socket_without_kernel)
{
	struct kiln_config cfg;
	struct kiln_err err;

	cr_assert_eq(PARSE(&cfg, &err, "run", "--api-sock", "/tmp/a.sock", "--id", "vm-1"), 0,
		     "%s", err.msg);
	cr_assert_str_eq(cfg.api_sock, "/tmp/a.sock");
	cr_assert_str_eq(cfg.instance_id, "vm-1");
	cr_assert_null(cfg.kernel);
	cr_assert_eq(PARSE(&cfg, &err, "run", "--config-file", "vm.json"), 0, "%s", err.msg);
	cr_assert_str_eq(cfg.config_file, "vm.json");
}

Test(cli, api_option_errors)
{
	struct kiln_config cfg;
	struct kiln_err err;

	cr_assert_neq(PARSE(&cfg, &err, "run", "--api-sock", "/a", "--id", "bad id"), 0);
	cr_assert(strstr(err.msg, "--id"), "%s", err.msg);
	cr_assert_neq(PARSE(&cfg, &err, "run", "--cpus", "2"), 0);
	cr_assert(strstr(err.msg, "--kernel") && strstr(err.msg, "--api-sock"), "%s", err.msg);
	cr_assert_neq(PARSE(&cfg, &err, "info", "--api-sock", "/a"), 0);
}

Test(cli, jail_options)
{
	struct kiln_config cfg;
	struct kiln_err err;

	cr_assert_eq(PARSE(&cfg, &err, "run", "--kernel", "k", "--jail", "/srv/j", "--uid", "65534",
			   "--gid", "100", "--as-limit", "2048"), 0, "%s", err.msg);
	cr_assert_str_eq(cfg.jail_dir, "/srv/j");
	cr_assert_eq(cfg.jail_uid, 65534);
	cr_assert_eq(cfg.jail_gid, 100);
	cr_assert_eq(cfg.jail_as_limit_mib, 2048);
	cr_assert(!cfg.jail_no_as_limit);
	cr_assert_eq(PARSE(&cfg, &err, "run", "--api-sock", "s", "--jail", "d", "--uid", "0",
			   "--gid", "0", "--as-limit", "none"), 0, "%s", err.msg);
	cr_assert_eq(cfg.jail_uid, 0);
	cr_assert(cfg.jail_uid_set && cfg.jail_gid_set);
	cr_assert(cfg.jail_no_as_limit);
	cr_assert_eq(PARSE(&cfg, &err, "run", "--kernel", "k"), 0);
	cr_assert_null(cfg.jail_dir);
	cr_assert(!cfg.jail_uid_set && !cfg.jail_as_limit_mib && !cfg.jail_no_as_limit);
}

Test(cli, jail_option_errors)
{
	struct kiln_config cfg;
	struct kiln_err err;

	cr_assert_neq(PARSE(&cfg, &err, "run", "--kernel", "k", "--jail", "d", "--gid", "1"), 0);
	cr_assert(strstr(err.msg, "--jail needs --uid N and --gid N"), "%s", err.msg);
	cr_assert_neq(PARSE(&cfg, &err, "run", "--kernel", "k", "--jail", "d", "--uid", "1"), 0);
	cr_assert(strstr(err.msg, "--gid"), "%s", err.msg);
	cr_assert_neq(PARSE(&cfg, &err, "run", "--kernel", "k", "--uid", "1", "--gid", "1"), 0);
	cr_assert(strstr(err.msg, "go with --jail DIR"), "%s", err.msg);
	cr_assert_neq(PARSE(&cfg, &err, "run", "--kernel", "k", "--as-limit", "none"), 0);
	cr_assert(strstr(err.msg, "go with --jail DIR"), "%s", err.msg);
	cr_assert_neq(PARSE(&cfg, &err, "run", "--kernel", "k", "--jail", "d", "--uid", "-1",
			    "--gid", "1"), 0);
	cr_assert(strstr(err.msg, "--uid '-1'"), "%s", err.msg);
	cr_assert_neq(PARSE(&cfg, &err, "run", "--kernel", "k", "--jail", "d", "--uid", "4294967295",
			    "--gid", "1"), 0);
	cr_assert(strstr(err.msg, "--uid '4294967295'"), "%s", err.msg);
	cr_assert_neq(PARSE(&cfg, &err, "run", "--kernel", "k", "--jail", "d", "--uid", "1",
			    "--gid", "nobody"), 0);
	cr_assert(strstr(err.msg, "--gid 'nobody'"), "%s", err.msg);
	cr_assert_neq(PARSE(&cfg, &err, "run", "--kernel", "k", "--jail", "d", "--uid", "1",
			    "--gid", "1", "--as-limit", "12"), 0);
	cr_assert(strstr(err.msg, "--as-limit '12'"), "%s", err.msg);
	cr_assert_neq(PARSE(&cfg, &err, "run", "--kernel", "k", "--jail", "", "--uid", "1",
			    "--gid", "1"), 0);
	cr_assert(strstr(err.msg, "--jail needs a directory"), "%s", err.msg);
	cr_assert_neq(PARSE(&cfg, &err, "info", "--jail", "d", "--uid", "1", "--gid", "1"), 0);
	cr_assert(strstr(err.msg, "--jail is for kiln run"), "%s", err.msg);
}

Test(cli, test_devices_only_when_asked)
{
	struct kiln_config cfg;
	struct kiln_err err;

	cr_assert_eq(PARSE(&cfg, &err, "run", "--kernel", "k"), 0, "%s", err.msg);
	cr_assert_not(cfg.test_devices, "pc-testdev is not on every machine");
	cr_assert_eq(PARSE(&cfg, &err, "run", "--kernel", "k", "--test-devices"), 0, "%s",
		     err.msg);
	cr_assert(cfg.test_devices);
}

Test(cli, console_limit_sizes)
{
	struct kiln_config cfg;
	struct kiln_err err;

	cr_assert_eq(PARSE(&cfg, &err, "run", "--kernel", "k"), 0, "%s", err.msg);
	cr_assert_eq(cfg.console_limit, 64ULL << 20, "the documented default is 64 MiB");
	cr_assert_eq(PARSE(&cfg, &err, "run", "--kernel", "k", "--console-limit", "65536"), 0);
	cr_assert_eq(cfg.console_limit, 65536);
	cr_assert_eq(PARSE(&cfg, &err, "run", "--kernel", "k", "--console-limit", "64K"), 0);
	cr_assert_eq(cfg.console_limit, 65536);
	cr_assert_eq(PARSE(&cfg, &err, "run", "--kernel", "k", "--console-limit", "3m"), 0);
	cr_assert_eq(cfg.console_limit, 3ULL << 20);
	cr_assert_eq(PARSE(&cfg, &err, "run", "--kernel", "k", "--console-limit", "2G"), 0);
	cr_assert_eq(cfg.console_limit, 2ULL << 30);
	cr_assert_eq(PARSE(&cfg, &err, "run", "--kernel", "k", "--console-limit", "0"), 0);
	cr_assert_eq(cfg.console_limit, 0, "0: no limit");
}

Test(cli, console_limit_errors)
{
	struct kiln_config cfg;
	struct kiln_err err;

	cr_assert_neq(PARSE(&cfg, &err, "run", "--kernel", "k", "--console-limit", "5X"), 0);
	cr_assert(strstr(err.msg, "--console-limit") && strstr(err.msg, "suffix"), "%s", err.msg);
	cr_assert_neq(PARSE(&cfg, &err, "run", "--kernel", "k", "--console-limit", "1KB"), 0);
	cr_assert_neq(PARSE(&cfg, &err, "run", "--kernel", "k", "--console-limit", "-1"), 0);
	cr_assert(strstr(err.msg, "--console-limit"), "%s", err.msg);
	cr_assert_neq(PARSE(&cfg, &err, "run", "--kernel", "k", "--console-limit", "M"), 0);
	cr_assert_neq(PARSE(&cfg, &err, "run", "--kernel", "k", "--console-limit",
			    "17179869184G"), 0);
	cr_assert(strstr(err.msg, "too large"), "%s", err.msg);
	cr_assert_neq(PARSE(&cfg, &err, "run", "--kernel", "k", "--console-limit"), 0);
	cr_assert(strstr(err.msg, "needs a value"), "%s", err.msg);
}

Test(cli, seccomp_modes)
{
	struct kiln_config cfg;
	struct kiln_err err;

	cr_assert_eq(PARSE(&cfg, &err, "run", "--kernel", "k"), 0);
	cr_assert_eq(cfg.seccomp, SANDBOX_KILL, "filters kill by default");
	cr_assert_eq(PARSE(&cfg, &err, "run", "--kernel", "k", "--seccomp", "log"), 0);
	cr_assert_eq(cfg.seccomp, SANDBOX_LOG);
	cr_assert_eq(PARSE(&cfg, &err, "run", "--kernel", "k", "--seccomp", "kill"), 0);
	cr_assert_eq(cfg.seccomp, SANDBOX_KILL);
	cr_assert_eq(PARSE(&cfg, &err, "run", "--kernel", "k", "--no-seccomp"), 0);
	cr_assert_eq(cfg.seccomp, SANDBOX_OFF);
	cr_assert_eq(PARSE(&cfg, &err, "run", "--kernel", "k", "--seccomp", "trap"), -EINVAL);
	cr_assert(strstr(err.msg, "--seccomp 'trap'") && strstr(err.msg, "kill"), "%s", err.msg);
	cr_assert_eq(PARSE(&cfg, &err, "run", "--kernel", "k", "--seccomp"), -EINVAL);
	cr_assert(strstr(err.msg, "--seccomp"), "%s", err.msg);
}

Test(cli, restore_splits_at_the_last_mem_and_takes_its_companions)
{
	struct kiln_config cfg;
	struct kiln_err err;

	cr_assert_eq(PARSE(&cfg, &err, "run", "--restore", "/snap,a,mem=x/state,mem=/m,1",
			   "--paused", "--api-sock", "/s", "--cpus", "2"), 0, "%s", err.msg);
	cr_assert_str_eq(cfg.restore.state_path, "/snap,a,mem=x/state");
	cr_assert_str_eq(cfg.restore.mem_path, "/m,1");
	cr_assert(cfg.restore.paused && cfg.cpus_set && !cfg.memory_set);
	cr_assert_eq(cfg.cpus, 2);
}

Test(cli, restore_refuses_what_describes_another_machine)
{
	struct kiln_config cfg;
	struct kiln_err err;

	cr_assert_eq(PARSE(&cfg, &err, "run", "--restore", "s"), -EINVAL);
	cr_assert(strstr(err.msg, "SNAPSHOT,mem=FILE"), "%s", err.msg);
	cr_assert_eq(PARSE(&cfg, &err, "run", "--restore", "s,mem="), -EINVAL);
	cr_assert_eq(PARSE(&cfg, &err, "run", "--restore", "s,mem=m", "--disk", "d"), -EINVAL);
	cr_assert_str_eq(err.msg, "--disk cannot go with --restore: the machine is the "
			 "snapshot's (see kiln --help)");
	cr_assert_eq(PARSE(&cfg, &err, "run", "--restore", "s,mem=m", "--console", "none"),
		     -EINVAL);
	cr_assert(strstr(err.msg, "--console cannot"), "%s", err.msg);
	cr_assert_eq(PARSE(&cfg, &err, "run", "--kernel", "k", "--paused"), -EINVAL);
	cr_assert_str_eq(err.msg, "--paused goes with --restore");
}
