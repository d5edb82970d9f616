/* SPDX-License-Identifier: ISC */
/* backend.c: picks a row of backend_table[] and forwards calls to it. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "daemon/backend.h"
#include "util/xmalloc.h"

struct backend {
	const struct backend_ops *ops;
	void *h; /* the backend's own handle */
};

static const struct backend_ops *
lookup(const char *name)
{
	int i;

	for (i = 0; backend_table[i] != NULL; i++)
		if (strcmp(backend_table[i]->name, name) == 0)
			return backend_table[i];
	return NULL;
}

bool
backend_exists(const char *name)
{
	return lookup(name) != NULL;
}

struct backend *
backend_open(const char *name, const struct backend_params *p, struct err *e)
{
	const struct backend_ops *ops = lookup(name);
	struct backend *b;

	if (ops == NULL) {
		err_set(e, "backend \"%s\" is not built into this program",
		        name);
		return NULL;
	}
	b = xcalloc(1, sizeof(*b));
	b->ops = ops;
	b->h = ops->open(p, e);
	if (b->h == NULL) {
		free(b);
		return NULL;
	}
	return b;
}

void
backend_close(struct backend *b)
{
	if (b == NULL)
		return;
	b->ops->close(b->h);
	free(b);
}

const char *
backend_name(const struct backend *b)
{
	return b->ops->name;
}

const char *
backend_model_name(const struct backend *b)
{
	return b->ops->model_name(b->h);
}

int
backend_run(struct backend *b, const struct backend_request *rq,
            struct backend_answer *a, struct err *e)
{
	memset(a, 0, sizeof(*a));
	return b->ops->run(b->h, rq, a, e);
}

void
backend_answer_fini(struct backend_answer *a)
{
	size_t i;

	if (a == NULL)
		return;
	for (i = 0; i < a->n_points; i++)
		free(a->points[i].label);
	free(a->points);
	free(a->raw);
	memset(a, 0, sizeof(*a));
}
