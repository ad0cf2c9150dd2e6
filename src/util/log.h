/* SPDX-License-Identifier: MIT */
/* Diagnostics. Only main() turns errors into exit statuses; everything else
 * returns negative errno values and may log context with these helpers. */
#ifndef KILN_UTIL_LOG_H
#define KILN_UTIL_LOG_H

#include <stdbool.h>

enum log_level { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };

/* Process-wide verbosity, set once from the command line (or PUT /logger). */
void log_set_level(enum log_level level);
enum log_level log_get_level(void);

/*
 * Send log lines to path (opened for append; a file or a FIFO) instead of
 * stderr, each with a timestamp, and the level and origin when asked
 * (Firecracker's logger: show_level, show_log_origin). off: log nothing.
 * Returns 0 or a negative errno.
 */
int log_set_file(const char *path, bool show_level, bool show_origin, bool off);
/* Back to stderr (closes the file); for tests and shutdown. */
void log_reset_output(void);

void log_msg_at(enum log_level level, const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
#define log_msg(level, ...) log_msg_at(level, __FILE__, __LINE__, __VA_ARGS__)

#define pr_err(...)   log_msg(LOG_ERROR, __VA_ARGS__)
#define pr_warn(...)  log_msg(LOG_WARN, __VA_ARGS__)
#define pr_info(...)  log_msg(LOG_INFO, __VA_ARGS__)
#define pr_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

#endif
