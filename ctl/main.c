/* SPDX-License-Identifier: ISC */
/*
 * main.c: pointctl's entry point.  One table lists every subcommand; it
 * drives dispatch, `pointctl help`, and tests/check-docs.sh (every row must
 * appear in man/pointctl.1).
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "ctl/ctl.h"

static int cmd_help(int argc, char **argv);
static int cmd_version(int argc, char **argv);

/* clang-format off */
static const struct ctl_cmd cmds[] = {
	{ "help", cmd_help, "", "list the subcommands" },
	{ "version", cmd_version, "", "print the version" },
	{ "tokenize", ctl_tokenize, "--tokenizer path", "encode JSON lines of text to token ids" },
	{ "detokenize", ctl_detokenize, "--tokenizer path", "decode JSON lines of token ids to text" },
	{ "locate", ctl_locate, "[--json] [--max-points n] [--lang lang] [--threads n] image target ...", "find targets named by their visible text (OCR)" },
	{ "sessions", ctl_sessions, "[--database path] [--since time] [--json]", "list the recorded sessions" },
	{ "show", ctl_show, "[--database path] [--json] session", "print a session's requests, answers and timings" },
	{ "export", ctl_export, "[--database path] -o file session", "write one session to a standalone file" },
	{ "import", ctl_import, "[--database path] file", "add the sessions of an exported file" },
	{ "replay", ctl_replay, "[--database path] [-f file] --model dir | --url url [--token token] [--tolerance px] [--threads n] [--max-new-tokens n] [--json] session", "re-run a recorded session and diff the answers" },
	{ "report", ctl_report, "[--database path] [-f file] [--replay file] -o dir session", "write a session as a self-contained HTML page" },
	{ "run", ctl_run, "--model dir [--image file] --prompt text [--max-new-tokens n] [--ignore-eos] [--threads n] [--ctx n] [--bf16] [--dump dir] [--json] [--max-crops n] [--tokenizer path] [--vocab-map file]", "run the Molmo engine on an image and a prompt" },
	{ "point", ctl_point, "[--backend molmo|text|auto] [--model dir] [--threads n] [--max-new-tokens n] [--json] [--max-crops n] [--tokenizer path] [--vocab-map file] image target", "point at a target in an image (Molmo engine or the text on screen)" },
	{ "preprocess", ctl_preprocess, "--model dir [--image file] --prompt text --dump dir [--threads n]", "write the model inputs of an image and prompt as arrays" },
};
/* clang-format on */

#define NCMDS (sizeof(cmds) / sizeof(cmds[0]))

int
ctl_usage(const char *name)
{
	size_t i;

	for (i = 0; i < NCMDS; i++) {
		if (strcmp(cmds[i].name, name) == 0) {
			fprintf(stderr, "usage: pointctl %s %s\n", cmds[i].name,
			        cmds[i].usage);
			return CTL_USAGE;
		}
	}
	fprintf(stderr, "usage: pointctl command [arguments]\n");
	return CTL_USAGE;
}

static int
cmd_help(int argc, char **argv)
{
	size_t i;

	(void)argc;
	(void)argv;
	printf("usage: pointctl command [arguments]\n\ncommands:\n");
	for (i = 0; i < NCMDS; i++)
		printf("  %-12s %s\n", cmds[i].name, cmds[i].help);
	printf("\nSee pointctl(1).\n");
	return CTL_OK;
}

static int
cmd_version(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	printf("pointctl %s\n", PACKAGE_VERSION);
	return CTL_OK;
}

int
main(int argc, char **argv)
{
	size_t i;

	if (argc < 2) {
		cmd_help(0, NULL);
		return CTL_USAGE;
	}
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)
		return cmd_help(0, NULL);
	if (strcmp(argv[1], "--version") == 0)
		return cmd_version(0, NULL);
	for (i = 0; i < NCMDS; i++) {
		if (strcmp(cmds[i].name, argv[1]) == 0)
			return cmds[i].fn(argc - 1, argv + 1);
	}
	fprintf(stderr, "pointctl: unknown command '%s' (try pointctl help)\n",
	        argv[1]);
	return CTL_USAGE;
}
