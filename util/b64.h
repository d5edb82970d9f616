/* SPDX-License-Identifier: ISC */
/*
 * b64.h: standard base64 (RFC 4648 section 4, with '=' padding), used for
 * images sent inline in JSON messages.  Decoding is strict: characters
 * outside the alphabet, bad padding or a length that is not a multiple of
 * four are errors.  No allocation; callers size the output with the
 * *_len helpers, which cannot overflow for inputs below SIZE_MAX / 2.
 */
#ifndef UTIL_B64_H
#define UTIL_B64_H

#include <stddef.h>
#include <sys/types.h>

/* Characters b64_encode writes for n bytes, not counting the NUL. */
size_t b64_encoded_len(size_t n);
/* Encode n bytes of src into dst, which must hold b64_encoded_len(n) + 1
 * bytes; dst is NUL-terminated. */
void b64_encode(char *dst, const void *src, size_t n);
/* Most bytes that len characters of base64 can decode to. */
size_t b64_decoded_max(size_t len);
/*
 * Decode len characters of src into dst of cap bytes.  Returns the number
 * of bytes written, or -1 if src is not valid base64 or does not fit.
 */
ssize_t b64_decode(void *dst, size_t cap, const char *src, size_t len);

#endif
