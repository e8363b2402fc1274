/* SPDX-License-Identifier: BSD-3-Clause */
#include "hm_ctlmsg.h"
#include "hm_knobs.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

static const char *const type_names[HM_CTL__TYPE_MAX] = {
    [HM_CTL_HELLO] = "HELLO",
    [HM_CTL_SYNC_BEGIN] = "SYNC_BEGIN",
    [HM_CTL_SYNC_END] = "SYNC_END",
    [HM_CTL_SERVICE_SET] = "SERVICE_SET",
    [HM_CTL_SERVICE_DEL] = "SERVICE_DEL",
    [HM_CTL_BACKEND_SET] = "BACKEND_SET",
    [HM_CTL_BACKEND_DEL] = "BACKEND_DEL",
    [HM_CTL_LINK_SET] = "LINK_SET",
    [HM_CTL_COMMIT] = "COMMIT",
    [HM_CTL_FLOWS_CLEAR] = "FLOWS_CLEAR",
    [HM_CTL_PREDICT] = "PREDICT",
    [HM_CTL_CONFIG_SET] = "CONFIG_SET",
    [HM_CTL_FLOW_SET] = "FLOW_SET",
    [HM_CTL_FLOW_DEL] = "FLOW_DEL",
    [HM_CTL_LINK_RTT] = "LINK_RTT",
    [HM_CTL_ROUTES] = "ROUTES",
};

/* Payload length of each request type. */
static const uint16_t payload_len[HM_CTL__TYPE_MAX] = {
    [HM_CTL_SERVICE_SET] = 6, [HM_CTL_SERVICE_DEL] = 4, [HM_CTL_BACKEND_SET] = 34,
    [HM_CTL_BACKEND_DEL] = 4, [HM_CTL_LINK_SET] = 5,	[HM_CTL_PREDICT] = 4,
    [HM_CTL_CONFIG_SET] = 12, [HM_CTL_FLOW_SET] = 42, [HM_CTL_FLOW_DEL] = 42,
    [HM_CTL_LINK_RTT] = 10, [HM_CTL_ROUTES] = 4,
};

const char *hm_ctl_type_name(unsigned int type)
{
	bool reply = type & HM_CTL_REPLY_BIT;

	type &= ~HM_CTL_REPLY_BIT;
	if (type == 0 || type >= HM_CTL__TYPE_MAX)
		return "?";
	return reply ? "REPLY" : type_names[type];
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)v);
	put16(p + 2, (uint16_t)(v >> 16));
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)get16(p) | (uint32_t)get16(p + 2) << 16;
}

int hm_ctl_encode(const struct hm_ctl_msg *m, uint8_t *buf, size_t len)
{
	unsigned int t = m->type & ~HM_CTL_REPLY_BIT;
	uint8_t *p = buf + HM_CTL_HDR_LEN;
	size_t pl;

	if (t == 0 || t >= HM_CTL__TYPE_MAX)
		return -EINVAL;
	if (m->type & HM_CTL_REPLY_BIT)
		pl = 4 + strnlen(m->u.reply.text, HM_CTL_TEXT_MAX);
	else
		pl = payload_len[t];
	if (len < HM_CTL_HDR_LEN + pl)
		return -ENOSPC;
	put32(buf, HM_CTL_MAGIC);
	put16(buf + 4, HM_CTL_VERSION);
	put16(buf + 6, m->type);
	put32(buf + 8, m->seq);
	put32(buf + 12, (uint32_t)pl);
	if (m->type & HM_CTL_REPLY_BIT) {
		put32(p, (uint32_t)m->u.reply.status);
		memcpy(p + 4, m->u.reply.text, pl - 4);
		return (int)(HM_CTL_HDR_LEN + pl);
	}
	switch (t) {
	case HM_CTL_SERVICE_SET:
		put32(p, m->u.service.id);
		put16(p + 4, m->u.service.port);
		break;
	case HM_CTL_SERVICE_DEL:
	case HM_CTL_PREDICT:
	case HM_CTL_ROUTES:
		put32(p, m->u.service.id);
		break;
	case HM_CTL_BACKEND_SET:
		if (m->u.backend.family != 4 && m->u.backend.family != 6)
			return -EINVAL;
		put32(p, m->u.backend.id);
		put32(p + 4, m->u.backend.service);
		put16(p + 8, m->u.backend.node);
		put32(p + 10, m->u.backend.weight);
		p[14] = m->u.backend.healthy;
		p[15] = m->u.backend.family;
		memcpy(p + 16, m->u.backend.addr, 16);
		put16(p + 32, m->u.backend.port);
		break;
	case HM_CTL_BACKEND_DEL:
		put32(p, m->u.backend.id);
		break;
	case HM_CTL_LINK_SET:
		put16(p, m->u.link.a);
		put16(p + 2, m->u.link.b);
		p[4] = m->u.link.up;
		break;
	case HM_CTL_LINK_RTT:
		put16(p, m->u.link.a);
		put16(p + 2, m->u.link.b);
		put32(p + 4, m->u.link.rtt_us);
		put16(p + 8, m->u.link.loss);
		break;
	case HM_CTL_FLOW_SET:
	case HM_CTL_FLOW_DEL:
		if (m->u.flow.family != 4 && m->u.flow.family != 6)
			return -EINVAL;
		p[0] = m->u.flow.family;
		p[1] = 0;
		put16(p + 2, m->u.flow.sport);
		put16(p + 4, m->u.flow.dport);
		memcpy(p + 6, m->u.flow.src, 16);
		memcpy(p + 22, m->u.flow.dst, 16);
		put32(p + 38, m->u.flow.backend);
		break;
	case HM_CTL_CONFIG_SET:
		if (m->u.config.knob >= HM_KNOB__COUNT)
			return -EINVAL;
		put32(p, m->u.config.knob);
		put32(p + 4, (uint32_t)m->u.config.value);
		put32(p + 8, (uint32_t)(m->u.config.value >> 32));
		break;
	default:
		break;
	}
	return (int)(HM_CTL_HDR_LEN + pl);
}

int hm_ctl_decode(const uint8_t *buf, size_t len, struct hm_ctl_msg *out)
{
	uint32_t pl;
	unsigned int type, t;
	const uint8_t *p = buf + HM_CTL_HDR_LEN;

	/* The header is checked as soon as it is whole: garbage fails fast. */
	if (len < HM_CTL_HDR_LEN)
		return len >= 4 && get32(buf) != HM_CTL_MAGIC ? -EPROTO : 0;
	if (get32(buf) != HM_CTL_MAGIC || get16(buf + 4) != HM_CTL_VERSION)
		return -EPROTO;
	pl = get32(buf + 12);
	if (pl > HM_CTL_PAYLOAD_MAX)
		return -EMSGSIZE;
	type = get16(buf + 6);
	t = type & ~HM_CTL_REPLY_BIT;
	if (t == 0 || t >= HM_CTL__TYPE_MAX)
		return -EBADMSG;
	if (type & HM_CTL_REPLY_BIT ? pl < 4 : pl != payload_len[t])
		return -EBADMSG;
	if (len < HM_CTL_HDR_LEN + pl)
		return 0;
	memset(out, 0, sizeof(*out));
	out->type = (uint16_t)type;
	out->seq = get32(buf + 8);
	if (type & HM_CTL_REPLY_BIT) {
		out->u.reply.status = (int32_t)get32(p);
		memcpy(out->u.reply.text, p + 4, pl - 4);
		out->u.reply.text[pl - 4] = '\0';
		/* Text stops at an embedded NUL: what a C reader would see anyway. */
		return (int)(HM_CTL_HDR_LEN + pl);
	}
	switch (t) {
	case HM_CTL_SERVICE_SET:
		out->u.service.id = get32(p);
		out->u.service.port = get16(p + 4);
		break;
	case HM_CTL_SERVICE_DEL:
	case HM_CTL_BACKEND_DEL:
	case HM_CTL_PREDICT:
	case HM_CTL_ROUTES:
		out->u.service.id = get32(p);
		out->u.backend.id = out->u.service.id;
		break;
	case HM_CTL_BACKEND_SET:
		out->u.backend.id = get32(p);
		out->u.backend.service = get32(p + 4);
		out->u.backend.node = get16(p + 8);
		out->u.backend.weight = get32(p + 10);
		out->u.backend.healthy = p[14];
		out->u.backend.family = p[15];
		memcpy(out->u.backend.addr, p + 16, 16);
		out->u.backend.port = get16(p + 32);
		if ((out->u.backend.family != 4 && out->u.backend.family != 6) ||
		    out->u.backend.healthy > 1)
			return -EBADMSG;
		break;
	case HM_CTL_LINK_SET:
		out->u.link.a = get16(p);
		out->u.link.b = get16(p + 2);
		out->u.link.up = p[4];
		if (out->u.link.up > 1)
			return -EBADMSG;
		break;
	case HM_CTL_LINK_RTT:
		out->u.link.a = get16(p);
		out->u.link.b = get16(p + 2);
		out->u.link.rtt_us = get32(p + 4);
		out->u.link.loss = get16(p + 8);
		if (out->u.link.rtt_us == 0 || out->u.link.loss > 10000)
			return -EBADMSG;
		break;
	case HM_CTL_FLOW_SET:
	case HM_CTL_FLOW_DEL:
		out->u.flow.family = p[0];
		out->u.flow.sport = get16(p + 2);
		out->u.flow.dport = get16(p + 4);
		memcpy(out->u.flow.src, p + 6, 16);
		memcpy(out->u.flow.dst, p + 22, 16);
		out->u.flow.backend = get32(p + 38);
		if ((out->u.flow.family != 4 && out->u.flow.family != 6) || p[1] != 0)
			return -EBADMSG;
		break;
	case HM_CTL_CONFIG_SET:
		/* Ranges are the applier's to check (and name); ids are the codec's. */
		out->u.config.knob = get32(p);
		out->u.config.value = get32(p + 4) | (uint64_t)get32(p + 8) << 32;
		if (out->u.config.knob >= HM_KNOB__COUNT)
			return -EBADMSG;
		break;
	default:
		break;
	}
	return (int)(HM_CTL_HDR_LEN + pl);
}
