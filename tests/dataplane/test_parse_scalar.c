/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_parse again, against the portable fast path (64-bit words instead of
 * SSE4.1), which x86 builds never take: both copies of the fast path must
 * agree with the general parser on every input test_parse tries.
 */
#define DP_PARSE_NO_SIMD 1
#include "dataplane/dp_parse.c"

_Static_assert(DP_PARSE_SIMD == 0, "test_parse_scalar must build the portable fast path");

#include "test_parse.c"
