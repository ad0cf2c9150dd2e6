// SPDX-License-Identifier: MIT
/*
 * Pausing and resuming the vCPUs. A pause raises pause_requested and kicks
 * every vCPU out of KVM_RUN (signal plus immediate_exit, vcpu_kick); each
 * vCPU finishes the exit it is handling, completes a pending I/O, and parks
 * on run_cond (vcpu_run.c). The guest's kvm-clock is saved once all are
 * parked and restored before they run again, so a guest does not see the
 * paused time as time that passed.
 */
#include "vm/vm.h"

#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>

#include "vm/vcpu_run.h"

int vm_get_clock(struct vm *vm, uint64_t *ns)
{
	struct kvm_clock_data clock;

	memset(&clock, 0, sizeof(clock));
	if (ioctl(vm->vm_fd, KVM_GET_CLOCK, &clock) < 0)
		return -errno;
	*ns = clock.clock;
	return 0;
}

static int save_clock(struct vm *vm)
{
	memset(&vm->paused_clock, 0, sizeof(vm->paused_clock));
	if (!vm->has_adjust_clock)
		return 0;
	return ioctl(vm->vm_fd, KVM_GET_CLOCK, &vm->paused_clock) < 0 ? -errno : 0;
}

static int restore_clock(struct vm *vm)
{
	/* Only the value: with KVM_CLOCK_REALTIME set, KVM would advance the
	 * clock by the wall time that passed, which is what a pause hides. */
	struct kvm_clock_data clock = { .clock = vm->paused_clock.clock };

	if (!vm->has_adjust_clock)
		return 0;
	return ioctl(vm->vm_fd, KVM_SET_CLOCK, &clock) < 0 ? -errno : 0;
}

/* Ask every vCPU to park and wait until all have: 0, or -ESHUTDOWN when
 * the VM began stopping meanwhile (its vCPUs then end instead). */
static int park_vcpus(struct vm *vm)
{
	int ret;

	pthread_mutex_lock(&vm->run_lock);
	atomic_store(&vm->pause_requested, true);
	vm_kick_vcpus_locked(vm);
	while (vm->nr_parked < vm->nr_vcpus && !vm_stopping(vm))
		pthread_cond_wait(&vm->run_cond, &vm->run_lock);
	ret = vm_stopping(vm) ? -ESHUTDOWN : 0;
	pthread_mutex_unlock(&vm->run_lock);
	return ret;
}

static void unpark_vcpus(struct vm *vm)
{
	pthread_mutex_lock(&vm->run_lock);
	atomic_store(&vm->pause_requested, false);
	pthread_cond_broadcast(&vm->run_cond);
	pthread_mutex_unlock(&vm->run_lock);
}

/* What pause and resume refuse alike; the caller holds pause_lock. */
static int check_running(struct vm *vm, const char *what, struct kiln_err *err)
{
	if (!atomic_load(&vm->vcpus_started))
		return err_set(err, -EINVAL, "cannot %s the VM: its vCPUs have not started", what);
	if (vm_stopping(vm))
		return err_set(err, -ESHUTDOWN, "cannot %s the VM: it is stopping", what);
	return 0;
}

static int pause_locked(struct vm *vm, struct kiln_err *err)
{
	int ret = check_running(vm, "pause", err);

	if (ret)
		return ret;
	if (atomic_load(&vm->paused))
		return err_set(err, -EALREADY, "the VM is already paused");
	ret = park_vcpus(vm);
	if (ret)
		return err_set(err, ret, "the VM began stopping while it was being paused");
	ret = save_clock(vm);
	if (ret) {
		unpark_vcpus(vm);
		return err_set_errno(err, ret, "cannot read the guest's clock (KVM_GET_CLOCK)");
	}
	atomic_store(&vm->paused, true);
	return 0;
}

static int resume_locked(struct vm *vm, struct kiln_err *err)
{
	int ret = check_running(vm, "resume", err);

	if (ret)
		return ret;
	if (!atomic_load(&vm->paused))
		return err_set(err, -EALREADY, "the VM is already running");
	/* On failure the VM stays paused: the caller may try again. */
	ret = restore_clock(vm);
	if (ret)
		return err_set_errno(err, ret, "cannot restore the guest's clock (KVM_SET_CLOCK)");
	atomic_store(&vm->paused, false);
	unpark_vcpus(vm);
	return 0;
}

/*
 * A vCPU thread must neither pause (it would wait for itself to park) nor
 * wait for pause_lock (its holder may be waiting for this vCPU to park).
 * Under run_lock, which vm_start holds while it records each thread.
 */
static bool on_vcpu_thread(struct vm *vm)
{
	bool found = false;

	pthread_mutex_lock(&vm->run_lock);
	for (unsigned int i = 0; i < vm->nr_vcpus && !found; i++)
		found = vm->vcpus[i].thread_started &&
			pthread_equal(vm->vcpus[i].thread, pthread_self());
	pthread_mutex_unlock(&vm->run_lock);
	return found;
}

int vm_pause(struct vm *vm, struct kiln_err *err)
{
	int ret;

	if (on_vcpu_thread(vm))
		return err_set(err, -EDEADLK, "a vCPU thread cannot pause its own VM");
	pthread_mutex_lock(&vm->pause_lock);
	ret = pause_locked(vm, err);
	pthread_mutex_unlock(&vm->pause_lock);
	return ret;
}

int vm_resume(struct vm *vm, struct kiln_err *err)
{
	int ret;

	if (on_vcpu_thread(vm))
		return err_set(err, -EDEADLK, "a vCPU thread cannot resume its own VM");
	pthread_mutex_lock(&vm->pause_lock);
	ret = resume_locked(vm, err);
	pthread_mutex_unlock(&vm->pause_lock);
	return ret;
}

bool vm_paused(const struct vm *vm)
{
	return atomic_load(&vm->paused);
}

int vm_start_paused(struct vm *vm, struct kiln_err *err)
{
	int ret;

	pthread_mutex_lock(&vm->pause_lock);
	ret = save_clock(vm);
	if (ret) {
		pthread_mutex_unlock(&vm->pause_lock);
		return err_set_errno(err, ret, "cannot read the guest's clock (KVM_GET_CLOCK)");
	}
	/* Before any thread exists: each parks before its first KVM_RUN. */
	atomic_store(&vm->pause_requested, true);
	atomic_store(&vm->paused, true);
	ret = vm_start(vm, err);
	pthread_mutex_unlock(&vm->pause_lock);
	return ret;
}
