/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * hm_ctlmsg — the dataplane control channel's messages (hmesh-controld →
 * hmesh-dataplane over a Unix stream socket, config key ctl_socket).
 *
 * Every message is a 16-byte header then a payload, all little-endian:
 *
 *   u32 magic    HM_CTL_MAGIC ("HMCT")
 *   u16 version  HM_CTL_VERSION; a peer refuses another version (-EPROTO)
 *   u16 type     enum hm_ctl_type; a reply has HM_CTL_REPLY_BIT set
 *   u32 seq      chosen by the sender of a request, echoed in its reply
 *   u32 len      payload bytes, at most HM_CTL_PAYLOAD_MAX
 *
 * Payloads (fixed layouts; a request whose len differs from its type's is
 * refused with -EBADMSG):
 *
 *   HELLO          none              reply text: "hmesh-dataplane pid N mfn on|off"
 *   SYNC_BEGIN     none              a full state follows
 *   SYNC_END       none              remove every service and backend not set
 *                                    since SYNC_BEGIN (then COMMIT)
 *   SERVICE_SET    u32 service, u16 udp_port
 *   SERVICE_DEL    u32 service       and its backends
 *   BACKEND_SET    u32 id, u32 service, u16 node, u32 weight, u8 healthy,
 *                  u8 family (4 or 6), u8 addr[16], u16 port
 *   BACKEND_DEL    u32 id            its flows are decided again after COMMIT
 *   LINK_SET       u16 node_a, u16 node_b, u8 up
 *   ROUTES         u32 service       reply text: where L3 sends the service's new
 *                                    flows: {"service", "local_node", "samples",
 *                                    "nodes": [{"node", "share", "path_cost_us"}],
 *                                    "unreachable"}; -ENOENT when L3 has no such service
 *   LINK_RTT       u16 node_a, u16 node_b, u32 rtt_us, u16 loss (1/10000)
 *                                    a measurement of the link (L3 ALM learns
 *                                    its cost from these); brings it up
 *   COMMIT         none              publish the staged changes (RCU)
 *   FLOWS_CLEAR    none              forget every L1 flow (all decided again)
 *   PREDICT        u32 service       reply text: the L4 CPE forecast as JSON
 *   CONFIG_SET     u32 knob, u64 value   a runtime setting (hm_knobs.h), applied now
 *   FLOW_SET       u8 family, u8 0, u16 sport, u16 dport, 16 src, 16 dst, u32 backend
 *                                    pin one UDP flow (5-tuple) to a backend in L1
 *   FLOW_DEL       the same (backend ignored): forget the flow; its next packet is
 *                                    decided again
 *                                    {"service", "interval_ms", "model",
 *                                    "flows_per_s": [..], "packets_per_s": [..],
 *                                    "bytes_per_s": [..]} (next intervals);
 *                                    -ENOENT before the service saw traffic
 *
 *   reply          i32 status (0 or a negative errno), then up to
 *                  HM_CTL_TEXT_MAX bytes of text (the reason, or HELLO's info)
 *
 * Requests are answered in order, one reply each. Changes are staged until
 * COMMIT, so a batch becomes visible to the workers at once.
 */
#ifndef HM_CTLMSG_H
#define HM_CTLMSG_H

#include <stddef.h>
#include <stdint.h>

#define HM_CTL_MAGIC	   0x54434d48u /* "HMCT" little-endian */
/* 2: text up to 1024 bytes (a busy service's PREDICT reply did not fit 200) */
#define HM_CTL_VERSION	   2
#define HM_CTL_HDR_LEN	   16
#define HM_CTL_TEXT_MAX	   1024
#define HM_CTL_PAYLOAD_MAX (4 + HM_CTL_TEXT_MAX)
#define HM_CTL_MSG_MAX	   (HM_CTL_HDR_LEN + HM_CTL_PAYLOAD_MAX)
#define HM_CTL_REPLY_BIT   0x8000

enum hm_ctl_type {
	HM_CTL_HELLO = 1,
	HM_CTL_SYNC_BEGIN = 2,
	HM_CTL_SYNC_END = 3,
	HM_CTL_SERVICE_SET = 4,
	HM_CTL_SERVICE_DEL = 5,
	HM_CTL_BACKEND_SET = 6,
	HM_CTL_BACKEND_DEL = 7,
	HM_CTL_LINK_SET = 8,
	HM_CTL_COMMIT = 9,
	HM_CTL_FLOWS_CLEAR = 10,
	HM_CTL_PREDICT = 11,
	HM_CTL_CONFIG_SET = 12,
	HM_CTL_FLOW_SET = 13,
	HM_CTL_FLOW_DEL = 14,
	HM_CTL_LINK_RTT = 15,
	HM_CTL_ROUTES = 16,
	HM_CTL__TYPE_MAX
};

struct hm_ctl_msg {
	uint16_t type; /* enum hm_ctl_type, | HM_CTL_REPLY_BIT for replies */
	uint32_t seq;
	union {
		struct {
			uint32_t id;
			uint16_t port;
		} service;
		struct {
			uint32_t id, service, weight;
			uint16_t node, port;
			uint8_t healthy, family; /* family 4 or 6 */
			uint8_t addr[16];	 /* IPv4: first 4 bytes */
		} backend;
		struct {
			uint16_t a, b;
			uint8_t up;	  /* LINK_SET */
			uint32_t rtt_us;  /* LINK_RTT: > 0 */
			uint16_t loss;	  /* LINK_RTT: lost fraction x 10000, <= 10000 */
		} link;
		struct {
			uint32_t knob; /* enum hm_knob (hm_knobs.h) */
			uint64_t value;
		} config;
		struct {
			uint8_t family;		/* 4 or 6 */
			uint16_t sport, dport;	/* host order */
			uint8_t src[16], dst[16]; /* IPv4: first 4 bytes */
			uint32_t backend;	/* FLOW_SET: the backend id the flow is pinned to */
		} flow;
		struct {
			int32_t status;
			char text[HM_CTL_TEXT_MAX + 1]; /* NUL-terminated */
		} reply;
	} u;
};

/* Name of a request type ("SERVICE_SET"), "?" when unknown. */
const char *hm_ctl_type_name(unsigned int type);

/*
 * Encode @m into @buf. Returns the bytes written, or -EINVAL (unknown type,
 * family not 4/6) or -ENOSPC (@len too small; HM_CTL_MSG_MAX always fits).
 */
int hm_ctl_encode(const struct hm_ctl_msg *m, uint8_t *buf, size_t len);

/*
 * Decode one message from the start of @buf (@len bytes received so far).
 * Returns the bytes it took (> 0) with *@out filled, 0 when more bytes are
 * needed, or a negative errno for a stream that cannot go on: -EPROTO (bad
 * magic or version), -EMSGSIZE (len over HM_CTL_PAYLOAD_MAX), -EBADMSG
 * (unknown type, payload length or field values wrong for the type).
 */
int hm_ctl_decode(const uint8_t *buf, size_t len, struct hm_ctl_msg *out);

#endif /* HM_CTLMSG_H */
