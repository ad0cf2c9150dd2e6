// SPDX-License-Identifier: MIT
/*
 * The API server (api.h): libmicrohttpd on a Unix socket kiln binds itself,
 * one internal polling thread. MHD reads every connection without blocking
 * and calls us only with a whole request, so a client that stalls half-way
 * holds up nobody; it is dropped after API_CONNECTION_TIMEOUT_S.
 */
#include "api/api.h"

#include <errno.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "api/config_json.h"
#include "api/metrics.h"
#include "api/server.h"
#include "sandbox/seccomp.h"
#include "util/log.h"

/* Firecracker's limit on a request body. */
#define API_MAX_BODY 51200
#define API_CONNECTION_TIMEOUT_S 10
#define API_MAX_CONNECTIONS 64

struct api_server {
	struct MHD_Daemon *daemon;
	int listen_fd;
	char *sock_path;
	pthread_mutex_t lock;             /* the configuration and the state */
	struct kiln_config pending;       /* owned; what GET /vm/config shows */
	struct kiln_config boot;          /* owned; what InstanceStart booted */
	bool started;
	struct api_vmm_ops ops;
	struct metrics_writer metrics;
	/* The server thread's seccomp filter, installed on its first
	 * connection (touched by that thread only): 0 once on, or -errno. */
	bool sandboxed;
	int sandbox_error;
};

/* One request's body as it arrives. */
struct request_body {
	char *data;
	size_t len;
	bool too_large;
};

static enum MHD_Result send_reply(struct api_server *s, struct MHD_Connection *conn,
				  const struct api_reply *reply)
{
	struct MHD_Response *response;
	char *text = reply->body ? json_dumps(reply->body, JSON_COMPACT) : NULL;
	enum MHD_Result ret;

	if (text)
		response = MHD_create_response_from_buffer(strlen(text), text,
							   MHD_RESPMEM_MUST_FREE);
	else
		response = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
	if (!response) {
		free(text);
		metrics_writer_response_failed(&s->metrics);
		return MHD_NO;
	}
	if (text)
		MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	ret = MHD_queue_response(conn, reply->status, response);
	MHD_destroy_response(response);
	if (ret != MHD_YES)
		metrics_writer_response_failed(&s->metrics);
	return ret;
}

static bool body_too_large(struct MHD_Connection *conn)
{
	const char *length = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
							 MHD_HTTP_HEADER_CONTENT_LENGTH);

	return length && strtoull(length, NULL, 10) > API_MAX_BODY;
}

/* Keep up to API_MAX_BODY bytes; past that, only remember it was too much
 * (the rest is read and dropped, so the connection stays usable). */
static void take_upload(struct request_body *body, const char *data, size_t size)
{
	char *grown;

	if (body->too_large || body->len + size > API_MAX_BODY) {
		body->too_large = true;
		return;
	}
	grown = realloc(body->data, body->len + size + 1);
	if (!grown) {
		body->too_large = true;
		return;
	}
	memcpy(grown + body->len, data, size);
	body->len += size;
	grown[body->len] = '\0';
	body->data = grown;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version,
				  const char *upload_data, size_t *upload_data_size, void **con_cls)
{
	struct api_server *s = cls;
	struct request_body *body = *con_cls;
	struct api_reply reply;
	enum MHD_Result ret;

	(void)version;
	if (!body) { /* headers only, so far */
		body = calloc(1, sizeof(*body));
		if (!body)
			return MHD_NO;
		body->too_large = body_too_large(conn);
		*con_cls = body;
		return MHD_YES;
	}
	if (*upload_data_size) {
		take_upload(body, upload_data, *upload_data_size);
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (s->sandbox_error)
		reply = api_error(500, "The API server cannot install its seccomp filter: %s",
				  strerror(-s->sandbox_error));
	else if (body->too_large)
		reply = api_error(400, "Request payload is larger than the limit of %d bytes "
				  "allowed by kiln.", API_MAX_BODY);
	else {
		pr_info("The API server received a %s request on %s", method, url);
		pthread_mutex_lock(&s->lock);
		reply = api_route(s, method, url, body->data, body->len);
		pthread_mutex_unlock(&s->lock);
	}
	ret = send_reply(s, conn, &reply);
	json_decref(reply.body);
	return ret;
}

/*
 * libmicrohttpd's thread is created by the library, so it installs its own
 * filter the first time it meets a client: before reading a byte of any
 * request. Until then it has only polled and accepted.
 */
static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
			  enum MHD_ConnectionNotificationCode code)
{
	struct api_server *s = cls;
	struct kiln_err err = { 0 };

	(void)conn, (void)socket_context;
	if (code != MHD_CONNECTION_NOTIFY_STARTED || s->sandboxed)
		return;
	s->sandboxed = true;
	s->sandbox_error = sandbox_enter(SANDBOX_THREAD_API, &err);
	if (s->sandbox_error)
		pr_err("%s", err.msg);
	sandbox_test_violation(SANDBOX_THREAD_API);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode code)
{
	struct request_body *body = *con_cls;

	(void)cls, (void)conn, (void)code;
	if (body) {
		free(body->data);
		free(body);
		*con_cls = NULL;
	}
}

int api_listen(const char *path, struct kiln_err *err)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	struct stat st;
	int fd;

	if (strlen(path) >= sizeof(addr.sun_path))
		return err_set(err, -ENAMETOOLONG, "--api-sock %s: the path is too long", path);
	if (!lstat(path, &st))
		return err_set(err, -EEXIST, "--api-sock %s already exists (remove it, or pick "
			       "another path)", path);
	strcpy(addr.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return err_set_errno(err, -errno, "cannot create the API socket");
	if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) || listen(fd, 64)) {
		int ret = -errno;

		close(fd);
		return err_set_errno(err, ret, "--api-sock %s", path);
	}
	return fd;
}

static void server_free(struct api_server *s)
{
	metrics_writer_close(&s->metrics);
	config_release(&s->pending);
	if (s->started)
		config_release(&s->boot);
	free(s->sock_path);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

static int server_init(struct api_server *s, const char *sock_path, const struct kiln_config *cfg,
		       const struct api_vmm_ops *ops, struct kiln_err *err)
{
	pthread_mutex_init(&s->lock, NULL);
	metrics_writer_init(&s->metrics);
	s->listen_fd = -1;
	s->ops = *ops;
	if (config_clone(&s->pending, cfg) || (sock_path && !(s->sock_path = strdup(sock_path))))
		return err_set(err, -ENOMEM, "out of memory");
	if (s->pending.metrics_path)
		return metrics_writer_open(&s->metrics, s->pending.metrics_path, err);
	return 0;
}

/* The server's state and its listening socket, not yet serving. */
static int server_create(struct api_server **out, const char *sock_path, int listen_fd,
			 const struct kiln_config *cfg, const struct api_vmm_ops *ops,
			 struct kiln_err *err)
{
	struct api_server *s = calloc(1, sizeof(*s));
	int ret;

	*out = NULL;
	if (!s) {
		if (listen_fd >= 0)
			close(listen_fd);
		return err_set(err, -ENOMEM, "out of memory");
	}
	ret = server_init(s, listen_fd >= 0 ? NULL : sock_path, cfg, ops, err);
	if (!ret && listen_fd < 0)
		ret = listen_fd = api_listen(sock_path, err);
	s->listen_fd = listen_fd;
	if (ret < 0) {
		if (listen_fd >= 0)
			close(listen_fd);
		server_free(s);
		return ret;
	}
	*out = s;
	return 0;
}

static void server_discard(struct api_server *s)
{
	close(s->listen_fd);
	if (s->sock_path)
		unlink(s->sock_path);
	server_free(s);
}

/* libmicrohttpd's thread starts taking requests; s is freed on failure. */
static int server_serve(struct api_server *s, const char *sock_path, struct kiln_err *err)
{
	s->daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL |
				     MHD_USE_ITC, 0, NULL, NULL, on_request, s,
				     MHD_OPTION_LISTEN_SOCKET, s->listen_fd,
				     MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)API_CONNECTION_TIMEOUT_S,
				     MHD_OPTION_CONNECTION_LIMIT, (unsigned int)API_MAX_CONNECTIONS,
				     MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
				     MHD_OPTION_NOTIFY_CONNECTION, on_connection, s,
				     MHD_OPTION_END);
	if (!s->daemon) {
		server_discard(s);
		return err_set(err, -EIO, "cannot start the API server on %s", sock_path);
	}
	return 0;
}

int api_server_start(struct api_server **out, const char *sock_path, int listen_fd,
		     const struct kiln_config *cfg, const struct api_vmm_ops *ops,
		     struct kiln_err *err)
{
	int ret = server_create(out, sock_path, listen_fd, cfg, ops, err);

	if (!ret && (ret = server_serve(*out, sock_path, err)))
		*out = NULL;
	return ret;
}

int api_server_start_booted(struct api_server **out, const char *sock_path, int listen_fd,
			    const struct kiln_config *cfg, const struct api_vmm_ops *ops,
			    struct kiln_err *err)
{
	int ret = server_create(out, sock_path, listen_fd, cfg, ops, err);

	if (ret)
		return ret;
	/* No client can be mid-InstanceStart yet, holding the lock while it
	 * waits for this (the main) thread. */
	ret = api_server_instance_start(*out, err);
	if (ret)
		server_discard(*out);
	else
		ret = server_serve(*out, sock_path, err);
	if (ret)
		*out = NULL;
	return ret;
}

void api_server_stop(struct api_server *s)
{
	if (!s)
		return;
	MHD_stop_daemon(s->daemon); /* closes the listening socket too */
	if (s->sock_path)
		unlink(s->sock_path);
	server_free(s);
}

int api_server_instance_start(struct api_server *s, struct kiln_err *err)
{
	struct api_reply reply;
	int ret = 0;

	pthread_mutex_lock(&s->lock);
	reply = api_instance_start(s);
	pthread_mutex_unlock(&s->lock);
	if (reply.status != 204) {
		const char *why = json_string_value(json_object_get(reply.body, "fault_message"));

		ret = err_set(err, -EINVAL, "%s", why ? why : "the machine did not start");
	}
	json_decref(reply.body);
	return ret;
}

/* For the routes (api/routes.c). */
struct kiln_config *api_pending(struct api_server *s) { return &s->pending; }
struct kiln_config *api_booted(struct api_server *s) { return s->started ? &s->boot : NULL; }
const struct api_vmm_ops *api_ops(struct api_server *s) { return &s->ops; }
struct metrics_writer *api_metrics(struct api_server *s) { return &s->metrics; }

void api_mark_started(struct api_server *s, struct kiln_config *boot)
{
	s->boot = *boot;
	s->started = true;
}
