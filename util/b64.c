/* SPDX-License-Identifier: ISC */
/* b64.c: strict base64 encoding and decoding (RFC 4648, section 4). */
#include "config.h"

#include <stdint.h>

#include "util/b64.h"

static const char alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t
b64_encoded_len(size_t n)
{
	return (n + 2) / 3 * 4;
}

void
b64_encode(char *dst, const void *src, size_t n)
{
	const uint8_t *s = src;
	size_t i, o = 0;
	uint32_t v;

	for (i = 0; i + 2 < n; i += 3) {
		v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8 | s[i + 2];
		dst[o++] = alphabet[v >> 18 & 63];
		dst[o++] = alphabet[v >> 12 & 63];
		dst[o++] = alphabet[v >> 6 & 63];
		dst[o++] = alphabet[v & 63];
	}
	if (i < n) {
		v = (uint32_t)s[i] << 16;
		if (i + 1 < n)
			v |= (uint32_t)s[i + 1] << 8;
		dst[o++] = alphabet[v >> 18 & 63];
		dst[o++] = alphabet[v >> 12 & 63];
		dst[o++] = i + 1 < n ? alphabet[v >> 6 & 63] : '=';
		dst[o++] = '=';
	}
	dst[o] = '\0';
}

size_t
b64_decoded_max(size_t len)
{
	return len / 4 * 3;
}

/* Value of one alphabet character, or -1. */
static int
sextet(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

ssize_t
b64_decode(void *dst, size_t cap, const char *src, size_t len)
{
	uint8_t *d = dst;
	size_t i, o = 0, pad = 0;
	int k, q[4];
	uint32_t v;

	if (len % 4 != 0)
		return -1;
	for (i = 0; i < len; i += 4) {
		for (k = 0; k < 4; k++) {
			unsigned char c = (unsigned char)src[i + k];

			/* '=' only in the last two places of the last quad. */
			if (c == '=' && i + 4 == len && k >= 2 &&
			    (k == 3 || src[i + 3] == '=')) {
				q[k] = 0;
				pad++;
				continue;
			}
			q[k] = sextet(c);
			if (q[k] < 0)
				return -1;
		}
		v = (uint32_t)q[0] << 18 | (uint32_t)q[1] << 12 |
		    (uint32_t)q[2] << 6 | (uint32_t)q[3];
		if (o + 3 - (i + 4 == len ? pad : 0) > cap)
			return -1;
		d[o++] = (uint8_t)(v >> 16);
		if (i + 4 < len || pad < 2)
			d[o++] = (uint8_t)(v >> 8);
		if (i + 4 < len || pad < 1)
			d[o++] = (uint8_t)v;
	}
	return (ssize_t)o;
}
