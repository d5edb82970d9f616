/* SPDX-License-Identifier: ISC */
/*
 * ctl_prep.c: `pointctl preprocess`, which runs only the preprocessing of
 * the Molmo engine (image/ decode, model/prep, model/tok) and writes every
 * tensor the model would receive as raw little-endian arrays plus a
 * manifest.json, with the names, dtypes and shapes of the golden data
 * (shared/golden/preprocess), so a run can be compared with the reference
 * processor file by file:
 *
 *   pointctl preprocess --model DIR [--image FILE] --prompt TEXT
 *       --dump OUTDIR [--threads N]
 *
 * Files: images.f32 [n_crops, 576, 588], image_masks.f32 [n_crops, 576],
 * image_input_idx.i32 [n_crops, 144], image_token_layout.i64 [seq],
 * input_ids.i64 [seq] (only the last two without --image).  A one-line
 * summary goes to stdout.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "ctl/ctl.h"
#include "image/image.h"
#include "model/pool.h"
#include "model/prep.h"
#include "model/tok.h"
#include "util/err.h"
#include "util/file.h"
#include "util/str.h"
#include "util/xmalloc.h"

#define PROMPT_MAX_BYTES (1u << 20)

struct prep_opts {
	const char *model, *image, *prompt, *dump;
	long long threads;
};

/* Write n bytes as dir/name and describe the array in files. */
static int
write_array(const char *dir, const char *name, const void *p, size_t n,
            json_t *files, const char *dtype, int nd, const int64_t *shape,
            const char *meaning, struct err *e)
{
	char path[4096];
	json_t *sh;
	FILE *f;
	int i;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >=
	    sizeof(path))
		return err_set(e, "%s: path too long", dir);
	f = fopen(path, "wb");
	if (f == NULL)
		return err_set(e, "%s: %s", path, strerror(errno));
	if ((n > 0 && fwrite(p, 1, n, f) != n) || fclose(f) != 0)
		return err_set(e, "%s: write error", path);
	sh = json_array();
	for (i = 0; i < nd; i++)
		json_array_append_new(sh, json_integer(shape[i]));
	json_object_set_new(files, name,
	                    json_pack("{s:s, s:o, s:s}", "dtype", dtype,
	                              "shape", sh, "meaning", meaning));
	return 0;
}

/* Tokenize the wrapped prompt (section 5.3 of the spec). */
static int32_t *
encode_prompt(const struct tok *t, const char *prompt, size_t *n, struct err *e)
{
	size_t len = strlen(prompt) + 32;
	char *text = xmalloc(len);
	int32_t *ids = NULL;
	ssize_t k;

	prep_prompt_text(text, len, prompt);
	k = tok_encode_alloc(t, text, strlen(text), &ids, e);
	free(text);
	if (k < 0)
		return NULL;
	*n = (size_t)k;
	return ids != NULL ? ids : xcalloc(1, sizeof(*ids));
}

static int
special_ids(const struct tok *t, struct prep_ids *ids, struct err *e)
{
	static const char *names[4] = {"<im_start>", "<im_end>", "<im_patch>",
	                               "<im_col>"};
	int32_t v[4];
	int i;

	for (i = 0; i < 4; i++) {
		v[i] = tok_id(t, names[i]);
		if (v[i] < 0)
			return err_set(e, "tokenizer has no %s token",
			               names[i]);
	}
	ids->im_start = v[0];
	ids->im_end = v[1];
	ids->im_patch = v[2];
	ids->im_col = v[3];
	/* The processor prepends bos_token_id or else eos_token_id. */
	ids->bos = tok_bos(t) >= 0 ? tok_bos(t) : tok_eos(t);
	if (ids->bos < 0)
		return err_set(e, "tokenizer has neither BOS nor EOS");
	return 0;
}

static int
run(const struct prep_opts *o)
{
	struct prep_config cfg;
	struct prep *p = NULL;
	struct prep_out out, *po = NULL;
	struct prep_ids ids;
	struct pool *pool = NULL;
	struct tok *t = NULL;
	struct image img = {0, 0, NULL};
	struct model_image mi;
	struct err e;
	json_t *files = json_object(), *man = NULL;
	int32_t *text = NULL, *in = NULL;
	int64_t *i64 = NULL, shape[3];
	void *bytes = NULL;
	size_t n_text = 0, n, len, i;
	char path[4096];
	int rc = CTL_FAIL;

	if (strlen(o->prompt) > PROMPT_MAX_BYTES) {
		fprintf(stderr, "pointctl: prompt longer than %u bytes\n",
		        PROMPT_MAX_BYTES);
		goto out;
	}
	if (prep_config_load(o->model, &cfg, &e) == -1)
		goto fail;
	t = tok_open(o->model, &e);
	if (t == NULL || special_ids(t, &ids, &e) == -1)
		goto fail;
	text = encode_prompt(t, o->prompt, &n_text, &e);
	if (text == NULL)
		goto fail;
	if (o->image != NULL) {
		bytes = file_read(o->image, IMAGE_MAX_BYTES, &len, &e);
		if (bytes == NULL ||
		    image_decode(bytes, len, NULL, &img, &e) == -1)
			goto fail;
		pool = pool_new((int)o->threads, &e);
		p = prep_new(&cfg, &e);
		if (pool == NULL || p == NULL)
			goto fail;
		mi.w = img.w;
		mi.h = img.h;
		mi.rgb = img.rgb;
		if (prep_run(p, &mi, pool, &out, &e) == -1)
			goto fail;
		po = &out;
	}
	n = prep_n_input_ids(po, n_text);
	in = xcalloc(n, sizeof(*in));
	if (prep_build_input_ids(po, &ids, text, n_text, in, n, &e) == -1)
		goto fail;
	if (mkdir(o->dump, 0777) == -1 && errno != EEXIST) {
		err_set(&e, "%s: %s", o->dump, strerror(errno));
		goto fail;
	}
	if (po != NULL) {
		shape[0] = po->n_crops;
		shape[1] = po->n_patches;
		shape[2] = po->patch_dim;
		if (write_array(
		        o->dump, "images.f32", po->images,
		        (size_t)po->n_crops * po->n_patches * po->patch_dim *
		            sizeof(float),
		        files, "f32", 3, shape,
		        "all crops [n_crops, 576, 588]: crop 0 is the global "
		        "336x336 image, then the tiles row-major",
		        &e) == -1)
			goto fail;
		if (po->masks != NULL &&
		    write_array(
		        o->dump, "image_masks.f32", po->masks,
		        (size_t)po->n_crops * po->n_patches * sizeof(float),
		        files, "f32", 2, shape,
		        "fraction of real pixels per patch; the last row is -1 "
		        "(the reference's shift by one crop)",
		        &e) == -1)
			goto fail;
		shape[1] = po->n_pooled;
		if (write_array(
		        o->dump, "image_input_idx.i32", po->input_idx,
		        (size_t)po->n_crops * po->n_pooled * sizeof(int32_t),
		        files, "i32", 2, shape,
		        "position in input_ids receiving each pooled patch "
		        "feature, -100 = dropped",
		        &e) == -1)
			goto fail;
	}
	i64 = xcalloc(n, sizeof(*i64));
	for (i = 0; i < n; i++)
		i64[i] = -1;
	if (po != NULL)
		for (i = 0; i < (size_t)po->n_image_tokens; i++)
			i64[1 + i] = po->layout[i];
	shape[0] = (int64_t)n;
	if (write_array(
	        o->dump, "image_token_layout.i64", i64, n * sizeof(*i64), files,
	        "i64", 1, shape,
	        "input_ids with image tokens mapped to 0=<im_start> 1=<im_end> "
	        "2=<im_patch> 3=<im_col>, -1 = text/BOS",
	        &e) == -1)
		goto fail;
	for (i = 0; i < n; i++)
		i64[i] = in[i];
	if (write_array(o->dump, "input_ids.i64", i64, n * sizeof(*i64), files,
	                "i64", 1, shape, "processor output (BOS first)",
	                &e) == -1)
		goto fail;
	man = json_pack("{s:O, s:s, s:s, s:I}", "files", files, "resize",
	                cfg.resize == PREP_RESIZE_TF ? "tf" : "torch", "prompt",
	                o->prompt, "seq_len", (json_int_t)n);
	if (po != NULL)
		json_object_update_new(
		    man, json_pack("{s:i, s:i, s:[i, i], s:[i, i]}", "n_crops",
		                   po->n_crops, "image_tokens",
		                   po->n_image_tokens, "tiling", po->rows,
		                   po->cols, "image_size", img.w, img.h));
	snprintf(path, sizeof(path), "%s/manifest.json", o->dump);
	if (json_dump_file(man, path, JSON_INDENT(2) | JSON_SORT_KEYS) != 0) {
		err_set(&e, "%s: cannot write", path);
		goto fail;
	}
	if (po != NULL)
		printf("%dx%d image, %dx%d tiling, %d crops, %zu input ids "
		       "(%s resize) -> %s\n",
		       img.w, img.h, po->rows, po->cols, po->n_crops, n,
		       cfg.resize == PREP_RESIZE_TF ? "tf" : "torch", o->dump);
	else
		printf("text only, %zu input ids -> %s\n", n, o->dump);
	rc = CTL_OK;
	goto out;
fail:
	fprintf(stderr, "pointctl: preprocess: %s\n", e.msg);
out:
	json_decref(man);
	json_decref(files);
	free(i64);
	free(in);
	free(text);
	free(bytes);
	image_fini(&img);
	prep_free(p);
	pool_free(pool);
	tok_close(t);
	return rc;
}

int
ctl_preprocess(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"model", required_argument, NULL, 'm'},
	    {"image", required_argument, NULL, 'i'},
	    {"prompt", required_argument, NULL, 'p'},
	    {"dump", required_argument, NULL, 'd'},
	    {"threads", required_argument, NULL, 't'},
	    {NULL, 0, NULL, 0},
	};
	struct prep_opts o;
	const char *es;
	int c;

	memset(&o, 0, sizeof(o));
	o.threads = 1;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'm':
			o.model = optarg;
			break;
		case 'i':
			o.image = optarg;
			break;
		case 'p':
			o.prompt = optarg;
			break;
		case 'd':
			o.dump = optarg;
			break;
		case 't':
			if (str_to_ll(optarg, 1, POOL_MAX_THREADS, &o.threads,
			              &es) == -1) {
				fprintf(stderr, "pointctl: --threads %s: %s\n",
				        optarg, es);
				return ctl_usage("preprocess");
			}
			break;
		default:
			return ctl_usage("preprocess");
		}
	}
	if (optind != argc || o.model == NULL || o.prompt == NULL ||
	    o.dump == NULL)
		return ctl_usage("preprocess");
	return run(&o);
}
