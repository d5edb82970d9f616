/* SPDX-License-Identifier: ISC */
/*
 * vocab_map.h: real token ids <-> the ids of a checkpoint with a pruned
 * vocabulary.
 *
 * Some checkpoints (the tiny Molmo 2 test checkpoints, or a checkpoint whose
 * embedding was cut down to the tokens it needs) keep only a subset of the
 * real vocabulary, renumbered.  Such a checkpoint ships no tokenizer: the
 * real tokenizer (Qwen3's for Molmo 2) encodes the prompt, this map turns
 * the real ids into the checkpoint's, and generated ids go back the same
 * way before decoding.
 *
 * The map file is JSON (the tiny checkpoints' tiny_vocab.json):
 *   {
 *     "vocab_size": 256,              checkpoint's regular ids 0..255
 *     "additional_vocab_size": 128,   extra ids that keep their order
 *     "real_vocab_size": 151936,      optional; default 151936 (Molmo 2)
 *     "real_additional_vocab_size": 128,  optional; default 128
 *     "regular": [ {"tiny_id": 0, "real_id": 16}, ... ],
 *     "extra_tokens": {"<im_start>": 256, ...}   optional, checked
 *   }
 * Regular checkpoint ids map one to one to real ids below
 * real_vocab_size.  Checkpoint id vocab_size + j (j < additional) is real
 * real_vocab_size + j (Molmo 2's extra tokens: <im_start> ...; j must also
 * be below real_additional_vocab_size); checkpoint id vocab_size +
 * additional + k is real real_vocab_size + real_additional_vocab_size + k
 * (MolmoPoint's <POINT_k>, k < VOCAB_MAP_MAX_POINTS).  Other keys ("about",
 * "bos_id", an entry's "text", ...) are ignored.
 *
 * Threads: a struct vocab_map is immutable after vocab_map_open and may be
 * used by any number of threads.  Errors are one line naming the file and
 * the entry.
 */
#ifndef MODEL_VOCAB_MAP_H
#define MODEL_VOCAB_MAP_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

#define VOCAB_MAP_MAX_FILE        (64u << 20) /* bytes of a map file */
#define VOCAB_MAP_MAX_VOCAB       (1 << 22)   /* regular / extra ids */
#define VOCAB_MAP_MAX_POINTS      31200       /* MolmoPoint <POINT_k> tokens */
#define VOCAB_MAP_REAL_VOCAB      151936      /* default real_vocab_size */
#define VOCAB_MAP_REAL_ADDITIONAL 128         /* default real extra tokens */

struct vocab_map;

/* Read the map file at path.  Returns the map, or NULL with e set. */
struct vocab_map *vocab_map_open(const char *path, struct err *e);

/* Same from len bytes of JSON; name is used in messages. */
struct vocab_map *vocab_map_parse(const void *data, size_t len,
                                  const char *name, struct err *e);

/* Free the map; NULL is fine. */
void vocab_map_close(struct vocab_map *m);

/* The checkpoint id of real id r, or -1 if the checkpoint lacks it. */
int32_t vocab_map_to_ckpt(const struct vocab_map *m, int32_t r);

/* The real id of checkpoint id c, or -1 if c is not a checkpoint id. */
int32_t vocab_map_to_real(const struct vocab_map *m, int32_t c);

/*
 * Map n ids in place of out (in and out may be the same array): real to
 * checkpoint ids, or back.  Returns 0, or -1 with e naming the first id
 * that has no counterpart ("real id 9906 (position 3) is not in the
 * checkpoint's vocabulary").
 */
int vocab_map_ids_to_ckpt(const struct vocab_map *m, const int32_t *in,
                          size_t n, int32_t *out, struct err *e);
int vocab_map_ids_to_real(const struct vocab_map *m, const int32_t *in,
                          size_t n, int32_t *out, struct err *e);

/* The checkpoint's vocab_size and additional_vocab_size. */
int32_t vocab_map_n_regular(const struct vocab_map *m);
int32_t vocab_map_n_additional(const struct vocab_map *m);

#endif
