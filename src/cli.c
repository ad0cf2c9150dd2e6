// SPDX-License-Identifier: MIT
#include "cli.h"
#include "net_spec.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "x86/cpu_features.h"
#include "sandbox/seccomp.h"
#include "x86/cpu_profile.h"
#include "virtio/vsock.h"
#include "x86/hyperv.h"

#define MAX_MEMORY_MIB (1ULL << 26) /* 64 TiB: beyond that no x86 host can map it */

enum option_id {
	OPT_KERNEL = 256, OPT_INITRD, OPT_CMDLINE, OPT_CPUS, OPT_MEMORY, OPT_CONSOLE,
	OPT_DEBUG_EXIT, OPT_TRACE_MMIO, OPT_KVM_DEVICE, OPT_VERBOSE, OPT_HELP, OPT_VERSION,
	OPT_RNG, OPT_DISK, OPT_VIRTIO_CONSOLE, OPT_STATS, OPT_CPU_TEMPLATE, OPT_NO_PVM_PROFILE,
	OPT_API_SOCK, OPT_CONFIG_FILE, OPT_ID, OPT_CPU, OPT_JAIL, OPT_UID, OPT_GID, OPT_AS_LIMIT,
	OPT_TEST_DEVICES, OPT_CONSOLE_LIMIT,
	OPT_SECCOMP, OPT_NO_SECCOMP, OPT_NET, OPT_JAIL_NETNS, OPT_VSOCK,
	OPT_HYPERV, OPT_RESTORE, OPT_PAUSED,
};

static const struct option run_options[] = {
	{ "kernel", required_argument, NULL, OPT_KERNEL },
	{ "initrd", required_argument, NULL, OPT_INITRD },
	{ "cmdline", required_argument, NULL, OPT_CMDLINE },
	{ "cpus", required_argument, NULL, OPT_CPUS },
	{ "memory", required_argument, NULL, OPT_MEMORY },
	{ "console", required_argument, NULL, OPT_CONSOLE },
	{ "debug-exit", no_argument, NULL, OPT_DEBUG_EXIT },
	{ "test-devices", no_argument, NULL, OPT_TEST_DEVICES },
	{ "console-limit", required_argument, NULL, OPT_CONSOLE_LIMIT },
	{ "trace-mmio", no_argument, NULL, OPT_TRACE_MMIO },
	{ "rng", no_argument, NULL, OPT_RNG },
	{ "disk", required_argument, NULL, OPT_DISK },
	{ "net", optional_argument, NULL, OPT_NET },
	{ "virtio-console", optional_argument, NULL, OPT_VIRTIO_CONSOLE },
	{ "vsock", required_argument, NULL, OPT_VSOCK },
	{ "kvm-device", required_argument, NULL, OPT_KVM_DEVICE },
	{ "verbose", no_argument, NULL, OPT_VERBOSE },
	{ "stats", no_argument, NULL, OPT_STATS },
	{ "cpu-template", required_argument, NULL, OPT_CPU_TEMPLATE },
	{ "cpu", required_argument, NULL, OPT_CPU },
	{ "no-pvm-profile", no_argument, NULL, OPT_NO_PVM_PROFILE },
	{ "hyperv", optional_argument, NULL, OPT_HYPERV },
	{ "api-sock", required_argument, NULL, OPT_API_SOCK },
	{ "config-file", required_argument, NULL, OPT_CONFIG_FILE },
	{ "id", required_argument, NULL, OPT_ID },
	{ "jail", required_argument, NULL, OPT_JAIL },
	{ "uid", required_argument, NULL, OPT_UID },
	{ "gid", required_argument, NULL, OPT_GID },
	{ "as-limit", required_argument, NULL, OPT_AS_LIMIT },
	{ "jail-netns", required_argument, NULL, OPT_JAIL_NETNS },
	{ "seccomp", required_argument, NULL, OPT_SECCOMP },
	{ "no-seccomp", no_argument, NULL, OPT_NO_SECCOMP },
	{ "restore", required_argument, NULL, OPT_RESTORE },
	{ "paused", no_argument, NULL, OPT_PAUSED },
	{ "help", no_argument, NULL, OPT_HELP },
	{ NULL, 0, NULL, 0 },
};

void cli_print_help(void)
{
	printf(
"usage: kiln run --kernel IMAGE [options]\n"
"       kiln run --api-sock PATH [--config-file FILE] [--id ID] [options]\n"
"       kiln run --config-file FILE [options]\n"
"       kiln run --restore SNAPSHOT,mem=FILE [--paused] [--api-sock PATH]\n"
"       kiln info [--kvm-device PATH]\n"
"       kiln --help | --version\n"
"\n"
"run options:\n"
"  --kernel IMAGE       bzImage, ELF vmlinux (PVH entry) or multiboot ELF\n"
"  --initrd FILE        initial ramdisk (multiboot: module 0)\n"
"  --cmdline STRING     kernel command line\n"
"  --cpus N             vCPUs, 1 to %d (default %d)\n"
"  --memory MIB         guest RAM in MiB, or with a G suffix (default %d)\n"
"  --console serial|virtio|none  this terminal is COM1 (default), the\n"
"                       virtio console (hvc0; COM1 output is then dropped), or none\n"
"  --debug-exit         enable isa-debug-exit at port 0xf4\n"
"  --test-devices       add QEMU's pc-testdev (ports 0xe0-0xeb, 0x2000-0x2017,\n"
"                       MMIO at 0xff000000), for kvm-unit-tests-style guests\n"
"  --console-limit SIZE  bytes (K, M or G suffix) of guest console output kiln\n"
"                       writes to a regular file before it drops the rest\n"
"                       (default 64M; 0: no limit)\n"
"  --rng                add a virtio-rng PCI device fed by getrandom()\n"
"  --disk PATH[,readonly][,queues=N][,serial=S][,direct=on|off][,poll=US]\n"
"                       add a virtio-blk PCI disk (raw file or block device;\n"
"                       O_DIRECT by default where possible); poll: each queue's\n"
"                       worker busy-polls up to US microseconds (adaptive, default\n"
"                       0: never) before sleeping; repeatable\n"
"  --net [tap=NAME[,mac=MAC][,queues=N] | user[,hostfwd=tcp::HP-:GP]...]\n"
"                       add a virtio-net PCI NIC on the tap NAME (opened, or\n"
"                       created; queues: 1 to 8 pairs) or on user-mode\n"
"                       networking (the default); up to 4\n"
"  --vsock cid=N,socket=PATH  add a virtio-vsock device for guest CID N\n"
"                       (3 or more); host programs connect to PATH and send\n"
"                       \"CONNECT <port>\\n\"; guest connects to CID 2 port P reach\n"
"                       the program listening on PATH_P\n"
"  --virtio-console[=PATH]  add a virtio console port (hvc0) writing to PATH,\n"
"                       or to the terminal\n"
"  --trace-mmio         print one line per MMIO exit to stderr\n"
"  --kvm-device PATH    KVM device (default $KILN_KVM_DEVICE or /dev/kvm)\n"
"  --verbose            report what kiln does\n"
"  --stats              at exit, count the instructions kiln completed for KVM\n"
"  --cpu host[,+FEATURE|-FEATURE]...  the host CPU as KVM can back it, with\n"
"                       features (/proc/cpuinfo names) added or removed\n"
"  --cpu-template host|pvm-safe|FILE  no template, the one for PVM hosts\n"
"                       (automatic there; it also appends a command-line\n"
"                       fragment to Linux guests), or Firecracker's custom CPU\n"
"                       template JSON (cpuid_modifiers, msr_modifiers) in FILE\n"
"  --no-pvm-profile     do not pick pvm-safe automatically\n"
"  --hyperv[=FEATURE,...]  Hyper-V enlightenments (for Windows and Linux\n"
"                       guests that use them): relaxed, vpindex, time, synic,\n"
"                       stimer, stimer-direct, tlbflush; all when no list\n"
"  --api-sock PATH      serve Firecracker's API on this Unix socket (which must\n"
"                       not exist); without a kernel, wait for InstanceStart\n"
"  --config-file FILE   Firecracker's JSON configuration (boot-source, drives,\n"
"                       machine-config, logger, metrics, entropy); boots at once\n"
"  --id ID              the instance id GET / reports (default %s)\n"
"  --jail DIR           (as root) once the command line's files, /dev/kvm and the\n"
"                       API socket are open, enter new mount, PID, IPC and UTS\n"
"                       namespaces with DIR as /, drop every capability and run\n"
"                       as --uid/--gid; API and --config-file paths are in DIR\n"
"  --uid N, --gid N     the jailed user and group (required with --jail)\n"
"  --as-limit MIB|none  the jail's address-space limit (default: guest RAM +\n"
"                       4096 MiB)\n"
"  --jail-netns PATH    join this network namespace (/var/run/netns/NAME) in\n"
"                       the jail instead of an empty one: where the API's taps are\n"
"  --seccomp kill|log   a system call outside its thread's list kills kiln\n"
"                       (default) or is only logged by the kernel\n"
"  --no-seccomp         no seccomp filters (says so on stderr)\n"
"  --restore SNAPSHOT,mem=FILE  run the machine a snapshot holds (its devices,\n"
"                       vCPUs and RAM; RAM mapped from FILE); goes only with\n"
"                       --paused (stay paused until PATCH /vm), --api-sock, --id,\n"
"                       --cpus/--memory (must match the snapshot), --kvm-device,\n"
"                       --verbose, --stats, --seccomp, --no-seccomp\n"
"\n"
"On the serial console, Ctrl-A x quits and Ctrl-A Ctrl-A sends Ctrl-A.\n"
"\n"
"exit status: 0 guest powered off or rebooted; 1 kiln error or guest crash;\n"
"  2 usage error (bad option, bad --config-file); (code << 1) | 1 when the guest writes code to the debug-exit\n"
"  port; 128 + N when stopped by signal N.\n",
	       KILN_MAX_CPUS, KILN_DEFAULT_CPUS, KILN_DEFAULT_MEMORY_MIB, KILN_DEFAULT_INSTANCE_ID);
}

void cli_print_version(void)
{
	printf("kiln %s\n", KILN_VERSION);
}

static int parse_uint(const char *text, uint64_t *value)
{
	char *end;

	if (!text || !*text || *text == '-')
		return -EINVAL;
	errno = 0;
	*value = strtoull(text, &end, 10);
	if (errno || end == text)
		return -EINVAL;
	return (int)(end - text);
}

static int parse_memory(const char *text, uint64_t *mib, struct kiln_err *err)
{
	uint64_t value;
	int used = parse_uint(text, &value);
	const char *suffix;

	if (used < 0)
		return err_set(err, -EINVAL, "--memory '%s' is not a size in MiB", text);
	suffix = text + used;
	if (!strcmp(suffix, "G") || !strcmp(suffix, "g")) {
		if (value > MAX_MEMORY_MIB / 1024)
			return err_set(err, -EINVAL, "--memory '%s' is too large", text);
		value *= 1024;
	} else if (*suffix && strcmp(suffix, "M") && strcmp(suffix, "m")) {
		return err_set(err, -EINVAL, "--memory '%s': unknown suffix '%s' (use M or G)",
			       text, suffix);
	}
	if (value < 8 || value > MAX_MEMORY_MIB)
		return err_set(err, -EINVAL, "--memory %s is out of range (8 MiB to 64 TiB)", text);
	*mib = value;
	return 0;
}

/* SIZE: bytes, or with a K, M or G suffix (powers of 1024). */
static int parse_size(const char *option, const char *text, uint64_t *bytes,
		      struct kiln_err *err)
{
	static const char suffixes[] = "KMG";
	uint64_t value;
	int used = parse_uint(text, &value);
	const char *suffix;
	unsigned int shift = 0;

	if (used < 0)
		return err_set(err, -EINVAL, "%s '%s' is not a size in bytes", option, text);
	suffix = text + used;
	if (*suffix) {
		const char *s = suffix[1] ? NULL : strchr(suffixes, toupper((unsigned char)*suffix));

		if (!s)
			return err_set(err, -EINVAL, "%s '%s': unknown suffix '%s' (use K, M or G)",
				       option, text, suffix);
		shift = 10 * (unsigned int)(s - suffixes + 1);
	}
	if (value > UINT64_MAX >> shift)
		return err_set(err, -EINVAL, "%s '%s' is too large", option, text);
	*bytes = value << shift;
	return 0;
}

static int parse_cpus(const char *text, unsigned int *cpus, struct kiln_err *err)
{
	uint64_t value;
	int used = parse_uint(text, &value);

	if (used < 0 || text[used] || value < 1 || value > KILN_MAX_CPUS)
		return err_set(err, -EINVAL, "--cpus '%s' must be a number from 1 to %d", text,
			       KILN_MAX_CPUS);
	*cpus = (unsigned int)value;
	return 0;
}

static int parse_console(const char *text, enum console_mode *mode, struct kiln_err *err)
{
	if (!strcmp(text, "serial"))
		*mode = CONSOLE_SERIAL;
	else if (!strcmp(text, "none"))
		*mode = CONSOLE_NONE;
	else if (!strcmp(text, "virtio"))
		*mode = CONSOLE_VIRTIO;
	else
		return err_set(err, -EINVAL, "--console '%s' must be 'serial', 'virtio' or 'none'",
			       text);
	return 0;
}

/* PATH[,readonly][,queues=N][,serial=S][,direct=on|off][,poll=US] */
static int parse_disk(const char *arg, struct kiln_config *cfg, struct kiln_err *err)
{
	struct kiln_disk *d;
	char *copy, *item, *save = NULL;
	uint64_t n;

	if (cfg->nr_disks == KILN_MAX_DISKS)
		return err_set(err, -EINVAL, "at most %d --disk options", KILN_MAX_DISKS);
	copy = strdup(arg);
	if (!copy)
		return err_set(err, -ENOMEM, "out of memory");
	d = &cfg->disks[cfg->nr_disks];
	*d = (struct kiln_disk){ .path = strtok_r(copy, ",", &save), .queues = 1 };
	if (!d->path || !*d->path) {
		free(copy);
		return err_set(err, -EINVAL, "--disk needs a path");
	}
	while ((item = strtok_r(NULL, ",", &save))) {
		if (!strcmp(item, "readonly"))
			d->readonly = true;
		else if (!strncmp(item, "queues=", 7) && parse_uint(item + 7, &n) > 0 &&
			 !item[7 + parse_uint(item + 7, &n)] && n >= 1 && n <= 8)
			d->queues = (unsigned int)n;
		else if (!strncmp(item, "serial=", 7) && strlen(item + 7) <= 20)
			d->serial = item + 7;
		else if (!strcmp(item, "direct=on"))
			d->direct = 1;
		else if (!strcmp(item, "direct=off"))
			d->direct = 2;
		else if (!strncmp(item, "poll=", 5) && parse_uint(item + 5, &n) > 0 &&
			 !item[5 + parse_uint(item + 5, &n)] && n <= 1000)
			d->poll_us = (unsigned int)n;
		else
			break;
	}
	if (item) {
		err_set(err, -EINVAL, "--disk %s: unknown or bad setting '%s' (readonly, queues=1-8, "
			"serial=up to 20 chars, direct=on|off, poll=0-1000)", d->path, item);
		*d = (struct kiln_disk){ 0 };
		free(copy);
		return -EINVAL;
	}
	/* copy lives as long as the process: the disk's strings point into it. */
	cfg->nr_disks++;
	return 0;
}

static int parse_net(const char *arg, struct kiln_config *cfg, struct kiln_err *err)
{
	struct net_config *nc;
	int ret;

	if (cfg->nr_nets == KILN_MAX_NETS)
		return err_set(err, -EINVAL, "at most %d --net options", KILN_MAX_NETS);
	nc = &cfg->nets[cfg->nr_nets];
	ret = net_spec_parse(arg, nc, err);
	if (ret)
		return ret;
	snprintf(nc->id, sizeof(nc->id), "net%u", cfg->nr_nets);
	/* libslirp's sockets are the guest's network: a jail keeps the host's
	 * network namespace for them (jail.c says why that is acceptable). */
	if (nc->kind == NET_USER)
		cfg->jail_keep_network = true;
	cfg->nr_nets++;
	return 0;
}

/* cid=N,socket=PATH (either order; the path is the rest of its item). */
static int parse_vsock(const char *arg, struct kiln_vsock *vsock, struct kiln_err *err)
{
	char *copy, *item, *save = NULL;
	uint64_t cid = 0;
	bool has_cid = false;
	int ret = 0;

	if (vsock->enabled)
		return err_set(err, -EINVAL, "one --vsock only");
	copy = strdup(arg);
	if (!copy)
		return err_set(err, -ENOMEM, "out of memory");
	*vsock = (struct kiln_vsock){ 0 };
	for (item = strtok_r(copy, ",", &save); item && !ret; item = strtok_r(NULL, ",", &save)) {
		int n;

		if (!strncmp(item, "cid=", 4) && (n = parse_uint(item + 4, &cid)) > 0 && !item[4 + n])
			has_cid = true;
		else if (!strncmp(item, "socket=", 7) && item[7])
			vsock->uds_path = item + 7;
		else
			ret = err_set(err, -EINVAL, "--vsock: unknown or bad setting '%s' (cid=N,"
				      "socket=PATH)", item);
	}
	if (!ret && (!has_cid || !vsock->uds_path))
		ret = err_set(err, -EINVAL, "--vsock needs cid=N and socket=PATH");
	if (!ret)
		ret = virtio_vsock_check_cid(cid, err);
	if (ret) {
		*vsock = (struct kiln_vsock){ 0 };
		free(copy);
		return ret;
	}
	/* copy lives as long as the process: uds_path points into it. */
	vsock->guest_cid = cid;
	vsock->enabled = true;
	return 0;
}

/* --uid/--gid: a number below 2^32 - 1 (which setresuid reads as "unchanged"). */
static int parse_id(const char *flag, const char *text, uint32_t *id, bool *set,
		    struct kiln_err *err)
{
	uint64_t value;
	int used = parse_uint(text, &value);

	if (used < 0 || text[used] || value >= UINT32_MAX)
		return err_set(err, -EINVAL, "%s '%s' must be a number from 0 to %u", flag, text,
			       UINT32_MAX - 1);
	*id = (uint32_t)value;
	*set = true;
	return 0;
}

static int parse_as_limit(const char *text, struct kiln_config *cfg, struct kiln_err *err)
{
	uint64_t value;
	int used;

	if (!strcmp(text, "none")) {
		cfg->jail_no_as_limit = true;
		return 0;
	}
	used = parse_uint(text, &value);
	if (used < 0 || text[used] || value < 64 || value > MAX_MEMORY_MIB * 2)
		return err_set(err, -EINVAL, "--as-limit '%s' must be 'none' or MiB from 64 to %llu",
			       text, (unsigned long long)MAX_MEMORY_MIB * 2);
	cfg->jail_as_limit_mib = value;
	cfg->jail_no_as_limit = false;
	return 0;
}

/* Firecracker's instance ids: letters, digits and '-', up to 64. */
static int parse_instance_id(const char *arg, struct kiln_config *cfg, struct kiln_err *err)
{
	size_t len = strlen(arg);

	for (const char *c = arg; *c; c++)
		if (!isalnum((unsigned char)*c) && *c != '-' && *c != '_')
			len = 0;
	if (len == 0 || len > 64)
		return err_set(err, -EINVAL, "--id '%s' must be 1 to 64 letters, digits, '-' or '_'",
			       arg);
	cfg->instance_id = arg;
	return 0;
}

/* A name (host, pvm-safe) or the path of a Firecracker CPU template. */
static int parse_cpu_template(const char *arg, struct kiln_config *cfg, struct kiln_err *err)
{
	char *json;
	int ret;

	cfg->cpu_config = NULL;
	if (!strcmp(arg, "host")) {
		cfg->cpu_template = CPU_TEMPLATE_HOST;
		return 0;
	}
	if (!strcmp(arg, "pvm-safe")) {
		cfg->cpu_template = CPU_TEMPLATE_PVM_SAFE;
		return 0;
	}
	ret = cpu_template_read_file("--cpu-template", arg, &json, err);
	if (ret)
		return ret;
	cfg->cpu_template = CPU_TEMPLATE_CUSTOM;
	cfg->cpu_config = json; /* lives for the process, as the configuration does */
	return 0;
}

/* SNAPSHOT,mem=FILE: the last ",mem=" splits them (a path may hold commas). */
static int parse_restore(const char *arg, struct kiln_restore *restore, struct kiln_err *err)
{
	const char *mem = NULL;
	char *state;

	for (const char *p = strstr(arg, ",mem="); p; p = strstr(p + 1, ",mem="))
		mem = p;
	if (!mem || mem == arg || !mem[5])
		return err_set(err, -EINVAL, "--restore '%s' must be SNAPSHOT,mem=FILE", arg);
	state = strndup(arg, (size_t)(mem - arg));
	if (!state)
		return err_set(err, -ENOMEM, "out of memory");
	/* Lives as long as the process, as the configuration does. */
	restore->state_path = state;
	restore->mem_path = mem + 5;
	return 0;
}

/* Checked here for a usage error; applied per vCPU against KVM's table. */
static int parse_cpu(const char *arg, struct kiln_config *cfg, struct kiln_err *err)
{
	struct cpu_feature_spec spec;
	int ret = cpu_feature_spec_parse(arg, &spec, err);

	if (!ret)
		cfg->cpu_features = arg;
	return ret;
}

static int parse_run_option(int opt, const char *arg, struct kiln_config *cfg,
			    struct kiln_err *err)
{
	switch (opt) {
	case OPT_KERNEL: cfg->kernel = arg; return 0;
	case OPT_INITRD: cfg->initrd = arg; return 0;
	case OPT_CMDLINE: cfg->cmdline = arg; return 0;
	case OPT_CPUS: cfg->cpus_set = true; return parse_cpus(arg, &cfg->cpus, err);
	case OPT_MEMORY: cfg->memory_set = true; return parse_memory(arg, &cfg->memory_mib, err);
	case OPT_RESTORE: return parse_restore(arg, &cfg->restore, err);
	case OPT_PAUSED: cfg->restore.paused = true; return 0;
	case OPT_CONSOLE: return parse_console(arg, &cfg->console, err);
	case OPT_DEBUG_EXIT: cfg->debug_exit = true; return 0;
	case OPT_TEST_DEVICES: cfg->test_devices = true; return 0;
	case OPT_CONSOLE_LIMIT: return parse_size("--console-limit", arg, &cfg->console_limit, err);
	case OPT_TRACE_MMIO: cfg->trace_mmio = true; return 0;
	case OPT_RNG: cfg->rng = true; return 0;
	case OPT_DISK: return parse_disk(arg, cfg, err);
	case OPT_NET: return parse_net(arg, cfg, err);
	case OPT_VSOCK: return parse_vsock(arg, &cfg->vsock, err);
	case OPT_VIRTIO_CONSOLE:
		cfg->virtio_console = true;
		cfg->virtio_console_path = arg;
		return 0;
	case OPT_KVM_DEVICE: cfg->kvm_device = arg; return 0;
	case OPT_VERBOSE: cfg->verbose = true; return 0;
	case OPT_STATS: cfg->stats = true; return 0;
	case OPT_NO_PVM_PROFILE: cfg->no_pvm_profile = true; return 0;
	case OPT_CPU_TEMPLATE: return parse_cpu_template(arg, cfg, err);
	case OPT_CPU: return parse_cpu(arg, cfg, err);
	case OPT_HYPERV: return hyperv_parse(arg, &cfg->hyperv, err);
	case OPT_API_SOCK: cfg->api_sock = arg; return 0;
	case OPT_CONFIG_FILE: cfg->config_file = arg; return 0;
	case OPT_ID: return parse_instance_id(arg, cfg, err);
	case OPT_JAIL:
		if (!*arg)
			return err_set(err, -EINVAL, "--jail needs a directory");
		cfg->jail_dir = arg;
		return 0;
	case OPT_UID: return parse_id("--uid", arg, &cfg->jail_uid, &cfg->jail_uid_set, err);
	case OPT_GID: return parse_id("--gid", arg, &cfg->jail_gid, &cfg->jail_gid_set, err);
	case OPT_AS_LIMIT: return parse_as_limit(arg, cfg, err);
	case OPT_JAIL_NETNS:
		if (!*arg)
			return err_set(err, -EINVAL, "--jail-netns needs a path (/var/run/netns/NAME)");
		cfg->jail_netns = arg;
		return 0;
	case OPT_SECCOMP:
		if (!strcmp(arg, "kill"))
			cfg->seccomp = SANDBOX_KILL;
		else if (!strcmp(arg, "log"))
			cfg->seccomp = SANDBOX_LOG;
		else
			return err_set(err, -EINVAL, "--seccomp '%s' must be 'kill' or 'log'", arg);
		return 0;
	case OPT_NO_SECCOMP: cfg->seccomp = SANDBOX_OFF; return 0;
	case OPT_HELP: cfg->command = KILN_CMD_HELP; return 0;
	default: return -EINVAL;
	}
}

static int parse_options(int argc, char **argv, struct kiln_config *cfg, struct kiln_err *err)
{
	int opt, ret;

	optind = 1;
	opterr = 0; /* our own one-line messages */
	while ((opt = getopt_long(argc, argv, ":", run_options, NULL)) != -1) {
		if (opt == '?')
			return err_set(err, -EINVAL, "unknown option '%s' (see kiln --help)",
				       argv[optind - 1]);
		if (opt == ':')
			return err_set(err, -EINVAL, "option '%s' needs a value", argv[optind - 1]);
		/* --net's value is optional, yet written as "--net tap=x" too. */
		if (opt == OPT_NET && !optarg && optind < argc && argv[optind][0] != '-')
			optarg = argv[optind++];
		ret = parse_run_option(opt, optarg, cfg, err);
		if (ret)
			return ret;
	}
	if (optind < argc)
		return err_set(err, -EINVAL, "unexpected argument '%s' (see kiln --help)",
			       argv[optind]);
	return 0;
}

static int check_jail_config(const struct kiln_config *cfg, struct kiln_err *err)
{
	bool jail_only = cfg->jail_uid_set || cfg->jail_gid_set || cfg->jail_as_limit_mib ||
			 cfg->jail_no_as_limit || cfg->jail_netns;

	if (!cfg->jail_dir && jail_only)
		return err_set(err, -EINVAL, "--uid, --gid, --as-limit and --jail-netns go with "
			       "--jail DIR");
	if (cfg->jail_dir && cfg->command != KILN_CMD_RUN)
		return err_set(err, -EINVAL, "--jail is for kiln run");
	if (cfg->jail_dir && (!cfg->jail_uid_set || !cfg->jail_gid_set))
		return err_set(err, -EINVAL, "--jail needs --uid N and --gid N (the user and group "
			       "kiln runs as inside it)");
	return 0;
}

/* The machine comes from the snapshot: options that would describe it
 * otherwise are refused, by name. */
static int check_restore_config(const struct kiln_config *cfg, struct kiln_err *err)
{
	const struct { bool given; const char *name; } conflicts[] = {
		{ cfg->kernel, "--kernel" }, { cfg->initrd, "--initrd" },
		{ *cfg->cmdline, "--cmdline" }, { cfg->nr_disks, "--disk" }, { cfg->nr_nets, "--net" },
		{ cfg->vsock.enabled, "--vsock" }, { cfg->rng, "--rng" },
		{ cfg->virtio_console, "--virtio-console" },
		{ cfg->console != CONSOLE_SERIAL, "--console" },
		{ cfg->debug_exit, "--debug-exit" }, { cfg->test_devices, "--test-devices" },
		{ cfg->cpu_template, "--cpu-template" }, { cfg->cpu_features, "--cpu" },
		{ cfg->hyperv, "--hyperv" }, { cfg->no_pvm_profile, "--no-pvm-profile" },
		{ cfg->config_file, "--config-file" }, { cfg->jail_dir, "--jail" },
		{ cfg->trace_mmio, "--trace-mmio" },
		{ cfg->console_limit != KILN_DEFAULT_CONSOLE_LIMIT, "--console-limit" },
	};

	if (!cfg->restore.state_path)
		return cfg->restore.paused ? err_set(err, -EINVAL, "--paused goes with --restore")
					   : 0;
	for (size_t i = 0; i < sizeof(conflicts) / sizeof(conflicts[0]); i++)
		if (conflicts[i].given)
			return err_set(err, -EINVAL, "%s cannot go with --restore: the machine is the "
				       "snapshot's (see kiln --help)", conflicts[i].name);
	return 0;
}

static int check_run_config(const struct kiln_config *cfg, struct kiln_err *err)
{
	int ret = check_restore_config(cfg, err);

	if (ret)
		return ret;
	/* A config file's boot-source is checked once it is read (main.c). */
	if (cfg->command == KILN_CMD_RUN && !cfg->kernel && !cfg->api_sock && !cfg->config_file &&
	    !cfg->restore.state_path)
		return err_set(err, -EINVAL, "kiln run needs --kernel IMAGE (or --config-file FILE "
			       "or --api-sock PATH)");
	if (cfg->command == KILN_CMD_INFO && (cfg->api_sock || cfg->config_file))
		return err_set(err, -EINVAL, "kiln info takes only --kvm-device");
	if (cfg->console == CONSOLE_VIRTIO && cfg->virtio_console_path)
		return err_set(err, -EINVAL, "--console virtio puts hvc0 on the terminal: drop the "
			       "=PATH of --virtio-console");
	if (cfg->command == KILN_CMD_INFO && (cfg->kernel || cfg->initrd || *cfg->cmdline))
		return err_set(err, -EINVAL, "kiln info takes only --kvm-device");
	return check_jail_config(cfg, err);
}

int cli_parse(int argc, char **argv, struct kiln_config *cfg, struct kiln_err *err)
{
	const char *command = argc > 1 ? argv[1] : NULL;
	int ret;

	memset(cfg, 0, sizeof(*cfg));
	cfg->cpus = KILN_DEFAULT_CPUS;
	cfg->memory_mib = KILN_DEFAULT_MEMORY_MIB;
	cfg->cmdline = "";
	cfg->console = CONSOLE_SERIAL;
	cfg->console_limit = KILN_DEFAULT_CONSOLE_LIMIT;
	if (!command)
		return err_set(err, -EINVAL, "no command given (see kiln --help)");
	if (!strcmp(command, "--help") || !strcmp(command, "-h") || !strcmp(command, "help")) {
		cfg->command = KILN_CMD_HELP;
		return 0;
	}
	if (!strcmp(command, "--version") || !strcmp(command, "version")) {
		cfg->command = KILN_CMD_VERSION;
		return 0;
	}
	if (!strcmp(command, "run"))
		cfg->command = KILN_CMD_RUN;
	else if (!strcmp(command, "info"))
		cfg->command = KILN_CMD_INFO;
	else
		return err_set(err, -EINVAL, "unknown command '%s' (see kiln --help)", command);
	ret = parse_options(argc - 1, argv + 1, cfg, err);
	if (ret || cfg->command == KILN_CMD_HELP)
		return ret;
	if (cfg->console == CONSOLE_VIRTIO)
		cfg->virtio_console = true;
	return check_run_config(cfg, err);
}
