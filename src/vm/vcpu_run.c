// SPDX-License-Identifier: MIT
#include "vm/vcpu_run.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>

#include "util/log.h"

static void vcpu_fail(struct vcpu *vcpu, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* A fatal guest or KVM condition: one line, the register dump, status 1. */
static void vcpu_fail(struct vcpu *vcpu, const char *fmt, ...)
{
	char what[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	/* Only the first failure is reported; others are fallout of the stop. */
	if (vm_stopping(vcpu->vm))
		return;
	pr_err("vCPU %u: %s", vcpu->index, what);
	vcpu_dump(vcpu);
	vm_request_stop(vcpu->vm, MACHINE_STOP_ERROR, 1);
}

static void handle_io(struct vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;
	uint8_t *data = (uint8_t *)run + run->io.data_offset;
	bool is_write = run->io.direction == KVM_EXIT_IO_OUT;

	/* A string instruction with REP arrives as count back-to-back accesses. */
	for (uint32_t i = 0; i < run->io.count; i++, data += run->io.size)
		io_bus_access(&vcpu->vm->pio, run->io.port, data, run->io.size, is_write);
}

static void handle_mmio(struct vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;
	unsigned int len = run->mmio.len > 8 ? 8 : run->mmio.len;
	bool is_write = run->mmio.is_write;

	io_bus_access(&vcpu->vm->mmio, run->mmio.phys_addr, run->mmio.data, len, is_write);
	if (vcpu->vm->trace_mmio) {
		if (is_write)
			fprintf(stderr, "mmio: write addr=0x%llx size=%u data=0x%" PRIx64 "\n",
				(unsigned long long)run->mmio.phys_addr, len,
				io_data_get(run->mmio.data, len));
		else
			fprintf(stderr, "mmio: read addr=0x%llx size=%u data=0x%" PRIx64 "\n",
				(unsigned long long)run->mmio.phys_addr, len,
				io_data_get(run->mmio.data, len));
	}
}

static const char *internal_error_name(uint32_t suberror)
{
	switch (suberror) {
	case KVM_INTERNAL_ERROR_EMULATION:
		return "emulation failure";
	case KVM_INTERNAL_ERROR_SIMUL_EX:
		return "exception while delivering an exception";
	case KVM_INTERNAL_ERROR_DELIVERY_EV:
		return "cannot deliver an event";
	default:
		return "unknown";
	}
}

static void handle_system_event(struct vcpu *vcpu)
{
	switch (vcpu->run->system_event.type) {
	case KVM_SYSTEM_EVENT_SHUTDOWN:
		vm_request_stop(vcpu->vm, MACHINE_STOP_POWEROFF, 0);
		break;
	case KVM_SYSTEM_EVENT_RESET:
		vm_request_stop(vcpu->vm, MACHINE_STOP_RESET, 0);
		break;
	default:
		vcpu_fail(vcpu, "guest reported a crash (system event %u)",
			  vcpu->run->system_event.type);
		break;
	}
}

/* Returns false when the vCPU must stop running. */
static bool handle_exit(struct vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;

	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		handle_io(vcpu);
		return true;
	case KVM_EXIT_MMIO:
		handle_mmio(vcpu);
		return true;
	case KVM_EXIT_INTR:
	case KVM_EXIT_HLT: /* only without an in-kernel LAPIC; just resume */
		return true;
	case KVM_EXIT_SYSTEM_EVENT:
		handle_system_event(vcpu);
		return false;
	case KVM_EXIT_SHUTDOWN:
		vcpu_fail(vcpu, "triple fault (the guest's CPU reset itself)");
		return false;
	case KVM_EXIT_INTERNAL_ERROR:
		if (run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION &&
		    vcpu->vm->complete_emulation &&
		    vcpu->vm->complete_emulation(vcpu, vcpu->vm->complete_emulation_ctx))
			return true;
		vcpu_fail(vcpu, "KVM internal error, suberror %u (%s)",
			  run->internal.suberror, internal_error_name(run->internal.suberror));
		return false;
	case KVM_EXIT_FAIL_ENTRY:
		vcpu_fail(vcpu, "KVM could not enter the guest (hardware reason 0x%llx)",
			  (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
		return false;
	default:
		vcpu_fail(vcpu, "unexpected KVM exit reason %u", run->exit_reason);
		return false;
	}
}

void *vcpu_thread_main(void *arg)
{
	struct vcpu *vcpu = arg;
	sigset_t kick;

	sigemptyset(&kick);
	sigaddset(&kick, SIGUSR1);
	pthread_sigmask(SIG_UNBLOCK, &kick, NULL);

	while (!vm_stopping(vcpu->vm)) {
		if (ioctl(vcpu->fd, KVM_RUN, 0) < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			vcpu_fail(vcpu, "KVM_RUN failed: %s", strerror(errno));
			break;
		}
		if (!handle_exit(vcpu))
			break;
	}
	return NULL;
}
