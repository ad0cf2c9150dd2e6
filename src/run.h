/* SPDX-License-Identifier: MIT */
#ifndef KILN_RUN_H
#define KILN_RUN_H

#include "config.h"

/* `kiln run`: build the machine, run it to the end, return the exit status. */
int run_command(const struct kiln_config *cfg);
/* `kiln info`: describe the host's KVM. */
int info_command(const struct kiln_config *cfg);

#endif
