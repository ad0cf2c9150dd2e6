// SPDX-License-Identifier: MIT
/*
 * The management API's request handling (src/api/routes.c and the JSON
 * configuration parser src/api/config_json.c) without a client: each input
 * is a sequence of requests for a fresh server whose VMM side is a stub, so
 * a sequence can configure, start, pause, resume and patch the machine.
 *
 * Input: requests separated by 0x1e; each is "METHOD URL\n" then the body.
 * PUT /logger and PUT /metrics open the files they name, which a fuzzer must
 * not do: their bodies go through the parser only (config_put_logger and
 * config_put_metrics on a scratch configuration).
 */
#include <errno.h>
#include <stdint.h>
#include <unistd.h>

#include "api/config_json.h"
#include "api/server.h"
#include "fuzz_input.h"

static char dir[] = "/tmp/kiln-fuzz-api-XXXXXX";
static char sock_path[64];

/* The VMM, as far as the API can tell: it starts, pauses and resumes. */
struct stub_vmm {
	enum vmm_state state;
};

static int stub_start(void *ctx, const struct kiln_config *cfg, struct kiln_err *err)
{
	struct stub_vmm *vmm = ctx;

	(void)err;
	FUZZ_CHECK(cfg->kernel && cfg->cpus >= 1, "started without a kernel or CPUs");
	vmm->state = VMM_RUNNING;
	return 0;
}

static int stub_pause(void *ctx, struct kiln_err *err)
{
	struct stub_vmm *vmm = ctx;

	(void)err;
	if (vmm->state == VMM_PAUSED)
		return -EALREADY;
	vmm->state = VMM_PAUSED;
	return 0;
}

static int stub_resume(void *ctx, struct kiln_err *err)
{
	struct stub_vmm *vmm = ctx;

	(void)err;
	if (vmm->state == VMM_RUNNING)
		return -EALREADY;
	vmm->state = VMM_RUNNING;
	return 0;
}

static int stub_ctrl_alt_del(void *ctx, struct kiln_err *err)
{
	(void)ctx;
	(void)err;
	return 0;
}

static int stub_update_drive(void *ctx, unsigned int index, const char *path,
			     struct kiln_err *err)
{
	(void)ctx;
	FUZZ_CHECK(index < KILN_MAX_DISKS && path, "drive %u", index);
	return path[0] ? 0 : err_set(err, -ENOENT, "drives: no file");
}

static enum vmm_state stub_state(void *ctx)
{
	return ((struct stub_vmm *)ctx)->state;
}

static void remove_dir(void)
{
	rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	FUZZ_SETUP(mkdtemp(dir) != NULL);
	snprintf(sock_path, sizeof(sock_path), "%s/api.sock", dir);
	atexit(remove_dir);
	return 0;
}

/* Parser only: the bodies whose effects would open files. */
static void parse_only(const char *url, const char *body, size_t len)
{
	struct kiln_config scratch = { .command = KILN_CMD_RUN, .cpus = 1, .memory_mib = 256 };
	struct kiln_config owned;
	struct kiln_err err = { 0 };
	json_t *json = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);

	if (!json || config_clone(&owned, &scratch)) {
		json_decref(json);
		return;
	}
	if (!strcmp(url, "/logger"))
		(void)config_put_logger(&owned, json, &err);
	else
		(void)config_put_metrics(&owned, json, &err);
	json_decref(json);
	config_release(&owned);
}

static void one_request(struct api_server *server, const char *text, size_t len)
{
	static const char *const methods[] = { "GET", "PUT", "PATCH", "POST", "DELETE" };
	const char *nl = memchr(text, '\n', len);
	char first[256], *url;
	const char *method;
	struct api_reply reply;
	size_t line = nl ? (size_t)(nl - text) : len;

	if (line >= sizeof(first))
		return;
	memcpy(first, text, line);
	first[line] = '\0';
	url = strchr(first, ' ');
	if (!url)
		return;
	*url++ = '\0';
	method = first;
	if (!first[0]) /* an empty method: pick one by the URL's length */
		method = methods[strlen(url) % 5];
	text += nl ? line + 1 : line;
	len -= nl ? line + 1 : line;
	if (!strcmp(url, "/logger") || !strcmp(url, "/metrics")) {
		parse_only(url, text, len);
		return;
	}
	/* api_route expects the server's lock: no client ever connects here,
	 * so its HTTP thread never takes it and this thread is the only one. */
	reply = api_route(server, method, url, text, len);
	FUZZ_CHECK(reply.status >= 200 && reply.status < 600, "status %u", reply.status);
	FUZZ_CHECK(reply.status == 204 || reply.body, "status %u without a body", reply.status);
	json_decref(reply.body);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct stub_vmm vmm = { VMM_NOT_STARTED };
	const struct api_vmm_ops ops = {
		.start = stub_start, .pause = stub_pause, .resume = stub_resume,
		.send_ctrl_alt_del = stub_ctrl_alt_del, .update_drive = stub_update_drive,
		.state = stub_state, .ctx = &vmm,
	};
	const struct kiln_config cfg = { .command = KILN_CMD_RUN, .cpus = 1, .memory_mib = 256 };
	struct api_server *server;
	struct kiln_err err = { 0 };
	const char *text = (const char *)data, *end = text + size;

	FUZZ_SETUP(api_server_start(&server, sock_path, -1, &cfg, &ops, &err) == 0);
	while (text < end) {
		const char *sep = memchr(text, 0x1e, (size_t)(end - text));
		size_t len = sep ? (size_t)(sep - text) : (size_t)(end - text);

		one_request(server, text, len);
		text += len + (sep != NULL);
	}
	api_server_stop(server);
	return 0;
}
