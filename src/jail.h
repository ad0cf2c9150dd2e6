/* SPDX-License-Identifier: MIT */
/*
 * The jail (`kiln run --jail DIR --uid N --gid N`): kiln confines itself
 * before the guest runs. The process forks into a new PID namespace; the
 * parent stays outside, forwards stop signals and reports the child's exit
 * status. The child opens what it needs from the host, then enters new
 * mount, IPC and UTS namespaces with DIR as its root, limits its resources,
 * becomes uid:gid with no capabilities and no_new_privs. README "The jail".
 */
#ifndef KILN_JAIL_H
#define KILN_JAIL_H

#include "config.h"
#include "util/error.h"

/* What the jailed process may keep open beyond what it already holds. */
#define JAIL_NOFILE_LIMIT    4096
/* Address space beyond guest RAM: thread stacks, malloc arenas, rings. */
#define JAIL_AS_OVERHEAD_MIB 4096

/*
 * The start of a jailed run, before kiln opens anything: checks that kiln
 * is root and DIR a directory, closes every inherited fd but stdin, stdout
 * and stderr, binds the API socket (cfg->api_sock) and forks into a new PID
 * namespace. In the child (PID 1 there) returns 0 with *api_listen_fd the
 * listening socket or -1. In the parent returns 1 once the child has ended,
 * with *status its exit status (128 + N when killed by signal N); the
 * parent removes the API socket. A negative errno with err on failure.
 */
int jail_fork(const struct kiln_config *cfg, int *api_listen_fd, int *status,
	      struct kiln_err *err);

/*
 * Enter the jail: the mount, IPC and UTS namespaces, DIR as /, the open
 * files limit, then uid:gid, no capabilities, no_new_privs. The process
 * must have no thread but this one (checked). 0 or a negative errno with
 * err naming the step.
 */
int jail_enter(const struct kiln_config *cfg, struct kiln_err *err);

/*
 * For a machine built after the jail (API, --config-file): keep the KVM
 * device open, then jail_enter. Paths named later resolve inside DIR.
 */
int jail_enter_before_build(const struct kiln_config *cfg, struct kiln_err *err);

/* With --jail, RLIMIT_AS for a machine of cfg->memory_mib (see --as-limit);
 * nothing without. 0 or a negative errno with err. */
int jail_limit_address_space(const struct kiln_config *cfg, struct kiln_err *err);

#endif
