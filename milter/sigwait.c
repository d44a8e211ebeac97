/*
 * sigwait.c - keep SIGHUP away from libmilter's signal thread.
 *
 * smfi_main() starts a thread that sigwait()s for SIGHUP, SIGTERM and SIGINT
 * and stops the milter on any of them, so a plain SIGHUP handler of ours would
 * race with it and, when it lost, stop the daemon instead of reloading it
 * (OpenDKIM reloads on SIGUSR1 for this reason).  spamshift-milter promises
 * SIGHUP = reload, like every other mail daemon, so the executable defines
 * sigwait() itself: ELF symbol interposition makes libmilter's call land here
 * (shared or static libmilter alike), and this version waits for the same
 * set minus SIGHUP.  Our own reload thread uses sigwaitinfo(), which is not
 * interposed.  Nothing else in the program calls sigwait().
 */
#include "config.h"

#include <errno.h>
#include <signal.h>

int
sigwait(const sigset_t *restrict set, int *restrict sig)
{
    sigset_t without_hup = *set;

    sigdelset(&without_hup, SIGHUP);
    for (;;) {
        int s = sigwaitinfo(&without_hup, NULL);

        if (s > 0) {
            *sig = s;
            return 0;
        }
        if (errno != EINTR)
            return errno;
    }
}
