/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * hm_hex — bytes as lowercase hex digits and back, for keys in config files
 * (the cluster's Ed25519 keys) and names on the wire (STOQ's content
 * addressed chunks, /sha256/<hex>).
 */
#ifndef HM_HEX_H
#define HM_HEX_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* @n bytes of @in as 2 * @n lowercase digits and a NUL in @out (2 * @n + 1 bytes). */
static inline void hm_hex_encode(const uint8_t *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = '\0';
}

/* One hex digit's value, either case; -1 for anything else. */
static inline int hm_hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Exactly 2 * @n hex digits in the string @s into @n bytes at @out: 0, or -1
 * (another length or a non-digit; @out may then hold part of it). */
static inline int hm_hex_decode(const char *s, uint8_t *out, size_t n)
{
	if (strlen(s) != 2 * n)
		return -1;
	for (size_t i = 0; i < n; i++) {
		int hi = hm_hex_digit(s[2 * i]), lo = hm_hex_digit(s[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -1;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

#endif /* HM_HEX_H */
