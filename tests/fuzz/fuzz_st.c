/* SPDX-License-Identifier: ISC */
/*
 * fuzz_st.c: libFuzzer target for safetensors file images (st_parse): the
 * header length, the JSON header and the offsets against the data size.
 * On success it reads every tensor's first and last byte, so an offset that
 * slipped past the checks shows up under ASan.
 */
#include "config.h"

#include <stddef.h>
#include <stdint.h>

#include "model/st.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct st_tensor *t;
	volatile uint8_t sink = 0;
	struct err e;
	struct st *s;
	size_t i;

	s = st_parse(data, size, "fuzz.safetensors", &e);
	if (s == NULL)
		return 0;
	for (i = 0; i < st_count(s); i++) {
		t = st_at(s, i);
		if (st_find(s, t->name) != t)
			__builtin_trap();
		if (t->nbytes > 0)
			sink ^= ((const uint8_t *)t->data)[0] ^
			        ((const uint8_t *)t->data)[t->nbytes - 1];
	}
	(void)sink;
	st_close(s);
	return 0;
}
