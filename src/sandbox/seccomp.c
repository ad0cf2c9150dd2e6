// SPDX-License-Identifier: MIT
/*
 * The allow-lists, one per thread kind, built from groups of rules. A rule
 * allows one system call, either whatever its arguments or when one
 * argument, masked, equals a value; several rules for one call are
 * alternatives (ioctl with KVM_RUN, or with KVM_GET_REGS, ...).
 *
 * Every list also answers clone3 with ENOSYS: its arguments sit in memory,
 * where a filter cannot read them, so glibc falls back to clone, whose
 * flags the lists do check.
 */
#include "sandbox/seccomp.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <linux/if_tun.h>
#include <linux/kvm.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <linux/seccomp.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#define ANY_ARGS      -1
#define ALL_BITS      0xffffffffffffffffULL
/* The kernel takes an ioctl's request as 32 bits. */
#define IOCTL_BITS    0xffffffffULL

#define ALLOW(call)                    { SCMP_SYS(call), ANY_ARGS, 0, 0, 0 }
#define ALLOW_ARG(call, arg, value)    { SCMP_SYS(call), arg, ALL_BITS, value, 0 }
#define ALLOW_MASKED(call, arg, mask, value) { SCMP_SYS(call), arg, mask, value, 0 }
#define ALLOW_IOCTL(request)           { SCMP_SYS(ioctl), 1, IOCTL_BITS, request, 0 }
/* The call fails with error instead of killing kiln: for a library's
 * probe that has a fallback kiln prefers. */
#define FAIL_ARG(call, arg, value, error) { SCMP_SYS(call), arg, ALL_BITS, value, error }

/* What glibc's pthread_create passes to clone: a thread, never a process. */
#define THREAD_CLONE_FLAGS                                                              \
	(CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM | \
	 CLONE_SETTLS | CLONE_PARENT_SETTID | CLONE_CHILD_CLEARTID)

struct sandbox_rule {
	int nr;                   /* system call number */
	int arg;                  /* the argument checked, or ANY_ARGS */
	unsigned long long mask;  /* the argument masked with this ... */
	unsigned long long value; /* ... must equal this */
	int fail_errno;           /* 0: allow; else the call fails with this */
};

/*
 * Every thread: the C library's own needs. Memory comes and goes with
 * malloc and thread stacks (brk, mmap, munmap, mremap, madvise), never
 * executable (mmap/mprotect without PROT_EXEC); locks and condition
 * variables are futexes; clocks (when the vDSO falls back) and sleeps; a
 * thread's end (exit, or exit_group from whoever ends kiln); signal
 * masks and returns from handlers (the vCPU kick, SIGUSR1), and the
 * alternate signal stack sanitizers set up per thread; write, for log
 * lines on stderr (or the logger's file) from any thread; fstat on an
 * open fd (stdio, before a stream's first write: glibc's fstat is
 * newfstatat with AT_EMPTY_PATH, which given a path would stat it too); tgkill with SIGUSR1 (a
 * vCPU kick: pause and stop come from several threads) or SIGABRT
 * (abort(), so a failed assertion still says so). A fatal signal on any
 * thread puts the terminal back (util/term.c: TCSETS) and abort() resets
 * SIGABRT's action (rt_sigaction) before it raises it again.
 */
static const struct sandbox_rule common_rules[] = {
	ALLOW(brk),
	ALLOW_MASKED(mmap, 2, PROT_EXEC, 0),
	ALLOW_MASKED(mprotect, 2, PROT_EXEC, 0),
	ALLOW(munmap),
	ALLOW(mremap),
	ALLOW(madvise),
	ALLOW(futex),
	ALLOW(clock_gettime),
	ALLOW(clock_nanosleep),
	ALLOW(nanosleep),
	ALLOW(sched_yield),
	ALLOW(getpid),
	ALLOW(gettid),
	ALLOW(exit),
	ALLOW(exit_group),
	ALLOW(restart_syscall),
	ALLOW(rt_sigreturn),
	ALLOW(rt_sigprocmask),
	ALLOW(sigaltstack),
	ALLOW(write),
	ALLOW(fstat),
	ALLOW_ARG(newfstatat, 3, AT_EMPTY_PATH),
	ALLOW_ARG(tgkill, 2, SIGUSR1),
	ALLOW_ARG(tgkill, 2, SIGABRT),
	ALLOW(rt_sigaction),
	ALLOW_IOCTL(TCSETS),
};

/* A thread that creates threads: clone for threads only, and what the
 * new thread runs under its creator's filter before its own is on:
 * glibc's start-up (its robust futex list and restartable sequences) and
 * the installing of its filter (no_new_privs, then the filter; libseccomp
 * may ask which actions the kernel has). A filter only ever narrows. */
static const struct sandbox_rule thread_create_rules[] = {
	ALLOW_ARG(clone, 0, THREAD_CLONE_FLAGS),
	ALLOW(set_robust_list),
	ALLOW(rseq),
	ALLOW_ARG(prctl, 0, PR_SET_NO_NEW_PRIVS),
	ALLOW_ARG(seccomp, 0, SECCOMP_SET_MODE_FILTER),
	ALLOW_ARG(seccomp, 0, SECCOMP_GET_ACTION_AVAIL),
};

/*
 * The vCPU thread: KVM_RUN, and what an exit's device handler does.
 * Registers are read and written where kiln completes an instruction KVM
 * could not (x86/emulation_gap.c: regs, sregs, MSRs, events, XSAVE) and for
 * the register dump of a crash (plus KVM_TRANSLATE for the code bytes).
 * Platform devices raise lines (KVM_IRQ_LINE); virtio's transport, driven
 * by the guest's register writes, starts and resets queues: eventfds for
 * their kick and interrupt (eventfd2, read, close), ioeventfds, irqfds and
 * MSI routes (KVM_IOEVENTFD, KVM_IRQFD, KVM_SET_GSI_ROUTING), and a reset
 * waits out the block requests still in flight (io_uring_enter). Stop
 * requests write an eventfd (write, in common_rules). The guest's writes to
 * the CMOS RTC re-arm its timerfd (timerfd_settime). A virtio-net driver's
 * FEATURES_OK sets its tap's offloads (TUNSETOFFLOAD) and queues
 * (TUNSETQUEUE). On the wake from ACPI S3 each vCPU sets its own wake
 * state (regs, sregs, events and KVM_SET_MP_STATE).
 */
static const struct sandbox_rule vcpu_rules[] = {
	ALLOW_IOCTL(KVM_RUN),
	ALLOW_IOCTL(KVM_GET_REGS),
	ALLOW_IOCTL(KVM_SET_REGS),
	ALLOW_IOCTL(KVM_GET_SREGS),
	ALLOW_IOCTL(KVM_SET_SREGS),
	ALLOW_IOCTL(KVM_GET_MSRS),
	ALLOW_IOCTL(KVM_GET_VCPU_EVENTS),
	ALLOW_IOCTL(KVM_SET_VCPU_EVENTS),
	ALLOW_IOCTL(KVM_SET_MP_STATE),
	ALLOW_IOCTL(KVM_GET_XSAVE),
	ALLOW_IOCTL(KVM_SET_XSAVE),
	ALLOW_IOCTL(KVM_TRANSLATE),
	ALLOW_IOCTL(KVM_IRQ_LINE),
	ALLOW_IOCTL(KVM_IOEVENTFD),
	ALLOW_IOCTL(KVM_IRQFD),
	ALLOW_IOCTL(KVM_SET_GSI_ROUTING),
	ALLOW(eventfd2),
	ALLOW(read),
	ALLOW(close),
	ALLOW(io_uring_enter),
	ALLOW(pwrite64),
	ALLOW(timerfd_settime),
	ALLOW_IOCTL(TUNSETOFFLOAD),
	ALLOW_IOCTL(TUNSETQUEUE),
};

/*
 * Every queue worker: it sleeps in poll on the queue's kick eventfd, its
 * control eventfd and the device's fd, reads the eventfds (read) and
 * interrupts the driver through the irqfd (write, in common_rules).
 */
static const struct sandbox_rule worker_rules[] = {
	ALLOW(poll),
	ALLOW(read),
};

/* virtio-blk: one io_uring per queue; a batch goes with one io_uring_enter,
 * which also waits for completions when a pause drains the queue. Where a
 * file system can neither zero nor punch a range (tmpfs), write-zeroes is
 * finished with plain writes of zeroes as its completion is reaped
 * (pwrite64), on whichever thread reaps it: the worker, or a vCPU or the
 * main thread waiting out a reset. The I/O
 * itself runs in the kernel's io_uring workers, outside any filter. */
static const struct sandbox_rule worker_blk_rules[] = {
	ALLOW(io_uring_enter),
	ALLOW(pwrite64),
};

/* virtio-rng: the bytes come from getrandom(), blocking until the pool is
 * ready (flags 0), never from a file. */
static const struct sandbox_rule worker_rng_rules[] = {
	ALLOW_ARG(getrandom, 2, 0),
};

/* virtio-net: a TX worker writes each frame to its backend fd with one
 * writev, waiting in poll when a backend's socket is full; an RX worker
 * reads frames (read); the control queue's worker attaches and detaches a
 * multi-queue tap's queues (TUNSETQUEUE). Never a new socket or file. */
static const struct sandbox_rule worker_net_rules[] = {
	ALLOW(writev),
	ALLOW_IOCTL(TUNSETQUEUE),
};

/*
 * virtio-vsock: its three workers share one list. The rx worker takes its
 * host side's events (epoll_wait, never blocking: it sleeps in poll),
 * accepts host programs on PATH (accept4), reads their CONNECT line
 * (recvfrom with MSG_PEEK, then the line) and their bytes (readv), and
 * closes streams (close, shutdown). The tx worker connects to PATH_P
 * (socket for AF_UNIX only, connect), watches the new stream (epoll_ctl)
 * and writes the guest's bytes and the OK line (sendmsg with MSG_NOSIGNAL);
 * a stream's hang-up is checked with poll (worker_rules). A device reset
 * on a vCPU or the main thread only closes streams.
 */
static const struct sandbox_rule worker_vsock_rules[] = {
	ALLOW(epoll_wait),
	ALLOW(epoll_ctl),
	ALLOW(accept4),
	ALLOW(recvfrom),
	ALLOW(readv),
	ALLOW(sendmsg),
	ALLOW_ARG(socket, 0, AF_UNIX),
	ALLOW(connect),
	ALLOW(shutdown),
	ALLOW(close),
};

/* The CMOS RTC's timer thread: it sleeps in poll on its timerfd and stop
 * eventfd, reads the expirations (read), raises IRQ 8 (KVM_IRQ_LINE) and
 * arms the timer for the next event (timerfd_settime). */
static const struct sandbox_rule rtc_rules[] = {
	ALLOW(poll),
	ALLOW(read),
	ALLOW(timerfd_settime),
	ALLOW_IOCTL(KVM_IRQ_LINE),
};

/*
 * The main thread once the machine runs: it polls the terminal, the
 * signalfd, the stop eventfd and COM1's room eventfd (poll, read), feeds
 * COM1 (which raises its line: KVM_IRQ_LINE) and kicks vCPUs to stop
 * (tgkill, common_rules). Then it tears everything down: the terminal's
 * mode back (TCSETS, TCGETS), devices reset (ioeventfds, irqfds and MSI
 * routes removed, block requests waited out with io_uring_enter), fds
 * closed, the API's socket file removed (unlink) and its connections shut
 * (shutdown).
 */
static const struct sandbox_rule main_rules[] = {
	ALLOW(poll),
	ALLOW(read),
	ALLOW(close),
	ALLOW(unlink),
	ALLOW(shutdown),
	ALLOW(io_uring_enter),
	ALLOW(pwrite64),
	ALLOW_IOCTL(KVM_IRQ_LINE),
	ALLOW_IOCTL(KVM_IOEVENTFD),
	ALLOW_IOCTL(KVM_IRQFD),
	ALLOW_IOCTL(KVM_SET_GSI_ROUTING),
	ALLOW_IOCTL(TCGETS),
};

/*
 * The API thread (libmicrohttpd's polling thread, filtered from its first
 * connection on): it accepts on its Unix socket and talks HTTP (poll,
 * accept4, recvfrom/read, sendto/sendmsg/writev/write, shutdown, close,
 * fcntl for non-blocking sockets, setsockopt, getsockname), wakes itself
 * through an eventfd. Before the machine starts, PUT /logger and PUT
 * /metrics open their files (openat) and /metrics starts the flusher
 * (thread_create_rules); InstanceStart is handed to the main thread
 * (futex, eventfd write). Paths in requests are checked as they arrive
 * (access, and newfstatat on a path: is the metrics path a FIFO?). After start, PATCH /drives opens, locks and
 * measures the new backing file (openat, flock, fstat, BLKGETSIZE64,
 * BLKSSZGET), PATCH /vm pauses and resumes (vCPU kicks in common_rules,
 * KVM_GET_CLOCK/KVM_SET_CLOCK for kvm-clock), SendCtrlAltDel raises the
 * keyboard's line (KVM_IRQ_LINE) and interrupts the driver of a changed
 * disk (eventfd write). PUT /snapshot/create reads every vCPU's and the
 * VM's state out of KVM (the KVM_GET_* below; KVM_CHECK_EXTENSION for
 * XCRs), takes the dirty page logs (KVM_GET_DIRTY_LOG), writes the memory
 * and state files (openat, ftruncate, pwrite64, write) as temporary files
 * renamed into place, or removed on failure (rename, unlink).
 */
static const struct sandbox_rule api_rules[] = {
	ALLOW(poll),
	ALLOW(accept4),
	ALLOW(read),
	ALLOW(recvfrom),
	ALLOW(sendto),
	ALLOW(sendmsg),
	ALLOW(writev),
	ALLOW(shutdown),
	ALLOW(close),
	ALLOW(setsockopt),
	ALLOW(getsockname),
	ALLOW_ARG(fcntl, 1, F_GETFL),
	ALLOW_ARG(fcntl, 1, F_SETFL),
	ALLOW_ARG(fcntl, 1, F_GETFD),
	ALLOW_ARG(fcntl, 1, F_SETFD),
	ALLOW(openat),
	ALLOW(access),
	ALLOW(newfstatat),
	ALLOW(flock),
	ALLOW(lseek),
	ALLOW_IOCTL(BLKGETSIZE64),
	ALLOW_IOCTL(BLKSSZGET),
	ALLOW_IOCTL(KVM_GET_CLOCK),
	ALLOW_IOCTL(KVM_SET_CLOCK),
	ALLOW_IOCTL(KVM_IRQ_LINE),
	ALLOW(ftruncate),
	ALLOW(pwrite64),
	ALLOW(rename),
	ALLOW(unlink),
	ALLOW_IOCTL(KVM_CHECK_EXTENSION),
	ALLOW_IOCTL(KVM_GET_MP_STATE),
	ALLOW_IOCTL(KVM_GET_REGS),
	ALLOW_IOCTL(KVM_GET_SREGS),
	ALLOW_IOCTL(KVM_GET_XSAVE),
	ALLOW_IOCTL(KVM_GET_XCRS),
	ALLOW_IOCTL(KVM_GET_DEBUGREGS),
	ALLOW_IOCTL(KVM_GET_LAPIC),
	ALLOW_IOCTL(KVM_GET_MSRS),
	ALLOW_IOCTL(KVM_GET_VCPU_EVENTS),
	ALLOW_IOCTL(KVM_GET_IRQCHIP),
	ALLOW_IOCTL(KVM_GET_PIT2),
	ALLOW_IOCTL(KVM_GET_DIRTY_LOG),
};

/*
 * --net user's thread (backends/net_user.c): libslirp's poll loop. It
 * carries the guest's TCP and UDP through host sockets of its own, so it
 * may open Internet sockets, IPv4 and IPv6 only (no Unix, netlink or
 * packet socket), and use them: connect, or bind, listen and accept for
 * forwarded ports; send and receive; socket options, names and FIONREAD
 * (a datagram's size); non-blocking mode (fcntl F_GETFL/F_SETFL); close.
 * Guest frames come and go on its end of a socket pair (recvfrom,
 * sendto). Its DNS forwarder looks at /etc/resolv.conf when the guest
 * asks (a stat by path, and a read-only open when it changed), so the
 * thread may open files for reading only; for a scoped nameserver
 * ("fe80::1%eth0") it looks the interface up (if_nametoindex): the C
 * library first tries a Unix socket, which fails here (EAFNOSUPPORT)
 * so that it falls back to an Internet one, then asks SIOCGIFINDEX.
 */
static const struct sandbox_rule net_user_rules[] = {
	ALLOW(poll),
	ALLOW(read),
	ALLOW_ARG(socket, 0, AF_INET),
	ALLOW_ARG(socket, 0, AF_INET6),
	FAIL_ARG(socket, 0, AF_UNIX, EAFNOSUPPORT),
	ALLOW_IOCTL(SIOCGIFINDEX),
	ALLOW(connect),
	ALLOW(bind),
	ALLOW(listen),
	ALLOW(accept),
	ALLOW(accept4),
	ALLOW(recvfrom),
	ALLOW(recvmsg),
	ALLOW(sendto),
	ALLOW(sendmsg),
	ALLOW(setsockopt),
	ALLOW(getsockopt),
	ALLOW(getsockname),
	ALLOW(getpeername),
	ALLOW(shutdown),
	ALLOW(close),
	ALLOW_ARG(fcntl, 1, F_GETFL),
	ALLOW_ARG(fcntl, 1, F_SETFL),
	ALLOW_IOCTL(FIONREAD),
	ALLOW(newfstatat),
	ALLOW_MASKED(openat, 2, O_ACCMODE | O_CREAT | O_TRUNC, O_RDONLY),
	ALLOW(lseek),
};

/*
 * Sanitizer builds only (build/kiln-asan, the unit tests under ASan): at
 * exit LeakSanitizer stops the world from a tracer task it clones (clone
 * with other flags, ptrace, wait4, prctl, signals), reading
 * /proc/self/maps and the task list (openat, getdents64, readlink...), and
 * a report reads the same. Never in kiln itself.
 */
#ifdef __SANITIZE_ADDRESS__
static const struct sandbox_rule sanitizer_rules[] = {
	ALLOW(clone), ALLOW(ptrace), ALLOW(wait4), ALLOW(prctl), ALLOW(getppid),
	ALLOW(rt_sigaction), ALLOW(tgkill), ALLOW(sched_getaffinity), ALLOW(openat),
	ALLOW(read), ALLOW(pread64), ALLOW(close), ALLOW(getdents64), ALLOW(readlink),
	ALLOW(lseek), ALLOW(newfstatat), ALLOW(getrlimit), ALLOW(prlimit64), ALLOW(kill),
	/* The sanitizers' own raw system calls use the older forms. */
	ALLOW(open), ALLOW(getdents), ALLOW(stat), ALLOW(lstat), ALLOW(access),
	ALLOW(pipe), ALLOW(pipe2), ALLOW(dup2), ALLOW(process_vm_readv), ALLOW(fcntl),
};
#define SANITIZER_GROUP { sanitizer_rules, sizeof(sanitizer_rules) / sizeof(sanitizer_rules[0]) }
#else
#define SANITIZER_GROUP { NULL, 0 }
#endif

#define GROUP(rules) { rules, sizeof(rules) / sizeof(rules[0]) }

struct rule_group {
	const struct sandbox_rule *rules;
	unsigned int count;
};

struct thread_list {
	const char *name;
	struct rule_group groups[4];
};

static const struct thread_list thread_lists[SANDBOX_THREAD_KINDS] = {
	[SANDBOX_THREAD_NONE] = { "none", { { NULL, 0 } } },
	[SANDBOX_THREAD_MAIN] = { "main", { GROUP(common_rules), GROUP(main_rules) } },
	[SANDBOX_THREAD_VCPU] = { "vcpu", { GROUP(common_rules), GROUP(vcpu_rules) } },
	[SANDBOX_THREAD_API] = { "api", { GROUP(common_rules), GROUP(api_rules),
					  GROUP(thread_create_rules) } },
	/* The metrics flusher waits on a condition variable with a timeout
	 * (futex, clock_gettime) and writes a line (write): common_rules
	 * only. The API thread, which creates it, covers it. */
	[SANDBOX_THREAD_METRICS] = { "metrics", { GROUP(common_rules) } },
	[SANDBOX_THREAD_WORKER_BLK] = { "worker-blk", { GROUP(common_rules), GROUP(worker_rules),
							GROUP(worker_blk_rules) } },
	[SANDBOX_THREAD_WORKER_CONSOLE] = { "worker-console", { GROUP(common_rules),
								GROUP(worker_rules) } },
	[SANDBOX_THREAD_WORKER_RNG] = { "worker-rng", { GROUP(common_rules), GROUP(worker_rules),
							GROUP(worker_rng_rules) } },
	[SANDBOX_THREAD_WORKER_VSOCK] = { "worker-vsock", { GROUP(common_rules),
							    GROUP(worker_rules),
							    GROUP(worker_vsock_rules) } },
	[SANDBOX_THREAD_RTC] = { "rtc", { GROUP(common_rules), GROUP(rtc_rules) } },
	[SANDBOX_THREAD_NET_USER] = { "net-user", { GROUP(common_rules), GROUP(net_user_rules) } },
	[SANDBOX_THREAD_WORKER_NET] = { "worker-net", { GROUP(common_rules), GROUP(worker_rules),
							GROUP(worker_net_rules) } },
};

/* Process-wide by nature: one mode for every thread of this kiln. */
static _Atomic int process_mode = SANDBOX_OFF;

void sandbox_set_mode(enum sandbox_mode mode)
{
	atomic_store(&process_mode, (int)mode);
}

enum sandbox_mode sandbox_mode(void)
{
	return (enum sandbox_mode)atomic_load(&process_mode);
}

const char *sandbox_thread_name(enum sandbox_thread kind)
{
	return kind < SANDBOX_THREAD_KINDS ? thread_lists[kind].name : "unknown";
}

enum sandbox_thread sandbox_thread_by_name(const char *name)
{
	for (int kind = 0; kind < SANDBOX_THREAD_KINDS; kind++)
		if (!strcmp(thread_lists[kind].name, name))
			return (enum sandbox_thread)kind;
	return SANDBOX_THREAD_NONE;
}

static int add_rule(scmp_filter_ctx ctx, const struct sandbox_rule *rule)
{
	uint32_t action = rule->fail_errno ? SCMP_ACT_ERRNO(rule->fail_errno) : SCMP_ACT_ALLOW;

	if (rule->arg == ANY_ARGS)
		return seccomp_rule_add(ctx, action, rule->nr, 0);
	return seccomp_rule_add(ctx, action, rule->nr, 1,
				SCMP_CMP((unsigned int)rule->arg, SCMP_CMP_MASKED_EQ, rule->mask,
					 rule->value));
}

static int add_group(scmp_filter_ctx ctx, const struct rule_group *group)
{
	int ret = 0;

	for (unsigned int i = 0; !ret && i < group->count; i++)
		ret = add_rule(ctx, &group->rules[i]);
	return ret;
}

static int build_filter(scmp_filter_ctx ctx, const struct thread_list *list)
{
	static const struct rule_group sanitizer = SANITIZER_GROUP;
	int ret = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);

	for (unsigned int g = 0; !ret && g < 4 && list->groups[g].rules; g++)
		ret = add_group(ctx, &list->groups[g]);
	return ret ? ret : add_group(ctx, &sanitizer);
}

int sandbox_enter(enum sandbox_thread kind, struct kiln_err *err)
{
	enum sandbox_mode mode = sandbox_mode();
	scmp_filter_ctx ctx;
	int ret;

	if (kind == SANDBOX_THREAD_NONE || kind >= SANDBOX_THREAD_KINDS || mode == SANDBOX_OFF)
		return 0;
	ctx = seccomp_init(mode == SANDBOX_LOG ? SCMP_ACT_LOG : SCMP_ACT_KILL_PROCESS);
	if (!ctx)
		return err_set(err, -ENOMEM, "seccomp: cannot start the %s thread's filter",
			       sandbox_thread_name(kind));
	ret = build_filter(ctx, &thread_lists[kind]);
	if (!ret)
		ret = seccomp_load(ctx);
	seccomp_release(ctx);
	if (ret)
		return err_set_errno(err, ret, "seccomp: cannot install the %s thread's filter",
				     sandbox_thread_name(kind));
	return 0;
}

void sandbox_test_violation(enum sandbox_thread kind)
{
#ifdef KILN_TEST_HOOKS
	const char *victim = getenv("KILN_SECCOMP_TEST_VIOLATE");
	int fd;

	if (!victim || strcmp(victim, sandbox_thread_name(kind)))
		return;
	/* No list allows a netlink socket (--net user's allows Internet ones). */
	fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd >= 0)
		close(fd);
#else
	(void)kind;
#endif
}

static bool rule_allows(const struct sandbox_rule *rule, int nr, int arg,
			unsigned long long value)
{
	if (rule->nr != nr || rule->fail_errno)
		return false;
	if (rule->arg == ANY_ARGS)
		return true;
	return arg == rule->arg && (value & rule->mask) == rule->value;
}

bool sandbox_allows(enum sandbox_thread kind, int nr, int arg, unsigned long long value)
{
	const struct thread_list *list = &thread_lists[kind];

	for (unsigned int g = 0; g < 4 && list->groups[g].rules; g++)
		for (unsigned int i = 0; i < list->groups[g].count; i++)
			if (rule_allows(&list->groups[g].rules[i], nr, arg, value))
				return true;
	return false;
}

bool sandbox_list_covers(enum sandbox_thread outer, enum sandbox_thread inner)
{
	const struct thread_list *list = &thread_lists[inner];

	for (unsigned int g = 0; g < 4 && list->groups[g].rules; g++) {
		for (unsigned int i = 0; i < list->groups[g].count; i++) {
			const struct sandbox_rule *r = &list->groups[g].rules[i];

			if (!sandbox_allows(outer, r->nr, r->arg, r->value))
				return false;
		}
	}
	return true;
}
