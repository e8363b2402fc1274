/* SPDX-License-Identifier: BSD-3-Clause */
/* hm_ctlmsg: round trips, byte order on the wire, partial input, refusals. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "hm_ctlmsg.h"

Test(ctlmsg, backend_round_trip_and_wire_layout)
{
	struct hm_ctl_msg m = {.type = HM_CTL_BACKEND_SET, .seq = 0x01020304}, d;
	uint8_t buf[HM_CTL_MSG_MAX];
	int n;

	m.u.backend.id = 7;
	m.u.backend.service = 3;
	m.u.backend.node = 2;
	m.u.backend.weight = 100;
	m.u.backend.healthy = 1;
	m.u.backend.family = 4;
	memcpy(m.u.backend.addr, "\x0a\x01\x00\x02", 4);
	m.u.backend.port = 5001;
	n = hm_ctl_encode(&m, buf, sizeof(buf));
	cr_assert_eq(n, HM_CTL_HDR_LEN + 34);
	/* Little-endian header: magic "HMCT", version 2, type 6, seq, len 34. */
	cr_expect_eq(memcmp(buf, "HMCT\x02\x00\x06\x00\x04\x03\x02\x01\x22\x00\x00\x00", 16), 0);
	cr_assert_eq(hm_ctl_decode(buf, (size_t)n, &d), n);
	cr_expect_eq(d.type, HM_CTL_BACKEND_SET);
	cr_expect_eq(d.seq, m.seq);
	cr_expect_eq(memcmp(&d.u.backend, &m.u.backend, sizeof(m.u.backend)), 0);
}

Test(ctlmsg, partial_input_asks_for_more)
{
	struct hm_ctl_msg m = {.type = HM_CTL_SERVICE_SET, .seq = 9}, d;
	uint8_t buf[HM_CTL_MSG_MAX];
	int n;

	m.u.service.id = 1;
	m.u.service.port = 4433;
	n = hm_ctl_encode(&m, buf, sizeof(buf));
	for (int len = 0; len < n; len++)
		cr_assert_eq(hm_ctl_decode(buf, (size_t)len, &d), 0, "len %d", len);
	cr_assert_eq(hm_ctl_decode(buf, (size_t)n, &d), n);
	cr_expect_eq(d.u.service.port, 4433);
}

Test(ctlmsg, reply_text_is_bounded_and_terminated)
{
	struct hm_ctl_msg m = {.type = HM_CTL_REPLY_BIT | HM_CTL_COMMIT, .seq = 1}, d;
	uint8_t buf[HM_CTL_MSG_MAX];
	int n;

	m.u.reply.status = -ENOENT;
	memset(m.u.reply.text, 'x', HM_CTL_TEXT_MAX);
	m.u.reply.text[HM_CTL_TEXT_MAX] = '\0';
	n = hm_ctl_encode(&m, buf, sizeof(buf));
	cr_assert_eq(n, HM_CTL_MSG_MAX);
	cr_assert_eq(hm_ctl_decode(buf, (size_t)n, &d), n);
	cr_expect_eq(d.u.reply.status, -ENOENT);
	cr_expect_eq(strlen(d.u.reply.text), HM_CTL_TEXT_MAX);
	cr_expect_str_eq(hm_ctl_type_name(d.type), "REPLY");
}

Test(ctlmsg, bad_streams_are_refused)
{
	struct hm_ctl_msg m = {.type = HM_CTL_LINK_SET, .seq = 1}, d;
	uint8_t buf[HM_CTL_MSG_MAX];
	int n;

	m.u.link.a = 1;
	m.u.link.b = 2;
	m.u.link.up = 1;
	n = hm_ctl_encode(&m, buf, sizeof(buf));
	cr_assert_gt(n, 0);
	buf[0] ^= 0xff; /* magic */
	cr_expect_eq(hm_ctl_decode(buf, (size_t)n, &d), -EPROTO);
	cr_expect_eq(hm_ctl_decode(buf, 4, &d), -EPROTO, "garbage is refused before 16 bytes");
	buf[0] ^= 0xff;
	buf[4] = 1; /* version 1: texts were shorter; refused */
	cr_expect_eq(hm_ctl_decode(buf, (size_t)n, &d), -EPROTO);
	buf[4] = HM_CTL_VERSION;
	buf[12] = 6; /* LINK_SET payload is 5 bytes */
	cr_expect_eq(hm_ctl_decode(buf, (size_t)n + 1, &d), -EBADMSG);
	buf[12] = 5;
	buf[HM_CTL_HDR_LEN + 4] = 2; /* up must be 0 or 1 */
	cr_expect_eq(hm_ctl_decode(buf, (size_t)n, &d), -EBADMSG);
	buf[HM_CTL_HDR_LEN + 4] = 1;
	buf[6] = 99; /* type */
	cr_expect_eq(hm_ctl_decode(buf, (size_t)n, &d), -EBADMSG);
	buf[6] = HM_CTL_LINK_SET;
	buf[13] = 0x10; /* len 4101 > HM_CTL_PAYLOAD_MAX */
	cr_expect_eq(hm_ctl_decode(buf, (size_t)n, &d), -EMSGSIZE);
	m.type = HM_CTL_BACKEND_SET;
	m.u.backend.family = 5;
	cr_expect_eq(hm_ctl_encode(&m, buf, sizeof(buf)), -EINVAL);
	m.type = HM_CTL_COMMIT;
	cr_expect_eq(hm_ctl_encode(&m, buf, 8), -ENOSPC);
}

Test(ctlmsg, link_rtt_round_trip_and_bounds)
{
	struct hm_ctl_msg m = {.type = HM_CTL_LINK_RTT, .seq = 9}, d;
	uint8_t buf[HM_CTL_MSG_MAX];
	int n;

	m.u.link.a = 3;
	m.u.link.b = 250;
	m.u.link.rtt_us = 40123;
	m.u.link.loss = 125; /* 1.25 % */
	n = hm_ctl_encode(&m, buf, sizeof(buf));
	cr_assert_eq(n, HM_CTL_HDR_LEN + 10);
	cr_assert_eq(hm_ctl_decode(buf, (size_t)n, &d), n);
	cr_expect_eq(d.type, HM_CTL_LINK_RTT);
	cr_expect_eq(d.u.link.a, 3);
	cr_expect_eq(d.u.link.b, 250);
	cr_expect_eq(d.u.link.rtt_us, 40123);
	cr_expect_eq(d.u.link.loss, 125);
	cr_expect_str_eq(hm_ctl_type_name(HM_CTL_LINK_RTT), "LINK_RTT");
	/* A zero RTT is no measurement; a loss over 100 % is no fraction. */
	m.u.link.rtt_us = 0;
	n = hm_ctl_encode(&m, buf, sizeof(buf));
	cr_expect_eq(hm_ctl_decode(buf, (size_t)n, &d), -EBADMSG);
	m.u.link.rtt_us = 1;
	m.u.link.loss = 10001;
	n = hm_ctl_encode(&m, buf, sizeof(buf));
	cr_expect_eq(hm_ctl_decode(buf, (size_t)n, &d), -EBADMSG);
}
