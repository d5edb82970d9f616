#!/bin/sh
# SPDX-License-Identifier: ISC
# test_ctl_report.sh: record a session through pointd_testbe (one point at
# the centre of the 200x150 frame), write `pointctl report`, open it in
# headless Chromium and check the screenshot: a magenta marker where the
# point is (the first frame is drawn 1:1 below a 48 px header), no marker
# elsewhere; the page references nothing outside itself.
. "${top_srcdir:-.}/tests/integ/pointd_env.sh"

CHROMIUM=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$CHROMIUM" ] || ! command -v python3 >/dev/null 2>&1; then
	echo "SKIP: chromium or python3 not installed" >&2
	exit 77
fi
DB="$TMP/rec.db"
pointd_start "$top_builddir/tests/tools/pointd_testbe" <<CONF
model $TMP
backend test
database $DB
CONF
"$top_builddir/tests/integ/test_pointd_record" basic "$DB" ||
	fail "recording through pointd"
pointd_stop

"$top_builddir/pointctl" report --database "$DB" -o "$TMP/rep" 1 ||
	fail "pointctl report"
[ -s "$TMP/rep/index.html" ] || fail "no index.html"
grep -q 'data:image/png;base64,' "$TMP/rep/index.html" ||
	fail "the frame is not embedded"
if grep -q 'src="http\|href="http' "$TMP/rep/index.html"; then
	fail "the page loads something from the network"
fi
grep -q 'NONE' "$TMP/rep/index.html" || fail "none is not shown"

flags="--headless --disable-gpu --no-first-run --disable-background-networking
--disable-component-update --disable-sync --hide-scrollbars"
[ "$(id -u)" = 0 ] && flags="$flags --no-sandbox"
# shellcheck disable=SC2086
timeout 60 "$CHROMIUM" $flags --user-data-dir="$TMP/chrome" \
	--screenshot="$TMP/shot.png" --window-size=400,300 \
	"file://$TMP/rep/index.html" >"$TMP/chrome.log" 2>&1
[ -s "$TMP/shot.png" ] || { cat "$TMP/chrome.log" >&2; fail "no screenshot"; }

python3 - "$TMP/shot.png" <<'PY' || fail "the marker is not where the point is"
import struct, sys, zlib
data = open(sys.argv[1], "rb").read()
assert data[:8] == b"\x89PNG\r\n\x1a\n"
pos, idat, w = 8, b"", 0
while pos < len(data):
    n, = struct.unpack(">I", data[pos:pos + 4])
    kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + n]
    if kind == b"IHDR":
        w, h, depth, ctype = struct.unpack(">IIBB", body[:10])
        assert depth == 8 and ctype in (2, 6), (depth, ctype)
        bpp = 3 if ctype == 2 else 4
    elif kind == b"IDAT":
        idat += body
    pos += 12 + n
raw, stride, rows, prev = zlib.decompress(idat), w * bpp, [], bytearray(w * bpp)
for y in range(h):
    f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
    for i in range(stride):
        a = line[i - bpp] if i >= bpp else 0
        b, c = prev[i], prev[i - bpp] if i >= bpp else 0
        if f == 1: line[i] = (line[i] + a) & 255
        elif f == 2: line[i] = (line[i] + b) & 255
        elif f == 3: line[i] = (line[i] + (a + b) // 2) & 255
        elif f == 4:
            p = a + b - c; pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
    rows.append(line); prev = line
def px(x, y): return tuple(rows[y][x * bpp:x * bpp + 3])
def magenta(p): return p[0] > 200 and p[1] < 60 and p[2] > 200
top = 48  # the header's height
on = px(100, top + 75)
off = [px(100 + 40, top + 75), px(20, top + 20), px(180, top + 130)]
print("marker pixel", on, "elsewhere", off, file=sys.stderr)
sys.exit(0 if magenta(on) and not any(magenta(p) for p in off) else 1)
PY
exit 0
