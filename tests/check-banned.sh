#!/bin/sh
# SPDX-License-Identifier: ISC
# check-banned.sh: rejects calls to functions banned by the style guide
# (unbounded copies, non-reentrant or unchecked parsing, shell-outs, rand).
root=${1:-${top_srcdir:-.}}
cd "$root" || exit 99
re='(^|[^A-Za-z0-9_.>])(strcpy|strcat|sprintf|vsprintf|gets|strtok|strncpy|atoi|atol|atof|alloca|system|popen|rand)[[:space:]]*\('
hits=$(find util image text model protocol store agent daemon ctl tests bench \
    -name '*.[ch]' 2>/dev/null | sort | xargs -r grep -nE "$re" |
    grep -v 'check-banned: allow')
if [ -n "$hits" ]; then
	printf '%s\n' "$hits"
	echo "check-banned: FAILED (use snprintf, str_copy, str_to_ll, a seeded PRNG)"
	exit 1
fi
echo "check-banned: ok"
