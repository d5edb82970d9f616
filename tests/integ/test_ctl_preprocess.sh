#!/bin/sh
# SPDX-License-Identifier: ISC
#
# test_ctl_preprocess.sh: `pointctl preprocess` on the golden tiny
# checkpoints (real tokenizer files, preprocessor_config.json) and the
# golden images; the dumped arrays must equal the reference processor's
# byte for byte: input_ids of the model goldens (qwen2-tiny: TF resize,
# moe-tiny: torch resize, and text only), and for the TF flavour also
# image_input_idx, image_masks, image_token_layout and the first two crops
# of images.f32.
build=${top_builddir:-.}
ctl="$build/pointctl"
[ -x "$ctl" ] || { echo "test_ctl_preprocess: $ctl not built"; exit 99; }
shared=${POINTD_SHARED:-../shared}
g="$shared/golden"
if [ ! -d "$g" ]; then
	echo "*** SHARED TEST DATA NOT FOUND at '$shared' ***"
	[ "${POINTD_REQUIRE_SHARED:-0}" = 1 ] && exit 99
	exit 77
fi

tmp=$(mktemp -d) || exit 99
trap 'rm -rf "$tmp"' EXIT INT TERM
fails=0
fail() {
	echo "FAIL: $*"
	fails=$((fails + 1))
}
# same A B: the files are identical.
same() {
	cmp -s "$1" "$2" || fail "$1 differs from $2"
}

# TF flavour (Molmo-7B-D code): the screenshot case.
out="$tmp/qwen"
"$ctl" preprocess --model "$g/qwen2-tiny/model" \
    --image "$g/images/screenshot_1280x720.png" \
    --prompt "Point to the search button" --dump "$out" --threads 2 \
    >"$tmp/stdout" 2>"$tmp/stderr" ||
    fail "preprocess qwen2-tiny: $(cat "$tmp/stderr")"
grep -q '3x4 tiling, 13 crops, 1207 input ids (tf resize)' "$tmp/stdout" ||
    fail "summary: $(cat "$tmp/stdout")"
same "$out/input_ids.i64" "$g/qwen2-tiny/screenshot_1280x720/input_ids.i64"
p="$g/preprocess/tf/screenshot_1280x720"
same "$out/image_input_idx.i32" "$p/image_input_idx.i32"
same "$out/image_masks.f32" "$p/image_masks.f32"
same "$out/image_token_layout.i64" "$p/image_token_layout.i64"
head -c "$((2 * 576 * 588 * 4))" "$out/images.f32" >"$tmp/crops01.f32"
same "$tmp/crops01.f32" "$p/images_crops_subset.f32"
[ "$(wc -c <"$out/images.f32")" -eq $((13 * 576 * 588 * 4)) ] ||
    fail "images.f32 size"
grep -q '"images.f32"' "$out/manifest.json" || fail "manifest lacks images.f32"
grep -q '"resize": "tf"' "$out/manifest.json" || fail "manifest resize"

# Torch flavour (MolmoE code): the small image; and the portrait on olmo.
out="$tmp/moe"
"$ctl" preprocess --model "$g/moe-tiny/model" \
    --image "$g/images/small_200x150.png" --prompt "Describe this image." \
    --dump "$out" >/dev/null 2>"$tmp/stderr" ||
    fail "preprocess moe-tiny: $(cat "$tmp/stderr")"
same "$out/input_ids.i64" "$g/moe-tiny/small_200x150/input_ids.i64"
grep -q '"resize": "torch"' "$out/manifest.json" || fail "moe resize"
out="$tmp/olmo"
"$ctl" preprocess --model "$g/olmo-tiny/model" \
    --image "$g/images/portrait_720x1280.png" \
    --prompt "Point to the blue square." --dump "$out" >/dev/null \
    2>"$tmp/stderr" || fail "preprocess olmo-tiny: $(cat "$tmp/stderr")"
same "$out/input_ids.i64" "$g/olmo-tiny/portrait_720x1280/input_ids.i64"

# Text only.
out="$tmp/text"
"$ctl" preprocess --model "$g/qwen2-tiny/model" \
    --prompt "Point to the search button" --dump "$out" >/dev/null \
    2>"$tmp/stderr" || fail "preprocess text only: $(cat "$tmp/stderr")"
same "$out/input_ids.i64" "$g/qwen2-tiny/text_only/input_ids.i64"
[ ! -e "$out/images.f32" ] || fail "text only wrote images.f32"

# Errors: usage (2), bad image and missing model (1), one line each.
"$ctl" preprocess --model "$g/qwen2-tiny/model" --prompt x >/dev/null 2>&1
[ $? -eq 2 ] || fail "missing --dump is not a usage error"
printf 'not an image' >"$tmp/bad.png"
"$ctl" preprocess --model "$g/qwen2-tiny/model" --image "$tmp/bad.png" \
    --prompt x --dump "$tmp/bad" >/dev/null 2>"$tmp/stderr"
[ $? -eq 1 ] || fail "bad image did not fail"
[ "$(wc -l <"$tmp/stderr")" -eq 1 ] || fail "bad image: $(cat "$tmp/stderr")"
grep -q 'unknown image format' "$tmp/stderr" || fail "bad image message"
"$ctl" preprocess --model "$tmp/nonexistent" --prompt x --dump "$tmp/bad" \
    >/dev/null 2>&1
[ $? -eq 1 ] || fail "missing model did not fail"

[ "$fails" -eq 0 ] || exit 1
echo "test_ctl_preprocess: all checks passed"
