// SPDX-License-Identifier: MIT
/*
 * Pause and resume on a live VM: two vCPUs in real mode, each incrementing
 * its own counter in guest RAM (vCPU 1 also exits to kiln on every turn
 * with an OUT), watched from the host. Needs /dev/kvm; waits are generous
 * because this runs on an emulated nested host, and timing is asserted only
 * as "moved" or "did not move" (the kvm-clock test compares against a
 * whole second of pause).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "util/metrics.h"
#include "vm/kvm.h"
#include "vm/saved_state.h"
#include "vm/vm.h"

#define RAM_SIZE      (16ULL << 20)
#define HOLE_START    (3ULL << 30)
#define COUNTERS_GPA  0x2000
#define VCPU0_CODE    0x1000
#define VCPU1_CODE    0x1100
#define MOVE_TIMEOUT_MS 60000

/* 16-bit code, DS = 0: inc dword [0x2000]; jmp back. */
static const uint8_t vcpu0_loop[] = { 0x66, 0xff, 0x06, 0x00, 0x20, 0xeb, 0xf9 };
/* inc dword [0x2004]; out 0x80, al (an exit to kiln: no device there); jmp back. */
static const uint8_t vcpu1_loop[] = { 0x66, 0xff, 0x06, 0x04, 0x20, 0xe6, 0x80, 0xeb, 0xf7 };

struct counting_vm {
	int kvm_fd;
	struct vm vm;
	volatile uint32_t *counters;   /* [vCPU index] in guest RAM */
};

static void sleep_ms(unsigned int ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static uint64_t monotonic_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* Real mode at code_gpa with every data segment at 0. */
static void point_vcpu_at(struct vcpu *vcpu, uint64_t code_gpa)
{
	struct kvm_regs regs;
	struct kvm_sregs sregs;

	cr_assert_eq(vcpu_get_regs(vcpu, &regs, &sregs), 0);
	sregs.cs.selector = 0;
	sregs.cs.base = 0;
	sregs.ds.selector = 0;
	sregs.ds.base = 0;
	memset(&regs, 0, sizeof(regs));
	regs.rip = code_gpa;
	regs.rflags = 2;
	cr_assert_eq(vcpu_set_regs(vcpu, &regs, &sregs), 0);
}

static void counting_vm_create(struct counting_vm *t)
{
	struct kiln_err err = { 0 };

	t->kvm_fd = kvm_open(kvm_device_path(NULL), &err);
	cr_assert_geq(t->kvm_fd, 0, "%s", err.msg);
	cr_assert_eq(vm_create(&t->vm, t->kvm_fd, RAM_SIZE, HOLE_START, 2, &err), 0, "%s", err.msg);
	cr_assert_eq(guest_mem_write(&t->vm.mem, VCPU0_CODE, vcpu0_loop, sizeof(vcpu0_loop)), 0);
	cr_assert_eq(guest_mem_write(&t->vm.mem, VCPU1_CODE, vcpu1_loop, sizeof(vcpu1_loop)), 0);
	t->counters = guest_mem_ptr(&t->vm.mem, COUNTERS_GPA, 8);
	cr_assert_not_null(t->counters);
	point_vcpu_at(&t->vm.vcpus[0], VCPU0_CODE);
	point_vcpu_at(&t->vm.vcpus[1], VCPU1_CODE);
	/* The AP would wait for INIT/SIPI in the in-kernel LAPIC; start it. */
	cr_assert_eq(vcpu_set_mp_state(&t->vm.vcpus[1], KVM_MP_STATE_RUNNABLE), 0);
}

static void counting_vm_start(struct counting_vm *t)
{
	struct kiln_err err = { 0 };

	counting_vm_create(t);
	cr_assert_eq(vm_start(&t->vm, &err), 0, "%s", err.msg);
}

static void counting_vm_end(struct counting_vm *t)
{
	vm_request_stop(&t->vm, MACHINE_STOP_POWEROFF, 0);
	vm_join(&t->vm);
	vm_destroy(&t->vm);
	close(t->kvm_fd);
}

/* true once both counters have changed from what they read now. */
static bool both_counters_move(struct counting_vm *t)
{
	uint32_t start[2] = { t->counters[0], t->counters[1] };

	for (unsigned int waited = 0; waited < MOVE_TIMEOUT_MS; waited += 5) {
		if (t->counters[0] != start[0] && t->counters[1] != start[1])
			return true;
		sleep_ms(5);
	}
	return false;
}

static void assert_counters_still(struct counting_vm *t, unsigned int ms)
{
	uint32_t before[2] = { t->counters[0], t->counters[1] };

	sleep_ms(ms);
	cr_assert_eq(t->counters[0], before[0], "vCPU 0 counted while paused");
	cr_assert_eq(t->counters[1], before[1], "vCPU 1 counted while paused");
}

Test(vm_kvm, pause_stops_the_guest_and_resume_restarts_it, .timeout = 300)
{
	struct counting_vm t;
	struct kiln_err err = { 0 };

	counting_vm_start(&t);
	cr_assert(both_counters_move(&t), "the guest loops never ran");
	cr_assert_gt(METRIC_GET(exit_io_out), 0, "vCPU 1's OUT exits were not counted");
	cr_assert_not(vm_paused(&t.vm));

	cr_assert_eq(vm_pause(&t.vm, &err), 0, "%s", err.msg);
	cr_assert(vm_paused(&t.vm));
	for (unsigned int i = 0; i < 2; i++)
		cr_assert_eq(t.vm.vcpus[i].state, VCPU_PAUSED, "vCPU %u", i);
	assert_counters_still(&t, 300);
	cr_assert_eq(vm_pause(&t.vm, NULL), -EALREADY, "pausing a paused VM is a no-op");
	assert_counters_still(&t, 50);

	cr_assert_eq(vm_resume(&t.vm, &err), 0, "%s", err.msg);
	cr_assert_not(vm_paused(&t.vm));
	cr_assert(both_counters_move(&t), "the guest did not run again after resume");
	cr_assert_eq(vm_resume(&t.vm, NULL), -EALREADY, "resuming a running VM is a no-op");
	cr_assert(both_counters_move(&t));
	counting_vm_end(&t);
}

Test(vm_kvm, hundred_pause_resume_cycles, .timeout = 600)
{
	struct counting_vm t;

	counting_vm_start(&t);
	cr_assert(both_counters_move(&t));
	for (unsigned int cycle = 0; cycle < 100; cycle++) {
		cr_assert_eq(vm_pause(&t.vm, NULL), 0, "cycle %u: pause", cycle);
		assert_counters_still(&t, 2);
		cr_assert_eq(vm_resume(&t.vm, NULL), 0, "cycle %u: resume", cycle);
	}
	cr_assert(both_counters_move(&t), "the guest stopped running after 100 cycles");
	counting_vm_end(&t);
}

Test(vm_kvm, stop_while_paused_ends_the_vcpus, .timeout = 300)
{
	struct counting_vm t;

	counting_vm_start(&t);
	cr_assert(both_counters_move(&t));
	cr_assert_eq(vm_pause(&t.vm, NULL), 0);
	vm_request_stop(&t.vm, MACHINE_STOP_POWEROFF, 7);
	cr_assert_eq(vm_join(&t.vm), 7, "vm_join returns the stop's status");
	for (unsigned int i = 0; i < 2; i++)
		cr_assert_eq(t.vm.vcpus[i].state, VCPU_STOPPING, "vCPU %u", i);
	cr_assert_eq(vm_resume(&t.vm, NULL), -ESHUTDOWN);
	cr_assert_eq(vm_pause(&t.vm, NULL), -ESHUTDOWN);
	vm_destroy(&t.vm);
	close(t.kvm_fd);
}

Test(vm_kvm, pause_before_start_is_refused, .timeout = 120)
{
	struct counting_vm t;
	struct kiln_err err = { 0 };

	counting_vm_create(&t);
	cr_assert_eq(vm_pause(&t.vm, &err), -EINVAL);
	cr_assert(strstr(err.msg, "not started"), "message: %s", err.msg);
	cr_assert_eq(vm_resume(&t.vm, NULL), -EINVAL);
	vm_destroy(&t.vm);
	close(t.kvm_fd);
}

struct pause_race {
	struct vm *vm;
	bool resume;
	pthread_barrier_t *go;
	int ret;
};

static void *race_body(void *arg)
{
	struct pause_race *r = arg;

	pthread_barrier_wait(r->go);
	r->ret = r->resume ? vm_resume(r->vm, NULL) : vm_pause(r->vm, NULL);
	return NULL;
}

/* Two callers at once: exactly one does the work, the other is told. */
static void race_two(struct vm *vm, bool resume)
{
	pthread_barrier_t go;
	pthread_t threads[2];
	struct pause_race r[2];

	pthread_barrier_init(&go, NULL, 2);
	for (unsigned int i = 0; i < 2; i++) {
		r[i] = (struct pause_race){ .vm = vm, .resume = resume, .go = &go };
		cr_assert_eq(pthread_create(&threads[i], NULL, race_body, &r[i]), 0);
	}
	for (unsigned int i = 0; i < 2; i++)
		pthread_join(threads[i], NULL);
	pthread_barrier_destroy(&go);
	cr_assert((r[0].ret == 0 && r[1].ret == -EALREADY) ||
		  (r[1].ret == 0 && r[0].ret == -EALREADY), "%s: %d and %d",
		  resume ? "resume" : "pause", r[0].ret, r[1].ret);
}

Test(vm_kvm, concurrent_callers_are_serialised, .timeout = 300)
{
	struct counting_vm t;

	counting_vm_start(&t);
	cr_assert(both_counters_move(&t));
	for (unsigned int round = 0; round < 10; round++) {
		race_two(&t.vm, false);
		cr_assert(vm_paused(&t.vm));
		race_two(&t.vm, true);
		cr_assert_not(vm_paused(&t.vm));
	}
	cr_assert(both_counters_move(&t));
	counting_vm_end(&t);
}

Test(vm_kvm, kvm_clock_does_not_count_the_pause, .timeout = 300)
{
	struct counting_vm t;
	uint64_t clock_before, clock_after, host_before, host_after;

	counting_vm_start(&t);
	cr_assert(both_counters_move(&t));
	host_before = monotonic_ns();
	cr_assert_eq(vm_get_clock(&t.vm, &clock_before), 0);
	cr_assert_eq(vm_pause(&t.vm, NULL), 0);
	sleep_ms(1000);
	cr_assert_eq(vm_resume(&t.vm, NULL), 0);
	cr_assert_eq(vm_get_clock(&t.vm, &clock_after), 0);
	host_after = monotonic_ns();
	cr_assert_geq(clock_after, clock_before, "kvm-clock went backwards");
	/* Without the restore the guest clock would advance with the host's,
	 * by at least the 1 s pause. */
	cr_assert_lt(clock_after - clock_before, host_after - host_before - 500000000ULL,
		     "kvm-clock advanced %llu ns over %llu ns of host time with a 1 s pause",
		     (unsigned long long)(clock_after - clock_before),
		     (unsigned long long)(host_after - host_before));
	counting_vm_end(&t);
}

struct pause_from_vcpu {
	struct vm *vm;
	atomic_int pause_ret, resume_ret;
	atomic_bool done;
};

/* On vCPU 1's OUT to port 0x80: try to pause and resume the VM from its
 * own vCPU, as a device handler might. */
static void pause_from_exit(void *ctx, uint64_t offset, uint8_t *data, unsigned int size,
			    bool is_write)
{
	struct pause_from_vcpu *probe = ctx;

	(void)offset, (void)data, (void)size, (void)is_write;
	if (atomic_load(&probe->done))
		return;
	atomic_store(&probe->pause_ret, vm_pause(probe->vm, NULL));
	atomic_store(&probe->resume_ret, vm_resume(probe->vm, NULL));
	atomic_store(&probe->done, true);
}

Test(vm_kvm, pause_from_a_vcpu_thread_is_refused, .timeout = 300)
{
	struct counting_vm t;
	struct kiln_err err = { 0 };
	struct pause_from_vcpu probe = { .vm = &t.vm };

	counting_vm_create(&t);
	cr_assert_eq(io_bus_register(&t.vm.pio, 0x80, 1, pause_from_exit, &probe, "probe"), 0);
	cr_assert_eq(vm_start(&t.vm, &err), 0, "%s", err.msg);
	for (unsigned int waited = 0; !atomic_load(&probe.done) && waited < MOVE_TIMEOUT_MS;
	     waited += 5)
		sleep_ms(5);
	cr_assert(atomic_load(&probe.done), "vCPU 1 never reached its OUT");
	cr_assert_eq(atomic_load(&probe.pause_ret), -EDEADLK);
	cr_assert_eq(atomic_load(&probe.resume_ret), -EDEADLK);
	cr_assert(both_counters_move(&t), "the refused pause left the guest stuck");
	counting_vm_end(&t);
}

/* 16-bit: inc ecx; mov [0x2000], ecx; jmp back. The count lives in a
 * register, so it goes on in another VM only if the registers moved. */
static const uint8_t register_loop[] = { 0x66, 0x41, 0x66, 0x89, 0x0e, 0x00, 0x20, 0xeb, 0xf7 };
#define MSR_KERNEL_GS_BASE 0xc0000102
#define MARK_GS_BASE 0x123456789abcULL
#define MARK_DR0 0xfedc0000ULL

/* Until vCPU 0's count passes floor; a count that went back (a restored
 * VM restarting from 0) fails. */
static void wait_count_above(struct counting_vm *t, uint32_t floor)
{
	uint32_t last = t->counters[0];

	for (unsigned int waited = 0; t->counters[0] <= floor; waited += 5) {
		cr_assert_geq(t->counters[0], last, "the count went back from %u to %u", last,
			      t->counters[0]);
		last = t->counters[0];
		cr_assert_lt(waited, MOVE_TIMEOUT_MS, "vCPU 0 stopped at %u", t->counters[0]);
		sleep_ms(5);
	}
}

static void save_machine(struct counting_vm *t, struct vm_saved_state *vm_saved,
			 struct vcpu_saved_state *saved)
{
	struct kiln_err err = { 0 };
	unsigned int nr_msrs;
	uint32_t *msrs;

	cr_assert_eq(kvm_get_msr_lists(t->kvm_fd, &msrs, &nr_msrs), 0);
	cr_assert_eq(vm_save_state(&t->vm, vm_saved, &err), 0, "%s", err.msg);
	for (unsigned int i = 0; i < 2; i++)
		cr_assert_eq(vcpu_save_state(&t->vm.vcpus[i], msrs, nr_msrs, &saved[i], &err), 0,
			     "%s", err.msg);
	free(msrs);
}

Test(vm_kvm, saved_state_goes_on_in_a_new_vm, .timeout = 600)
{
	struct counting_vm a, b;
	struct kiln_err err = { 0 };
	struct vm_saved_state vm_saved;
	struct vcpu_saved_state *saved = calloc(2, sizeof(*saved));
	struct kvm_debugregs dregs = { .db = { MARK_DR0 }, .dr7 = 0x400 };
	uint64_t gs_base = 0;
	struct kvm_regs regs;
	uint32_t count;

	cr_assert_not_null(saved);
	counting_vm_create(&a);
	cr_assert_eq(guest_mem_write(&a.vm.mem, VCPU0_CODE, register_loop, sizeof(register_loop)), 0);
	cr_assert_eq(vcpu_set_msr(&a.vm.vcpus[0], MSR_KERNEL_GS_BASE, MARK_GS_BASE), 0);
	cr_assert_eq(ioctl(a.vm.vcpus[0].fd, KVM_SET_DEBUGREGS, &dregs), 0);
	cr_assert_eq(vm_start(&a.vm, &err), 0, "%s", err.msg);
	wait_count_above(&a, 1000);
	cr_assert_eq(vm_pause(&a.vm, &err), 0, "%s", err.msg);
	save_machine(&a, &vm_saved, saved);
	count = a.counters[0];
	/* Paused between the inc and the store, ecx is one ahead. */
	cr_assert(saved[0].regs.rcx == count || saved[0].regs.rcx == count + 1ULL,
		  "ecx %llu, count %u", (unsigned long long)saved[0].regs.rcx, count);
	cr_assert_gt(saved[0].nr_msrs, 0);

	/* A second VM gets A's memory and state, while A is gone. */
	counting_vm_create(&b);
	memcpy(guest_mem_ptr(&b.vm.mem, 0, RAM_SIZE), guest_mem_ptr(&a.vm.mem, 0, RAM_SIZE),
	       RAM_SIZE);
	counting_vm_end(&a);
	cr_assert_eq(vm_restore_state(&b.vm, &vm_saved, &err), 0, "%s", err.msg);
	for (unsigned int i = 0; i < 2; i++)
		cr_assert_eq(vcpu_restore_state(&b.vm.vcpus[i], &saved[i], &err), 0, "%s", err.msg);
	cr_assert_eq(vcpu_get_regs(&b.vm.vcpus[0], &regs, NULL), 0);
	cr_assert_eq(regs.rcx, saved[0].regs.rcx);
	cr_assert_eq(regs.rip, saved[0].regs.rip);
	cr_assert_eq(vm_start(&b.vm, &err), 0, "%s", err.msg);
	wait_count_above(&b, count + 1000);
	cr_assert(both_counters_move(&b), "the restored VM does not run");
	cr_assert_eq(vm_pause(&b.vm, &err), 0, "%s", err.msg);
	cr_assert_eq(vcpu_get_msr(&b.vm.vcpus[0], MSR_KERNEL_GS_BASE, &gs_base), 0);
	cr_assert_eq(gs_base, MARK_GS_BASE, "an MSR did not move: %#llx",
		     (unsigned long long)gs_base);
	memset(&dregs, 0, sizeof(dregs));
	cr_assert_eq(ioctl(b.vm.vcpus[0].fd, KVM_GET_DEBUGREGS, &dregs), 0);
	cr_assert_eq(dregs.db[0], MARK_DR0, "DR0 did not move");
	cr_assert_eq(vm_resume(&b.vm, &err), 0, "%s", err.msg);
	counting_vm_end(&b);
	free(saved);
}

Test(vm_kvm, restore_refuses_a_state_kvm_rejects, .timeout = 300)
{
	struct counting_vm t;
	struct kiln_err err = { 0 };
	struct vcpu_saved_state *state = calloc(1, sizeof(*state));
	struct vm_saved_state vm_saved;

	cr_assert_not_null(state);
	counting_vm_create(&t);
	save_machine(&t, &vm_saved, (struct vcpu_saved_state[2]){ 0 });
	cr_assert_eq(vcpu_save_state(&t.vm.vcpus[0], NULL, 0, state, &err), 0, "%s", err.msg);
	/* An MSR no CPU has: KVM refuses it, and the error names it. */
	state->msrs[0] = (struct kvm_msr_entry){ .index = 0x4b564dffu + 0x1000, .data = 1 };
	state->nr_msrs = 1;
	cr_assert_lt(vcpu_restore_state(&t.vm.vcpus[0], state, &err), 0);
	cr_assert(strstr(err.msg, "MSR 0x4b565dff"), "%s", err.msg);
	vm_saved.ioapic.chip_id = KVM_IRQCHIP_PIC_MASTER;
	err = (struct kiln_err){ 0 };
	cr_assert_eq(vm_restore_state(&t.vm, &vm_saved, &err), -EINVAL);
	vm_destroy(&t.vm);
	close(t.kvm_fd);
	free(state);
}
