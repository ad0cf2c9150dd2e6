/* SPDX-License-Identifier: MIT */
/*
 * A virtual machine: the KVM VM fd, guest RAM, the I/O buses, the vCPUs and
 * their threads, and how the machine stops. Architecture-neutral: the x86
 * layer (x86/pc.c) fills in CPUID, registers and devices.
 */
#ifndef KILN_VM_VM_H
#define KILN_VM_VM_H

#include <linux/kvm.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "bus/io_bus.h"
#include "devices/machine.h"
#include "util/error.h"
#include "vm/irq.h"
#include "vm/memory.h"

#define VM_MAX_VCPUS 64

struct vm;

/* Where a vCPU thread is; changed under vm->run_lock. */
enum vcpu_state {
	VCPU_NOT_STARTED,
	VCPU_RUNNING,   /* in or between KVM_RUN calls */
	VCPU_PAUSED,    /* parked on vm->run_cond until resume or stop */
	VCPU_STOPPING,  /* left its loop for good; the thread is ending */
};

struct vcpu {
	struct vm *vm;
	unsigned int index;
	int fd;
	struct kvm_run *run;
	size_t run_size;
	pthread_t thread;
	bool thread_started;
	enum vcpu_state state;
	/* The last exit was port I/O or MMIO, which KVM completes only on
	 * the next KVM_RUN. Touched by the vCPU's own thread only. */
	bool io_pending;
	/* The machine woke from S3 since this vCPU last ran: it takes its wake
	 * state (vm->wake_vcpu) before it runs again. Under vm->run_lock. */
	bool wake_pending;
};

struct vm_msi {
	bool active;
	uint64_t addr;
	uint32_t data;
	int fd;
};

struct vm {
	int kvm_fd;
	int vm_fd;
	struct guest_memory mem;
	struct io_bus pio;
	struct io_bus mmio;
	struct vcpu vcpus[VM_MAX_VCPUS];
	unsigned int nr_vcpus;
	struct machine_ops machine;   /* what devices get: stop, set_irq */
	bool trace_mmio;              /* one stderr line per MMIO exit */
	int stop_eventfd;             /* readable once the VM is stopping */
	atomic_bool stop_claimed;     /* set by the first stop request */
	atomic_int stop_reason;       /* enum machine_stop_reason */
	int exit_status;              /* valid once stop_reason is set */
	/*
	 * Pause and resume. pause_lock serialises the callers; run_lock
	 * guards every vCPU's state, nr_parked, and the kicks (a kick only
	 * targets a thread that has not ended); run_cond is broadcast when a
	 * vCPU parks or ends and when the VM resumes or stops.
	 */
	pthread_mutex_t pause_lock;
	pthread_mutex_t run_lock;
	pthread_cond_t run_cond;
	atomic_bool pause_requested;  /* set under run_lock; read lock-free between exits */
	atomic_bool vcpus_started;    /* vm_start made every thread */
	atomic_bool paused;           /* every vCPU parked, under pause_lock */
	unsigned int nr_parked;
	bool track_dirty;             /* KVM logs RAM writes (diff snapshots) */
	bool has_adjust_clock;        /* KVM_CAP_ADJUST_CLOCK: kvm-clock kept across pause */
	struct kvm_clock_data paused_clock;
	pthread_mutex_t msi_lock;     /* MSI routes and their pool, changed from vCPU threads */
	struct msi_route_pool msi_pool;
	/* The architecture's answer to an instruction KVM could not emulate:
	 * true when it completed it (x86/emulation_gap.c). */
	bool (*complete_emulation)(struct vcpu *vcpu, void *ctx);
	void *complete_emulation_ctx;
	struct vm_msi msi[VM_MAX_MSI_ROUTES];
	/* ACPI S3: while asleep every vCPU parks as for a pause (memory and
	 * devices untouched, the clocks running on). On wake each vCPU, on its
	 * own thread, is given its wake state by the architecture's wake_vcpu
	 * (0, or -errno: the machine then fails). Set under run_lock. */
	atomic_bool asleep;
	int (*wake_vcpu)(struct vcpu *vcpu, void *ctx);
	void *wake_vcpu_ctx;
};

/*
 * Create the VM with in-kernel irqchip and PIT, ram_size bytes of RAM and
 * nr_vcpus vCPUs. RAM that would reach ram_hole_start (the board's 32-bit
 * MMIO hole, a multiple of 1 GiB) continues from 4 GiB instead.
 */
int vm_create(struct vm *vm, int kvm_fd, uint64_t ram_size, uint64_t ram_hole_start,
	      unsigned int nr_vcpus, struct kiln_err *err);
/* The same with RAM mapped privately from mem_fd (a snapshot's memory
 * file of exactly ram_size bytes; -1: fresh RAM), and with track_dirty,
 * KVM's dirty log on every RAM slot plus the VMM's own (vm_take_dirty_pages). */
int vm_create_from_file(struct vm *vm, int kvm_fd, uint64_t ram_size, uint64_t ram_hole_start,
			unsigned int nr_vcpus, int mem_fd, bool track_dirty, struct kiln_err *err);
void vm_destroy(struct vm *vm);

/* The pages written since the last call (or since creation), by the guest
 * and by the VMM, into bitmap (guest_mem_bitmap_words words, one bit per
 * page in memory-file order), and clear the logs. A paused VM; -EINVAL
 * when dirty pages are not tracked. */
int vm_take_dirty_pages(struct vm *vm, uint64_t *bitmap, struct kiln_err *err);

/* vm_start for a machine restored paused: every vCPU parks before its
 * first KVM_RUN, and the kvm-clock it was given is what vm_resume sets. */
int vm_start_paused(struct vm *vm, struct kiln_err *err);

/* Start one thread per vCPU; returns 0 or a negative errno. */
int vm_start(struct vm *vm, struct kiln_err *err);
/* Stop the VM (first caller wins) and kick every vCPU out of KVM_RUN. */
void vm_request_stop(struct vm *vm, enum machine_stop_reason reason, int exit_status);
/* Join all vCPU threads; returns the exit status the stop asked for. */
int vm_join(struct vm *vm);
bool vm_stopping(const struct vm *vm);

/*
 * Take every vCPU out of KVM_RUN at an exit boundary (a port I/O or MMIO
 * exit in progress is completed first) and park it; returns once all are
 * parked, with the guest's kvm-clock saved. -EALREADY when already paused
 * (a no-op), -EINVAL when the vCPUs never started, -ESHUTDOWN when the VM
 * is stopping (also when a stop comes while pausing), -EDEADLK from a vCPU
 * thread. Any other thread; callers are serialised.
 */
int vm_pause(struct vm *vm, struct kiln_err *err);
/* Restore the kvm-clock and let the parked vCPUs run: -EALREADY when not
 * paused, -EINVAL, -ESHUTDOWN and -EDEADLK as for vm_pause. */
int vm_resume(struct vm *vm, struct kiln_err *err);
bool vm_paused(const struct vm *vm);

/* ACPI S3 (what machine_ops' suspend and wake do): sleep kicks every vCPU
 * out of KVM_RUN to park until vm_wake; wake marks every vCPU for its wake
 * state and lets them run. Any thread, a vCPU's own included. */
void vm_sleep(struct vm *vm);
void vm_wake(struct vm *vm);
bool vm_asleep(const struct vm *vm);

/* The VM's kvm-clock in nanoseconds (KVM_GET_CLOCK); 0 or -errno. */
int vm_get_clock(struct vm *vm, uint64_t *ns);

/* The in-kernel 8259 pair (chip KVM_IRQCHIP_PIC_MASTER or _SLAVE, through
 * KVM_GET/SET_IRQCHIP) and PIT (KVM_GET/SET_PIT2), for the architecture
 * layer to leave them as firmware would; 0 or -errno. */
int vm_get_pic(struct vm *vm, unsigned int chip, struct kvm_pic_state *pic);
int vm_set_pic(struct vm *vm, unsigned int chip, const struct kvm_pic_state *pic);
int vm_get_pit(struct vm *vm, struct kvm_pit_state2 *pit);
int vm_set_pit(struct vm *vm, const struct kvm_pit_state2 *pit);

/* Thin ioctl wrappers the architecture layer uses to prepare vCPUs. */
int vcpu_set_cpuid(struct vcpu *vcpu, const struct kvm_cpuid2 *table);
/* KVM_ENABLE_CAP on the vCPU (KVM_CAP_HYPERV_SYNIC2, ...); 0 or -errno. */
int vcpu_enable_cap(struct vcpu *vcpu, uint32_t cap, uint64_t arg0);
/* KVM_GET_SUPPORTED_HV_CPUID on the vCPU's fd (kvm_get_supported_hv_cpuid). */
int vcpu_get_supported_hv_cpuid(struct vcpu *vcpu, struct kvm_cpuid2 **table);
int vcpu_get_regs(struct vcpu *vcpu, struct kvm_regs *regs, struct kvm_sregs *sregs);
int vcpu_set_regs(struct vcpu *vcpu, const struct kvm_regs *regs, const struct kvm_sregs *sregs);
/* One MSR's value (KVM_GET_MSRS); 0 or -errno. */
int vcpu_get_msr(struct vcpu *vcpu, uint32_t index, uint64_t *value);
/* KVM_SET_MSRS of one MSR; 0, -errno, or -EINVAL when KVM refused the value. */
int vcpu_set_msr(struct vcpu *vcpu, uint32_t index, uint64_t value);
/* Pending exceptions and interrupts (KVM_GET/SET_VCPU_EVENTS); 0 or -errno. */
int vcpu_get_events(struct vcpu *vcpu, struct kvm_vcpu_events *events);
int vcpu_set_events(struct vcpu *vcpu, const struct kvm_vcpu_events *events);
/* The FPU/SSE/AVX state as an XSAVE image (KVM_GET/SET_XSAVE); 0 or -errno. */
int vcpu_get_xsave(struct vcpu *vcpu, struct kvm_xsave *xsave);
int vcpu_set_xsave(struct vcpu *vcpu, const struct kvm_xsave *xsave);
/* KVM_MP_STATE_RUNNABLE, ... (KVM_SET_MP_STATE); 0 or -errno. */
int vcpu_set_mp_state(struct vcpu *vcpu, uint32_t state);
int vcpu_set_fpu_defaults(struct vcpu *vcpu);
int vcpu_set_lapic_lint(struct vcpu *vcpu);

/* Print the vCPU's registers and the code bytes at RIP to stderr. */
void vcpu_dump(struct vcpu *vcpu);

#endif
