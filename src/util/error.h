/* SPDX-License-Identifier: MIT */
/*
 * An error value with a one-line human explanation. Functions that can fail
 * for reasons a user must see (bad image, missing capability) take a
 * struct kiln_err * and fill it; they still return a negative errno so
 * callers can branch on the kind of failure. Only main() prints it.
 */
#ifndef KILN_UTIL_ERROR_H
#define KILN_UTIL_ERROR_H

#include <stddef.h>

struct kiln_err {
	int code;          /* negative errno, 0 when unset */
	char msg[512];     /* one line, no trailing newline */
};

/* Record the first error only (the root cause); returns code for
 * "return err_set(err, -EINVAL, ...)". err may be NULL. */
int err_set(struct kiln_err *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Like err_set() but appends ": strerror(-code)". */
int err_set_errno(struct kiln_err *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
