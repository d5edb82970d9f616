#!/bin/sh
# SPDX-License-Identifier: ISC
#
# Shows that check-layering.sh catches a deliberate violation: a copy of the
# tree in which model/ includes a daemon/ header (and uses libwebsockets) must
# fail, and the untouched copy must pass.
src=${top_srcdir:-.}
tmp=$(mktemp -d) || exit 99
trap 'rm -rf "$tmp"' EXIT
for d in util image text model protocol store agent daemon ctl; do
	[ -d "$src/$d" ] && cp -R "$src/$d" "$tmp/"
done
mkdir -p "$tmp/model" "$tmp/daemon"
sh "$src/tests/check-layering.sh" "$tmp" >/dev/null ||
    { echo "clean copy rejected"; exit 1; }
printf '#include "config.h"\n#include "daemon/config.h"\n' >"$tmp/model/bad.c"
if sh "$src/tests/check-layering.sh" "$tmp" >"$tmp/out"; then
	echo "violation model -> daemon not detected"
	exit 1
fi
grep -q 'model/bad.c:2: model/ may not include "daemon/config.h"' "$tmp/out" ||
    { cat "$tmp/out"; exit 1; }
printf '#include "config.h"\n#include <libwebsockets.h>\n' >"$tmp/model/bad.c"
if sh "$src/tests/check-layering.sh" "$tmp" >"$tmp/out"; then
	echo "violation model -> libwebsockets not detected"
	exit 1
fi
echo "layering violations detected as expected"
