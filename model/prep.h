/* SPDX-License-Identifier: ISC */
/*
 * prep.h: Molmo v1 image preprocessing and the input-id layout, exactly as
 * the reference processors do it (docs/molmo-v1.md section 4, prompt in 5.3).
 *
 * From decoded RGB pixels to the model inputs:
 *   images          [n_crops, 576, 588] f32  crop 0 = global view (whole image
 *                   letterboxed into 336x336), then the overlapping 336x336
 *                   tiles of the high-res canvas, row-major; each patch is
 *                   14x14 pixels as (row, col, rgb), CLIP-normalised
 *   image_masks     [n_crops, 576] f32       real-pixel fraction per patch,
 *                   shifted by one crop as the reference does (section 4.7)
 *   image_input_idx [n_crops, 144] i32       position in input_ids that
 *                   receives each pooled feature (BOS at 0), -100 = dropped
 *   layout          [n_image_tokens]         PREP_TOK_* per image token
 *
 * Two resize flavours exist, and the checkpoint decides which one its
 * reference processor used (prep_config_load() reads it from config.json):
 *   PREP_RESIZE_TF     Molmo-7B-D, 7B-O, 72B (modeling_molmo.py): TensorFlow
 *                      tf.image.resize(bilinear, antialias) = ScaleAndTranslate
 *                      with a triangle kernel, rows first, float32 throughout.
 *   PREP_RESIZE_TORCH  MolmoE-1B (modeling_molmoe.py): torchvision
 *                      Resize(bilinear, antialias=True) on float32 CHW, the
 *                      ATen AA kernel (PIL-style support), columns first.
 * Everything else (tiling, target sizes in float32 with truncation,
 * letterbox, normalisation, crops, masks, indices) is shared.
 *
 * Threads: a struct prep belongs to one thread at a time.  prep_run() can
 * spread its work over a model/pool.h fork-join pool; every output element is
 * computed by one thread with the same arithmetic, so results are bit-identical
 * for any thread count.  Buffers are allocated once per image size class and
 * reused; prep_run() on an image no larger than the previous one allocates
 * nothing.
 */
#ifndef MODEL_PREP_H
#define MODEL_PREP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct err;
struct pool;

#ifndef MODEL_IMAGE_DEFINED
#define MODEL_IMAGE_DEFINED
/* Decoded pixels handed to model/: h rows of w RGB pixels, 3 bytes each, no
 * row padding.  Borrowed: model/ never keeps or frees rgb. */
struct model_image {
	int w, h;
	const uint8_t *rgb;
};
#endif

enum prep_resize {
	PREP_RESIZE_TF =
	    0,             /* TensorFlow antialiased bilinear (7B-D/7B-O/72B) */
	PREP_RESIZE_TORCH, /* torchvision antialiased bilinear (MolmoE) */
};

/* Image tokens in the layout, as the golden image_token_layout numbers them. */
enum prep_tok {
	PREP_TOK_START = 0, /* <im_start> */
	PREP_TOK_END = 1,   /* <im_end> */
	PREP_TOK_PATCH = 2, /* <im_patch> */
	PREP_TOK_COL = 3,   /* <im_col> */
};

#define PREP_DROPPED (-100) /* image_input_idx of a dropped (margin) cell */

/* preprocessor_config.json, plus the resize flavour from config.json. */
struct prep_config {
	int base_h, base_w; /* crop size in pixels: 336, 336 */
	int patch;          /* ViT patch side in pixels: 14 */
	int tok_h, tok_w;   /* pooled cells per crop side: 12, 12 */
	int max_crops;      /* most high-res tiles: 12 */
	int margin[2];      /* overlap margins in patches: 4, 4 */
	bool padding_mask;  /* image_padding_mask: emit image_masks */
	float mean[3];      /* CLIP mean per channel */
	float std[3];       /* CLIP std per channel */
	enum prep_resize resize;
};

/* The Molmo 0924 defaults (same in all four checkpoints) with resize r. */
void prep_config_default(struct prep_config *cfg, enum prep_resize r);

/*
 * Read dir/preprocessor_config.json (missing keys keep the defaults) and the
 * resize flavour from dir/config.json: a checkpoint whose remote code is the
 * MolmoE file (auto_map.AutoModelForCausalLM "modeling_molmoe.*", or, with
 * no auto_map, a config that has "moe_num_experts") uses PREP_RESIZE_TORCH,
 * anything else PREP_RESIZE_TF.  Checks the values against what the code
 * supports (square crops, pooled grid = half the patch grid, even margins).
 * Returns 0, or -1 with e naming the file and the problem.
 */
int prep_config_load(const char *dir, struct prep_config *cfg, struct err *e);

/* Check a config built by hand.  Returns 0 or -1 with e set. */
int prep_config_check(const struct prep_config *cfg, struct err *e);

/* Preprocessed image.  Arrays are owned by the struct prep that filled them
 * and stay valid until its next prep_run() or prep_free(). */
struct prep_out {
	int n_crops;              /* T = 1 + rows * cols */
	int rows, cols;           /* high-res tiling (nr x nc) */
	int n_patches;            /* patches per crop: 576 */
	int patch_dim;            /* values per patch: 588 */
	int n_pooled;             /* pooled cells per crop: 144 */
	int global_h, global_w;   /* resized content inside the 336x336 view */
	int canvas_h, canvas_w;   /* high-res canvas (nr*224+112, nc*224+112) */
	int content_h, content_w; /* resized content inside the canvas */
	const float *images;      /* [n_crops, n_patches, patch_dim] */
	const float *masks; /* [n_crops, n_patches], NULL if !padding_mask */
	const int32_t *input_idx; /* [n_crops, n_pooled] */
	const uint8_t *layout;    /* [n_image_tokens] enum prep_tok */
	int n_image_tokens;       /* image tokens, without BOS */
};

/* A reusable preprocessor.  Returns NULL (e set) if cfg is invalid. */
struct prep *prep_new(const struct prep_config *cfg, struct err *e);
void prep_free(struct prep *p);
/* The config p was made with. */
const struct prep_config *prep_config(const struct prep *p);

/*
 * Preprocess img (any size from 1x1 up; the caller bounds the size, e.g.
 * with image/'s limits) into out, spreading the work over pool (model/pool.h;
 * NULL runs it all on the calling thread).
 * Returns 0, or -1 with e set when the image is too extreme to resize (a
 * side would scale to 0 pixels) or memory runs out.
 */
int prep_run(struct prep *p, const struct model_image *img, struct pool *pool,
             struct prep_out *out, struct err *e);

/* Token ids the caller's tokenizer gives the special tokens. */
struct prep_ids {
	int32_t bos;      /* BOS = EOS = <|endoftext|> (section 5.2) */
	int32_t im_start; /* <im_start> */
	int32_t im_end;   /* <im_end> */
	int32_t im_patch; /* <im_patch> */
	int32_t im_col;   /* <im_col> */
};

/* The text the prompt is wrapped in before tokenizing (section 5.3):
 * " User: " + prompt + " Assistant:" (note the leading space).  Writes at most
 * n bytes including the NUL; returns the full length like snprintf. */
size_t prep_prompt_text(char *buf, size_t n, const char *prompt);

/* Length of the input_ids prep_build_input_ids() makes: 1 (BOS) +
 * out->n_image_tokens (0 if out is NULL) + n_text. */
size_t prep_n_input_ids(const struct prep_out *out, size_t n_text);

/*
 * input_ids = [BOS] + image tokens (if out is not NULL) + text, where text
 * is the tokenized prep_prompt_text() (encoded without special tokens).
 * Writes into ids[0..cap).  Returns the count, or -1 with e set if cap is
 * too small.
 */
ssize_t prep_build_input_ids(const struct prep_out *out,
                             const struct prep_ids *tok, const int32_t *text,
                             size_t n_text, int32_t *ids, size_t cap,
                             struct err *e);

#endif
