// SPDX-License-Identifier: MIT
#include "vm/vm.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "util/log.h"
#include "vm/vcpu_run.h"

/* Addresses Intel's VMX needs for real-mode emulation: three pages just
 * below the BIOS area, outside RAM and the MMIO devices we place. */
#define VM_TSS_ADDR          0xfffbd000ULL
#define VM_IDENTITY_MAP_ADDR 0xfffbc000ULL

/* Prefer the VM fd: some capabilities depend on the VM type. */
static int kvm_check_cap_vm(const struct vm *vm, int cap)
{
	int ret = ioctl(vm->vm_fd, KVM_CHECK_EXTENSION, cap);

	return ret < 0 ? ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, cap) : ret;
}

static void machine_stop_cb(void *ctx, enum machine_stop_reason reason, int exit_status)
{
	vm_request_stop(ctx, reason, exit_status);
}

static void machine_set_irq_cb(void *ctx, unsigned int gsi, int level)
{
	struct vm *vm = ctx;
	struct kvm_irq_level irq = { .irq = gsi, .level = level };

	if (ioctl(vm->vm_fd, KVM_IRQ_LINE, &irq) < 0)
		pr_warn("cannot set interrupt line %u: %s", gsi, strerror(errno));
}

static void machine_suspend_cb(void *ctx)
{
	vm_sleep(ctx);
}

static void machine_wake_cb(void *ctx)
{
	vm_wake(ctx);
}

static int vm_add_memory(struct vm *vm, struct kiln_err *err)
{
	for (unsigned int i = 0; i < vm->mem.nr_slots; i++) {
		const struct guest_slot *slot = &vm->mem.slots[i];
		struct kvm_userspace_memory_region region = {
			.slot = i,
			.flags = vm->track_dirty ? KVM_MEM_LOG_DIRTY_PAGES : 0,
			.guest_phys_addr = slot->gpa,
			.memory_size = slot->size,
			.userspace_addr = (uintptr_t)slot->hva,
		};

		if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &region) < 0)
			return err_set_errno(err, -errno, "cannot register guest RAM slot %u", i);
	}
	return 0;
}

static int vm_create_platform(struct vm *vm, struct kiln_err *err)
{
	struct kvm_pit_config pit = { .flags = 0 };

	if (kvm_check_cap_vm(vm, KVM_CAP_SET_TSS_ADDR) > 0 &&
	    ioctl(vm->vm_fd, KVM_SET_TSS_ADDR, (unsigned long)VM_TSS_ADDR) < 0)
		return err_set_errno(err, -errno, "KVM_SET_TSS_ADDR failed");
	if (kvm_check_cap_vm(vm, KVM_CAP_SET_IDENTITY_MAP_ADDR) > 0) {
		uint64_t addr = VM_IDENTITY_MAP_ADDR;

		if (ioctl(vm->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &addr) < 0)
			return err_set_errno(err, -errno, "KVM_SET_IDENTITY_MAP_ADDR failed");
	}
	if (ioctl(vm->vm_fd, KVM_CREATE_IRQCHIP, 0) < 0)
		return err_set_errno(err, -errno, "cannot create the in-kernel irqchip");
	if (ioctl(vm->vm_fd, KVM_CREATE_PIT2, &pit) < 0)
		return err_set_errno(err, -errno, "cannot create the in-kernel PIT");
	return 0;
}

static int vm_create_vcpus(struct vm *vm, unsigned int nr_vcpus, struct kiln_err *err)
{
	int run_size = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);

	if (run_size <= 0)
		return err_set_errno(err, -errno, "KVM_GET_VCPU_MMAP_SIZE failed");
	for (unsigned int i = 0; i < nr_vcpus; i++) {
		struct vcpu *vcpu = &vm->vcpus[i];

		vcpu->vm = vm;
		vcpu->index = i;
		vcpu->fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, (unsigned long)i);
		if (vcpu->fd < 0)
			return err_set_errno(err, -errno, "cannot create vCPU %u", i);
		vm->nr_vcpus = i + 1;
		vcpu->run_size = (size_t)run_size;
		vcpu->run = mmap(NULL, vcpu->run_size, PROT_READ | PROT_WRITE, MAP_SHARED,
				 vcpu->fd, 0);
		if (vcpu->run == MAP_FAILED) {
			vcpu->run = NULL;
			return err_set_errno(err, -errno, "cannot map vCPU %u's run area", i);
		}
	}
	return 0;
}

static int vm_check_vcpu_count(struct vm *vm, unsigned int nr_vcpus, struct kiln_err *err)
{
	int max = kvm_check_cap_vm(vm, KVM_CAP_MAX_VCPUS);

	if (max <= 0)
		max = kvm_check_cap_vm(vm, KVM_CAP_NR_VCPUS);
	if (max <= 0)
		max = 4; /* what the KVM API documents when neither is reported */
	if (max > VM_MAX_VCPUS)
		max = VM_MAX_VCPUS;
	if (nr_vcpus == 0 || nr_vcpus > (unsigned int)max)
		return err_set(err, -EINVAL, "%u vCPUs requested; this host allows 1 to %d",
			       nr_vcpus, max);
	return 0;
}

/* RAM from mem_fd (a snapshot's memory file, mapped privately) or, with
 * mem_fd -1, fresh anonymous memory. */
static int vm_create_memory(struct vm *vm, uint64_t ram_size, uint64_t ram_hole_start,
			    int mem_fd, struct kiln_err *err)
{
	int ret;

	if (mem_fd < 0) {
		ret = guest_mem_create(&vm->mem, ram_size, ram_hole_start);
		if (ret)
			return err_set_errno(err, ret, "cannot allocate %llu MiB of guest RAM",
					     (unsigned long long)(ram_size >> 20));
		return 0;
	}
	ret = guest_mem_map_file(&vm->mem, ram_size, ram_hole_start, mem_fd);
	if (ret == -EINVAL)
		return err_set(err, ret, "the memory file is not a regular file of %llu bytes "
			       "(the snapshot's %llu MiB of RAM)", (unsigned long long)ram_size,
			       (unsigned long long)(ram_size >> 20));
	if (ret)
		return err_set_errno(err, ret, "cannot map the memory file");
	return 0;
}

int vm_create(struct vm *vm, int kvm_fd, uint64_t ram_size, uint64_t ram_hole_start,
	      unsigned int nr_vcpus, struct kiln_err *err)
{
	return vm_create_from_file(vm, kvm_fd, ram_size, ram_hole_start, nr_vcpus, -1, false,
				   err);
}

int vm_create_from_file(struct vm *vm, int kvm_fd, uint64_t ram_size, uint64_t ram_hole_start,
			unsigned int nr_vcpus, int mem_fd, bool track_dirty, struct kiln_err *err)
{
	int ret;

	memset(vm, 0, sizeof(*vm));
	pthread_mutex_init(&vm->msi_lock, NULL);
	pthread_mutex_init(&vm->pause_lock, NULL);
	pthread_mutex_init(&vm->run_lock, NULL);
	pthread_cond_init(&vm->run_cond, NULL);
	msi_route_pool_init(&vm->msi_pool, VM_MAX_MSI_ROUTES);
	vm->kvm_fd = kvm_fd;
	vm->vm_fd = -1;
	vm->stop_eventfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (vm->stop_eventfd < 0)
		return err_set_errno(err, -errno, "cannot create an eventfd");
	vm->machine = (struct machine_ops){
		.stop = machine_stop_cb, .set_irq = machine_set_irq_cb,
		.suspend = machine_suspend_cb, .wake = machine_wake_cb, .ctx = vm,
	};
	vm->vm_fd = ioctl(kvm_fd, KVM_CREATE_VM, 0);
	if (vm->vm_fd < 0)
		return err_set_errno(err, -errno, "cannot create a KVM VM");
	ret = vm_check_vcpu_count(vm, nr_vcpus, err);
	if (ret)
		return ret;
	ret = vm_create_memory(vm, ram_size, ram_hole_start, mem_fd, err);
	if (ret)
		return ret;
	vm->track_dirty = track_dirty;
	if (track_dirty && guest_mem_track_dirty(&vm->mem))
		return err_set(err, -ENOMEM, "out of memory for the dirty page bitmap");
	vm->has_adjust_clock = kvm_check_cap_vm(vm, KVM_CAP_ADJUST_CLOCK) > 0;
	ret = vm_add_memory(vm, err);
	if (!ret)
		ret = vm_create_platform(vm, err);
	if (!ret)
		ret = vm_create_vcpus(vm, nr_vcpus, err);
	return ret;
}

void vm_destroy(struct vm *vm)
{
	for (unsigned int i = 0; i < vm->nr_vcpus; i++) {
		if (vm->vcpus[i].run)
			munmap(vm->vcpus[i].run, vm->vcpus[i].run_size);
		if (vm->vcpus[i].fd >= 0)
			close(vm->vcpus[i].fd);
	}
	if (vm->vm_fd >= 0)
		close(vm->vm_fd);
	if (vm->stop_eventfd >= 0)
		close(vm->stop_eventfd);
	guest_mem_destroy(&vm->mem);
	pthread_cond_destroy(&vm->run_cond);
	pthread_mutex_destroy(&vm->run_lock);
	pthread_mutex_destroy(&vm->pause_lock);
	pthread_mutex_destroy(&vm->msi_lock);
	vm->nr_vcpus = 0;
	vm->vm_fd = -1;
	vm->stop_eventfd = -1;
}

bool vm_stopping(const struct vm *vm)
{
	return atomic_load(&vm->stop_reason) != MACHINE_STOP_NONE;
}

void vm_kick_vcpus_locked(struct vm *vm)
{
	for (unsigned int i = 0; i < vm->nr_vcpus; i++)
		if (vm->vcpus[i].run && vm->vcpus[i].state != VCPU_STOPPING)
			vcpu_kick(&vm->vcpus[i]);
}

void vm_request_stop(struct vm *vm, enum machine_stop_reason reason, int exit_status)
{
	uint64_t one = 1;

	if (atomic_exchange(&vm->stop_claimed, true))
		return;
	/* exit_status is written before the reason is published, so whoever
	 * sees a reason also sees its status. */
	vm->exit_status = exit_status;
	pthread_mutex_lock(&vm->run_lock);
	atomic_store(&vm->stop_reason, (int)reason);
	vm_kick_vcpus_locked(vm);
	pthread_cond_broadcast(&vm->run_cond); /* parked vCPUs and a waiting pause */
	pthread_mutex_unlock(&vm->run_lock);
	if (write(vm->stop_eventfd, &one, sizeof(one)) < 0)
		pr_debug("stop eventfd write failed: %s", strerror(errno));
}

void vm_sleep(struct vm *vm)
{
	pthread_mutex_lock(&vm->run_lock);
	atomic_store(&vm->asleep, true);
	vm_kick_vcpus_locked(vm);
	pthread_mutex_unlock(&vm->run_lock);
}

void vm_wake(struct vm *vm)
{
	pthread_mutex_lock(&vm->run_lock);
	if (atomic_exchange(&vm->asleep, false)) {
		for (unsigned int i = 0; i < vm->nr_vcpus; i++)
			vm->vcpus[i].wake_pending = true;
		/* A vCPU not yet parked sees it before its next KVM_RUN. */
		vm_kick_vcpus_locked(vm);
		pthread_cond_broadcast(&vm->run_cond);
	}
	pthread_mutex_unlock(&vm->run_lock);
}

bool vm_asleep(const struct vm *vm)
{
	return atomic_load(&vm->asleep);
}

int vm_start(struct vm *vm, struct kiln_err *err)
{
	int ret;

	ret = vcpu_install_kick_handler();
	if (ret)
		return err_set_errno(err, ret, "cannot install the vCPU kick signal");
	for (unsigned int i = 0; i < vm->nr_vcpus; i++) {
		struct vcpu *vcpu = &vm->vcpus[i];

		/* Under run_lock: a kick sees the thread and its state together. */
		pthread_mutex_lock(&vm->run_lock);
		ret = pthread_create(&vcpu->thread, NULL, vcpu_thread_main, vcpu);
		if (!ret) {
			vcpu->thread_started = true;
			vcpu->state = VCPU_RUNNING;
		}
		pthread_mutex_unlock(&vm->run_lock);
		if (ret) {
			vm_request_stop(vm, MACHINE_STOP_ERROR, 1);
			return err_set_errno(err, -ret, "cannot start vCPU %u's thread", i);
		}
	}
	atomic_store(&vm->vcpus_started, true);
	return 0;
}

int vm_join(struct vm *vm)
{
	for (unsigned int i = 0; i < vm->nr_vcpus; i++) {
		if (vm->vcpus[i].thread_started)
			pthread_join(vm->vcpus[i].thread, NULL);
		vm->vcpus[i].thread_started = false;
	}
	return vm->exit_status;
}

int vm_take_dirty_pages(struct vm *vm, uint64_t *bitmap, struct kiln_err *err)
{
	uint64_t file_offset = 0;

	if (!vm->track_dirty)
		return err_set(err, -EINVAL, "dirty pages are not tracked (track_dirty_pages is off)");
	memset(bitmap, 0, guest_mem_bitmap_words(&vm->mem) * sizeof(uint64_t));
	for (unsigned int i = 0; i < vm->mem.nr_slots; i++) {
		struct kvm_dirty_log log = { .slot = i };

		/* Slots start at multiples of 1 GiB in the file: each slot's
		 * bitmap begins on a word of the whole one. */
		log.dirty_bitmap = bitmap + file_offset / GUEST_PAGE_SIZE / 64;
		if (ioctl(vm->vm_fd, KVM_GET_DIRTY_LOG, &log) < 0)
			return err_set_errno(err, -errno, "KVM_GET_DIRTY_LOG of RAM slot %u", i);
		file_offset += vm->mem.slots[i].size;
	}
	guest_mem_take_dirty(&vm->mem, bitmap);
	return 0;
}

int vm_get_pic(struct vm *vm, unsigned int chip, struct kvm_pic_state *pic)
{
	struct kvm_irqchip irqchip = { .chip_id = chip };

	if (ioctl(vm->vm_fd, KVM_GET_IRQCHIP, &irqchip) < 0)
		return -errno;
	*pic = irqchip.chip.pic;
	return 0;
}

int vm_set_pic(struct vm *vm, unsigned int chip, const struct kvm_pic_state *pic)
{
	struct kvm_irqchip irqchip = { .chip_id = chip };

	irqchip.chip.pic = *pic;
	return ioctl(vm->vm_fd, KVM_SET_IRQCHIP, &irqchip) < 0 ? -errno : 0;
}

int vm_get_pit(struct vm *vm, struct kvm_pit_state2 *pit)
{
	memset(pit, 0, sizeof(*pit));
	return ioctl(vm->vm_fd, KVM_GET_PIT2, pit) < 0 ? -errno : 0;
}

int vm_set_pit(struct vm *vm, const struct kvm_pit_state2 *pit)
{
	return ioctl(vm->vm_fd, KVM_SET_PIT2, pit) < 0 ? -errno : 0;
}
