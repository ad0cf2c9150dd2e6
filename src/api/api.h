/* SPDX-License-Identifier: MIT */
/*
 * The management API: Firecracker's REST API (same paths, bodies, status
 * codes and error shape) over HTTP/1.1 on a Unix socket, served by
 * libmicrohttpd on its own thread, JSON by jansson. Before InstanceStart it
 * edits a pending struct kiln_config; InstanceStart hands that to the VMM
 * through struct api_vmm_ops, and after start the lifecycle requests go the
 * same way. The API never touches the machine itself.
 */
#ifndef KILN_API_API_H
#define KILN_API_API_H

#include "config.h"
#include "util/error.h"

/* What GET / reports as "state" (Firecracker's InstanceInfo). */
enum vmm_state { VMM_NOT_STARTED, VMM_RUNNING, VMM_PAUSED };

/*
 * The VMM's side, called on the API thread. Each returns 0 or a negative
 * errno with err filled in (the fault_message the client sees). None may
 * block for long: pause and resume return once the machine is parked or
 * running again.
 */
struct api_vmm_ops {
	/* Build and boot the machine from cfg (InstanceStart), or, with
	 * cfg->restore.state_path set, restore it (PUT /snapshot/load). */
	int (*start)(void *ctx, const struct kiln_config *cfg, struct kiln_err *err);
	/* -EALREADY when already paused / already running (a no-op). */
	int (*pause)(void *ctx, struct kiln_err *err);
	int (*resume)(void *ctx, struct kiln_err *err);
	int (*send_ctrl_alt_del)(void *ctx, struct kiln_err *err);
	/* PATCH /drives/{id}: disk index (in cfg->disks) now backed by path. */
	int (*update_drive)(void *ctx, unsigned int index, const char *path, struct kiln_err *err);
	/* PUT /snapshot/create: the machine must be paused (else an error). */
	int (*snapshot_create)(void *ctx, bool diff, const char *state_path, const char *mem_path,
			       struct kiln_err *err);
	enum vmm_state (*state)(void *ctx);
	void *ctx;
};

struct api_server;

/*
 * Bind a Unix socket at path (which must not exist yet) and listen: the fd,
 * or a negative errno with err.
 */
int api_listen(const char *path, struct kiln_err *err);

/*
 * Serve on a new thread: on listen_fd (from api_listen; the server owns it
 * from now on, even on failure, and leaves the socket file to its caller,
 * e.g. a jail's parent), or with listen_fd -1 on a socket it binds at
 * sock_path and removes at stop. cfg is the configuration so far (from the
 * command line or a config file); the server keeps its own copy and owns
 * every string it adds.
 */
int api_server_start(struct api_server **out, const char *sock_path, int listen_fd,
		     const struct kiln_config *cfg, const struct api_vmm_ops *ops,
		     struct kiln_err *err);
/* The same, for a configuration that already names a kernel: the machine is
 * started (as by InstanceStart, on the calling thread) before any request
 * is served. */
int api_server_start_booted(struct api_server **out, const char *sock_path, int listen_fd,
			    const struct kiln_config *cfg, const struct api_vmm_ops *ops,
			    struct kiln_err *err);
/*
 * Boot now, as PUT /actions InstanceStart would: for a configuration that
 * already has its boot source (--kernel or a config file) when the API
 * serves the running machine. 0, or a negative errno with err.
 */
int api_server_instance_start(struct api_server *server, struct kiln_err *err);
/* Stop serving, remove the socket, free everything. NULL is fine. */
void api_server_stop(struct api_server *server);

/*
 * Read a Firecracker --config-file (boot-source, drives, machine-config,
 * logger, metrics, entropy) into cfg, on top of what it holds. Strings are
 * allocated and live for the process. 0, or -EINVAL with err naming the
 * file and what is wrong.
 */
int config_file_load(const char *path, struct kiln_config *cfg, struct kiln_err *err);

#endif
