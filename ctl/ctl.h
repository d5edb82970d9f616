/* SPDX-License-Identifier: ISC */
/*
 * ctl.h: pointctl's subcommands.  Each subcommand is a function
 * `int ctl_NAME(int argc, char **argv)` in ctl/ctl_*.c, listed in the table in
 * ctl/main.c.  argv[0] is the subcommand name.  Results go to stdout,
 * diagnostics to stderr.  Return CTL_OK, CTL_FAIL or CTL_USAGE (the exit
 * status).
 */
#ifndef CTL_CTL_H
#define CTL_CTL_H

#include <stdbool.h>

enum {
	CTL_OK = 0,    /* success */
	CTL_FAIL = 1,  /* the command failed */
	CTL_USAGE = 2, /* bad arguments */
};

typedef int ctl_fn(int argc, char **argv);

struct ctl_cmd {
	const char *name;  /* subcommand word */
	ctl_fn *fn;        /* implementation */
	const char *usage; /* arguments, after the name */
	const char *help;  /* one line */
};

/* Print "usage: pointctl NAME USAGE" for the named subcommand; returns 2. */
int ctl_usage(const char *name);

/* ctl_tok.c: JSON lines of text -> ids, and ids -> text. */
int ctl_tokenize(int argc, char **argv);
int ctl_detokenize(int argc, char **argv);

/* ctl_text.c: where targets named by their text are, from Tesseract. */
int ctl_locate(int argc, char **argv);
/*
 * pointctl point's text backend: read the words of the PNG or JPEG at
 * image and print the answer for target (as locate does, or as one JSON
 * object).  With may_defer, an answer the text does not settle (no match,
 * ambiguous, a weak match, a target that is not text) prints nothing and
 * returns 1 so the caller can ask Molmo.  Returns 0 when printed, -1 after
 * an error message.
 */
int ctl_text_point(const char *image, const char *target, int max_points,
                   bool json, bool may_defer);

/* ctl_store.c: the session log (store/): list, show, export, import. */
int ctl_sessions(int argc, char **argv);
int ctl_show(int argc, char **argv);
int ctl_export(int argc, char **argv);
int ctl_import(int argc, char **argv);
/* The database path for --database db (may be NULL) and -f conf (may be
 * NULL): db, else conf's `database` directive, else ./pointd.db; malloc'd,
 * or NULL after a message on stderr. */
char *ctl_store_database(const char *db, const char *conf);

/* ctl_replay.c: re-run a recorded session and diff the answers. */
int ctl_replay(int argc, char **argv);

/* ctl_report.c: a self-contained HTML page of a session (and a replay). */
int ctl_report(int argc, char **argv);

/* ctl_run.c: run the Molmo engine once (run), or point at a target. */
int ctl_run(int argc, char **argv);
int ctl_point(int argc, char **argv);

/* ctl_prep.c: preprocessing only, dumped as golden-style arrays. */
int ctl_preprocess(int argc, char **argv);

#endif
