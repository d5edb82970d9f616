/* SPDX-License-Identifier: ISC */
/*
 * main.c: pointd, the WebSocket pointing service: start-up and shutdown as
 * a list of phases.
 *
 * What the process still needs once it runs (think pledge): the listening
 * socket and its connections (lws), the mapped model weights, its own
 * threads, and read access to the configuration file for SIGHUP.  It opens
 * all of these first, then drops root for the configured user and sets
 * PR_SET_NO_NEW_PRIVS; it never execs, never forks after start-up and
 * writes no files (the log is stderr) but the session log named by the
 * `database` directive (and its -wal and -shm files beside it), opened
 * before dropping privileges.
 *
 * Threads: main becomes the lws service thread; one inference thread runs
 * the model with its own compute pool; one writer thread owns the session
 * log (daemon/writer.c).  Shutdown reverses start-up: stop taking work,
 * cancel and join inference, let the writer commit what is queued and join
 * it, destroy the lws context, close the model.
 */
#include "config.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <sqlite3.h>

#include "daemon/backend.h"
#include "daemon/conf.h"
#include "daemon/server.h"
#include "daemon/writer.h"
#include "util/log.h"

static void __attribute__((noreturn)) usage(void)
{
	fprintf(stderr, "usage: pointd [-dnv] [-f file]\n");
	exit(2);
}

static void
on_term(int sig)
{
	(void)sig;
	server_sigterm = 1;
}

static void
on_hup(int sig)
{
	(void)sig;
	server_sighup = 1;
}

/* Log model loading progress, one line per stage. */
static void
progress(void *arg, const char *stage, double frac)
{
	(void)arg;
	log_info("model: %s %3.0f%%", stage, frac * 100.0);
}

/* Log a backend's notice (Molmo not loaded), one line. */
static void
notice(void *arg, const char *msg)
{
	(void)arg;
	log_warnx("%s", msg);
}

/* SQLite's own log (SQLITE_CONFIG_LOG), any thread. */
static void
sqlite_log(void *arg, int code, const char *msg)
{
	(void)arg;
	/* Notices, and the write failures the writer already reports once
	 * per change of state (full disk, I/O error, lock), are debug lines;
	 * the rest (corruption, misuse) are warnings. */
	switch (code & 0xff) {
	case SQLITE_NOTICE:
	case SQLITE_SCHEMA:
	case SQLITE_WARNING:
	case SQLITE_FULL:
	case SQLITE_IOERR:
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
	case SQLITE_CONSTRAINT:
		log_debug("sqlite: (%d) %s", code, msg);
		break;
	default:
		log_warnx("sqlite: (%d) %s", code, msg);
		break;
	}
}

/* Switch to user when running as root, and forbid gaining privileges. */
static void
drop_privileges(const char *user)
{
	struct passwd *pw;

	if (geteuid() == 0) {
		if (user[0] == '\0')
			fatalx("running as root needs a user directive");
		pw = getpwnam(user);
		if (pw == NULL)
			fatalx("user %s: no such user", user);
		if (setgroups(1, &pw->pw_gid) == -1 ||
		    setgid(pw->pw_gid) == -1 || setuid(pw->pw_uid) == -1)
			fatal("cannot switch to user %s", user);
		if (setuid(0) != -1)
			fatalx("still root after switching to %s", user);
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1)
		fatal("prctl(PR_SET_NO_NEW_PRIVS)");
}

int
main(int argc, char *argv[])
{
	struct backend_params bp;
	struct conf cfg;
	struct server srv;
	struct sigaction sa;
	struct err e;
	const char *path = CONF_DEFAULT_FILE;
	bool foreground = false, check_only = false;
	int ch, vflags = 0;
	long n;

	/* 1. Flags. */
	while ((ch = getopt(argc, argv, "df:nv")) != -1) {
		switch (ch) {
		case 'd':
			foreground = true;
			break;
		case 'f':
			path = optarg;
			break;
		case 'n':
			check_only = true;
			break;
		case 'v':
			vflags++;
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();

	/* 2. Logging, until the configuration says more. */
	log_init(foreground || check_only, vflags, "pointd");

	/* 3. Configuration; -n stops here. */
	if (conf_load(&cfg, path, &e) == -1)
		fatalx("%s", e.msg);
	if (!backend_exists(cfg.backend))
		fatalx("%s: backend \"%s\" is not built into pointd", path,
		       cfg.backend);
	if (check_only) {
		if (vflags > 0)
			conf_print(&cfg, stdout);
		/* On stderr, as relayd does: stdout is the configuration. */
		fprintf(stderr, "configuration OK\n");
		conf_fini(&cfg);
		return 0;
	}
	log_init(foreground, conf_verbosity(&cfg, vflags), "pointd");

	/* 4. Signals: handlers only set flags; the service timer acts. */
	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = on_term;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = on_hup;
	sigaction(SIGHUP, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);

	/* 5. Detach before any thread exists (fork keeps only one); stderr
	 * stays open for the log. */
	if (!foreground && daemon(0, 1) == -1)
		fatal("daemon");

	/* 6. The model, loaded once. */
	memset(&srv, 0, sizeof(srv));
	srv.cfg = &cfg;
	srv.cfg_path = path;
	srv.vflags = vflags;
	memset(&bp, 0, sizeof(bp));
	bp.model_dir = cfg.model;
	bp.tokenizer = cfg.tokenizer[0] != '\0' ? cfg.tokenizer : NULL;
	bp.vocab_map = cfg.vocab_map[0] != '\0' ? cfg.vocab_map : NULL;
	bp.max_crops = (int)cfg.max_crops;
	n = sysconf(_SC_NPROCESSORS_ONLN);
	bp.threads = cfg.threads > 0 ? (int)cfg.threads : n > 0 ? (int)n : 1;
	bp.progress = progress;
	bp.notice = notice;
	if (strcmp(cfg.backend, "text") == 0)
		log_info("backend text: Tesseract, %d threads", bp.threads);
	else
		log_info("model: loading %s (%s backend, %d threads)",
		         cfg.model, cfg.backend, bp.threads);
	srv.be = backend_open(cfg.backend, &bp, &e);
	if (srv.be == NULL)
		fatalx("model: %s", e.msg);
	log_info("model: %s ready", backend_model_name(srv.be));

	/* 7. The session log, before SQLite is used for anything else. */
	if (cfg.database[0] != '\0') {
		struct writer_params wp;

		sqlite3_config(SQLITE_CONFIG_LOG, sqlite_log, NULL);
		memset(&wp, 0, sizeof(wp));
		wp.path = cfg.database;
		wp.sync = strcmp(cfg.synchronous, "normal") == 0
		              ? STORE_SYNC_NORMAL
		              : STORE_SYNC_FULL;
		wp.max_age_ms = cfg.database_max_age * 1000;
		wp.max_bytes = cfg.database_max_bytes;
		wp.max_page_count = cfg.database_max_pages;
		srv.wr = writer_open(&wp, &e);
		if (srv.wr == NULL)
			fatalx("%s", e.msg);
		log_info("database %s: recording sessions (synchronous %s)",
		         cfg.database, cfg.synchronous);
	}

	/* 8. The lws context, which binds the listening socket. */
	if (server_open(&srv, &e) == -1)
		fatalx("%s", e.msg);

	/* 9. Everything is open: drop privileges. */
	drop_privileges(cfg.user);

	/* 10. The inference and writer threads. */
	srv.inf = infer_start(srv.be, srv.ctx, &e);
	if (srv.inf == NULL)
		fatalx("%s", e.msg);
	if (srv.wr != NULL && writer_start(srv.wr, srv.ctx, &e) == -1)
		fatalx("%s", e.msg);

	/* 11. Serve until SIGTERM's drain ends. */
	log_info("listening on %s%s (protocol %s)", cfg.listen,
	         cfg.tokens.n == 0 ? ", no tokens" : "", API_SUBPROTOCOL);
	server_run(&srv);

	/* 12. Shut down in reverse. */
	log_info("shutting down");
	server_stop_jobs(&srv);
	if (srv.wr != NULL)
		writer_end_sessions(&srv);
	writer_stop(srv.wr);
	writer_reap(&srv);
	server_close(&srv);
	writer_free(srv.wr);
	backend_close(srv.be);
	conf_fini(&cfg);
	log_info("stopped");
	return 0;
}
