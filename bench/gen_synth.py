#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""Write a synthetic Molmo-7B-D-shaped checkpoint with random bf16 weights.

    python3 bench/gen_synth.py OUTDIR [--layers N] [--vit-layers N]
                               [--tokenizer DIR]

Every tensor has the real Molmo-7B-D-0924 shape (spec molmo-v1.md §1.5:
d_model 3584, 28 heads / 4 kv heads, ff_proj 37888, vocabulary 152064 + 128,
CLIP ViT-L/14-336 width 1024, projector 18944), but the decoder has only
--layers blocks (default 2) and the ViT --vit-layers blocks (default 9, the
fewest for the hard-coded feature layers [-2, -9]; 8 of them run);
bench/bench_engine scales the measured times to full depth (28 decoder
blocks, 22 of the 23 ViT blocks run).  The
values are random bf16 numbers of magnitude 2^-7..2^-5 (weights) or 0.5..2
(norm weights), made with os.urandom and byte tables, so no numpy is needed
and a 3.5 GB checkpoint takes well under a minute.  The tokenizer and
preprocessor files are copied from --tokenizer (a golden tiny model
directory works: its image-token ids fit the 152192-row embedding).
"""
import argparse
import json
import os
import shutil
import struct

D, HEADS, KV, HD = 3584, 28, 4, 128
FF_ROWS, VOCAB, ADD = 37888, 152064, 128
VD, VHEADS, VHD, VMLP, NPOS, PATCH = 1024, 16, 64, 4096, 577, 14


def tensors(n_layers, n_vit):
    """(name, shape, kind) in file order; kind "w" weight, "n" norm."""
    t = []
    vb = "model.vision_backbone."
    vit = vb + "image_vit."
    t.append((vit + "patch_embedding.weight", [VD, PATCH * PATCH * 3], "w"))
    t.append((vit + "class_embedding", [VD], "w"))
    t.append((vit + "positional_embedding", [NPOS, VD], "w"))
    t.append((vit + "pre_ln.weight", [VD], "n"))
    t.append((vit + "pre_ln.bias", [VD], "w"))
    for i in range(n_vit):
        b = f"{vit}transformer.resblocks.{i}."
        for w in "qkvo":
            t.append((f"{b}attention.w{w}.weight", [VD, VD], "w"))
            t.append((f"{b}attention.w{w}.bias", [VD], "w"))
        t.append((b + "feed_forward.w1.weight", [VMLP, VD], "w"))
        t.append((b + "feed_forward.w1.bias", [VMLP], "w"))
        t.append((b + "feed_forward.w2.weight", [VD, VMLP], "w"))
        t.append((b + "feed_forward.w2.bias", [VD], "w"))
        for n in ("attention_norm", "ffn_norm"):
            t.append((f"{b}{n}.weight", [VD], "n"))
            t.append((f"{b}{n}.bias", [VD], "w"))
    t.append((vb + "pad_embed", [2, 2 * VD], "w"))
    for w in "qkv":
        t.append((f"{vb}image_pooling_2d.w{w}.weight", [VD, 2 * VD], "w"))
        t.append((f"{vb}image_pooling_2d.w{w}.bias", [VD], "w"))
    t.append((vb + "image_pooling_2d.wo.weight", [VD, VD], "w"))
    t.append((vb + "image_pooling_2d.wo.bias", [VD], "w"))
    t.append((vb + "image_projector.w1.weight", [FF_ROWS // 2, VD], "w"))
    t.append((vb + "image_projector.w3.weight", [FF_ROWS // 2, VD], "w"))
    t.append((vb + "image_projector.w2.weight", [D, FF_ROWS // 2], "w"))
    tr = "model.transformer."
    t.append((tr + "wte.embedding", [VOCAB, D], "w"))
    t.append((tr + "wte.new_embedding", [ADD, D], "w"))
    qkv = D + 2 * KV * HD
    for i in range(n_layers):
        b = f"{tr}blocks.{i}."
        t.append((b + "att_proj.weight", [qkv, D], "w"))
        t.append((b + "att_proj.bias", [qkv], "w"))
        t.append((b + "attn_out.weight", [D, D], "w"))
        t.append((b + "attn_norm.weight", [D], "n"))
        t.append((b + "ff_norm.weight", [D], "n"))
        t.append((b + "ff_proj.weight", [FF_ROWS, D], "w"))
        t.append((b + "ff_out.weight", [D, FF_ROWS // 2], "w"))
    t.append((tr + "ln_f.weight", [D], "n"))
    t.append((tr + "ff_out.weight", [VOCAB, D], "w"))
    return t


# High byte of a little-endian bf16: sign bit + top 7 exponent bits.
# 0x3C → exponent 120/121 (|v| in [2^-7, 2^-5)); 0x3F → [0.5, 2).
HIGH_W = bytes(0x3C | (b & 0x80) for b in range(256))
HIGH_N = bytes(0x3F for _ in range(256))


def random_bf16(n, kind):
    lo = os.urandom(n)
    hi = os.urandom(n).translate(HIGH_N if kind == "n" else HIGH_W)
    out = bytearray(2 * n)
    out[0::2] = lo
    out[1::2] = hi
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out")
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--vit-layers", type=int, default=9,
                    help="ViT blocks stored (>= 9: features are blocks -2, -9)")
    ap.add_argument("--tokenizer", default=None,
                    help="directory to copy tokenizer/preprocessor files from")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    ts = tensors(a.layers, a.vit_layers)
    header, off = {"__metadata__": {"format": "pt"}}, 0
    for name, shape, _ in ts:
        n = 1
        for s in shape:
            n *= s
        header[name] = {"dtype": "BF16", "shape": shape,
                        "data_offsets": [off, off + 2 * n]}
        off += 2 * n
    hb = json.dumps(header, separators=(",", ":")).encode()
    hb += b" " * (-len(hb) % 8)
    with open(os.path.join(a.out, "model.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(hb)))
        f.write(hb)
        for name, shape, kind in ts:
            n = 1
            for s in shape:
                n *= s
            # write in 64 Mi-element pieces to bound memory
            step = 1 << 26
            for i in range(0, n, step):
                f.write(random_bf16(min(step, n - i), kind))
    cfg = {
        "architectures": ["MolmoForCausalLM"],
        "model_type": "molmo",
        "hidden_size": D, "num_attention_heads": HEADS,
        "num_key_value_heads": KV, "num_hidden_layers": a.layers,
        "intermediate_size": FF_ROWS, "vocab_size": VOCAB,
        "embedding_size": VOCAB, "max_position_embeddings": 4096,
        "rope_theta": 1000000.0, "layer_norm_type": "rms",
        "layer_norm_eps": 1e-6, "qkv_bias": True,
        "attention_layer_norm": False, "norm_after": False,
        "clip_qkv": None, "weight_tying": False, "use_position_ids": True,
        "torch_dtype": "bfloat16",
        "vision_backbone": {
            "image_default_input_size": [336, 336], "image_patch_size": 14,
            "image_pos_patch_size": 14, "image_emb_dim": VD,
            "image_num_heads": VHEADS, "image_num_key_value_heads": VHEADS,
            "image_num_layers": a.vit_layers, "image_head_dim": VHD,
            "image_mlp_dim": VMLP, "image_mlp_activations": "quick_gelu",
            "image_num_pos": NPOS, "image_norm_eps": 1e-5,
        },
    }
    with open(os.path.join(a.out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=1)
    if a.tokenizer:
        for fn in os.listdir(a.tokenizer):
            if fn.endswith((".json", ".txt")) and fn != "config.json":
                shutil.copy(os.path.join(a.tokenizer, fn), a.out)
    print(f"{a.out}: {len(ts)} tensors, {off / 2**30:.2f} GiB bf16, "
          f"{a.layers} decoder layers, {a.vit_layers} ViT layers")


if __name__ == "__main__":
    main()
