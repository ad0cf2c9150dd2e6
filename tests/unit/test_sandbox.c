// SPDX-License-Identifier: MIT
/*
 * The seccomp lists (sandbox/seccomp.c): what each thread kind may call,
 * and that an installed filter really kills (or only logs) a call outside
 * its list. Filters are installed in a forked child: one would outlive
 * the test otherwise.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <linux/kvm.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/if_tun.h>
#include <net/if.h>

#include "sandbox/seccomp.h"

#define THREAD_CLONE_FLAGS                                                              \
	(CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM | \
	 CLONE_SETTLS | CLONE_PARENT_SETTID | CLONE_CHILD_CLEARTID)

static const enum sandbox_thread every_kind[] = {
	SANDBOX_THREAD_MAIN, SANDBOX_THREAD_VCPU, SANDBOX_THREAD_API, SANDBOX_THREAD_METRICS,
	SANDBOX_THREAD_WORKER_BLK, SANDBOX_THREAD_WORKER_CONSOLE, SANDBOX_THREAD_WORKER_RNG,
	SANDBOX_THREAD_WORKER_NET,
	SANDBOX_THREAD_WORKER_VSOCK,
};
#define FOR_EACH_KIND(k) for (unsigned int i_ = 0; i_ < sizeof(every_kind) / sizeof(every_kind[0]) && ((k) = every_kind[i_], 1); i_++)

Test(sandbox, no_list_allows_what_an_attacker_wants_first)
{
	enum sandbox_thread k;

	FOR_EACH_KIND(k) {
		const char *name = sandbox_thread_name(k);

		cr_assert_not(sandbox_allows(k, SYS_execve, -1, 0), "%s: execve", name);
		cr_assert_not(sandbox_allows(k, SYS_execveat, -1, 0), "%s: execveat", name);
		cr_assert_not(sandbox_allows(k, SYS_ptrace, -1, 0), "%s: ptrace", name);
		cr_assert_not(sandbox_allows(k, SYS_socket, 0, AF_INET), "%s: AF_INET", name);
		cr_assert_not(sandbox_allows(k, SYS_mmap, 2, PROT_READ | PROT_EXEC),
			      "%s: executable mmap", name);
		cr_assert_not(sandbox_allows(k, SYS_mprotect, 2, PROT_READ | PROT_EXEC),
			      "%s: mprotect to executable", name);
		cr_assert(sandbox_allows(k, SYS_mmap, 2, PROT_READ | PROT_WRITE), "%s", name);
		/* A process (fork's flags) is never allowed. */
		cr_assert_not(sandbox_allows(k, SYS_clone, 0, SIGCHLD), "%s: fork", name);
		cr_assert_not(sandbox_allows(k, SYS_fork, -1, 0), "%s: fork", name);
		/* Needed by every thread to end and to lock. */
		cr_assert(sandbox_allows(k, SYS_futex, -1, 0), "%s: futex", name);
		cr_assert(sandbox_allows(k, SYS_exit, -1, 0), "%s: exit", name);
	}
}

Test(sandbox, kvm_ioctls_go_only_where_they_are_used)
{
	cr_assert(sandbox_allows(SANDBOX_THREAD_VCPU, SYS_ioctl, 1, KVM_RUN));
	cr_assert(sandbox_allows(SANDBOX_THREAD_VCPU, SYS_ioctl, 1, KVM_GET_REGS));
	cr_assert(sandbox_allows(SANDBOX_THREAD_VCPU, SYS_ioctl, 1, KVM_IRQFD));
	/* Building a machine is over once the vCPUs run. */
	cr_assert_not(sandbox_allows(SANDBOX_THREAD_VCPU, SYS_ioctl, 1, KVM_CREATE_VM));
	cr_assert_not(sandbox_allows(SANDBOX_THREAD_VCPU, SYS_ioctl, 1, KVM_CREATE_VCPU));
	cr_assert_not(sandbox_allows(SANDBOX_THREAD_VCPU, SYS_ioctl, 1,
				     KVM_SET_USER_MEMORY_REGION));
	cr_assert_not(sandbox_allows(SANDBOX_THREAD_VCPU, SYS_ioctl, 1, KVM_SET_CPUID2));
	cr_assert_not(sandbox_allows(SANDBOX_THREAD_VCPU, SYS_ioctl, -1, 0),
		      "ioctl is checked, not allowed outright");
	/* The wake from ACPI S3: each vCPU sets its own state, no one else. */
	cr_assert(sandbox_allows(SANDBOX_THREAD_VCPU, SYS_ioctl, 1, KVM_SET_MP_STATE));
	cr_assert(sandbox_allows(SANDBOX_THREAD_VCPU, SYS_ioctl, 1, KVM_SET_SREGS));
	cr_assert_not(sandbox_allows(SANDBOX_THREAD_RTC, SYS_ioctl, 1, KVM_SET_MP_STATE));
	cr_assert_not(sandbox_allows(SANDBOX_THREAD_API, SYS_ioctl, 1, KVM_SET_MP_STATE));
	cr_assert_not(sandbox_allows(SANDBOX_THREAD_MAIN, SYS_ioctl, 1, KVM_SET_MP_STATE));
	/* Pause and resume save and restore kvm-clock from the API thread only. */
	cr_assert(sandbox_allows(SANDBOX_THREAD_API, SYS_ioctl, 1, KVM_GET_CLOCK));
	cr_assert_not(sandbox_allows(SANDBOX_THREAD_API, SYS_ioctl, 1, KVM_RUN));
	cr_assert_not(sandbox_allows(SANDBOX_THREAD_MAIN, SYS_ioctl, 1, KVM_RUN));
	for (enum sandbox_thread k = SANDBOX_THREAD_WORKER_BLK; k <= SANDBOX_THREAD_WORKER_VSOCK; k++)
		cr_assert_not(sandbox_allows(k, SYS_ioctl, 1, KVM_RUN), "%s",
			      sandbox_thread_name(k));
}

Test(sandbox, each_worker_kind_has_its_own_backend_calls)
{
	cr_assert(sandbox_allows(SANDBOX_THREAD_WORKER_BLK, SYS_io_uring_enter, -1, 0));
	cr_assert_not(sandbox_allows(SANDBOX_THREAD_WORKER_RNG, SYS_io_uring_enter, -1, 0));
	cr_assert_not(sandbox_allows(SANDBOX_THREAD_WORKER_CONSOLE, SYS_io_uring_enter, -1, 0));
	cr_assert(sandbox_allows(SANDBOX_THREAD_WORKER_RNG, SYS_getrandom, 2, 0));
	cr_assert_not(sandbox_allows(SANDBOX_THREAD_WORKER_RNG, SYS_getrandom, 2, GRND_NONBLOCK));
	cr_assert_not(sandbox_allows(SANDBOX_THREAD_WORKER_BLK, SYS_getrandom, 2, 0));
	/* Rings are set up while the machine is built, never later. */
	cr_assert_not(sandbox_allows(SANDBOX_THREAD_WORKER_BLK, SYS_io_uring_setup, -1, 0));
	cr_assert_not(sandbox_allows(SANDBOX_THREAD_VCPU, SYS_io_uring_setup, -1, 0));
	/* Nothing a worker does opens a file. */
	for (enum sandbox_thread k = SANDBOX_THREAD_WORKER_BLK; k <= SANDBOX_THREAD_WORKER_VSOCK; k++)
		cr_assert_not(sandbox_allows(k, SYS_openat, -1, 0), "%s", sandbox_thread_name(k));
}

Test(sandbox, vsock_workers_reach_unix_sockets_only)
{
	enum sandbox_thread v = SANDBOX_THREAD_WORKER_VSOCK;

	/* Guest connects go to PATH_P: a Unix socket, never the network. */
	cr_assert(sandbox_allows(v, SYS_socket, 0, AF_UNIX));
	cr_assert_not(sandbox_allows(v, SYS_socket, 0, AF_INET6));
	cr_assert_not(sandbox_allows(v, SYS_socket, 0, AF_NETLINK));
	cr_assert(sandbox_allows(v, SYS_connect, -1, 0));
	cr_assert(sandbox_allows(v, SYS_accept4, -1, 0));
	cr_assert(sandbox_allows(v, SYS_epoll_wait, -1, 0));
	/* The listener is bound at start, before any filter; never again. */
	cr_assert_not(sandbox_allows(v, SYS_bind, -1, 0));
	cr_assert_not(sandbox_allows(v, SYS_listen, -1, 0));
	cr_assert_not(sandbox_allows(v, SYS_unlink, -1, 0));
	/* Other workers have no sockets at all. */
	cr_assert_not(sandbox_allows(SANDBOX_THREAD_WORKER_BLK, SYS_socket, 0, AF_UNIX));
	cr_assert_not(sandbox_allows(SANDBOX_THREAD_WORKER_RNG, SYS_connect, -1, 0));
}

Test(sandbox, only_the_api_thread_creates_threads_and_it_covers_them)
{
	enum sandbox_thread k;

	FOR_EACH_KIND(k) {
		bool creates = sandbox_allows(k, SYS_clone, 0, THREAD_CLONE_FLAGS);

		cr_assert_eq(creates, k == SANDBOX_THREAD_API, "%s", sandbox_thread_name(k));
	}
	/* PUT /metrics starts the flusher from the API thread: filters
	 * stack, so the API's list must allow all the flusher's. */
	cr_assert(sandbox_list_covers(SANDBOX_THREAD_API, SANDBOX_THREAD_METRICS));
	cr_assert_not(sandbox_list_covers(SANDBOX_THREAD_API, SANDBOX_THREAD_VCPU));
	cr_assert_not(sandbox_list_covers(SANDBOX_THREAD_METRICS, SANDBOX_THREAD_API));
	/* The API's sockets are checked by fcntl command. */
	cr_assert(sandbox_allows(SANDBOX_THREAD_API, SYS_fcntl, 1, F_SETFL));
	cr_assert_not(sandbox_allows(SANDBOX_THREAD_API, SYS_fcntl, 1, F_SETOWN));
}

Test(sandbox, names_round_trip)
{
	enum sandbox_thread k;

	FOR_EACH_KIND(k)
		cr_assert_eq(sandbox_thread_by_name(sandbox_thread_name(k)), k);
	cr_assert_eq(sandbox_thread_by_name("bogus"), SANDBOX_THREAD_NONE);
}

/* In a child: install kind's filter in mode, then make a call no list
 * allows (an Internet socket). Returns the child's wait status. */
static int child_makes_forbidden_call(enum sandbox_thread kind, enum sandbox_mode mode)
{
	pid_t pid = fork();
	int status;

	cr_assert_geq(pid, 0);
	if (pid == 0) {
		struct kiln_err err = { 0 };
		unsigned char byte;
		int fd;

		sandbox_set_mode(mode);
		if (sandbox_enter(kind, &err))
			_exit(10);
		/* An allowed call works first. */
		if (kind == SANDBOX_THREAD_WORKER_RNG && getrandom(&byte, 1, 0) != 1)
			_exit(11);
		fd = socket(AF_INET, SOCK_DGRAM, 0);
		_exit(fd >= 0 ? 0 : 12);
	}
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	return status;
}

Test(sandbox, a_forbidden_call_kills_the_process_with_sigsys)
{
	int status = child_makes_forbidden_call(SANDBOX_THREAD_WORKER_RNG, SANDBOX_KILL);

	cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS, "wait status 0x%x", status);
	status = child_makes_forbidden_call(SANDBOX_THREAD_VCPU, SANDBOX_KILL);
	cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS, "wait status 0x%x", status);
}

Test(sandbox, log_mode_lets_the_call_through)
{
	int status = child_makes_forbidden_call(SANDBOX_THREAD_WORKER_RNG, SANDBOX_LOG);

	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "wait status 0x%x", status);
}

Test(sandbox, off_installs_nothing)
{
	int status = child_makes_forbidden_call(SANDBOX_THREAD_WORKER_RNG, SANDBOX_OFF);

	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "wait status 0x%x", status);
	cr_assert_eq(sandbox_mode(), SANDBOX_OFF, "off until kiln run chooses");
}

/* --net user's thread carries the guest's traffic through host sockets:
 * Internet ones only, and still nothing an attacker wants first. */
Test(sandbox, net_user_opens_internet_sockets_only)
{
	enum sandbox_thread k = SANDBOX_THREAD_NET_USER;

	cr_assert_str_eq(sandbox_thread_name(k), "net-user");
	cr_assert(sandbox_allows(k, SYS_socket, 0, AF_INET));
	cr_assert(sandbox_allows(k, SYS_socket, 0, AF_INET6));
	cr_assert_not(sandbox_allows(k, SYS_socket, 0, AF_UNIX));
	cr_assert_not(sandbox_allows(k, SYS_socket, 0, AF_NETLINK));
	cr_assert_not(sandbox_allows(k, SYS_socket, 0, AF_PACKET));
	cr_assert_not(sandbox_allows(k, SYS_socket, -1, 0), "socket is checked by family");
	cr_assert(sandbox_allows(k, SYS_connect, -1, 0));
	cr_assert(sandbox_allows(k, SYS_accept, -1, 0));
	cr_assert(sandbox_allows(k, SYS_ioctl, 1, FIONREAD));
	cr_assert_not(sandbox_allows(k, SYS_ioctl, 1, KVM_RUN));
	cr_assert_not(sandbox_allows(k, SYS_ioctl, 1, KVM_IRQ_LINE));
	/* /etc/resolv.conf is read, never written. */
	cr_assert(sandbox_allows(k, SYS_openat, 2, O_RDONLY));
	cr_assert_not(sandbox_allows(k, SYS_openat, 2, O_WRONLY));
	cr_assert_not(sandbox_allows(k, SYS_openat, 2, O_RDWR));
	cr_assert_not(sandbox_allows(k, SYS_openat, 2, O_RDONLY | O_CREAT));
	cr_assert_not(sandbox_allows(k, SYS_execve, -1, 0));
	cr_assert_not(sandbox_allows(k, SYS_ptrace, -1, 0));
	cr_assert_not(sandbox_allows(k, SYS_mmap, 2, PROT_READ | PROT_EXEC));
	cr_assert_not(sandbox_allows(k, SYS_clone, 0, SIGCHLD), "fork");
	cr_assert_not(sandbox_allows(k, SYS_clone, 0, THREAD_CLONE_FLAGS), "no threads");
	cr_assert_not(sandbox_allows(k, SYS_unlink, -1, 0));
	/* No other kind may open an Internet socket. */
	for (enum sandbox_thread other = SANDBOX_THREAD_MAIN; other < SANDBOX_THREAD_KINDS; other++)
		if (other != k)
			cr_assert_not(sandbox_allows(other, SYS_socket, 0, AF_INET), "%s",
				      sandbox_thread_name(other));
}

/* In a child under net-user's filter: an Internet socket, then a Unix one. */
/* In a child under net-user's filter: an Internet socket works; a Unix one
 * fails with EAFNOSUPPORT, so the C library's if_nametoindex (libslirp,
 * for a scoped nameserver in resolv.conf) falls back to an Internet socket
 * and works; a netlink socket kills. */
Test(sandbox, net_user_filter_allows_inet_and_refuses_other_sockets)
{
	pid_t pid = fork();
	int status;

	cr_assert_geq(pid, 0);
	if (pid == 0) {
		struct kiln_err err = { 0 };
		int fd;

		sandbox_set_mode(SANDBOX_KILL);
		if (sandbox_enter(SANDBOX_THREAD_NET_USER, &err))
			_exit(10);
		fd = socket(AF_INET, SOCK_STREAM, 0);
		if (fd < 0)
			_exit(11);
		close(fd);
		if (socket(AF_UNIX, SOCK_STREAM, 0) >= 0 || errno != EAFNOSUPPORT)
			_exit(12);
		if (if_nametoindex("lo") == 0)
			_exit(13);
		fd = socket(AF_NETLINK, SOCK_DGRAM, 0);
		_exit(fd >= 0 ? 0 : 14);
	}
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS, "wait status 0x%x", status);
}

Test(sandbox, net_workers_move_frames_and_open_nothing)
{
	enum sandbox_thread net = SANDBOX_THREAD_WORKER_NET;

	cr_assert_str_eq(sandbox_thread_name(net), "worker-net");
	cr_assert_eq(sandbox_thread_by_name("worker-net"), net);
	cr_assert(sandbox_allows(net, SYS_writev, -1, 0));
	cr_assert(sandbox_allows(net, SYS_read, -1, 0));
	cr_assert(sandbox_allows(net, SYS_poll, -1, 0));
	cr_assert(sandbox_allows(net, SYS_ioctl, 1, TUNSETQUEUE));
	/* A tap is opened and made while the machine is built, never here. */
	cr_assert_not(sandbox_allows(net, SYS_ioctl, 1, TUNSETIFF));
	cr_assert_not(sandbox_allows(net, SYS_openat, -1, 0));
	cr_assert_not(sandbox_allows(net, SYS_socket, 0, AF_PACKET));
	cr_assert_not(sandbox_allows(net, SYS_sendto, -1, 0));
	cr_assert_not(sandbox_allows(net, SYS_ioctl, 1, KVM_RUN));
	/* The driver's FEATURES_OK, on a vCPU, sets the tap's offloads. */
	cr_assert(sandbox_allows(SANDBOX_THREAD_VCPU, SYS_ioctl, 1, TUNSETOFFLOAD));
	cr_assert_not(sandbox_allows(SANDBOX_THREAD_VCPU, SYS_ioctl, 1, TUNSETIFF));
}
