/* SPDX-License-Identifier: BSD-3-Clause */
/* hm_idlist.c — "1,3-5" lists of ids (hm_idlist.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "hm_idlist.h"

int hm_idlist_parse(const char *text, unsigned long max_id, const char *what,
		    int (*add)(void *arg, unsigned int id, char *why, size_t whylen), void *arg,
		    char *why, size_t whylen)
{
	const char *p = text;

	while (*p) {
		char *end;
		unsigned long a, b;
		int rc;

		/* strtoul takes a sign and leading blanks: a list has neither. */
		if (*p < '0' || *p > '9')
			goto bad;
		a = strtoul(p, &end, 10);
		b = a;
		if (*end == '-') {
			p = end + 1;
			if (*p < '0' || *p > '9')
				goto bad;
			b = strtoul(p, &end, 10);
			if (b < a)
				goto bad;
		}
		if (b > max_id) {
			snprintf(why, whylen, "%s id %lu above %lu", what, b, max_id);
			return -EINVAL;
		}
		for (unsigned long i = a; i <= b; i++)
			if ((rc = add(arg, (unsigned int)i, why, whylen)) < 0)
				return rc;
		if (*end == ',' && end[1])
			end++;
		else if (*end != '\0')
			goto bad;
		p = end;
	}
	return 0;
bad:
	snprintf(why, whylen, "expected a list like \"1,3-5\"");
	return -EINVAL;
}

static int isset(const unsigned long long *bits, unsigned int i)
{
	return (int)((bits[i / 64] >> (i % 64)) & 1);
}

int hm_idlist_format(const unsigned long long *bits, unsigned int nbits, char *buf, size_t buflen)
{
	size_t n = 0;

	if (!buflen)
		return -ENOSPC;
	buf[0] = '\0';
	for (unsigned int i = 0; i < nbits; i++) {
		unsigned int j = i;
		int m;

		if (!isset(bits, i))
			continue;
		while (j + 1 < nbits && isset(bits, j + 1))
			j++;
		if (j == i)
			m = snprintf(buf + n, buflen - n, "%s%u", n ? "," : "", i);
		else
			m = snprintf(buf + n, buflen - n, "%s%u-%u", n ? "," : "", i, j);
		if (m < 0 || (size_t)m >= buflen - n)
			return -ENOSPC;
		n += (size_t)m;
		i = j;
	}
	return 0;
}
