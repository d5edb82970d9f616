#!/bin/sh
# SPDX-License-Identifier: ISC
#
# bench_prep2.sh: run bench/bench_prep2 (Molmo 2 preprocessing of a
# 1920x1080 screenshot at max_crops 8 and 24, one thread and all threads)
# and, with --py-processor FILE, time the official Python processor in the
# same run on the same image, interleaved with bench_prep2's own runs: FILE
# is a checkpoint's
# image_processing_molmo2.py (e.g. from a downloaded allenai/Molmo2-8B; it
# is not part of this tree), run by bench/py_prep_peer.py with Debian's
# PyTorch (python3-torchvision, python3-pil).  Without it the processor's
# times are the issue's constants only.
#
# usage: bench/bench_prep2.sh [--runs N] [--threads N] [--py-processor FILE]
#        (from the build dir)
build=${top_builddir:-.}
here=$(cd "$(dirname "$0")" && pwd)
shared=${POINTD_SHARED:-$here/../../shared}
src="$shared/golden/molmo2-tiny/images/case1_1280x720.png"
for b in bench_prep2 bench_prep; do
	[ -x "$build/bench/$b" ] || { echo "bench_prep2.sh: $build/bench/$b not built (make bench/$b)"; exit 1; }
done
[ -f "$src" ] || { echo "bench_prep2.sh: $src missing (set POINTD_SHARED)"; exit 1; }
. "$here/peer_args.sh"
peer_args bench_prep2.sh 41 "$@"
set -- --runs "$runs"
[ -z "$threads" ] || set -- "$@" --threads "$threads"
set -- "$@" "$src"
if [ -n "$processor" ]; then
	py=$(peer_python 'PIL, torchvision') || { echo "bench_prep2.sh: --py-processor needs python3 with PIL and torchvision (apt-get install python3-torchvision)"; exit 1; }
	tmp=$(mktemp -d) || exit 1
	trap 'rm -rf "$tmp"' EXIT INT TERM
	# the same nearest-neighbour 1920x1080 image bench_prep2 makes
	"$build/bench/bench_prep" --write-1080 "$tmp/s1080.png" "$src" || exit 1
	set -- "$@" -- "$py" "$here/py_prep_peer.py" --serve \
		--processor "$processor" "prep/8:$tmp/s1080.png" \
		"prep/24:$tmp/s1080.png"
fi
"$build/bench/bench_prep2" "$@"
