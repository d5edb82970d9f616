/* SPDX-License-Identifier: ISC */
/*
 * gen.c: picking the next token from logits (spec molmo-v1.md §8.1).
 *
 * Greedy decoding is the reference (GenerationConfig do_sample=False): the
 * largest logit, the first one on ties as torch.argmax.  Sampling is
 * optional: softmax of logits / temperature, restricted to the smallest set
 * of most likely tokens whose probability reaches top_p, drawn with a
 * seeded splitmix64 generator so a run is reproducible.
 */
#include "config.h"

#include <math.h>
#include <stdlib.h>

#include "model/model_impl.h"

int
gen_argmax(const float *logits, int n)
{
	int i, best = 0;

	for (i = 1; i < n; i++)
		if (logits[i] > logits[best])
			best = i;
	return best;
}

void
gen_seed(struct model_session *s, uint64_t seed)
{
	s->rng = seed;
}

/* splitmix64 (Steele, Lea, Flood 2014) */
static uint64_t
next_u64(uint64_t *st)
{
	uint64_t z = (*st += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* uniform in [0, 1) with 53 random bits */
static double
next_unit(uint64_t *st)
{
	return (double)(next_u64(st) >> 11) * (1.0 / 9007199254740992.0);
}

static int
cmp_cand(const void *a, const void *b)
{
	const struct gen_cand *x = a, *y = b;

	if (x->p != y->p)
		return x->p > y->p ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id;
}

int
gen_sample(struct model_session *s, const float *logits, int n,
           float temperature, float top_p)
{
	struct gen_cand *c = s->cand;
	double sum = 0, acc, cut, u;
	float mx;
	int i, k;

	if (!(temperature > 0.0f))
		return gen_argmax(logits, n);
	mx = logits[gen_argmax(logits, n)];
	for (i = 0; i < n; i++) {
		c[i].p = expf((logits[i] - mx) / temperature);
		c[i].id = i;
		sum += c[i].p;
	}
	/* Nucleus: the most likely tokens whose mass reaches top_p · sum,
	 * found by sorting (O(n log n)); top_p >= 1 keeps all in id order. */
	cut = sum;
	if (top_p > 0.0f && top_p < 1.0f) {
		qsort(c, (size_t)n, sizeof(*c), cmp_cand);
		cut = top_p * sum;
	}
	acc = 0;
	for (k = 0; k < n; k++) {
		acc += c[k].p;
		if (acc >= cut)
			break;
	}
	if (k == n)
		k = n - 1;
	/* draw u in [0, mass of the kept tokens) */
	u = next_unit(&s->rng) * acc;
	acc = 0;
	for (i = 0; i <= k; i++) {
		acc += c[i].p;
		if (u < acc)
			return c[i].id;
	}
	return c[k].id;
}
