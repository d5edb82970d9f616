#!/bin/sh
# SPDX-License-Identifier: ISC
#
# bench_prep.sh: run bench/bench_prep (PNG decode and preprocessing, one
# thread and all threads, 1280x720 and 1920x1080) and, in the same run,
# time PIL's PNG decode of the same two files as the peer when python3 with
# PIL is installed (Debian: python3-pil).  The Python processors' own times
# are constants from the issue, printed as such by bench_prep.
#
# usage: bench/bench_prep.sh [--runs N] [--threads N]   (from the build dir)
build=${top_builddir:-.}
bench="$build/bench/bench_prep"
here=$(cd "$(dirname "$0")" && pwd)
shared=${POINTD_SHARED:-$here/../../shared}
img="$shared/golden/images/screenshot_1280x720.png"
[ -x "$bench" ] || { echo "bench_prep.sh: $bench not built (make bench/bench_prep)"; exit 1; }
[ -f "$img" ] || { echo "bench_prep.sh: $img missing (set POINTD_SHARED)"; exit 1; }
runs=30
for a in "$@"; do
	case $prev in --runs) runs=$a ;; esac
	prev=$a
done

tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM
png1080="$tmp/screenshot_1920x1080.png"
"$bench" --write-1080 "$png1080" "$img" || exit 1

# The peer: PIL decoding the same files (median of $runs).
pil=
for py in python3 /usr/bin/python3; do
	command -v "$py" >/dev/null 2>&1 || continue
	pil=$("$py" - "$img" "$png1080" "$runs" 2>/dev/null <<'PY'
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
) && break
	pil=
done
if [ -n "$pil" ]; then
	echo "peer: PIL $("$py" -c 'import PIL; print(PIL.__version__)') PNG decode measured in this run (ms, 1280x720,1920x1080): $pil"
	exec "$bench" --pil-ms "$pil" --png-1080 "$png1080" "$@" "$img"
fi
echo "peer: python3 with PIL not found (apt-get install python3-pil): PIL decode not measured"
exec "$bench" --png-1080 "$png1080" "$@" "$img"
