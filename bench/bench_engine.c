/* SPDX-License-Identifier: ISC */
/*
 * bench_engine.c: per-stage time of the Molmo engine on a checkpoint with
 * the real Molmo-7B-D shapes (bench/gen_synth.py: random bf16 weights, a few
 * decoder and ViT blocks) and a 1280x720 screenshot.
 *
 *   bench_engine MODEL_DIR IMAGE.png [threads] [reps] [vit_crops] [steps]
 *
 * Stages, each the median of reps runs:
 *   preprocess  prep_run on the image (all crops) + tokenizing the prompt
 *   vision      ViT + connector on vit_crops crops (default 1), reported per
 *               crop and per ViT block
 *   prefill     the decoder over the prompt's embeddings (about 1207 tokens)
 *   decode      steps single-token forward passes after the prefill
 *   lm_head     the LM head alone on one row (part of every decode step)
 * then the same scaled to the full model: 13 crops x 22 ViT blocks, 28
 * decoder blocks (decode = blocks x 14 + head).  Scaling is linear in the
 * block count, which holds because blocks have identical shapes; it omits
 * nothing but the once-per-pass embedding lookup.
 *
 * White-box: uses model_impl.h to time stages separately.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench/benchutil.h"
#include "image/image.h"
#include "model/model.h"
#include "model/model_impl.h"
#include "model/tok.h"
#include "util/clock.h"
#include "util/str.h"

#define MAXREP 16

int
main(int argc, char **argv)
{
	struct model_params mp = model_params_default();
	struct model *m;
	struct model_session *s;
	struct image img = {0};
	struct model_image mi;
	struct prep_out po;
	struct err e;
	double t_pre[MAXREP], t_vis[MAXREP], t_fill[MAXREP], t_dec[MAXREP],
	    t_head[MAXREP], t0, pre, vis, fill, dec, head, per_blk, per_crop,
	    c_vis[MAXREP], c_fill[MAXREP], c_dec[MAXREP], c0;
	int threads = (int)bench_arg("bench_engine", argc, argv, 3, 1, 256, 1);
	int reps = (int)bench_arg("bench_engine", argc, argv, 4, 1, MAXREP, 1);
	int crops = (int)bench_arg("bench_engine", argc, argv, 5, 1,
	                           MODEL_MAX_CROPS, 1);
	int steps = (int)bench_arg("bench_engine", argc, argv, 6, 1, 4096, 8);
	int r, c, k, n_ids = 0, d;
	size_t len;
	void *bytes;
	int32_t *tids = NULL, t;
	ssize_t nt;
	char desc[256];
	const char *text = " User: Point to the search button Assistant:";
	float *row;

	if (argc < 3 || threads < 1 || reps < 1 || reps > MAXREP || crops < 1 ||
	    crops > MODEL_MAX_CROPS || steps < 1) {
		fprintf(stderr, "usage: bench_engine model_dir image [threads] "
		                "[reps<=16] [vit_crops<=13] [steps]\n");
		return 2;
	}
	mp.n_threads = threads;
	m = model_open(argv[1], &mp, &e);
	if (m == NULL) {
		fprintf(stderr, "bench_engine: %s\n", e.msg);
		return 1;
	}
	s = model_session_new(m, &e);
	if (s == NULL) {
		fprintf(stderr, "bench_engine: %s\n", e.msg);
		return 1;
	}
	model_describe(m, desc, sizeof(desc));
	printf("model: %s\nthreads %d, reps %d (medians), ViT on %d crop(s), "
	       "%d decode steps\n",
	       desc, threads, reps, crops, steps);
	bytes = bench_read_file("bench_engine", argv[2], (size_t)1 << 30, &len);
	if (image_decode(bytes, len, NULL, &img, &e) == -1) {
		fprintf(stderr, "bench_engine: %s: %s\n", argv[2], e.msg);
		return 1;
	}
	mi.w = img.w;
	mi.h = img.h;
	mi.rgb = img.rgb;
	d = m->hp.d_model;
	row = malloc((size_t)m->n_vocab_out * sizeof(float));

	for (r = 0; r < reps; r++) {
		t0 = clock_ms();
		if (prep_run(s->prep, &mi, s->pool, &po, &e) == -1) {
			fprintf(stderr, "bench_engine: %s\n", e.msg);
			return 1;
		}
		free(tids);
		nt = tok_encode_alloc(m->tok, text, strlen(text), &tids, &e);
		n_ids = (int)prep_build_input_ids(&po, &m->prep_ids, tids,
		                                  (size_t)nt, s->ids,
		                                  (size_t)s->n_ctx, &e);
		t_pre[r] = clock_ms() - t0;
		if (n_ids < 0) {
			fprintf(stderr, "bench_engine: %s\n", e.msg);
			return 1;
		}

		t0 = clock_ms();
		c0 = bench_ms(CLOCK_PROCESS_CPUTIME_ID);
		for (c = 0; c < crops; c++) {
			vit_crop(s,
			         po.images +
			             (size_t)c * m->n_patch * m->patch_dim,
			         c);
			conn_crop(s, po.masks + (size_t)c * m->n_patch, c);
		}
		t_vis[r] = clock_ms() - t0;
		c_vis[r] = bench_ms(CLOCK_PROCESS_CPUTIME_ID) - c0;

		lm_embed(m, s->ids, n_ids, s->emb);
		t0 = clock_ms();
		c0 = bench_ms(CLOCK_PROCESS_CPUTIME_ID);
		s->n_past = 0;
		lm_forward(s, s->emb, n_ids, NULL);
		t_fill[r] = clock_ms() - t0;
		c_fill[r] = bench_ms(CLOCK_PROCESS_CPUTIME_ID) - c0;

		t0 = clock_ms();
		c0 = bench_ms(CLOCK_PROCESS_CPUTIME_ID);
		for (k = 0; k < steps; k++) {
			t = gen_argmax(s->logits, m->n_vocab_out);
			lm_embed(m, &t, 1, s->emb + (size_t)s->n_past * d);
			lm_forward(s, s->emb + (size_t)s->n_past * d, 1, NULL);
		}
		t_dec[r] = (clock_ms() - t0) / steps;
		c_dec[r] = (bench_ms(CLOCK_PROCESS_CPUTIME_ID) - c0) / steps;

		t0 = clock_ms();
		for (k = 0; k < steps; k++)
			kern_linear(s->pool, row, s->emb, 1, &m->w.lm_head,
			            NULL);
		t_head[r] = (clock_ms() - t0) / steps;
	}
	pre = bench_median(t_pre, reps);
	vis = bench_median(t_vis, reps);
	fill = bench_median(t_fill, reps);
	dec = bench_median(t_dec, reps);
	head = bench_median(t_head, reps);
	per_crop = vis / crops;
	per_blk = per_crop / m->vit_run; /* connector folded in: small */
	printf("image %dx%d -> %d crops, %d prompt tokens\n", img.w, img.h,
	       po.n_crops, n_ids);
	printf("measured (%d ViT blocks run, %d decoder blocks):\n", m->vit_run,
	       m->hp.n_layers);
	printf("  preprocess      %10.1f ms\n", pre);
	printf("  vision          %10.1f ms per crop (%.1f ms per ViT "
	       "block)\n",
	       per_crop, per_blk);
	printf("  prefill         %10.1f ms (%.2f ms per token)\n", fill,
	       fill / n_ids);
	printf("  decode          %10.1f ms per token (LM head %.1f ms)\n", dec,
	       head);
	printf("  CPU time, all threads: vision %.1f ms per crop, prefill "
	       "%.1f ms, decode %.1f ms per token\n",
	       bench_median(c_vis, reps) / crops, bench_median(c_fill, reps),
	       bench_median(c_dec, reps));
	printf("scaled to Molmo-7B-D (13 crops x 22 ViT blocks, 28 decoder "
	       "blocks):\n");
	printf("  preprocess      %10.1f ms\n", pre);
	printf("  vision          %10.1f ms\n", per_blk * 22 * po.n_crops);
	printf("  prefill         %10.1f ms\n",
	       (fill - head) / m->hp.n_layers * 28 + head);
	printf("  decode          %10.1f ms per token\n",
	       (dec - head) / m->hp.n_layers * 28 + head);
	printf("  (CPU time scaled the same way: vision %.1f s, prefill %.1f "
	       "s, decode <= %.1f ms per token; CPU ms of all threads)\n",
	       bench_median(c_vis, reps) / crops / m->vit_run * 22 *
	           po.n_crops / 1e3,
	       bench_median(c_fill, reps) / m->hp.n_layers * 28 / 1e3,
	       bench_median(c_dec, reps) / m->hp.n_layers * 28);
	free(row);
	free(tids);
	free(bytes);
	image_fini(&img);
	model_session_free(s);
	model_close(m);
	return 0;
}
