/* SPDX-License-Identifier: ISC */
/*
 * bench_store.c: the session log's ingest rate and size.  Writes N requests
 * (each a frame record, a request and an answer, as pointd's writer would)
 * over F distinct frames of S KB into a fresh database, in batches of B
 * requests per transaction, and reports the median rate over R runs; then
 * the same records with no batching (one transaction per record), measured
 * in the same run as the peer.  Also reports the database bytes per 1000
 * requests, with and without the frame bytes.
 *
 * usage: bench_store [-n requests] [-f frames] [-s frame_kb] [-b batch]
 *                    [-u unbatched_requests] [-r runs] [-y normal|full]
 * Defaults: -n 10000 -f 500 -s 100 -b 64 -u 1000 -r 3 -y full.  The
 * unbatched peer writes fewer requests (-u) because each record costs an
 * fsync; rates are per second, so they compare.
 */
#include "config.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bench/benchutil.h"
#include "store/store.h"
#include "util/clock.h"
#include "util/sha256.h"
#include "util/str.h"
#include "util/xmalloc.h"

#define MAX_RUNS 15

struct cfg {
	long long n, frames, frame_kb, batch, unbatched, runs;
	enum store_sync sync;
};

struct result {
	double secs;     /* wall time of the writes */
	int64_t bytes;   /* database file size afterwards, bytes */
	int64_t payload; /* frame bytes stored */
};

static uint64_t
rng(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ULL;
}

static uint8_t **frames;
static bool *used; /* frames the last run referred to */
static char (*hashes)[STORE_HASH_LEN];

/* Write n requests into a fresh database at path, batch requests per
 * transaction (batch 0: one transaction per record). */
static int
run(const struct cfg *c, const char *path, long long n, long long batch,
    struct result *res)
{
	struct store_params p = store_params_default();
	size_t fsize = (size_t)c->frame_kb * 1024, cap, m = 0;
	struct store_rec *recs;
	uint64_t seed = 42;
	struct store *s;
	struct stat sb;
	struct err e;
	long long i, j;
	double t0;
	char wal[4200];

	unlink(path);
	snprintf(wal, sizeof(wal), "%s-wal", path);
	unlink(wal);
	p.sync = c->sync;
	s = store_open(path, &p, &e);
	if (s == NULL) {
		fprintf(stderr, "bench_store: %s\n", e.msg);
		return -1;
	}
	memset(used, 0, (size_t)c->frames * sizeof(*used));
	cap = (size_t)(batch > 0 ? batch : 1) * 3 + 1;
	recs = xcalloc(cap, sizeof(*recs));
	t0 = (clock_ms() / 1e3);
	recs[0].kind = STORE_REC_SESSION_START;
	recs[0].u.session.id = 1;
	recs[0].u.session.label = "bench";
	recs[0].u.session.started_ms = 1;
	if (store_write_batch(s, recs, 1, &e) != 0)
		goto fail;
	for (i = 1; i <= n; i++) {
		j = (long long)(rng(&seed) % (uint64_t)c->frames);
		used[j] = true;
		memset(&recs[m], 0, 3 * sizeof(*recs));
		recs[m].kind = STORE_REC_FRAME;
		memcpy(recs[m].u.frame.sha256, hashes[j], STORE_HASH_LEN);
		recs[m].u.frame.bytes = frames[j];
		recs[m].u.frame.len = fsize;
		recs[m].u.frame.format = "png";
		recs[m].u.frame.width = 1280;
		recs[m].u.frame.height = 800;
		recs[m].u.frame.dpr = 1.0;
		recs[m + 1].kind = STORE_REC_REQUEST;
		recs[m + 1].u.request.id = i;
		recs[m + 1].u.request.session = 1;
		memcpy(recs[m + 1].u.request.frame, hashes[j], STORE_HASH_LEN);
		recs[m + 1].u.request.kind = "point";
		recs[m + 1].u.request.target = "the blue Submit button";
		recs[m + 1].u.request.options = "{\"max_points\":1}";
		recs[m + 1].u.request.received_ms = 1000 + i;
		recs[m + 2].kind = STORE_REC_ANSWER;
		recs[m + 2].u.answer.request = i;
		recs[m + 2].u.answer.points = "[{\"x\":612.5,\"y\":344.0}]";
		recs[m + 2].u.answer.raw = "<point x=\"47.9\" y=\"43.0\" "
		                           "alt=\"Submit\">Submit</point>";
		recs[m + 2].u.answer.model = "molmo-7b-d-0924";
		recs[m + 2].u.answer.weights = "sha256:9f86d081884c7d65";
		recs[m + 2].u.answer.answered_ms = 2000 + i;
		recs[m + 2].u.answer.infer_ms = 900;
		recs[m + 2].u.answer.total_ms = 950;
		m += 3;
		if (batch == 0) {
			for (j = 0; j < 3; j++) {
				if (store_write_batch(s, &recs[j], 1, &e) != 0)
					goto fail;
			}
			m = 0;
		} else if ((long long)m == batch * 3 || i == n) {
			if (store_write_batch(s, recs, m, &e) != 0)
				goto fail;
			m = 0;
		}
	}
	res->secs = (clock_ms() / 1e3) - t0;
	free(recs);
	store_close(s); /* checkpoints the WAL into the file */
	if (stat(path, &sb) == -1)
		return -1;
	res->bytes = (int64_t)sb.st_size;
	res->payload = 0;
	for (j = 0; j < c->frames; j++)
		res->payload += used[j] ? (int64_t)fsize : 0;
	return 0;
fail:
	fprintf(stderr, "bench_store: %s\n", e.msg);
	free(recs);
	store_close(s);
	return -1;
}

static int
opt(const char *arg, long long min, long long max, long long *out)
{
	const char *es;

	if (str_to_ll(arg, min, max, out, &es) == -1) {
		fprintf(stderr, "bench_store: %s: %s\n", arg, es);
		return -1;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	struct cfg c = {10000, 500, 100, 64, 1000, 3, STORE_SYNC_FULL};
	double tb[MAX_RUNS], tu[MAX_RUNS], mb, mu;
	struct result rb, ru;
	const char *tmpdir = getenv("TMPDIR");
	char path[4096];
	long long i;
	int ch, rc = 1;

	while ((ch = getopt(argc, argv, "n:f:s:b:u:r:y:")) != -1) {
		switch (ch) {
		case 'n':
			rc = opt(optarg, 1, 10000000, &c.n);
			break;
		case 'f':
			rc = opt(optarg, 1, 100000, &c.frames);
			break;
		case 's':
			rc = opt(optarg, 1, 16384, &c.frame_kb);
			break;
		case 'b':
			rc = opt(optarg, 1, 100000, &c.batch);
			break;
		case 'u':
			rc = opt(optarg, 1, 10000000, &c.unbatched);
			break;
		case 'r':
			rc = opt(optarg, 1, MAX_RUNS, &c.runs);
			break;
		case 'y':
			rc = 0;
			if (strcmp(optarg, "normal") == 0)
				c.sync = STORE_SYNC_NORMAL;
			else if (strcmp(optarg, "full") == 0)
				c.sync = STORE_SYNC_FULL;
			else
				rc = -1;
			break;
		default:
			rc = -1;
		}
		if (rc == -1) {
			fprintf(
			    stderr,
			    "usage: bench_store [-n requests] [-f frames] "
			    "[-s frame_kb] [-b batch] [-u unbatched] [-r runs] "
			    "[-y normal|full]\n");
			return 2;
		}
	}
	if (c.frames * c.frame_kb > 4 * 1024 * 1024) {
		fprintf(stderr, "bench_store: more than 4 GB of frames\n");
		return 2;
	}
	frames = xcalloc((size_t)c.frames, sizeof(*frames));
	hashes = xcalloc((size_t)c.frames, sizeof(*hashes));
	used = xcalloc((size_t)c.frames, sizeof(*used));
	for (i = 0; i < c.frames; i++) {
		uint64_t seed = (uint64_t)i + 1;
		size_t k, len = (size_t)c.frame_kb * 1024;

		frames[i] = xmalloc(len);
		for (k = 0; k < len; k++)
			frames[i][k] = (uint8_t)(rng(&seed) >> 56);
		sha256_hex(frames[i], len, hashes[i]);
	}
	snprintf(path, sizeof(path), "%s/bench_store.%d.db",
	         tmpdir != NULL ? tmpdir : "/tmp", (int)getpid());

	printf("bench_store: %lld requests over %lld distinct %lld KB frames, "
	       "synchronous=%s, median of %lld runs\n",
	       c.n, c.frames, c.frame_kb,
	       c.sync == STORE_SYNC_FULL ? "FULL" : "NORMAL", c.runs);
	rc = 1;
	for (i = 0; i < c.runs; i++) {
		if (run(&c, path, c.n, c.batch, &rb) == -1 ||
		    run(&c, path, c.unbatched, 0, &ru) == -1)
			goto out;
		tb[i] = rb.secs;
		tu[i] = ru.secs;
	}
	qsort(tb, (size_t)c.runs, sizeof(double), bench_cmp_double);
	qsort(tu, (size_t)c.runs, sizeof(double), bench_cmp_double);
	mb = tb[c.runs / 2];
	mu = tu[c.runs / 2];
	/* Bytes from the last batched run (the sizes are deterministic). */
	run(&c, path, c.n, c.batch, &rb);
	printf("batched (%lld requests/transaction): %.0f requests/s "
	       "(= answers/s, frame records/s), %.1f MB/s of frames offered, "
	       "%.3f s\n",
	       c.batch, (double)c.n / mb,
	       (double)c.n * (double)c.frame_kb / 1024.0 / mb, mb);
	printf("unbatched (1 record/transaction, %lld requests): %.0f "
	       "requests/s, %.3f s\n",
	       c.unbatched, (double)c.unbatched / mu, mu);
	printf("ratio batched/unbatched: %.1fx\n",
	       ((double)c.n / mb) / ((double)c.unbatched / mu));
	printf("database: %" PRId64 " bytes = %.0f bytes per 1000 requests; "
	       "without frame bytes: %.0f bytes per 1000 requests\n",
	       rb.bytes, (double)rb.bytes * 1000.0 / (double)c.n,
	       (double)(rb.bytes - rb.payload) * 1000.0 / (double)c.n);
	rc = 0;
out:
	unlink(path);
	for (i = 0; i < c.frames; i++)
		free(frames[i]);
	free(frames);
	free(hashes);
	free(used);
	return rc;
}
