#!/bin/sh
# SPDX-License-Identifier: ISC
#
# bench_prep.sh: run bench/bench_prep (PNG decode and Molmo v1
# preprocessing, one thread and all threads, 1280x720 and 1920x1080) with
# its peers measured in the same run on the same two files, their runs
# interleaved with bench_prep's own (bench/py_prep_peer.py):
#   - PIL's PNG decode, when python3 has PIL (Debian: python3-pil);
#   - with --py-processor FILE, the official Python processor itself: FILE
#     is a checkpoint's image_preprocessing_molmo.py (e.g. from a
#     downloaded allenai/MolmoE-1B-0924; it is not part of this tree), run
#     with Debian's PyTorch (python3-torchvision).
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

# The peer: PIL decoding both files (Debian's python3 with PIL and numpy,
# which py_prep_peer.py imports; a pyenv one may lack them) and, with
# --py-processor, the processor on them.
py=$(peer_python "PIL, numpy")
set -- "$@" "$img"
if [ -n "$py" ]; then
	set -- "$@" -- "$py" "$here/py_prep_peer.py" --serve
	if [ -n "$processor" ]; then
		"$py" -c 'import torchvision' 2>/dev/null || { echo "bench_prep.sh: --py-processor needs torchvision (apt-get install python3-torchvision)"; exit 1; }
		set -- "$@" --processor "$processor"
	fi
	set -- "$@" "decode:$img" "decode:$png1080"
	[ -z "$processor" ] || set -- "$@" "prep:$img" "prep:$png1080"
elif [ -n "$processor" ]; then
	echo "bench_prep.sh: --py-processor needs python3 with PIL and numpy (apt-get install python3-pil python3-numpy)"
	exit 1
else
	echo "peer: python3 with PIL and numpy not found (apt-get install python3-pil python3-numpy): PIL decode not measured"
fi
# not exec: the trap removes the 1920x1080 PNG afterwards
"$bench" "$@"
