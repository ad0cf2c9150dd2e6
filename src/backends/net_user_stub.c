// SPDX-License-Identifier: MIT
/* Until the libslirp backend (net_user.c) is merged: --net user parses and
 * then fails here with one clear line. */
#include "backends/net_backend.h"

#include <errno.h>

int net_user_open(const struct net_user_config *cfg, struct net_backend *out,
		  struct kiln_err *err)
{
	(void)cfg;
	(void)out;
	return err_set(err, -ENOSYS, "user-mode networking is not built");
}
