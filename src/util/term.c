// SPDX-License-Identifier: MIT
#include "util/term.h"

#include <signal.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

/* Process-wide by nature: there is one controlling terminal. */
static struct termios saved_mode;
static volatile sig_atomic_t saved_fd = -1;

static void restore_and_reraise(int sig)
{
	term_restore();
	signal(sig, SIG_DFL);
	raise(sig);
}

bool term_enter_raw(int fd)
{
	static const int fatal_signals[] = { SIGSEGV, SIGBUS, SIGABRT, SIGFPE, SIGILL, SIGHUP };
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
		signal(fatal_signals[i], restore_and_reraise);
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
