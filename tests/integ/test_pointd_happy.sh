#!/bin/sh
# SPDX-License-Identifier: ISC
# test_pointd_happy.sh: the real pointd with the Molmo engine on the tiny
# qwen2 checkpoint; answers must equal the engine run in-process.
. "${top_srcdir:-.}/tests/integ/pointd_env.sh"

model="${POINTD_SHARED:-$top_srcdir/../shared}/golden/qwen2-tiny/model"
if [ ! -d "$model" ]; then
	echo "SKIP: $model is missing" >&2
	[ "${POINTD_REQUIRE_SHARED:-0}" = 1 ] && exit 99
	exit 77
fi
pointd_start "$top_builddir/pointd" <<CONF
model $model
threads 2
max_new_tokens 24
CONF
grep -q "model: .* ready" "$TMP/log" || fail "no model ready line"
"$top_builddir/tests/integ/test_pointd_happy" || fail "happy path"
pointd_stop
