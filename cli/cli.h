/*
 * cli.h - the start-up every `spamshift` command shares: parsing its options
 * (GOptionContext) with one usage-error message, other usage errors, opening the
 * base model with an exit code that says why it failed, and the default number
 * of threads.  Part of cli/libcli.a, which the commands and the tests link;
 * nothing here calls back into main.c or a command.
 *
 * Every function that fails logs "CMD: reason" on stderr (common/log.h) and
 * returns the sysexits code the command exits with (commands.h), so a command
 * reads `if ((rc = cli_...(...)) != 0) goto done;`.
 */
#ifndef SPAMSHIFT_CLI_H
#define SPAMSHIFT_CLI_H

#include <glib.h>

struct model;

/* Parse *argc and *argv (argv[0] the command's name) with entries; params is the
 * parameter string of g_option_context_new() (what --help shows after the
 * command).  Options are removed from argv; the rest stay, argv[0] first.
 * --help prints the help and exits 0 (GLib's own behaviour).  On a bad option
 * logs "cmd: GLib's message (see spamshift cmd --help)" and returns EX_USAGE;
 * else 0. */
int cli_parse(const char *cmd, const char *params, const GOptionEntry *entries,
              int *argc, char ***argv);

/* Log "cmd: " and the printf-style message, and return EX_USAGE. */
int cli_usage(const char *cmd, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

/* Log "cmd: out of memory" and return EX_SOFTWARE. */
int cli_oom(const char *cmd);

/* Load the model at path into *m.  On failure logs "cmd: reason" (the reason
 * names the path and, when the file could not be opened, strerror) and returns
 * EX_NOINPUT (66) when the file does not exist, EX_NOPERM (77) when it may not be
 * read (EACCES, EPERM), EX_CONFIG (78) for a file that is there and readable but
 * refused (bad magic, version, checksum, size); *m is then NULL.  Returns 0 and
 * a model the caller frees (model_free) otherwise. */
int cli_model_open(const char *cmd, const char *path, struct model **m);

/* The exit code for a model at path that could not be loaded: what
 * cli_model_open() returns, for callers that load it some other way. */
int cli_model_exit(const char *path);

/* jobs when positive, else the online cores (1..64): the default number of
 * reader threads of the commands that read a corpus. */
unsigned cli_jobs(int jobs);

#endif
