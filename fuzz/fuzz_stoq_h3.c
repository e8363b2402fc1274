/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer target: what hmesh-stoq's HTTP/3 layer (stoq/stoq_h3.c) parses
 * out of request and response headers itself, nghttp3 having decoded them:
 * the :path made relative to the served root, a Range value, a repr-digest
 * value, a content-addressed chunk name. Invariants beyond "no sanitizer
 * report":
 *   - an accepted path is relative, non-empty, without "?"/"#", and has no
 *     empty, "." or ".." segment (it cannot leave the root);
 *   - an accepted Range is one of a-b (b >= a), a- or -n (n >= 1) and a
 *     refused one leaves the request as it was;
 *   - a chunk name is accepted exactly when it is 64 lowercase hex digits;
 *   - repr-digest holding exactly our value matches.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "stoq_priv.h"

static void check_path(const char *in)
{
	char out[STOQ_PATH_MAX];

	if (stoq_h3_rel_path(in, out, sizeof(out)) != 0)
		return;
	if (!out[0] || out[0] == '/' || strpbrk(out, "?#"))
		abort();
	for (const char *seg = out; seg;) {
		const char *slash = strchr(seg, '/');
		size_t n = slash ? (size_t)(slash - seg) : strlen(seg);

		if (n == 0 || (n == 1 && seg[0] == '.') || (n == 2 && !memcmp(seg, "..", 2)))
			abort();
		seg = slash ? slash + 1 : NULL;
	}
}

static void check_range(const uint8_t *data, size_t size)
{
	struct stoq_req r = {.range_start = 7, .range_end = 9};

	if (stoq_h3_parse_range((const char *)data, size, &r) != 0) {
		if (r.has_range || r.range_start != 7 || r.range_end != 9)
			abort(); /* a refusal changed the request */
		return;
	}
	if (!r.has_range || (r.range_start < 0 && r.range_end < 1) ||
	    (r.range_start >= 0 && r.range_end >= 0 && r.range_end < r.range_start) ||
	    r.range_start < -1 || r.range_end < -1)
		abort();
}

static void check_name(const char *in)
{
	size_t n = strlen(in);
	bool hex = n == 64;

	for (size_t i = 0; hex && i < n; i++)
		hex = (in[i] >= '0' && in[i] <= '9') || (in[i] >= 'a' && in[i] <= 'f');
	if (stoq_h3_is_hash_name(in) != hex)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char b64[] = "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=";
	char *s = malloc(size + 1), *v;

	if (!s)
		abort();
	memcpy(s, data, size);
	s[size] = '\0';
	check_path(s);
	check_range(data, size);
	check_name(s);
	(void)stoq_h3_digest_matches(data, size, b64);
	free(s);
	/* The value that must match: the input's bytes as a dictionary entry before ours. */
	v = malloc(size + sizeof(b64) + 16);
	if (!v)
		abort();
	memcpy(v, data, size);
	memcpy(v + size, ", sha-256=:", 11);
	memcpy(v + size + 11, b64, sizeof(b64) - 1);
	v[size + 11 + sizeof(b64) - 1] = ':';
	if (!memchr(data, ':', size) &&
	    !stoq_h3_digest_matches((const uint8_t *)v, size + 12 + sizeof(b64) - 1, b64))
		abort();
	free(v);
	return 0;
}
