/* SPDX-License-Identifier: ISC */
/* backend_list.c: the backends pointd is built with (see backend.h). */
#include "config.h"

#include <stddef.h>

#include "daemon/backend.h"

const struct backend_ops *const backend_table[] = {
    &backend_molmo,
    &backend_text,
    &backend_auto,
    NULL,
};
