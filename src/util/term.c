// SPDX-License-Identifier: MIT
#include "util/term.h"

#include <signal.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

/* Process-wide by nature: there is one controlling terminal. */
static struct termios saved_mode;
static volatile sig_atomic_t saved_fd = -1;

/* Installed with SA_RESETHAND, so the default action is back when this
 * returns: a fault runs its instruction again and dies of it, abort()
 * raises SIGABRT again. No raise here, as a thread's seccomp list allows
 * tgkill with SIGUSR1 and SIGABRT only. */
static void restore_on_fatal_signal(int sig)
{
	(void)sig;
	term_restore();
}

bool term_enter_raw(int fd)
{
	/* SIGHUP, SIGINT and SIGTERM are blocked and read from a signalfd. */
	static const int fatal_signals[] = { SIGSEGV, SIGBUS, SIGABRT, SIGFPE, SIGILL };
	struct sigaction fatal = { .sa_handler = restore_on_fatal_signal,
				   .sa_flags = SA_RESETHAND | SA_NODEFER };
	struct termios raw;

	if (!isatty(fd) || tcgetattr(fd, &saved_mode) < 0)
		return false;
	raw = saved_mode;
	cfmakeraw(&raw);
	/* Keep output post-processing so kiln's own "\n" lines stay readable. */
	raw.c_oflag |= OPOST | ONLCR;
	if (tcsetattr(fd, TCSANOW, &raw) < 0)
		return false;
	saved_fd = fd;
	for (unsigned int i = 0; i < sizeof(fatal_signals) / sizeof(fatal_signals[0]); i++)
		sigaction(fatal_signals[i], &fatal, NULL);
	return true;
}

void term_restore(void)
{
	int fd = saved_fd;

	if (fd < 0)
		return;
	tcsetattr(fd, TCSANOW, &saved_mode);
	saved_fd = -1;
}
