#!/bin/sh
# SPDX-License-Identifier: ISC
#
# test_agent_chromium.sh: pointagent end to end with the real components:
# Debian's headless Chromium showing tests/data/agent/book.html, the real
# pointd (text backend, so the answer is a real point), and pointagent
# between them.  The page writes every click into its title; the test reads
# it back from Chromium's /json/list and checks that the click landed on the
# Book now button, at the CSS position pointagent reported, at device pixel
# ratios 1 and 2 (the screenshot is in device pixels, the click in CSS
# pixels).  Without Chromium the test is skipped loudly (a failure in CI).
. "${top_srcdir:-.}/tests/integ/pointd_env.sh"

srcdir=$(cd "$top_srcdir" && pwd)
agent=$top_builddir/pointagent
[ -x "$agent" ] || fail "$agent is not built"
chromium=$(command -v chromium || command -v chromium-browser)
if [ -z "$chromium" ]; then
	echo "*** SKIP: chromium is not installed (apt-get install chromium) ***"
	[ "${POINTD_REQUIRE_SHARED:-}" = 1 ] && exit 99
	exit 77
fi
command -v curl >/dev/null 2>&1 || fail "curl is not installed"

CPID=
stop_chromium() {
	if [ -n "$CPID" ] && kill -0 "$CPID" 2>/dev/null; then
		kill -KILL "$CPID" 2>/dev/null
		wait "$CPID" 2>/dev/null
	fi
	CPID=
}
trap 'stop_chromium; cleanup' EXIT

pointd_start "$top_builddir/pointd" <<EOF
backend text
EOF

# start_chromium DPR: Chromium on the page, debugging port in $CDP_PORT.
start_chromium() {
	prof=$TMP/chrome-$1
	rm -rf "$prof"
	"$chromium" --headless --no-sandbox --disable-gpu --no-first-run \
	    --disable-background-networking --disable-component-update \
	    --disable-sync --hide-scrollbars --user-data-dir="$prof" \
	    --remote-debugging-port=0 --window-size=1280,720 \
	    --force-device-scale-factor="$1" \
	    "file://$srcdir/tests/data/agent/book.html" 2>"$TMP/chrome.log" &
	CPID=$!
	i=0
	while [ ! -s "$prof/DevToolsActivePort" ] && [ $i -lt 300 ]; do
		kill -0 "$CPID" 2>/dev/null || fail "chromium exited"
		sleep 0.1
		i=$((i + 1))
	done
	CDP_PORT=$(head -n 1 "$prof/DevToolsActivePort" 2>/dev/null)
	[ -n "$CDP_PORT" ] || fail "chromium wrote no DevToolsActivePort"
	# Wait until the page has loaded (its title is set by the page).
	i=0
	until curl -s "http://127.0.0.1:$CDP_PORT/json/list" | grep -q '"title": "waiting"'; do
		[ $i -lt 100 ] || fail "the page did not load"
		sleep 0.1
		i=$((i + 1))
	done
}

check_dpr() {
	dpr=$1
	start_chromium "$dpr"
	out=$("$agent" -c "$CDP_PORT" -u "ws://127.0.0.1:$POINTD_PORT/v1" \
	    -T 60 "the Book now button" 2>"$TMP/agent.err")
	rc=$?
	echo "dpr $dpr: $out"
	[ $rc -eq 0 ] || fail "pointagent exited $rc: $(cat "$TMP/agent.err")"
	css=$(printf '%s\n' "$out" | sed -n 's/^clicked .* at css \([0-9.]*\),\([0-9.]*\)$/\1 \2/p')
	[ -n "$css" ] || fail "pointagent reported no click"
	# The title changes once the page has handled the click.
	i=0
	title=
	while [ $i -lt 50 ]; do
		title=$(curl -s "http://127.0.0.1:$CDP_PORT/json/list" |
		    sed -n 's/.*"title": "\(clicked [^"]*\)".*/\1/p' | head -n 1)
		[ -n "$title" ] && break
		sleep 0.1
		i=$((i + 1))
	done
	echo "dpr $dpr: page saw \"$title\", agent clicked at css $css"
	[ -n "$title" ] || fail "the page saw no click"
	set -- $title
	[ "$4" = book ] || fail "dpr $dpr: the click hit $4, not the Book now button"
	set -- $css
	ax=$1
	ay=$2
	set -- $title
	# clientX/clientY may be rounded by the browser: allow one pixel.
	awk -v ax="$ax" -v ay="$ay" -v px="$2" -v py="$3" 'BEGIN {
		dx = ax - px; dy = ay - py
		exit !(dx <= 1 && dx >= -1 && dy <= 1 && dy >= -1) }' ||
	    fail "dpr $dpr: page saw the click at $2,$3, agent sent $ax,$ay"
	stop_chromium
}

check_dpr 1
check_dpr 2

# A target that is not on the page: reported as none, exit status 1.
start_chromium 1
out=$("$agent" -c "$CDP_PORT" -u "ws://127.0.0.1:$POINTD_PORT/v1" -T 60 \
    "the Subscribe button" 2>&1)
rc=$?
echo "absent target: $out"
[ $rc -eq 1 ] || fail "absent target: pointagent exited $rc, want 1"
printf '%s\n' "$out" | grep -q '"the Subscribe button": none' ||
    fail "absent target not reported as none"
curl -s "http://127.0.0.1:$CDP_PORT/json/list" | grep -q '"title": "waiting"' ||
    fail "something was clicked for an absent target"
stop_chromium

# Unreachable Chromium: one clear line, exit 1.
"$agent" -c 1 -T 5 "x" 2>"$TMP/err" && fail "no Chromium, yet exit 0"
grep -q "^pointagent: http://127.0.0.1:1/json/list: " "$TMP/err" ||
    fail "unclear error without Chromium: $(cat "$TMP/err")"

pointd_stop
echo "test_agent_chromium: ok"
