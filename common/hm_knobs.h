/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * hm_knobs — the dataplane settings that can change while it runs, shared
 * by hmesh-controld (PUT /v1/config validates against it, the desired
 * state keeps them) and hmesh-dataplane (CONFIG_SET over the control
 * socket checks and applies them on the main lcore). One list, so both
 * sides agree on names, ids and ranges.
 *
 * X(ENUM, name, min, max, help): the name is the dataplane's config key.
 */
#ifndef HM_KNOBS_H
#define HM_KNOBS_H

#include <stdint.h>
#include <string.h>

#define HM_KNOBS(X)                                                                                \
	X(MFN_RATE_LIMIT, mfn_rate_limit, 1, 10000000,                                             \
	  "new flows per second per source that L2's rate-limit action lets through")              \
	X(MFN_IDLE_TIMEOUT_MS, mfn_idle_timeout_ms, 10, 86400000,                                  \
	  "L1 flows idle this long are removed")                                                   \
	X(STATS_INTERVAL, stats_interval, 0, 3600,                                                 \
	  "seconds between counter lines on the dataplane's stdout (0 = only at exit)")

enum hm_knob {
#define HM_X(e, n, lo, hi, h) HM_KNOB_##e,
	HM_KNOBS(HM_X)
#undef HM_X
	    HM_KNOB__COUNT
};

struct hm_knob_def {
	const char *name;
	uint64_t min, max;
	const char *help;
};

static const struct hm_knob_def hm_knob_defs[HM_KNOB__COUNT] = {
#define HM_X(e, n, lo, hi, h) [HM_KNOB_##e] = {#n, lo, hi, h},
    HM_KNOBS(HM_X)
#undef HM_X
};

/* The knob called @name, or -1. */
static inline int hm_knob_by_name(const char *name)
{
	for (int i = 0; i < HM_KNOB__COUNT; i++)
		if (strcmp(hm_knob_defs[i].name, name) == 0)
			return i;
	return -1;
}

#endif /* HM_KNOBS_H */
