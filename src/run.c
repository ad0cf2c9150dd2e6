// SPDX-License-Identifier: MIT
/*
 * The main thread while a guest runs: terminal input to the serial port,
 * SIGINT/SIGTERM, and waiting for the machine to stop. vCPUs run in their
 * own threads (vm/vcpu_run.c). With --api-sock the API server (api/) runs
 * on its own thread and hands InstanceStart to the main thread, which
 * builds the machine and then runs it exactly as for the command line:
 * threads inherit their creator's seccomp filter, so vCPUs and queue
 * workers must not be created by the (filtered) API thread.
 */
#include "run.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "api/api.h"
#include "api/config_json.h"
#include "api/metrics.h"
#include "jail.h"
#include "sandbox/seccomp.h"
#include "util/log.h"
#include "util/term.h"
#include "x86/pc.h"
#include "x86/snapshot.h"

/* Terminal input on its way to COM1. The escape keys are taken as they are
 * read (so Ctrl-A x works whatever the guest does); the rest queues here and
 * goes to the UART only as its FIFO has room. The terminal is read only
 * while the queue has room, so input faster than the guest drains its
 * 16-byte FIFO waits in the terminal or pipe instead of being dropped. */
#define CONSOLE_QUEUE 65536
#define CONSOLE_READ  4096

struct console_input {
	struct pc *pc;
	bool escape_pending;   /* Ctrl-A seen, waiting for the command key */
	uint8_t queue[CONSOLE_QUEUE];
	size_t len;            /* bytes queued for COM1, from queue[0] */
};

/* Returns false when the user asked to quit. */
static bool console_take(struct console_input *in, const uint8_t *keys, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint8_t key = keys[i];

		if (in->escape_pending) {
			in->escape_pending = false;
			if (key == 'x' || key == 'X')
				return false;
			if (key != TERM_ESCAPE_KEY)
				continue; /* unknown command: swallow it */
		} else if (key == TERM_ESCAPE_KEY) {
			in->escape_pending = true;
			continue;
		}
		in->queue[in->len++] = key;
	}
	return true;
}

/* Hand queued bytes to COM1 until its FIFO is full. */
static void console_feed(struct console_input *in)
{
	size_t sent = 0;

	while (sent < in->len && serial_receive(in->pc->com1, in->queue[sent]))
		sent++;
	memmove(in->queue, in->queue + sent, in->len - sent);
	in->len -= sent;
}

static int block_stop_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGHUP);
	/* Blocked in every thread (vCPU threads inherit the mask), taken by
	 * the main thread through a signalfd. */
	return pthread_sigmask(SIG_BLOCK, set, NULL) ? -EINVAL : 0;
}

static void main_loop(struct pc *pc, int signal_fd, bool read_console)
{
	struct console_input input = { .pc = pc };
	bool input_open = read_console && pc->com1;
	int space_fd = pc->com1 ? serial_rx_space_fd(pc->com1) : -1;
	struct pollfd fds[4] = {
		{ .fd = pc->vm.stop_eventfd, .events = POLLIN },
		{ .fd = signal_fd, .events = POLLIN },
		{ .fd = -1, .events = POLLIN },   /* the terminal, while the queue has room */
		{ .fd = -1, .events = POLLIN },   /* COM1 has room again */
	};

	while (!vm_stopping(&pc->vm)) {
		bool waiting = input.len > 0;

		fds[2].fd = input_open && input.len + CONSOLE_READ <= CONSOLE_QUEUE ? STDIN_FILENO
										    : -1;
		fds[3].fd = waiting ? space_fd : -1;
		/* Without the eventfd, look again for room every 10 ms. */
		if (poll(fds, 4, waiting && space_fd < 0 ? 10 : -1) < 0) {
			if (errno == EINTR)
				continue;
			pr_err("poll failed: %s", strerror(errno));
			vm_request_stop(&pc->vm, MACHINE_STOP_ERROR, KILN_EXIT_ERROR);
			break;
		}
		if (fds[1].revents & POLLIN) {
			struct signalfd_siginfo info;

			if (read(signal_fd, &info, sizeof(info)) == sizeof(info))
				vm_request_stop(&pc->vm, MACHINE_STOP_SIGNAL,
						128 + (int)info.ssi_signo);
		}
		if (fds[3].revents & POLLIN) {
			uint64_t count;

			if (read(space_fd, &count, sizeof(count)) < 0 && errno != EAGAIN)
				pr_warn("serial space eventfd: %s", strerror(errno));
		}
		if (fds[2].revents) {
			uint8_t keys[CONSOLE_READ];
			ssize_t n = read(STDIN_FILENO, keys, sizeof(keys));

			if (n <= 0)
				input_open = false; /* end of input: the guest just gets no more */
			else if (!console_take(&input, keys, (size_t)n))
				vm_request_stop(&pc->vm, MACHINE_STOP_SIGNAL, KILN_EXIT_OK);
		}
		if (input.len)
			console_feed(&input);
	}
}

/* A built machine and what its main thread needs to know about it. */
struct machine {
	struct pc pc;
	bool serial;              /* the terminal is COM1 (raw mode) */
	bool stats;
	bool enter_jail;          /* --jail from the command line: between create and start */
	struct pc_snapshot *snapshot;  /* restored from it: its configuration lives here */
	struct kiln_config restored;   /* the configuration built from it, kept as a boot's is */
};

/* Build and start the machine from cfg; on failure nothing is left over. */
static int machine_boot(struct machine *m, const struct kiln_config *cfg, struct kiln_err *err)
{
	int ret;

	m->serial = cfg->console == CONSOLE_SERIAL;
	m->stats = cfg->stats;
	ret = jail_limit_address_space(cfg, err);
	if (ret)
		return ret;
	/* With --console virtio the terminal belongs to hvc0: COM1 output is
	 * dropped and the virtio console reads the keyboard. */
	ret = pc_create(&m->pc, cfg, m->serial ? STDOUT_FILENO : -1, err);
	/* The machine holds every file it needs, and no thread runs yet. */
	if (!ret && m->enter_jail)
		ret = jail_enter(cfg, err);
	if (ret) {
		pc_destroy(&m->pc);
		return ret;
	}
	/* hvc0 gets the terminal in cooked mode: lines, and Ctrl-C stops kiln. */
	if (m->serial)
		term_enter_raw(STDIN_FILENO);
	ret = pc_start(&m->pc, err);
	if (ret) {
		vm_join(&m->pc.vm);
		term_restore();
		pc_destroy(&m->pc);
	}
	return ret;
}

/* The snapshot's machine, or a refusal when the command line asks for
 * another size. */
static int check_restore_request(const struct kiln_config *cfg, const struct kiln_config *snap,
				 struct kiln_err *err)
{
	if (cfg->cpus_set && cfg->cpus != snap->cpus)
		return err_set(err, -EINVAL, "--cpus %u does not match the snapshot's %u vCPUs",
			       cfg->cpus, snap->cpus);
	if (cfg->memory_set && cfg->memory_mib != snap->memory_mib)
		return err_set(err, -EINVAL, "--memory %llu does not match the snapshot's %llu MiB",
			       (unsigned long long)cfg->memory_mib,
			       (unsigned long long)snap->memory_mib);
	return 0;
}

/* Build the machine a snapshot holds, load its state and start it
 * (running, or paused); on failure nothing is left over and nothing ran. */
static int machine_restore(struct machine *m, const struct kiln_config *cfg,
			   struct kiln_err *err)
{
	struct kiln_config *restored = &m->restored;
	int ret = pc_snapshot_open(cfg->restore.state_path, &m->snapshot, err);

	if (!ret)
		ret = check_restore_request(cfg, &m->snapshot->cfg, err);
	if (ret) {
		pc_snapshot_close(m->snapshot);
		m->snapshot = NULL;
		return ret;
	}
	*restored = m->snapshot->cfg;
	/* enable_diff_snapshots, or track_dirty_pages set before the load */
	restored->track_dirty_pages = cfg->restore.track_dirty || cfg->track_dirty_pages;
	restored->kvm_device = cfg->kvm_device;
	restored->verbose = cfg->verbose;
	/* The jail is this process's, not the snapshot's: its address-space
	 * limit and the checks that depend on it (vsock with --net user). */
	restored->jail_dir = cfg->jail_dir;
	restored->jail_netns = cfg->jail_netns;
	restored->jail_keep_network = cfg->jail_keep_network;
	restored->jail_as_limit_mib = cfg->jail_as_limit_mib;
	restored->jail_no_as_limit = cfg->jail_no_as_limit;
	m->serial = restored->console == CONSOLE_SERIAL;
	m->stats = cfg->stats;
	pc_init(&m->pc);   /* pc_destroy below must find nothing open */
	ret = jail_limit_address_space(restored, err);
	if (!ret)
		ret = pc_restore(&m->pc, m->snapshot, restored, cfg->restore.mem_path,
				 m->serial ? STDOUT_FILENO : -1, err);
	if (!ret && m->serial)
		term_enter_raw(STDIN_FILENO);
	if (!ret)
		ret = cfg->restore.paused ? pc_start_paused(&m->pc, err) : pc_start(&m->pc, err);
	if (ret) {
		if (m->pc.vm_created) {
			vm_request_stop(&m->pc.vm, MACHINE_STOP_ERROR, KILN_EXIT_ERROR);
			vm_join(&m->pc.vm);
		}
		term_restore();
		pc_destroy(&m->pc);
		pc_snapshot_close(m->snapshot);
		m->snapshot = NULL;
	}
	return ret;
}

/* A machine from a kernel, or from a snapshot. */
static int machine_build(struct machine *m, const struct kiln_config *cfg, struct kiln_err *err)
{
	return cfg->restore.state_path ? machine_restore(m, cfg, err) : machine_boot(m, cfg, err);
}

/* Serve the console and signals until the guest stops; its exit status. */
static int machine_wait(struct machine *m, int signal_fd)
{
	struct kiln_err err = { 0 };
	int status;

	/* The machine runs: from here the main thread serves and tears down. */
	if (sandbox_enter(SANDBOX_THREAD_MAIN, &err)) {
		pr_err("%s", err.msg);
		vm_request_stop(&m->pc.vm, MACHINE_STOP_ERROR, KILN_EXIT_ERROR);
	}
	sandbox_test_violation(SANDBOX_THREAD_MAIN);
	main_loop(&m->pc, signal_fd, m->serial);
	status = vm_join(&m->pc.vm);
	term_restore();
	return status;
}

static void machine_destroy(struct machine *m)
{
	if (m->stats)
		emulation_stats_print(&m->pc.emulation, stderr);
	pc_destroy(&m->pc);
	pc_snapshot_close(m->snapshot);
	m->snapshot = NULL;
}

/* A configuration from a --config-file: the logger, the metrics file and
 * the root drive (config_prepare_boot). */
static int run_from_config(const struct kiln_config *cfg, int signal_fd)
{
	struct kiln_config boot = *cfg;
	struct metrics_writer metrics;
	struct kiln_err err = { 0 };
	struct machine m = { 0 };
	char *cmdline = NULL;
	int status = KILN_EXIT_ERROR;

	metrics_writer_init(&metrics);
	if ((cfg->jail_dir && jail_enter_before_build(cfg, &err)) ||
	    config_apply_logger(cfg, &err) ||
	    (cfg->metrics_path && metrics_writer_open(&metrics, cfg->metrics_path, &err)) ||
	    config_prepare_boot(&boot, &cmdline, &err) || machine_boot(&m, &boot, &err)) {
		pr_err("%s", err.msg);
	} else {
		status = machine_wait(&m, signal_fd);
		machine_destroy(&m);
	}
	metrics_writer_close(&metrics);
	free(cmdline);
	return status;
}

static int run_direct(const struct kiln_config *cfg, int signal_fd)
{
	struct kiln_err err = { 0 };
	struct machine m = { .enter_jail = cfg->jail_dir != NULL };
	int status;

	if (cfg->config_file)
		return run_from_config(cfg, signal_fd);
	if (machine_build(&m, cfg, &err)) {
		pr_err("%s", err.msg);
		return KILN_EXIT_ERROR;
	}
	status = machine_wait(&m, signal_fd);
	machine_destroy(&m);
	return status;
}

/* The VMM behind the API: the machine InstanceStart builds. */
struct api_vmm {
	struct machine machine;
	atomic_bool started;
	int started_fd;           /* eventfd: the API thread asks the main thread to boot */
	pthread_t main_thread;
	/* InstanceStart on its way from the API thread to the main thread and
	 * back, under start_lock: the request, then its answer. */
	pthread_mutex_t start_lock;
	pthread_cond_t start_answered;
	const struct kiln_config *start_cfg;
	struct kiln_err *start_err;
	int start_result;
	bool start_asked, closing;
};

/* On the main thread: build and boot the machine InstanceStart asked for. */
static int vmm_boot(struct api_vmm *vmm, const struct kiln_config *cfg, struct kiln_err *err)
{
	int ret = machine_build(&vmm->machine, cfg, err);

	if (!ret)
		atomic_store(&vmm->started, true);
	return ret;
}

/* The main thread takes a pending InstanceStart (or refuses it once kiln
 * is stopping) and answers the waiting API thread. */
static void vmm_answer_start(struct api_vmm *vmm, bool closing)
{
	pthread_mutex_lock(&vmm->start_lock);
	vmm->closing = vmm->closing || closing;
	if (vmm->start_asked) {
		vmm->start_result = vmm->closing
			? err_set(vmm->start_err, -ESHUTDOWN, "kiln is stopping")
			: vmm_boot(vmm, vmm->start_cfg, vmm->start_err);
		vmm->start_asked = false;
		pthread_cond_broadcast(&vmm->start_answered);
	}
	pthread_mutex_unlock(&vmm->start_lock);
}

static int vmm_start(void *ctx, const struct kiln_config *cfg, struct kiln_err *err)
{
	struct api_vmm *vmm = ctx;
	uint64_t one = 1;
	int ret;

	/* --kernel with --api-sock: the main thread boots before serving. */
	if (pthread_equal(pthread_self(), vmm->main_thread))
		return vmm_boot(vmm, cfg, err);
	pthread_mutex_lock(&vmm->start_lock);
	if (vmm->closing) {
		pthread_mutex_unlock(&vmm->start_lock);
		return err_set(err, -ESHUTDOWN, "kiln is stopping");
	}
	vmm->start_cfg = cfg;
	vmm->start_err = err;
	vmm->start_asked = true;
	if (write(vmm->started_fd, &one, sizeof(one)) != sizeof(one))
		pr_warn("cannot wake the main thread: %s", strerror(errno));
	while (vmm->start_asked)
		pthread_cond_wait(&vmm->start_answered, &vmm->start_lock);
	ret = vmm->start_result;
	pthread_mutex_unlock(&vmm->start_lock);
	return ret;
}

static enum vmm_state vmm_state(void *ctx)
{
	struct api_vmm *vmm = ctx;

	if (!atomic_load(&vmm->started))
		return VMM_NOT_STARTED;
	return pc_paused(&vmm->machine.pc) ? VMM_PAUSED : VMM_RUNNING;
}

/* The lifecycle requests: each goes to the running machine. They come
 * only after InstanceStart (the API refuses them before). */
static int vmm_pause(void *ctx, struct kiln_err *err)
{
	struct api_vmm *vmm = ctx;

	return pc_pause(&vmm->machine.pc, err);
}

static int vmm_resume(void *ctx, struct kiln_err *err)
{
	struct api_vmm *vmm = ctx;

	return pc_resume(&vmm->machine.pc, err);
}

static int vmm_send_ctrl_alt_del(void *ctx, struct kiln_err *err)
{
	struct api_vmm *vmm = ctx;

	return pc_send_ctrl_alt_del(&vmm->machine.pc, err);
}

static int vmm_update_drive(void *ctx, unsigned int index, const char *path, struct kiln_err *err)
{
	struct api_vmm *vmm = ctx;

	return pc_replace_disk(&vmm->machine.pc, index, path, err);
}

static int vmm_snapshot_create(void *ctx, bool diff, const char *state_path,
			       const char *mem_path, struct kiln_err *err)
{
	struct api_vmm *vmm = ctx;

	return pc_snapshot_create(&vmm->machine.pc, diff ? PC_SNAPSHOT_DIFF : PC_SNAPSHOT_FULL,
				  state_path, mem_path, err);
}

/* Until InstanceStart or a stop signal. Returns 0 once started, else the
 * exit status. */
static int wait_for_start(struct api_vmm *vmm, int signal_fd)
{
	struct pollfd fds[2] = {
		{ .fd = vmm->started_fd, .events = POLLIN },
		{ .fd = signal_fd, .events = POLLIN },
	};

	while (!atomic_load(&vmm->started)) {
		uint64_t count;

		if (poll(fds, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			pr_err("poll failed: %s", strerror(errno));
			vmm_answer_start(vmm, true);
			return KILN_EXIT_ERROR;
		}
		if (fds[0].revents & POLLIN) {
			if (read(vmm->started_fd, &count, sizeof(count)) < 0 && errno != EAGAIN)
				pr_warn("start eventfd: %s", strerror(errno));
			vmm_answer_start(vmm, false);
		}
		/* Started in this same wake-up: the machine runs, and main_loop
		 * reads the signal still pending on signal_fd. */
		if (atomic_load(&vmm->started))
			break;
		if (fds[1].revents & POLLIN) {
			struct signalfd_siginfo info;

			if (read(signal_fd, &info, sizeof(info)) == sizeof(info)) {
				vmm_answer_start(vmm, true);
				return 128 + (int)info.ssi_signo;
			}
		}
	}
	return 0;
}

/* listen_fd: the API socket a jail's parent bound, or -1. */
static int run_with_api(const struct kiln_config *cfg, int signal_fd, int listen_fd)
{
	struct api_vmm vmm = {
		.started_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK),
		.main_thread = pthread_self(),
		.start_lock = PTHREAD_MUTEX_INITIALIZER,
		.start_answered = PTHREAD_COND_INITIALIZER,
	};
	const struct api_vmm_ops ops = {
		.start = vmm_start, .pause = vmm_pause, .resume = vmm_resume,
		.send_ctrl_alt_del = vmm_send_ctrl_alt_del, .update_drive = vmm_update_drive,
		.snapshot_create = vmm_snapshot_create, .state = vmm_state, .ctx = &vmm,
	};
	struct api_server *server = NULL;
	struct kiln_err err = { 0 };
	int status;

	if (vmm.started_fd < 0 || (cfg->jail_dir && jail_enter_before_build(cfg, &err)) ||
	    config_apply_logger(cfg, &err) ||
	    (cfg->kernel || cfg->restore.state_path ? api_server_start_booted
						    : api_server_start)(&server, cfg->api_sock,
									listen_fd, cfg, &ops, &err)) {
		pr_err("%s", vmm.started_fd < 0 ? strerror(errno) : err.msg);
		api_server_stop(server);
		if (vmm.started_fd >= 0)
			close(vmm.started_fd);
		return KILN_EXIT_ERROR;
	}
	status = wait_for_start(&vmm, signal_fd);
	if (!status)
		status = machine_wait(&vmm.machine, signal_fd);
	/* No request may reach the machine while it is torn down. */
	api_server_stop(server);
	/* Only the main thread boots, and only before it returns from
	 * wait_for_start: a machine that exists has been waited for. */
	if (atomic_load(&vmm.started))
		machine_destroy(&vmm.machine);
	close(vmm.started_fd);
	return status;
}

int run_command(const struct kiln_config *cfg)
{
	sigset_t stop_signals;
	int signal_fd, status, listen_fd = -1;

	if (cfg->verbose)
		log_set_level(LOG_INFO);
	sandbox_set_mode(cfg->seccomp);
	if (cfg->seccomp == SANDBOX_OFF)
		pr_warn("seccomp filters are off (--no-seccomp): kiln's threads may make any system call");
	if (cfg->jail_dir) {
		struct kiln_err err = { 0 };
		int ret = jail_fork(cfg, &listen_fd, &status, &err);

		if (ret < 0)
			pr_err("%s", err.msg);
		if (ret)
			return ret < 0 ? KILN_EXIT_ERROR : status; /* the parent's part is done */
	}
	if (block_stop_signals(&stop_signals) < 0 ||
	    (signal_fd = signalfd(-1, &stop_signals, SFD_CLOEXEC)) < 0) {
		pr_err("cannot set up signal handling: %s", strerror(errno));
		return KILN_EXIT_ERROR;
	}
	status = cfg->api_sock ? run_with_api(cfg, signal_fd, listen_fd)
			       : run_direct(cfg, signal_fd);
	close(signal_fd);
	return status;
}
