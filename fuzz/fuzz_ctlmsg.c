/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer target: hm_ctl_decode on arbitrary byte streams, as the
 * dataplane's control socket reads them (several messages back to back).
 * Invariants beyond "no sanitizer report": a decoded message re-encodes to
 * exactly the bytes it came from (requests; a reply's text stops at its
 * first NUL), decode never claims more bytes than it was given, and a
 * result of 0 (need more) only comes with fewer bytes than a whole message.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hm_ctlmsg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *copy = malloc(size ? size : 1);
	size_t off = 0;

	if (!copy)
		return 0;
	memcpy(copy, data, size);
	while (off < size) {
		struct hm_ctl_msg m;
		uint8_t re[HM_CTL_MSG_MAX];
		int n = hm_ctl_decode(copy + off, size - off, &m);

		if (n <= 0) {
			if (n == 0 && size - off >= HM_CTL_MSG_MAX)
				abort();
			break;
		}
		if ((size_t)n > size - off)
			abort();
		int e = hm_ctl_encode(&m, re, sizeof(re));

		if (e < 0 || e > n)
			abort();
		if (!(m.type & HM_CTL_REPLY_BIT) && (e != n || memcmp(re, copy + off, (size_t)n)))
			abort();
		off += (size_t)n;
	}
	free(copy);
	return 0;
}
