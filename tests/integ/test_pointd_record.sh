#!/bin/sh
# SPDX-License-Identifier: ISC
# test_pointd_record.sh: pointd's session log (pointd_testbe with a
# database).  A recorded session reads back identically and the same
# screenshot is stored once; 20 clients under load while pointd is killed
# with SIGKILL at random moments, several times: every answer a client got
# is in the database, integrity_check is ok and pointd restarts on the same
# file; a full database (database_max_pages) while serving: answers keep
# flowing, the error shows in /metrics and the log, nothing is corrupted.
. "${top_srcdir:-.}/tests/integ/pointd_env.sh"

T="$top_builddir/tests/integ/test_pointd_record"
BE="$top_builddir/tests/tools/pointd_testbe"
DB="$TMP/rec.db"

# 1. Read back.
pointd_start "$BE" <<CONF
model $TMP
backend test
database $DB
synchronous normal
CONF
"$T" basic "$DB" || fail "the recorded session does not read back"
pointd_stop
if command -v sqlite3 >/dev/null 2>&1; then
	n=$(sqlite3 "$DB" "SELECT count(*) FROM frames") || fail "sqlite3"
	[ "$n" = 1 ] || fail "the same screenshot is stored $n times"
	n=$(sqlite3 "$DB" "SELECT count(*) FROM sessions WHERE ended IS NULL")
	[ "$n" = 0 ] || fail "$n sessions left open after a clean stop"
fi

# 1b. pointctl finds the database through -f pointd.conf.
"$top_builddir/pointctl" sessions -f "$TMP/pointd.conf" | grep -q rec-basic ||
	fail "pointctl sessions -f does not read the database directive"

# 1c. Retention: restarted with database_max_age 1, the ended session goes
# at the first pass (the writer prunes at start-up, then every minute).
cp "$DB" "$TMP/age.db"
sleep 1.2
pointd_start "$BE" <<CONF
model $TMP
backend test
database $TMP/age.db
database_max_age 1
CONF
i=0
while "$top_builddir/pointctl" sessions --database "$TMP/age.db" |
	grep -q rec-basic; do
	i=$((i + 1))
	[ $i -lt 50 ] || fail "database_max_age did not prune the old session"
	sleep 0.1
done
pointd_stop

: kill -9 under load, four times, on the same file.
: > "$TMP/answers"
for round in 1 2 3 4; do
	pointd_start "$BE" <<CONF
model $TMP
backend test
database $DB
synchronous normal
max_sessions 64
max_inflight 4
queue_depth 256
CONF
	"$T" load 20 8000 "$TMP/answers" 2>"$TMP/load.log" &
	LOADPID=$!
	ms=$(( 400 + $(od -An -N2 -tu2 /dev/urandom | tr -d ' ') % 1600 ))
	sleep "$(printf '%d.%03d' $((ms / 1000)) $((ms % 1000)))"
	kill -KILL "$PID"
	wait "$PID" 2>/dev/null
	PID=
	wait "$LOADPID" || fail "load client failed (round $round)"
	cat "$TMP/load.log" >&2
	"$T" verify "$DB" "$TMP/answers" ||
		fail "an answer a client received is not in the database (round $round)"
done
n=$(wc -l < "$TMP/answers")
[ "$n" -gt 100 ] || fail "only $n answers under load"
echo "crash safety: $n answers over 4 kills, all recorded" >&2

# 3. A full disk while serving.
DB2="$TMP/full.db"
pointd_start "$BE" <<CONF
model $TMP
backend test
database $DB2
database_max_pages 24
max_sessions 64
queue_depth 256
CONF
: > "$TMP/answers2"
"$T" load 5 2500 "$TMP/answers2" 2>"$TMP/load.log" || fail "load client"
n=$(wc -l < "$TMP/answers2")
[ "$n" -gt 500 ] || fail "answers stopped flowing on a full disk ($n)"
errs=$("$T" metric pointd_store_errors_total) || fail "no store metric"
unrec=$("$T" metric pointd_store_unrecorded_total) || fail "no store metric"
[ "$errs" -gt 0 ] || fail "the full disk is not reported in /metrics"
[ "$unrec" -gt 0 ] || fail "no answer was counted as unrecorded"
# Logged once per change of state: failing, then (if a small batch still
# fits) working again, and so on.
nbad=$(grep -c "database: cannot write" "$TMP/log")
ngood=$(grep -c "database: writing again" "$TMP/log")
[ "$nbad" -ge 1 ] || fail "the full disk is not logged"
[ "$nbad" -eq "$ngood" ] || [ "$nbad" -eq $((ngood + 1)) ] ||
	fail "the full disk is logged $nbad times for $ngood recoveries"
[ "$nbad" -lt "$errs" ] || fail "every failed write is logged"
healthz "$POINTD_PORT" || fail "pointd stopped answering /healthz"
pointd_stop
: > "$TMP/empty"
"$T" verify "$DB2" "$TMP/empty" || fail "the full database is corrupted"
echo "full disk: $n answers, $errs failed writes, $unrec unrecorded" >&2
