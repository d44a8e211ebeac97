/*
 * cmd_trec.c - `spamshift trec`: the four commands of the TREC Spam Filter
 * Evaluation Toolkit, which contrib/trec/ wraps as the executables it calls.
 *
 *   spamshift trec initialize             fresh filter state in ./spamshift-trec/
 *   spamshift trec classify FILE          prints "class=spam score=X tfile=*"
 *   spamshift trec train ham|spam FILE    learn FILE's true label
 *   spamshift trec finalize               commit; the state is left for inspection
 *
 * Run in the toolkit's working directory, one process per call.  Learning is
 * online.h's: the message becomes feedback of the user "trec" in
 * ./spamshift-trec/store.db; with SPAMSHIFT_BASE_MODEL set at initialize the
 * filter starts from that base model and refits the user every 10 messages
 * (SPAMSHIFT_REFIT_EVERY), otherwise it starts from nothing and retrains its own
 * base (./spamshift-trec/base.bin) from the feedback at growing intervals
 * (after 50 messages, SPAMSHIFT_RETRAIN_FIRST, then each time 1.1 times as
 * many, SPAMSHIFT_RETRAIN_GROWTH)
 * and in between steps its linear weights after each message it did not get
 * right by 0.25 (SPAMSHIFT_STEP, default 0.1; kept in base.bin.steps).
 * The score printed is the spam probability (higher = spammier).
 */
#include "config.h"

#include <errno.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "commands.h"
#include "features.h"
#include "input.h"
#include "log.h"
#include "online.h"
#include "userdb.h"

#define DIR_NAME "spamshift-trec"
#define USER "trec"

static int
read_features(const char *path, struct features *f)
{
    struct input_source src = { (char *) path, INPUT_LABEL_NONE };
    struct one { char *buf; size_t len; int n; } o;
    int rc = input_read_first(&src, &o.buf, &o.len, &o.n);

    if (rc == -1) {
        free(o.buf);
        return EX_NOINPUT;
    }
    if (rc != 0 || o.n == 0) {
        free(o.buf);
        log_err("trec: %s: %s", path, rc ? "out of memory" : "no message");
        return rc ? EX_SOFTWARE : EX_DATAERR;
    }
    rc = features_extract(o.buf, o.len, f, NULL, NULL);
    free(o.buf);
    if (rc != 0) {
        log_err("trec: %s: out of memory", path);
        return EX_SOFTWARE;
    }
    return 0;
}

static int
env_num(const char *name, double def, double lo, double hi, double *v)
{
    const char *s = getenv(name);
    char *end;

    *v = def;
    if (s == NULL || *s == '\0')
        return 0;
    *v = strtod(s, &end);
    if (*end != '\0' || !(*v >= lo && *v <= hi)) {
        log_err("trec: %s must be a number from %g to %g, got \"%s\"", name, lo, hi, s);
        return -1;
    }
    return 0;
}

static int
start(struct store **s, struct online *ol, char *err, size_t errlen)
{
    struct online_opts oo;
    char base[4096];
    const char *fixed = NULL;
    double every, first, growth, step;
    ssize_t n;
    int rc;

    n = readlink(DIR_NAME "/fixed-base", base, sizeof(base) - 1);
    if (n > 0) {
        base[n] = '\0';
        fixed = base;
    }
    online_opts_default(&oo);
    if (env_num("SPAMSHIFT_REFIT_EVERY", fixed ? 10 : 0, 0, 1e6, &every) != 0
            || env_num("SPAMSHIFT_RETRAIN_FIRST", 50, 1, 1e9, &first) != 0
            || env_num("SPAMSHIFT_RETRAIN_GROWTH", 1.1, 1.01, 100, &growth) != 0
            || env_num("SPAMSHIFT_STEP", 0.1, 0, 1, &step) != 0)
        return EX_USAGE;
    oo.step_lr = (float) step;
    oo.refit_every = (unsigned) every;
    oo.retrain_first = (uint64_t) first;
    oo.retrain_growth = growth;
    if ((rc = userdb_open("trec", DIR_NAME "/store.db", 0, -1, s)) != 0)
        return rc;
    if (online_open(ol, *s, USER, fixed, DIR_NAME "/base.bin", &oo, err, errlen) != 0) {
        log_err("trec: %s", err);
        return EX_CONFIG;
    }
    return 0;
}

int
cmd_trec(int argc, char **argv)
{
    struct store *s = NULL;
    struct online ol;
    struct features f;
    char err[512];
    int rc = 0, started = 0;

    features_init(&f);
    if (argc < 2) {
        log_err("trec: usage: spamshift trec initialize | classify FILE | "
                "train ham|spam FILE | finalize");
        return EX_USAGE;
    }
    if (strcmp(argv[1], "initialize") == 0 && argc == 2) {
        const char *base = getenv("SPAMSHIFT_BASE_MODEL");
        const char *files[] = { "store.db", "store.db-wal", "store.db-shm", "base.bin",
                                "base.bin.steps", "fixed-base" };

        for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
            char *p = g_build_filename(DIR_NAME, files[i], NULL);
            if (g_unlink(p) != 0 && errno != ENOENT) {
                log_err("trec: cannot remove %s: %s", p, strerror(errno));
                g_free(p);
                return EX_CANTCREAT;
            }
            g_free(p);
        }
        if (g_mkdir_with_parents(DIR_NAME, 0755) != 0) {
            log_err("trec: cannot create %s: %s", DIR_NAME, strerror(errno));
            return EX_CANTCREAT;
        }
        if (base != NULL && *base != '\0') {
            char *abs = realpath(base, NULL);
            if (abs == NULL) {
                log_err("trec: SPAMSHIFT_BASE_MODEL %s: %s", base, strerror(errno));
                return EX_NOINPUT;
            }
            rc = symlink(abs, DIR_NAME "/fixed-base");
            free(abs);
            if (rc != 0) {
                log_err("trec: cannot record the base model: %s", strerror(errno));
                return EX_CANTCREAT;
            }
        }
        if ((rc = userdb_open("trec", DIR_NAME "/store.db", STORE_CREATE, -1, &s)) != 0)
            return rc;
        store_close(s);
        /* Loading it now refuses a bad base model at once, not at the first message. */
        if ((rc = start(&s, &ol, err, sizeof(err))) != 0) {
            store_close(s);
            return rc;
        }
        online_close(&ol);
        store_close(s);
        return 0;
    }
    if (strcmp(argv[1], "finalize") == 0 && argc == 2)
        return 0;
    if (strcmp(argv[1], "classify") == 0 && argc == 3) {
        float p;

        if ((rc = read_features(argv[2], &f)) != 0)
            goto done;
        if ((rc = start(&s, &ol, err, sizeof(err))) != 0)
            goto done;
        started = 1;
        p = online_score(&ol, f.ids, f.n);
        printf("class=%s score=%.6f tfile=*\n", p >= 0.5f ? "spam" : "ham", (double) p);
        goto done;
    }
    if (strcmp(argv[1], "train") == 0 && argc == 4
            && (strcmp(argv[2], "ham") == 0 || strcmp(argv[2], "spam") == 0)) {
        if ((rc = read_features(argv[3], &f)) != 0)
            goto done;
        if ((rc = start(&s, &ol, err, sizeof(err))) != 0)
            goto done;
        started = 1;
        if (online_learn(&ol, f.digest, f.ids, f.n, strcmp(argv[2], "spam") == 0,
                         err, sizeof(err)) != 0
                || online_flush(&ol, err, sizeof(err)) != 0) {
            log_err("trec: learning %s: %s", argv[3], err);
            rc = EX_SOFTWARE;
        }
        goto done;
    }
    log_err("trec: usage: spamshift trec initialize | classify FILE | "
            "train ham|spam FILE | finalize");
    rc = EX_USAGE;
done:
    if (started)
        online_close(&ol);
    store_close(s);
    features_clear(&f);
    if (rc == 0 && (fflush(stdout) != 0 || ferror(stdout)))
        rc = EX_CANTCREAT;
    return rc;
}
