/* SPDX-License-Identifier: MIT */
/*
 * The "config" section of a snapshot: what rebuilds the same machine
 * (vCPUs, RAM, devices and their host ends, CPU model), as JSON. Nothing
 * of the kernel or the boot: a restored machine's memory already holds it.
 */
#ifndef KILN_X86_SNAPSHOT_CONFIG_H
#define KILN_X86_SNAPSHOT_CONFIG_H

#include "config.h"
#include "util/error.h"

/* cfg as JSON text (malloc'd), with cpu_template the resolved one; NULL
 * when out of memory. */
char *snapshot_config_encode(const struct kiln_config *cfg, int cpu_template);

/* Parse text into cfg (filled from scratch: every string points into
 * *holder, which the caller frees with snapshot_config_release once the
 * configuration is no longer used). 0, or -EINVAL with one line. */
int snapshot_config_decode(const char *text, size_t len, struct kiln_config *cfg, void **holder,
			   struct kiln_err *err);
void snapshot_config_release(void *holder);

#endif
