/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * bench_aesgcm — wolfCrypt AES-128-GCM encrypt throughput on one core: the
 * ceiling for STOQ's goodput per core (every QUIC payload byte is sealed
 * once, RFC 9001 §5.3). Two figures:
 *   packet: 1452-byte QUIC packets, AEAD over ~1410 bytes + AES-ECB header
 *           protection sample per packet (RFC 9001 §5.4), as STOQ does;
 *   bulk:   16 KiB records (TLS-over-TCP's shape), the reference.
 * Then the same two with STOQ's own AES-GCM on VAES/VPCLMULQDQ
 * (stoq/stoq_gcm.c, header protection through the same key schedule),
 * which the packet callbacks use where the CPU has those instructions,
 * and its ratio to wolfCrypt's: the ceiling STOQ's packets have here.
 * Prints Gbit/s and JSON lines. Usage: bench_aesgcm [seconds per figure]
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "stoq_priv.h"

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Bytes of plaintext sealed per second over @secs; with @sg, by stoq_gcm. */
static double run(Aes *gcm, const struct stoq_gcm_key *sg, const struct stoq_gcm_key *sghp,
		  Aes *hp, size_t len, bool header_protect, double secs)
{
	static uint8_t in[16384], out[16384 + 16];
	uint8_t iv[12] = { 0 }, tag[16], aad[24] = { 0x40 }, mask[16];
	uint8_t sample[16] __attribute__((aligned(16)));
	uint64_t bytes = 0, pn = 0;
	double t0 = now_s(), t;

	memset(in, 0x5a, sizeof(in));
	do {
		for (int i = 0; i < 256; i++, pn++) {
			memcpy(iv + 4, &pn, sizeof(pn)); /* nonce = IV xor packet number */
			if (sg)
				stoq_gcm_seal(sg, out, in, len, iv, aad, sizeof(aad), tag);
			else if (wc_AesGcmEncrypt(gcm, out, in, (word32)len, iv, sizeof(iv), tag,
						  sizeof(tag), aad, sizeof(aad)) != 0) {
				fprintf(stderr, "bench_aesgcm: wc_AesGcmEncrypt failed\n");
				exit(1);
			}
			/* Copied to an aligned block first, as STOQ does
			 * (stoq_aead.c): wolfCrypt's AES-NI block encrypt takes an
			 * unaligned input through malloc and free. */
			if (header_protect && sg) {
				stoq_gcm_block(sghp, mask, out + 4);
			} else if (header_protect) {
				memcpy(sample, out + 4, sizeof(sample));
				wc_AesEncryptDirect(hp, mask, sample);
			}
			bytes += len;
		}
		t = now_s() - t0;
	} while (t < secs);
	return (double)bytes / t;
}

/* One JSON line for perf/ (hmesh-bench-check): @value against @ref. */
static void json(const char *metric, double value, double ref)
{
	printf("{\"bench\":\"aesgcm\",\"metric\":\"%s\",\"value\":%.3f,\"ref\":%.3f,"
	       "\"ratio\":%.3f}\n",
	       metric, value, ref, value / ref);
}

int main(int argc, char **argv)
{
	static const uint8_t key[16] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 };
	double secs = argc > 1 ? atof(argv[1]) : 1.0;
	Aes gcm, hp;
	double pkt, bulk;

	if (secs <= 0)
		secs = 1.0;
	if (wc_AesInit(&gcm, NULL, INVALID_DEVID) || wc_AesGcmSetKey(&gcm, key, sizeof(key)) ||
	    wc_AesInit(&hp, NULL, INVALID_DEVID) ||
	    wc_AesSetKey(&hp, key, sizeof(key), NULL, AES_ENCRYPTION)) {
		fprintf(stderr, "bench_aesgcm: key setup failed\n");
		return 1;
	}
	pkt = run(&gcm, NULL, NULL, &hp, 1410, true, secs) * 8 / 1e9;
	bulk = run(&gcm, NULL, NULL, &hp, 16384, false, secs) * 8 / 1e9;
	printf("wolfCrypt AES-128-GCM, one core: %.2f Gbit/s in 1452-byte QUIC packets "
	       "(with header protection), %.2f Gbit/s in 16 KiB records (ratio %.2f)\n",
	       pkt, bulk, pkt / bulk);
	json("gbps_quic_packets", pkt, bulk);
	if (stoq_gcm_supported()) {
		struct stoq_gcm_key sg;
		double spkt, sbulk;

		if (stoq_gcm_init(&sg, key, sizeof(key)) != 0) {
			fprintf(stderr, "bench_aesgcm: stoq_gcm_init failed\n");
			return 1;
		}
		spkt = run(NULL, &sg, &sg, &hp, 1410, true, secs) * 8 / 1e9;
		sbulk = run(NULL, &sg, &sg, &hp, 16384, false, secs) * 8 / 1e9;
		printf("stoq_gcm (VAES) AES-128-GCM, one core: %.2f Gbit/s in 1452-byte QUIC packets, "
		       "%.2f in 16 KiB records (%.2fx and %.2fx wolfCrypt; %u-bit registers)\n",
		       spkt, sbulk, spkt / pkt, sbulk / bulk, stoq_gcm_width());
		json("stoq_gcm_gbps_quic_packets", spkt, pkt);
		json("stoq_gcm_gbps_16k_records", sbulk, bulk);
		/* On an AVX-512 CPU, also what one without it (VAES on AVX2:
		 * AMD Zen 3, Intel's client cores) runs. */
		if (stoq_gcm_width() == 512 && stoq_gcm_use_width(256) == 0) {
			spkt = run(NULL, &sg, &sg, &hp, 1410, true, secs) * 8 / 1e9;
			sbulk = run(NULL, &sg, &sg, &hp, 16384, false, secs) * 8 / 1e9;
			stoq_gcm_use_width(0);
			printf("stoq_gcm in 256-bit registers (as without AVX-512): %.2f Gbit/s in "
			       "packets, %.2f in records (%.2fx and %.2fx wolfCrypt)\n",
			       spkt, sbulk, spkt / pkt, sbulk / bulk);
		}
	} else {
		printf("stoq_gcm: this CPU has no VAES/VPCLMULQDQ; STOQ uses wolfCrypt's\n");
	}
	wc_AesFree(&gcm);
	wc_AesFree(&hp);
	return 0;
}
