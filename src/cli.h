/* SPDX-License-Identifier: MIT */
#ifndef KILN_CLI_H
#define KILN_CLI_H

#include "config.h"
#include "util/error.h"

/* Parse argv into cfg. Returns 0, or -EINVAL with err naming the problem. */
int cli_parse(int argc, char **argv, struct kiln_config *cfg, struct kiln_err *err);
void cli_print_help(void);
void cli_print_version(void);

#endif
