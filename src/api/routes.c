// SPDX-License-Identifier: MIT
/*
 * Firecracker's paths, one handler each. Pre-boot requests edit the pending
 * configuration through a scratch copy, so a request that fails changes
 * nothing; lifecycle requests go to the VMM's ops.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/config_json.h"
#include "api/server.h"

/* Firecracker's words, which clients match on. */
#define MSG_POST_BOOT "The requested operation is not supported after starting the microVM."
#define MSG_PRE_BOOT "The requested operation is not supported before starting the microVM."

/* Length of the valid UTF-8 sequence at s (RFC 3629: no overlong forms,
 * no surrogates, nothing past U+10FFFF), or 0. */
static size_t utf8_sequence(const unsigned char *s)
{
	unsigned char c = s[0], lo = 0x80, hi = 0xbf;
	size_t n;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		n = 2;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4;
	else
		return 0;
	if (c == 0xe0)
		lo = 0xa0;
	else if (c == 0xed)
		hi = 0x9f;
	else if (c == 0xf0)
		lo = 0x90;
	else if (c == 0xf4)
		hi = 0x8f;
	if (s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return n;
}

/* JSON strings are UTF-8, and jansson refuses anything else: a message that
 * quotes the client's bytes (a path, an id), or cuts a character in two
 * with a precision, gets '?' for each byte that is not part of a valid
 * character. */
static void utf8_scrub(char *text)
{
	unsigned char *s = (unsigned char *)text;

	while (*s) {
		size_t n = utf8_sequence(s);

		if (n)
			s += n;
		else
			*s++ = '?';
	}
}

struct api_reply api_error(unsigned int status, const char *fmt, ...)
{
	char message[600];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	utf8_scrub(message);
	return (struct api_reply){ status, json_pack("{s:s}", "fault_message", message) };
}

static struct api_reply no_content(void) { return (struct api_reply){ 204, NULL }; }
static struct api_reply ok_json(json_t *body) { return (struct api_reply){ 200, body }; }

static struct api_reply kiln_error(const struct kiln_err *err)
{
	return api_error(400, "%s", err->msg[0] ? err->msg : "the request failed");
}

/* A reader of one section; id is the {drive_id} of the path, if any. */
typedef int (*section_fn)(struct kiln_config *cfg, const char *id, json_t *body,
			  struct kiln_err *err);

/* What a section does beyond the configuration (the logger, the metrics
 * file), once it has been read. */
typedef int (*effect_fn)(struct api_server *s, const struct kiln_config *cfg,
			 struct kiln_err *err);

/* Apply one section to a copy of the pending configuration; keep it only
 * when it was all valid and took effect. */
static struct api_reply update_pending(struct api_server *s, const char *id, json_t *body,
				       section_fn fn, effect_fn effect)
{
	struct kiln_config scratch, *pending = api_pending(s);
	struct kiln_err err = { 0 };
	int ret;

	if (api_booted(s))
		return api_error(400, MSG_POST_BOOT);
	if (config_clone(&scratch, pending))
		return api_error(500, "out of memory");
	ret = fn(&scratch, id, body, &err);
	if (!ret && effect)
		ret = effect(s, &scratch, &err);
	if (ret) {
		config_release(&scratch);
		return kiln_error(&err);
	}
	config_release(pending);
	*pending = scratch;
	return no_content();
}

static int read_machine_put(struct kiln_config *cfg, const char *id, json_t *body,
			    struct kiln_err *err)
{
	(void)id;
	return config_put_machine(cfg, body, false, err);
}

static int read_machine_patch(struct kiln_config *cfg, const char *id, json_t *body,
			      struct kiln_err *err)
{
	(void)id;
	return config_put_machine(cfg, body, true, err);
}

static int read_boot_source(struct kiln_config *cfg, const char *id, json_t *body,
			    struct kiln_err *err)
{
	(void)id;
	return config_put_boot_source(cfg, body, err);
}

static int read_logger(struct kiln_config *cfg, const char *id, json_t *body,
		       struct kiln_err *err)
{
	(void)id;
	return config_put_logger(cfg, body, err);
}

static int read_metrics(struct kiln_config *cfg, const char *id, json_t *body,
			struct kiln_err *err)
{
	(void)id;
	return config_put_metrics(cfg, body, err);
}

static int read_entropy(struct kiln_config *cfg, const char *id, json_t *body,
			struct kiln_err *err)
{
	(void)id;
	return config_put_entropy(cfg, body, err);
}

static int read_vsock(struct kiln_config *cfg, const char *id, json_t *body,
		      struct kiln_err *err)
{
	(void)id;
	return config_put_vsock(cfg, body, err);
}

static int read_cpu_config(struct kiln_config *cfg, const char *id, json_t *body,
			   struct kiln_err *err)
{
	(void)id;
	return config_put_cpu_config(cfg, body, err);
}

static int start_logger(struct api_server *s, const struct kiln_config *cfg,
			struct kiln_err *err)
{
	(void)s;
	return config_apply_logger(cfg, err);
}

static int open_metrics(struct api_server *s, const struct kiln_config *cfg,
			struct kiln_err *err)
{
	return metrics_writer_open(api_metrics(s), cfg->metrics_path, err);
}

static const char *state_name(struct api_server *s)
{
	const struct api_vmm_ops *ops = api_ops(s);
	enum vmm_state state = api_booted(s) && ops->state ? ops->state(ops->ctx) : VMM_NOT_STARTED;

	if (api_booted(s) && state == VMM_NOT_STARTED)
		state = VMM_RUNNING;
	return state == VMM_PAUSED ? "Paused" : state == VMM_RUNNING ? "Running" : "Not started";
}

static struct api_reply get_instance(struct api_server *s, const char *id, json_t *body)
{
	const char *instance = api_pending(s)->instance_id;

	(void)id, (void)body;
	return ok_json(json_pack("{s:s, s:s, s:s, s:s}", "id",
				 instance ? instance : KILN_DEFAULT_INSTANCE_ID, "state",
				 state_name(s), "vmm_version", KILN_VERSION, "app_name", "kiln"));
}

static struct api_reply get_version(struct api_server *s, const char *id, json_t *body)
{
	(void)s, (void)id, (void)body;
	return ok_json(json_pack("{s:s}", "firecracker_version", KILN_VERSION));
}

static struct api_reply get_machine(struct api_server *s, const char *id, json_t *body)
{
	(void)id, (void)body;
	return ok_json(machine_config_to_json(api_pending(s)));
}

static struct api_reply get_vm_config(struct api_server *s, const char *id, json_t *body)
{
	(void)id, (void)body;
	return ok_json(config_to_json(api_pending(s)));
}

struct api_reply api_instance_start(struct api_server *s)
{
	const struct api_vmm_ops *ops = api_ops(s);
	struct kiln_config boot;
	struct kiln_err err = { 0 };
	const char *old_cmdline;
	char *cmdline;

	if (api_booted(s))
		return api_error(400, MSG_POST_BOOT);
	if (config_clone(&boot, api_pending(s)))
		return api_error(500, "out of memory");
	old_cmdline = boot.cmdline;
	/* A restore (--restore with --api-sock) has its machine in the snapshot. */
	if (boot.restore.state_path) {
		cmdline = NULL;
	} else if (config_prepare_boot(&boot, &cmdline, &err)) {
		config_release(&boot);
		return kiln_error(&err);
	}
	if (cmdline)
		free((char *)old_cmdline); /* boot owns the new one now */
	if (ops->start(ops->ctx, &boot, &err)) {
		config_release(&boot);
		return kiln_error(&err);
	}
	api_mark_started(s, &boot);
	return no_content();
}

static struct api_reply put_actions(struct api_server *s, const char *id, json_t *body)
{
	const struct api_vmm_ops *ops = api_ops(s);
	struct kiln_err err = { 0 };
	const char *action;

	(void)id;
	if (config_read_action(body, &action, &err))
		return kiln_error(&err);
	if (!strcmp(action, "InstanceStart"))
		return api_instance_start(s);
	if (!strcmp(action, "FlushMetrics"))
		return metrics_writer_flush(api_metrics(s), &err) ? kiln_error(&err) : no_content();
	if (strcmp(action, "SendCtrlAltDel"))
		return api_error(400, "actions: action_type `%.32s` must be one of InstanceStart, "
				 "SendCtrlAltDel, FlushMetrics", action);
	if (!api_booted(s))
		return api_error(400, MSG_PRE_BOOT);
	return ops->send_ctrl_alt_del(ops->ctx, &err) ? kiln_error(&err) : no_content();
}

static int find_drive_index(const struct kiln_config *cfg, const char *id)
{
	for (unsigned int i = 0; i < cfg->nr_disks; i++)
		if (cfg->disks[i].id && !strcmp(cfg->disks[i].id, id))
			return (int)i;
	return -1;
}

static struct api_reply patch_drive(struct api_server *s, const char *id, json_t *body)
{
	const struct api_vmm_ops *ops = api_ops(s);
	struct kiln_config *boot = api_booted(s), *pending = api_pending(s);
	struct kiln_err err = { 0 };
	const char *path = NULL;
	char *copy;
	int booted_index, pending_index;

	if (config_read_drive_update(body, id, &path, &err))
		return kiln_error(&err);
	if (!boot)
		return api_error(400, MSG_PRE_BOOT);
	booted_index = find_drive_index(boot, id);
	pending_index = find_drive_index(pending, id);
	if (booted_index < 0 || pending_index < 0)
		return api_error(400, "drives: no drive `%s` was attached at start", id);
	if (!path)
		return no_content(); /* nothing kiln can change */
	if (ops->update_drive(ops->ctx, (unsigned int)booted_index, path, &err))
		return kiln_error(&err);
	/* GET /vm/config shows the new backing file. */
	if ((copy = strdup(path))) {
		free((char *)pending->disks[pending_index].path);
		pending->disks[pending_index].path = copy;
	}
	return no_content();
}

/* Firecracker's PATCH updates only rate limiters, which kiln has none of. */
static struct api_reply patch_network(struct api_server *s, const char *id, json_t *body)
{
	(void)body;
	if (!api_booted(s))
		return api_error(400, MSG_PRE_BOOT);
	return api_error(400, "network-interfaces: `%.64s`: kiln has no rate limiters to update "
			 "(PATCH changes nothing else)", id);
}

static int read_network(struct kiln_config *cfg, const char *id, json_t *body,
			struct kiln_err *err)
{
	return config_put_network_interface(cfg, id, body, err);
}

static struct api_reply patch_vm(struct api_server *s, const char *id, json_t *body)
{
	const struct api_vmm_ops *ops = api_ops(s);
	struct kiln_err err = { 0 };
	const char *state;
	int ret;

	(void)id;
	if (config_read_vm_state(body, &state, &err))
		return kiln_error(&err);
	if (!api_booted(s))
		return api_error(400, MSG_PRE_BOOT);
	ret = !strcmp(state, "Paused") ? ops->pause(ops->ctx, &err) : ops->resume(ops->ctx, &err);
	/* Pausing a paused VM (or resuming a running one) changes nothing. */
	return ret && ret != -EALREADY ? kiln_error(&err) : no_content();
}

static struct api_reply put_snapshot_create(struct api_server *s, const char *id, json_t *body)
{
	const struct api_vmm_ops *ops = api_ops(s);
	struct kiln_err err = { 0 };
	const char *state_path, *mem_path;
	bool diff;

	(void)id;
	if (config_read_snapshot_create(body, &diff, &state_path, &mem_path, &err))
		return kiln_error(&err);
	if (!api_booted(s))
		return api_error(400, MSG_PRE_BOOT);
	return ops->snapshot_create(ops->ctx, diff, state_path, mem_path, &err) ? kiln_error(&err)
										  : no_content();
}

/* Before any machine, and before anything that describes one: the
 * snapshot's machine is the one that runs. */
static struct api_reply put_snapshot_load(struct api_server *s, const char *id, json_t *body)
{
	const struct api_vmm_ops *ops = api_ops(s);
	const struct kiln_config *pending = api_pending(s);
	struct kiln_err err = { 0 };
	struct kiln_config boot;

	(void)id;
	if (api_booted(s))
		return api_error(400, "Loading a microVM snapshot not allowed after starting the "
				 "microVM (a machine exists already).");
	if (pending->kernel || pending->nr_disks || pending->nr_nets || pending->vsock.enabled)
		return api_error(400, "Loading a microVM snapshot not allowed after configuring "
				 "boot-specific resources (boot-source, drives, network-interfaces, "
				 "vsock).");
	if (config_clone(&boot, pending))
		return api_error(500, "out of memory");
	if (config_read_snapshot_load(body, &boot.restore, &err) ||
	    ops->start(ops->ctx, &boot, &err)) {
		config_release(&boot);
		return kiln_error(&err);
	}
	/* The paths point into the request's body, gone after this. */
	boot.restore = (struct kiln_restore){ 0 };
	api_mark_started(s, &boot);
	return no_content();
}

/* A route either edits a section of the pending configuration (section,
 * and its effect if any) or has a handler of its own. */
struct route {
	const char *method;
	const char *path;        /* with a trailing '/', the rest of the URL is the id */
	bool has_body;
	enum api_counter counter;
	struct api_reply (*handle)(struct api_server *s, const char *id, json_t *body);
	section_fn section;
	effect_fn effect;
};

static const struct route routes[] = {
	{ "GET", "/", false, API_GET_INSTANCE_INFO, .handle = get_instance },
	{ "GET", "/version", false, API_GET_VMM_VERSION, .handle = get_version },
	{ "GET", "/machine-config", false, API_GET_MACHINE_CFG, .handle = get_machine },
	{ "PUT", "/machine-config", true, API_PUT_MACHINE_CFG, .section = read_machine_put },
	{ "PATCH", "/machine-config", true, API_PATCH_MACHINE_CFG,
	  .section = read_machine_patch },
	{ "GET", "/vm/config", false, API_NOT_COUNTED, .handle = get_vm_config },
	{ "PUT", "/boot-source", true, API_PUT_BOOT_SOURCE, .section = read_boot_source },
	{ "PUT", "/drives/", true, API_PUT_DRIVE, .section = config_put_drive },
	{ "PATCH", "/drives/", true, API_PATCH_DRIVE, .handle = patch_drive },
	{ "PUT", "/network-interfaces/", true, API_PUT_NETWORK, .section = read_network },
	{ "PATCH", "/network-interfaces/", true, API_PATCH_NETWORK, .handle = patch_network },
	{ "PUT", "/actions", true, API_PUT_ACTIONS, .handle = put_actions },
	{ "PATCH", "/vm", true, API_NOT_COUNTED, .handle = patch_vm },
	{ "PUT", "/logger", true, API_PUT_LOGGER, .section = read_logger,
	  .effect = start_logger },
	{ "PUT", "/metrics", true, API_PUT_METRICS, .section = read_metrics,
	  .effect = open_metrics },
	{ "PUT", "/entropy", true, API_NOT_COUNTED, .section = read_entropy },
	{ "PUT", "/vsock", true, API_NOT_COUNTED, .section = read_vsock },
	{ "PUT", "/cpu-config", true, API_PUT_CPU_CONFIG, .section = read_cpu_config },
	{ "PUT", "/snapshot/create", true, API_NOT_COUNTED, .handle = put_snapshot_create },
	{ "PUT", "/snapshot/load", true, API_NOT_COUNTED, .handle = put_snapshot_load },
};

/* The route for the path (any method), with *id set for /drives/{id}. */
static const struct route *match(const char *method, const char *url, const char **id,
				 bool *path_known)
{
	*path_known = false;
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		const struct route *r = &routes[i];
		size_t len = strlen(r->path);
		bool prefix = len > 1 && r->path[len - 1] == '/';

		if (prefix ? strncmp(url, r->path, len) || !url[len] : strcmp(url, r->path))
			continue;
		*path_known = true;
		*id = prefix ? url + len : NULL;
		if (!strcmp(method, r->method))
			return r;
	}
	return NULL;
}

static struct api_reply parse_body(const char *method, const char *text, size_t len,
				   json_t **out)
{
	json_error_t error;

	*out = NULL;
	if (!len)
		return api_error(400, "Empty %s request.", method);
	*out = json_loadb(text, len, JSON_REJECT_DUPLICATES, &error);
	if (!*out)
		return api_error(400, "An error occurred when deserializing the json body of a "
				 "request: %s at line %d column %d.", error.text, error.line,
				 error.column);
	return no_content();
}

static struct api_reply dispatch(struct api_server *s, const struct route *r, const char *id,
				 const char *text, size_t len)
{
	struct api_reply reply;
	json_t *body = NULL;

	if (id && !api_id_valid(id))
		return api_error(400, "invalid drive_id `%.64s` in the path: it must be 1 to %d "
				 "characters from A-Z, a-z, 0-9 and _", id, API_ID_MAX_LEN);
	if (r->has_body) {
		reply = parse_body(r->method, text, len, &body);
		if (reply.status != 204)
			return reply;
	} else if (len) {
		return api_error(400, "%s %s takes no body.", r->method, r->path);
	}
	reply = r->section ? update_pending(s, id, body, r->section, r->effect)
			   : r->handle(s, id, body);
	json_decref(body);
	return reply;
}

struct api_reply api_route(struct api_server *s, const char *method, const char *url,
			   const char *text, size_t len)
{
	const char *id = NULL;
	bool path_known;
	const struct route *r = match(method, url, &id, &path_known);
	struct api_reply reply;

	if (!r)
		return api_error(path_known ? 405 : 400, "Invalid request method and/or path: "
				 "%.16s %.200s.", method, url);
	reply = dispatch(s, r, id, text, len);
	if (!reply.body && reply.status != 204) /* json_pack ran out of memory */
		reply.status = 500;
	metrics_writer_count(api_metrics(s), r->counter, reply.status >= 400);
	return reply;
}
