/* SPDX-License-Identifier: ISC */
/*
 * ctl_run.c: `pointctl run` and `pointctl point`, one-shot runs of the Molmo
 * engine (model/model.h) on a PNG or JPEG.
 *
 *   pointctl run --model DIR [--image IMG] --prompt TEXT
 *       [--max-new-tokens N] [--ignore-eos] [--threads N] [--ctx N]
 *       [--bf16] [--dump OUTDIR] [--json] [--max-crops N]
 *       [--tokenizer PATH] [--vocab-map FILE]
 *   pointctl point --model DIR [--threads N] [--json] [--max-crops N]
 *       [--tokenizer PATH] [--vocab-map FILE] IMAGE TARGET
 *
 * run prints the generated text, then one line per point ("x y label",
 * pixels of IMAGE); with --json one object {"text", "ids", "points":
 * [{"x", "y", "label"}], "stop", "timings"}.  point wraps TARGET in the
 * pointing prompt the models were trained with ("Point to the TARGET", spec
 * molmo-v1.md §8.4), generates up to 192 tokens and prints the points, or
 * "none" (the answer then goes to stderr).
 *
 * The memory plan (weights mapped, KV cache, activations) goes to stderr at
 * load; it is checked against /proc/meminfo MemAvailable, read here and
 * passed to model_open, which refuses a model that does not fit.  Timings
 * per stage go to stderr.  --dump OUTDIR writes what the golden data holds
 * (vit_features.f32, pooled.f32, connector.f32, input_ids.i64,
 * generated_ids.i64, generation_step_logits.f32 with the first step only)
 * and a manifest.json giving each file's dtype and shape.
 *
 * Molmo 2 / MolmoPoint checkpoints (model2.h) run the same way.
 * --max-crops N bounds the hi-res crops of the image (default: the
 * checkpoint's, 8); --tokenizer PATH selects a tokenizer.json (or a
 * directory) when the checkpoint ships none, and --vocab-map FILE maps the
 * tokenizer's real ids to the ids of a checkpoint with a pruned vocabulary
 * and back (the tiny test checkpoints' tiny_vocab.json).  MolmoPoint's
 * points come from its point tokens, decoded to pixels by the engine.
 * --dump also writes point_patch_k.f32 / point_subpatch_k.f32 for
 * MolmoPoint, and the manifest names each file's tensor in the golden data
 * ("vit.features", "connector.pooled", "connector.out", "logits.step0",
 * "pre.input_ids", "gen.tokens", "point.patch_k", "point.subpatch_k").
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "ctl/ctl.h"
#include "image/image.h"
#include "model/answer.h"
#include "model/model.h"
#include "util/err.h"
#include "util/file.h"
#include "util/str.h"
#include "util/xmalloc.h"

struct run_opts {
	const char *model, *image, *prompt, *dump;
	const char *tokenizer, *vocab_map;
	const char *backend; /* point: "molmo", "text" or "auto" */
	long long max_new, threads, ctx, max_crops;
	bool ignore_eos, json, bf16;
};

/* The label of point k: the tag's alt attribute, else its text. */
static const char *
point_label(const struct answer *a, size_t k)
{
	const struct answer_tag *t = &a->tags[a->pts[k].tag];

	return t->alt != NULL ? t->alt : t->label;
}

/* MolmoPoint: the label of its points, the text between the coords
 * attribute's closing `">` and `</point`, or "" (output grammar §10.2). */
static void
point_label2(const char *text, char *out, size_t n)
{
	const char *a = text != NULL ? strstr(text, "coords=\"") : NULL;
	const char *b, *c;

	out[0] = '\0';
	if (a == NULL || (b = strstr(a + 8, "\">")) == NULL)
		return;
	b += 2;
	c = strstr(b, "</point");
	if (c == NULL)
		c = b + strlen(b);
	snprintf(out, n, "%.*s", (int)(c - b), b);
}

/* ---- Files ---- */

/* MemAvailable of /proc/meminfo in bytes, 0 when unknown. */
static uint64_t
mem_available(void)
{
	FILE *f = fopen("/proc/meminfo", "r");
	char line[256];
	unsigned long long kb;
	uint64_t r = 0;

	if (f == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1)
			r = (uint64_t)kb * 1024;
	fclose(f);
	return r;
}

static int
write_array(const char *dir, const char *name, const void *p, size_t bytes,
            json_t *files, const char *dtype, int ndim, const int64_t *shape,
            struct err *e)
{
	char path[4096];
	FILE *f;
	json_t *sh = json_array();
	int i;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (f == NULL || fwrite(p, 1, bytes, f) != bytes) {
		if (f != NULL)
			fclose(f);
		json_decref(sh);
		return err_set(e, "%s: %s", path, strerror(errno));
	}
	if (fclose(f) != 0) {
		json_decref(sh);
		return err_set(e, "%s: %s", path, strerror(errno));
	}
	for (i = 0; i < ndim; i++)
		json_array_append_new(sh, json_integer(shape[i]));
	json_object_set_new(
	    files, name, json_pack("{s:s, s:o}", "dtype", dtype, "shape", sh));
	return 0;
}

/* --dump: the golden files of this run, and manifest.json. */
static int
dump(const char *dir, const struct model_session *s,
     const struct model_result *res, struct err *e)
{
	static const struct {
		enum model_tensor t;
		const char *name, *golden;
	} tens[] = {
	    {MODEL_T_VIT_FEATURES, "vit_features.f32", "vit.features"},
	    {MODEL_T_POOLED, "pooled.f32", "connector.pooled"},
	    {MODEL_T_CONNECTOR, "connector.f32", "connector.out"},
	    {MODEL_T_FIRST_LOGITS, "generation_step_logits.f32",
	     "logits.step0"},
	    {MODEL_T_PATCH_K, "point_patch_k.f32", "point.patch_k"},
	    {MODEL_T_SUBPATCH_K, "point_subpatch_k.f32", "point.subpatch_k"},
	};
	json_t *files = json_object(), *man;
	int64_t shape[3], *ids = NULL;
	int nd, i, k, rc = -1;
	size_t n;
	char path[4096];

	if (mkdir(dir, 0755) == -1 && errno != EEXIST) {
		err_set(e, "%s: %s", dir, strerror(errno));
		goto out;
	}
	for (k = 0; k < (int)(sizeof(tens) / sizeof(tens[0])); k++) {
		const float *p = model_session_tensor(s, tens[k].t, shape, &nd);

		if (p == NULL)
			continue;
		if (tens[k].t == MODEL_T_FIRST_LOGITS) {
			shape[1] = shape[0]; /* [1, vocab]: step 0 */
			shape[0] = 1;
			nd = 2;
		}
		for (n = 1, i = 0; i < nd; i++)
			n *= (size_t)shape[i];
		if (write_array(dir, tens[k].name, p, n * sizeof(float), files,
		                "f32", nd, shape, e) == -1)
			goto out;
		json_object_set_new(json_object_get(files, tens[k].name),
		                    "golden", json_string(tens[k].golden));
	}
	ids = xcalloc((size_t)res->n_prompt + (size_t)res->n_ids + 1, 8);
	for (i = 0; i < res->n_prompt; i++)
		ids[i] = res->prompt_ids[i];
	shape[0] = res->n_prompt;
	if (write_array(dir, "input_ids.i64", ids, (size_t)res->n_prompt * 8,
	                files, "i64", 1, shape, e) == -1)
		goto out;
	json_object_set_new(json_object_get(files, "input_ids.i64"), "golden",
	                    json_string("pre.input_ids"));
	for (i = 0; i < res->n_ids; i++)
		ids[i] = res->ids[i];
	shape[0] = res->n_ids;
	if (write_array(dir, "generated_ids.i64", ids, (size_t)res->n_ids * 8,
	                files, "i64", 1, shape, e) == -1)
		goto out;
	json_object_set_new(json_object_get(files, "generated_ids.i64"),
	                    "golden", json_string("gen.tokens"));
	man = json_pack("{s:O}", "files", files);
	snprintf(path, sizeof(path), "%s/manifest.json", dir);
	if (json_dump_file(man, path, JSON_INDENT(1) | JSON_SORT_KEYS) != 0) {
		json_decref(man);
		err_set(e, "%s: cannot write", path);
		goto out;
	}
	json_decref(man);
	rc = 0;
out:
	free(ids);
	json_decref(files);
	return rc;
}

/* ---- Running ---- */

static const char *
stop_name(enum model_stop st)
{
	switch (st) {
	case MODEL_STOP_EOS:
		return "eos";
	case MODEL_STOP_LENGTH:
		return "length";
	case MODEL_STOP_CTX:
		return "context";
	case MODEL_STOP_CANCEL:
		return "cancelled";
	}
	return "?";
}

static void
print_plan(const struct model *m, uint64_t avail)
{
	const struct model_mem *mm = model_mem(m);
	char desc[256];

	model_describe(m, desc, sizeof(desc));
	fprintf(stderr, "pointctl: model %s\n", desc);
	fprintf(stderr,
	        "pointctl: memory: weights mapped %.2f GiB, copied %.1f MiB, "
	        "KV cache %.1f MiB, activations %.1f MiB, total %.2f GiB "
	        "(available %.2f GiB)\n",
	        (double)mm->weights_mapped / (1 << 30),
	        (double)mm->weights_copied / (1 << 20),
	        (double)mm->kv_cache / (1 << 20),
	        (double)mm->activations / (1 << 20),
	        (double)mm->total / (1 << 30), (double)avail / (1 << 30));
}

static int
run(const struct run_opts *o, bool point_mode)
{
	struct model_params mp = model_params_default();
	struct model_request rq = model_request_default();
	struct model_result res;
	struct model *m = NULL;
	struct model_session *s = NULL;
	struct image img = {0};
	struct model_image mi;
	struct answer ans = {0};
	struct err ae;
	struct err e;
	char label2[256];
	void *bytes = NULL;
	size_t len;
	int rc = CTL_FAIL, i;
	size_t k;
	uint64_t avail = mem_available();

	mp.n_threads = (int)o->threads;
	mp.n_ctx = (int)o->ctx;
	mp.mem_available = avail;
	mp.tokenizer = o->tokenizer;
	mp.vocab_map = o->vocab_map;
	mp.max_crops = (int)o->max_crops;
	if (o->bf16)
		mp.weights = MODEL_WEIGHTS_BF16;
	if (o->image != NULL) {
		bytes = file_read(o->image, IMAGE_MAX_BYTES, &len, &e);
		if (bytes == NULL ||
		    image_decode(bytes, len, NULL, &img, &e) == -1) {
			fprintf(stderr, "pointctl: %s\n", e.msg);
			goto out;
		}
		mi.w = img.w;
		mi.h = img.h;
		mi.rgb = img.rgb;
		rq.image = &mi;
	}
	m = model_open(o->model, &mp, &e);
	if (m == NULL) {
		fprintf(stderr, "pointctl: %s\n", e.msg);
		goto out;
	}
	print_plan(m, avail);
	s = model_session_new(m, &e);
	if (s == NULL) {
		fprintf(stderr, "pointctl: %s\n", e.msg);
		goto out;
	}
	rq.prompt = o->prompt;
	rq.max_new_tokens = (int)o->max_new;
	rq.ignore_eos = o->ignore_eos;
	rq.max_crops = (int)o->max_crops;
	if (model_run(s, &rq, &res, &e) == -1) {
		fprintf(stderr, "pointctl: %s\n", e.msg);
		goto out;
	}
	fprintf(stderr,
	        "pointctl: preprocess %.1f ms, vision %.1f ms (%d crops), "
	        "prefill %.1f ms (%d tokens), decode %.1f ms (%d tokens, "
	        "%.1f ms/token), stop: %s\n",
	        res.t.preprocess_ms, res.t.vision_ms, res.t.n_crops,
	        res.t.prefill_ms, res.t.n_prompt, res.t.decode_ms, res.t.n_gen,
	        res.t.n_gen > 1 ? res.t.decode_ms / (res.t.n_gen - 1) : 0.0,
	        stop_name(res.stop));
	/* points (spec §8.2-8.3); an answer without any is not an error */
	ae.msg[0] = '\0';
	if (rq.image != NULL && res.points == NULL &&
	    answer_parse(res.text, img.w, img.h, &ans, &ae) == -1)
		memset(&ans, 0, sizeof(ans));
	point_label2(res.text, label2, sizeof(label2));
	if (o->dump != NULL && dump(o->dump, s, &res, &e) == -1) {
		fprintf(stderr, "pointctl: dump: %s\n", e.msg);
		goto out;
	}
	if (o->json) {
		json_t *ids = json_array(), *jp = json_array(), *obj;

		for (i = 0; i < res.n_ids; i++)
			json_array_append_new(ids, json_integer(res.ids[i]));
		for (k = 0; k < ans.n; k++)
			json_array_append_new(
			    jp, json_pack("{s:f, s:f, s:s}", "x", ans.pts[k].x,
			                  "y", ans.pts[k].y, "label",
			                  point_label(&ans, k)));
		for (i = 0; i < res.n_points; i++)
			json_array_append_new(
			    jp,
			    json_pack("{s:f, s:f, s:s, s:i}", "x",
			              res.points[4 * i + 2], "y",
			              res.points[4 * i + 3], "label", label2,
			              "id", (int)res.points[4 * i]));
		obj = json_pack(
		    "{s:s, s:o, s:o, s:s, s:{s:f, s:f, s:f, s:f, s:i, s:i, "
		    "s:i}}",
		    "text", res.text, "ids", ids, "points", jp, "stop",
		    stop_name(res.stop), "timings", "preprocess_ms",
		    res.t.preprocess_ms, "vision_ms", res.t.vision_ms,
		    "prefill_ms", res.t.prefill_ms, "decode_ms",
		    res.t.decode_ms, "n_crops", res.t.n_crops, "n_prompt",
		    res.t.n_prompt, "n_gen", res.t.n_gen);
		if (obj == NULL) {
			/* json_pack fails on text that is not UTF-8 */
			fprintf(stderr,
			        "pointctl: answer is not valid UTF-8\n");
			goto out;
		}
		json_dumpf(obj, stdout, JSON_COMPACT | JSON_REAL_PRECISION(7));
		putchar('\n');
		json_decref(obj);
	} else {
		if (!point_mode)
			printf("%s\n", res.text);
		for (k = 0; k < ans.n; k++)
			printf("%.1f %.1f %s\n", ans.pts[k].x, ans.pts[k].y,
			       point_label(&ans, k));
		for (i = 0; i < res.n_points; i++)
			printf("%.2f %.2f %s\n", res.points[4 * i + 2],
			       res.points[4 * i + 3], label2);
		if (point_mode && ans.n == 0 && res.n_points == 0) {
			printf("none\n");
			fprintf(stderr, "pointctl: answer: %s%s%s\n", res.text,
			        ae.msg[0] != '\0' ? " -- " : "", ae.msg);
		}
	}
	rc = CTL_OK;
out:
	answer_fini(&ans);
	model_session_free(s);
	model_close(m);
	image_fini(&img);
	free(bytes);
	return rc;
}

static int
num_opt(const char *name, const char *arg, long long lo, long long hi,
        long long *v)
{
	const char *err;

	if (str_to_ll(arg, lo, hi, v, &err) == -1) {
		fprintf(stderr, "pointctl: %s %s: %s\n", name, arg, err);
		return -1;
	}
	return 0;
}

enum {
	O_MODEL = 256,
	O_IMAGE,
	O_PROMPT,
	O_MAXNEW,
	O_IGNORE,
	O_THREADS,
	O_DUMP,
	O_JSON,
	O_CTX,
	O_BF16,
	O_MAXCROPS,
	O_TOKENIZER,
	O_VOCABMAP,
	O_BACKEND
};

static const struct option longopts[] = {
    {"model", required_argument, NULL, O_MODEL},
    {"image", required_argument, NULL, O_IMAGE},
    {"prompt", required_argument, NULL, O_PROMPT},
    {"max-new-tokens", required_argument, NULL, O_MAXNEW},
    {"ignore-eos", no_argument, NULL, O_IGNORE},
    {"threads", required_argument, NULL, O_THREADS},
    {"dump", required_argument, NULL, O_DUMP},
    {"json", no_argument, NULL, O_JSON},
    {"ctx", required_argument, NULL, O_CTX},
    {"bf16", no_argument, NULL, O_BF16},
    {"max-crops", required_argument, NULL, O_MAXCROPS},
    {"tokenizer", required_argument, NULL, O_TOKENIZER},
    {"vocab-map", required_argument, NULL, O_VOCABMAP},
    {"backend", required_argument, NULL, O_BACKEND},
    {NULL, 0, NULL, 0},
};

static int
parse(int argc, char **argv, struct run_opts *o)
{
	int c;

	memset(o, 0, sizeof(*o));
	o->max_new = 200;
	o->threads = 1;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case O_MODEL:
			o->model = optarg;
			break;
		case O_IMAGE:
			o->image = optarg;
			break;
		case O_PROMPT:
			o->prompt = optarg;
			break;
		case O_MAXNEW:
			if (num_opt("--max-new-tokens", optarg, 1, 32768,
			            &o->max_new) == -1)
				return -1;
			break;
		case O_IGNORE:
			o->ignore_eos = true;
			break;
		case O_THREADS:
			if (num_opt("--threads", optarg, 1, 256, &o->threads) ==
			    -1)
				return -1;
			break;
		case O_DUMP:
			o->dump = optarg;
			break;
		case O_JSON:
			o->json = true;
			break;
		case O_CTX:
			if (num_opt("--ctx", optarg, 16, MODEL_MAX_CTX,
			            &o->ctx) == -1)
				return -1;
			break;
		case O_BF16:
			o->bf16 = true;
			break;
		case O_MAXCROPS:
			if (num_opt("--max-crops", optarg, 1, 128,
			            &o->max_crops) == -1)
				return -1;
			break;
		case O_TOKENIZER:
			o->tokenizer = optarg;
			break;
		case O_VOCABMAP:
			o->vocab_map = optarg;
			break;
		case O_BACKEND:
			if (strcmp(optarg, "molmo") != 0 &&
			    strcmp(optarg, "text") != 0 &&
			    strcmp(optarg, "auto") != 0) {
				fprintf(stderr, "pointctl: --backend must be "
				                "molmo, text or auto\n");
				return -1;
			}
			o->backend = optarg;
			break;
		default:
			return -1;
		}
	}
	return 0;
}

int
ctl_run(int argc, char **argv)
{
	struct run_opts o;

	if (parse(argc, argv, &o) == -1 || o.model == NULL ||
	    o.prompt == NULL || o.backend != NULL || optind != argc)
		return ctl_usage("run");
	return run(&o, false);
}

int
ctl_point(int argc, char **argv)
{
	struct run_opts o;
	const char *t;
	char *prompt;
	size_t n;
	int rc;

	if (parse(argc, argv, &o) == -1 || o.prompt != NULL ||
	    o.image != NULL || argc - optind != 2)
		return ctl_usage("point");
	o.image = argv[optind];
	t = argv[optind + 1];
	/* The backend: molmo with --model, else text (pointd's names). */
	if (o.backend == NULL)
		o.backend = o.model != NULL ? "molmo" : "text";
	if (strcmp(o.backend, "molmo") == 0 && o.model == NULL)
		return ctl_usage("point");
	if (strcmp(o.backend, "molmo") != 0) {
		/* auto asks Molmo only when the text does not settle it and
		 * a model was given. */
		rc = ctl_text_point(o.image, t, 1, o.json,
		                    strcmp(o.backend, "auto") == 0 &&
		                        o.model != NULL);
		if (rc != 1)
			return rc == 0 ? CTL_OK : CTL_FAIL;
	}
	/* "Point to the {target}" (spec §8.4), unless the target already
	 * starts with an article or "all" */
	n = strlen(t) + 32;
	prompt = xmalloc(n);
	if (strncmp(t, "the ", 4) == 0 || strncmp(t, "a ", 2) == 0 ||
	    strncmp(t, "an ", 3) == 0 || strncmp(t, "all ", 4) == 0)
		snprintf(prompt, n, "Point to %s", t);
	else
		snprintf(prompt, n, "Point to the %s", t);
	o.prompt = prompt;
	if (o.max_new == 200)
		o.max_new = 192; /* Ai2's pointing evals (spec §8.1) */
	rc = run(&o, true);
	free(prompt);
	return rc;
}
