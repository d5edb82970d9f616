/* SPDX-License-Identifier: ISC */
/*
 * answer.c: the model's answer text -> points (grammar and mapping in
 * answer.h).
 *
 * Design: one left-to-right scan.  Each '<' that starts a point tag is
 * handed to parse_tag(), which reads the attributes into a struct attrs
 * (x/y values indexed by their number, alt, coords), finds the closing tag,
 * and appends the tag's points; any other '<' is text.  Numbers are parsed
 * by hand (digits, optional '.' and digits), never by strtod, so the
 * accepted grammar is exactly what the models emit and the locale cannot
 * change it.  On any error everything built so far is freed and the caller
 * gets an empty struct answer.
 */
#include "config.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "model/answer.h"
#include "util/xmalloc.h"

/* Largest image side accepted (pixels). */
#define ANSWER_SIDE_MAX 1000000

/* Answers that mean "nothing found", normalised: lower case, no
 * surrounding space, no final period. */
static const char *const none_sentences[] = {
    "there are none",
    "there is none",
    "none",
    "this isn't in the image",
    "this is not in the image",
    "this isn\xe2\x80\x99t in the image", /* U+2019 apostrophe */
    "it isn't in the image",
    "it is not in the image",
    "not in the image",
};

struct parser {
	const char *text;
	size_t len;
	const struct answer_image *imgs;
	int n_imgs;
	struct answer *a;
	size_t cap_pts, cap_tags;
	struct err *e;
};

/* The attributes of one tag.  x/y index 0 is the plain "x"/"y". */
struct attrs {
	double *xs, *ys; /* [ANSWER_MAX_POINTS + 1] */
	bool *has_x, *has_y;
	size_t *x_at, *y_at; /* byte offsets of the values, for messages */
	bool any_xy, plain_xy, indexed_xy;
	const char *alt, *coords;
	size_t alt_len, coords_len, coords_at;
};

static bool
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' ||
	       c == '\v';
}

static bool
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* ---- Output ---- */

static void
add_point(struct parser *ps, double rx, double ry, double scale, int image,
          int id)
{
	struct answer *a = ps->a;
	const struct answer_image *im = &ps->imgs[image - 1];
	struct answer_point *p;
	long v;

	if (a->n == ps->cap_pts) {
		ps->cap_pts = ps->cap_pts == 0 ? 8 : ps->cap_pts * 2;
		a->pts = xreallocarray(a->pts, ps->cap_pts, sizeof(*a->pts));
	}
	p = &a->pts[a->n++];
	p->raw_x = rx;
	p->raw_y = ry;
	/* §8.3: fraction of the original image, no half-pixel offset. */
	p->x = rx / scale * im->w;
	p->y = ry / scale * im->h;
	v = lround(p->x);
	p->px = v < 0 ? 0 : v > im->w - 1 ? im->w - 1 : (int)v;
	v = lround(p->y);
	p->py = v < 0 ? 0 : v > im->h - 1 ? im->h - 1 : (int)v;
	p->image = image;
	p->id = id;
	p->tag = a->n_tags - 1;
}

/* Append a UTF-8 encoding of code point c to d (room for 4 bytes). */
static size_t
put_utf8(char *d, uint32_t c)
{
	if (c < 0x80) {
		d[0] = (char)c;
		return 1;
	}
	if (c < 0x800) {
		d[0] = (char)(0xc0 | c >> 6);
		d[1] = (char)(0x80 | (c & 0x3f));
		return 2;
	}
	if (c < 0x10000) {
		d[0] = (char)(0xe0 | c >> 12);
		d[1] = (char)(0x80 | (c >> 6 & 0x3f));
		d[2] = (char)(0x80 | (c & 0x3f));
		return 3;
	}
	d[0] = (char)(0xf0 | c >> 18);
	d[1] = (char)(0x80 | (c >> 12 & 0x3f));
	d[2] = (char)(0x80 | (c >> 6 & 0x3f));
	d[3] = (char)(0x80 | (c & 0x3f));
	return 4;
}

/* Decode one character reference at s (s[0] == '&', n bytes left) into d;
 * returns the bytes consumed, or 0 if it is not one we decode. */
static size_t
entity(const char *s, size_t n, char *d, size_t *dn)
{
	static const struct {
		const char *name;
		char c;
	} named[] = {{"&amp;", '&'},
	             {"&lt;", '<'},
	             {"&gt;", '>'},
	             {"&quot;", '"'},
	             {"&apos;", '\''}};
	uint32_t c = 0;
	size_t i, k;
	int base = 10, digits = 0;

	for (i = 0; i < sizeof(named) / sizeof(named[0]); i++) {
		k = strlen(named[i].name);
		if (n >= k && memcmp(s, named[i].name, k) == 0) {
			d[0] = named[i].c;
			*dn = 1;
			return k;
		}
	}
	if (n < 4 || s[1] != '#')
		return 0;
	i = 2;
	if (s[i] == 'x' || s[i] == 'X') {
		base = 16;
		i++;
	}
	for (; i < n && digits < 8; i++, digits++) {
		char ch = s[i];
		int v;

		if (is_digit(ch))
			v = ch - '0';
		else if (base == 16 && ch >= 'a' && ch <= 'f')
			v = ch - 'a' + 10;
		else if (base == 16 && ch >= 'A' && ch <= 'F')
			v = ch - 'A' + 10;
		else
			break;
		c = c * (uint32_t)base + (uint32_t)v;
	}
	if (digits == 0 || i >= n || s[i] != ';' || c == 0 || c > 0x10ffff ||
	    (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*dn = put_utf8(d, c);
	return i + 1;
}

/* A malloc'd copy of s[0..n) with character references decoded and, if
 * trim, surrounding white space removed. */
static char *
decode(const char *s, size_t n, bool trim)
{
	char *d = xmalloc(n + 1);
	size_t i = 0, o = 0, used, dn;

	if (trim) {
		while (n > 0 && is_space(s[0])) {
			s++;
			n--;
		}
		while (n > 0 && is_space(s[n - 1]))
			n--;
	}
	while (i < n) {
		/* A reference never expands: "&#x10000;" is 9 bytes for 4. */
		if (s[i] == '&') {
			used = entity(s + i, n - i, d + o, &dn);
			if (used > 0) {
				i += used;
				o += dn;
				continue;
			}
		}
		d[o++] = s[i++];
	}
	d[o] = '\0';
	return d;
}

/*
 * Copy at most n - 1 bytes of s[0..len) into buf for an error message:
 * printable ASCII kept, anything else (newlines, UTF-8 bytes that could be
 * cut mid-character) as '?', so the message stays one valid line.
 */
static const char *
snip(char *buf, size_t n, const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len && i + 1 < n; i++)
		buf[i] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
	buf[i] = '\0';
	return buf;
}

/* ---- Numbers ---- */

/*
 * Parse s[0..n) as digits with an optional fraction ("61.5", "040"),
 * allowing surrounding spaces (Ai2's regex does).  The value is the integer
 * of all digits divided by a power of ten: both exact in a double, so the
 * one division rounds correctly.  Returns 0 or -1.
 */
static int
decimal(const char *s, size_t n, double *out)
{
	uint64_t m = 0;
	size_t i = 0;
	int digits = 0, frac = -1;
	double p10 = 1;

	while (i < n && is_space(s[i]))
		i++;
	while (n > i && is_space(s[n - 1]))
		n--;
	for (; i < n; i++) {
		if (is_digit(s[i])) {
			if (++digits > 15)
				return -1;
			m = m * 10 + (uint64_t)(s[i] - '0');
			if (frac >= 0)
				frac++;
		} else if (s[i] == '.' && frac < 0 && digits > 0) {
			frac = 0;
		} else {
			return -1;
		}
	}
	if (digits == 0 || frac == 0)
		return -1;
	for (; frac > 0; frac--)
		p10 *= 10;
	*out = (double)m / p10;
	return 0;
}

/* ---- Tags ---- */

/* Does text at i start a point tag name ("point" or "points" + delim)?
 * Sets *name_len. */
static bool
tag_name_at(const struct parser *ps, size_t i, size_t *name_len)
{
	const char *t = ps->text;
	size_t k;

	if (ps->len - i < 5 || memcmp(t + i, "point", 5) != 0)
		return false;
	k = 5;
	if (i + k < ps->len && t[i + k] == 's')
		k++;
	if (i + k < ps->len && !is_space(t[i + k]) && t[i + k] != '>' &&
	    t[i + k] != '/')
		return false;
	*name_len = k;
	return true;
}

/* The next "<point" tag opening at or after i, or len. */
static size_t
next_open(const struct parser *ps, size_t i)
{
	const char *p;
	size_t k;

	for (;;) {
		p = memchr(ps->text + i, '<', ps->len - i);
		if (p == NULL)
			return ps->len;
		i = (size_t)(p - ps->text);
		if (tag_name_at(ps, i + 1, &k))
			return i;
		i++;
	}
}

/* The next closing tag (</point> or </points>) at or after i, or len. */
static size_t
next_close(const struct parser *ps, size_t i, size_t *close_len)
{
	const char *p;

	for (;;) {
		p = memchr(ps->text + i, '<', ps->len - i);
		if (p == NULL)
			return ps->len;
		i = (size_t)(p - ps->text);
		if (ps->len - i >= 8 && memcmp(p, "</point>", 8) == 0) {
			*close_len = 8;
			return i;
		}
		if (ps->len - i >= 9 && memcmp(p, "</points>", 9) == 0) {
			*close_len = 9;
			return i;
		}
		i++;
	}
}

static void
attrs_init(struct attrs *at)
{
	memset(at, 0, sizeof(*at));
	at->xs = xcalloc(ANSWER_MAX_POINTS + 1, sizeof(*at->xs));
	at->ys = xcalloc(ANSWER_MAX_POINTS + 1, sizeof(*at->ys));
	at->has_x = xcalloc(ANSWER_MAX_POINTS + 1, sizeof(*at->has_x));
	at->has_y = xcalloc(ANSWER_MAX_POINTS + 1, sizeof(*at->has_y));
	at->x_at = xcalloc(ANSWER_MAX_POINTS + 1, sizeof(*at->x_at));
	at->y_at = xcalloc(ANSWER_MAX_POINTS + 1, sizeof(*at->y_at));
}

static void
attrs_fini(struct attrs *at)
{
	free(at->xs);
	free(at->ys);
	free(at->has_x);
	free(at->has_y);
	free(at->x_at);
	free(at->y_at);
}

/* Record attribute name[0..nl) = value v[0..vl) found at byte vat. */
static int
set_attr(struct parser *ps, struct attrs *at, const char *name, size_t nl,
         const char *v, size_t vl, size_t vat)
{
	long idx = 0;
	size_t i;
	double d;
	bool isx;
	char sv[25];

	if (nl == 3 && memcmp(name, "alt", 3) == 0) {
		if (at->alt != NULL)
			return err_set(ps->e, "answer: byte %zu: alt repeated",
			               vat);
		at->alt = v;
		at->alt_len = vl;
		return 0;
	}
	if (nl == 6 && memcmp(name, "coords", 6) == 0) {
		if (at->coords != NULL)
			return err_set(ps->e,
			               "answer: byte %zu: coords "
			               "repeated",
			               vat);
		at->coords = v;
		at->coords_len = vl;
		at->coords_at = vat;
		return 0;
	}
	if (name[0] != 'x' && name[0] != 'y')
		return 0; /* other attributes carry nothing we use */
	for (i = 1; i < nl; i++) {
		if (!is_digit(name[i]) || (i == 1 && name[i] == '0'))
			return 0; /* "xmin" and the like: not ours */
		idx = idx * 10 + (name[i] - '0');
		if (idx > ANSWER_MAX_POINTS)
			return err_set(ps->e,
			               "answer: byte %zu: more than %d "
			               "points",
			               vat, ANSWER_MAX_POINTS);
	}
	isx = name[0] == 'x';
	if ((isx ? at->has_x : at->has_y)[idx])
		return err_set(ps->e, "answer: byte %zu: %.*s repeated", vat,
		               (int)nl, name);
	if (decimal(v, vl, &d) == -1)
		return err_set(ps->e,
		               "answer: byte %zu: %.*s=\"%s\" is not a "
		               "number",
		               vat, (int)nl, name, snip(sv, sizeof(sv), v, vl));
	if (d > 100)
		return err_set(ps->e,
		               "answer: byte %zu: %.*s=\"%s\" outside "
		               "0-100 (percent)",
		               vat, (int)nl, name, snip(sv, sizeof(sv), v, vl));
	(isx ? at->xs : at->ys)[idx] = d;
	(isx ? at->has_x : at->has_y)[idx] = true;
	(isx ? at->x_at : at->y_at)[idx] = vat;
	at->any_xy = true;
	if (idx == 0)
		at->plain_xy = true;
	else
		at->indexed_xy = true;
	return 0;
}

/* Molmo v1 points of one tag, in the order of their numbers. */
static int
emit_v1(struct parser *ps, struct attrs *at, size_t tag_at)
{
	size_t i, n = 0;

	if (at->plain_xy && at->indexed_xy)
		return err_set(ps->e,
		               "answer: byte %zu: both x= and x1= forms "
		               "in one tag",
		               tag_at);
	for (i = 0; i <= ANSWER_MAX_POINTS; i++) {
		if (at->has_x[i] != at->has_y[i])
			return err_set(ps->e,
			               "answer: byte %zu: %c%.0zu without "
			               "%c%.0zu",
			               at->has_x[i] ? at->x_at[i] : at->y_at[i],
			               at->has_x[i] ? 'x' : 'y', i,
			               at->has_x[i] ? 'y' : 'x', i);
		if (!at->has_x[i])
			continue;
		if (ps->a->n >= ANSWER_MAX_POINTS)
			return err_set(ps->e, "answer: more than %d points",
			               ANSWER_MAX_POINTS);
		add_point(ps, at->xs[i], at->ys[i], 100.0, 1,
		          i == 0 ? 1 : (int)i);
		n++;
	}
	if (n == 0)
		return err_set(ps->e,
		               "answer: byte %zu: tag without "
		               "coordinates",
		               tag_at);
	return 0;
}

/* Read an unsigned integer token of at most maxd digits at s[*i], ending
 * the text, a space or a group separator. */
static int
uint_token(const char *s, size_t n, size_t *i, int maxd, long *out)
{
	long v = 0;
	int d = 0;

	while (*i < n && is_digit(s[*i])) {
		if (++d > maxd)
			return -1;
		v = v * 10 + (s[*i] - '0');
		(*i)++;
	}
	if (d == 0 || (*i < n && strchr(" \t:;,", s[*i]) == NULL))
		return -1;
	*out = v;
	return 0;
}

/*
 * Molmo 2 coords: groups separated by one of "\t:;,", each "IMAGE ID X Y
 * [ID X Y ...]" with single or repeated spaces.
 */
static int
emit_coords(struct parser *ps, const struct attrs *at)
{
	const char *s = at->coords;
	size_t n = at->coords_len, i = 0, gstart;
	long image, id, x, y;
	int k;
	char sv[41];

	if (memchr(s, '<', n) != NULL)
		return err_set(ps->e,
		               "answer: byte %zu: coords hold grounding "
		               "tokens (MolmoPoint), which are not supported",
		               at->coords_at);
	for (;;) {
		gstart = i;
		while (i < n && s[i] == ' ')
			i++;
		if (uint_token(s, n, &i, 6, &image) == -1)
			goto bad;
		if (image < 1 || image > ps->n_imgs)
			return err_set(ps->e,
			               "answer: byte %zu: coords name "
			               "image %ld of %d",
			               at->coords_at + gstart, image,
			               ps->n_imgs);
		k = 0;
		for (;;) {
			while (i < n && s[i] == ' ')
				i++;
			if (i >= n || strchr("\t:;,", s[i]) != NULL)
				break;
			if (uint_token(s, n, &i, 6, &id) == -1)
				goto bad;
			while (i < n && s[i] == ' ')
				i++;
			if (uint_token(s, n, &i, 4, &x) == -1)
				goto bad;
			while (i < n && s[i] == ' ')
				i++;
			if (uint_token(s, n, &i, 4, &y) == -1)
				goto bad;
			if (x > 1000 || y > 1000)
				return err_set(
				    ps->e,
				    "answer: byte %zu: point "
				    "%ld at (%ld, %ld) outside 0-1000",
				    at->coords_at, id, x, y);
			if (ps->a->n >= ANSWER_MAX_POINTS)
				return err_set(ps->e,
				               "answer: more than %d "
				               "points",
				               ANSWER_MAX_POINTS);
			add_point(ps, (double)x, (double)y, 1000.0, (int)image,
			          (int)id);
			k++;
		}
		if (k == 0)
			goto bad;
		if (i >= n)
			return 0;
		i++; /* the separator */
	}
bad:
	return err_set(ps->e,
	               "answer: byte %zu: coords \"%s\" malformed "
	               "near byte %zu",
	               at->coords_at, snip(sv, sizeof(sv), s, n),
	               at->coords_at + i);
}

/*
 * Parse the tag whose '<' is at byte start; on success *end is the byte
 * after its closing tag.
 */
static int
parse_tag(struct parser *ps, size_t start, size_t *end)
{
	const char *t = ps->text, *name, *v;
	struct answer *a = ps->a;
	struct answer_tag *tag;
	struct attrs at;
	size_t i, name_len, nl, vs, ve, body, close, close_len = 0, other;
	bool self_close = false, plural;
	char q, sv[2];
	int rc = -1;

	(void)tag_name_at(ps, start + 1, &name_len);
	plural = name_len == 6;
	i = start + 1 + name_len;
	attrs_init(&at);
	for (;;) {
		while (i < ps->len && is_space(t[i]))
			i++;
		if (i >= ps->len) {
			err_set(ps->e,
			        "answer: byte %zu: unterminated <point%s "
			        "tag",
			        start, plural ? "s" : "");
			goto out;
		}
		if (t[i] == '>') {
			i++;
			break;
		}
		if (t[i] == '/' && i + 1 < ps->len && t[i + 1] == '>') {
			self_close = true;
			i += 2;
			break;
		}
		name = t + i;
		nl = 0;
		while (i < ps->len &&
		       ((t[i] >= 'a' && t[i] <= 'z') ||
		        (t[i] >= 'A' && t[i] <= 'Z') || is_digit(t[i]) ||
		        t[i] == '_' || t[i] == '-')) {
			i++;
			nl++;
		}
		if (nl == 0) {
			err_set(ps->e,
			        "answer: byte %zu: unexpected '%s' in "
			        "<point%s tag",
			        i, snip(sv, sizeof(sv), t + i, 1),
			        plural ? "s" : "");
			goto out;
		}
		while (i < ps->len && is_space(t[i]))
			i++;
		if (i >= ps->len || t[i] != '=') {
			err_set(ps->e,
			        "answer: byte %zu: attribute %.*s without "
			        "a value",
			        i, (int)(nl > 24 ? 24 : nl), name);
			goto out;
		}
		i++;
		while (i < ps->len && is_space(t[i]))
			i++;
		if (i >= ps->len || (t[i] != '"' && t[i] != '\'')) {
			err_set(ps->e,
			        "answer: byte %zu: value of %.*s not "
			        "quoted",
			        i, (int)(nl > 24 ? 24 : nl), name);
			goto out;
		}
		q = t[i++];
		vs = i;
		v = memchr(t + vs, q, ps->len - vs);
		if (v == NULL) {
			err_set(ps->e,
			        "answer: byte %zu: unterminated value of "
			        "%.*s",
			        vs, (int)(nl > 24 ? 24 : nl), name);
			goto out;
		}
		ve = (size_t)(v - t);
		if (set_attr(ps, &at, name, nl, t + vs, ve - vs, vs) == -1)
			goto out;
		i = ve + 1;
	}
	body = i;
	if (self_close) {
		close = body;
		*end = body;
	} else {
		close = next_close(ps, body, &close_len);
		other = next_open(ps, body);
		if (close >= ps->len || other < close) {
			err_set(ps->e,
			        "answer: byte %zu: <point%s tag never "
			        "closed",
			        start, plural ? "s" : "");
			goto out;
		}
		*end = close + close_len;
	}
	if (at.coords != NULL && at.any_xy) {
		err_set(ps->e, "answer: byte %zu: tag mixes coords with x/y",
		        start);
		goto out;
	}
	if (a->n_tags == ps->cap_tags) {
		ps->cap_tags = ps->cap_tags == 0 ? 4 : ps->cap_tags * 2;
		a->tags =
		    xreallocarray(a->tags, ps->cap_tags, sizeof(*a->tags));
	}
	tag = &a->tags[a->n_tags++];
	memset(tag, 0, sizeof(*tag));
	tag->label = decode(t + body, close - body, true);
	tag->alt = at.alt != NULL ? decode(at.alt, at.alt_len, false) : NULL;
	if (at.coords != NULL) {
		tag->format = ANSWER_M2_COORDS;
		rc = emit_coords(ps, &at);
	} else {
		tag->format = plural || at.indexed_xy ? ANSWER_V1_POINTS
		                                      : ANSWER_V1_POINT;
		rc = emit_v1(ps, &at, start);
	}
out:
	attrs_fini(&at);
	return rc;
}

/* ---- "None" sentences ---- */

static bool
is_none(const char *s, size_t n)
{
	char buf[64];
	size_t i, k;

	while (n > 0 && is_space(s[0])) {
		s++;
		n--;
	}
	while (n > 0 &&
	       (is_space(s[n - 1]) || s[n - 1] == '.' || s[n - 1] == '!'))
		n--;
	if (n == 0 || n >= sizeof(buf))
		return false;
	for (i = 0; i < n; i++)
		buf[i] = s[i] >= 'A' && s[i] <= 'Z' ? (char)(s[i] + 32) : s[i];
	buf[n] = '\0';
	for (k = 0; k < sizeof(none_sentences) / sizeof(none_sentences[0]); k++)
		if (strcmp(buf, none_sentences[k]) == 0)
			return true;
	return false;
}

/* ---- API ---- */

void
answer_fini(struct answer *a)
{
	size_t i;

	if (a == NULL)
		return;
	for (i = 0; i < a->n_tags; i++) {
		free(a->tags[i].label);
		free(a->tags[i].alt);
	}
	free(a->tags);
	free(a->pts);
	memset(a, 0, sizeof(*a));
}

int
answer_parse_images(const char *text, const struct answer_image *imgs,
                    int n_imgs, struct answer *out, struct err *e)
{
	struct parser ps;
	size_t i = 0, lt, end, k, cl;
	char sv[61];
	int j;

	memset(out, 0, sizeof(*out));
	if (n_imgs < 1 || n_imgs > ANSWER_MAX_IMAGES)
		return err_set(e, "answer: %d images (1..%d)", n_imgs,
		               ANSWER_MAX_IMAGES);
	for (j = 0; j < n_imgs; j++)
		if (imgs[j].w < 1 || imgs[j].w > ANSWER_SIDE_MAX ||
		    imgs[j].h < 1 || imgs[j].h > ANSWER_SIDE_MAX)
			return err_set(e,
			               "answer: image %d size %dx%d out of "
			               "range",
			               j + 1, imgs[j].w, imgs[j].h);
	memset(&ps, 0, sizeof(ps));
	ps.text = text;
	ps.len = strnlen(text, ANSWER_TEXT_MAX + 1);
	if (ps.len > ANSWER_TEXT_MAX)
		return err_set(e, "answer: longer than %d bytes",
		               ANSWER_TEXT_MAX);
	ps.imgs = imgs;
	ps.n_imgs = n_imgs;
	ps.a = out;
	ps.e = e;
	for (;;) {
		lt = next_open(&ps, i);
		/* A closing tag before any opening one is malformed. */
		end = next_close(&ps, i, &cl);
		if (end < lt) {
			err_set(e,
			        "answer: byte %zu: closing tag without "
			        "<point",
			        end);
			goto fail;
		}
		if (lt >= ps.len)
			break;
		if (parse_tag(&ps, lt, &k) == -1)
			goto fail;
		i = k;
	}
	if (out->n_tags == 0) {
		if (is_none(text, ps.len)) {
			out->none = true;
			return 0;
		}
		err_set(e, "answer: no point in \"%s%s\"",
		        snip(sv, sizeof(sv), text, ps.len),
		        ps.len > 60 ? "..." : "");
		goto fail;
	}
	out->label = out->tags[0].label;
	return 0;
fail:
	answer_fini(out);
	return -1;
}

int
answer_parse(const char *text, int img_w, int img_h, struct answer *out,
             struct err *e)
{
	struct answer_image im = {img_w, img_h};

	return answer_parse_images(text, &im, 1, out, e);
}
