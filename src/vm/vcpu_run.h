/* SPDX-License-Identifier: MIT */
/* The vCPU thread: KVM_RUN and exit dispatch. Internal to vm/. */
#ifndef KILN_VM_VCPU_RUN_H
#define KILN_VM_VCPU_RUN_H

#include "vm/vm.h"

/* SIGUSR1 with an empty handler: delivering it to a vCPU thread makes a
 * KVM_RUN in progress return -EINTR. */
int vcpu_install_kick_handler(void);
/* Make the vCPU leave (or not enter) KVM_RUN. Safe from any thread. */
void vcpu_kick(struct vcpu *vcpu);
void *vcpu_thread_main(void *arg);
/* Kick every vCPU whose thread has not ended; the caller holds run_lock,
 * which a thread takes to end, so the kick never targets a dead thread. */
void vm_kick_vcpus_locked(struct vm *vm);

#endif
