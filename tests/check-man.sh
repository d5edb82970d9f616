#!/bin/sh
# SPDX-License-Identifier: ISC
# check-man.sh: the manual pages pass mandoc's linter (warnings are errors).
root=${top_srcdir:-.}
cd "$root" || exit 99
if ! command -v mandoc >/dev/null 2>&1; then
	echo "check-man: mandoc not found (apt-get install mandoc)"
	exit 1
fi
out=$(mandoc -Tlint -Wwarning man/*.[1-8] 2>&1)
if [ -n "$out" ]; then
	printf '%s\n' "$out"
	echo "check-man: FAILED"
	exit 1
fi
echo "check-man: $(ls man/*.[1-8] | wc -l) pages ok"
