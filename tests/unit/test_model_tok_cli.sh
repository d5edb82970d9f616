#!/bin/sh
# SPDX-License-Identifier: ISC
#
# test_model_tok_cli.sh: `pointctl tokenize` and `pointctl detokenize` on the
# golden files of ../shared/tokenizer/golden (every line's ids and text must
# match the Hugging Face reference), on a slow-tokenizer checkpoint
# directory, and their exit status on usage errors, a bad tokenizer path and
# a bad input line.  JSON escapes are compared case-insensitively (jansson
# writes \u001B where the golden files have \u001b).
build=${top_builddir:-.}
ctl=$build/pointctl
shared=${POINTD_SHARED:-}
if [ -z "$shared" ] || [ ! -d "$shared/tokenizer/golden" ]; then
	echo "test_model_tok_cli: shared data missing (POINTD_SHARED='$shared')"
	[ "${POINTD_REQUIRE_SHARED:-0}" = 1 ] && exit 99
	exit 77
fi
tmp=$(mktemp -d) || exit 99
trap 'rm -rf "$tmp"' EXIT
fail=0

# The part of each line from KEY on, with hex escapes in lower case.
field() {
	sed "s/.*\"$1\":/\"$1\":/" "$2" | tr 'ABCDEF' 'abcdef'
}

for tk in molmo-7b-d qwen2-7b dolma2 olmoe-1b-7b-0924; do
	tj=$shared/tokenizer/$tk/tokenizer.json
	g=$shared/tokenizer/golden
	if ! "$ctl" tokenize --tokenizer "$tj" <"$g/$tk.encode.jsonl" \
	    >"$tmp/enc"; then
		echo "test_model_tok_cli: tokenize $tk failed"
		fail=1
	fi
	field ids "$g/$tk.encode.jsonl" >"$tmp/want"
	field ids "$tmp/enc" >"$tmp/got"
	if ! cmp -s "$tmp/want" "$tmp/got"; then
		echo "test_model_tok_cli: tokenize $tk: ids differ"
		diff "$tmp/want" "$tmp/got" | head -5
		fail=1
	fi
	if ! "$ctl" detokenize --tokenizer "$tj" <"$g/$tk.decode.jsonl" \
	    >"$tmp/dec"; then
		echo "test_model_tok_cli: detokenize $tk failed"
		fail=1
	fi
	field text "$g/$tk.decode.jsonl" >"$tmp/want"
	field text "$tmp/dec" >"$tmp/got"
	if ! cmp -s "$tmp/want" "$tmp/got"; then
		echo "test_model_tok_cli: detokenize $tk: text differs"
		diff "$tmp/want" "$tmp/got" | head -5
		fail=1
	fi
	echo "test_model_tok_cli: $tk: $(wc -l <"$tmp/enc") encoded," \
	    "$(wc -l <"$tmp/dec") decoded"
done

# A checkpoint directory with the slow-tokenizer files.
out=$(echo '{"text": "Hello world"}' |
    "$ctl" tokenize --tokenizer "$shared/golden/qwen2-tiny/model")
if [ "$out" != '{"text":"Hello world","ids":[385,75,78,290,78,81,75,67]}' ]; then
	echo "test_model_tok_cli: qwen2-tiny: got $out"
	fail=1
fi

# Exit status: 2 for usage, 1 for a bad tokenizer or input line.
expect() {
	want=$1
	shift
	"$@" >/dev/null 2>"$tmp/err" </dev/null
	got=$?
	if [ "$got" != "$want" ]; then
		echo "test_model_tok_cli: '$*' exited $got, expected $want"
		fail=1
	fi
}
expect 2 "$ctl" tokenize
expect 2 "$ctl" detokenize --tokenizer a b
expect 1 "$ctl" tokenize --tokenizer /nonexistent/tokenizer.json
tj=$shared/tokenizer/olmoe-1b-7b-0924/tokenizer.json
if echo '{"ids": [1, "x"]}' | "$ctl" detokenize --tokenizer "$tj" \
    >/dev/null 2>"$tmp/err"; then
	echo "test_model_tok_cli: a bad id was accepted"
	fail=1
fi
grep -q 'stdin:1:' "$tmp/err" || {
	echo "test_model_tok_cli: no line number in: $(cat "$tmp/err")"
	fail=1
}
if printf '{"text": "a"}\nnot json\n' | "$ctl" tokenize --tokenizer "$tj" \
    >/dev/null 2>"$tmp/err"; then
	echo "test_model_tok_cli: a bad line was accepted"
	fail=1
fi
grep -q 'stdin:2:' "$tmp/err" || {
	echo "test_model_tok_cli: no line number in: $(cat "$tmp/err")"
	fail=1
}

[ $fail -eq 0 ] || exit 1
echo "test_model_tok_cli: ok"
