// SPDX-License-Identifier: MIT
/*
 * The reference for kiln's exit path: the same machine kiln builds (same
 * guest, same loader), but vCPU 0 driven by a bare KVM_RUN loop on the main
 * thread that only recognises the debug-exit port. The difference between
 * this and `kiln run` is what kiln's own dispatch costs per exit.
 */
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>

#include "config.h"
#include "x86/pc.h"

int main(int argc, char **argv)
{
	struct kiln_config cfg = {
		.command = KILN_CMD_RUN, .cpus = 1, .memory_mib = 256, .console = CONSOLE_NONE,
		.cmdline = argc > 2 ? argv[2] : "",
	};
	struct kiln_err err = { 0 };
	struct pc pc;
	struct vcpu *vcpu;

	if (argc < 2) {
		fprintf(stderr, "usage: raw-kvm-run GUEST.elf [CMDLINE]\n");
		return 2;
	}
	cfg.kernel = argv[1];
	if (pc_create(&pc, &cfg, -1, &err)) {
		fprintf(stderr, "raw-kvm-run: %s\n", err.msg);
		return 1;
	}
	vcpu = &pc.vm.vcpus[0];
	for (;;) {
		if (ioctl(vcpu->fd, KVM_RUN, 0) < 0) {
			perror("KVM_RUN");
			return 1;
		}
		if (vcpu->run->exit_reason == KVM_EXIT_IO && vcpu->run->io.port == 0xf4)
			break;
		if (vcpu->run->exit_reason != KVM_EXIT_IO && vcpu->run->exit_reason != KVM_EXIT_MMIO) {
			fprintf(stderr, "raw-kvm-run: exit reason %u\n", vcpu->run->exit_reason);
			return 1;
		}
		/* Reads of unclaimed ports see all-ones, as under kiln. */
		if (vcpu->run->exit_reason == KVM_EXIT_IO && vcpu->run->io.direction == KVM_EXIT_IO_IN)
			memset((char *)vcpu->run + vcpu->run->io.data_offset, 0xff,
			       vcpu->run->io.size * vcpu->run->io.count);
	}
	pc_destroy(&pc);
	return 0;
}
