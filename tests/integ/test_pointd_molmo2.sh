#!/bin/sh
# SPDX-License-Identifier: ISC
#
# test_pointd_molmo2.sh: the real pointd serving the tiny MolmoPoint
# checkpoint from ../shared, which ships no tokenizer: the tokenizer,
# vocab_map and max_crops directives supply the real Qwen tokenizer, the
# checkpoint's pruned vocabulary and the golden case's 24 crops.  Case 1 of
# golden/molmo2-molmopoint-tiny ("Point to the Submit button" on a 1280x720
# screenshot) must come back as the reference's point, (258.7961, 1.8277)
# in pixels, within 0.01 px, also when the request names max_crops 24; a
# request for more crops than configured is refused.
. "${top_srcdir:-.}/tests/integ/pointd_env.sh"

sh_dir=${POINTD_SHARED:-}
if [ -z "$sh_dir" ] || [ ! -d "$sh_dir/golden/molmo2-molmopoint-tiny" ]; then
	echo "*** SHARED TEST DATA NOT FOUND (golden/molmo2-molmopoint-tiny) ***"
	[ "${POINTD_REQUIRE_SHARED:-}" = 1 ] && exit 99
	exit 77
fi
command -v curl >/dev/null 2>&1 || fail "curl is not installed"
g=$sh_dir/golden/molmo2-molmopoint-tiny

pointd_start "$top_builddir/pointd" <<EOF
backend molmo
model $g/model
tokenizer $sh_dir/tokenizer/qwen2-7b/tokenizer.json
vocab_map $g/model/tiny_vocab.json
max_crops 24
threads 2
EOF

out=$(curl -s -F "image=@$g/images/case1_1280x720.png" \
    -F "target=the Submit button" \
    "http://127.0.0.1:$POINTD_PORT/v1/point") || fail "POST /v1/point failed"
echo "$out"
printf '%s' "$out" | python3 -c '
import json, sys
r = json.load(sys.stdin)
p = r["points"]
if r.get("type") != "points" or len(p) != 1:
    sys.exit("want one point, got %r" % (r,))
dx, dy = p[0]["x"] - 258.79611650485435, p[0]["y"] - 1.8276923076923077
if abs(dx) > 0.01 or abs(dy) > 0.01:
    sys.exit("point (%r, %r) is not the reference (258.7961, 1.8277)"
             % (p[0]["x"], p[0]["y"]))
if r["image"]["width"] != 1280 or r["image"]["height"] != 720:
    sys.exit("wrong image size %r" % (r["image"],))
' || fail "MolmoPoint answer differs from the reference"
# The JSON one-shot with max_crops per request: 24 (the configured most)
# gives the same point; 25 is refused with bad_request, not run.
req() {
	python3 -c '
import base64, json, sys
img = base64.b64encode(open(sys.argv[1], "rb").read()).decode()
print(json.dumps({"image": img, "format": "png", "target": "the Submit button",
                  "max_crops": int(sys.argv[2])}))' "$g/images/case1_1280x720.png" "$1" |
	curl -s -H 'Content-Type: application/json' --data-binary @- \
	    "http://127.0.0.1:$POINTD_PORT/v1/point"
}
out=$(req 24) || fail "POST max_crops 24 failed"
printf '%s' "$out" | grep -q '"x":258.8,"y":1.83' ||
    fail "max_crops 24: $out"
out=$(req 25) || fail "POST max_crops 25 failed"
printf '%s' "$out" | grep -q '"code":"bad_request"' ||
    fail "max_crops 25 was not refused: $out"
printf '%s' "$out" | grep -q "max_crops 25 is more than" ||
    fail "max_crops 25: unclear message: $out"
pointd_stop
echo "test_pointd_molmo2: ok"
