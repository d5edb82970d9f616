/* SPDX-License-Identifier: ISC */
/*
 * bench_molmo2.c: per-stage time of the Molmo 2 engine (model/model2.h) on
 * a checkpoint with the real Molmo2-8B shapes (bench/gen_synth.py --arch
 * molmo2: random bf16 weights, a few decoder and ViT blocks) and a
 * 1280x720 screenshot at max_crops 8 (2x4 tiling, 9 crops, 1162 pooled
 * tokens, about 1200 prompt tokens).
 *
 *   bench_molmo2 MODEL_DIR TOKENIZER IMAGE.png [threads] [reps] [vit_crops]
 *                [steps]
 *
 * Stages, each the median of reps runs:
 *   preprocess  prep2_run on the image + tokenizing + the id layout
 *   vision      SigLIP 2 on vit_crops crops (default 1), per crop and per
 *               ViT block
 *   connector   pooling + projector over all pooled tokens
 *   prefill     the decoder over the prompt (prefix-LM mask)
 *   decode      steps single-token passes after the prefill
 *   lm_head     the LM head alone on one row
 * then the same scaled to Molmo2-8B: all crops x 25 ViT blocks, 36 decoder
 * blocks (linear in the block count: blocks have identical shapes).
 *
 * White-box: uses model2.h's stage functions.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench/benchutil.h"
#include "image/image.h"
#include "model/model2.h"
#include "model/model_impl.h" /* gen_argmax */
#include "model/tok.h"
#include "util/clock.h"
#include "util/str.h"

#define MAXREP 16

int
main(int argc, char **argv)
{
	struct model_params mp = model_params_default();
	struct model2 *m;
	struct model2_session *s;
	struct image img = {0};
	struct model_image mi;
	struct prep2_out po;
	struct err e;
	double t_pre[MAXREP], t_vis[MAXREP], t_con[MAXREP], t_fill[MAXREP],
	    t_dec[MAXREP], t_head[MAXREP], c_vis[MAXREP], c_fill[MAXREP],
	    c_dec[MAXREP], t0, c0, pre, vis, con, fill, dec, head, per_blk;
	int threads = (int)bench_arg("bench_molmo2", argc, argv, 4, 1, 256, 1);
	int reps = (int)bench_arg("bench_molmo2", argc, argv, 5, 1, MAXREP, 1);
	int crops = (int)bench_arg("bench_molmo2", argc, argv, 6, 1, 64, 1);
	int steps = (int)bench_arg("bench_molmo2", argc, argv, 7, 1, 4096, 8);
	int r, c, k, n_ids = 0, d, i, j, tk;
	size_t len, tl;
	void *bytes;
	int32_t *tids = NULL, t;
	ssize_t nt;
	char desc[256], *text;
	float *row;

	if (argc < 4) {
		fprintf(stderr, "usage: bench_molmo2 model_dir tokenizer.json "
		                "image [threads] [reps<=16] [vit_crops] "
		                "[steps]\n");
		return 2;
	}
	mp.n_threads = threads;
	kern_init();
	m = model2_open(argv[1], &mp, argv[2], NULL, &e);
	if (m == NULL) {
		fprintf(stderr, "bench_molmo2: %s\n", e.msg);
		return 1;
	}
	s = model2_session_new(m, 8, &e);
	if (s == NULL) {
		fprintf(stderr, "bench_molmo2: %s\n", e.msg);
		return 1;
	}
	model2_describe(m, desc, sizeof(desc));
	printf("model: %s, kernels %s\nthreads %d, reps %d (medians), ViT on "
	       "%d crop(s), %d decode steps\n",
	       desc, kern_name(), threads, reps, crops, steps);
	bytes = bench_read_file("bench_molmo2", argv[3], (size_t)1 << 30, &len);
	if (image_decode(bytes, len, NULL, &img, &e) == -1) {
		fprintf(stderr, "bench_molmo2: %s: %s\n", argv[3], e.msg);
		return 1;
	}
	mi.w = img.w;
	mi.h = img.h;
	mi.rgb = img.rgb;
	d = m->hp.d;
	row = malloc((size_t)m->n_text_out * sizeof(float));
	tl = prep2_prompt_text(NULL, 0, "Point to the Submit button") + 1;
	text = malloc(tl);
	prep2_prompt_text(text, tl, "Point to the Submit button");

	for (r = 0; r < reps; r++) {
		t0 = clock_ms();
		if (prep2_run(s->prep, &mi, 8, s->pool, &po, &e) == -1) {
			fprintf(stderr, "bench_molmo2: %s\n", e.msg);
			return 1;
		}
		free(tids);
		nt = tok_encode_alloc(m->tok, text, tl - 1, &tids, &e);
		n_ids = (int)prep2_build_input_ids(&m->pcfg, &po, &m->ids, tids,
		                                   (size_t)nt, s->ids,
		                                   (size_t)s->n_ctx, &e);
		t_pre[r] = clock_ms() - t0;
		if (nt < 0 || n_ids < 0) {
			fprintf(stderr, "bench_molmo2: %s\n", e.msg);
			return 1;
		}
		/* the tokenizer's ids index the checkpoint's embeddings
		 * directly: no vocabulary map here */
		for (i = 0; i < n_ids; i++)
			if (s->ids[i] < 0 || s->ids[i] >= m->n_embed) {
				fprintf(
				    stderr,
				    "bench_molmo2: token id %d is outside "
				    "the checkpoint's %d embeddings (a "
				    "pruned vocabulary needs a vocabulary "
				    "map, which this bench does not take)\n",
				    (int)s->ids[i], m->n_embed);
				return 1;
			}
		s->n_tok = po.n_tokens;
		s->n_crops = po.n_crops;
		memcpy(s->pooling, po.pooling,
		       (size_t)po.n_tokens * 4 * sizeof(int32_t));
		prep2_token_types(&m->ids, s->ids, (size_t)n_ids, s->types);

		t0 = clock_ms();
		c0 = bench_ms(CLOCK_PROCESS_CPUTIME_ID);
		for (c = 0; c < crops && c < po.n_crops; c++)
			vit2_crop(s,
			          po.pixels +
			              (size_t)c * po.n_patches * po.patch_dim,
			          c);
		t_vis[r] = clock_ms() - t0;
		c_vis[r] = bench_ms(CLOCK_PROCESS_CPUTIME_ID) - c0;
		t0 = clock_ms();
		conn2_run(s, s->pooling, s->n_tok);
		t_con[r] = clock_ms() - t0;

		for (i = 0, tk = 0; i < n_ids; i++) {
			float *xi = s->x + (size_t)i * d;
			lm3_embed(m, s->ids[i], xi);
			if (s->ids[i] == m->hp.im_patch && tk < s->n_tok) {
				for (j = 0; j < d; j++)
					xi[j] += s->conn[(size_t)tk * d + j];
				tk++;
			}
		}
		t0 = clock_ms();
		c0 = bench_ms(CLOCK_PROCESS_CPUTIME_ID);
		s->n_past = 0;
		lm3_forward(s, s->x, n_ids);
		t_fill[r] = clock_ms() - t0;
		c_fill[r] = bench_ms(CLOCK_PROCESS_CPUTIME_ID) - c0;

		t0 = clock_ms();
		c0 = bench_ms(CLOCK_PROCESS_CPUTIME_ID);
		for (k = 0; k < steps; k++) {
			t = gen_argmax(s->logits, m->n_text_out);
			lm3_embed(m, t, s->emb1);
			s->types[s->n_past] = 0;
			lm3_forward(s, s->emb1, 1);
		}
		t_dec[r] = (clock_ms() - t0) / steps;
		c_dec[r] = (bench_ms(CLOCK_PROCESS_CPUTIME_ID) - c0) / steps;

		t0 = clock_ms();
		for (k = 0; k < steps; k++)
			kern_linear(s->pool, row, s->hlast, 1, &m->w.lm_head,
			            NULL);
		t_head[r] = (clock_ms() - t0) / steps;
	}
	pre = bench_median(t_pre, reps);
	vis = bench_median(t_vis, reps);
	con = bench_median(t_con, reps);
	fill = bench_median(t_fill, reps);
	dec = bench_median(t_dec, reps);
	head = bench_median(t_head, reps);
	c = crops < po.n_crops ? crops : po.n_crops;
	per_blk = vis / c / m->vit_run;
	printf("image %dx%d -> %d crops, %d pooled tokens, %d prompt tokens\n",
	       img.w, img.h, po.n_crops, po.n_tokens, n_ids);
	printf("measured (%d ViT blocks run, %d decoder blocks):\n", m->vit_run,
	       m->hp.n_layers);
	printf("  preprocess      %10.1f ms\n", pre);
	printf("  vision          %10.1f ms per crop (%.1f ms per ViT block)\n",
	       vis / c, per_blk);
	printf("  connector       %10.1f ms (all %d tokens)\n", con,
	       po.n_tokens);
	printf("  prefill         %10.1f ms (%.2f ms per token)\n", fill,
	       fill / n_ids);
	printf("  decode          %10.1f ms per token (LM head %.1f ms)\n", dec,
	       head);
	printf("  CPU time, all threads: vision %.1f ms per crop, prefill "
	       "%.1f ms, decode %.1f ms per token\n",
	       bench_median(c_vis, reps) / c, bench_median(c_fill, reps),
	       bench_median(c_dec, reps));
	printf("scaled to Molmo2-8B (%d crops x 25 ViT blocks, 36 decoder "
	       "blocks):\n",
	       po.n_crops);
	printf("  preprocess      %10.1f ms\n", pre);
	printf("  vision          %10.1f ms (+ connector %.1f ms)\n",
	       per_blk * 25 * po.n_crops, con);
	printf("  prefill         %10.1f ms\n",
	       (fill - head) / m->hp.n_layers * 36 + head);
	printf("  decode          %10.1f ms per token\n",
	       (dec - head) / m->hp.n_layers * 36 + head);
	printf("  (CPU time scaled: vision %.1f s, prefill %.1f s, decode <= "
	       "%.1f ms per token)\n",
	       bench_median(c_vis, reps) / c / m->vit_run * 25 * po.n_crops /
	           1e3,
	       bench_median(c_fill, reps) / m->hp.n_layers * 36 / 1e3,
	       bench_median(c_dec, reps) / m->hp.n_layers * 36);
	free(row);
	free(text);
	free(tids);
	free(bytes);
	image_fini(&img);
	model2_session_free(s);
	model2_close(m);
	return 0;
}
