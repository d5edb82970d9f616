/* SPDX-License-Identifier: ISC */
/* fuzz_hparams.c: libFuzzer target for config.json bytes (hparams_parse). */
#include "config.h"

#include <stddef.h>
#include <stdint.h>

#include "model/hparams.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hparams hp;
	struct err e;

	if (hparams_parse(&hp, (const char *)data, size, &e) == 0) {
		/* The invariants the engine relies on. */
		if (hp.head_dim * hp.n_heads != hp.d_model ||
		    hp.n_heads % hp.n_kv_heads != 0 ||
		    hp.vit.n_heads * hp.vit.head_dim != hp.vit.d ||
		    hp.ffn_dim * 2 != hp.ff_proj_rows)
			__builtin_trap();
	}
	return 0;
}
