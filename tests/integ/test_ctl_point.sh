#!/bin/sh
# SPDX-License-Identifier: ISC
#
# test_ctl_point.sh: pointctl point's backends on the committed sample
# screenshot demo/flights.png (1280x720; boxes measured from the page):
# text finds the Search flights button and points into the To input for
# "the To field"; an absent target is none; auto answers from text when it
# is sure and falls back to Molmo (the tiny golden checkpoint) when not;
# molmo without --model is a usage error.
: "${top_builddir:=.}"
: "${top_srcdir:=.}"
ctl=$top_builddir/pointctl
png=$top_srcdir/demo/flights.png
fail() {
	echo "FAIL: $*" >&2
	exit 1
}
[ -x "$ctl" ] || fail "$ctl is not built"

# inside X Y X0 Y0 X1 Y1
inside() {
	awk -v x="$1" -v y="$2" -v x0="$3" -v y0="$4" -v x1="$5" -v y1="$6" \
	    'BEGIN { exit !(x >= x0 && x <= x1 && y >= y0 && y <= y1) }'
}

out=$("$ctl" point "$png" "the Search flights button") || fail "point: $?"
set -- $out
inside "$1" "$2" 200 290 405 342 || fail "button point $out is off the button"

out=$("$ctl" point --backend text "$png" "the To field") || fail "field: $?"
set -- $out
inside "$1" "$2" 490 226 756 268 || fail "field point $out is not in the To input"

out=$("$ctl" point --json "$png" "the Subscribe button") || fail "absent: $?"
printf '%s\n' "$out" | grep -q '"points":\[\]' || fail "absent target: $out"
printf '%s\n' "$out" | grep -q '"reason":"no match"' || fail "absent target: $out"

# auto: sure text answers without a model being needed.
out=$("$ctl" point --backend auto --json "$png" "Search flights") ||
    fail "auto text: $?"
printf '%s\n' "$out" | grep -q '"source":"text"' || fail "auto did not use text: $out"

# auto with a model: an absent target goes to Molmo (its JSON has ids).
if [ -n "${POINTD_SHARED:-}" ] && [ -d "$POINTD_SHARED/golden/qwen2-tiny/model" ]; then
	out=$("$ctl" point --backend auto --json --max-new-tokens 4 \
	    --model "$POINTD_SHARED/golden/qwen2-tiny/model" "$png" \
	    "the Subscribe button" 2>/dev/null) || fail "auto molmo: $?"
	printf '%s\n' "$out" | grep -q '"ids":\[' ||
	    fail "auto did not fall back to Molmo: $out"
else
	echo "*** ../shared missing: auto fallback to Molmo not checked ***" >&2
	[ "${POINTD_REQUIRE_SHARED:-}" = 1 ] && exit 99
fi

"$ctl" point --backend molmo "$png" x 2>/dev/null
[ $? -eq 2 ] || fail "molmo without --model is not a usage error"
"$ctl" point --backend nope "$png" x 2>/dev/null
[ $? -eq 2 ] || fail "a bad --backend is not a usage error"
"$ctl" point "$top_srcdir/README.md" "x" 2>"${TMPDIR:-/tmp}/ctlpoint.$$"
rc=$?
msg=$(cat "${TMPDIR:-/tmp}/ctlpoint.$$")
rm -f "${TMPDIR:-/tmp}/ctlpoint.$$"
[ $rc -eq 1 ] && [ -n "$msg" ] || fail "a non-image gave rc $rc, '$msg'"
echo "test_ctl_point: ok"
