/* SPDX-License-Identifier: MIT */
/* The KVM device: opening it, checking it is usable, and the facts about
 * the host that `kiln info` reports. */
#ifndef KILN_VM_KVM_H
#define KILN_VM_KVM_H

#include <stdbool.h>
#include <stdint.h>

#include "util/error.h"

#define KVM_DEFAULT_DEVICE "/dev/kvm"
#define KVM_DEVICE_ENV     "KILN_KVM_DEVICE"

struct kvm_cap_desc {
	int cap;
	const char *name;
	bool required;
};

/* Every capability kiln uses, for checks and for `kiln info`. */
extern const struct kvm_cap_desc kvm_caps_used[];
extern const unsigned int kvm_nr_caps_used;

/* The device path: the option if given, else $KILN_KVM_DEVICE, else /dev/kvm. */
const char *kvm_device_path(const char *option);

/*
 * Open the device and check the API version and every required
 * capability. Returns the fd or a negative errno with err filled: no such
 * device, no permission, not a KVM device, wrong API version, missing
 * capability (named).
 */
int kvm_open(const char *path, struct kiln_err *err);

/*
 * Open and check the device now (as kvm_open), for the whole process: from
 * then on kvm_open() returns a duplicate of this fd, whatever path it is
 * given. For a process about to lose sight of /dev (jail.c). 0 or -errno.
 */
int kvm_keep_open(const char *path, struct kiln_err *err);

/* KVM_GET_API_VERSION: the version (12 on every kernel since 2.6.22) or -errno. */
int kvm_api_version(int kvm_fd);

/* KVM_CHECK_EXTENSION: > 0 when present (some capabilities return a count). */
int kvm_check_cap(int fd, int cap);

/* KVM_GET_SUPPORTED_CPUID into a table allocated (free() it) with room for
 * at least extra_entries more entries; *capacity is the room in entries. */
struct kvm_cpuid2;
int kvm_get_supported_cpuid(int kvm_fd, struct kvm_cpuid2 **table, unsigned int extra_entries,
			    unsigned int *capacity);

/* KVM_GET_SUPPORTED_HV_CPUID, the Hyper-V leaves KVM can emulate, on the
 * system fd (KVM_CAP_SYS_HYPERV_CPUID) or a vCPU fd (KVM_CAP_HYPERV_CPUID),
 * into a table allocated to fit (free() it). 0 or -errno. */
int kvm_get_supported_hv_cpuid(int fd, struct kvm_cpuid2 **table);

/* The MSRs a VMM may read and write per vCPU: KVM_GET_MSR_INDEX_LIST and,
 * where offered, KVM_GET_MSR_FEATURE_INDEX_LIST, in one malloc'd array
 * (free() it). 0 or -errno. */
int kvm_get_msr_lists(int kvm_fd, uint32_t **msrs, unsigned int *count);

/* Which hardware backend the kvm module runs on: "VT-x", "AMD-V", "PVM"
 * (software), or "unknown", from /sys/module at the first call. */
const char *kvm_backend_name(void);

#endif
