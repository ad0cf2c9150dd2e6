// SPDX-License-Identifier: MIT
/* The page walker against KVM's own translation (KVM_TRANSLATE) on a live
 * test guest, stopped in long mode with its page tables in place. */
#include <criterion/criterion.h>
#include <sys/ioctl.h>

#include "config.h"
#include "x86/cpuid.h"
#include "x86/page_walk.h"
#include "x86/pc.h"

#define GUEST "build/guest/pio.elf"

/* Run vCPU 0 until the guest writes the debug-exit port: it is then in
 * long mode with paging on. */
static void run_to_exit(struct pc *pc)
{
	struct vcpu *v = &pc->vm.vcpus[0];

	for (int exits = 0; exits < 1000000; exits++) {
		struct kvm_run *run = v->run;

		cr_assert_eq(ioctl(v->fd, KVM_RUN, 0), 0);
		if (run->exit_reason == KVM_EXIT_IO && run->io.port == 0xf4)
			return;
		/* Everything else goes to kiln's devices, as its vCPU loop would. */
		if (run->exit_reason == KVM_EXIT_IO) {
			uint8_t *data = (uint8_t *)run + run->io.data_offset;

			for (uint32_t i = 0; i < run->io.count; i++, data += run->io.size)
				io_bus_access(&pc->vm.pio, run->io.port, data, run->io.size,
					      run->io.direction == KVM_EXIT_IO_OUT);
		} else {
			cr_assert_eq(run->exit_reason, KVM_EXIT_MMIO, "exit reason %u", run->exit_reason);
			io_bus_access(&pc->vm.mmio, run->mmio.phys_addr, run->mmio.data,
				      run->mmio.len, run->mmio.is_write);
		}
	}
	cr_assert_fail("the guest never reached its exit");
}

Test(walk_kvm, matches_kvm_translate, .timeout = 120)
{
	struct kiln_config cfg = {
		.command = KILN_CMD_RUN, .kernel = GUEST, .cmdline = "iterations=1", .cpus = 1,
		.memory_mib = 256, .console = CONSOLE_NONE, .debug_exit = true,
	};
	struct kiln_err err = { 0 };
	struct pc *pc = calloc(1, sizeof(*pc));
	struct kvm_sregs sregs;
	struct walk_cpu cpu;
	unsigned int checked = 0, mapped = 0;
	uint64_t seed = 12345;

	cr_assert_eq(pc_create(pc, &cfg, -1, &err), 0, "%s", err.msg);
	run_to_exit(pc);
	cr_assert_eq(vcpu_get_regs(&pc->vm.vcpus[0], NULL, &sregs), 0);
	cpu = (struct walk_cpu){ .cr0 = sregs.cr0, .cr3 = sregs.cr3, .cr4 = sregs.cr4,
				 .efer = sregs.efer, .phys_bits = 46 };
	cr_assert_eq(walk_levels(&cpu), 4, "the guest runs with 4-level paging");
	for (unsigned int i = 0; i < 4096; i++) {
		uint64_t va;
		struct kvm_translation tr;
		struct walk_request req = { .access = WALK_READ };
		struct walk_result res;

		seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
		/* Mostly inside the 4 GiB identity map, some beyond it. */
		va = i < 3072 ? (seed >> 20) % (4ULL << 30) : (seed >> 16) % (16ULL << 30);
		tr = (struct kvm_translation){ .linear_address = va };
		cr_assert_eq(ioctl(pc->vm.vcpus[0].fd, KVM_TRANSLATE, &tr), 0);
		req.va = va;
		page_walk(&pc->vm.mem, &cpu, &req, &res);
		cr_assert_eq(res.status == WALK_OK, tr.valid != 0, "va 0x%lx: walker %d, KVM %u",
			     (unsigned long)va, res.status, tr.valid);
		/* KVM_TRANSLATE reports validity and the address only (its
		 * writeable/usermode fields are constants), so compare those. */
		if (tr.valid) {
			cr_assert_eq(res.gpa, tr.physical_address, "va 0x%lx", (unsigned long)va);
			mapped++;
		}
		checked++;
	}
	cr_assert_eq(checked, 4096);
	cr_assert_geq(mapped, 3072, "most addresses were mapped");
	pc_destroy(pc);
	free(pc);
}
