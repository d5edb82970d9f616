#!/bin/sh
# SPDX-License-Identifier: ISC
# test_pointd_proto.sh: start pointd (test backend) on a free loopback port
# with small limits and run the protocol tests against it; always stop it.
. "${top_srcdir:-.}/tests/integ/pointd_env.sh"

pointd_start "$top_builddir/tests/tools/pointd_testbe" <<CONF
model $TMP
backend test
token test-token-0123456789
max_message_bytes 2M
max_image_bytes 1M
max_pixels 4000000
max_inflight 3
queue_depth 64
request_timeout_ms 4000
CONF
"$top_builddir/tests/integ/test_pointd_proto" || fail "protocol tests"
healthz "$POINTD_PORT" || fail "pointd stopped answering /healthz"
pointd_stop
