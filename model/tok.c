/* SPDX-License-Identifier: ISC */
/*
 * tok.c: loading the tokenizer.  Reads a Hugging Face tokenizer.json (with
 * jansson) or the slow-tokenizer files of a checkpoint directory
 * (vocab.json, merges.txt, added_tokens.json, tokenizer_config.json,
 * special_tokens_map.json), checks everything against the limits in tok.h,
 * and builds the immutable lookup tables of struct tok (tok_impl.h): token
 * strings and decoded bytes by id, a string -> id hash, a pair -> merge hash,
 * the added-token tries and the compiled pre-tokenizer regexes.
 *
 * Only byte-level BPE is supported (what every Molmo tokenizer is).  Any
 * field that would change the result and that this code does not implement
 * (other normalizers or pre-tokenizers, dropout, prefixes and suffixes,
 * lstrip/rstrip/single_word added tokens) is an error, never ignored.
 *
 * The regexes are written for Oniguruma (tokenizers) and Python's regex
 * module (transformers); PCRE2 runs them with PCRE2_UTF | PCRE2_UCP after
 * \s and \S are rewritten to Unicode White_Space, which is what those
 * engines mean by \s (PCRE2's own \s also takes U+180E).
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "model/tok.h"
#include "model/tok_impl.h"
#include "util/str.h"
#include "util/xmalloc.h"

/* The pre-tokenizer regexes of transformers' slow tokenizers. */
#define RE_QWEN2                                                               \
	"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| "  \
	"?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define RE_GPT2                                                                \
	"'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| "                        \
	"?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"

/* Unicode White_Space (PropList.txt), written for a character class. */
#define WHITE_SPACE                                                            \
	"\\t\\n\\x{0B}\\f\\r \\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}"       \
	"\\x{2028}\\x{2029}\\x{202F}\\x{205F}\\x{3000}"

/* ---- Small helpers ---- */

/* Read a whole file of at most max bytes; malloc'd, NUL-terminated. */
static char *
read_file(const char *path, size_t max, size_t *len, struct err *e)
{
	FILE *f;
	struct stat st;
	char *p;

	f = fopen(path, "rb");
	if (f == NULL) {
		err_set(e, "%s: %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fileno(f), &st) == -1 || !S_ISREG(st.st_mode)) {
		err_set(e, "%s: not a regular file", path);
		fclose(f);
		return NULL;
	}
	if ((uint64_t)st.st_size > max) {
		err_set(e, "%s: %lld bytes exceeds the limit of %zu", path,
		        (long long)st.st_size, max);
		fclose(f);
		return NULL;
	}
	p = malloc((size_t)st.st_size + 1);
	if (p == NULL) {
		err_set(e, "%s: out of memory", path);
		fclose(f);
		return NULL;
	}
	if (st.st_size > 0 &&
	    fread(p, 1, (size_t)st.st_size, f) != (size_t)st.st_size) {
		err_set(e, "%s: short read", path);
		free(p);
		fclose(f);
		return NULL;
	}
	fclose(f);
	p[st.st_size] = '\0';
	*len = (size_t)st.st_size;
	return p;
}

static bool
is_file(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static json_t *
load_json(const char *buf, size_t len, const char *what, size_t flags,
          struct err *e)
{
	json_error_t jerr;
	json_t *j;

	j = json_loadb(buf, len, JSON_REJECT_DUPLICATES | flags, &jerr);
	if (j == NULL)
		err_set(e, "%s: line %d column %d: %s", what, jerr.line,
		        jerr.column, jerr.text);
	return j;
}

/* flags: extra jansson decoding flags (JSON_DECODE_INT_AS_REAL for
 * configs, whose model_max_length may be 1e30 written as an integer). */
static json_t *
load_json_file(const char *path, size_t flags, struct err *e)
{
	size_t len;
	char *buf;
	json_t *j;

	buf = read_file(path, TOK_MAX_FILE, &len, e);
	if (buf == NULL)
		return NULL;
	j = load_json(buf, len, path, flags, e);
	free(buf);
	return j;
}

/* A boolean member: absent or null gives def; anything else not boolean
 * is an error. */
static int
get_bool(json_t *obj, const char *key, bool def, bool *out, struct err *e)
{
	json_t *v = json_object_get(obj, key);

	if (v == NULL || json_is_null(v)) {
		*out = def;
		return 0;
	}
	if (!json_is_boolean(v))
		return err_set(e, "\"%s\" is not a boolean", key);
	*out = json_is_true(v);
	return 0;
}

/* The text of a special-token entry of a config: a string, an object with
 * "content", or null/absent (NULL). */
static const char *
token_content(json_t *v)
{
	if (json_is_string(v))
		return json_string_value(v);
	if (json_is_object(v) && json_is_string(json_object_get(v, "content")))
		return json_string_value(json_object_get(v, "content"));
	return NULL;
}

static void
spec_add_vocab(struct tok_spec *sp, const char *s, size_t len, int32_t id)
{
	if (sp->n_vocab == sp->cap_vocab) {
		sp->cap_vocab = sp->cap_vocab ? 2 * sp->cap_vocab : 1024;
		sp->vocab =
		    xreallocarray(sp->vocab, sp->cap_vocab, sizeof(*sp->vocab));
	}
	sp->vocab[sp->n_vocab].s = s;
	sp->vocab[sp->n_vocab].len = len;
	sp->vocab[sp->n_vocab].id = id;
	sp->n_vocab++;
}

static void
spec_add_merge(struct tok_spec *sp, const char *a, size_t alen, const char *b,
               size_t blen)
{
	if (sp->n_merges == sp->cap_merges) {
		sp->cap_merges = sp->cap_merges ? 2 * sp->cap_merges : 1024;
		sp->merges = xreallocarray(sp->merges, sp->cap_merges,
		                           sizeof(*sp->merges));
	}
	sp->merges[sp->n_merges].a = a;
	sp->merges[sp->n_merges].alen = alen;
	sp->merges[sp->n_merges].b = b;
	sp->merges[sp->n_merges].blen = blen;
	sp->n_merges++;
}

static struct tok_addspec *
spec_add_added(struct tok_spec *sp)
{
	struct tok_addspec *a;

	if (sp->n_added == sp->cap_added) {
		sp->cap_added = sp->cap_added ? 2 * sp->cap_added : 64;
		sp->added =
		    xreallocarray(sp->added, sp->cap_added, sizeof(*sp->added));
	}
	a = &sp->added[sp->n_added++];
	memset(a, 0, sizeof(*a));
	return a;
}

static void
spec_fini(struct tok_spec *sp)
{
	free(sp->vocab);
	free(sp->merges);
	free(sp->added);
	free(sp->eos);
	free(sp->bos);
	free(sp->pad);
}

/* ---- Regexes ---- */

/*
 * Rewrite an Oniguruma/Python pattern for PCRE2: \s becomes White_Space
 * ([...] outside a class, the bare list inside one) and \S its complement.
 * Returns a malloc'd pattern or NULL (e set).
 */
static char *
translate_re(const char *src, size_t len, struct err *e)
{
	struct buf b;
	size_t i;
	bool in_class = false;
	size_t class_start = 0;
	char *out;
	size_t n;

	buf_init(&b, 16 * len + 1024);
	for (i = 0; i < len; i++) {
		char c = src[i];
		int r = 0;

		if (c == '\\' && i + 1 < len) {
			char d = src[i + 1];

			i++;
			if (d == 's' && in_class)
				r = buf_append(&b, WHITE_SPACE,
				               strlen(WHITE_SPACE));
			else if (d == 's')
				r = buf_printf(&b, "[%s]", WHITE_SPACE);
			else if (d == 'S' && !in_class)
				r = buf_printf(&b, "[^%s]", WHITE_SPACE);
			else if (d == 'S') {
				buf_fini(&b);
				err_set(e,
				        "regex: \\S inside a character class "
				        "is not supported");
				return NULL;
			} else
				r = buf_printf(&b, "\\%c", d);
		} else if (c == '[' && !in_class) {
			in_class = true;
			class_start = i;
			r = buf_append(&b, &c, 1);
		} else if (c == '[' && in_class) {
			/* Only POSIX classes such as [:alpha:] nest. */
			const char *end = NULL;

			if (i + 1 < len && src[i + 1] == ':')
				end = memchr(src + i + 2, ']', len - i - 2);
			if (end == NULL || end[-1] != ':') {
				buf_fini(&b);
				err_set(e,
				        "regex: nested character classes are "
				        "not supported");
				return NULL;
			}
			r = buf_append(&b, src + i,
			               (size_t)(end - (src + i)) + 1);
			i = (size_t)(end - src);
		} else if (c == ']' && in_class &&
		           !(i == class_start + 1 ||
		             (i == class_start + 2 &&
		              src[class_start + 1] == '^'))) {
			in_class = false;
			r = buf_append(&b, &c, 1);
		} else {
			r = buf_append(&b, &c, 1);
		}
		if (r == -1) {
			err_set(e, "regex: too long");
			return NULL;
		}
	}
	if (b.data == NULL)
		return xstrdup("");
	out = buf_steal(&b, &n);
	return out;
}

/* Compile one pre-tokenizer stage from an Oniguruma-style pattern (or a
 * literal string when literal is true). */
static int
stage_add(struct tok *t, const char *pat, size_t len, bool literal,
          enum tok_split behavior, bool invert, struct err *e)
{
	struct tok_stage *st;
	char *p = NULL;
	int errcode;
	PCRE2_SIZE erroff;
	uint32_t opts = PCRE2_UTF | PCRE2_UCP;

	if (t->n_stages == TOK_MAX_STAGES)
		return err_set(e, "pre_tokenizer: more than %d stages",
		               TOK_MAX_STAGES);
	if (len == 0)
		return err_set(e, "pre_tokenizer: empty split pattern");
	if (literal) {
		opts = PCRE2_UTF | PCRE2_LITERAL;
	} else {
		p = translate_re(pat, len, e);
		if (p == NULL)
			return -1;
		pat = p;
		len = strlen(p);
	}
	if (!tok_nfc_utf8_valid(pat, len)) {
		free(p);
		return err_set(e, "pre_tokenizer: pattern is not valid UTF-8");
	}
	st = &t->stages[t->n_stages];
	st->re =
	    pcre2_compile((PCRE2_SPTR)pat, len, opts, &errcode, &erroff, NULL);
	free(p);
	if (st->re == NULL) {
		PCRE2_UCHAR msg[256];

		pcre2_get_error_message(errcode, msg, sizeof(msg));
		return err_set(e, "pre_tokenizer: regex at offset %zu: %s",
		               (size_t)erroff, (char *)msg);
	}
	/* The interpreter is the fallback when JIT is unavailable. */
	(void)pcre2_jit_compile(st->re, PCRE2_JIT_COMPLETE);
	st->behavior = behavior;
	st->invert = invert;
	t->n_stages++;
	return 0;
}

/* ---- tokenizer.json ---- */

static int
parse_normalizer(struct tok *t, json_t *n, struct err *e)
{
	const char *type;
	json_t *v;
	size_t i;

	if (n == NULL || json_is_null(n))
		return 0;
	type = json_string_value(json_object_get(n, "type"));
	if (type == NULL)
		return err_set(e, "normalizer: no type");
	if (strcmp(type, "NFC") == 0) {
		t->nfc = true;
		return 0;
	}
	if (strcmp(type, "Sequence") == 0) {
		json_array_foreach(json_object_get(n, "normalizers"), i, v)
		{
			if (parse_normalizer(t, v, e) == -1)
				return -1;
		}
		return 0;
	}
	return err_set(e, "normalizer: type %s is not supported", type);
}

static int
parse_pretok(struct tok *t, json_t *p, bool *bytelevel, struct err *e)
{
	const char *type;
	json_t *v;
	size_t i;

	type = json_string_value(json_object_get(p, "type"));
	if (type == NULL)
		return err_set(e, "pre_tokenizer: no type");
	if (strcmp(type, "Sequence") == 0) {
		json_t *list = json_object_get(p, "pretokenizers");

		if (!json_is_array(list))
			return err_set(e, "pre_tokenizer: Sequence without "
			                  "pretokenizers");
		json_array_foreach(list, i, v)
		{
			if (parse_pretok(t, v, bytelevel, e) == -1)
				return -1;
		}
		return 0;
	}
	if (strcmp(type, "ByteLevel") == 0) {
		bool prefix = false, use_regex = true;

		if (get_bool(p, "add_prefix_space", true, &prefix, e) == -1 ||
		    get_bool(p, "use_regex", true, &use_regex, e) == -1)
			return err_prefix(e, "pre_tokenizer ByteLevel");
		if (prefix)
			return err_set(e, "pre_tokenizer ByteLevel: "
			                  "add_prefix_space is not supported");
		if (*bytelevel)
			return err_set(e,
			               "pre_tokenizer: two ByteLevel stages");
		*bytelevel = true;
		if (use_regex)
			return stage_add(t, RE_GPT2, strlen(RE_GPT2), false,
			                 TOK_SPLIT_ISOLATED, false, e);
		return 0;
	}
	if (strcmp(type, "Split") == 0) {
		json_t *pat = json_object_get(p, "pattern");
		const char *beh =
		    json_string_value(json_object_get(p, "behavior"));
		enum tok_split behavior;
		bool invert = false, literal = false;
		json_t *s;

		if (*bytelevel)
			return err_set(e,
			               "pre_tokenizer: Split after ByteLevel "
			               "is not supported");
		if (get_bool(p, "invert", false, &invert, e) == -1)
			return err_prefix(e, "pre_tokenizer Split");
		if (beh == NULL)
			return err_set(e, "pre_tokenizer Split: no behavior");
		if (strcmp(beh, "Isolated") == 0)
			behavior = TOK_SPLIT_ISOLATED;
		else if (strcmp(beh, "Removed") == 0)
			behavior = TOK_SPLIT_REMOVED;
		else
			return err_set(e,
			               "pre_tokenizer Split: behavior %s is "
			               "not supported",
			               beh);
		if ((s = json_object_get(pat, "Regex")) != NULL)
			literal = false;
		else if ((s = json_object_get(pat, "String")) != NULL)
			literal = true;
		if (s == NULL || !json_is_string(s))
			return err_set(e,
			               "pre_tokenizer Split: pattern is not "
			               "{\"Regex\": ...} or {\"String\": ...}");
		return stage_add(t, json_string_value(s), json_string_length(s),
		                 literal, behavior, invert, e);
	}
	return err_set(e, "pre_tokenizer: type %s is not supported", type);
}

static int
parse_model(struct tok_spec *sp, struct tok *t, json_t *m, struct err *e)
{
	const char *type, *key;
	json_t *v, *merges;
	size_t i, keylen;
	bool b = false;

	type = json_string_value(json_object_get(m, "type"));
	if (type != NULL && strcmp(type, "BPE") != 0)
		return err_set(e, "model: type %s is not supported", type);
	v = json_object_get(m, "dropout");
	if (v != NULL && !json_is_null(v))
		return err_set(e, "model: dropout is not supported");
	if (get_bool(m, "byte_fallback", false, &b, e) == -1)
		return err_prefix(e, "model");
	if (b)
		return err_set(e, "model: byte_fallback is not supported");
	if (get_bool(m, "fuse_unk", false, &t->fuse_unk, e) == -1 ||
	    get_bool(m, "ignore_merges", false, &t->ignore_merges, e) == -1)
		return err_prefix(e, "model");
	v = json_object_get(m, "continuing_subword_prefix");
	if (v != NULL && !json_is_null(v) &&
	    !(json_is_string(v) && json_string_length(v) == 0))
		return err_set(e, "model: continuing_subword_prefix is not "
		                  "supported");
	v = json_object_get(m, "end_of_word_suffix");
	if (v != NULL && !json_is_null(v) &&
	    !(json_is_string(v) && json_string_length(v) == 0))
		return err_set(e, "model: end_of_word_suffix is not supported");
	v = json_object_get(m, "unk_token");
	if (json_is_string(v))
		sp->unk = json_string_value(v);
	else if (v != NULL && !json_is_null(v))
		return err_set(e, "model: unk_token is not a string");

	v = json_object_get(m, "vocab");
	if (!json_is_object(v))
		return err_set(e, "model: no vocab object");
	if (json_object_size(v) > TOK_MAX_VOCAB)
		return err_set(e, "model: vocab has more than %d entries",
		               TOK_MAX_VOCAB);
	{
		json_t *idv;

		json_object_keylen_foreach(v, key, keylen, idv)
		{
			json_int_t id;

			if (!json_is_integer(idv))
				return err_set(e,
				               "model: vocab id of \"%.40s\" "
				               "is not an integer",
				               key);
			id = json_integer_value(idv);
			if (id < 0 || id >= TOK_MAX_VOCAB)
				return err_set(e,
				               "model: vocab id %lld out of "
				               "range",
				               (long long)id);
			spec_add_vocab(sp, key, keylen, (int32_t)id);
		}
	}

	merges = json_object_get(m, "merges");
	if (merges == NULL)
		return 0;
	if (!json_is_array(merges))
		return err_set(e, "model: merges is not an array");
	if (json_array_size(merges) > TOK_MAX_MERGES)
		return err_set(e, "model: more than %d merges", TOK_MAX_MERGES);
	json_array_foreach(merges, i, v)
	{
		if (json_is_string(v)) {
			const char *s = json_string_value(v);
			size_t len = json_string_length(v);
			const char *sp1 = memchr(s, ' ', len);

			if (sp1 == NULL ||
			    memchr(sp1 + 1, ' ', len - (size_t)(sp1 + 1 - s)))
				return err_set(e,
				               "model: merge %zu is not two "
				               "tokens separated by a space",
				               i);
			spec_add_merge(sp, s, (size_t)(sp1 - s), sp1 + 1,
			               len - (size_t)(sp1 + 1 - s));
		} else if (json_is_array(v) && json_array_size(v) == 2 &&
		           json_is_string(json_array_get(v, 0)) &&
		           json_is_string(json_array_get(v, 1))) {
			json_t *a = json_array_get(v, 0),
			       *bb = json_array_get(v, 1);

			spec_add_merge(
			    sp, json_string_value(a), json_string_length(a),
			    json_string_value(bb), json_string_length(bb));
		} else {
			return err_set(e,
			               "model: merge %zu is neither \"a b\" "
			               "nor [\"a\", \"b\"]",
			               i);
		}
	}
	return 0;
}

static int
parse_added(struct tok_spec *sp, json_t *list, struct err *e)
{
	json_t *v;
	size_t i;

	if (list == NULL || json_is_null(list))
		return 0;
	if (!json_is_array(list))
		return err_set(e, "added_tokens is not an array");
	if (json_array_size(list) > TOK_MAX_ADDED)
		return err_set(e, "more than %d added tokens", TOK_MAX_ADDED);
	json_array_foreach(list, i, v)
	{
		json_t *c = json_object_get(v, "content");
		json_t *id = json_object_get(v, "id");
		bool lstrip = false, rstrip = false, single = false;
		struct tok_addspec *a;

		if (!json_is_string(c) || !json_is_integer(id))
			return err_set(e, "added token %zu: no content or id",
			               i);
		if (json_integer_value(id) < 0 ||
		    json_integer_value(id) >= TOK_MAX_VOCAB)
			return err_set(e, "added token %zu: id out of range",
			               i);
		a = spec_add_added(sp);
		a->content = json_string_value(c);
		a->len = json_string_length(c);
		a->id = (int32_t)json_integer_value(id);
		if (get_bool(v, "special", false, &a->special, e) == -1 ||
		    get_bool(v, "normalized", true, &a->normalized, e) == -1 ||
		    get_bool(v, "lstrip", false, &lstrip, e) == -1 ||
		    get_bool(v, "rstrip", false, &rstrip, e) == -1 ||
		    get_bool(v, "single_word", false, &single, e) == -1)
			return err_prefix(e, "added token %zu", i);
		if (lstrip || rstrip || single)
			return err_set(e,
			               "added token %zu: lstrip, rstrip and "
			               "single_word are not supported",
			               i);
	}
	return 0;
}

/* Fill t and sp from a parsed tokenizer.json. */
static int
parse_tokenizer_json(struct tok_spec *sp, struct tok *t, json_t *root,
                     struct err *e)
{
	json_t *v;
	bool bytelevel = false;
	const char *type;

	if (!json_is_object(root))
		return err_set(e, "tokenizer.json is not an object");
	if (!json_is_object(json_object_get(root, "model")))
		return err_set(e, "tokenizer.json has no model");
	if (parse_model(sp, t, json_object_get(root, "model"), e) == -1 ||
	    parse_added(sp, json_object_get(root, "added_tokens"), e) == -1 ||
	    parse_normalizer(t, json_object_get(root, "normalizer"), e) == -1)
		return -1;
	v = json_object_get(root, "pre_tokenizer");
	if (v != NULL && !json_is_null(v) &&
	    parse_pretok(t, v, &bytelevel, e) == -1)
		return -1;
	if (!bytelevel)
		return err_set(e, "pre_tokenizer: no ByteLevel stage (only "
		                  "byte-level BPE is supported)");
	v = json_object_get(root, "decoder");
	type = json_string_value(json_object_get(v, "type"));
	if (type == NULL || strcmp(type, "ByteLevel") != 0)
		return err_set(e, "decoder: only ByteLevel is supported");
	return 0;
}

/* ---- Slow-tokenizer files ---- */

static int
parse_vocab_json(struct tok_spec *sp, json_t *v, struct err *e)
{
	const char *key;
	size_t keylen;
	json_t *idv;

	if (!json_is_object(v))
		return err_set(e, "vocab.json is not an object");
	if (json_object_size(v) > TOK_MAX_VOCAB)
		return err_set(e, "vocab.json: more than %d entries",
		               TOK_MAX_VOCAB);
	json_object_keylen_foreach(v, key, keylen, idv)
	{
		json_int_t id;

		if (!json_is_integer(idv))
			return err_set(e,
			               "vocab.json: id of \"%.40s\" is not "
			               "an integer",
			               key);
		id = json_integer_value(idv);
		if (id < 0 || id >= TOK_MAX_VOCAB)
			return err_set(e, "vocab.json: id %lld out of range",
			               (long long)id);
		spec_add_vocab(sp, key, keylen, (int32_t)id);
	}
	return 0;
}

/* Parse merges.txt in place (the buffer outlives the spec).  Like
 * transformers: a first line "#version..." and blank lines are skipped, and
 * each other line is two tokens separated by white space. */
static int
parse_merges_txt(struct tok_spec *sp, char *buf, size_t len, struct err *e)
{
	size_t line = 0;
	char *p = buf, *end = buf + len;

	while (p < end) {
		char *nl = memchr(p, '\n', (size_t)(end - p));
		char *le = nl != NULL ? nl : end;
		char *a, *b, *q;

		line++;
		while (le > p &&
		       (le[-1] == '\r' || le[-1] == ' ' || le[-1] == '\t'))
			le--;
		while (p < le && (*p == ' ' || *p == '\t'))
			p++;
		if (p == le || (line == 1 && le - p >= 9 &&
		                memcmp(p, "#version:", 9) == 0)) {
			p = nl != NULL ? nl + 1 : end;
			continue;
		}
		if (sp->n_merges >= TOK_MAX_MERGES)
			return err_set(e, "merges.txt: more than %d merges",
			               TOK_MAX_MERGES);
		a = p;
		for (q = a; q < le && *q != ' ' && *q != '\t'; q++)
			;
		b = q;
		while (b < le && (*b == ' ' || *b == '\t'))
			b++;
		if (b == le || memchr(b, ' ', (size_t)(le - b)) != NULL ||
		    memchr(b, '\t', (size_t)(le - b)) != NULL)
			return err_set(e,
			               "merges.txt: line %zu is not two "
			               "tokens",
			               line);
		*q = '\0';
		*le = '\0';
		spec_add_merge(sp, a, (size_t)(q - a), b, (size_t)(le - b));
		p = nl != NULL ? nl + 1 : end;
	}
	return 0;
}

static bool
in_list(const char *s, const char **list, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (list[i] != NULL && strcmp(list[i], s) == 0)
			return true;
	}
	return false;
}

/* The special-token configuration of a directory: tokenizer_config.json
 * first, special_tokens_map.json for what it lacks. */
struct dircfg {
	json_t *config; /* tokenizer_config.json or NULL */
	json_t *stmap;  /* special_tokens_map.json or NULL */
};

static json_t *
cfg_get(const struct dircfg *c, const char *key)
{
	json_t *v = json_object_get(c->config, key);

	if (v != NULL)
		return v;
	return json_object_get(c->stmap, key);
}

/* Read eos/bos/pad names and the clean-up flag from the directory. */
static int
apply_dircfg(struct tok_spec *sp, struct tok *t, const struct dircfg *c,
             struct err *e)
{
	static const char *keys[3] = {"eos_token", "bos_token", "pad_token"};
	char **dst[3] = {&sp->eos, &sp->bos, &sp->pad};
	bool *set[3] = {&sp->eos_set, &sp->bos_set, &sp->pad_set};
	int i;

	for (i = 0; i < 3; i++) {
		json_t *v = cfg_get(c, keys[i]);
		const char *s = token_content(v);

		if (v == NULL)
			continue;
		*set[i] = true;
		if (s != NULL)
			*dst[i] = xstrdup(s);
	}
	if (get_bool(c->config, "clean_up_tokenization_spaces", false,
	             &t->cleanup, e) == -1)
		return err_prefix(e, "tokenizer_config.json");
	return 0;
}

/*
 * Collect the added tokens of a slow tokenizer: tokenizer_config.json's
 * added_tokens_decoder, then added_tokens.json, and mark which ones
 * transformers decodes as separate sub-texts ("legacy" added tokens: not
 * among the special tokens, or an additional special token past the
 * vocabulary).
 */
static int
slow_added(struct tok_spec *sp, const struct dircfg *c, json_t *added_json,
           size_t n_vocab_json, struct err *e)
{
	const char *special[16];
	size_t n_special = 0, i, n_extra = 0;
	const char **extra = NULL;
	static const char *keys[] = {"bos_token", "eos_token", "unk_token",
	                             "sep_token", "pad_token", "cls_token",
	                             "mask_token"};
	json_t *dec, *v, *list;
	const char *key;

	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		special[n_special++] = token_content(cfg_get(c, keys[i]));
	list = cfg_get(c, "additional_special_tokens");
	if (json_is_array(list)) {
		extra = xreallocarray(NULL, json_array_size(list) + 1,
		                      sizeof(*extra));
		json_array_foreach(list, i, v)
		{
			extra[n_extra++] = token_content(v);
		}
	}

	dec = json_object_get(c->config, "added_tokens_decoder");
	if (dec != NULL && !json_is_object(dec)) {
		free(extra);
		return err_set(e, "tokenizer_config.json: added_tokens_decoder "
		                  "is not an object");
	}
	json_object_foreach(dec, key, v)
	{
		long long id;
		const char *errstr;
		json_t *cont = json_object_get(v, "content");
		bool lstrip = false, rstrip = false, single = false;
		struct tok_addspec *a;

		if (str_to_ll(key, 0, TOK_MAX_VOCAB - 1, &id, &errstr) == -1 ||
		    !json_is_string(cont)) {
			free(extra);
			return err_set(e,
			               "tokenizer_config.json: bad "
			               "added_tokens_decoder entry \"%.40s\"",
			               key);
		}
		if (sp->n_added >= TOK_MAX_ADDED) {
			free(extra);
			return err_set(e, "more than %d added tokens",
			               TOK_MAX_ADDED);
		}
		a = spec_add_added(sp);
		a->content = json_string_value(cont);
		a->len = json_string_length(cont);
		a->id = (int32_t)id;
		if (get_bool(v, "special", false, &a->special, e) == -1 ||
		    get_bool(v, "lstrip", false, &lstrip, e) == -1 ||
		    get_bool(v, "rstrip", false, &rstrip, e) == -1 ||
		    get_bool(v, "single_word", false, &single, e) == -1) {
			free(extra);
			return err_prefix(e,
			                  "tokenizer_config.json: added "
			                  "token %lld",
			                  id);
		}
		if (lstrip || rstrip || single) {
			free(extra);
			return err_set(e,
			               "added token %lld: lstrip, rstrip and "
			               "single_word are not supported",
			               id);
		}
	}
	if (added_json != NULL) {
		if (!json_is_object(added_json)) {
			free(extra);
			return err_set(e, "added_tokens.json is not an object");
		}
		json_object_foreach(added_json, key, v)
		{
			struct tok_addspec *a;
			size_t k;
			bool known = false;

			if (!json_is_integer(v) || json_integer_value(v) < 0 ||
			    json_integer_value(v) >= TOK_MAX_VOCAB) {
				free(extra);
				return err_set(e,
				               "added_tokens.json: bad id "
				               "of \"%.40s\"",
				               key);
			}
			for (k = 0; k < sp->n_added; k++) {
				if (sp->added[k].id == json_integer_value(v))
					known = true;
			}
			if (known)
				continue;
			if (sp->n_added >= TOK_MAX_ADDED) {
				free(extra);
				return err_set(e, "more than %d added tokens",
				               TOK_MAX_ADDED);
			}
			a = spec_add_added(sp);
			a->content = key;
			a->len = strlen(key);
			a->id = (int32_t)json_integer_value(v);
			a->special = in_list(key, special, n_special) ||
			             in_list(key, extra, n_extra);
		}
	}
	for (i = 0; i < sp->n_added; i++) {
		struct tok_addspec *a = &sp->added[i];
		bool is_special = in_list(a->content, special, n_special) ||
		                  in_list(a->content, extra, n_extra);

		a->normalized = false;
		a->legacy =
		    !is_special || (in_list(a->content, extra, n_extra) &&
		                    (size_t)a->id >= n_vocab_json);
	}
	free(extra);
	return 0;
}

/* ---- Opening ---- */

/* Load a parsed tokenizer.json; cfg (may be NULL) is a directory's config. */
static struct tok *
open_json_tree(json_t *root, const struct dircfg *cfg, struct err *e)
{
	struct tok_spec sp;
	struct tok *t = tok_alloc();

	memset(&sp, 0, sizeof(sp));
	if (parse_tokenizer_json(&sp, t, root, e) == -1)
		goto fail;
	if (cfg != NULL && apply_dircfg(&sp, t, cfg, e) == -1)
		goto fail;
	if (tok_build(t, &sp, false, e) == -1)
		goto fail;
	spec_fini(&sp);
	return t;
fail:
	spec_fini(&sp);
	tok_close(t);
	return NULL;
}

struct tok *
tok_open_json(const void *data, size_t len, struct err *e)
{
	json_t *root;
	struct tok *t;

	if (len > TOK_MAX_FILE) {
		err_set(e, "tokenizer.json: larger than %u bytes",
		        TOK_MAX_FILE);
		return NULL;
	}
	root = load_json(data, len, "tokenizer.json", 0, e);
	if (root == NULL)
		return NULL;
	t = open_json_tree(root, NULL, e);
	json_decref(root);
	return t;
}

static char *
join(const char *dir, const char *name)
{
	size_t n = strlen(dir) + strlen(name) + 2;
	char *p = xmalloc(n);

	snprintf(p, n, "%s/%s", dir, name);
	return p;
}

/* Load an optional JSON file of dir: *out is NULL when it is absent. */
static int
load_optional(const char *dir, const char *name, size_t flags, json_t **out,
              struct err *e)
{
	char *path = join(dir, name);

	*out = NULL;
	if (is_file(path)) {
		*out = load_json_file(path, flags, e);
		if (*out == NULL) {
			free(path);
			return -1;
		}
	}
	free(path);
	return 0;
}

/* A checkpoint directory without tokenizer.json: the slow files. */
static struct tok *
open_slow(const char *dir, const struct dircfg *cfg, struct err *e)
{
	struct tok_spec sp;
	struct tok *t = tok_alloc();
	json_t *vocab = NULL, *added = NULL;
	char *path, *merges = NULL;
	const char *cls;
	size_t len;

	memset(&sp, 0, sizeof(sp));
	path = join(dir, "vocab.json");
	vocab = load_json_file(path, 0, e);
	free(path);
	if (vocab == NULL || parse_vocab_json(&sp, vocab, e) == -1)
		goto fail;
	path = join(dir, "merges.txt");
	merges = read_file(path, TOK_MAX_FILE, &len, e);
	free(path);
	if (merges == NULL || parse_merges_txt(&sp, merges, len, e) == -1)
		goto fail;
	if (load_optional(dir, "added_tokens.json", 0, &added, e) == -1 ||
	    slow_added(&sp, cfg, added, sp.n_vocab, e) == -1 ||
	    apply_dircfg(&sp, t, cfg, e) == -1)
		goto fail;

	/* The class decides the regex, the normalizer and the decoding. */
	cls =
	    json_string_value(json_object_get(cfg->config, "tokenizer_class"));
	if (cls == NULL)
		cls = "GPT2Tokenizer";
	if (strncmp(cls, "Qwen2Tokenizer", 14) == 0) {
		t->nfc_first = true;
		t->slow_decode = true;
		t->spaces_between = false;
		if (stage_add(t, RE_QWEN2, strlen(RE_QWEN2), false,
		              TOK_SPLIT_ISOLATED, false, e) == -1)
			goto fail;
	} else if (strncmp(cls, "GPT2Tokenizer", 13) == 0 ||
	           strncmp(cls, "GPTNeoXTokenizer", 16) == 0) {
		t->slow_decode = true;
		t->spaces_between = true;
		if (stage_add(t, RE_GPT2, strlen(RE_GPT2), false,
		              TOK_SPLIT_ISOLATED, false, e) == -1)
			goto fail;
	} else {
		err_set(e,
		        "%s: tokenizer_class %s is not supported without "
		        "tokenizer.json",
		        dir, cls);
		goto fail;
	}
	if (tok_build(t, &sp, true, e) == -1)
		goto fail;
	spec_fini(&sp);
	json_decref(vocab);
	json_decref(added);
	free(merges);
	return t;
fail:
	spec_fini(&sp);
	json_decref(vocab);
	json_decref(added);
	free(merges);
	tok_close(t);
	return NULL;
}

static struct tok *
open_dir(const char *dir, struct err *e)
{
	struct dircfg cfg = {NULL, NULL};
	struct tok *t = NULL;
	char *path;

	if (load_optional(dir, "tokenizer_config.json", JSON_DECODE_INT_AS_REAL,
	                  &cfg.config, e) == -1 ||
	    load_optional(dir, "special_tokens_map.json",
	                  JSON_DECODE_INT_AS_REAL, &cfg.stmap, e) == -1)
		goto out;
	path = join(dir, "tokenizer.json");
	if (is_file(path)) {
		json_t *root = load_json_file(path, 0, e);

		if (root != NULL) {
			t = open_json_tree(root, &cfg, e);
			json_decref(root);
			if (t == NULL)
				err_prefix(e, "%s", path);
		}
		free(path);
		goto out;
	}
	free(path);
	t = open_slow(dir, &cfg, e);
out:
	json_decref(cfg.config);
	json_decref(cfg.stmap);
	return t;
}

struct tok *
tok_open(const char *path, struct err *e)
{
	struct stat st;
	json_t *root;
	struct tok *t;

	if (stat(path, &st) == -1) {
		err_set(e, "%s: %s", path, strerror(errno));
		return NULL;
	}
	if (S_ISDIR(st.st_mode))
		return open_dir(path, e);
	root = load_json_file(path, 0, e);
	if (root == NULL)
		return NULL;
	t = open_json_tree(root, NULL, e);
	json_decref(root);
	if (t == NULL)
		err_prefix(e, "%s", path);
	return t;
}
