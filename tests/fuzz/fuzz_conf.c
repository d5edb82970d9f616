/* SPDX-License-Identifier: ISC */
/* fuzz_conf.c: libFuzzer target for pointd.conf parsing (daemon/conf). */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/conf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct conf c;
	struct err e;
	char *text;

	/* The file reader rejects NUL bytes before parsing. */
	if (memchr(data, '\0', size) != NULL)
		return 0;
	text = malloc(size + 1);
	if (text == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	conf_defaults(&c);
	if (conf_parse(&c, "fuzz.conf", text, &e) == 0)
		(void)conf_check(&c, &e);
	conf_fini(&c);
	free(text);
	return 0;
}
