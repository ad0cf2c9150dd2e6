// SPDX-License-Identifier: MIT
/* kiln: parse the command line, run the command, map the outcome to the
 * documented exit status (see config.h and kiln --help). */
#include <errno.h>
#include <stdio.h>

#include "api/api.h"
#include "cli.h"
#include "run.h"
#include "util/log.h"

/* --config-file on top of the command line; without --api-sock it must
 * give the boot source. */
static int load_config_file(struct kiln_config *cfg, struct kiln_err *err)
{
	int ret;

	if (!cfg->config_file)
		return 0;
	ret = config_file_load(cfg->config_file, cfg, err);
	if (ret)
		return ret;
	if (!cfg->kernel && !cfg->api_sock)
		return err_set(err, -EINVAL, "config file %s has no boot-source (kiln run needs a "
			       "kernel, or --api-sock)", cfg->config_file);
	return 0;
}

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
		if (load_config_file(&cfg, &err)) {
			pr_err("%s", err.msg);
			return KILN_EXIT_USAGE;
		}
		return run_command(&cfg);
	default:
		return KILN_EXIT_USAGE;
	}
}
