/*
 * commands.h - the subcommands of `spamshift` and their shared exit codes.
 *
 * Exit codes (documented in spamshift(1); scripts rely on them):
 *   0   success: every input was processed
 *   1   some inputs could not be read or parsed; the others were processed
 *   64  usage error (EX_USAGE)
 *   65  bad input data, e.g. no ham or no spam to train on (EX_DATAERR)
 *   66  a model or input named on the command line does not exist (EX_NOINPUT)
 *   70  internal error, e.g. out of memory (EX_SOFTWARE)
 *   73  the output or the store could not be created (EX_CANTCREAT)
 *   74  the per-user store could not be written (EX_IOERR)
 *   75  the per-user store stayed locked past the busy timeout (EX_TEMPFAIL)
 *   77  the model file may not be read: permission denied (EX_NOPERM)
 *   78  bad configuration or a refused model file (EX_CONFIG)
 * `classify --status` on one message answers like bogofilter instead:
 *   0 spam, 1 ham, 3 error.
 */
#ifndef SPAMSHIFT_COMMANDS_H
#define SPAMSHIFT_COMMANDS_H

#include <sysexits.h>

#define EXIT_PARTIAL 1

struct cli_command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
};

int cmd_train(int argc, char **argv);
int cmd_classify(int argc, char **argv);
int cmd_learn(int argc, char **argv);
int cmd_adapt(int argc, char **argv);
int cmd_explain(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_stats(int argc, char **argv);
int cmd_user(int argc, char **argv);
int cmd_store(int argc, char **argv);
int cmd_store_copy(int argc, char **argv);     /* `store copy`, from cmd_store */
int cmd_trec(int argc, char **argv);

#endif
