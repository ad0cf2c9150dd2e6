// SPDX-License-Identifier: MIT
#include "vm/vcpu_run.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>

#include "sandbox/seccomp.h"
#include "util/log.h"
#include "util/metrics.h"

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
	METRIC_INC(vcpu_failures);
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

	if (is_write)
		METRIC_INC(exit_io_out);
	else
		METRIC_INC(exit_io_in);
	vcpu->io_pending = true;
	/* A string instruction with REP arrives as count back-to-back accesses. */
	for (uint32_t i = 0; i < run->io.count; i++, data += run->io.size)
		io_bus_access(&vcpu->vm->pio, run->io.port, data, run->io.size, is_write);
}

static void handle_mmio(struct vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;
	unsigned int len = run->mmio.len > 8 ? 8 : run->mmio.len;
	bool is_write = run->mmio.is_write;

	if (is_write)
		METRIC_INC(exit_mmio_write);
	else
		METRIC_INC(exit_mmio_read);
	vcpu->io_pending = true;
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

/* TLFS status for a hypercall nobody implements. */
#define HV_STATUS_INVALID_HYPERCALL_CODE 2

/*
 * Hyper-V exits (only with --hyperv). A SynIC exit tells a VMM that keeps
 * its own SynIC model that the guest moved its pages or control bits; KVM
 * has applied the write already and kiln keeps no such model. A hypercall
 * exit is one KVM leaves to user space (HvPostMessage, HvSignalEvent on an
 * unregistered connection): kiln implements none, as a hypervisor without
 * VMBus. false for anything else.
 */
static bool handle_hyperv(struct vcpu *vcpu)
{
	struct kvm_hyperv_exit *hv = &vcpu->run->hyperv;

	switch (hv->type) {
	case KVM_EXIT_HYPERV_SYNIC:
		return true;
	case KVM_EXIT_HYPERV_HCALL:
		hv->u.hcall.result = HV_STATUS_INVALID_HYPERCALL_CODE;
		/* KVM puts the result in RAX on the next KVM_RUN: a pause must
		 * complete it before registers are read, as for port I/O. */
		vcpu->io_pending = true;
		return true;
	default:
		vcpu_fail(vcpu, "unexpected Hyper-V exit type %u", hv->type);
		return false;
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
	case KVM_EXIT_HYPERV:
		return handle_hyperv(vcpu);
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

/*
 * KVM finishes a port I/O or MMIO read (the value into the guest's
 * register, RIP past the instruction) only on the next KVM_RUN. Enter it
 * with immediate_exit set, so it does that and returns at once: the parked
 * vCPU's state is then whole. false when the vCPU must stop running.
 */
static bool vcpu_complete_io(struct vcpu *vcpu)
{
	while (vcpu->io_pending) {
		vcpu->io_pending = false;
		__atomic_store_n(&vcpu->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
		if (ioctl(vcpu->fd, KVM_RUN, 0) == 0) {
			/* Finishing it took one more exit (a long string I/O). */
			if (!handle_exit(vcpu))
				return false;
		} else if (errno != EINTR && errno != EAGAIN) {
			vcpu_fail(vcpu, "KVM_RUN failed: %s", strerror(errno));
			return false;
		}
	}
	return true;
}

/* Park on run_cond while a pause is requested; the caller holds run_lock. */
static void vcpu_park_locked(struct vcpu *vcpu)
{
	struct vm *vm = vcpu->vm;

	for (;;) {
		/* Cleared before the checks, under the lock pause and stop
		 * kick under: a kick after this is for a request seen below. */
		__atomic_store_n(&vcpu->run->immediate_exit, 0, __ATOMIC_SEQ_CST);
		if (vm_stopping(vm) ||
		    (!atomic_load(&vm->pause_requested) && !atomic_load(&vm->asleep)))
			break;
		if (vcpu->state != VCPU_PAUSED) {
			vcpu->state = VCPU_PAUSED;
			vm->nr_parked++;
			pthread_cond_broadcast(&vm->run_cond);
		}
		pthread_cond_wait(&vm->run_cond, &vm->run_lock);
	}
	if (vcpu->state == VCPU_PAUSED)
		vm->nr_parked--;
}

/* Out of S3: this vCPU's wake state, on its own thread. false when it
 * cannot run on. */
static bool vcpu_take_wake_state(struct vcpu *vcpu)
{
	struct vm *vm = vcpu->vm;
	int ret;

	vcpu->io_pending = false;   /* the state it would complete is replaced */
	ret = vm->wake_vcpu ? vm->wake_vcpu(vcpu, vm->wake_vcpu_ctx) : -ENOSYS;
	if (ret) {
		vcpu_fail(vcpu, "cannot set its state for the wake from S3: %s", strerror(-ret));
		return false;
	}
	return true;
}

/* Between exits: go on, or park while the VM is paused or asleep (and
 * take the wake state after S3). false once the VM is stopping. */
static bool vcpu_wait_runnable(struct vcpu *vcpu)
{
	struct vm *vm = vcpu->vm;
	bool runnable, woken;

	if (!atomic_load(&vm->pause_requested) && !atomic_load(&vm->asleep) &&
	    !vm_stopping(vm) && !__atomic_load_n(&vcpu->wake_pending, __ATOMIC_ACQUIRE))
		return true;
	if (!vm_stopping(vm) && !vcpu_complete_io(vcpu))
		return false;
	pthread_mutex_lock(&vm->run_lock);
	vcpu_park_locked(vcpu);
	runnable = !vm_stopping(vm);
	vcpu->state = runnable ? VCPU_RUNNING : VCPU_STOPPING;
	woken = runnable && vcpu->wake_pending;
	vcpu->wake_pending = false;
	pthread_mutex_unlock(&vm->run_lock);
	return woken ? vcpu_take_wake_state(vcpu) : runnable;
}

/* One KVM_RUN and its exit; false when the vCPU must stop running. */
static bool vcpu_run_once(struct vcpu *vcpu)
{
	vcpu->io_pending = false;
	if (ioctl(vcpu->fd, KVM_RUN, 0) < 0) {
		if (errno == EINTR || errno == EAGAIN)
			return true;
		vcpu_fail(vcpu, "KVM_RUN failed: %s", strerror(errno));
		return false;
	}
	return handle_exit(vcpu);
}

/* Say the thread is ending, so no kick targets it and a pause waiting
 * for it wakes. */
static void vcpu_end(struct vcpu *vcpu)
{
	struct vm *vm = vcpu->vm;

	pthread_mutex_lock(&vm->run_lock);
	vcpu->state = VCPU_STOPPING;
	pthread_cond_broadcast(&vm->run_cond);
	pthread_mutex_unlock(&vm->run_lock);
}

void *vcpu_thread_main(void *arg)
{
	struct vcpu *vcpu = arg;
	sigset_t kick;

	struct kiln_err err = { 0 };
	char name[16];

	/* Named by itself (prctl): naming another thread goes through /proc,
	 * which a jailed kiln has not. */
	snprintf(name, sizeof(name), "vcpu%u", vcpu->index);
	pthread_setname_np(pthread_self(), name);
	sigemptyset(&kick);
	sigaddset(&kick, SIGUSR1);
	pthread_sigmask(SIG_UNBLOCK, &kick, NULL);
	/* Its KVM set-up was done by the thread that built the machine: from
	 * here it needs only its run loop's calls. */
	if (sandbox_enter(SANDBOX_THREAD_VCPU, &err)) {
		pr_err("vCPU %u: %s", vcpu->index, err.msg);
		vm_request_stop(vcpu->vm, MACHINE_STOP_ERROR, 1);
	}
	sandbox_test_violation(SANDBOX_THREAD_VCPU);

	while (vcpu_wait_runnable(vcpu) && vcpu_run_once(vcpu))
		;
	vcpu_end(vcpu);
	return NULL;
}
