#!/bin/sh
# SPDX-License-Identifier: ISC
#
# check-layering.sh [ROOT]: rejects #include edges that the layering table
# (ARCHITECTURE.md, "Layering") does not allow: which of our modules each
# module may include, and which external libraries' headers it may use.
# tests/ and bench/ may include anything.  Exits 1 naming every bad line.

root=${1:-${top_srcdir:-.}}
cd "$root" || exit 99

# Our modules a module may include (itself is always allowed).
mods() {
	case $1 in
	util) echo "" ;;
	image) echo "util" ;;
	text) echo "util" ;;
	model) echo "util" ;;
	protocol) echo "util" ;;
	store) echo "util" ;;
	agent) echo "protocol image util agent" ;;
	daemon) echo "util image text model protocol store" ;;
	ctl) echo "util image text model protocol store" ;;
	esac
}

# External library headers a file may include.
libs() {
	case $1 in
	util/*) echo "" ;;
	image/*) echo "png.h turbojpeg.h" ;;
	text/*) echo "tesseract/capi.h leptonica/allheaders.h" ;;
	model/*) echo "jansson.h pcre2.h" ;;
	protocol/*) echo "jansson.h" ;;
	store/*) echo "sqlite3.h" ;;
	agent/main.c) echo "jansson.h libwebsockets.h curl/curl.h" ;;
	agent/*) echo "jansson.h" ;;
	daemon/*) echo "jansson.h libwebsockets.h sqlite3.h" ;;
	ctl/*) echo "jansson.h libwebsockets.h curl/curl.h sqlite3.h" ;;
	esac
}
known="png.h turbojpeg.h jansson.h pcre2.h sqlite3.h libwebsockets.h curl/curl.h check.h cmocka.h tesseract/capi.h leptonica/allheaders.h"

out=$(mktemp) || exit 99
for mod in util image text model protocol store agent daemon ctl; do
	[ -d "$mod" ] || continue
	find "$mod" -name '*.[ch]' | sort | while IFS= read -r f; do
		okm=$(mods "$mod")
		okl=$(libs "$f")
		grep -n '^[[:space:]]*#[[:space:]]*include' "$f" |
		while IFS= read -r line; do
			n=${line%%:*}
			inc=$(printf '%s\n' "$line" |
			    sed 's/.*include[[:space:]]*["<]\([^">]*\)[">].*/\1/')
			case $line in
			*'<'*)
				for k in $known; do
					[ "$k" = "$inc" ] || continue
					pass=no
					for a in $okl; do
						[ "$a" = "$inc" ] && pass=yes
					done
					[ $pass = yes ] ||
					    echo "$f:$n: $f may not use <$inc> (allowed: ${okl:-none})"
				done
				continue ;;
			esac
			[ "$inc" = config.h ] && continue
			case $inc in
			*/*) dep=${inc%%/*} ;;
			*) echo "$f:$n: write \"$inc\" from the top of the tree"
			   continue ;;
			esac
			[ "$dep" = "$mod" ] && continue
			pass=no
			for a in $okm; do
				[ "$a" = "$dep" ] && pass=yes
			done
			[ $pass = yes ] ||
			    echo "$f:$n: $mod/ may not include \"$inc\" (allowed: ${okm:-nothing of ours})"
		done
	done
done >"$out"
if [ -s "$out" ]; then
	cat "$out"
	rm -f "$out"
	echo "check-layering: FAILED"
	exit 1
fi
rm -f "$out"
echo "check-layering: ok"
