/* SPDX-License-Identifier: MIT */
/*
 * Firecracker's JSON bodies (boot-source, drives, machine-config, logger,
 * metrics, entropy, and the whole --config-file document) read into and
 * written from struct kiln_config. Every reader is strict: unknown fields,
 * wrong types and missing required fields are errors naming the field.
 *
 * A configuration the readers change must own its strings (config_clone):
 * a reader frees the string it replaces.
 */
#ifndef KILN_API_CONFIG_JSON_H
#define KILN_API_CONFIG_JSON_H

#include <jansson.h>
#include <stdbool.h>

#include "config.h"
#include "util/error.h"

/* Firecracker's resource ids: [A-Za-z0-9_]+, at most 64 characters. */
#define API_ID_MAX_LEN 64
bool api_id_valid(const char *id);

/* Deep copy: dst owns a copy of every string of src. 0 or -ENOMEM. */
int config_clone(struct kiln_config *dst, const struct kiln_config *src);
/* Free the strings of a configuration made by config_clone. */
void config_release(struct kiln_config *cfg);

/* One section each; 0, or -EINVAL with err naming the field. */
int config_put_boot_source(struct kiln_config *cfg, json_t *body, struct kiln_err *err);
/* path_id: the {drive_id} of the URL, which must match the body's; NULL
 * for a config file. A drive with the same id is replaced. */
int config_put_drive(struct kiln_config *cfg, const char *path_id, json_t *body,
		     struct kiln_err *err);
/* partial: PATCH (only the fields given change); else PUT (the two
 * required fields, the rest back to their defaults). */
/* PUT /network-interfaces/{iface_id} and a config file's entries: a tap
 * (host_dev_name), guest_mac; rate limiters only absent or null. */
int config_put_network_interface(struct kiln_config *cfg, const char *path_id, json_t *body,
				 struct kiln_err *err);
int config_put_machine(struct kiln_config *cfg, json_t *body, bool partial,
		       struct kiln_err *err);
int config_put_logger(struct kiln_config *cfg, json_t *body, struct kiln_err *err);
int config_put_metrics(struct kiln_config *cfg, json_t *body, struct kiln_err *err);
int config_put_entropy(struct kiln_config *cfg, json_t *body, struct kiln_err *err);
/* PUT /vsock, a config file's "vsock": guest_cid, uds_path (vsock_id ignored). */
int config_put_vsock(struct kiln_config *cfg, json_t *body, struct kiln_err *err);
/* PUT /cpu-config: Firecracker's CpuConfig (a custom CPU template). */
int config_put_cpu_config(struct kiln_config *cfg, json_t *body, struct kiln_err *err);
/* A whole --config-file document. */
int config_put_document(struct kiln_config *cfg, json_t *doc, struct kiln_err *err);

/* The small bodies of lifecycle requests: PATCH /drives/{id} (path stays
 * NULL when not given), PUT /actions, PATCH /vm ("Paused" or "Resumed"). */
int config_read_drive_update(json_t *body, const char *path_id, const char **path,
			     struct kiln_err *err);
int config_read_action(json_t *body, const char **action, struct kiln_err *err);
int config_read_vm_state(json_t *body, const char **state, struct kiln_err *err);
/* PUT /snapshot/create (snapshot_type Full, the default, or Diff) and PUT
 * /snapshot/load (mem_backend File or the older mem_file_path; resume_vm
 * and enable_diff_snapshots default to false). Strings point into body. */
int config_read_snapshot_create(json_t *body, bool *diff, const char **state_path,
				const char **mem_path, struct kiln_err *err);
int config_read_snapshot_load(json_t *body, struct kiln_restore *restore, struct kiln_err *err);

/* Firecracker's MachineConfiguration and FullVmConfiguration (GET). */
json_t *machine_config_to_json(const struct kiln_config *cfg);
json_t *config_to_json(const struct kiln_config *cfg);

/* Send kiln's log lines where cfg->logger says. 0 or a negative errno. */
int config_apply_logger(const struct kiln_config *cfg, struct kiln_err *err);

/*
 * Ready cfg for booting: a kernel is set, the kernel, initrd and drive
 * files can be opened, the root drive (if any) moves to the front (vda)
 * and root= goes onto the command line, as Firecracker does. The new
 * command line is *cmdline (the caller frees it after the machine is
 * gone; NULL when unchanged). 0, or a negative errno with err.
 */
int config_prepare_boot(struct kiln_config *cfg, char **cmdline, struct kiln_err *err);

#endif
