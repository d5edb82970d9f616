/* SPDX-License-Identifier: ISC */
/* log.c: stderr logging, one write(2) per line. */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/log.h"

int log_verbose;
static bool log_prefix;
static const char *log_name = "";

void
log_init(bool foreground, int verbose, const char *progname)
{
	log_verbose = verbose;
	log_prefix = !(foreground && isatty(STDERR_FILENO));
	log_name = progname;
}

static void
vlog(enum log_level lvl, const char *fmt, va_list ap, const char *suffix)
{
	static const char *const prio[] = {"<3>", "<4>", "<6>", "<7>", "<7>"};
	char line[2048];
	size_t n = 0;
	int r;

	if (log_prefix)
		n += (size_t)snprintf(line, sizeof(line), "%s", prio[lvl]);
	else if (log_name[0] != '\0')
		n += (size_t)snprintf(line, sizeof(line), "%s: ", log_name);
	r = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	if (r > 0)
		n += (size_t)r;
	if (n > sizeof(line) - 2)
		n = sizeof(line) - 2;
	if (suffix != NULL) {
		r = snprintf(line + n, sizeof(line) - n, ": %s", suffix);
		if (r > 0)
			n += (size_t)r;
		if (n > sizeof(line) - 2)
			n = sizeof(line) - 2;
	}
	line[n++] = '\n';
	if (write(STDERR_FILENO, line, n) < 0) {
		/* nothing sensible to do */
	}
}

void
log_msg(enum log_level lvl, const char *fmt, ...)
{
	va_list ap;
	int saved = errno;

	if (!log_enabled(lvl))
		return;
	va_start(ap, fmt);
	vlog(lvl, fmt, ap, NULL);
	va_end(ap);
	errno = saved;
}

void
log_warn(const char *fmt, ...)
{
	va_list ap;
	int saved = errno;

	va_start(ap, fmt);
	vlog(LOG_LVL_WARN, fmt, ap, strerror(saved));
	va_end(ap);
	errno = saved;
}

void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_LVL_ERR, fmt, ap, NULL);
	va_end(ap);
	exit(1);
}

void
fatal(const char *fmt, ...)
{
	va_list ap;
	int saved = errno;

	va_start(ap, fmt);
	vlog(LOG_LVL_ERR, fmt, ap, strerror(saved));
	va_end(ap);
	exit(1);
}
