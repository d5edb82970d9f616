/* SPDX-License-Identifier: ISC */
/*
 * tok_enc.c: encoding text to ids and decoding ids to text with a loaded
 * tokenizer (model/tok.c builds the tables; see tok_impl.h).
 *
 * Encoding is the pipeline of the Hugging Face tokenizers library:
 *   1. added tokens that are not normalized are cut out of the raw text
 *      (leftmost match, longest first);
 *   2. each remaining part is normalized (NFC when configured) and the
 *      normalized added tokens are cut out of it;
 *   3. the rest goes through the pre-tokenizer stages, each splitting every
 *      piece with its regex (PCRE2);
 *   4. each final piece is BPE-merged: its bytes start as byte-level
 *      symbols, and the adjacent pair with the lowest merge rank (leftmost
 *      on ties) is merged until no pair has a rule.
 * A slow Qwen2Tokenizer directory applies NFC to the whole text before
 * step 1, as transformers does.
 *
 * Threads: nothing here writes to struct tok.  Each call owns its scratch
 * (struct enc): the id vector, PCRE2 match data and BPE arrays.
 */
#include "config.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "model/tok.h"
#include "model/tok_impl.h"
#include "util/xmalloc.h"

/* Pieces up to this many symbols use the quadratic merge loop, which is
 * faster for words; longer ones use a heap (O(n log n)). */
#define BPE_SMALL 256

/* Largest JIT stack a match may grow to, bytes. */
#define JIT_STACK_MAX (8u << 20)

/* Per-call scratch of tok_encode. */
struct enc {
	const struct tok *t;
	int32_t *ids; /* output */
	size_t n, cap;
	pcre2_match_data *md[TOK_MAX_STAGES];
	pcre2_match_context *mctx; /* with a big JIT stack, made on demand */
	pcre2_jit_stack *jit;
	int32_t *sym; /* BPE symbols */
	int32_t *rank;
	int32_t *prev, *next;
	uint64_t *heap;
	size_t sym_cap, heap_cap;
	struct err *e;
};

static void
push(struct enc *x, int32_t id)
{
	if (x->n == x->cap) {
		x->cap = x->cap ? 2 * x->cap : 256;
		x->ids = xreallocarray(x->ids, x->cap, sizeof(*x->ids));
	}
	x->ids[x->n++] = id;
}

/* ---- BPE ---- */

/* Rank and merged id of the pair (a, b); rank -1 when there is no rule. */
static int32_t
merge_rank(const struct tok *t, int32_t a, int32_t b, int32_t *id)
{
	uint64_t key = (uint64_t)(uint32_t)a << 32 | (uint32_t)b;
	uint64_t h = key;
	size_t i;

	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	i = h & t->merge_mask;
	for (;;) {
		uint64_t k = t->merges[i].key;

		if (k == key) {
			*id = t->merges[i].id;
			return t->merges[i].rank;
		}
		if (k == UINT64_MAX)
			return -1;
		i = (i + 1) & t->merge_mask;
	}
}

static void
sym_reserve(struct enc *x, size_t n)
{
	if (n <= x->sym_cap)
		return;
	x->sym_cap = n;
	x->sym = xreallocarray(x->sym, n, sizeof(*x->sym));
	x->rank = xreallocarray(x->rank, n, sizeof(*x->rank));
	x->prev = xreallocarray(x->prev, n, sizeof(*x->prev));
	x->next = xreallocarray(x->next, n, sizeof(*x->next));
}

/* Merge n symbols in place with the quadratic loop; returns the new count.
 * rank[i] caches the rank of the pair (i, i + 1). */
static size_t
bpe_small(const struct tok *t, int32_t *sym, int32_t *rank, size_t n)
{
	int32_t merged[BPE_SMALL];
	size_t i;

	for (i = 0; i + 1 < n; i++)
		rank[i] = merge_rank(t, sym[i], sym[i + 1], &merged[i]);
	while (n > 1) {
		int32_t best_rank = INT32_MAX;
		size_t best = 0;

		for (i = 0; i + 1 < n; i++) {
			if (rank[i] >= 0 && rank[i] < best_rank) {
				best_rank = rank[i];
				best = i;
			}
		}
		if (best_rank == INT32_MAX)
			break;
		sym[best] = merged[best];
		memmove(sym + best + 1, sym + best + 2,
		        (n - best - 2) * sizeof(*sym));
		memmove(rank + best + 1, rank + best + 2,
		        (n - best - 2) * sizeof(*rank));
		memmove(merged + best + 1, merged + best + 2,
		        (n - best - 2) * sizeof(*merged));
		n--;
		if (best > 0)
			rank[best - 1] = merge_rank(t, sym[best - 1], sym[best],
			                            &merged[best - 1]);
		if (best + 1 < n)
			rank[best] = merge_rank(t, sym[best], sym[best + 1],
			                        &merged[best]);
	}
	return n;
}

static void
heap_push(struct enc *x, size_t *hn, uint64_t v)
{
	size_t i = (*hn)++;

	while (i > 0) {
		size_t p = (i - 1) / 2;

		if (x->heap[p] <= v)
			break;
		x->heap[i] = x->heap[p];
		i = p;
	}
	x->heap[i] = v;
}

static uint64_t
heap_pop(struct enc *x, size_t *hn)
{
	uint64_t top = x->heap[0], v = x->heap[--(*hn)];
	size_t i = 0, n = *hn;

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= n)
			break;
		if (c + 1 < n && x->heap[c + 1] < x->heap[c])
			c++;
		if (v <= x->heap[c])
			break;
		x->heap[i] = x->heap[c];
		i = c;
	}
	x->heap[i] = v;
	return top;
}

/*
 * Merge n symbols with a heap of (rank, position): the same order as the
 * quadratic loop (lowest rank, then leftmost), in O(n log n).  Symbols form
 * a linked list; a merged-away symbol gets id -1, and stale heap entries
 * are skipped by re-checking the pair's rank.  Pushes the result.
 */
static void
bpe_large(struct enc *x, size_t n)
{
	const struct tok *t = x->t;
	int32_t *sym = x->sym, *prev = x->prev, *next = x->next, id;
	size_t i, hn = 0;
	int32_t r;

	if (x->heap_cap < 3 * n) {
		x->heap_cap = 3 * n;
		x->heap = xreallocarray(x->heap, x->heap_cap, sizeof(*x->heap));
	}
	for (i = 0; i < n; i++) {
		prev[i] = (int32_t)i - 1;
		next[i] = i + 1 < n ? (int32_t)i + 1 : -1;
	}
	for (i = 0; i + 1 < n; i++) {
		r = merge_rank(t, sym[i], sym[i + 1], &id);
		if (r >= 0)
			heap_push(x, &hn, (uint64_t)r << 32 | i);
	}
	while (hn > 0) {
		uint64_t top = heap_pop(x, &hn);
		int32_t pos = (int32_t)(top & 0xffffffffu);
		int32_t nx, p;

		if (sym[pos] < 0 || (nx = next[pos]) < 0)
			continue;
		r = merge_rank(t, sym[pos], sym[nx], &id);
		if (r < 0 || (uint64_t)r != top >> 32)
			continue;
		sym[pos] = id;
		sym[nx] = -1;
		next[pos] = next[nx];
		if (next[nx] >= 0)
			prev[next[nx]] = pos;
		p = prev[pos];
		if (p >= 0) {
			r = merge_rank(t, sym[p], sym[pos], &id);
			if (r >= 0)
				heap_push(x, &hn,
				          (uint64_t)r << 32 | (uint32_t)p);
		}
		if (next[pos] >= 0) {
			r = merge_rank(t, sym[pos], sym[next[pos]], &id);
			if (r >= 0)
				heap_push(x, &hn,
				          (uint64_t)r << 32 | (uint32_t)pos);
		}
	}
	for (id = 0; id >= 0; id = next[id])
		push(x, sym[id]);
}

/* BPE one pre-tokenized piece of len bytes and push its ids. */
static void
bpe(struct enc *x, const char *s, size_t len)
{
	const struct tok *t = x->t;
	const unsigned char *p = (const unsigned char *)s;
	size_t i, n = 0;

	if (len == 1 && t->byte_id[p[0]] >= 0) {
		push(x, t->byte_id[p[0]]);
		return;
	}
	if (t->ignore_merges) {
		/* The piece as one token, if the vocabulary has it. */
		char *bl = xmalloc(2 * len + 1);
		size_t m = 0;
		int32_t id;

		for (i = 0; i < len; i++)
			m += tok_nfc_utf8_put(t->byte_cp[p[i]], bl + m);
		id = tok_lookup(t, bl, m);
		free(bl);
		if (id >= 0) {
			push(x, id);
			return;
		}
	}
	sym_reserve(x, len);
	for (i = 0; i < len; i++) {
		int32_t id = t->byte_id[p[i]];

		if (id < 0) {
			/* A byte without a symbol: unk, or dropped. */
			if (t->unk_id < 0)
				continue;
			if (t->fuse_unk && n > 0 && x->sym[n - 1] == t->unk_id)
				continue;
			id = t->unk_id;
		}
		x->sym[n++] = id;
	}
	if (n == 0)
		return;
	if (n <= BPE_SMALL) {
		n = bpe_small(t, x->sym, x->rank, n);
		for (i = 0; i < n; i++)
			push(x, x->sym[i]);
		return;
	}
	bpe_large(x, n);
}

/* ---- Pre-tokenizer ---- */

static int pretok(struct enc *x, int k, const char *s, size_t len);

/* Match stage k's regex at pos; on a JIT stack overflow retry once with a
 * large JIT stack.  Returns pcre2_match's result. */
static int
match(struct enc *x, int k, const char *s, size_t len, size_t pos)
{
	const struct tok_stage *st = &x->t->stages[k];
	int rc;

	rc = pcre2_match(st->re, (PCRE2_SPTR)s, len, pos, PCRE2_NO_UTF_CHECK,
	                 x->md[k], x->mctx);
	if (rc == PCRE2_ERROR_JIT_STACKLIMIT && x->jit == NULL) {
		x->mctx = pcre2_match_context_create(NULL);
		x->jit = pcre2_jit_stack_create(32 * 1024, JIT_STACK_MAX, NULL);
		if (x->mctx == NULL || x->jit == NULL)
			return PCRE2_ERROR_NOMEMORY;
		pcre2_jit_stack_assign(x->mctx, NULL, x->jit);
		rc = pcre2_match(st->re, (PCRE2_SPTR)s, len, pos,
		                 PCRE2_NO_UTF_CHECK, x->md[k], x->mctx);
	}
	return rc;
}

/* Hand one piece of stage k's split on (or drop it). */
static int
piece(struct enc *x, int k, const char *s, size_t len, bool matched)
{
	const struct tok_stage *st = &x->t->stages[k];

	if (len == 0)
		return 0;
	if (st->invert)
		matched = !matched;
	if (st->behavior == TOK_SPLIT_REMOVED && matched)
		return 0;
	return pretok(x, k + 1, s, len);
}

/* Split s with stage k and the ones after it, then BPE the pieces. */
static int
pretok(struct enc *x, int k, const char *s, size_t len)
{
	size_t pos = 0, last = 0;

	if (k == x->t->n_stages) {
		bpe(x, s, len);
		return 0;
	}
	if (x->md[k] == NULL) {
		x->md[k] = pcre2_match_data_create(1, NULL);
		if (x->md[k] == NULL)
			return err_set(x->e, "tokenizer: out of memory");
	}
	while (pos < len) {
		PCRE2_SIZE *ov;
		int rc = match(x, k, s, len, pos);

		if (rc == PCRE2_ERROR_NOMATCH)
			break;
		if (rc < 0) {
			PCRE2_UCHAR msg[128];

			pcre2_get_error_message(rc, msg, sizeof(msg));
			return err_set(x->e, "tokenizer: regex: %s",
			               (char *)msg);
		}
		ov = pcre2_get_ovector_pointer(x->md[k]);
		if (ov[1] == ov[0]) {
			/* An empty match splits nothing; step one character. */
			size_t step;

			if (ov[0] >= len)
				break;
			tok_nfc_utf8_next((const unsigned char *)s + ov[0],
			                  &step);
			pos = ov[0] + step;
			continue;
		}
		if (piece(x, k, s + last, ov[0] - last, false) == -1 ||
		    piece(x, k, s + ov[0], ov[1] - ov[0], true) == -1)
			return -1;
		last = pos = ov[1];
	}
	return piece(x, k, s + last, len - last, false);
}

/* ---- Added tokens ---- */

/* Length of the longest added token of tr at s, or 0; sets *idx. */
static size_t
trie_match(const struct tok_trie *tr, const unsigned char *s, size_t len,
           int32_t *idx)
{
	int32_t node = tr->root[s[0]];
	size_t i = 1, best = 0;

	if (node < 0)
		return 0;
	for (;;) {
		int32_t c;

		if (tr->nodes[node].added >= 0) {
			best = i;
			*idx = tr->nodes[node].added;
		}
		if (i == len)
			break;
		c = tr->nodes[node].child;
		while (c >= 0 && tr->nodes[c].byte != s[i])
			c = tr->nodes[c].sibling;
		if (c < 0)
			break;
		node = c;
		i++;
	}
	return best;
}

static int normalized_part(struct enc *x, const char *s, size_t len);

/* Cut the added tokens of tr out of s; the text between goes to
 * normalized_part (raw trie) or the pre-tokenizer (normalized trie). */
static int
split_added(struct enc *x, const struct tok_trie *tr, bool raw, const char *s,
            size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, last = 0;

	if (tr->n > 0) {
		while (i < len) {
			int32_t idx;
			size_t m = trie_match(tr, p + i, len - i, &idx);

			if (m == 0) {
				i++;
				continue;
			}
			if (i > last) {
				int rc =
				    raw ? normalized_part(x, s + last, i - last)
				        : pretok(x, 0, s + last, i - last);

				if (rc == -1)
					return -1;
			}
			push(x, x->t->added[idx].id);
			i += m;
			last = i;
		}
	}
	if (last == len)
		return 0;
	return raw ? normalized_part(x, s + last, len - last)
	           : pretok(x, 0, s + last, len - last);
}

/* Normalize a part of the text between raw added tokens, then cut out the
 * normalized added tokens. */
static int
normalized_part(struct enc *x, const char *s, size_t len)
{
	char *norm = NULL;
	size_t nlen;
	int rc;

	if (x->t->nfc && !x->t->nfc_first)
		norm = tok_nfc(s, len, &nlen);
	if (norm != NULL) {
		s = norm;
		len = nlen;
	}
	rc = split_added(x, &x->t->trie_norm, false, s, len);
	free(norm);
	return rc;
}

/* ---- Encoding ---- */

static void
enc_fini(struct enc *x)
{
	int k;

	for (k = 0; k < TOK_MAX_STAGES; k++)
		pcre2_match_data_free(x->md[k]);
	pcre2_match_context_free(x->mctx);
	pcre2_jit_stack_free(x->jit);
	free(x->sym);
	free(x->rank);
	free(x->prev);
	free(x->next);
	free(x->heap);
}

/* Encode into x->ids (owned by x). */
static int
encode(struct enc *x, const struct tok *t, const char *text, size_t len,
       struct err *e)
{
	char *norm = NULL;
	size_t nlen;
	int rc;

	memset(x, 0, sizeof(*x));
	x->t = t;
	x->e = e;
	if (len > TOK_MAX_TEXT)
		return err_set(e, "tokenizer: text of %zu bytes is too long",
		               len);
	if (!tok_nfc_utf8_valid(text, len))
		return err_set(e, "tokenizer: text is not valid UTF-8");
	if (t->nfc_first)
		norm = tok_nfc(text, len, &nlen);
	if (norm != NULL) {
		text = norm;
		len = nlen;
	}
	rc = split_added(x, &t->trie_raw, true, text, len);
	free(norm);
	return rc;
}

ssize_t
tok_encode(const struct tok *t, const char *text, size_t len, int32_t *ids,
           size_t max_ids, struct err *e)
{
	struct enc x;
	ssize_t n = -1;

	if (encode(&x, t, text, len, e) == 0) {
		if (x.n > 0 && max_ids > 0)
			memcpy(ids, x.ids,
			       (x.n < max_ids ? x.n : max_ids) * sizeof(*ids));
		n = (ssize_t)x.n;
	}
	free(x.ids);
	enc_fini(&x);
	return n;
}

ssize_t
tok_encode_alloc(const struct tok *t, const char *text, size_t len,
                 int32_t **ids, struct err *e)
{
	struct enc x;

	*ids = NULL;
	if (encode(&x, t, text, len, e) == -1) {
		free(x.ids);
		enc_fini(&x);
		return -1;
	}
	enc_fini(&x);
	*ids = x.ids;
	return (ssize_t)x.n;
}

/* ---- Decoding ---- */

/* A growable byte string for decoding (internal, small). */
struct str {
	char *p;
	size_t n, cap;
};

static void
str_add(struct str *s, const char *p, size_t n)
{
	if (s->n + n + 1 > s->cap) {
		size_t cap = s->cap ? s->cap : 64;

		while (cap < s->n + n + 1)
			cap *= 2;
		s->p = xreallocarray(s->p, cap, 1);
		s->cap = cap;
	}
	memcpy(s->p + s->n, p, n);
	s->n += n;
}

/*
 * Append bytes as valid UTF-8: each maximal invalid subsequence (a lead
 * byte and the continuation bytes it could still accept) becomes one
 * U+FFFD, as Rust's from_utf8_lossy and Python's "replace" do.
 */
static void
lossy(struct str *out, const char *src, size_t len)
{
	const unsigned char *s = (const unsigned char *)src;
	static const char fffd[] = "\xEF\xBF\xBD";
	size_t i = 0;

	while (i < len) {
		unsigned char c = s[i];
		size_t need, j;
		unsigned char lo = 0x80, hi = 0xBF;

		if (c < 0x80) {
			size_t k = i + 1;

			while (k < len && s[k] < 0x80)
				k++;
			str_add(out, src + i, k - i);
			i = k;
			continue;
		}
		if (c >= 0xC2 && c <= 0xDF) {
			need = 1;
		} else if (c >= 0xE0 && c <= 0xEF) {
			need = 2;
			lo = c == 0xE0 ? 0xA0 : 0x80;
			hi = c == 0xED ? 0x9F : 0xBF;
		} else if (c >= 0xF0 && c <= 0xF4) {
			need = 3;
			lo = c == 0xF0 ? 0x90 : 0x80;
			hi = c == 0xF4 ? 0x8F : 0xBF;
		} else {
			str_add(out, fffd, 3);
			i++;
			continue;
		}
		for (j = 1; j <= need; j++) {
			if (i + j >= len || s[i + j] < lo || s[i + j] > hi)
				break;
			lo = 0x80;
			hi = 0xBF;
		}
		if (j <= need) {
			str_add(out, fffd, 3);
			i += j;
			continue;
		}
		str_add(out, src + i, need + 1);
		i += need + 1;
	}
}

/* transformers' clean_up_tokenization: the same replacements, in order,
 * each over the whole text. */
static void
cleanup(struct str *s)
{
	static const char *from[] = {" .",   " ?",  " !",  " ,",   " ' ",
	                             " n't", " 'm", " 's", " 've", " 're"};
	static const char *to[] = {".",   "?",  "!",  ",",   "'",
	                           "n't", "'m", "'s", "'ve", "'re"};
	size_t r;

	for (r = 0; r < sizeof(from) / sizeof(from[0]); r++) {
		size_t fl = strlen(from[r]), tl = strlen(to[r]);
		size_t i = 0, o = 0;

		/* Replacements only shrink, so rewrite in place. */
		while (i < s->n) {
			if (i + fl <= s->n &&
			    memcmp(s->p + i, from[r], fl) == 0) {
				memmove(s->p + o, to[r], tl);
				o += tl;
				i += fl;
			} else {
				s->p[o++] = s->p[i++];
			}
		}
		s->n = o;
	}
}

int
tok_decode(const struct tok *t, const int32_t *ids, size_t n, int flags,
           struct buf *out, struct err *e)
{
	struct str cur = {NULL, 0, 0}, text = {NULL, 0, 0};
	bool first = true;
	size_t i;
	int rc = -1;

	for (i = 0; i < n; i++) {
		int32_t id = ids[i];
		uint8_t f;

		if (id < 0 || id >= t->n_ids ||
		    !(t->flags[id] & TOKF_PRESENT)) {
			err_set(e, "tokenizer: unknown id %ld", (long)id);
			goto out;
		}
		f = t->flags[id];
		if ((flags & TOK_SKIP_SPECIAL) && (f & TOKF_SPECIAL))
			continue;
		if (t->slow_decode && (f & TOKF_LEGACY)) {
			/* transformers' slow _decode: the text so far and the
			 * token become separate sub-texts. */
			if (cur.n > 0) {
				size_t before = text.n;

				if (!first && t->spaces_between)
					str_add(&text, " ", 1);
				lossy(&text, cur.p, cur.n);
				if (text.n ==
				    before + (!first && t->spaces_between))
					text.n = before;
				else
					first = false;
				cur.n = 0;
			}
			if (!first && t->spaces_between)
				str_add(&text, " ", 1);
			str_add(&text, t->dec_pool + t->dec_off[id],
			        t->dec_len[id]);
			first = false;
			continue;
		}
		str_add(&cur, t->dec_pool + t->dec_off[id], t->dec_len[id]);
	}
	if (cur.n > 0) {
		if (!first && t->spaces_between)
			str_add(&text, " ", 1);
		lossy(&text, cur.p, cur.n);
	}
	if (t->cleanup)
		cleanup(&text);
	if (text.n > 0 && buf_append(out, text.p, text.n) == -1) {
		err_set(e, "tokenizer: decoded text is too long");
		goto out;
	}
	rc = 0;
out:
	free(cur.p);
	free(text.p);
	return rc;
}
