#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""py_prep_peer.py: the preprocessing benchmarks' peer, measured in the same
run, interleaved with the C side's runs (bench/benchutil.h, bench_peer).

Times, on request, PIL's PNG decode (python3-pil) and an official Python
image processor: the checkpoint's own file (shipped in the checkpoint's
Hugging Face repository for trust_remote_code; not part of this tree) on the
decoded screenshot, PNG decode excluded as in the issue's figures:
  Molmo v1  image_preprocessing_molmo.py: MolmoImageProcessor().preprocess()
            (both resize flavours live in that file; the MolmoE one,
            torchvision, is what the class does by default)
  Molmo 2   image_processing_molmo2.py: image_to_patches_and_grids() with
            the processor's defaults at max_crops N
PyTorch and torchvision come from Debian (python3-torchvision), set to use
all the machine's threads like the C side's "all threads" (torch is
imported only with --processor); transformers and einops, which the files
import but Debian 12 does not package, are replaced by the few names they
use: constants, empty base classes, a logger, PIL's resampling enum, and
einops' rearrange for the plain "(a b) -> ..." patterns they call (reshape,
transpose, reshape: what einops itself does with numpy arrays).

usage: py_prep_peer.py --serve [--processor FILE.py] CASE ...
A CASE is decode:PNG (PIL decoding the file's bytes from memory),
prep:PNG (the processor on the decoded image) or prep/N:PNG (Molmo 2 at
max_crops N; prep alone is 8); cases are numbered 0, 1, ... in order.
After loading and one warm-up run per case it prints "ready N INFO" (N
cases), then answers each line "CASE K" on standard input with the K wall
times of K runs of that case, in milliseconds, on one line.
"""
import importlib.util
import io
import logging
import os
import re
import sys
import time
import types
import warnings
import typing

import numpy as np
import PIL
from PIL import Image

torch = None  # imported with --processor only


def rearrange(x, pattern, **sizes):
    """einops.rearrange for patterns made of names and (grouped names)."""
    left, right = (side.strip() for side in pattern.split("->"))

    def groups(side):
        return [g[1:-1].split() if g.startswith("(") else [g]
                for g in re.findall(r"\([^)]*\)|\S+", side)]

    lg, rg = groups(left), groups(right)
    dims = dict(sizes)
    for g, n in zip(lg, x.shape):
        known = int(np.prod([dims[a] for a in g if a in dims]))
        for a in g:
            if a not in dims:
                dims[a] = n // known
    flat = [a for g in lg for a in g]
    x = x.reshape([dims[a] for a in flat])
    x = x.transpose([flat.index(a) for g in rg for a in g])
    return x.reshape([int(np.prod([dims[a] for a in g])) for g in rg])


USAGE = ("usage: py_prep_peer.py --serve [--processor FILE.py] "
         "decode:PNG|prep:PNG|prep/N:PNG ...")


def install_shims():
    def module(name, **names):
        m = types.ModuleType(name)
        m.__dict__.update(names)
        sys.modules[name] = m
        return m

    class ImagesKwargs(typing.TypedDict, total=False):
        pass

    class BaseImageProcessor:
        def __init__(self, **kwargs):
            pass

        @classmethod
        def register_for_auto_class(cls, *args, **kwargs):
            pass

    module("einops", rearrange=rearrange)
    module("transformers")
    module("transformers.image_utils",
           OPENAI_CLIP_MEAN=[0.48145466, 0.4578275, 0.40821073],
           OPENAI_CLIP_STD=[0.26862954, 0.26130258, 0.27577711],
           IMAGENET_STANDARD_MEAN=[0.5, 0.5, 0.5],
           IMAGENET_STANDARD_STD=[0.5, 0.5, 0.5],
           ImageInput=typing.Any,
           PILImageResampling=Image.Resampling,
           is_valid_image=lambda im: isinstance(im, np.ndarray),
           make_flat_list_of_images=None, valid_images=None,
           to_numpy_array=np.asarray)
    module("transformers.image_transforms", convert_to_rgb=None)
    module("transformers.processing_utils", ImagesKwargs=ImagesKwargs)
    module("transformers.image_processing_utils",
           BaseImageProcessor=BaseImageProcessor, get_size_dict=None)
    module("transformers.feature_extraction_utils", BatchFeature=dict)
    module("transformers.utils", TensorType=None,
           logging=types.SimpleNamespace(get_logger=logging.getLogger))


def load_processor(path):
    """The processor file's work(image, max_crops) -> crops."""
    install_shims()
    # all the machine's threads, as the C side's "all threads" figure (the
    # Debian build's OpenMP default here is one)
    torch.set_num_threads(os.cpu_count() or 1)
    spec = importlib.util.spec_from_file_location("molmo_processor", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    if hasattr(mod, "image_to_patches_and_grids"):
        def work(image, max_crops):
            return mod.image_to_patches_and_grids(
                image, max_crops, [4, 4], [378, 378],
                Image.Resampling.BILINEAR, [0.5] * 3, [0.5] * 3, 14, 2, 2)[1]
        # the processor's own default resample argument is this int enum,
        # which torchvision 0.14 accepts with a deprecation warning
        warnings.simplefilter("ignore", UserWarning)
        return work
    proc = mod.MolmoImageProcessor()

    def work(image, max_crops):
        return proc.preprocess(image, 152066, 152067, 152064, 152065)[0]
    return work


def decode(data):
    """PIL's PNG decode of the bytes in memory, as the C side decodes."""
    im = Image.open(io.BytesIO(data))
    im.load()
    return im


def main():
    args = sys.argv[1:]
    if not args or args[0] != "--serve":
        sys.exit(USAGE)
    args = args[1:]
    work = None
    if len(args) > 1 and args[0] == "--processor":
        global torch
        import torch
        work = load_processor(args[1])
        args = args[2:]
    cases = []
    for spec in args:
        kind, _, path = spec.partition(":")
        with open(path, "rb") as f:
            data = f.read()
        if kind == "decode":
            cases.append(lambda data=data: decode(data))
            continue
        if not kind.startswith("prep") or work is None:
            sys.exit(USAGE)
        max_crops = int(kind[5:]) if kind.startswith("prep/") else 8
        image = np.array(decode(data).convert("RGB"), dtype=np.uint8)
        crops = work(image, max_crops)  # warm up, and check the output
        if crops.ndim != 3 or crops.shape[2] != 588:
            sys.exit("py_prep_peer.py: unexpected crops %s" % (crops.shape,))
        cases.append(lambda image=image, n=max_crops: work(image, n))
    if not cases:
        sys.exit(USAGE)
    for run in cases:
        run()
    info = "PIL %s" % PIL.__version__
    if work is not None:
        info += ", PyTorch %s, %d threads" % (torch.__version__,
                                              torch.get_num_threads())
    print("ready %d %s" % (len(cases), info), flush=True)
    for line in sys.stdin:
        case, runs = (int(v) for v in line.split())
        times = []
        for _ in range(runs):
            t = time.perf_counter()
            cases[case]()
            times.append((time.perf_counter() - t) * 1e3)
        print(" ".join("%.3f" % v for v in times), flush=True)


if __name__ == "__main__":
    main()
