/* SPDX-License-Identifier: BSD-3-Clause */
/* stoq_config.c — the STOQ key table (STYLE §10) and the rules between keys. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "hm_hex.h"
#include "hm_idlist.h"
#include "stoq_priv.h"

static const char *const stoq_cc_names[] = { "cubic", "bbr", "bbr2", "reno", NULL };
static const char *const stoq_aes_gcm_names[] = { "auto", "wolfcrypt", NULL };

static int parse_key16(const char *text, void *field, char *why, size_t whylen)
{
	struct stoq_key16 *k = field;

	memset(k, 0, sizeof(*k));
	if (text[0] == '\0')
		return 0;
	if (hm_hex_decode(text, k->b, STOQ_CID_KEY_LEN) < 0) {
		memset(k, 0, sizeof(*k));
		snprintf(why, whylen, "must be 32 hex digits (an AES-128 key) or empty");
		return -EINVAL;
	}
	k->set = true;
	return 0;
}

static int format_key16(const void *field, char *buf, size_t buflen)
{
	const struct stoq_key16 *k = field;

	if (buflen < 2 * STOQ_CID_KEY_LEN + 1)
		return -ENOSPC;
	buf[0] = '\0';
	/* Never print key material: say only whether one is set. */
	if (k->set)
		snprintf(buf, buflen, "(set)");
	return 0;
}

#define F(member) HM_CFG_FIELD(struct stoq_config, member)

/* One CPU more of body_read_cpus: none twice. */
static int cpu_add(void *arg, unsigned int id, char *why, size_t whylen)
{
	unsigned long long *bits = arg;

	if ((bits[id / 64] >> (id % 64)) & 1) {
		snprintf(why, whylen, "CPU %u listed twice", id);
		return -EINVAL;
	}
	bits[id / 64] |= 1ull << (id % 64);
	return 0;
}

/* "2-3,6" into a bit set; empty: none. */
static int parse_cpus(const char *text, void *field, char *why, size_t whylen)
{
	memset(field, 0, STOQ_MAX_CPUS / 8);
	return hm_idlist_parse(text, STOQ_MAX_CPUS - 1, "CPU", cpu_add, field, why, whylen);
}

static int format_cpus(const void *field, char *buf, size_t buflen)
{
	return hm_idlist_format(field, STOQ_MAX_CPUS, buf, buflen);
}

static const struct hm_cfg_key stoq_config_keys[] = {
	{ .name = "max_streams_bidi", .type = HM_CFG_U32, .def = "100", F(max_streams_bidi),
	  .min = 1, .max = 1u << 20,
	  .help = "concurrent request streams the peer may open (RFC 9000 §4.6)" },
	{ .name = "initial_max_data", .type = HM_CFG_U64, .def = "16777216", F(initial_max_data),
	  .min = 16384, .max = 1ull << 40, .help = "connection flow-control window at start, bytes" },
	{ .name = "initial_max_stream_data", .type = HM_CFG_U64, .def = "6291456",
	  F(initial_max_stream_data), .min = 4096, .max = 1ull << 40,
	  .help = "per-stream flow-control window at start, bytes" },
	{ .name = "max_window", .type = HM_CFG_U64, .def = "67108864", F(max_window), .min = 0,
	  .max = 1ull << 40,
	  .help = "ceiling of the auto-tuned connection window, bytes (0 = no auto-tuning)" },
	{ .name = "max_stream_window", .type = HM_CFG_U64, .def = "16777216",
	  F(max_stream_window), .min = 0, .max = 1ull << 40,
	  .help = "ceiling of the auto-tuned stream window, bytes (0 = no auto-tuning)" },
	{ .name = "cc", .type = HM_CFG_ENUM, .def = "cubic", F(cc), .enum_names = stoq_cc_names,
	  .help = "congestion control: cubic, bbr, bbr2, reno" },
	{ .name = "pacing", .type = HM_CFG_BOOL, .def = "true", F(pacing),
	  .help = "pace packets by the congestion controller's rate (RFC 9002 §7.7)" },
	{ .name = "aes_gcm", .type = HM_CFG_ENUM, .def = "auto", F(aes_gcm),
	  .enum_names = stoq_aes_gcm_names,
	  .help = "AES-GCM packet protection: auto (VAES/AVX-512 code where the CPU has it), "
		  "wolfcrypt; process-wide" },
	{ .name = "idle_timeout_ms", .type = HM_CFG_U32, .def = "30000", F(idle_timeout_ms),
	  .min = 0, .max = 600000, .help = "max_idle_timeout, ms (0 = none; RFC 9000 §10.1)" },
	{ .name = "max_ack_delay_ms", .type = HM_CFG_U32, .def = "25", F(max_ack_delay_ms),
	  .min = 1, .max = 16383, .help = "max_ack_delay, ms (< 2^14 per RFC 9000 §18.2)" },
	{ .name = "ack_delay_exponent", .type = HM_CFG_U32, .def = "3", F(ack_delay_exponent),
	  .min = 0, .max = 20,
	  .help = "ack_delay_exponent (<= 20 per RFC 9000 §18.2)" },
	{ .name = "handshake_timeout_ms", .type = HM_CFG_U32, .def = "10000",
	  F(handshake_timeout_ms), .min = 100, .max = 600000,
	  .help = "give up a handshake after this long, ms" },
	{ .name = "active_connection_id_limit", .type = HM_CFG_U32, .def = "8",
	  F(active_connection_id_limit), .min = 2, .max = 64,
	  .help = "CIDs the peer may issue us (>= 2 per RFC 9000 §18.2)" },
	{ .name = "server_id", .type = HM_CFG_U32, .def = "1", F(server_id), .min = 0,
	  .max = UINT32_MAX, .help = "this node's id, encoded in every CID it issues (QUIC-LB)" },
	{ .name = "server_id_len", .type = HM_CFG_U32, .def = "2", F(server_id_len), .min = 1,
	  .max = 4, .help = "octets of server id in a CID" },
	{ .name = "cid_len", .type = HM_CFG_U32, .def = "8", F(cid_len), .min = 6,
	  .max = STOQ_CID_MAX_LEN_CFG,
	  .help = "length of CIDs this node issues: 1 + server_id_len + nonce (nonce >= 4)" },
	{ .name = "cid_config_id", .type = HM_CFG_U32, .def = "0", F(cid_config_id), .min = 0,
	  .max = 6, .help = "QUIC-LB config rotation codepoint (7 means unroutable)" },
	{ .name = "cid_key", .type = HM_CFG_CUSTOM, .def = "", F(cid_key), .parse = parse_key16,
	  .format = format_key16,
	  .help = "AES-128 key (32 hex digits) to encrypt CIDs: one AES block when server_id_len + "
		  "nonce = 16 (cid_len 17), four passes otherwise" },
	{ .name = "retry", .type = HM_CFG_BOOL, .def = "false", F(retry),
	  .help = "server: validate client addresses with Retry (RFC 9000 §8.1.2)" },
	{ .name = "retry_token_lifetime_ms", .type = HM_CFG_U32, .def = "10000",
	  F(retry_token_lifetime_ms), .min = 100, .max = 600000,
	  .help = "how long a Retry token stays valid, ms" },
	{ .name = "early_data", .type = HM_CFG_BOOL, .def = "false", F(early_data),
	  .help = "server: accept 0-RTT early data from resumed clients (RFC 9001 §4.6)" },
	{ .name = "cert", .type = HM_CFG_STR, .def = "", F(cert),
	  .help = "server: PEM certificate chain" },
	{ .name = "key", .type = HM_CFG_STR, .def = "", F(key), .help = "server: PEM private key" },
	{ .name = "ca", .type = HM_CFG_STR, .def = "", F(ca),
	  .help = "client: PEM CA certificates to verify the server with (empty = system CAs)" },
	{ .name = "verify_peer", .type = HM_CFG_BOOL, .def = "true", F(verify_peer),
	  .help = "client: verify the server certificate and host name" },
	{ .name = "session_file", .type = HM_CFG_STR, .def = "", F(session_file),
	  .help = "client: file (mode 0600) that keeps the server's session ticket and "
		  "transport parameters; the next connection resumes and sends its requests in "
		  "0-RTT when the server allows early data; empty = off" },
	{ .name = "alpn", .type = HM_CFG_STR, .def = "h3", F(alpn),
	  .help = "client: ALPN protocol offered (the server only accepts h3)" },
	{ .name = "quic_version", .type = HM_CFG_U32, .def = "1", F(quic_version), .min = 0,
	  .max = UINT32_MAX, .help = "client: QUIC version of the first Initial (1 = QUIC v1)" },
	{ .name = "max_udp_payload", .type = HM_CFG_U32, .def = "1452", F(max_udp_payload),
	  .min = 1200, .max = STOQ_TRAIN_MAX,
	  .help = "largest UDP payload sent, bytes (RFC 9000 §14); above 1452 every packet "
		  "is that size, so only on paths that carry it (8952 on 9000-byte jumbo "
		  "frames, loopback)" },
	{ .name = "gso_segments", .type = HM_CFG_U32, .def = "64", F(gso_segments), .min = 1,
	  .max = 64, .help = "packets per UDP GSO send (1 = one sendmmsg entry per packet)" },
	{ .name = "busy_poll_us", .type = HM_CFG_U32, .def = "0", F(busy_poll_us), .min = 0,
	  .max = 1000000,
	  .help = "after a turn that received or sent, check the socket again without sleeping "
		  "for this long, µs, before waiting in ppoll (0 = wait at once): a core spent "
		  "polling saves the wake-ups of this process, which the sender pays on the "
		  "same host (an IPI, a VM exit in a guest)" },
	{ .name = "body_read_threads", .type = HM_CFG_U32, .def = "2", F(body_read_threads),
	  .min = 0, .max = STOQ_PAGER_MAX_THREADS,
	  .help = "server: threads that open files and read their bodies from a disk, a 2 MiB "
		  "chunk ahead, write and hash PUT bodies, and make PUTs durable (fdatasync, "
		  "rename, fsync), so a disk does not stall the event loop (0 = the loop does "
		  "all that; tmpfs bodies are never read by them)" },
	{ .name = "put_buffers", .type = HM_CFG_U32, .def = "32", F(put_buffers), .min = 1,
	  .max = 65536,
	  .help = "server: 2 MiB blocks PUT bodies are gathered in before they are written, for "
		  "all PUTs together (32 = 64 MiB); past them the event loop writes PUT bytes as "
		  "they arrive (stoq_put_writes_inline), and a slow disk then stalls it" },
	{ .name = "file_cache_bytes", .type = HM_CFG_U64, .def = "4294967296",
	  F(file_cache_bytes), .min = 0, .max = 1ull << 44,
	  .help = "server: files kept mapped between GETs, with their page tables, bytes of "
		  "mapping in all (at most 256 files; the least recently used go first; a larger "
		  "file is mapped per GET; 0 = none kept)" },
	{ .name = "file_cache_idle_ms", .type = HM_CFG_U32, .def = "10000",
	  F(file_cache_idle_ms), .min = 1, .max = 3600000,
	  .help = "server: a kept file mapping no GET has used for this long is unmapped, ms (a "
		  "file deleted meanwhile frees its space then at the latest)" },
	{ .name = "body_read_cpus", .type = HM_CFG_CUSTOM, .def = "", F(body_read_cpus),
	  .parse = parse_cpus, .format = format_cpus,
	  .help = "server: CPUs the body_read_threads run on, a list like \"2-3,6\" (empty = "
		  "those of the thread that starts the server: under taskset its CPU, in "
		  "hmesh-dataplane the main lcore's)" },
};

#undef F

const struct hm_cfg_table stoq_config_table = {
	.what = "stoq config",
	.keys = stoq_config_keys,
	.n_keys = sizeof(stoq_config_keys) / sizeof(stoq_config_keys[0]),
	.obj_size = sizeof(struct stoq_config),
};

int stoq_config_defaults(struct stoq_config *cfg)
{
	char err[256];

	return hm_cfg_defaults(&stoq_config_table, cfg, err, sizeof(err));
}

int stoq_config_check(const struct stoq_config *cfg, char *err, size_t errlen)
{
	long ncpu = sysconf(_SC_NPROCESSORS_CONF);
	bool any = false;

	for (unsigned int i = 0; i < STOQ_MAX_CPUS; i++) {
		if (!((cfg->body_read_cpus[i / 64] >> (i % 64)) & 1))
			continue;
		any = true;
		if (ncpu > 0 && i >= (unsigned long)ncpu) {
			snprintf(err, errlen,
				 "\"body_read_cpus\" names CPU %u: this machine has %ld (0-%ld)", i,
				 ncpu, ncpu - 1);
			return -EINVAL;
		}
	}
	if (any && !cfg->body_read_threads) {
		snprintf(err, errlen,
			 "\"body_read_cpus\" is set but body_read_threads is 0: no thread to place");
		return -EINVAL;
	}
	if (cfg->server_id_len < 4 && cfg->server_id >> (8 * cfg->server_id_len)) {
		snprintf(err, errlen, "\"server_id\" is %u: does not fit server_id_len %u octets",
			 cfg->server_id, cfg->server_id_len);
		return -EINVAL;
	}
	if (cfg->cid_len < 1 + cfg->server_id_len + 4) {
		snprintf(err, errlen,
			 "\"cid_len\" is %u: must leave a nonce of >= 4 octets after 1 + "
			 "server_id_len (%u)",
			 cfg->cid_len, cfg->server_id_len);
		return -EINVAL;
	}
	if (cfg->initial_max_stream_data > cfg->initial_max_data) {
		snprintf(err, errlen,
			 "\"initial_max_stream_data\" is %llu: larger than initial_max_data %llu",
			 (unsigned long long)cfg->initial_max_stream_data,
			 (unsigned long long)cfg->initial_max_data);
		return -EINVAL;
	}
	return 0;
}
