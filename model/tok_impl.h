/* SPDX-License-Identifier: ISC */
/*
 * tok_impl.h: the inside of struct tok, shared by model/tok.c (parsing the
 * files), model/tok_build.c (building the tables), model/tok_enc.c (encoding
 * and decoding) and model/tok_nfc.c (Unicode NFC).  Not part of the public API;
 * white-box tests may include it.
 *
 * Invariants after tok_open: every id in [0, n_ids) with TOKF_PRESENT has
 * a NUL-terminated token string (str_pool + str_off[id], str_len[id] bytes)
 * and its decoded bytes (dec_pool + dec_off[id], dec_len[id] bytes); the
 * merge table maps a pair of present ids to its rank and the merged id; the
 * compiled regexes are only read.  Nothing changes after loading, so any
 * number of threads may use one struct tok.
 */
#ifndef MODEL_TOK_IMPL_H
#define MODEL_TOK_IMPL_H

#define PCRE2_CODE_UNIT_WIDTH 8

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <pcre2.h>

#include "util/err.h"

/* Per-id flags. */
#define TOKF_PRESENT 1 /* the id has a token */
#define TOKF_ADDED   2 /* an added token (matched in the raw text) */
#define TOKF_SPECIAL 4 /* special: skipped by TOK_SKIP_SPECIAL */
#define TOKF_LEGACY  8 /* slow-tokenizer decode: a separate sub-text */

/* How a Split pre-tokenizer treats its matches (tokenizers' behaviors). */
enum tok_split {
	TOK_SPLIT_ISOLATED, /* matches and the text between them are pieces */
	TOK_SPLIT_REMOVED,  /* matches are dropped */
};

/* One pre-tokenizer stage: split every piece with a regex. */
struct tok_stage {
	pcre2_code *re; /* compiled with UTF and UCP, JIT when possible */
	enum tok_split behavior;
	bool invert; /* swap matches and the text between them */
};

#define TOK_MAX_STAGES 8

/* A slot of the merge table. */
struct tok_merge {
	uint64_t key; /* (left id << 32 | right id), UINT64_MAX when empty */
	int32_t rank; /* position of the rule in the merges list */
	int32_t id;   /* the merged token */
};

/* An added token, matched in the text before pre-tokenization. */
struct tok_added {
	char *content; /* NUL-terminated; may itself be normalized (NFC) */
	size_t len;    /* bytes of content */
	int32_t id;
	bool normalized; /* matched after normalization */
};

/* A byte trie over added tokens: node 0 is the root. */
struct tok_trie_node {
	int32_t child;   /* first child node, or -1 */
	int32_t sibling; /* next sibling node, or -1 */
	int32_t added; /* index in tok->added of the token ending here, or -1 */
	uint8_t byte;  /* the byte leading to this node */
};

struct tok_trie {
	struct tok_trie_node *nodes;
	size_t n, cap;
	int32_t root[256]; /* child of the root for each first byte, or -1 */
};

struct tok {
	/* Tokens by id. */
	int32_t n_ids;     /* one more than the largest id */
	uint8_t *flags;    /* [n_ids] TOKF_* */
	uint32_t *str_off; /* [n_ids] offsets into str_pool */
	uint32_t *str_len; /* [n_ids] */
	char *str_pool;    /* token strings, each NUL-terminated */
	size_t str_pool_len;
	uint32_t *dec_off; /* [n_ids] offsets into dec_pool */
	uint32_t *dec_len; /* [n_ids] */
	char *dec_pool;    /* the bytes each token decodes to */

	/* Token string -> id: open addressing, -1 empty, size a power of 2. */
	int32_t *vocab_slots;
	size_t vocab_mask;

	/* (left id, right id) -> rank and merged id: open addressing. */
	struct tok_merge *merges; /* one cache-line-friendly slot per probe */
	size_t merge_mask;

	int32_t byte_id[256];  /* id of the byte-level symbol of each byte */
	uint16_t byte_cp[256]; /* the byte-level character of each byte */
	int32_t unk_id;        /* -1: unknown bytes are dropped */
	bool fuse_unk;
	bool ignore_merges; /* a piece that is itself a token is kept whole */

	/* Added tokens and their tries (raw text, normalized text). */
	struct tok_added *added;
	size_t n_added;
	struct tok_trie trie_raw;
	struct tok_trie trie_norm;

	/* Normalizer and pre-tokenizer. */
	bool nfc;       /* NFC before pre-tokenizing */
	bool nfc_first; /* slow Qwen2Tokenizer: NFC before added tokens */
	struct tok_stage stages[TOK_MAX_STAGES];
	int n_stages;

	/* Decoding as transformers does it (from tokenizer_config.json). */
	bool cleanup;        /* clean_up_tokenization_spaces */
	bool slow_decode;    /* TOKF_LEGACY tokens form separate sub-texts */
	bool spaces_between; /* ... joined with " " (slow GPT2Tokenizer) */

	int32_t eos, bos, pad;
};

/* ---- Loading: tok.c parses the files into a tok_spec ---- */

/* One vocabulary entry or merge rule while loading. */
struct tok_entry {
	const char *s; /* borrowed from the JSON tree or the file buffer */
	size_t len;
	int32_t id;
};

struct tok_pair {
	const char *a, *b;
	size_t alen, blen;
};

/* A token added on top of the vocabulary, while loading. */
struct tok_addspec {
	const char *content;
	size_t len;
	int32_t id;
	bool special, normalized, legacy;
};

/* Everything gathered from the files before the tables are built. */
struct tok_spec {
	struct tok_entry *vocab;
	size_t n_vocab, cap_vocab;
	struct tok_pair *merges;
	size_t n_merges, cap_merges;
	struct tok_addspec *added;
	size_t n_added, cap_added;
	const char *unk; /* unk_token or NULL */
	char *eos, *bos, *pad;
	bool eos_set, bos_set, pad_set; /* the config named them (maybe null) */
};

/* ---- tok_build.c ---- */

/* A zeroed tokenizer with no tables yet (ids -1, empty tries). */
struct tok *tok_alloc(void);

/*
 * Build every table of t from sp (whose strings it copies).  slow: decode
 * the way transformers' slow tokenizers do (TOKF_LEGACY sub-texts).
 * Returns 0, or -1 with e set.
 */
int tok_build(struct tok *t, struct tok_spec *sp, bool slow, struct err *e);

/* Id of the token string s (len bytes), or -1. */
int32_t tok_lookup(const struct tok *t, const char *s, size_t len);

/* ---- tok_nfc.c ---- */

/*
 * NFC-normalize len bytes of valid UTF-8.  Returns NULL when the text is
 * already in NFC (use it as is), or a malloc'd normalized copy (caller
 * frees) with its length in *out_len.
 */
char *tok_nfc(const char *s, size_t len, size_t *out_len);

/* True if the len bytes at s are valid UTF-8 (no surrogates, overlongs or
 * values above U+10FFFF). */
bool tok_nfc_utf8_valid(const char *s, size_t len);

/* Decode one character of valid UTF-8 at s; sets *n to its byte count. */
uint32_t tok_nfc_utf8_next(const unsigned char *s, size_t *n);

/* Encode cp as UTF-8 into out (4 bytes room); returns the byte count. */
size_t tok_nfc_utf8_put(uint32_t cp, char *out);

#endif
