#!/bin/sh
# SPDX-License-Identifier: ISC
# check-headers.sh: every header compiles on its own (self-contained, with
# its include guard), using the compiler and flags the build passed in.
root=${top_srcdir:-.}
build=${top_builddir:-.}
cd "$root" || exit 99
root=$(pwd)
build=$(cd "$OLDPWD" && cd "$build" && pwd)
: "${CC:=cc}"
fail=0
n=0
for h in $(find util image text model protocol store agent daemon ctl tests/tools \
    -name '*.h' 2>/dev/null | sort); do
	n=$((n + 1))
	if ! printf '#include "config.h"\n#include "%s"\n#include "%s"\n' "$h" "$h" |
	    $CC -std=c11 -fsyntax-only -Wall -Werror -I"$root" -I"$build" \
	    $HEADER_CFLAGS -x c - 2>&1; then
		echo "check-headers: $h does not compile on its own (or lacks a guard)"
		fail=1
	fi
done
[ $fail -eq 0 ] || exit 1
echo "check-headers: $n headers ok"
