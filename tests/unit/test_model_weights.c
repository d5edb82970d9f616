/* SPDX-License-Identifier: ISC */
/*
 * test_model_weights.c: the tensor table (model/weights.c) accepts the
 * golden checkpoints of all three decoder families and rejects, with a
 * message naming the tensor, a checkpoint with a missing tensor, a wrong
 * shape, a tensor the config says does not exist, and a tensor no row
 * claims.  Checkpoints are edited in memory (header rewritten, data kept)
 * and parsed with st_parse, so no files are written.
 */
#include "config.h"

#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/hparams.h"
#include "model/st.h"
#include "model/weights.h"
#include "tests/tools/testutil.h"

struct ckpt {
	char *file; /* the golden model.safetensors */
	size_t len;
	json_t *hdr; /* its JSON header */
	uint64_t hlen;
	struct hparams hp;
};

static void
ckpt_load(struct ckpt *c, const char *variant)
{
	char rel[256];
	json_error_t je;
	struct err e;

	snprintf(rel, sizeof(rel), "golden/%s/model/model.safetensors",
	         variant);
	c->file = tu_read_file(tu_shared(rel), &c->len);
	memcpy(&c->hlen, c->file, 8); /* little-endian host */
	c->hdr = json_loadb(c->file + 8, c->hlen, 0, &je);
	ck_assert_msg(c->hdr != NULL, "%s", je.text);
	snprintf(rel, sizeof(rel), "golden/%s/model", variant);
	ck_assert_msg(hparams_load(&c->hp, tu_shared(rel), &e) == 0, "%s",
	              e.msg);
}

static void
ckpt_free(struct ckpt *c)
{
	json_decref(c->hdr);
	free(c->file);
}

/* The checkpoint with header h (data unchanged), loaded with hp. */
static int
try_load(const struct ckpt *c, json_t *h, const struct hparams *hp, bool bf16,
         struct weights *w, struct err *e)
{
	char *js = json_dumps(h, JSON_COMPACT);
	size_t jl = strlen(js), pad = (8 - jl % 8) % 8,
	       dl = c->len - 8 - c->hlen;
	uint64_t nl = jl + pad;
	char *buf = malloc(8 + nl + dl);
	struct st *st;
	int rc;

	memcpy(buf, &nl, 8);
	memcpy(buf + 8, js, jl);
	memset(buf + 8 + jl, ' ', pad);
	memcpy(buf + 8 + nl, c->file + 8 + c->hlen, dl);
	free(js);
	st = st_parse(buf, 8 + nl + dl, "test.safetensors", e);
	ck_assert_msg(st != NULL, "%s", e->msg);
	rc = weights_load(w, st, hp, bf16, e);
	weights_fini(w);
	st_close(st);
	free(buf);
	return rc;
}

static const char *variants[] = {"qwen2-tiny", "olmo-tiny", "moe-tiny"};

START_TEST(test_golden_checkpoints_load)
{
	struct ckpt c;
	struct weights w;
	struct err e;

	ckpt_load(&c, variants[_i]);
	ck_assert_msg(try_load(&c, c.hdr, &c.hp, false, &w, &e) == 0, "%s: %s",
	              variants[_i], e.msg);
	ck_assert_msg(try_load(&c, c.hdr, &c.hp, true, &w, &e) == 0,
	              "%s bf16: %s", variants[_i], e.msg);
	ckpt_free(&c);
}
END_TEST

START_TEST(test_missing_tensor_is_named)
{
	struct ckpt c;
	struct weights w;
	struct err e;
	json_t *h, *t;

	ckpt_load(&c, "qwen2-tiny");
	h = json_deep_copy(c.hdr);
	t = json_object_get(h, "model.transformer.ln_f.weight");
	json_object_set(h, "model.transformer.ln_f.weight_renamed", t);
	json_object_del(h, "model.transformer.ln_f.weight");
	ck_assert(try_load(&c, h, &c.hp, false, &w, &e) == -1);
	ck_assert_msg(strstr(e.msg, "model.transformer.ln_f.weight") != NULL,
	              "%s", e.msg);
	json_decref(h);
	ckpt_free(&c);
}
END_TEST

START_TEST(test_wrong_shape_is_named)
{
	struct ckpt c;
	struct weights w;
	struct err e;
	json_t *h;

	ckpt_load(&c, "olmo-tiny");
	h = json_deep_copy(c.hdr);
	/* same byte count, other shape: [2, 128] -> [4, 64] */
	json_object_set_new(
	    json_object_get(h, "model.vision_backbone.pad_embed"), "shape",
	    json_pack("[i, i]", 4, 64));
	ck_assert(try_load(&c, h, &c.hp, false, &w, &e) == -1);
	ck_assert_msg(strstr(e.msg, "pad_embed") != NULL, "%s", e.msg);
	json_decref(h);
	ckpt_free(&c);
}
END_TEST

START_TEST(test_tensor_the_config_excludes_is_rejected)
{
	struct ckpt c;
	struct weights w;
	struct err e;
	struct hparams hp;

	ckpt_load(&c, "qwen2-tiny");
	hp = c.hp;
	hp.qkv_bias = false; /* but att_proj.bias is in the file */
	ck_assert(try_load(&c, c.hdr, &hp, false, &w, &e) == -1);
	ck_assert_msg(strstr(e.msg, "att_proj.bias") != NULL, "%s", e.msg);
	ckpt_free(&c);
}
END_TEST

START_TEST(test_unclaimed_tensor_is_rejected)
{
	struct ckpt c;
	struct weights w;
	struct err e;
	struct hparams hp;

	ckpt_load(&c, "moe-tiny");
	hp = c.hp;
	hp.vit.n_layers = 9; /* block 9 of the 10 stored is left over */
	ck_assert(try_load(&c, c.hdr, &hp, false, &w, &e) == -1);
	ck_assert_msg(strstr(e.msg, "resblocks.9.") != NULL &&
	                  strstr(e.msg, "not used") != NULL,
	              "%s", e.msg);
	hp = c.hp;
	hp.n_experts = 7; /* expert 7 left over */
	ck_assert(try_load(&c, c.hdr, &hp, false, &w, &e) == -1);
	ck_assert_msg(strstr(e.msg, "gate.weight") != NULL ||
	                  strstr(e.msg, "experts.7.") != NULL,
	              "%s", e.msg);
	ckpt_free(&c);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("model_weights");
	TCase *tc = tcase_create("weights");
	SRunner *sr;
	int failed;

	tcase_add_loop_test(tc, test_golden_checkpoints_load, 0, 3);
	tcase_add_test(tc, test_missing_tensor_is_named);
	tcase_add_test(tc, test_wrong_shape_is_named);
	tcase_add_test(tc, test_tensor_the_config_excludes_is_rejected);
	tcase_add_test(tc, test_unclaimed_tensor_is_rejected);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
