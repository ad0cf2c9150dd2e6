// SPDX-License-Identifier: MIT
#include "util/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int err_vset(struct kiln_err *err, int code, const char *fmt, va_list ap)
{
	if (!err || err->code)
		return code;
	err->code = code;
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	return code;
}

int err_set(struct kiln_err *err, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	err_vset(err, code, fmt, ap);
	va_end(ap);
	return code;
}

int err_set_errno(struct kiln_err *err, int code, const char *fmt, ...)
{
	va_list ap;
	size_t used;

	if (!err || err->code)
		return code;
	va_start(ap, fmt);
	err_vset(err, code, fmt, ap);
	va_end(ap);
	used = strlen(err->msg);
	snprintf(err->msg + used, sizeof(err->msg) - used, ": %s", strerror(-code));
	return code;
}
