// SPDX-License-Identifier: MIT
#include "util/log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static enum log_level current_level = LOG_WARN;

/* Where lines go once PUT /logger named a file; guarded because the API
 * thread switches it while other threads log. */
static struct {
	pthread_mutex_t lock;
	FILE *file;
	bool show_level, show_origin, off;
} output = { .lock = PTHREAD_MUTEX_INITIALIZER };

static const char *const level_names[] = { "error", "warning", "info", "debug" };

void log_set_level(enum log_level level) { current_level = level; }
enum log_level log_get_level(void) { return current_level; }

/* A FIFO opened read-write never waits for, nor fails without, a reader. */
static int open_log(const char *path)
{
	struct stat st;

	if (!stat(path, &st) && S_ISFIFO(st.st_mode))
		return open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
}

int log_set_file(const char *path, bool show_level, bool show_origin, bool off)
{
	int fd = open_log(path);
	FILE *file;

	if (fd < 0)
		return -errno;
	file = fdopen(fd, "a");
	if (!file) {
		int ret = -errno;

		close(fd);
		return ret;
	}
	setvbuf(file, NULL, _IOLBF, 0);
	pthread_mutex_lock(&output.lock);
	if (output.file)
		fclose(output.file);
	output.file = file;
	output.show_level = show_level;
	output.show_origin = show_origin;
	output.off = off;
	pthread_mutex_unlock(&output.lock);
	return 0;
}

void log_reset_output(void)
{
	pthread_mutex_lock(&output.lock);
	if (output.file)
		fclose(output.file);
	output.file = NULL;
	output.off = false;
	pthread_mutex_unlock(&output.lock);
}

static void write_file_line(enum log_level level, const char *file, int line, const char *text)
{
	struct timespec now;
	struct tm tm;
	char stamp[32];

	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	fprintf(output.file, "%s.%09ldZ %s%s%s%s%.0d%s%s\n", stamp, now.tv_nsec,
		output.show_level ? level_names[level] : "", output.show_level ? " " : "",
		output.show_origin ? file : "", output.show_origin ? ":" : "",
		output.show_origin ? line : 0, output.show_origin ? " " : "", text);
}

void log_msg_at(enum log_level level, const char *file, int line, const char *fmt, ...)
{
	char text[1024];
	va_list ap;

	if (level > current_level)
		return;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&output.lock);
	if (output.off)
		; /* level "Off" */
	else if (output.file)
		write_file_line(level, file, line, text);
	else /* one write per line so lines from several threads do not interleave */
		fprintf(stderr, "kiln: %s: %s\n", level_names[level], text);
	pthread_mutex_unlock(&output.lock);
}
