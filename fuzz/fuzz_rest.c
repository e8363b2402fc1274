/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer target: hmesh-controld's request handling (ctl_rest_handle),
 * everything a client controls: method, path, query, token, content type
 * and body, against a live model whose changes go to a real durable log in
 * a temporary directory. Input layout: byte 0 picks the method, then
 * NUL-separated path, query, body. Invariants beyond "no sanitizer report":
 * the status is one the API documents; every error reply has the error
 * object; a refused request leaves the revision unchanged; a 2xx write
 * moves it by exactly one.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_node.h"
#include "ctl_rest.h"

static struct ctl_node node = {.lock = PTHREAD_MUTEX_INITIALIZER,
			       .changed = PTHREAD_COND_INITIALIZER};
static struct ctl_rest *rest;
static char dir[] = "/tmp/fuzz-rest.XXXXXX";

static void cleanup(void)
{
	char cmd[64];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "fuzz_rest: could not remove %s\n", dir);
}

static void init(void)
{
	node.cfg.lim = (struct ctl_limits){.max_services = 16, .max_backends = 64, .max_nodes = 8};
	if (mkdtemp(dir) == NULL || ctl_model_init(&node.model, &node.cfg.lim) < 0 ||
	    ctl_store_open(dir, &node.model, &node.store) < 0)
		abort();
	atexit(cleanup);
	rest = ctl_rest_new_detached(&node);
	if (rest == NULL)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const methods[] = {"GET", "POST", "PUT", "DELETE", "PATCH", "HEAD"};
	char *buf, *path, *query, *body;
	uint64_t rev0;
	json_t *out = NULL;
	int st;

	if (rest == NULL)
		init();
	if (size < 1)
		return 0;
	buf = calloc(1, size + 3);
	if (buf == NULL)
		return 0;
	memcpy(buf, data + 1, size - 1);
	path = buf;
	query = path + strlen(path) + 1;
	body = query + strlen(query) + 1;
	if (body > buf + size)
		body = buf + size;
	rev0 = node.model.revision;
	st = ctl_rest_handle(rest, methods[data[0] % 6], path, query, NULL,
			     data[0] & 0x80 ? "text/plain" : "application/json", body, strlen(body),
			     &out);
	switch (st) {
	case 200:
	case 201:
	case 204:
		if (strcmp(methods[data[0] % 6], "GET") && strcmp(methods[data[0] % 6], "HEAD") &&
		    node.model.revision != rev0 + 1)
			abort();
		break;
	case 400:
	case 404:
	case 405:
	case 409:
	case 413:
	case 415:
	case 429:
	case 503:
		if (node.model.revision != rev0 || json_object_get(out, "error") == NULL)
			abort();
		break;
	default:
		abort();
	}
	json_decref(out);
	free(buf);
	return 0;
}
