#!/bin/sh
# SPDX-License-Identifier: ISC
# test_ctl_replay.sh: record a session through pointd on the tiny qwen2
# checkpoint, then `pointctl replay` it: on the same checkpoint it reports
# no change and exits 0; on the tiny OLMo checkpoint it reports the changes
# and exits 1; the same through a running pointd (--url).
. "${top_srcdir:-.}/tests/integ/pointd_env.sh"

CTL="$top_builddir/pointctl"

# A. pointd_testbe (one point at the frame's centre): replay --url of its
# own session changes nothing; with the recorded point moved 10 px in the
# database, replay reports a 10 px move and exits 1 unless --tolerance
# allows it; report --replay shows both.
if command -v sqlite3 >/dev/null 2>&1; then
	DBT="$TMP/testbe.db"
	pointd_start "$top_builddir/tests/tools/pointd_testbe" <<CONF
model $TMP
backend test
database $DBT
CONF
	"$top_builddir/tests/integ/test_pointd_record" basic "$DBT" ||
		fail "recording through pointd_testbe"
	U="ws://127.0.0.1:$POINTD_PORT"
	"$CTL" replay --database "$DBT" --url "$U" 1 > "$TMP/a.txt" ||
		fail "replay --url of an unchanged session exited non-zero"
	grep -q "3 requests, 0 changed" "$TMP/a.txt" || fail "no summary (A)"
	# pointd is still running and may hold the write lock for a moment
	# (it records the replay session): wait for it as pointd itself would
	sqlite3 -cmd ".timeout 10000" "$DBT" "UPDATE answers SET points = '[{\"x\":110.0,\"y\":75.0}]' WHERE request = 1" ||
		fail "sqlite3 update"
	rc=0
	"$CTL" replay --database "$DBT" --url "$U" --json 1 > "$TMP/a.json" ||
		rc=$?
	[ "$rc" = 1 ] || fail "a 10 px move exited $rc, not 1"
	grep -q '"max_moved": 10.0' "$TMP/a.json" || fail "the move is not 10 px"
	"$CTL" replay --database "$DBT" --url "$U" --tolerance 10.5 1 >&2 ||
		fail "a 10 px move within --tolerance 10.5 exited non-zero"
	pointd_stop
	"$CTL" report --database "$DBT" --replay "$TMP/a.json" -o "$TMP/rep" 1 \
		>/dev/null || fail "report --replay"
	grep -q 'class="new"' "$TMP/rep/index.html" ||
		fail "the report does not draw the replayed points"
	grep -q '<th>replay</th>' "$TMP/rep/index.html" ||
		fail "the report does not put old and new side by side"
fi

# B. The tiny checkpoints.
SHARED=${POINTD_SHARED:-$top_srcdir/../shared}
QWEN="$SHARED/golden/qwen2-tiny/model"
OLMO="$SHARED/golden/olmo-tiny/model"
if [ ! -d "$QWEN" ] || [ ! -d "$OLMO" ]; then
	echo "SKIP: tiny checkpoints not found under $SHARED" >&2
	exit 77
fi
DB="$TMP/rec.db"

pointd_start "$top_builddir/pointd" <<CONF
model $QWEN
database $DB
threads 1
max_new_tokens 16
CONF
"$top_builddir/tests/integ/test_pointd_record" basic "$DB" ||
	fail "recording through pointd"
pointd_stop

"$CTL" replay --database "$DB" --model "$QWEN" --max-new-tokens 16 \
	--threads 1 1 > "$TMP/same.txt" || {
	cat "$TMP/same.txt" >&2
	fail "replay on the same checkpoint reported changes"
}
cat "$TMP/same.txt" >&2
grep -q "3 requests, 0 changed" "$TMP/same.txt" || fail "no summary line"

rc=0
"$CTL" replay --database "$DB" --model "$OLMO" --max-new-tokens 16 \
	--threads 1 --json 1 > "$TMP/other.json" || rc=$?
[ "$rc" = 1 ] || fail "replay on another checkpoint exited $rc, not 1"
grep -q '"changed": 3' "$TMP/other.json" ||
	grep -q '"changed": [12]' "$TMP/other.json" ||
	fail "replay on another checkpoint reported no change"
"$CTL" replay --database "$DB" --model "$OLMO" --max-new-tokens 16 \
	--threads 1 1 >&2 && fail "plain replay on another checkpoint exited 0"
"$CTL" replay --database "$DB" --model "$OLMO" 999 2>/dev/null &&
	fail "replay of a missing session succeeded"

# The same against a running pointd (--url): same checkpoint, then OLMo.
pointd_start "$top_builddir/pointd" <<CONF
model $QWEN
threads 1
max_new_tokens 16
CONF
"$CTL" replay --database "$DB" --url "ws://127.0.0.1:$POINTD_PORT" 1 \
	> "$TMP/url.txt" || {
	cat "$TMP/url.txt" >&2
	fail "replay --url on the same checkpoint reported changes"
}
grep -q "3 requests, 0 changed" "$TMP/url.txt" || fail "no --url summary"
pointd_stop
pointd_start "$top_builddir/pointd" <<CONF
model $OLMO
threads 1
max_new_tokens 16
CONF
"$CTL" replay --database "$DB" --url "ws://127.0.0.1:$POINTD_PORT" 1 >&2 &&
	fail "replay --url on another checkpoint exited 0"
pointd_stop
exit 0
