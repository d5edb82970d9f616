/* SPDX-License-Identifier: ISC */
/*
 * log.h: one line per event on stderr, after relayd's log.c.  Each line is
 * one write(2) from a stack buffer, so lines from different threads never
 * interleave and no lock is needed.  When stderr is not a terminal, lines
 * carry a syslog priority prefix (<3>, <4>, <6>, <7>) for journald.
 * Only the shells (daemon/, ctl/, agent/main.c) call these.
 */
#ifndef UTIL_LOG_H
#define UTIL_LOG_H

#include <stdbool.h>

enum log_level {
	LOG_LVL_ERR = 0,
	LOG_LVL_WARN = 1,
	LOG_LVL_INFO = 2,
	LOG_LVL_DEBUG = 3,
	LOG_LVL_TRACE = 4, /* -vv: prompts and model output */
};

/* The one mutable global besides signal flags: set once by main. */
extern int log_verbose;

/* foreground: no syslog prefix if stderr is a tty; verbose: 0, 1 (-v) or 2. */
void log_init(bool foreground, int verbose, const char *progname);
void log_msg(enum log_level lvl, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define log_enabled(lvl) ((int)(lvl) <= LOG_LVL_INFO + log_verbose)
#define log_warnx(...)   log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...)                                                          \
	do {                                                                   \
		if (log_enabled(LOG_LVL_INFO))                                 \
			log_msg(LOG_LVL_INFO, __VA_ARGS__);                    \
	} while (0)
#define log_debug(...)                                                         \
	do {                                                                   \
		if (log_enabled(LOG_LVL_DEBUG))                                \
			log_msg(LOG_LVL_DEBUG, __VA_ARGS__);                   \
	} while (0)
#define log_trace(...)                                                         \
	do {                                                                   \
		if (log_enabled(LOG_LVL_TRACE))                                \
			log_msg(LOG_LVL_TRACE, __VA_ARGS__);                   \
	} while (0)

/* Like log_warnx, appending ": strerror(errno)". errno is preserved. */
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Log at error level and exit(1). */
void fatalx(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));
void fatal(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));

#endif
