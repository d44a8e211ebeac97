/*
 * cli.c - the commands' shared start-up; see cli.h.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <sysexits.h>
#include <unistd.h>

#include "cli.h"
#include "log.h"
#include "model.h"

int
cli_parse(const char *cmd, const char *params, const GOptionEntry *entries,
          int *argc, char ***argv)
{
    GOptionContext *ctx = g_option_context_new(params);
    GError *gerr = NULL;
    int rc = 0;

    g_option_context_add_main_entries(ctx, entries, NULL);
    if (!g_option_context_parse(ctx, argc, argv, &gerr)) {
        log_err("%s: %s (see spamshift %s --help)", cmd, gerr->message, cmd);
        g_error_free(gerr);
        rc = EX_USAGE;
    }
    g_option_context_free(ctx);
    return rc;
}

int
cli_usage(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    char *msg;

    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    log_err("%s: %s", cmd, msg);
    g_free(msg);
    return EX_USAGE;
}

int
cli_oom(const char *cmd)
{
    log_err("%s: out of memory", cmd);
    return EX_SOFTWARE;
}

int
cli_model_exit(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    /* Asked again, not taken from model_load()'s errno: a refused file fails
     * after the open, with errno left at whatever the last call set. */
    if (fd >= 0) {
        close(fd);
        return EX_CONFIG;
    }
    if (errno == EACCES || errno == EPERM)
        return EX_NOPERM;
    return access(path, F_OK) != 0 ? EX_NOINPUT : EX_CONFIG;
}

int
cli_model_open(const char *cmd, const char *path, struct model **m)
{
    char err[512];

    *m = NULL;
    if (model_load(path, m, err, sizeof(err)) == 0)
        return 0;
    log_err("%s: %s", cmd, err);
    return cli_model_exit(path);
}

unsigned
cli_jobs(int jobs)
{
    long n;

    if (jobs > 0)
        return (unsigned)jobs;
    n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > 64 ? 64 : (unsigned)n;
}
