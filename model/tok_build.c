/* SPDX-License-Identifier: ISC */
/*
 * tok_build.c: building the immutable tables of a struct tok (tok_impl.h)
 * from what model/tok.c parsed out of the files (struct tok_spec): token
 * strings and decoded bytes by id, the string -> id hash, the pair -> merge
 * hash, the byte-level symbols and the added-token tries; and the small
 * accessors of tok.h.  Every check on the combination of vocabulary,
 * merges and added tokens happens here: duplicate ids, empty or overlong
 * tokens, merges whose parts or result are not in the vocabulary.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "model/tok.h"
#include "model/tok_impl.h"
#include "util/xmalloc.h"

static uint64_t
hash_bytes(const char *s, size_t len)
{
	/* FNV-1a, 64-bit. */
	uint64_t h = 0xcbf29ce484222325ull;
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= (unsigned char)s[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

static uint64_t
hash_pair(uint64_t key)
{
	key ^= key >> 33;
	key *= 0xff51afd7ed558ccdull;
	key ^= key >> 33;
	return key;
}

/* ---- Building the tables ---- */

/* The GPT-2 byte -> character map of byte-level BPE. */
static void
byte_map(uint32_t byte_cp[256], int cp_byte[0x144])
{
	int b, n = 0;

	for (b = 0; b < 0x144; b++)
		cp_byte[b] = -1;
	for (b = 0; b < 256; b++) {
		bool printable = (b >= '!' && b <= '~') ||
		                 (b >= 0xA1 && b <= 0xAC) ||
		                 (b >= 0xAE && b <= 0xFF);

		byte_cp[b] = printable ? (uint32_t)b : (uint32_t)(256 + n++);
		cp_byte[byte_cp[b]] = b;
	}
}

int32_t
tok_lookup(const struct tok *t, const char *s, size_t len)
{
	size_t i;

	if (t->vocab_slots == NULL)
		return -1;
	i = hash_bytes(s, len) & t->vocab_mask;
	for (;;) {
		int32_t id = t->vocab_slots[i];

		if (id < 0)
			return -1;
		if (t->str_len[id] == len &&
		    memcmp(t->str_pool + t->str_off[id], s, len) == 0)
			return id;
		i = (i + 1) & t->vocab_mask;
	}
}

/* Insert id under its string; an existing entry with the same string is
 * replaced (added tokens are inserted last and win). */
static void
vocab_insert(struct tok *t, int32_t id)
{
	const char *s = t->str_pool + t->str_off[id];
	size_t len = t->str_len[id];
	size_t i = hash_bytes(s, len) & t->vocab_mask;

	for (;;) {
		int32_t o = t->vocab_slots[i];

		if (o < 0 ||
		    (t->str_len[o] == len &&
		     memcmp(t->str_pool + t->str_off[o], s, len) == 0)) {
			t->vocab_slots[i] = id;
			return;
		}
		i = (i + 1) & t->vocab_mask;
	}
}

static void
merge_insert(struct tok *t, int32_t a, int32_t b, int32_t rank, int32_t id)
{
	uint64_t key = (uint64_t)(uint32_t)a << 32 | (uint32_t)b;
	size_t i = hash_pair(key) & t->merge_mask;

	while (t->merges[i].key != UINT64_MAX && t->merges[i].key != key)
		i = (i + 1) & t->merge_mask;
	/* A repeated rule takes the later rank, as in the reference. */
	t->merges[i].key = key;
	t->merges[i].rank = rank;
	t->merges[i].id = id;
}

static void
trie_init(struct tok_trie *tr)
{
	int i;

	tr->nodes = NULL;
	tr->n = 0;
	tr->cap = 0;
	for (i = 0; i < 256; i++)
		tr->root[i] = -1;
}

static int32_t
trie_node(struct tok_trie *tr, uint8_t byte)
{
	if (tr->n == tr->cap) {
		tr->cap = tr->cap ? 2 * tr->cap : 256;
		tr->nodes =
		    xreallocarray(tr->nodes, tr->cap, sizeof(*tr->nodes));
	}
	tr->nodes[tr->n].child = -1;
	tr->nodes[tr->n].sibling = -1;
	tr->nodes[tr->n].added = -1;
	tr->nodes[tr->n].byte = byte;
	return (int32_t)tr->n++;
}

static void
trie_insert(struct tok_trie *tr, const char *s, size_t len, int32_t idx)
{
	const uint8_t *p = (const uint8_t *)s;
	int32_t node;
	size_t i;

	if (tr->root[p[0]] < 0)
		tr->root[p[0]] = trie_node(tr, p[0]);
	node = tr->root[p[0]];
	for (i = 1; i < len; i++) {
		int32_t c = tr->nodes[node].child;

		while (c >= 0 && tr->nodes[c].byte != p[i])
			c = tr->nodes[c].sibling;
		if (c < 0) {
			c = trie_node(tr, p[i]);
			tr->nodes[c].sibling = tr->nodes[node].child;
			tr->nodes[node].child = c;
		}
		node = c;
	}
	tr->nodes[node].added = idx;
}

/* Set the string of id (copied into the pool later); clashes are errors. */
static int
set_token(struct tok *t, const char **strs, size_t *lens, int32_t id,
          const char *s, size_t len, struct err *e)
{
	if (len == 0)
		return err_set(e, "token %d is empty", (int)id);
	if (len > TOK_MAX_TOKEN)
		return err_set(e, "token %d is longer than %d bytes", (int)id,
		               TOK_MAX_TOKEN);
	if (memchr(s, '\0', len) != NULL || !tok_nfc_utf8_valid(s, len))
		return err_set(e, "token %d is not valid UTF-8 text", (int)id);
	if (t->flags[id] & TOKF_PRESENT) {
		if (lens[id] != len || memcmp(strs[id], s, len) != 0)
			return err_set(e,
			               "id %d is both \"%.40s\" and \"%.40s\"",
			               (int)id, strs[id], s);
		return 0;
	}
	t->flags[id] |= TOKF_PRESENT;
	strs[id] = s;
	lens[id] = len;
	return 0;
}

/* The bytes a token decodes to: byte-level characters mapped back to
 * bytes, or the token's own UTF-8 when a character is outside the map. */
static size_t
decoded_bytes(const char *s, size_t len, bool raw, const int cp_byte[0x144],
              char *out)
{
	size_t i = 0, n = 0;

	if (!raw) {
		while (i < len) {
			size_t step;
			uint32_t cp = tok_nfc_utf8_next(
			    (const unsigned char *)s + i, &step);

			if (cp >= 0x144 || cp_byte[cp] < 0)
				break;
			out[n++] = (char)cp_byte[cp];
			i += step;
		}
		if (i == len)
			return n;
	}
	memcpy(out, s, len);
	return len;
}

static size_t
pow2_at_least(size_t n)
{
	size_t p = 16;

	while (p < n)
		p *= 2;
	return p;
}

static int32_t
find_special(const struct tok *t, const char *name, bool set, int32_t def)
{
	if (!set)
		return def;
	if (name == NULL)
		return -1;
	return tok_lookup(t, name, strlen(name));
}

/* Build every table of t from sp.  slow: transformers' slow decoding. */
int
tok_build(struct tok *t, struct tok_spec *sp, bool slow, struct err *e)
{
	const char **strs = NULL;
	size_t *lens = NULL;
	uint32_t byte_cp[256];
	int cp_byte[0x144];
	int32_t max_id = -1;
	size_t i, pool = 0, dpool = 0;
	int rc = -1;

	for (i = 0; i < sp->n_vocab; i++)
		max_id = sp->vocab[i].id > max_id ? sp->vocab[i].id : max_id;
	for (i = 0; i < sp->n_added; i++)
		max_id = sp->added[i].id > max_id ? sp->added[i].id : max_id;
	if (max_id < 0)
		return err_set(e, "the vocabulary is empty");
	t->n_ids = max_id + 1;
	t->flags = xcalloc((size_t)t->n_ids, sizeof(*t->flags));
	t->str_off = xcalloc((size_t)t->n_ids, sizeof(*t->str_off));
	t->str_len = xcalloc((size_t)t->n_ids, sizeof(*t->str_len));
	t->dec_off = xcalloc((size_t)t->n_ids, sizeof(*t->dec_off));
	t->dec_len = xcalloc((size_t)t->n_ids, sizeof(*t->dec_len));
	strs = xcalloc((size_t)t->n_ids, sizeof(*strs));
	lens = xcalloc((size_t)t->n_ids, sizeof(*lens));

	for (i = 0; i < sp->n_vocab; i++) {
		if ((t->flags[sp->vocab[i].id] & TOKF_PRESENT) != 0)
			goto dup;
		if (set_token(t, strs, lens, sp->vocab[i].id, sp->vocab[i].s,
		              sp->vocab[i].len, e) == -1)
			goto out;
	}
	for (i = 0; i < sp->n_added; i++) {
		struct tok_addspec *a = &sp->added[i];

		if (set_token(t, strs, lens, a->id, a->content, a->len, e) ==
		    -1)
			goto out;
		t->flags[a->id] |= TOKF_ADDED;
		if (a->special)
			t->flags[a->id] |= TOKF_SPECIAL;
		if (slow && a->legacy)
			t->flags[a->id] |= TOKF_LEGACY;
	}

	/* String and decoded-byte pools (decoded bytes never outgrow the
	 * string).  Offsets are 32-bit: TOK_MAX_VOCAB * (TOK_MAX_TOKEN + 1)
	 * can pass that, so check. */
	for (i = 0; i < (size_t)t->n_ids; i++)
		pool += lens[i] + 1;
	if (pool > UINT32_MAX)
		goto toobig;
	t->str_pool = xmalloc(pool);
	t->dec_pool = xmalloc(pool);
	t->str_pool_len = pool;
	byte_map(byte_cp, cp_byte);
	pool = 0;
	for (i = 0; i < (size_t)t->n_ids; i++) {
		if (!(t->flags[i] & TOKF_PRESENT))
			continue;
		t->str_off[i] = (uint32_t)pool;
		t->str_len[i] = (uint32_t)lens[i];
		memcpy(t->str_pool + pool, strs[i], lens[i]);
		t->str_pool[pool + lens[i]] = '\0';
		pool += lens[i] + 1;
		t->dec_off[i] = (uint32_t)dpool;
		t->dec_len[i] = (uint32_t)decoded_bytes(
		    strs[i], lens[i], (t->flags[i] & TOKF_LEGACY) != 0, cp_byte,
		    t->dec_pool + dpool);
		dpool += t->dec_len[i];
	}

	/* String -> id, added tokens last so that they win. */
	t->vocab_mask = pow2_at_least(2 * (size_t)t->n_ids) - 1;
	t->vocab_slots =
	    xreallocarray(NULL, t->vocab_mask + 1, sizeof(*t->vocab_slots));
	memset(t->vocab_slots, 0xff, (t->vocab_mask + 1) * sizeof(int32_t));
	for (i = 0; i < (size_t)t->n_ids; i++) {
		if ((t->flags[i] & (TOKF_PRESENT | TOKF_ADDED)) == TOKF_PRESENT)
			vocab_insert(t, (int32_t)i);
	}
	for (i = 0; i < (size_t)t->n_ids; i++) {
		if (t->flags[i] & TOKF_ADDED)
			vocab_insert(t, (int32_t)i);
	}

	for (i = 0; i < 256; i++) {
		char ch[4];
		size_t n = tok_nfc_utf8_put(byte_cp[i], ch);

		t->byte_id[i] = tok_lookup(t, ch, n);
		t->byte_cp[i] = (uint16_t)byte_cp[i];
	}
	t->unk_id = -1;
	if (sp->unk != NULL) {
		t->unk_id = tok_lookup(t, sp->unk, strlen(sp->unk));
		if (t->unk_id < 0) {
			err_set(e,
			        "unk_token \"%.40s\" is not in the vocabulary",
			        sp->unk);
			goto out;
		}
	}

	/* Merges: (left, right) -> rank, merged id. */
	t->merge_mask = pow2_at_least(2 * sp->n_merges + 2) - 1;
	t->merges = xreallocarray(NULL, t->merge_mask + 1, sizeof(*t->merges));
	for (i = 0; i <= t->merge_mask; i++)
		t->merges[i].key = UINT64_MAX;
	{
		char *cat = xmalloc(2 * TOK_MAX_TOKEN + 1);

		for (i = 0; i < sp->n_merges; i++) {
			struct tok_pair *p = &sp->merges[i];
			int32_t a = tok_lookup(t, p->a, p->alen);
			int32_t b = tok_lookup(t, p->b, p->blen);
			int32_t ab = -1;

			if (a >= 0 && b >= 0 &&
			    p->alen + p->blen <= TOK_MAX_TOKEN) {
				memcpy(cat, p->a, p->alen);
				memcpy(cat + p->alen, p->b, p->blen);
				ab = tok_lookup(t, cat, p->alen + p->blen);
			}
			if (ab < 0) {
				free(cat);
				err_set(
				    e,
				    "merge %zu (\"%.*s\" \"%.*s\"): token "
				    "not in the vocabulary",
				    i + 1, (int)(p->alen > 40 ? 40 : p->alen),
				    p->a, (int)(p->blen > 40 ? 40 : p->blen),
				    p->b);
				goto out;
			}
			merge_insert(t, a, b, (int32_t)i, ab);
		}
		free(cat);
	}

	/* Added tokens and their tries; a normalized token is matched in
	 * normalized text, so normalize its content too. */
	t->added = xcalloc(sp->n_added + 1, sizeof(*t->added));
	trie_init(&t->trie_raw);
	trie_init(&t->trie_norm);
	for (i = 0; i < sp->n_added; i++) {
		struct tok_addspec *a = &sp->added[i];
		struct tok_added *ta = &t->added[t->n_added];
		char *norm = NULL;
		size_t nlen = 0;

		if (a->normalized && t->nfc)
			norm = tok_nfc(a->content, a->len, &nlen);
		if (norm != NULL) {
			ta->content = norm;
			ta->len = nlen;
		} else {
			ta->content = xstrndup(a->content, a->len);
			ta->len = a->len;
		}
		ta->id = a->id;
		ta->normalized = a->normalized;
		trie_insert(a->normalized ? &t->trie_norm : &t->trie_raw,
		            ta->content, ta->len, (int32_t)t->n_added);
		t->n_added++;
	}

	t->eos = find_special(t, sp->eos, sp->eos_set,
	                      tok_lookup(t, "<|endoftext|>", 13));
	if (t->eos >= 0 && !sp->eos_set && !(t->flags[t->eos] & TOKF_ADDED))
		t->eos = -1;
	t->bos = find_special(t, sp->bos, sp->bos_set, -1);
	t->pad = find_special(t, sp->pad, sp->pad_set, t->eos);
	rc = 0;
	goto out;
dup:
	err_set(e, "vocabulary id %d appears twice", (int)sp->vocab[i].id);
	goto out;
toobig:
	err_set(e, "the vocabulary is too large");
out:
	free(strs);
	free(lens);
	return rc;
}

void
tok_close(struct tok *t)
{
	int i;
	size_t k;

	if (t == NULL)
		return;
	free(t->flags);
	free(t->str_off);
	free(t->str_len);
	free(t->str_pool);
	free(t->dec_off);
	free(t->dec_len);
	free(t->dec_pool);
	free(t->vocab_slots);
	free(t->merges);
	for (k = 0; k < t->n_added; k++)
		free(t->added[k].content);
	free(t->added);
	free(t->trie_raw.nodes);
	free(t->trie_norm.nodes);
	for (i = 0; i < t->n_stages; i++)
		pcre2_code_free(t->stages[i].re);
	free(t);
}

struct tok *
tok_alloc(void)
{
	struct tok *t = xcalloc(1, sizeof(*t));

	t->eos = t->bos = t->pad = t->unk_id = -1;
	trie_init(&t->trie_raw);
	trie_init(&t->trie_norm);
	return t;
}

/* ---- Accessors ---- */

int32_t
tok_id(const struct tok *t, const char *s)
{
	return tok_lookup(t, s, strlen(s));
}

const char *
tok_token(const struct tok *t, int32_t id)
{
	if (id < 0 || id >= t->n_ids || !(t->flags[id] & TOKF_PRESENT))
		return NULL;
	return t->str_pool + t->str_off[id];
}

const char *
tok_piece(const struct tok *t, int32_t id, size_t *len)
{
	if (id < 0 || id >= t->n_ids || !(t->flags[id] & TOKF_PRESENT))
		return NULL;
	*len = t->dec_len[id];
	return t->dec_pool + t->dec_off[id];
}

bool
tok_is_special(const struct tok *t, int32_t id)
{
	return id >= 0 && id < t->n_ids && (t->flags[id] & TOKF_SPECIAL) != 0;
}

int32_t
tok_n_vocab(const struct tok *t)
{
	return t->n_ids;
}

int32_t
tok_eos(const struct tok *t)
{
	return t->eos;
}

int32_t
tok_bos(const struct tok *t)
{
	return t->bos;
}

int32_t
tok_pad(const struct tok *t)
{
	return t->pad;
}
