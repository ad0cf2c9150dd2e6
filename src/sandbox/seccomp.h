/* SPDX-License-Identifier: MIT */
/*
 * seccomp filters per thread kind (libseccomp). Each kind of thread kiln
 * runs gets an allow-list of the system calls it needs once its set-up is
 * done, with the arguments checked where it matters (ioctl numbers, fcntl
 * commands, mmap/mprotect without PROT_EXEC, clone for threads only);
 * anything else kills the whole process (SIGSYS), or is only logged in
 * SANDBOX_LOG mode. The lists, and why each call is on them, are in
 * seccomp.c. Callers name their thread's kind; they never build filters.
 *
 * A filter is inherited by the threads a thread creates, and filters
 * stack (every one must allow a call), so each thread installs its own
 * filter itself, and threads are created by threads whose lists cover
 * theirs (see README, "Seccomp").
 *
 * This sits beside util/ at the bottom of the layers: it knows system call
 * and ioctl numbers, nothing of the machine.
 */
#ifndef KILN_SANDBOX_SECCOMP_H
#define KILN_SANDBOX_SECCOMP_H

#include <stdbool.h>

#include "util/error.h"

/* What a forbidden call does: kill is the default of `kiln run`. */
enum sandbox_mode { SANDBOX_KILL, SANDBOX_LOG, SANDBOX_OFF };

enum sandbox_thread {
	SANDBOX_THREAD_NONE,           /* no filter: tests, the host harness */
	SANDBOX_THREAD_MAIN,           /* console, signals, teardown */
	SANDBOX_THREAD_VCPU,           /* KVM_RUN and the exits' device handlers */
	SANDBOX_THREAD_API,            /* the HTTP server and the requests it serves */
	SANDBOX_THREAD_METRICS,        /* the metrics flusher */
	SANDBOX_THREAD_WORKER_BLK,     /* a virtio-blk queue's worker */
	SANDBOX_THREAD_WORKER_CONSOLE, /* a virtio-console queue's worker */
	SANDBOX_THREAD_WORKER_RNG,     /* a virtio-rng queue's worker */
	SANDBOX_THREAD_WORKER_VSOCK,   /* a virtio-vsock queue's worker */
	SANDBOX_THREAD_RTC,            /* the CMOS RTC's timer thread */
	SANDBOX_THREAD_NET_USER,       /* --net user: libslirp's poll loop */
	SANDBOX_THREAD_WORKER_NET,     /* a virtio-net queue's worker */
	SANDBOX_THREAD_KINDS
};

/*
 * Choose the mode for the whole process, before any thread installs its
 * filter. Until then it is SANDBOX_OFF, so unit tests that build machines
 * run unfiltered; `kiln run` sets it from --seccomp / --no-seccomp.
 */
void sandbox_set_mode(enum sandbox_mode mode);
enum sandbox_mode sandbox_mode(void);

/*
 * Install kind's filter on the calling thread (nothing for
 * SANDBOX_THREAD_NONE or in SANDBOX_OFF mode). 0, or a negative errno with
 * err naming the thread kind.
 */
int sandbox_enter(enum sandbox_thread kind, struct kiln_err *err);

/* "vcpu", "worker-blk", ...: the names the test hook and messages use. */
const char *sandbox_thread_name(enum sandbox_thread kind);
/* The kind named name, or SANDBOX_THREAD_NONE. */
enum sandbox_thread sandbox_thread_by_name(const char *name);

/*
 * Test builds only (-DKILN_TEST_HOOKS): when $KILN_SECCOMP_TEST_VIOLATE
 * names kind, make a call no list allows (socket(AF_INET)), so a test can
 * see the process killed by SIGSYS. Called where the thread does its real
 * work, after its filter is on; a no-op in normal builds.
 */
void sandbox_test_violation(enum sandbox_thread kind);

/* For the unit tests: true when kind's list allows nr with argument arg
 * equal to value (arg -1: whatever the arguments); and when every call
 * inner's list allows, outer's allows too, as it must where a thread of
 * kind outer creates one of kind inner (filters stack). */
bool sandbox_allows(enum sandbox_thread kind, int nr, int arg, unsigned long long value);
bool sandbox_list_covers(enum sandbox_thread outer, enum sandbox_thread inner);

#endif
