#!/bin/sh
# SPDX-License-Identifier: ISC
#
# test_pointd_text.sh: the text and auto backends in the real pointd.
# Headless Chromium renders demo/flights.html at 1280x720 and reports the
# box of its Search flights button (getBoundingClientRect, written into the
# DOM that --dump-dom prints); without Chromium the committed
# demo/flights.png (the same page) and its known box are used, loudly.
# pointd then runs three times, each checked by test_pointd_text:
#   1. backend text, no model directory: it must start and serve;
#   2. backend auto, no model directory: text alone, and answers say so;
#   3. backend auto with the tiny Molmo checkpoint from ../shared:
#      an absent target falls through to Molmo (skipped without ../shared).
. "${top_srcdir:-.}/tests/integ/pointd_env.sh"

srcdir=$(cd "$top_srcdir" && pwd)
prog=$top_builddir/tests/integ/test_pointd_text
[ -x "$prog" ] || fail "$prog is not built"

shot=$TMP/flights.png
box=
chromium=
for c in chromium chromium-browser; do
	if command -v "$c" >/dev/null 2>&1; then
		chromium=$(command -v "$c")
		break
	fi
done
if [ -n "$chromium" ]; then
	# A copy of the page that writes the button's box into an attribute
	# of <body> (invisible, so the screenshot is the page itself).
	sed 's|</body>|<script>var r=document.getElementById("search").getBoundingClientRect();document.body.setAttribute("data-box",[r.left,r.top,r.right,r.bottom].join(" "))</script></body>|' \
	    "$srcdir/demo/flights.html" >"$TMP/flights.html" ||
	    fail "cannot copy demo/flights.html"
	run_chromium() {
		rm -rf "$TMP/profile"
		timeout 60 "$chromium" --headless --no-sandbox --disable-gpu \
		    --no-first-run --disable-background-networking \
		    --disable-component-update --disable-sync \
		    --hide-scrollbars --user-data-dir="$TMP/profile" \
		    --window-size=1280,720 --force-device-scale-factor=1 \
		    "$@" "file://$TMP/flights.html" 2>/dev/null
	}
	box=$(run_chromium --dump-dom |
	    sed -n 's/.*data-box="\([0-9. ]*\)".*/\1/p')
	run_chromium --screenshot="$shot" >/dev/null ||
	    fail "chromium could not take the screenshot"
	if [ ! -s "$shot" ] || [ -z "$box" ]; then
		fail "chromium gave no screenshot or no box"
	fi
else
	echo "NOTE: chromium is not installed; using the committed" \
	    "demo/flights.png and its known box" >&2
	cp "$srcdir/demo/flights.png" "$shot" || fail "no demo/flights.png"
	box="200 290 405 342"
fi
echo "screenshot $shot, button box $box"
export TEXT_SHOT="$shot" TEXT_BOX="$box"

# 17 small PNGs of different colours, for the cache's bound (16 frames).
TEXT_LRU_DIR=
if command -v python3 >/dev/null 2>&1; then
	mkdir "$TMP/lru" && python3 - "$TMP/lru" <<'EOF' && TEXT_LRU_DIR=$TMP/lru
import struct, sys, zlib
def chunk(t, d):
    return (struct.pack(">I", len(d)) + t + d +
            struct.pack(">I", zlib.crc32(t + d) & 0xffffffff))
for i in range(17):
    w, h = 160, 90
    row = b"\0" + bytes((10 * i, 255 - 10 * i, 128)) * w
    png = (b"\x89PNG\r\n\x1a\n" +
           chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) +
           chunk(b"IDAT", zlib.compress(row * h)) + chunk(b"IEND", b""))
    open("%s/f%02d.png" % (sys.argv[1], i), "wb").write(png)
EOF
else
	echo "NOTE: python3 is missing: the cache bound is NOT tested" >&2
fi
export TEXT_LRU_DIR

# 1. backend text, no model directory.
pointd_start "$top_builddir/pointd" <<CONF
backend text
model $TMP/no-such-model
threads 2
CONF
grep -q "molmo is not loaded" "$TMP/log" || fail "no 'molmo is not loaded' line"
TEXT_MODE=text "$prog" || fail "backend text"
pointd_stop

# 2. backend auto, no model directory.
pointd_start "$top_builddir/pointd" <<CONF
backend auto
model $TMP/no-such-model
threads 2
CONF
[ "$(grep -c "molmo is not loaded" "$TMP/log")" = 1 ] ||
	fail "expected one 'molmo is not loaded' line"
TEXT_MODE=auto-nomodel "$prog" || fail "backend auto without a model"
pointd_stop

# 3. backend auto with the tiny checkpoint.
model="${POINTD_SHARED:-$top_srcdir/../shared}/golden/qwen2-tiny/model"
if [ ! -d "$model" ]; then
	echo "SKIP: $model is missing: auto's fall-through to Molmo is NOT" \
	    "tested" >&2
	[ "${POINTD_REQUIRE_SHARED:-0}" = 1 ] && exit 99
	exit 77
fi
pointd_start "$top_builddir/pointd" <<CONF
backend auto
model $model
threads 2
max_new_tokens 8
CONF
grep -q "model: .* ready" "$TMP/log" || fail "no model ready line"
! grep -q "molmo is not loaded" "$TMP/log" || fail "molmo did not load"
TEXT_MODE=auto-model "$prog" || fail "backend auto with a model"
pointd_stop
