#!/bin/sh
# SPDX-License-Identifier: ISC
#
# bench_prep.sh: run bench/bench_prep (PNG decode and Molmo v1
# preprocessing, one thread and all threads, 1280x720 and 1920x1080) with
# its peers measured in the same run on the same two files:
#   - PIL's PNG decode, when python3 has PIL (Debian: python3-pil);
#   - with --py-processor FILE, the official Python processor itself: FILE
#     is a checkpoint's image_preprocessing_molmo.py (e.g. from a
#     downloaded allenai/MolmoE-1B-0924; it is not part of this tree), run
#     by bench/py_prep_peer.py with Debian's PyTorch (python3-torchvision),
#     its runs interleaved with bench_prep's own.
# Without --py-processor the processor's time is the issue's constant only.
#
# usage: bench/bench_prep.sh [--runs N] [--threads N] [--py-processor FILE]
#        (from the build dir)
build=${top_builddir:-.}
bench="$build/bench/bench_prep"
here=$(cd "$(dirname "$0")" && pwd)
shared=${POINTD_SHARED:-$here/../../shared}
img="$shared/golden/images/screenshot_1280x720.png"
[ -x "$bench" ] || { echo "bench_prep.sh: $bench not built (make bench/bench_prep)"; exit 1; }
[ -f "$img" ] || { echo "bench_prep.sh: $img missing (set POINTD_SHARED)"; exit 1; }
. "$here/peer_args.sh"
peer_args bench_prep.sh 101 "$@"

tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM
png1080="$tmp/screenshot_1920x1080.png"
"$bench" --write-1080 "$png1080" "$img" || exit 1
set -- --runs "$runs" --png-1080 "$png1080"
[ -z "$threads" ] || set -- "$@" --threads "$threads"

# The Python with PIL (Debian's python3; a pyenv one may lack it).
py=$(peer_python PIL)
if [ -n "$py" ]; then
	pil=$("$py" - "$img" "$png1080" "$runs" <<'PY'
import sys, time
from PIL import Image
def med(path, n):
    ts = []
    for _ in range(n):
        t = time.perf_counter()
        im = Image.open(path)
        im.load()
        ts.append((time.perf_counter() - t) * 1e3)
    ts.sort()
    return ts[len(ts) // 2]
n = int(sys.argv[3])
print("%.3f,%.3f" % (med(sys.argv[1], n), med(sys.argv[2], n)))
PY
) && {
		echo "peer: PIL $("$py" -c 'import PIL; print(PIL.__version__)') PNG decode measured in this run (ms, 1280x720,1920x1080): $pil"
		set -- "$@" --pil-ms "$pil"
	}
else
	echo "peer: python3 with PIL not found (apt-get install python3-pil): PIL decode not measured"
fi
set -- "$@" "$img"
if [ -n "$processor" ]; then
	[ -n "$py" ] || { echo "bench_prep.sh: --py-processor needs python3 with PIL"; exit 1; }
	"$py" -c 'import torchvision' 2>/dev/null || { echo "bench_prep.sh: --py-processor needs torchvision (apt-get install python3-torchvision)"; exit 1; }
	set -- "$@" -- "$py" "$here/py_prep_peer.py" --serve "$processor" "$img" "$png1080"
fi
exec "$bench" "$@"
