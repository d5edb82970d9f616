/* SPDX-License-Identifier: ISC */
/*
 * match.h: finds the words on a screenshot that a target names ("click
 * 'Search flights'", "the Privacy policy link", "the field labelled Email").
 *
 * Pure functions over a struct ocr_result (text/ocr.h); nothing here runs
 * Tesseract, so a result read once per frame serves any number of queries.
 *
 *   1. match_parse() extracts the label: the quoted text if the target has
 *      any, else the target without verbs, articles, role words (button,
 *      link, field, tab, ...) and trailing places ("in the sidebar").  It
 *      also notes whether the target asks for a field (field, box, input,
 *      "labelled") and whether it names something that is not text (icon,
 *      image, logo), which this backend declines.
 *   2. match_find() rebuilds rows from the word boxes (words that overlap
 *      vertically, with gaps under 1.5 word heights and the same ink
 *      colour; Tesseract's own lines sometimes split a short word off or
 *      join two buttons), normalises case, punctuation and white space on
 *      both sides, compares the label with every run of adjacent words of
 *      every row, and scores each run: 1 - edit distance / (2 * label
 *      length), the distance allowed growing with the length (none up to 4
 *      characters), times a context factor that prefers a standalone label
 *      (a button, a link, a link inside a sentence drawn in its own colour)
 *      over the same words inside a heading, breadcrumb or sentence.  Runs
 *      cut by the edge of the screen may match a prefix (right edge) or a
 *      suffix (left edge) of the label.
 *   3. For a field, the point moves from the label into the input box found
 *      beside it or below it (edges in the luma plane), unless the label is
 *      already inside a box (a placeholder).
 *   4. Every run within MATCH_TIE of the best score is a candidate.  One
 *      candidate is a clear answer; several mean the label is ambiguous.
 *
 * Thread rules: all functions are reentrant; inputs are borrowed.
 */
#ifndef TEXT_MATCH_H
#define TEXT_MATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "text/ocr.h"

struct err;

#define MATCH_MAX_TARGET 1024 /* bytes of target accepted */
#define MATCH_MAX_TEXT   256  /* bytes kept of a label or a matched text */

/* What a target asks for. */
enum match_kind {
	MATCH_PLAIN = 0, /* a button, link, tab, menu item: the words */
	MATCH_FIELD,     /* an input named by its label: the box beside it */
	MATCH_NONTEXT,   /* an icon, image or logo: not for this backend */
};

struct match_query {
	char label[MATCH_MAX_TEXT]; /* as written in the target */
	char norm[MATCH_MAX_TEXT];  /* normalised: lower case, words
	                               separated by one space */
	enum match_kind kind;
	bool quoted; /* the label was quoted in the target */
};

struct match_params {
	double min_score; /* below this a run is not a match (0..1) */
	double tie;       /* runs within this of the best are candidates */
};

#define MATCH_MIN_SCORE 0.6
#define MATCH_TIE       0.03
/* A caller choosing between backends (pointd's auto mode) should answer
 * from text only when match_find() returns one candidate (or no more than
 * the request's points) scoring at least this; else ask Molmo. */
#define MATCH_SURE 0.8

/* One candidate.  Coordinates are pixels of the frame that was read. */
struct match_hit {
	double x, y;               /* the point to click */
	int x0, y0, x1, y1;        /* box of the matched words */
	double score;              /* 0..1, 1 = exact standalone label */
	char text[MATCH_MAX_TEXT]; /* the matched words as read */
	bool field;                /* the point was moved into an input */
};

/* Defaults: MATCH_MIN_SCORE, MATCH_TIE. */
struct match_params match_params_default(void);

/*
 * Normalise UTF-8 text s for comparison into out (size n, always
 * terminated): ASCII letters lower-cased, apostrophes dropped, other ASCII
 * punctuation and white space turned into single spaces, no leading or
 * trailing space.  Non-ASCII bytes are kept as they are.
 */
void match_normalise(const char *s, char *out, size_t n);

/*
 * Levenshtein distance between a (length na) and b (length nb), in bytes,
 * capped: returns cap + 1 as soon as the distance must exceed cap.
 */
int match_distance(const char *a, size_t na, const char *b, size_t nb, int cap);

/*
 * Extract the label and kind from a target (UTF-8, at most MATCH_MAX_TARGET
 * bytes).  Returns 0, or -1 with e set when the target is too long or holds
 * no words.
 */
int match_parse(const char *target, struct match_query *q, struct err *e);

/*
 * Find the candidates for q in r (p may be NULL for the defaults), best
 * first, writing at most max of them to hits.  Returns the number of
 * candidates found, which may exceed max (only max are written); 0 when the
 * label matches nothing well enough or q names a non-text target; -1 with e
 * set on bad arguments.  A return of 1 is a clear answer.
 */
ssize_t match_find(const struct ocr_result *r, const struct match_query *q,
                   const struct match_params *p, struct match_hit *hits,
                   size_t max, struct err *e);

#endif
