/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer target: hmesh-run's OCI config.json parser (rt_spec_parse) on
 * arbitrary text, as a bundle it is given could hold. Invariants beyond
 * "no sanitizer report": a refusal always says why (the message names the
 * field), and an accepted spec has a process to run.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rt_spec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *json = malloc(size + 1), err[512] = "";
	struct rt_spec s;
	int rc;

	if (!json)
		return 0;
	memcpy(json, data, size);
	json[size] = '\0';
	memset(&s, 0, sizeof(s));
	rc = rt_spec_parse(json, size, "/nonexistent-fuzz-bundle", &s, err, sizeof(err));
	if (rc < 0 && err[0] == '\0')
		abort(); /* refused without a reason */
	if (rc == 0) {
		if (s.args[0] == NULL)
			abort(); /* accepted without a process */
		rt_spec_free(&s);
	}
	free(json);
	return 0;
}
