#!/bin/sh
# SPDX-License-Identifier: ISC
# test_pointd_cli.sh: pointd -n on good and bad configurations, SIGHUP
# reloading tokens, and SIGTERM draining an in-flight request.
. "${top_srcdir:-.}/tests/integ/pointd_env.sh"

pointd="$top_builddir/pointd"
testbe="$top_builddir/tests/tools/pointd_testbe"
probe="$top_builddir/tests/integ/pointd_probe"

# check_conf WANT_STATUS WANT_TEXT < config
check_conf() {
	cat > "$TMP/c.conf"
	out=$("$pointd" -n -f "$TMP/c.conf" 2>&1)
	st=$?
	[ "$st" = "$1" ] || fail "pointd -n exited $st, not $1: $out"
	case "$out" in
	*"$2"*) ;;
	*) fail "pointd -n said \"$out\", not \"$2\"" ;;
	esac
}

# The sample configuration is valid as shipped.
out=$("$pointd" -n -f "$top_srcdir/etc/pointd.conf" 2>&1) ||
	fail "etc/pointd.conf: $out"
[ "$out" = "configuration OK" ] || fail "etc/pointd.conf: $out"

check_conf 0 "configuration OK" </dev/null
check_conf 1 "c.conf:2: unknown directive \"frobnicate\"" <<CONF
threads 2
frobnicate yes
CONF
check_conf 1 "c.conf:1: threads: \"-3\" is too small" <<CONF
threads -3
CONF
check_conf 1 "c.conf:1: max_image_bytes" <<CONF
max_image_bytes 12Q
CONF
check_conf 1 "not loopback, so at least one token is required" <<CONF
listen 0.0.0.0:7755
CONF
check_conf 1 "c.conf:2: listen given twice" <<CONF
listen 127.0.0.1:1
listen 127.0.0.1:2
CONF
check_conf 1 "backend \"nope\" is not built into pointd" <<CONF
backend nope
CONF
check_conf 1 "tls_cert and tls_key must be given together" <<CONF
tls_cert /etc/ssl/x.pem
CONF
out=$("$pointd" -n -f "$TMP/missing.conf" 2>&1) && fail "missing file accepted"
case "$out" in *missing.conf*) ;; *) fail "missing file: $out" ;; esac
# -n -v prints the effective configuration, tokens hidden.
printf 'token abcdefghijklmnop-secret\nthreads 3\n' > "$TMP/v.conf"
out=$("$pointd" -n -v -f "$TMP/v.conf") || fail "-n -v: $out"
case "$out" in *"threads 3"*"token (hidden)"*|*"token (hidden)"*"threads 3"*) ;;
*) fail "-n -v output: $out" ;; esac
case "$out" in *secret*) fail "-n -v printed a token" ;; esac
"$pointd" -x >/dev/null 2>&1
[ $? = 2 ] || fail "a bad flag must exit 2"

# SIGHUP: a new token works without a restart.  Idle sessions close.
pointd_start "$testbe" <<CONF
model $TMP
backend test
token first-token-0123456789
idle_timeout_s 1
CONF
"$probe" idle "$POINTD_PORT" 4 >/dev/null || fail "idle session not closed"
healthz "$POINTD_PORT" || fail "no /healthz after the idle session"
"$probe" hello "$POINTD_PORT" first-token-0123456789 >/dev/null ||
	fail "first token refused"
"$probe" hello "$POINTD_PORT" second-token-0123456789 >/dev/null &&
	fail "second token accepted before reload"
sed "s/first-token/second-token/" "$TMP/pointd.conf" > "$TMP/new.conf"
mv "$TMP/new.conf" "$TMP/pointd.conf"
chmod 644 "$TMP/pointd.conf"
kill -HUP "$PID"
sleep 0.5
"$probe" hello "$POINTD_PORT" second-token-0123456789 >/dev/null ||
	fail "second token refused after SIGHUP"
"$probe" hello "$POINTD_PORT" first-token-0123456789 >/dev/null &&
	fail "first token still accepted after SIGHUP"
grep -q "reload: .*directives changed" "$TMP/log" || fail "no reload line"
grep -q "second-token" "$TMP/log" && fail "a token reached the log"
pointd_stop

grep -q "session .*: idle; closing" "$TMP/log" || fail "no idle line"
# SIGTERM drains: the request in flight is answered, then pointd exits 0.
pointd_start "$testbe" <<CONF
model $TMP
backend test
CONF
png="${POINTD_SHARED:-$top_srcdir/../shared}/golden/images/small_200x150.png"
[ -f "$png" ] || { echo "SKIP: $png missing" >&2; exit 77; }
"$probe" slow "$POINTD_PORT" "$png" 800 > "$TMP/slow.out" &
slow=$!
sleep 0.4
pointd_stop
wait $slow || fail "the request in flight was not answered: $(cat "$TMP/slow.out")"
grep -q "draining" "$TMP/log" || fail "no draining line"
exit 0
