// SPDX-License-Identifier: MIT
/* `kiln info`: what this host's KVM offers, and what kiln makes of it. */
#include <linux/kvm.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "run.h"
#include "util/log.h"
#include "vm/kvm.h"
#include "x86/cpu_profile.h"

static void print_thp_mode(void)
{
	char line[128] = "unknown";
	FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
	char *start, *end;

	if (f) {
		if (!fgets(line, sizeof(line), f))
			strcpy(line, "unknown");
		fclose(f);
	}
	/* The active mode is the bracketed word: "always [madvise] never". */
	start = strchr(line, '[');
	end = start ? strchr(start, ']') : NULL;
	if (start && end) {
		*end = '\0';
		printf("transparent huge pages: %s\n", start + 1);
	} else {
		printf("transparent huge pages: %s", line);
	}
}

/* What a missing KVM device means, and how to run guests all the same. */
static void print_no_kvm_advice(const char *path)
{
	printf("no KVM on this machine: %s does not exist, so kiln cannot run guests here.\n"
	       "  Either the kvm module is not loaded (modprobe kvm_intel or kvm_amd), the CPU\n"
	       "  has no VT-x/AMD-V, or this machine is itself a VM without nested\n"
	       "  virtualisation.\n"
	       "To run guests anyway, use the nested host in kiln's source tree: it emulates an\n"
	       "AMD-V machine with QEMU (slow, but complete) and runs a command inside it:\n"
	       "  scripts/nested-host.sh 'build/kiln run --kernel IMAGE'\n"
	       "`make run` and `make check` do this by themselves when /dev/kvm is missing.\n",
	       path);
}

int info_command(const struct kiln_config *cfg)
{
	struct kiln_err err = { 0 };
	const char *path = kvm_device_path(cfg->kvm_device);
	const char *backend = kvm_backend_name();
	int fd = kvm_open(path, &err);
	int max_vcpus;

	if (fd < 0) {
		pr_err("%s", err.msg);
		if (fd == -ENOENT)
			print_no_kvm_advice(path);
		return 1;
	}
	printf("KVM device: %s\n", path);
	printf("KVM API version: %d\n", kvm_api_version(fd));
	printf("backend: %s\n", backend);
	for (unsigned int i = 0; i < kvm_nr_caps_used; i++)
		printf("  %-28s %s%s\n", kvm_caps_used[i].name,
		       kvm_check_cap(fd, kvm_caps_used[i].cap) > 0 ? "yes" : "no",
		       kvm_caps_used[i].required ? " (required)" : "");
	max_vcpus = kvm_check_cap(fd, KVM_CAP_MAX_VCPUS);
	printf("max vCPUs: %d\n", max_vcpus > 0 ? max_vcpus : kvm_check_cap(fd, KVM_CAP_NR_VCPUS));
	print_thp_mode();
	if (!strcmp(backend, "PVM")) {
		printf("note: PVM is a software backend: unmodified guest kernels run emulated "
		       "at CPL0 (~1800x slower); guest user mode runs natively\n");
		printf("cpu profile: pvm-safe by default (max basic CPUID leaf %d)\n",
		       PVM_SAFE_MAX_BASIC_LEAF);
		printf("linux command line gets: %s\n", PVM_LINUX_CMDLINE);
	} else {
		printf("cpu profile: host\n");
	}
	close(fd);
	return 0;
}
