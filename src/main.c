// SPDX-License-Identifier: MIT
/* kiln: parse the command line, run the command, map the outcome to the
 * documented exit status (see config.h and kiln --help). */
#include <stdio.h>

#include "cli.h"
#include "run.h"
#include "util/log.h"

int main(int argc, char **argv)
{
	struct kiln_config cfg;
	struct kiln_err err = { 0 };

	if (cli_parse(argc, argv, &cfg, &err)) {
		pr_err("%s", err.msg);
		return KILN_EXIT_USAGE;
	}
	switch (cfg.command) {
	case KILN_CMD_HELP:
		cli_print_help();
		return KILN_EXIT_OK;
	case KILN_CMD_VERSION:
		cli_print_version();
		return KILN_EXIT_OK;
	case KILN_CMD_INFO:
		return info_command(&cfg);
	case KILN_CMD_RUN:
		return run_command(&cfg);
	default:
		return KILN_EXIT_USAGE;
	}
}
