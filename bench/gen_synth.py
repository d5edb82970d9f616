#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""Write a synthetic Molmo-7B-D-shaped checkpoint with random bf16 weights.

    python3 bench/gen_synth.py OUTDIR [--layers N] [--vit-layers N]
                               [--tokenizer DIR] [--arch molmo|molmo2]

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

--arch molmo2 writes a Molmo2-8B-shaped checkpoint instead (docs/molmo2.md
sections 2-3: Qwen3 d 4096, 32 / 8 heads of 128, FFN 12288, vocabulary
151936 + 128 with a separate lm_head; SigLIP 2 width 1152, 16 heads of 72,
MLP 4304, 729 positions; connector 2304 -> 1152, projector 12288),
--layers decoder blocks (default 2) and --vit-layers stored ViT blocks
(default 7: the config says vit_layers [-3, -9] of --vit-layers + 2, so
blocks -3 and -9 exist and all stored blocks run; the real model runs 25).
bench/bench_molmo2 scales to 36 decoder and 25 ViT blocks.  No tokenizer
is written: run it with the Qwen2 tokenizer.json, whose ids are the real
Molmo 2 ids.
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


M2_D, M2_HEADS, M2_KV, M2_HD, M2_FFN = 4096, 32, 8, 128, 12288
M2_VOCAB, M2_ADD = 151936, 128
M2_VD, M2_VHEADS, M2_VHD, M2_VMLP, M2_NPOS = 1152, 16, 72, 4304, 729


def tensors_molmo2(n_layers, n_vit):
    """Molmo2-8B tensor names and shapes (spec molmo2.md section 3)."""
    t = []
    vb = "model.vision_backbone."
    vit = vb + "image_vit."
    t.append((vit + "patch_embedding.weight", [M2_VD, PATCH * PATCH * 3], "w"))
    t.append((vit + "patch_embedding.bias", [M2_VD], "w"))
    t.append((vit + "positional_embedding", [M2_NPOS, M2_VD], "w"))
    for i in range(n_vit):
        b = f"{vit}transformer.resblocks.{i}."
        for w in "qkvo":
            t.append((f"{b}attention.w{w}.weight", [M2_VD, M2_VD], "w"))
            t.append((f"{b}attention.w{w}.bias", [M2_VD], "w"))
        t.append((b + "feed_forward.w1.weight", [M2_VMLP, M2_VD], "w"))
        t.append((b + "feed_forward.w1.bias", [M2_VMLP], "w"))
        t.append((b + "feed_forward.w2.weight", [M2_VD, M2_VMLP], "w"))
        t.append((b + "feed_forward.w2.bias", [M2_VD], "w"))
        for n in ("attention_norm", "ffn_norm"):
            t.append((f"{b}{n}.weight", [M2_VD], "n"))
            t.append((f"{b}{n}.bias", [M2_VD], "w"))
    for w in "qkv":
        t.append((f"{vb}image_pooling_2d.w{w}.weight", [M2_VD, 2 * M2_VD],
                  "w"))
        t.append((f"{vb}image_pooling_2d.w{w}.bias", [M2_VD], "w"))
    t.append((vb + "image_pooling_2d.wo.weight", [M2_VD, M2_VD], "w"))
    t.append((vb + "image_pooling_2d.wo.bias", [M2_VD], "w"))
    t.append((vb + "image_projector.w1.weight", [M2_FFN, M2_VD], "w"))
    t.append((vb + "image_projector.w3.weight", [M2_FFN, M2_VD], "w"))
    t.append((vb + "image_projector.w2.weight", [M2_D, M2_FFN], "w"))
    tr = "model.transformer."
    t.append((tr + "wte.embedding", [M2_VOCAB, M2_D], "w"))
    t.append((tr + "wte.new_embedding", [M2_ADD, M2_D], "w"))
    qkv = M2_HEADS * M2_HD + 2 * M2_KV * M2_HD
    for i in range(n_layers):
        b = f"{tr}blocks.{i}."
        t.append((b + "self_attn.att_proj.weight", [qkv, M2_D], "w"))
        t.append((b + "self_attn.attn_out.weight", [M2_D, M2_D], "w"))
        t.append((b + "self_attn.q_norm.weight", [M2_HD], "n"))
        t.append((b + "self_attn.k_norm.weight", [M2_HD], "n"))
        t.append((b + "attn_norm.weight", [M2_D], "n"))
        t.append((b + "ff_norm.weight", [M2_D], "n"))
        t.append((b + "mlp.ff_proj.weight", [2 * M2_FFN, M2_D], "w"))
        t.append((b + "mlp.ff_out.weight", [M2_D, M2_FFN], "w"))
    t.append((tr + "ln_f.weight", [M2_D], "n"))
    t.append(("lm_head.weight", [M2_VOCAB, M2_D], "w"))
    return t


def config_molmo2(n_layers, n_vit):
    return {
        "architectures": ["Molmo2ForConditionalGeneration"],
        "model_type": "molmo2",
        "vit_config": {
            "hidden_size": M2_VD, "intermediate_size": M2_VMLP,
            "num_hidden_layers": n_vit + 2, "num_attention_heads": M2_VHEADS,
            "num_key_value_heads": M2_VHEADS, "head_dim": M2_VHD,
            "hidden_act": "gelu_pytorch_tanh", "layer_norm_eps": 1e-6,
            "image_default_input_size": [378, 378], "image_patch_size": 14,
            "image_num_pos": M2_NPOS, "float32_attention": True,
        },
        "adapter_config": {
            "vit_layers": [-3, -9], "pooling_attention_mask": True,
            "hidden_size": M2_VD, "num_attention_heads": M2_VHEADS,
            "num_key_value_heads": M2_VHEADS, "head_dim": M2_VHD,
            "hidden_act": "silu", "intermediate_size": M2_FFN,
            "text_hidden_size": M2_D,
        },
        "text_config": {
            "hidden_size": M2_D, "num_attention_heads": M2_HEADS,
            "num_key_value_heads": M2_KV, "head_dim": M2_HD,
            "vocab_size": M2_VOCAB, "additional_vocab_size": M2_ADD,
            "qkv_bias": False, "num_hidden_layers": n_layers,
            "intermediate_size": M2_FFN, "hidden_act": "silu",
            "max_position_embeddings": 36864, "rope_theta": 1000000.0,
            "rope_scaling": None, "use_qk_norm": True,
            "qk_norm_type": "qwen3", "layer_norm_eps": 1e-6,
            "norm_after": False,
        },
        "image_start_token_id": 151936, "image_end_token_id": 151937,
        "image_patch_id": 151938, "image_col_id": 151939,
        "low_res_image_start_token_id": 151940, "image_low_res_id": 151942,
        "frame_start_token_id": 151943, "frame_end_token_id": 151944,
        "tie_word_embeddings": False,
    }


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
    ap.add_argument("--vit-layers", type=int, default=None,
                    help="ViT blocks stored (molmo: >= 9, default 9; "
                    "molmo2: >= 7, default 7)")
    ap.add_argument("--arch", choices=["molmo", "molmo2"], default="molmo")
    ap.add_argument("--tokenizer", default=None,
                    help="directory to copy tokenizer/preprocessor files from")
    a = ap.parse_args()
    if a.vit_layers is None:
        a.vit_layers = 7 if a.arch == "molmo2" else 9
    os.makedirs(a.out, exist_ok=True)
    if a.arch == "molmo2":
        ts = tensors_molmo2(a.layers, a.vit_layers)
    else:
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
    if a.arch == "molmo2":
        with open(os.path.join(a.out, "config.json"), "w") as f:
            json.dump(config_molmo2(a.layers, a.vit_layers), f, indent=1)
        with open(os.path.join(a.out, "generation_config.json"), "w") as f:
            json.dump({"bos_token_id": 151645, "eos_token_id": 151645,
                       "pad_token_id": 151643}, f)
        print(f"{a.out}: {len(ts)} tensors, {off / 2**30:.2f} GiB bf16, "
              f"molmo2, {a.layers} decoder layers, {a.vit_layers} ViT "
              f"layers")
        return
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
