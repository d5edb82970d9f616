#!/bin/sh
# SPDX-License-Identifier: ISC
# bench_ws.sh [pointd-binary [model-dir]]: start pointd on a free loopback
# port and run bench_ws against it.  With the test-backend daemon
# (tests/tools/pointd_testbe, the default) the engine takes no time, so
# the figures are pointd's own overhead; with ./pointd and a model
# directory they include the real engine.  BENCH_ARGS passes options to
# bench_ws (default: -n 50 -r 20).
top_builddir=${top_builddir:-.}
top_srcdir=${top_srcdir:-$(dirname "$0")/..}
. "$top_srcdir/tests/integ/pointd_env.sh"
bin=${1:-$top_builddir/tests/tools/pointd_testbe}
img="${POINTD_SHARED:-$top_srcdir/../shared}/golden/images/small_200x150.png"
if [ -n "$2" ]; then
	pointd_start "$bin" <<CONF
model $2
max_new_tokens 16
queue_depth 1000
max_sessions 1000
CONF
else
	pointd_start "$bin" <<CONF
model $TMP
backend test
queue_depth 1000
max_sessions 1000
CONF
fi
"$top_builddir/bench/bench_ws" -p "$POINTD_PORT" -i "$img" ${BENCH_ARGS:--n 50 -r 20}
rc=$?
pointd_stop
exit $rc
