/* SPDX-License-Identifier: ISC */
/*
 * tok.h: the byte-level BPE tokenizer of the Molmo models (Qwen2, dolma2 /
 * cl100k, GPT-NeoX / OLMoE), compatible with the Hugging Face `tokenizers`
 * library and with transformers' slow GPT2Tokenizer / Qwen2Tokenizer.
 *
 * A tokenizer is read from either
 *   - a `tokenizer.json` file (the `tokenizers` format: BPE model with merges
 *     as "a b" strings or ["a", "b"] pairs, added tokens, an NFC normalizer
 *     or none, Split / ByteLevel pre-tokenizers, ByteLevel decoder), or
 *   - a checkpoint directory: its tokenizer.json when present, otherwise the
 *     slow-tokenizer set vocab.json + merges.txt (+ added_tokens.json,
 *     tokenizer_config.json, special_tokens_map.json).  The pre-tokenizer
 *     regex and the normalizer then follow `tokenizer_class` (Qwen2Tokenizer:
 *     Qwen2 regex and NFC; GPT2Tokenizer and others: the GPT-2 regex).
 *     In a directory, tokenizer_config.json also decides the decode-time
 *     clean-up that transformers applies (clean_up_tokenization_spaces).
 *
 * Encoding follows the reference: added tokens are found in the raw text
 * first (leftmost, longest; `normalized` ones after normalization), the rest
 * is NFC-normalized where the file says so, split by the pre-tokenizer regex
 * (PCRE2, UTF, JIT) and BPE-merged.  No BOS or EOS is added.  Decoding joins
 * the bytes of the kept tokens and replaces invalid UTF-8 with U+FFFD, one
 * per maximal invalid subsequence (as Rust's String::from_utf8_lossy).
 *
 * Threads and ownership: a `struct tok` is immutable after tok_open and may
 * be used from any number of threads at once; every call allocates its own
 * scratch (including PCRE2 match data).  The caller owns what it passes in
 * and the outputs it supplies; strings returned by tok_piece and tok_token
 * are borrowed from the tokenizer and live until tok_close.
 */
#ifndef MODEL_TOK_H
#define MODEL_TOK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "util/buf.h"
#include "util/err.h"

/* Limits on outside input (a file larger than this is rejected). */
#define TOK_MAX_FILE   (256u << 20) /* bytes of one tokenizer file */
#define TOK_MAX_VOCAB  (1 << 22)    /* ids */
#define TOK_MAX_TOKEN  4096         /* bytes of one token string */
#define TOK_MAX_MERGES (1 << 22)    /* merge rules */
#define TOK_MAX_ADDED  (1 << 16)    /* added tokens */
#define TOK_MAX_TEXT   (1u << 30)   /* bytes of text given to tok_encode */

/* Decode flags. */
#define TOK_SKIP_SPECIAL 1 /* leave out special added tokens */

struct tok;

/*
 * Open the tokenizer at path: a tokenizer.json file, or a directory (see
 * above).  Returns the tokenizer, or NULL with a one-line message in e.
 */
struct tok *tok_open(const char *path, struct err *e);

/*
 * Build a tokenizer from the bytes of a tokenizer.json file (len bytes; no
 * NUL needed).  Same result as tok_open on that file.  NULL on error.
 */
struct tok *tok_open_json(const void *data, size_t len, struct err *e);

/* Free the tokenizer; NULL is fine. */
void tok_close(struct tok *t);

/*
 * Encode len bytes of UTF-8 text into ids.  Writes at most max_ids ids and
 * returns how many the text needs (which may be larger than max_ids: call
 * again with a bigger array), or -1 on error (text not valid UTF-8, longer
 * than TOK_MAX_TEXT, or an internal matching failure).  The text may hold
 * NUL bytes.  Added and special tokens written in the text become their ids;
 * no BOS/EOS is added.
 */
ssize_t tok_encode(const struct tok *t, const char *text, size_t len,
                   int32_t *ids, size_t max_ids, struct err *e);

/*
 * Same, but stores a malloc'd array of ids in *ids (caller frees; NULL when
 * the result is empty) and returns its length, or -1 on error.
 */
ssize_t tok_encode_alloc(const struct tok *t, const char *text, size_t len,
                         int32_t **ids, struct err *e);

/*
 * Decode n ids and append the UTF-8 text to out (whose cap applies).  flags
 * is 0 or TOK_SKIP_SPECIAL.  Returns 0, or -1 for an id outside
 * [0, tok_n_vocab) or when out overflows (out is then freed, as buf does).
 */
int tok_decode(const struct tok *t, const int32_t *ids, size_t n, int flags,
               struct buf *out, struct err *e);

/*
 * The raw bytes one id stands for (possibly part of a UTF-8 character), for
 * streaming: the caller joins pieces and decodes complete characters.  Sets
 * *len and returns a borrowed pointer, or NULL for an unknown id.  The
 * bytes are the ones tok_decode joins, without the clean-up of a directory's
 * tokenizer_config.json.
 */
const char *tok_piece(const struct tok *t, int32_t id, size_t *len);

/* Id of the token whose string (as in the vocabulary or the added tokens,
 * e.g. "<im_patch>" or "Ġthe") is s, or -1. */
int32_t tok_id(const struct tok *t, const char *s);

/* The token string of id (borrowed, NUL-terminated), or NULL. */
const char *tok_token(const struct tok *t, int32_t id);

/* True if id is an added token marked special. */
bool tok_is_special(const struct tok *t, int32_t id);

/* Number of ids: one more than the largest id (vocabulary + added). */
int32_t tok_n_vocab(const struct tok *t);

/*
 * Configured special ids, -1 when there is none.  They come from a
 * directory's tokenizer_config.json (or special_tokens_map.json); for a bare
 * tokenizer.json, eos is "<|endoftext|>" if that is an added token, pad is
 * eos, and bos is -1 (Qwen2 and OLMo have no BOS; Molmo's processor
 * prepends the EOS id instead).
 */
int32_t tok_eos(const struct tok *t);
int32_t tok_bos(const struct tok *t);
int32_t tok_pad(const struct tok *t);

/* The Unicode version of the NFC tables, e.g. "14.0.0". */
const char *tok_unicode_version(void);

#endif
