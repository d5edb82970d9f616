#!/bin/sh
# SPDX-License-Identifier: ISC
#
# test_ctl_store.sh: pointctl sessions, show, export and import on a real
# SQLite database written through store/ by tests/tools/store_fill (three
# sessions; see that file), then checked with pointctl and the sqlite3 CLI.
build=${top_builddir:-.}
ctl="$build/pointctl"
fill="$build/tests/tools/store_fill"
for p in "$ctl" "$fill"; do
	[ -x "$p" ] || { echo "test_ctl_store: $p not built"; exit 99; }
done
command -v sqlite3 >/dev/null 2>&1 ||
    { echo "test_ctl_store: sqlite3 CLI missing (apt-get install sqlite3)"; exit 99; }

tmp=$(mktemp -d) || exit 99
trap 'rm -rf "$tmp"' EXIT INT TERM
fails=0
fail() {
	echo "FAIL: $*"
	fails=$((fails + 1))
}
# expect STATUS CMD...: run CMD, stdout to $tmp/out, stderr to $tmp/err.
expect() {
	want=$1
	shift
	"$@" >"$tmp/out" 2>"$tmp/err"
	got=$?
	[ "$got" -eq "$want" ] || fail "$* exited $got, expected $want: $(cat "$tmp/err")"
}
has() {
	grep -q -- "$1" "$tmp/out" || fail "output lacks '$1': $(cat "$tmp/out")"
}
db="$tmp/a.db"
"$fill" "$db" || exit 99

# sessions: all three, oldest first; --since filters by start time.
expect 0 "$ctl" sessions --database "$db"
[ "$(grep -c '^[0-9]' "$tmp/out")" -eq 3 ] || fail "sessions: $(cat "$tmp/out")"
has '^1 .*2026-01-01T00:00:00.000Z .* 3  alpha$'
has '^3 .*open .* 1  gamma$'
expect 0 "$ctl" sessions --database "$db" --since 2026-01-02
[ "$(grep -c '^[0-9]' "$tmp/out")" -eq 2 ] || fail "--since: $(cat "$tmp/out")"
expect 0 "$ctl" sessions --database "$db" --since 2026-01-02T00:00:01Z --json
has '"label": "gamma"'
grep -q '"beta"' "$tmp/out" && fail "--since kept beta"
expect 0 "$ctl" sessions --database "$db" --since 1d --json
[ "$(tr -d ' \n' <"$tmp/out")" = "[]" ] || fail "--since 1d: $(cat "$tmp/out")"
expect 2 "$ctl" sessions --database "$db" --since yesterday
expect 1 "$ctl" sessions --database "$tmp/missing.db"
[ -e "$tmp/missing.db" ] && fail "sessions created a database"

# show: text and JSON, with frames, answers and timings.
expect 0 "$ctl" show --database "$db" 1
has '^session 1 "alpha"'
has '^request 2 at 2026-01-01T00:00:01.000Z: point "the search box"'
has 'png 1280x720 dpr 1, 5000 bytes'
has 'timings: queue 1 ms, prep 12 ms, infer 480 ms, total 493 ms'
expect 0 "$ctl" show --json --database "$db" 2
has '"none": true'
has '"error": "bad_image"'
has '"max_points": 1'
if command -v python3 >/dev/null 2>&1; then
	python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert d["session"]["id"] == 2 and d["session"]["ended_ms"] == 1767312001000
r = d["requests"][0]
assert r["frame"]["bytes"] == 5000 and r["answer"]["timings"]["infer_ms"] == 480
' "$tmp/out" || fail "show --json is not the expected JSON"
fi
expect 0 "$ctl" show --database "$db" 3
has 'no answer'
# Text that is not UTF-8 (an imported file may hold anything) still prints.
sqlite3 "$db" "UPDATE sessions SET label = CAST(x'ff41' AS TEXT) WHERE id = 3" || exit 99
expect 0 "$ctl" show --json --database "$db" 3
has '"label": "?A"'
expect 0 "$ctl" sessions --json --database "$db"
has '"label": "?A"'
expect 1 "$ctl" show --database "$db" 9
grep -q 'no session 9' "$tmp/err" || fail "show 9: $(cat "$tmp/err")"
expect 2 "$ctl" show --database "$db" abc
expect 2 "$ctl" show --database "$db"

# export, then import twice into a second database.
expect 0 "$ctl" export --database "$db" -o "$tmp/run.pointd" 1
[ "$(sqlite3 "$tmp/run.pointd" 'SELECT count(*) FROM requests')" = 3 ] ||
    fail "export wrote the wrong requests"
[ "$(sqlite3 "$tmp/run.pointd" 'SELECT count(*) FROM frames')" = 2 ] ||
    fail "export wrote the wrong frames"
expect 1 "$ctl" export --database "$db" -o "$tmp/run.pointd" 2
expect 2 "$ctl" export --database "$db" 1
db2="$tmp/b.db"
expect 0 "$ctl" import --database "$db2" "$tmp/run.pointd"
has '^imported session 1$'
expect 0 "$ctl" import --database "$db2" "$tmp/run.pointd"
has '^imported session 2$'
"$ctl" show --database "$db" 1 >"$tmp/show_a" || fail "show a"
"$ctl" show --database "$db2" 2 | sed 's/^session 2 /session 1 /; s/^request \([0-9]*\)/request R/' >"$tmp/show_b"
sed 's/^request \([0-9]*\)/request R/' "$tmp/show_a" >"$tmp/show_a2"
cmp -s "$tmp/show_a2" "$tmp/show_b" ||
    fail "imported session differs: $(diff "$tmp/show_a2" "$tmp/show_b")"
[ "$(sqlite3 "$db2" 'SELECT count(*) FROM frames')" = 2 ] ||
    fail "import stored frames twice"
[ "$(sqlite3 "$db2" 'PRAGMA integrity_check')" = ok ] || fail "integrity"

# import refuses a file that is not an export, with one line on stderr.
printf 'not a database at all, not even a little bit\n' >"$tmp/junk"
expect 1 "$ctl" import --database "$db2" "$tmp/junk"
[ "$(wc -l <"$tmp/err")" -eq 1 ] || fail "import junk: $(cat "$tmp/err")"
sqlite3 "$tmp/run.pointd" "UPDATE frames SET bytes = x'00'" || exit 99
expect 1 "$ctl" import --database "$db2" "$tmp/run.pointd"
grep -q 'hash' "$tmp/err" || fail "import of a bad frame: $(cat "$tmp/err")"
[ "$(sqlite3 "$db2" 'SELECT count(*) FROM sessions')" = 2 ] ||
    fail "a refused import left sessions behind"

[ $fails -eq 0 ] || exit 1
echo "test_ctl_store: ok"
