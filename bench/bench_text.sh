#!/bin/sh
# SPDX-License-Identifier: ISC
#
# bench_text.sh [BUILDDIR]: renders the text test pages (tests/data/pages)
# with headless Chromium at 1280x720 and 1920x1080 (DPR 1) and 1280x720 at
# DPR 2, then runs bench/bench_text on the screenshots: OCR time per frame
# with one engine and with all cores, and the time of one cached query.
# Accuracy on the same pages comes from tests/integ/test_text_pages.sh,
# which this script runs last.  Set ITERS to change the repetitions.
set -eu

here=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-.}" && pwd)
pages=$here/tests/data/pages
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

command -v chromium >/dev/null 2>&1 || {
	echo "bench_text.sh: chromium is not installed (apt-get install chromium)" >&2
	exit 1
}
shots=
for page in form shop news; do
	for size in 1280,720,1 1920,1080,1 1280,720,2; do
		w=${size%%,*}
		rest=${size#*,}
		h=${rest%%,*}
		dpr=${rest#*,}
		out=$tmp/$page-${w}x$h-dpr$dpr.png
		rm -rf "$tmp/prof"
		timeout 60 chromium --headless --no-sandbox --disable-gpu \
		    --no-first-run --disable-background-networking \
		    --disable-component-update --disable-sync --hide-scrollbars \
		    --user-data-dir="$tmp/prof" --window-size=$w,$h \
		    --force-device-scale-factor=$dpr \
		    --screenshot="$out" "file://$pages/$page.html" \
		    >/dev/null 2>&1
		shots="$shots $out"
	done
done
echo "machine: $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
# shellcheck disable=SC2086
"$build/bench/bench_text" -n "${ITERS:-5}" $shots
echo
echo "accuracy on the test pages:"
top_srcdir=$here top_builddir=$build sh "$here/tests/integ/test_text_pages.sh" |
    grep -v '^miss:'
