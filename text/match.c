/* SPDX-License-Identifier: ISC */
/*
 * match.c: label extraction, normalisation, fuzzy matching and scoring of a
 * target against the words read from a frame (see text/match.h), and the
 * field rule that moves a point from a label into the input beside it.
 *
 * Design.  match_find() never allocates more than a few arrays sized by the
 * number of words, and touches the luma plane only around the chosen label,
 * so a query costs microseconds once the frame has been read.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "text/match.h"
#include "util/err.h"
#include "util/str.h"
#include "util/xmalloc.h"

/* A line is split into segments where the gap between two words exceeds
 * this many word heights (tenths): separate buttons on one row. */
#define GAP_SPLIT_TENTHS 15
/* Score lost per word on the segment outside the match, and the floor. */
#define CONTEXT_STEP  0.04
#define CONTEXT_FLOOR 0.5
/* RGB distance between the inks of two words that splits a row. */
#define INK_SPLIT 48
/* Luma difference that makes an edge (an input's border or fill). */
#define EDGE_LUMA 20

struct match_params
match_params_default(void)
{
	struct match_params p;

	p.min_score = MATCH_MIN_SCORE;
	p.tie = MATCH_TIE;
	return p;
}

/* ---- Normalisation and distance ---- */

void
match_normalise(const char *s, char *out, size_t n)
{
	size_t o = 0;
	int space = 0;

	if (n == 0)
		return;
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '\'')
			continue; /* don't -> dont, on both sides */
		if (c >= 'A' && c <= 'Z')
			c = (unsigned char)(c - 'A' + 'a');
		if (c < 0x80 && !(c >= 'a' && c <= 'z') &&
		    !(c >= '0' && c <= '9')) {
			space = o > 0;
			continue;
		}
		if (space && o + 1 < n - 1) {
			out[o++] = ' ';
		}
		space = 0;
		if (o + 1 >= n)
			break;
		out[o++] = (char)c;
	}
	out[o] = '\0';
}

int
match_distance(const char *a, size_t na, const char *b, size_t nb, int cap)
{
	int row[MATCH_MAX_TEXT + 1];
	size_t i, j;

	if (na > MATCH_MAX_TEXT || nb > MATCH_MAX_TEXT)
		return cap + 1;
	if ((na > nb ? na - nb : nb - na) > (size_t)cap)
		return cap + 1;
	for (j = 0; j <= nb; j++)
		row[j] = (int)j;
	for (i = 1; i <= na; i++) {
		int diag = row[0], low;

		row[0] = (int)i;
		low = row[0];
		for (j = 1; j <= nb; j++) {
			int up = row[j];
			int v = diag + (a[i - 1] != b[j - 1]);

			if (up + 1 < v)
				v = up + 1;
			if (row[j - 1] + 1 < v)
				v = row[j - 1] + 1;
			row[j] = v;
			diag = up;
			if (v < low)
				low = v;
		}
		if (low > cap)
			return cap + 1;
	}
	return row[nb] > cap ? cap + 1 : row[nb];
}

/* Copy s without spaces into out (size n); returns the length. */
static size_t
squeeze(const char *s, char *out, size_t n)
{
	size_t o = 0;

	for (; *s != '\0' && o + 1 < n; s++) {
		if (*s != ' ')
			out[o++] = *s;
	}
	out[o] = '\0';
	return o;
}

/* Edit distance allowed for a label of len bytes (spaces removed). */
static int
allowed_slips(size_t len)
{
	return (int)((len + 1) / 6);
}

/* ---- Label extraction ---- */

/* clang-format off */
/* Words dropped from the front of an unquoted target. */
static const char *const lead_words[] = {
	"click", "tap", "press", "select", "choose", "open", "hit", "push",
	"find", "locate", "point", "where", "is", "go", "to", "on", "at",
	"the", "a", "an", "please", "into", "in", "type", "show", "me",
	"button", "link", "field", "tab", "input", "box", "menu", "item",
	"option", "entry", "label",
};
/* Words dropped from the end of an unquoted target. */
static const char *const tail_words[] = {
	"button", "btn", "link", "hyperlink", "field", "tab", "input", "box",
	"textbox", "textarea", "bar", "menu", "item", "option", "entry",
	"area", "label", "text", "control", "element", "checkbox", "radio",
	"toggle", "dropdown", "combobox", "picker", "please",
};
/* Words after which the label follows ("the field labelled Email"). */
static const char *const name_words[] = {
	"labelled", "labeled", "named", "called", "titled", "saying", "says",
	"reading", "marked",
};
/* Words that make the target a field. */
static const char *const field_words[] = {
	"field", "input", "box", "textbox", "textarea", "bar", "labelled",
	"labeled", "dropdown", "combobox", "picker",
};
/* Words that make the target something other than text. */
static const char *const nontext_words[] = {
	"icon", "image", "logo", "picture", "photo", "avatar", "thumbnail",
	"arrow", "symbol", "glyph", "illustration", "hamburger", "burger",
};
/* Words that start a place after the label ("in the sidebar"). */
static const char *const place_words[] = {
	"in", "on", "at", "from", "near", "under", "below", "above", "inside",
	"within", "beside",
};
/* clang-format on */

#define NELEM(a)   (sizeof(a) / sizeof((a)[0]))
#define MAX_TOKENS 64

struct token {
	const char *s; /* in the target */
	size_t n;
	char low[32]; /* normalised, truncated */
};

static bool
in_list(const char *w, const char *const *list, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (strcmp(w, list[i]) == 0)
			return true;
	}
	return false;
}

/* The first quoted part of t, if any: "..", “..”, ‘..’ or '..' whose quotes
 * stand at word boundaries (so "user's" is not a quote). */
static bool
find_quoted(const char *t, const char **start, size_t *len)
{
	static const char *const pairs[][2] = {
	    {"\"", "\""},
	    {"\xe2\x80\x9c", "\xe2\x80\x9d"},
	    {"\xe2\x80\x98", "\xe2\x80\x99"},
	    {"'", "'"},
	};
	size_t i;

	for (i = 0; i < NELEM(pairs); i++) {
		const char *p = t;

		while ((p = strstr(p, pairs[i][0])) != NULL) {
			const char *a = p + strlen(pairs[i][0]), *q = a;
			bool open_ok = p == t || p[-1] == ' ' || p[-1] == '(' ||
			               p[-1] == ':';

			p = a;
			if (!open_ok)
				continue;
			while ((q = strstr(q, pairs[i][1])) != NULL) {
				const char *after = q + strlen(pairs[i][1]);

				if (q > a && (*after == '\0' || *after == ' ' ||
				              *after == '.' || *after == ',' ||
				              *after == '?' || *after == '!' ||
				              *after == ')' || *after == ';' ||
				              *after == ':')) {
					*start = a;
					*len = (size_t)(q - a);
					return true;
				}
				q = after;
			}
		}
	}
	return false;
}

static size_t
tokenize(const char *t, struct token *tok, size_t max)
{
	size_t n = 0;

	while (*t != '\0' && n < max) {
		const char *a;

		while (*t == ' ' || *t == '\t' || *t == '\n' || *t == '\r')
			t++;
		if (*t == '\0')
			break;
		a = t;
		while (*t != '\0' && *t != ' ' && *t != '\t' && *t != '\n' &&
		       *t != '\r')
			t++;
		tok[n].s = a;
		tok[n].n = (size_t)(t - a);
		{
			char buf[64];
			size_t k = tok[n].n < sizeof(buf) - 1 ? tok[n].n
			                                      : sizeof(buf) - 1;

			memcpy(buf, a, k);
			buf[k] = '\0';
			match_normalise(buf, tok[n].low, sizeof(tok[n].low));
		}
		n++;
	}
	return n;
}

int
match_parse(const char *target, struct match_query *q, struct err *e)
{
	struct token tok[MAX_TOKENS];
	const char *qs;
	size_t qn, n, i, a, b, k, place;
	bool has_field = false, has_nontext = false;

	memset(q, 0, sizeof(*q));
	if (target == NULL)
		return err_set(e, "match: no target");
	if (strlen(target) > MATCH_MAX_TARGET)
		return err_set(e, "match: target longer than %d bytes",
		               MATCH_MAX_TARGET);
	n = tokenize(target, tok, MAX_TOKENS);
	/* "Settings in the sidebar", "Science in the top bar": the place
	 * after the label is neither label nor role. */
	place = n;
	for (i = 1; i + 1 < n; i++) {
		if (in_list(tok[i].low, place_words, NELEM(place_words)) &&
		    (strcmp(tok[i + 1].low, "the") == 0 ||
		     strcmp(tok[i + 1].low, "a") == 0)) {
			place = i;
			break;
		}
	}
	for (i = 0; i < place; i++) {
		if (in_list(tok[i].low, field_words, NELEM(field_words)))
			has_field = true;
		if (in_list(tok[i].low, nontext_words, NELEM(nontext_words)))
			has_nontext = true;
	}
	if (find_quoted(target, &qs, &qn)) {
		q->quoted = true;
		if (qn >= sizeof(q->label))
			qn = sizeof(q->label) - 1;
		memcpy(q->label, qs, qn);
		q->label[qn] = '\0';
	} else {
		a = 0;
		b = place;
		/* "the field labelled Email": the label follows. */
		for (i = 0; i + 1 < b; i++) {
			if (in_list(tok[i].low, name_words, NELEM(name_words)))
				a = i + 1;
		}
		/* Role words at the end first, then verbs and articles at the
		 * front, keeping the last word ("the Go button" -> "Go"). */
		while (b > a && (tok[b - 1].low[0] == '\0' ||
		                 in_list(tok[b - 1].low, tail_words,
		                         NELEM(tail_words)) ||
		                 in_list(tok[b - 1].low, nontext_words,
		                         NELEM(nontext_words))))
			b--;
		while (a + 1 < b &&
		       (tok[a].low[0] == '\0' ||
		        in_list(tok[a].low, lead_words, NELEM(lead_words))))
			a++;
		if (a == b || (a + 1 == b && (strcmp(tok[a].low, "the") == 0 ||
		                              strcmp(tok[a].low, "a") == 0 ||
		                              strcmp(tok[a].low, "an") == 0))) {
			/* Nothing but role words ("the button"): keep all. */
			a = 0;
			b = n;
		}
		k = 0;
		for (i = a; i < b && n > 0; i++) {
			size_t m = tok[i].n;

			if (k + m + 2 > sizeof(q->label))
				break;
			if (k > 0)
				q->label[k++] = ' ';
			memcpy(q->label + k, tok[i].s, m);
			k += m;
		}
		q->label[k] = '\0';
	}
	match_normalise(q->label, q->norm, sizeof(q->norm));
	if (q->norm[0] == '\0')
		return err_set(e, "match: target names no text");
	if (has_nontext && !q->quoted)
		q->kind = MATCH_NONTEXT;
	else if (has_field)
		q->kind = MATCH_FIELD;
	else
		q->kind = MATCH_PLAIN;
	return 0;
}

/* ---- Matching ---- */

struct nword {
	size_t idx; /* into r->words */
	char norm[MATCH_MAX_TEXT];
	int x0, y0, x1, y1;
	int ink[3];
	size_t row; /* row (segment) id */
};

struct cand {
	double score;
	size_t first, n; /* positions in the segment array seg[] */
	const size_t *seg;
	int x0, y0, x1, y1;
};

/* Left to right, then top to bottom. */
static int
cmp_nword(const void *pa, const void *pb)
{
	const struct nword *a = pa, *b = pb;

	if (a->x0 != b->x0)
		return a->x0 < b->x0 ? -1 : 1;
	return a->y0 < b->y0 ? -1 : a->y0 > b->y0;
}

static int
min_int(int a, int b)
{
	return a < b ? a : b;
}

static int
max_int(int a, int b)
{
	return a > b ? a : b;
}

/*
 * Does word b continue the row that ends with word a?  Same text line
 * (vertical overlap of at least half the smaller height), a gap no wider
 * than GAP_SPLIT_TENTHS heights, and the same ink: a link inside a sentence
 * is a label of its own.
 */
static bool
continues(const struct nword *a, const struct nword *b)
{
	int ha = a->y1 - a->y0, hb = b->y1 - b->y0;
	int ov = min_int(a->y1, b->y1) - max_int(a->y0, b->y0);
	int gap = b->x0 - a->x1, d = 0, i;

	if (2 * ov < min_int(ha, hb))
		return false;
	if (10 * gap > GAP_SPLIT_TENTHS * max_int(ha, hb) ||
	    2 * gap < -min_int(ha, hb))
		return false;
	for (i = 0; i < 3; i++)
		d += (a->ink[i] - b->ink[i]) * (a->ink[i] - b->ink[i]);
	return d <= INK_SPLIT * INK_SPLIT;
}

static int
cmp_cand(const void *pa, const void *pb)
{
	const struct cand *a = pa, *b = pb;

	if (a->score != b->score)
		return a->score > b->score ? -1 : 1;
	if (a->y0 != b->y0)
		return a->y0 < b->y0 ? -1 : 1;
	return a->x0 < b->x0 ? -1 : a->x0 > b->x0;
}

static bool
boxes_overlap(const struct cand *a, const struct cand *b)
{
	return a->x0 < b->x1 && b->x0 < a->x1 && a->y0 < b->y1 && b->y0 < a->y1;
}

/*
 * Score the run of n words at seg[first] (segment of m words) against the
 * label (spaces removed, length ln).  0 when it does not match.
 */
static double
score_run(const struct ocr_result *r, const struct nword *nw, const size_t *seg,
          size_t m, size_t first, size_t n, const char *label, size_t ln)
{
	char run[MATCH_MAX_TEXT];
	size_t o = 0, i;
	int d, cap = allowed_slips(ln);
	double base = 0, factor;
	const struct ocr_word *wl = &r->words[nw[seg[first + n - 1]].idx];
	const struct ocr_word *wf = &r->words[nw[seg[first]].idx];

	for (i = first; i < first + n; i++)
		o += squeeze(nw[seg[i]].norm, run + o, sizeof(run) - o);
	d = match_distance(label, ln, run, o, cap);
	if (d <= cap) {
		/* A slip costs half as much as its share of the label: OCR
		 * slips are common and should not lose to an exact match in
		 * a heading. */
		base = 1.0 - 0.5 * (double)d / (double)ln;
	} else if (o >= 4 && 2 * o >= ln && o < ln) {
		/* Text cut at the screen edge: a prefix (right edge) or a
		 * suffix (left edge) of the label. */
		bool right = wl->x1 >= r->w - 2 && first + n == m &&
		             strncmp(label, run, o) == 0;
		bool left = wf->x0 <= 1 && first == 0 &&
		            strcmp(label + (ln - o), run) == 0;

		if (right || left)
			base = 0.75 + 0.2 * (double)o / (double)ln;
	}
	if (base <= 0)
		return 0;
	factor = 1.0 - CONTEXT_STEP * (double)(m - n);
	if (factor < CONTEXT_FLOOR)
		factor = CONTEXT_FLOOR;
	return base * factor;
}

/* ---- The field rule ---- */

static int
luma_at(const struct ocr_result *r, int x, int y)
{
	return r->luma[(size_t)y * (size_t)r->w + (size_t)x];
}

/* Share (0..1) of columns [xa, xb) with an edge between rows y-1 and y. */
static double
hedge_share(const struct ocr_result *r, int y, int xa, int xb)
{
	int x, hit = 0;

	if (y < 1 || y >= r->h)
		return 0;
	if (xa < 0)
		xa = 0;
	if (xb > r->w)
		xb = r->w;
	if (xb <= xa)
		return 0;
	for (x = xa; x < xb; x++)
		hit +=
		    abs(luma_at(r, x, y) - luma_at(r, x, y - 1)) >= EDGE_LUMA;
	return (double)hit / (double)(xb - xa);
}

/* Share of rows [ya, yb) with an edge between columns x-1 and x. */
static double
vedge_share(const struct ocr_result *r, int x, int ya, int yb)
{
	int y, hit = 0;

	if (x < 1 || x >= r->w)
		return 0;
	if (ya < 0)
		ya = 0;
	if (yb > r->h)
		yb = r->h;
	if (yb <= ya)
		return 0;
	for (y = ya; y < yb; y++)
		hit +=
		    abs(luma_at(r, x, y) - luma_at(r, x - 1, y)) >= EDGE_LUMA;
	return (double)hit / (double)(yb - ya);
}

/* First row in [ya, yb) (stepping by dir) that is a horizontal edge over
 * [xa, xb); -1 if none. */
static int
find_hedge(const struct ocr_result *r, int ya, int yb, int dir, int xa, int xb)
{
	int y;

	for (y = ya; dir > 0 ? y < yb : y > yb; y += dir) {
		if (hedge_share(r, y, xa, xb) >= 0.8)
			return y;
	}
	return -1;
}

static int
find_vedge(const struct ocr_result *r, int xa, int xb, int ya, int yb)
{
	int x;

	for (x = xa; x < xb; x++) {
		if (vedge_share(r, x, ya, yb) >= 0.9)
			return x;
	}
	return -1;
}

/* Extent of the horizontal edge through (x, y): *xs..*xe. */
static void
hedge_extent(const struct ocr_result *r, int y, int x, int *xs, int *xe)
{
	int a = x, b = x, gap;

	for (gap = 0; a > 0 && gap <= 2; a--)
		gap = hedge_share(r, y, a - 1, a) > 0 ? 0 : gap + 1;
	for (gap = 0; b < r->w - 1 && gap <= 2; b++)
		gap = hedge_share(r, y, b + 1, b + 2) > 0 ? 0 : gap + 1;
	*xs = a + 2;
	*xe = b - 2;
}

/*
 * Move a label's hit into the input it names: the box to its right on the
 * same row, else the box below it.  Leaves the hit alone when the label is
 * itself inside a box (a placeholder) or no box is found.
 */
static void
field_point(const struct ocr_result *r, struct match_hit *h)
{
	int lh = h->y1 - h->y0, cy = (h->y0 + h->y1) / 2;
	int top, bot, xl, xr, xs, xe, span;

	if (r->luma == NULL || lh < 2)
		return;
	/* A placeholder: edges just above and just below the label, and a
	 * border on its left joining them (one box, not two inputs). */
	top = find_hedge(r, cy, h->y0 - 3 * lh / 2, -1, h->x0, h->x1);
	bot = find_hedge(r, cy + 1, h->y1 + 3 * lh / 2, 1, h->x0, h->x1);
	if (top >= 0 && bot >= 0 &&
	    find_vedge(r, h->x0 - 4 * lh > 1 ? h->x0 - 4 * lh : 1, h->x0,
	               top + 2, bot - 1) >= 0)
		return;
	/* To the right: a vertical border taller than the text, with a
	 * top and a bottom edge. */
	xl = find_vedge(r, h->x1 + 2, h->x1 + 12 * lh, cy - 3 * lh / 5,
	                cy + 3 * lh / 5);
	if (xl >= 0) {
		top = find_hedge(r, cy - lh / 2, cy - 3 * lh, -1, xl + 2,
		                 xl + 2 + 2 * lh);
		bot = find_hedge(r, cy + lh / 2, cy + 3 * lh, 1, xl + 2,
		                 xl + 2 + 2 * lh);
		if (top >= 0 && bot >= 0) {
			xr = find_vedge(r, xl + 2 * lh, r->w, top + 2, bot - 2);
			h->x = xr >= 0 ? (xl + xr) / 2.0 : xl + 4.0 * lh;
			h->y = (top + bot) / 2.0;
			h->field = true;
			return;
		}
	}
	/* Below: a horizontal edge starting under the label. */
	span = h->x1 - h->x0 > 3 * lh ? h->x1 - h->x0 : 3 * lh;
	/* From the label's middle row: OCR boxes sometimes reach into the
	 * border below. */
	top = find_hedge(r, cy + 1, h->y1 + 4 * lh, 1, h->x0, h->x0 + span);
	if (top < 0)
		return;
	bot = find_hedge(r, top + (lh / 2 > 4 ? lh / 2 : 4), top + 6 * lh, 1,
	                 h->x0, h->x0 + span);
	hedge_extent(r, top, h->x0 + span / 2, &xs, &xe);
	h->x = (xs + xe) / 2.0;
	h->y = bot >= 0 ? (top + bot) / 2.0 : top + (double)lh;
	h->field = true;
}

/* ---- Search ---- */

static void
hit_fill(const struct ocr_result *r, const struct nword *nw,
         const struct cand *c, struct match_hit *h)
{
	size_t i, o = 0;

	memset(h, 0, sizeof(*h));
	h->x0 = c->x0;
	h->y0 = c->y0;
	h->x1 = c->x1;
	h->y1 = c->y1;
	h->x = (c->x0 + c->x1) / 2.0;
	h->y = (c->y0 + c->y1) / 2.0;
	h->score = c->score;
	for (i = c->first; i < c->first + c->n; i++) {
		const char *t = r->words[nw[c->seg[i]].idx].text;

		if (o > 0 && o + 1 < sizeof(h->text))
			h->text[o++] = ' ';
		o += str_copy(h->text + o, t, sizeof(h->text) - o);
		if (o >= sizeof(h->text) - 1)
			break;
	}
}

ssize_t
match_find(const struct ocr_result *r, const struct match_query *q,
           const struct match_params *p, struct match_hit *hits, size_t max,
           struct err *e)
{
	struct match_params def = match_params_default();
	struct nword *nw = NULL;
	size_t *seg = NULL, *last = NULL, *rowstart = NULL;
	struct cand *c = NULL;
	size_t nn = 0, nc = 0, cap = 0, i, s, k, nacc = 0, nrows = 0;
	char label[MATCH_MAX_TEXT];
	size_t ln, nlab = 1;
	ssize_t ret = 0;

	if (r == NULL || q == NULL || (hits == NULL && max > 0))
		return err_set(e, "match: bad arguments");
	if (p == NULL)
		p = &def;
	if (q->kind == MATCH_NONTEXT || r->n_words == 0)
		return 0;
	ln = squeeze(q->norm, label, sizeof(label));
	if (ln == 0)
		return 0;
	for (i = 0; q->norm[i] != '\0'; i++)
		nlab += q->norm[i] == ' ';

	/* Normalised words, left to right; empty ones (lone punctuation,
	 * border fragments) dropped. */
	nw = xreallocarray(NULL, r->n_words, sizeof(*nw));
	seg = xreallocarray(NULL, r->n_words, sizeof(*seg));
	last = xreallocarray(NULL, r->n_words, sizeof(*last));
	for (i = 0; i < r->n_words; i++) {
		const struct ocr_word *w = &r->words[i];

		nw[nn].idx = i;
		match_normalise(w->text, nw[nn].norm, sizeof(nw[nn].norm));
		nw[nn].x0 = w->x0;
		nw[nn].y0 = w->y0;
		nw[nn].x1 = w->x1;
		nw[nn].y1 = w->y1;
		for (k = 0; k < 3; k++)
			nw[nn].ink[k] = w->ink[k];
		if (nw[nn].norm[0] != '\0')
			nn++;
	}
	qsort(nw, nn, sizeof(*nw), cmp_nword);

	/* Rows: each word joins the row whose last word it continues best
	 * (Tesseract's own lines split a short word such as "me" off, and
	 * join separate buttons). */
	for (i = 0; i < nn; i++) {
		size_t best = nrows;
		int best_ov = -1;

		for (k = 0; k < nrows; k++) {
			const struct nword *a = &nw[last[k]];
			int ov =
			    min_int(a->y1, nw[i].y1) - max_int(a->y0, nw[i].y0);

			if (continues(a, &nw[i]) && ov > best_ov) {
				best = k;
				best_ov = ov;
			}
		}
		if (best == nrows)
			nrows++;
		last[best] = i;
		nw[i].row = best;
	}
	/* seg: word positions grouped by row, left to right within a row. */
	rowstart = xcalloc(nrows + 1, sizeof(*rowstart));
	for (i = 0; i < nn; i++)
		rowstart[nw[i].row + 1]++;
	for (k = 0; k < nrows; k++)
		rowstart[k + 1] += rowstart[k];
	for (k = 0; k < nrows; k++)
		last[k] = rowstart[k];
	for (i = 0; i < nn; i++)
		seg[last[nw[i].row]++] = i;

	for (k = 0; k < nrows; k++) {
		size_t m, first, n, nmin, nmax;

		s = rowstart[k];
		m = rowstart[k + 1] - s;
		nmin = nlab > 1 ? nlab - 1 : 1;
		nmax = nlab + 1;
		for (first = 0; first < m; first++) {
			for (n = nmin; n <= nmax && first + n <= m; n++) {
				double sc = score_run(r, nw, seg + s, m, first,
				                      n, label, ln);
				struct cand *cd;
				size_t j;

				if (sc < p->min_score)
					continue;
				if (nc == cap) {
					cap = cap != 0 ? 2 * cap : 16;
					c = xreallocarray(c, cap, sizeof(*c));
				}
				cd = &c[nc++];
				cd->score = sc;
				cd->seg = seg + s;
				cd->first = first;
				cd->n = n;
				cd->x0 = cd->y0 = INT32_MAX;
				cd->x1 = cd->y1 = INT32_MIN;
				for (j = first; j < first + n; j++) {
					const struct ocr_word *w =
					    &r->words[nw[seg[s + j]].idx];

					cd->x0 =
					    w->x0 < cd->x0 ? w->x0 : cd->x0;
					cd->y0 =
					    w->y0 < cd->y0 ? w->y0 : cd->y0;
					cd->x1 =
					    w->x1 > cd->x1 ? w->x1 : cd->x1;
					cd->y1 =
					    w->y1 > cd->y1 ? w->y1 : cd->y1;
				}
			}
		}
	}
	if (nc == 0)
		goto done;
	qsort(c, nc, sizeof(*c), cmp_cand);

	/* Candidates: close to the best, one per place on the screen. */
	for (i = 0; i < nc; i++) {
		bool clash = false;

		if (c[i].score < c[0].score - p->tie)
			break;
		for (k = 0; k < nacc && !clash; k++)
			clash = boxes_overlap(&c[i], &c[k]);
		if (clash)
			continue;
		c[nacc++] = c[i];
	}
	for (i = 0; i < nacc && i < max; i++) {
		hit_fill(r, nw, &c[i], &hits[i]);
		if (q->kind == MATCH_FIELD)
			field_point(r, &hits[i]);
	}
	ret = (ssize_t)nacc;
done:
	free(c);
	free(nw);
	free(seg);
	free(last);
	free(rowstart);
	return ret;
}
