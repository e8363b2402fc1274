/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * ctl_rest — hmesh-controld's REST API (libmicrohttpd + jansson), described
 * by controlplane/openapi.json.
 *
 * JSON in and out. Errors are {"error": {"code", "message", "field"}} with
 * 400 (bad input; field names it), 401/403 (token), 404, 405, 409 (version
 * mismatch or conflict), 413 (body over CTL_REST_BODY_MAX), 415 (not
 * application/json), 429 (write rate), 500/503 (state could not be made
 * durable). A change is acknowledged only once it is in the durable log
 * (ctl_store) and applied to the model.
 */
#ifndef CTL_REST_H
#define CTL_REST_H

#include "ctl_node.h"

#define CTL_REST_BODY_MAX (64 * 1024)

struct ctl_rest;

/*
 * Load the tokens file (lines "rw TOKEN" or "ro TOKEN"; # comments) when
 * one is set and start listening. Returns NULL with the reason logged.
 */
struct ctl_rest *ctl_rest_start(struct ctl_node *n);
void ctl_rest_stop(struct ctl_rest *r);

/*
 * The request handling without HTTP (also the fuzz target's entry): method,
 * path with query, bearer token (NULL if none), content type, body. Returns
 * the status; *@out is the JSON reply (NULL for 204).
 */
int ctl_rest_handle(struct ctl_rest *r, const char *method, const char *url, const char *query,
		    const char *token, const char *content_type, const char *body, size_t body_len,
		    json_t **out);

/* *@out = {"error": {"code": @status, "message", "field"}}; returns @status. */
int ctl_rest_error(json_t **out, int status, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/*
 * One write (POST/PUT/DELETE of services/@item, backends, links) prepared
 * against the model and applied, counted in @st: the step both modes
 * share. Single-node mode passes @store (the change goes to ctl_store
 * first); cluster mode runs it as the replicated log's execute step, once
 * the batch is durable. Caller holds n->lock. Returns the HTTP status and
 * *@out (the object, an error, or NULL for 204).
 */
int ctl_write_apply(struct ctl_node *n, struct ctl_stats_block *st, const char *method,
		    const char *coll, const char *item, uint64_t ifv, const json_t *body,
		    bool store, json_t **out);

/* A handler state for ctl_rest_handle() without a listening socket (tests, fuzzing). */
struct ctl_rest *ctl_rest_new_detached(struct ctl_node *n);

#endif /* CTL_REST_H */
