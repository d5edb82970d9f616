/* SPDX-License-Identifier: ISC */
/*
 * fuzz_tok.c: libFuzzer target for tokenizer loading: the input is the
 * bytes of a tokenizer.json.  When it loads, a fixed text is encoded and
 * the ids decoded again, so the tables built from the input get used.
 * Loading must fail with a message or succeed, never crash or leak.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>

#include "model/tok.h"
#include "util/buf.h"
#include "util/err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char text[] = "Hello <|endoftext|> world's  42 caf\xc3\xa9"
	                           " e\xcc\x81 \xe6\x97\xa5\xe6\x9c\xac\n\t!";
	struct err e;
	struct tok *t;
	int32_t *ids = NULL;
	ssize_t n;

	t = tok_open_json(data, size, &e);
	if (t == NULL)
		return 0;
	n = tok_encode_alloc(t, text, sizeof(text) - 1, &ids, &e);
	if (n >= 0) {
		struct buf out;

		buf_init(&out, 1 << 20);
		(void)tok_decode(t, ids, (size_t)n, 0, &out, &e);
		buf_fini(&out);
		buf_init(&out, 1 << 20);
		(void)tok_decode(t, ids, (size_t)n, TOK_SKIP_SPECIAL, &out, &e);
		buf_fini(&out);
	}
	free(ids);
	tok_close(t);
	return 0;
}
