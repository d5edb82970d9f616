/* SPDX-License-Identifier: ISC */
/*
 * prep2.h: Molmo 2 / MolmoPoint image preprocessing and the input-id
 * layout, exactly as the official processor (Molmo2ImageProcessor, mode
 * "overlap-and-resize-c2", and Molmo2Processor) does it; docs/molmo2.md
 * sections 4 and 8.
 *
 * From decoded RGB pixels to the model inputs:
 *   pixels     [n_crops, 729, 588] f32  crop 0 = global view (the whole image
 *              resized to 378x378, no aspect preservation), then the
 *              overlapping 378x378 crops of the "tiled image" (the whole
 *              image resized to rows*266+112 x cols*266+112), row-major;
 *              each patch is 14x14 pixels as (row, col, rgb), each value
 *              (u8 / 255 - mean) / std in float32 (mean = std = 0.5)
 *   pooling    [n_tokens, 4] i32        the ViT patch ids (crop * 729 +
 *              patch, global crop included) that each pooled image token
 *              gathers, -1 = padding; global tokens first, then the hi-res
 *              tokens in image order (pooled_patches_idx)
 *   patch_grid [grid_h, grid_w] i32     hi-res patch grid -> ViT patch id
 *              (MolmoPoint's subpatch_mapping)
 *
 * The resize is torchvision's bilinear without antialias, reproduced with
 * the exact arithmetic of PyTorch 1.13's CPU kernel (spec section 4.2), then
 * rounded half-to-even to uint8: the uint8 images are bit-exact, and so are
 * the float pixels.  On CPUs with AVX-512 (F, BW, DQ, VL, VBMI) vector
 * kernels do the pixel work with the same bits as the portable loops.
 *
 * max_crops (the most hi-res crops, global view not counted) is a
 * per-request option: prep2_run() takes it, and 0 means the checkpoint's
 * default (preprocessor_config.json, else 8).
 *
 * Threads: a struct prep2 belongs to one thread at a time.  prep2_run()
 * can spread its work over a model/pool.h fork-join pool; every output
 * element is computed by one thread with the same arithmetic, so results
 * are bit-identical for any thread count.  Buffers grow to the largest
 * request seen and are reused; a request no larger than an earlier one
 * allocates nothing.
 */
#ifndef MODEL_PREP2_H
#define MODEL_PREP2_H

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

/* Limits on outside input. */
#define PREP2_MAX_CROPS 128   /* largest max_crops accepted (GUI uses 64) */
#define PREP2_MAX_SIDE  65536 /* largest image side accepted, pixels */

/* preprocessor_config.json + processor_config.json, as the processor uses
 * them.  Square crops only (the reference asserts it). */
struct prep2_config {
	int crop;        /* crop side in pixels: 378 (size.height/width) */
	int patch;       /* ViT patch side in pixels: 14 (patch_size) */
	int pool_h;      /* pooling window rows: 2 (pooling_size[0]) */
	int pool_w;      /* pooling window cols: 2 (pooling_size[1]) */
	int margin[2];   /* overlap margins (left/top, right/bottom) in
	                    patches: 4, 4 (overlap_margins) */
	int max_crops;   /* default most hi-res crops: 8 (max_crops) */
	float mean[3];   /* per channel: 0.5 (image_mean) */
	float std[3];    /* per channel: 0.5 (image_std) */
	bool col_tokens; /* <im_col> after each hi-res token row
	                    (image_use_col_tokens): true */
	bool global_col_tokens; /* <im_col> after each global token row
	                           (use_single_crop_col_tokens; null in the
	                           file = col_tokens): false */
	bool global_start_low;  /* global block opens with <low_res_im_start>
	                           (use_single_crop_start_token): true */
	bool global_patch_low;  /* global tokens are <im_low>, not <im_patch>
	                           (use_low_res_token_for_global_crops):
	                           false for Molmo2, true for MolmoPoint */
};

/* The Molmo2 defaults (docs/molmo2.md section 2). */
void prep2_config_default(struct prep2_config *cfg);

/*
 * Read dir/preprocessor_config.json and dir/processor_config.json (either
 * may be missing; missing keys keep the defaults; an "image_processor"
 * object inside processor_config.json is read like preprocessor_config.json)
 * and check the result with prep2_config_check().  Returns 0, or -1 with a
 * one-line message in e naming the file and the key.
 */
int prep2_config_load(const char *dir, struct prep2_config *cfg, struct err *e);

/* Check a config: sizes positive, crop a multiple of patch, margins leave a
 * window, max_crops in 1..PREP2_MAX_CROPS, std non-zero.  0 or -1, e set. */
int prep2_config_check(const struct prep2_config *cfg, struct err *e);

/* Preprocessed image.  Arrays are owned by the struct prep2 that filled them
 * and stay valid until its next prep2_run() or prep2_free(). */
struct prep2_out {
	int n_crops;               /* 1 + rows * cols (global view included) */
	int rows, cols;            /* hi-res tiling */
	int n_patches;             /* patches per crop: 729 */
	int patch_dim;             /* values per patch: 588 */
	int tiled_h, tiled_w;      /* tiled image: rows*266+112, cols*266+112 */
	int grid_h, grid_w;        /* hi-res patch grid: rows*19+8, cols*19+8 */
	int low_h, low_w;          /* pooled global grid: 14, 14 */
	int hi_h, hi_w;            /* pooled hi-res grid: ceil(grid / 2) */
	int n_tokens;              /* pooled tokens: low_h*low_w + hi_h*hi_w */
	int pool_size;             /* ids per pooled token: pool_h * pool_w */
	const float *pixels;       /* [n_crops, n_patches, patch_dim] */
	const int32_t *pooling;    /* [n_tokens, pool_size], -1 = padding */
	const int32_t *patch_grid; /* [grid_h, grid_w] ViT patch ids */
	const uint8_t *tiled_u8;   /* [tiled_h, tiled_w, 3] resized image */
	const uint8_t *global_u8;  /* [crop, crop, 3] resized global view */
};

/* A reusable preprocessor.  Returns NULL (e set) if cfg is invalid. */
struct prep2 *prep2_new(const struct prep2_config *cfg, struct err *e);
void prep2_free(struct prep2 *p);
/* The config p was made with. */
const struct prep2_config *prep2_config(const struct prep2 *p);

/*
 * The tiling (rows x cols) the processor picks for a w x h image with at
 * most max_crops crops (select_tiling on the image less the margins, spec
 * section 4.4): the smallest tiling that needs no down-scaling, else the
 * one that down-scales least.  max_crops must be 1..PREP2_MAX_CROPS and
 * w, h at least 1 (asserted).
 */
void prep2_tiling(const struct prep2_config *cfg, int w, int h, int max_crops,
                  int *rows, int *cols);

/*
 * Preprocess img (1..PREP2_MAX_SIDE pixels per side; the caller bounds the
 * total, e.g. with image/'s limits) with at most max_crops hi-res crops
 * (0 = the config's default; else 1..PREP2_MAX_CROPS) into out, spreading
 * the work over pool (NULL runs it all on the calling thread).  Returns 0,
 * or -1 with e set for a bad size or max_crops.
 */
int prep2_run(struct prep2 *p, const struct model_image *img, int max_crops,
              struct pool *pool, struct prep2_out *out, struct err *e);

/* ---- Token layout and prompt (spec section 8) ---- */

/* The ids the layout uses, in the vocabulary of the ids being built. */
struct prep2_ids {
	int32_t bos;              /* prepended: <|im_end|> (151645) */
	int32_t im_start;         /* <im_start> 151936 */
	int32_t im_end;           /* <im_end> 151937 */
	int32_t im_patch;         /* <im_patch> 151938 */
	int32_t im_col;           /* <im_col> 151939 */
	int32_t low_res_im_start; /* <low_res_im_start> 151940 */
	int32_t im_low;           /* <im_low> 151942 */
	int32_t frame_start;      /* <frame_start> 151943 (token types only) */
	int32_t frame_end;        /* <frame_end> 151944 (token types only) */
};

/* The real Molmo2 / MolmoPoint ids (Qwen3 tokenizer + Molmo2 extras). */
void prep2_ids_real(struct prep2_ids *ids);

/*
 * A checkpoint's own ids: dir/config.json (image_start_token_id,
 * image_end_token_id, image_patch_id, image_col_id,
 * low_res_image_start_token_id, image_low_res_id (MolmoPoint:
 * image_non_indexable_patch_id), frame_start_token_id, frame_end_token_id) and
 * the BOS of dir/generation_config.json (bos_token_id).  Returns 0, or -1 with
 * a one-line message naming the file and key.
 */
int prep2_ids_load(const char *dir, struct prep2_ids *ids, struct err *e);

/* Number of image tokens prep2_image_tokens() writes for out:
 * (1 + low_h*(low_w [+1]) + 1) + (1 + hi_h*(hi_w [+1]) + 1). */
size_t prep2_n_image_tokens(const struct prep2_config *cfg,
                            const struct prep2_out *out);

/*
 * The image block that replaces <|image|>:
 *   start_g (low_h rows of low_w x G [+ <im_col>]) <im_end>
 *   <im_start> (hi_h rows of hi_w x <im_patch> [+ <im_col>]) <im_end>
 * with start_g = <low_res_im_start> or <im_start> and G = <im_patch> or
 * <im_low> as cfg says.  The <im_patch>/<im_low> positions receive the
 * pooled features in out->pooling row order.  Writes into dst[0..cap);
 * returns the count, or -1 (e set) if cap is too small.
 */
ssize_t prep2_image_tokens(const struct prep2_config *cfg,
                           const struct prep2_out *out,
                           const struct prep2_ids *ids, int32_t *dst,
                           size_t cap, struct err *e);

/* The chat text for one user turn with the generation prompt, WITHOUT the
 * <|image|> placeholder (the tokenizer does not know it; the image block
 * goes first):  "<|im_start|>user\n" prompt "<|im_end|>\n<|im_start|>
 * assistant\n".  Writes at most n bytes including the NUL; returns the full
 * length like snprintf. */
size_t prep2_prompt_text(char *buf, size_t n, const char *prompt);

/* Length of what prep2_build_input_ids() writes: 1 (BOS) + image tokens
 * (none if out is NULL) + n_text. */
size_t prep2_n_input_ids(const struct prep2_config *cfg,
                         const struct prep2_out *out, size_t n_text);

/*
 * input_ids = [BOS] + image block (if out is not NULL) + text, where text
 * is the tokenized prep2_prompt_text() (special tokens as their ids, no BOS).
 * As the processor, BOS is not added again when the sequence would already
 * start with it (no image and text[0] == BOS).  Writes into ids[0..cap);
 * returns the count, or -1 with e set if cap is too small.
 */
ssize_t prep2_build_input_ids(const struct prep2_config *cfg,
                              const struct prep2_out *out,
                              const struct prep2_ids *tok, const int32_t *text,
                              size_t n_text, int32_t *ids, size_t cap,
                              struct err *e);

/*
 * token_type_ids: types[i] = 1 when ids[i] is an image-structure token
 * (<im_patch> <im_col> <im_start> <low_res_im_start> <frame_start> <im_end>
 * <frame_end> <im_low>), which attend to each other bidirectionally
 * (spec section 7), else 0.
 */
void prep2_token_types(const struct prep2_ids *tok, const int32_t *ids,
                       size_t n, uint8_t *types);

#endif
