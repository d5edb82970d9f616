# SPDX-License-Identifier: ISC
#
# pointd_env.sh: sourced by the pointd integration tests.  pointd_start
# writes a temporary config (the lines given on stdin plus listen on a free
# loopback port), starts the given pointd binary in the foreground, waits
# until GET /healthz answers, and exports POINTD_PORT.  An EXIT trap always
# kills it and removes the temporary directory.

: "${top_builddir:=.}"
: "${top_srcdir:=.}"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/pointd-test.XXXXXX")
PID=
cleanup() {
	if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then
		kill -KILL "$PID" 2>/dev/null
		wait "$PID" 2>/dev/null
	fi
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 99' INT TERM HUP

fail() {
	echo "FAIL: $*" >&2
	if [ -f "$TMP/log" ]; then
		echo "--- pointd log ---" >&2
		tail -n 40 "$TMP/log" >&2
	fi
	exit 1
}

# A port in 20000..59999 from /dev/urandom.
random_port() {
	echo $(( 20000 + $(od -An -N2 -tu2 /dev/urandom | tr -d ' ') % 40000 ))
}

# healthz PORT: 0 when GET /healthz answers 200 or 503.
healthz() {
	"$top_builddir/tests/integ/pointd_probe" health "$1" >/dev/null 2>&1
}

# pointd_start BINARY < config-lines
pointd_start() {
	bin=$1
	[ -x "$bin" ] || fail "$bin is not built"
	[ -x "$top_builddir/tests/integ/pointd_probe" ] ||
		fail "tests/integ/pointd_probe is not built"
	cat > "$TMP/extra.conf"
	for try in 1 2 3 4 5; do
		POINTD_PORT=$(random_port)
		{
			echo "listen 127.0.0.1:$POINTD_PORT"
			if [ "$(id -u)" = 0 ]; then echo "user nobody"; fi
			cat "$TMP/extra.conf"
		} > "$TMP/pointd.conf"
		# SIGHUP rereads it after pointd dropped root for nobody.
		chmod 755 "$TMP"
		chmod 644 "$TMP/pointd.conf"
		"$bin" -d -v -f "$TMP/pointd.conf" 2>"$TMP/log" &
		PID=$!
		i=0
		while [ $i -lt 600 ]; do
			if ! kill -0 "$PID" 2>/dev/null; then
				break
			fi
			if healthz "$POINTD_PORT"; then
				export POINTD_PORT
				return 0
			fi
			sleep 0.1
			i=$((i + 1))
		done
		if kill -0 "$PID" 2>/dev/null; then
			kill -KILL "$PID"
		fi
		wait "$PID" 2>/dev/null
		PID=
		# Try another port only when this one was taken.
		if ! grep -q "cannot create the listening socket" "$TMP/log"; then
			break
		fi
	done
	fail "pointd did not start"
}

# pointd_stop: SIGTERM, then wait (at most 20 s) and check the exit status.
pointd_stop() {
	kill -TERM "$PID"
	i=0
	while kill -0 "$PID" 2>/dev/null && [ $i -lt 200 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	if kill -0 "$PID" 2>/dev/null; then
		fail "pointd did not stop within 20 s of SIGTERM"
	fi
	wait "$PID"
	rc=$?
	PID=
	[ $rc -eq 0 ] || fail "pointd exited with status $rc"
	if grep -q "ERROR: AddressSanitizer\|ERROR: LeakSanitizer\|runtime error:\|WARNING: ThreadSanitizer" "$TMP/log"; then
		fail "sanitizer report in the pointd log"
	fi
}
