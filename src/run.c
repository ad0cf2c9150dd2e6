// SPDX-License-Identifier: MIT
/*
 * The main thread while a guest runs: terminal input to the serial port,
 * SIGINT/SIGTERM, and waiting for the machine to stop. vCPUs run in their
 * own threads (vm/vcpu_run.c).
 */
#include "run.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "util/log.h"
#include "util/term.h"
#include "x86/pc.h"

struct console_input {
	struct pc *pc;
	bool escape_pending;   /* Ctrl-A seen, waiting for the command key */
};

/* Returns false when the user asked to quit. */
static bool console_key(struct console_input *in, uint8_t key)
{
	if (in->escape_pending) {
		in->escape_pending = false;
		if (key == 'x' || key == 'X')
			return false;
		if (key != TERM_ESCAPE_KEY)
			return true; /* unknown command: swallow it */
	} else if (key == TERM_ESCAPE_KEY) {
		in->escape_pending = true;
		return true;
	}
	/* A full FIFO drops the byte, as a real UART would overrun. */
	serial_receive(in->pc->com1, key);
	return true;
}

static int block_stop_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGTERM);
	/* Blocked in every thread (vCPU threads inherit the mask), taken by
	 * the main thread through a signalfd. */
	return pthread_sigmask(SIG_BLOCK, set, NULL) ? -EINVAL : 0;
}

static void main_loop(struct pc *pc, int signal_fd, bool read_console)
{
	struct console_input input = { .pc = pc };
	struct pollfd fds[3] = {
		{ .fd = pc->vm.stop_eventfd, .events = POLLIN },
		{ .fd = signal_fd, .events = POLLIN },
		{ .fd = read_console ? STDIN_FILENO : -1, .events = POLLIN },
	};

	while (!vm_stopping(&pc->vm)) {
		if (poll(fds, 3, -1) < 0) {
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
		if (fds[2].revents) {
			uint8_t buf[64];
			ssize_t n = read(STDIN_FILENO, buf, sizeof(buf));

			if (n <= 0) {
				fds[2].fd = -1; /* end of input: the guest just gets no more */
				continue;
			}
			for (ssize_t i = 0; i < n; i++)
				if (!console_key(&input, buf[i]))
					vm_request_stop(&pc->vm, MACHINE_STOP_SIGNAL, KILN_EXIT_OK);
		}
	}
}

int run_command(const struct kiln_config *cfg)
{
	struct kiln_err err = { 0 };
	struct pc pc;
	sigset_t stop_signals;
	int signal_fd, status, ret;
	bool serial = cfg->console == CONSOLE_SERIAL;

	if (cfg->verbose)
		log_set_level(LOG_INFO);
	if (block_stop_signals(&stop_signals) < 0 ||
	    (signal_fd = signalfd(-1, &stop_signals, SFD_CLOEXEC)) < 0) {
		pr_err("cannot set up signal handling: %s", strerror(errno));
		return KILN_EXIT_ERROR;
	}
	/* With --console virtio the terminal belongs to hvc0: COM1 output is
	 * dropped and the virtio console reads the keyboard. */
	ret = pc_create(&pc, cfg, serial ? STDOUT_FILENO : -1, &err);
	if (ret) {
		pr_err("%s", err.msg);
		pc_destroy(&pc);
		close(signal_fd);
		return KILN_EXIT_ERROR;
	}
	/* hvc0 gets the terminal in cooked mode: lines, and Ctrl-C stops kiln. */
	if (serial)
		term_enter_raw(STDIN_FILENO);
	ret = vm_start(&pc.vm, &err);
	if (ret)
		pr_err("%s", err.msg);
	else
		main_loop(&pc, signal_fd, serial);
	status = vm_join(&pc.vm);
	term_restore();
	if (cfg->stats)
		emulation_stats_print(&pc.emulation, stderr);
	pc_destroy(&pc);
	close(signal_fd);
	return ret ? KILN_EXIT_ERROR : status;
}
