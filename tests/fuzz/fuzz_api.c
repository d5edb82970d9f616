/* SPDX-License-Identifier: ISC */
/* fuzz_api.c: libFuzzer target for protocol/api's message decoders. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>

#include "protocol/api.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct api_limits lim = {4096, 1 << 20};
	struct api_request r;
	enum api_error code;
	struct err e;
	size_t len;
	char *p;

	if (api_decode(&r, data, size, &lim, &code, &e) == 0) {
		/* What decodes must encode again. */
		p = api_encode_request(16, &r, &len);
		if (p == NULL)
			abort();
		free(p);
	} else if (code == API_ERR_NONE) {
		abort(); /* a failure always names its error */
	}
	api_request_fini(&r);
	if (api_decode_oneshot(&r, data, size, &lim, &code, &e) == -1 &&
	    code == API_ERR_NONE)
		abort();
	api_request_fini(&r);
	return 0;
}
