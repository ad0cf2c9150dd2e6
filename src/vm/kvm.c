// SPDX-License-Identifier: MIT
#include "vm/kvm.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define KVM_API_EXPECTED 12

#define CAP(c, req) { KVM_CAP_##c, "KVM_CAP_" #c, req }
const struct kvm_cap_desc kvm_caps_used[] = {
	CAP(USER_MEMORY, true),
	CAP(IRQCHIP, true),
	CAP(PIT2, true),
	CAP(EXT_CPUID, true),
	CAP(IMMEDIATE_EXIT, true),
	CAP(SET_TSS_ADDR, false),
	CAP(SET_IDENTITY_MAP_ADDR, false),
	CAP(IOEVENTFD, false),
	CAP(IRQFD, false),
	CAP(IRQ_ROUTING, false),
	CAP(MP_STATE, false),
	CAP(TSC_CONTROL, false),
	CAP(ADJUST_CLOCK, false),
	CAP(TSC_DEADLINE_TIMER, false),
	CAP(GET_MSR_FEATURES, false),
	/* --hyperv (x86/hyperv.h) */
	CAP(HYPERV, false),
	CAP(HYPERV_CPUID, false),
	CAP(SYS_HYPERV_CPUID, false),
	CAP(HYPERV_VP_INDEX, false),
	CAP(HYPERV_TIME, false),
	CAP(HYPERV_SYNIC2, false),
	CAP(HYPERV_TLBFLUSH, false),
	CAP(HYPERV_ENFORCE_CPUID, false),
};
#undef CAP
const unsigned int kvm_nr_caps_used = sizeof(kvm_caps_used) / sizeof(kvm_caps_used[0]);

const char *kvm_device_path(const char *option)
{
	const char *env = getenv(KVM_DEVICE_ENV);

	if (option && *option)
		return option;
	if (env && *env)
		return env;
	return KVM_DEFAULT_DEVICE;
}

int kvm_api_version(int kvm_fd)
{
	int version = ioctl(kvm_fd, KVM_GET_API_VERSION, 0);

	return version < 0 ? -errno : version;
}

int kvm_check_cap(int fd, int cap)
{
	return ioctl(fd, KVM_CHECK_EXTENSION, cap);
}

static int open_failure(const char *path, int code, struct kiln_err *err)
{
	if (code == -ENOENT)
		return err_set(err, code, "cannot open KVM device '%s': no such file "
			       "(is the kvm module loaded? is this a VM without nested virtualisation?)",
			       path);
	if (code == -EACCES || code == -EPERM)
		return err_set(err, code, "cannot open KVM device '%s': permission denied "
			       "(run as root or join the group that owns it)", path);
	return err_set_errno(err, code, "cannot open KVM device '%s'", path);
}

/* The device kvm_keep_open() opened for the whole process, or -1. */
static int kept_fd = -1;

int kvm_keep_open(const char *path, struct kiln_err *err)
{
	int fd;

	if (kept_fd >= 0)
		return 0;
	fd = kvm_open(path, err);
	if (fd < 0)
		return fd;
	kept_fd = fd;
	return 0;
}

int kvm_open(const char *path, struct kiln_err *err)
{
	int fd, version;

	if (kept_fd >= 0) {
		fd = fcntl(kept_fd, F_DUPFD_CLOEXEC, 0);
		return fd < 0 ? err_set_errno(err, -errno, "cannot duplicate the KVM device's fd")
			      : fd;
	}
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return open_failure(path, -errno, err);
	version = kvm_api_version(fd);
	if (version < 0) {
		close(fd);
		return err_set(err, -ENOTTY, "'%s' is not a KVM device", path);
	}
	if (version != KVM_API_EXPECTED) {
		close(fd);
		return err_set(err, -EPROTO, "KVM device '%s' has API version %d; kiln needs %d",
			       path, version, KVM_API_EXPECTED);
	}
	for (unsigned int i = 0; i < kvm_nr_caps_used; i++) {
		const struct kvm_cap_desc *cap = &kvm_caps_used[i];

		if (cap->required && kvm_check_cap(fd, cap->cap) <= 0) {
			close(fd);
			return err_set(err, -ENOTSUP, "KVM device '%s' lacks the required "
				       "capability %s", path, cap->name);
		}
	}
	return fd;
}

/* Looked up once: a jailed kiln (jail.c) no longer sees /sys. */
static const char *backend_name = "unknown";
static pthread_once_t backend_once = PTHREAD_ONCE_INIT;

static void find_backend(void)
{
	static const struct { const char *module; const char *name; } backends[] = {
		{ "/sys/module/kvm_intel", "VT-x" },
		{ "/sys/module/kvm_amd", "AMD-V" },
		{ "/sys/module/kvm_pvm", "PVM" },
	};

	for (unsigned int i = 0; i < sizeof(backends) / sizeof(backends[0]); i++)
		if (access(backends[i].module, F_OK) == 0) {
			backend_name = backends[i].name;
			return;
		}
}

const char *kvm_backend_name(void)
{
	pthread_once(&backend_once, find_backend);
	return backend_name;
}

int kvm_get_supported_cpuid(int kvm_fd, struct kvm_cpuid2 **table, unsigned int extra_entries,
			    unsigned int *capacity)
{
	int saved_errno;
	unsigned int nent = 128;

	for (;;) {
		struct kvm_cpuid2 *t = calloc(1, sizeof(*t) +
					      (nent + extra_entries) * sizeof(t->entries[0]));

		if (!t)
			return -ENOMEM;
		t->nent = nent;
		if (ioctl(kvm_fd, KVM_GET_SUPPORTED_CPUID, t) == 0) {
			*table = t;
			*capacity = nent + extra_entries;
			return 0;
		}
		saved_errno = errno;
		free(t);
		if (saved_errno != E2BIG || nent >= 4096)
			return -saved_errno;
		nent *= 2;
	}
}

int kvm_get_supported_hv_cpuid(int fd, struct kvm_cpuid2 **table)
{
	int saved_errno;
	unsigned int nent = 16;

	for (;;) {
		struct kvm_cpuid2 *t = calloc(1, sizeof(*t) + nent * sizeof(t->entries[0]));

		if (!t)
			return -ENOMEM;
		t->nent = nent;
		if (ioctl(fd, KVM_GET_SUPPORTED_HV_CPUID, t) == 0) {
			*table = t;
			return 0;
		}
		saved_errno = errno;
		free(t);
		if (saved_errno != E2BIG || nent >= 1024)
			return -saved_errno;
		nent *= 2;
	}
}

/* One of KVM's MSR lists: grow until it fits (E2BIG tells the size). */
static int get_msr_list(int kvm_fd, unsigned long request, uint32_t **out, unsigned int *count)
{
	unsigned int room = 256;

	for (;;) {
		struct kvm_msr_list *list = calloc(1, sizeof(*list) + room * sizeof(uint32_t));

		if (!list)
			return -ENOMEM;
		list->nmsrs = room;
		if (ioctl(kvm_fd, request, list) == 0) {
			*count = list->nmsrs;
			*out = malloc((list->nmsrs ? list->nmsrs : 1) * sizeof(uint32_t));
			if (*out)
				memcpy(*out, list->indices, list->nmsrs * sizeof(uint32_t));
			free(list);
			return *out ? 0 : -ENOMEM;
		}
		free(list);
		if (errno != E2BIG || room >= 65536)
			return -errno;
		room *= 4;
	}
}

int kvm_get_msr_lists(int kvm_fd, uint32_t **msrs, unsigned int *count)
{
	uint32_t *saved = NULL, *features = NULL;
	unsigned int nr_saved = 0, nr_features = 0;
	int ret = get_msr_list(kvm_fd, KVM_GET_MSR_INDEX_LIST, &saved, &nr_saved);

	if (ret)
		return ret;
	/* Feature MSRs (ARCH_CAPABILITIES, ...) are settable per vCPU too. */
	if (kvm_check_cap(kvm_fd, KVM_CAP_GET_MSR_FEATURES) > 0 &&
	    (ret = get_msr_list(kvm_fd, KVM_GET_MSR_FEATURE_INDEX_LIST, &features, &nr_features))) {
		free(saved);
		return ret;
	}
	*msrs = realloc(saved, (nr_saved + nr_features + 1) * sizeof(uint32_t));
	if (!*msrs) {
		free(saved);
		free(features);
		return -ENOMEM;
	}
	if (nr_features)
		memcpy(*msrs + nr_saved, features, nr_features * sizeof(uint32_t));
	*count = nr_saved + nr_features;
	free(features);
	return 0;
}
