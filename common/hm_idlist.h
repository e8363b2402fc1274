/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * hm_idlist — lists of small ids as operators write them, "1,3-5": the
 * dataplane's lcore lists and STOQ's pager CPUs.
 */
#ifndef HM_IDLIST_H
#define HM_IDLIST_H

#include <stddef.h>

/*
 * Each id of @text, in the order written, to @add, which may refuse one
 * (-EINVAL with a reason in @why, e.g. listed twice). Returns 0, or
 * -EINVAL with a reason in @why: malformed text, or an id above @max_id
 * ("@what id N above MAX"). Empty text is an empty list.
 */
int hm_idlist_parse(const char *text, unsigned long max_id, const char *what,
		    int (*add)(void *arg, unsigned int id, char *why, size_t whylen), void *arg,
		    char *why, size_t whylen);

/*
 * The ids set in @bits (@nbits of them, bit i of bits[i / 64]) as a list
 * hm_idlist_parse() reads back, runs written "a-b": "0-3,6". Returns 0, or
 * -ENOSPC when @buf is too small.
 */
int hm_idlist_format(const unsigned long long *bits, unsigned int nbits, char *buf, size_t buflen);

#endif
