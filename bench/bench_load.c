/* SPDX-License-Identifier: ISC */
/*
 * bench_load.c: open a checkpoint directory (st_open + hparams_load) and
 * print the bytes mapped, the number of tensors and shards, and the load
 * time in ms (median of the runs).  The weights are mapped, not read, so
 * the time should not grow with the checkpoint size beyond the header
 * parse, and the peak RSS (which counts pages touched, not pages mapped)
 * should stay near the header sizes.  Usage: bench_load DIR [RUNS]
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

#include "bench/benchutil.h"
#include "model/hparams.h"
#include "model/st.h"
#include "util/clock.h"
#include "util/str.h"

int
main(int argc, char **argv)
{
	struct hparams hp;
	struct rusage ru;
	struct err e;
	struct st *s;
	double t[101], t0;
	long long runs = 5;
	const char *errstr;
	uint64_t mapped = 0;
	size_t n = 0;
	int i, shards = 0, have_hp;

	if (argc < 2 || argc > 3 ||
	    (argc == 3 && str_to_ll(argv[2], 1, 101, &runs, &errstr) == -1)) {
		fprintf(stderr, "usage: bench_load DIR [RUNS (1..101)]\n");
		return 2;
	}
	have_hp = hparams_load(&hp, argv[1], &e) == 0;
	if (!have_hp)
		fprintf(stderr, "bench_load: (config) %s\n", e.msg);
	for (i = 0; i < runs; i++) {
		t0 = clock_ms();
		s = st_open(argv[1], &e);
		t[i] = clock_ms() - t0;
		if (s == NULL) {
			fprintf(stderr, "bench_load: %s\n", e.msg);
			return 1;
		}
		mapped = st_mapped_bytes(s);
		n = st_count(s);
		shards = st_n_shards(s);
		st_close(s);
	}
	qsort(t, (size_t)runs, sizeof(t[0]), bench_cmp_double);
	printf("dir %s\n", argv[1]);
	if (have_hp)
		printf("arch %s d_model %d layers %d vit_layers %d\n",
		       hparams_arch_name(hp.arch), hp.d_model, hp.n_layers,
		       hp.vit.n_layers);
	printf("mapped_bytes %" PRIu64 " tensors %zu shards %d\n", mapped, n,
	       shards);
	getrusage(RUSAGE_SELF, &ru);
	printf("peak_rss_kib %ld\n", ru.ru_maxrss);
	printf("load_ms median %.3f min %.3f max %.3f (%lld runs)\n",
	       t[runs / 2], t[0], t[runs - 1], runs);
	return 0;
}
