/* SPDX-License-Identifier: MIT */
/* Inside the API: the server (server.c) and its routes (routes.c). */
#ifndef KILN_API_SERVER_H
#define KILN_API_SERVER_H

#include <jansson.h>
#include <stddef.h>

#include "api/api.h"
#include "api/metrics.h"

/* A status and a JSON body (NULL: none, as for 204). */
struct api_reply {
	unsigned int status;
	json_t *body;
};

/* 4xx with {"fault_message": ...}. */
struct api_reply api_error(unsigned int status, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Answer one whole request; called with the server's lock held. */
struct api_reply api_route(struct api_server *s, const char *method, const char *url,
			   const char *body, size_t body_len);

/* InstanceStart (PUT /actions); called with the server's lock held. */
struct api_reply api_instance_start(struct api_server *s);

struct kiln_config *api_pending(struct api_server *s);
/* The configuration InstanceStart booted; NULL before. */
struct kiln_config *api_booted(struct api_server *s);
const struct api_vmm_ops *api_ops(struct api_server *s);
struct metrics_writer *api_metrics(struct api_server *s);
/* InstanceStart succeeded with boot (the server now owns it). */
void api_mark_started(struct api_server *s, struct kiln_config *boot);

#endif
