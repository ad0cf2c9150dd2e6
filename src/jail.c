// SPDX-License-Identifier: MIT
/*
 * The jail (jail.h). The order is forced by the kernel: a new PID namespace
 * applies only to children, so kiln forks first; KVM ties a VM to the mm
 * that created it, so the VM is made in the child; namespaces, credentials
 * and capabilities are per thread, so the child enters the jail before it
 * starts any thread.
 */
#include "jail.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <jansson.h>
#include <linux/capability.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "api/api.h"
#include "util/log.h"
#include "vm/kvm.h"

static int step_failed(struct kiln_err *err, const char *step)
{
	return err_set_errno(err, -errno, "jail: cannot %s", step);
}

static int check_can_jail(const struct kiln_config *cfg, struct kiln_err *err)
{
	struct stat st;

	if (geteuid() != 0)
		return err_set(err, -EPERM, "--jail needs root (it creates namespaces and changes "
			       "user); kiln runs as uid %u", (unsigned int)geteuid());
	if (stat(cfg->jail_dir, &st))
		return err_set_errno(err, -errno, "--jail %s", cfg->jail_dir);
	if (!S_ISDIR(st.st_mode))
		return err_set(err, -ENOTDIR, "--jail %s is not a directory", cfg->jail_dir);
	return 0;
}

/* The parent: pass stop signals on until the child ends; its status. */
static int supervise(pid_t child, const sigset_t *signals)
{
	for (;;) {
		siginfo_t info;
		int wstatus;
		int sig = sigwaitinfo(signals, &info);

		if (sig < 0)
			continue; /* EINTR */
		if (sig != SIGCHLD) {
			kill(child, sig);
			continue;
		}
		switch (waitpid(child, &wstatus, WNOHANG)) {
		case 0:
			continue; /* stopped or continued, not ended */
		case -1:
			if (errno == EINTR)
				continue;
			pr_err("jail: cannot wait for kiln in the jail: %s", strerror(errno));
			return KILN_EXIT_ERROR;
		}
		if (WIFEXITED(wstatus))
			return WEXITSTATUS(wstatus);
		if (WIFSIGNALED(wstatus))
			return 128 + WTERMSIG(wstatus);
	}
}

/* Fork into a new PID namespace, the forwarded signals staying blocked in
 * the parent (so none is lost to a default action before it waits). The
 * child's pid in the parent, 0 in the child, or a negative errno. */
static pid_t fork_into_pid_namespace(sigset_t *forwarded, struct kiln_err *err)
{
	sigset_t old_mask;
	pid_t child;

	sigemptyset(forwarded);
	sigaddset(forwarded, SIGINT);
	sigaddset(forwarded, SIGTERM);
	sigaddset(forwarded, SIGHUP);
	sigaddset(forwarded, SIGCHLD);
	sigprocmask(SIG_BLOCK, forwarded, &old_mask);
	/* An inherited SIG_IGN would reap the child before the parent sees it. */
	signal(SIGCHLD, SIG_DFL);
	if (unshare(CLONE_NEWPID))
		child = step_failed(err, "create a PID namespace");
	else if ((child = fork()) < 0)
		child = step_failed(err, "fork into the PID namespace");
	/* The child keeps the stop signals blocked: as PID 1 it would drop them
	 * while their action is the default, before kiln reads them from its
	 * signalfd (SIGCHLD it has no use for). */
	if (child < 0)
		sigprocmask(SIG_SETMASK, &old_mask, NULL);
	else if (child == 0) {
		sigset_t chld;

		sigemptyset(&chld);
		sigaddset(&chld, SIGCHLD);
		sigprocmask(SIG_UNBLOCK, &chld, NULL);
	}
	return child;
}

int jail_fork(const struct kiln_config *cfg, int *api_listen_fd, int *status,
	      struct kiln_err *err)
{
	sigset_t forwarded;
	pid_t child;
	int ret = check_can_jail(cfg, err);

	*api_listen_fd = -1;
	if (ret)
		return ret;
	/* Nothing the caller left open may follow kiln into the jail. */
	if (close_range(3, ~0U, 0))
		return step_failed(err, "close inherited file descriptors");
	/* Bound here, as root on the host, and removed here once kiln ends. */
	if (cfg->api_sock && (*api_listen_fd = api_listen(cfg->api_sock, err)) < 0)
		return *api_listen_fd;
	child = fork_into_pid_namespace(&forwarded, err);
	if (child == 0)
		return 0;
	if (*api_listen_fd >= 0)
		close(*api_listen_fd);
	*api_listen_fd = -1;
	if (child > 0)
		*status = supervise(child, &forwarded);
	if (cfg->api_sock)
		unlink(cfg->api_sock);
	return child > 0 ? 1 : child;
}

/* Namespaces, root and credentials are per thread: with a second thread,
 * it would stay outside. */
static int check_single_threaded(struct kiln_err *err)
{
	DIR *tasks = opendir("/proc/self/task");
	struct dirent *entry;
	int threads = 0;

	if (!tasks)
		return step_failed(err, "count this process's threads in /proc/self/task");
	while ((entry = readdir(tasks)))
		if (entry->d_name[0] != '.')
			threads++;
	closedir(tasks);
	if (threads != 1)
		return err_set(err, -EBUSY, "jail: kiln already runs %d threads; it must enter the "
			       "jail with one", threads);
	return 0;
}

/* dir as / with the old root gone, in mount namespaces of its own. */
static int enter_dir(const char *dir, struct kiln_err *err)
{
	/* Nothing mounted or unmounted here may reach the host's namespace. */
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL))
		return step_failed(err, "make the mounts private");
	/* pivot_root needs the new root to be a mount point. */
	if (mount(dir, dir, NULL, MS_BIND | MS_REC, NULL))
		return err_set_errno(err, -errno, "jail: cannot bind-mount %s on itself", dir);
	if (chdir(dir))
		return err_set_errno(err, -errno, "jail: cannot enter %s", dir);
	/* The old root is stacked under the new one, then detached. */
	if (syscall(SYS_pivot_root, ".", "."))
		return err_set_errno(err, -errno, "jail: cannot pivot_root into %s", dir);
	if (umount2(".", MNT_DETACH))
		return step_failed(err, "detach the old root");
	if (chdir("/"))
		return step_failed(err, "change to the new root");
	return 0;
}

/* New mount, IPC, UTS and network namespaces with dir as / and the old
 * root gone. The network namespace is empty: a subverted kiln must not
 * reach the host's sockets (TCP, abstract Unix sockets); taps from --net
 * are open before it, and --jail-netns names a namespace instead. Except
 * with --net user (keep_network): libslirp's sockets must reach the host's
 * network, and only its thread's filter allows Internet sockets, which is
 * the reach the guest is given through it anyway; vsock, whose workers may
 * connect Unix sockets (abstract names are per namespace), is refused then. */
static int enter_root(const char *dir, bool keep_network, struct kiln_err *err)
{
	int namespaces = CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS;

	if (unshare(keep_network ? namespaces : namespaces | CLONE_NEWNET))
		return step_failed(err, "create the mount, IPC, UTS and network namespaces");
	return enter_dir(dir, err);
}

/* --jail-netns: the given network namespace (the one holding the taps the
 * API will name, as Firecracker's jailer --netns) instead of an empty one;
 * opened by its host path before the root changes. */
static int enter_root_in_netns(const char *dir, const char *netns, struct kiln_err *err)
{
	int fd = open(netns, O_RDONLY | O_CLOEXEC), ret;

	if (fd < 0)
		return err_set_errno(err, -errno, "jail: cannot open the network namespace %s",
				     netns);
	ret = setns(fd, CLONE_NEWNET);
	close(fd);
	if (ret)
		return err_set_errno(err, -errno, "jail: cannot join the network namespace %s",
				     netns);
	if (unshare(CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS))
		return step_failed(err, "create the mount, IPC and UTS namespaces");
	return enter_dir(dir, err);
}

static int limit_open_files(struct kiln_err *err)
{
	const struct rlimit limit = { JAIL_NOFILE_LIMIT, JAIL_NOFILE_LIMIT };

	return setrlimit(RLIMIT_NOFILE, &limit) ? step_failed(err, "set RLIMIT_NOFILE") : 0;
}

/* The bounding set needs CAP_SETPCAP: cleared while still root. */
static int clear_bounding_set(struct kiln_err *err)
{
	for (int cap = 0; prctl(PR_CAPBSET_READ, cap, 0, 0, 0) >= 0; cap++)
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0))
			return step_failed(err, "drop a capability from the bounding set");
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0))
		return step_failed(err, "clear the ambient capabilities");
	return 0;
}

static int become(uid_t uid, gid_t gid, struct kiln_err *err)
{
	if (setgroups(0, NULL))
		return step_failed(err, "drop the supplementary groups");
	if (setresgid(gid, gid, gid))
		return err_set_errno(err, -errno, "jail: cannot change to gid %u", gid);
	if (setresuid(uid, uid, uid))
		return err_set_errno(err, -errno, "jail: cannot change to uid %u", uid);
	return 0;
}

/* Also for uid 0, which keeps its capabilities across setresuid. */
static int drop_capabilities(struct kiln_err *err)
{
	struct __user_cap_header_struct header = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct none[_LINUX_CAPABILITY_U32S_3] = { 0 };

	if (syscall(SYS_capset, &header, none))
		return step_failed(err, "clear the capabilities");
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		return step_failed(err, "set no_new_privs");
	/* Cleared by the change of user, so set after it: kiln does not
	 * outlive a parent killed with SIGKILL. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0))
		return step_failed(err, "set the parent-death signal");
	return 0;
}

/* What kiln would otherwise look up from /sys or /dev later, inside the
 * jail, where they are not. */
static void look_up_host_facts(void)
{
	(void)kvm_backend_name();   /* the PVM profile for machines built later */
	json_object_seed(0);        /* jansson's hash seed from /dev/urandom */
}

int jail_enter(const struct kiln_config *cfg, struct kiln_err *err)
{
	int ret = check_single_threaded(err);

	if (ret)
		return ret;
	look_up_host_facts();
	ret = cfg->jail_netns ? enter_root_in_netns(cfg->jail_dir, cfg->jail_netns, err)
			      : enter_root(cfg->jail_dir, cfg->jail_keep_network, err);
	if (!ret)
		ret = limit_open_files(err);
	if (!ret)
		ret = clear_bounding_set(err);
	if (!ret)
		ret = become(cfg->jail_uid, cfg->jail_gid, err);
	if (!ret)
		ret = drop_capabilities(err);
	if (!ret)
		pr_info("jail: in %s as %u:%u", cfg->jail_dir, cfg->jail_uid, cfg->jail_gid);
	return ret;
}

int jail_enter_before_build(const struct kiln_config *cfg, struct kiln_err *err)
{
	int ret = kvm_keep_open(kvm_device_path(cfg->kvm_device), err);

	return ret ? ret : jail_enter(cfg, err);
}

int jail_limit_address_space(const struct kiln_config *cfg, struct kiln_err *err)
{
	uint64_t mib = cfg->jail_as_limit_mib ? cfg->jail_as_limit_mib
					      : cfg->memory_mib + JAIL_AS_OVERHEAD_MIB;
	/* The soft limit only: an InstanceStart that failed may be followed by
	 * one asking for more memory, which an unprivileged kiln could not
	 * raise a hard limit for. No thread's seccomp list has setrlimit or
	 * prlimit64, so a subverted kiln cannot raise the soft one either. */
	struct rlimit limit;

	if (!cfg->jail_dir || cfg->jail_no_as_limit)
		return 0;
#ifdef __SANITIZE_ADDRESS__
	/* ASan's shadow memory alone is terabytes of address space. */
	(void)limit, (void)err, (void)mib;
	return 0;
#else
	if (getrlimit(RLIMIT_AS, &limit))
		return err_set_errno(err, -errno, "jail: cannot read RLIMIT_AS");
	limit.rlim_cur = limit.rlim_max < (mib << 20) ? limit.rlim_max : mib << 20;
	if (setrlimit(RLIMIT_AS, &limit))
		return err_set_errno(err, -errno, "jail: cannot set RLIMIT_AS to %llu MiB",
				     (unsigned long long)mib);
	return 0;
#endif
}
