#!/bin/sh
# SPDX-License-Identifier: ISC
# check-format.sh: the C sources follow .clang-format (clang-format 14).
root=${top_srcdir:-.}
cd "$root" || exit 99
cf=${CLANG_FORMAT:-clang-format-14}
if ! command -v "$cf" >/dev/null 2>&1; then
	echo "check-format: $cf not found (apt-get install clang-format-14)"
	exit 1
fi
files=$(find util image text model protocol store agent daemon ctl tests bench \
    -name '*.[ch]' 2>/dev/null | grep -v '_table\.h$' | sort)
if ! $cf --dry-run -Werror $files 2>"${TMPDIR:-/tmp}/cf.$$"; then
	grep "error:" "${TMPDIR:-/tmp}/cf.$$" | head -40
	rm -f "${TMPDIR:-/tmp}/cf.$$"
	echo "check-format: FAILED; run: $cf -i FILE"
	exit 1
fi
rm -f "${TMPDIR:-/tmp}/cf.$$"
echo "check-format: $(echo "$files" | wc -l) files ok"
