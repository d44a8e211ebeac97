/*
 * main.c - `spamshift COMMAND [OPTIONS]`: dispatches to one subcommand.
 *
 * Each command lives in cli/cmd_*.c, parses its own options (GOptionContext) and
 * returns an exit code from commands.h.  Commands are thin: the work is in
 * model/ and adapt/.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "features.h"
#include "log.h"

static const struct cli_command commands[] = {
    { "train",    cmd_train,    "train a base model from ham and spam" },
    { "classify", cmd_classify, "score messages and print verdicts" },
    { "learn",    cmd_learn,    "teach a user's filter: --spam, --ham or --forget" },
    { "adapt",    cmd_adapt,    "refit users' models now (--user U or --all)" },
    { "explain",  cmd_explain,  "why a message scores as it does: the tokens that count" },
    { "eval",     cmd_eval,     "measure accuracy and speed, offline or online" },
    { "stats",    cmd_stats,    "admin statistics from the store (tables, JSON, prometheus)" },
    { "user",     cmd_user,     "a user's settings in the store: --spam-threshold P" },
    { "store",    cmd_store,    "back up, restore and check the per-user store" },
    { "trec",     cmd_trec,     "the TREC spam filter toolkit's commands (contrib/trec)" },
};

static void
usage(FILE *fp)
{
    fprintf(fp, "usage: spamshift COMMAND [OPTIONS]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        fprintf(fp, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(fp, "\n`spamshift COMMAND --help` describes a command; see spamshift(1).\n");
}

int
main(int argc, char **argv)
{
    log_open("spamshift", LOG_TARGET_STDERR, 0);
    if (argc < 2) {
        usage(stderr);
        return EX_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0
            || strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("spamshift %s (features version %d)\n", PACKAGE_VERSION, FEATURES_VERSION);
        return 0;
    }
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        if (strcmp(argv[1], commands[i].name) == 0) {
            if (features_global_init() != 0) {
                log_err("cannot initialise the MIME and HTML parsers");
                return EX_SOFTWARE;
            }
            return commands[i].run(argc - 1, argv + 1);
        }
    }
    log_err("unknown command \"%s\"", argv[1]);
    usage(stderr);
    return EX_USAGE;
}
