#!/bin/sh
# SPDX-License-Identifier: ISC
#
# test_text_pages.sh: the text backend end to end.  Headless Chromium renders
# every page of tests/data/pages at 1280x720, DPR 1 and 2, light and dark
# theme; `pointctl locate --json` answers every target of targets.tsv on
# each screenshot; the answers are checked against the boxes the page itself
# measured (boxes.js writes getBoundingClientRect() of every element with an
# id into the DOM, which `chromium --dump-dom` prints).
#
# A point counts as a hit when it lies inside the expected element's box
# (CSS pixels times the DPR).  The test fails on any wrong point (a point
# outside every expected box: the backend must never claim a match it is
# unsure of), on an ambiguous label that does not return all its elements,
# on an answer for a target that is not on the page, or when fewer than
# MIN_TEXT_PCT percent of the text-named targets are hit.
#
# Chromium missing: SKIP (77), loudly; CI installs it (build-aux/install-deps).
# Set TEXT_PAGES_KEEP=DIR to keep the screenshots and answers in DIR.
set -u

MIN_TEXT_PCT=${MIN_TEXT_PCT:-85}
srcdir=$(cd "${top_srcdir:-.}" && pwd)
build=$(cd "${top_builddir:-.}" && pwd)
pages=$srcdir/tests/data/pages
pointctl=$build/pointctl

chromium=
for c in chromium chromium-browser; do
	if command -v "$c" >/dev/null 2>&1; then
		chromium=$(command -v "$c")
		break
	fi
done
if [ -z "$chromium" ]; then
	echo "SKIP: test_text_pages: chromium is not installed" \
	    "(apt-get install chromium); the text backend is NOT tested" >&2
	exit 77
fi
command -v python3 >/dev/null 2>&1 || {
	echo "test_text_pages: python3 is missing (apt-get install python3)" >&2
	exit 99
}
[ -x "$pointctl" ] || {
	echo "test_text_pages: $pointctl not built" >&2
	exit 99
}

tmp=$(mktemp -d) || exit 99
trap 'rm -rf "$tmp"' EXIT
out=${TEXT_PAGES_KEEP:-$tmp}
mkdir -p "$out" || exit 99

# run_chromium PROFILE ARGS...: one headless run with a fresh profile.
run_chromium() {
	prof=$tmp/profile-$1
	shift
	rm -rf "$prof"
	timeout 60 "$chromium" --headless --no-sandbox --disable-gpu \
	    --no-first-run --disable-background-networking \
	    --disable-component-update --disable-sync --hide-scrollbars \
	    --user-data-dir="$prof" --window-size=1280,720 "$@" 2>/dev/null
}

list=$(grep -v '^#' "$pages/targets.tsv" | cut -f1 | sort -u)
for page in $list; do
	run_chromium dom --dump-dom "file://$pages/$page" >"$out/$page.dom" ||
	    { echo "test_text_pages: chromium --dump-dom $page failed" >&2; exit 99; }
	for dpr in 1 2; do
		for theme in light dark; do
			shot=$out/$page-$dpr-$theme.png
			frag=
			[ $theme = dark ] && frag='#dark'
			run_chromium shot --screenshot="$shot" \
			    --force-device-scale-factor=$dpr \
			    "file://$pages/$page$frag" >/dev/null ||
			    { echo "test_text_pages: screenshot of $page failed" >&2; exit 99; }
			# One pointctl run per screenshot: read once, match
			# every target (tab-separated in targets.tsv).
			grep "^$page	" "$pages/targets.tsv" | cut -f2 \
			    >"$tmp/targets"
			set --
			while IFS= read -r t; do
				set -- "$@" "$t"
			done <"$tmp/targets"
			"$pointctl" locate --json --max-points 4 "$shot" "$@" \
			    >"$out/$page-$dpr-$theme.json" ||
			    { echo "test_text_pages: pointctl locate failed on $shot" >&2; exit 1; }
		done
	done
done

python3 - "$pages/targets.tsv" "$out" "$MIN_TEXT_PCT" <<'EOF'
import json, os, re, sys

tsv, out, min_pct = sys.argv[1], sys.argv[2], float(sys.argv[3])
targets = {}
for line in open(tsv):
    if line.startswith("#") or not line.strip():
        continue
    page, target, ids, kind = line.rstrip("\n").split("\t")
    targets.setdefault(page, []).append((target, ids, kind))

stats = {}  # kind -> [hits, total]
errors = []
ms = {1: [], 2: []}
for page, tl in sorted(targets.items()):
    dom = open(os.path.join(out, page + ".dom")).read()
    m = re.search(r"BOXES(.*?)BOXES", dom, re.S)
    if m is None:
        sys.exit("test_text_pages: %s: no boxes in the DOM dump" % page)
    boxes = json.loads(m.group(1).replace("&quot;", '"'))
    for dpr in (1, 2):
        for theme in ("light", "dark"):
            shot = "%s-%d-%s" % (page, dpr, theme)
            answers = [json.loads(l) for l in open(os.path.join(out, shot + ".json"))]
            if len(answers) != len(tl):
                sys.exit("test_text_pages: %s: %d answers for %d targets"
                         % (shot, len(answers), len(tl)))
            ms[dpr].append(answers[0]["ocr_ms"] if answers else 0)
            for (target, ids, kind), a in zip(tl, answers):
                if a["target"] != target or a["source"] != "text":
                    sys.exit("test_text_pages: %s: answer out of order" % shot)
                pts = a["points"]
                st = stats.setdefault(kind, [0, 0])
                want = [] if ids == "-" else ids.split(",")
                if not want:
                    if pts:
                        errors.append("%s: '%s' is not on the page but got %s"
                                      % (shot, target, pts))
                    continue
                st[1] += 1
                def inside(p, i):
                    x0, y0, x1, y1 = [v * dpr for v in boxes[i]]
                    return x0 <= p["x"] < x1 and y0 <= p["y"] < y1
                covered = set()
                wrong = False
                for p in pts:
                    hit = [i for i in want if inside(p, i)]
                    if not hit:
                        wrong = True
                        errors.append("%s: '%s': point (%.0f, %.0f) '%s' is "
                                      "outside %s" % (shot, target, p["x"],
                                      p["y"], p["text"], ids))
                    covered.update(hit)
                if pts and not wrong and len(want) > 1 and covered != set(want):
                    errors.append("%s: '%s': ambiguous label gave %d of %d "
                                  "elements" % (shot, target, len(covered),
                                  len(want)))
                elif pts and not wrong:
                    st[0] += 1
                else:
                    print("miss: %s: '%s' (%s)" % (shot, target,
                          a["reason"] or "wrong point"))

tot = [sum(v[0] for v in stats.values()), sum(v[1] for v in stats.values())]
for k in sorted(stats):
    h, n = stats[k]
    print("%-6s targets: %3d/%3d hit (%.0f%%)" % (k, h, n, 100.0 * h / n))
print("all    targets: %3d/%3d hit (%.0f%%)" % (tot[0], tot[1],
      100.0 * tot[0] / tot[1]))
for d in (1, 2):
    v = sorted(ms[d])
    print("ocr time DPR %d: median %.0f ms over %d screenshots" %
          (d, v[len(v) // 2], len(v)))
named = stats.get("text", [0, 0])
pct = 100.0 * named[0] / max(named[1], 1)
for e in errors:
    print("FAIL: " + e)
if pct < min_pct:
    print("FAIL: text-named targets %.0f%% hit, below %.0f%%" % (pct, min_pct))
sys.exit(1 if errors or pct < min_pct else 0)
EOF
