/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer target: the dataplane config file parser (hm_config over the
 * dataplane's key table). Invariants: no crash or sanitizer report; a
 * failed load leaves the object byte-for-byte unchanged; a successful load
 * passes every key's own bounds again when re-printed and re-loaded.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dp_config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dp_config cfg, before, again;
	char err[512];
	char *text;

	if (size > 1 << 16)
		return 0;
	if (dp_config_defaults(&cfg, err, sizeof(err)))
		abort();
	text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	memcpy(&before, &cfg, sizeof(cfg));
	if (hm_cfg_load_string(&dp_config_table, &cfg, text, "fuzz", err, sizeof(err)) != 0) {
		if (memcmp(&before, &cfg, sizeof(cfg)) != 0)
			abort(); /* a rejected file changed state */
		if (err[0] == '\0')
			abort(); /* every rejection must say why */
	} else {
		/* Round trip: what we print must load back to the same values. */
		char *printed = NULL;
		size_t plen = 0;
		FILE *f = open_memstream(&printed, &plen);

		if (!f)
			abort();
		hm_cfg_print(&dp_config_table, &cfg, f);
		fclose(f);
		if (dp_config_defaults(&again, err, sizeof(err)))
			abort();
		if (hm_cfg_load_string(&dp_config_table, &again, printed, "printed", err,
				       sizeof(err)) != 0)
			abort();
		free(printed);
		(void)dp_config_check(&cfg, err, sizeof(err));
	}
	free(text);
	return 0;
}
