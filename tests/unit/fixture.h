/* tests/unit/fixture.h - the unit tests' shared fixture: a private temporary
 * directory (made with mkdtemp under $TMPDIR, removed by a small recursive unlink,
 * never with a shell), a path helper, and what most adapt/ tests start from: a small trained
 * model and an opened store in that directory, and their cleanup.
 *
 * Header only, every function static inline, so that a test that uses only the
 * directory part (test_input, test_model) links no store.  Failures
 * inside a cmocka test fail it with a message (fail_msg); setup functions call
 * these from cmocka's group or test setup.  fx_small_model exists only where
 * tests/unit/synth.h is included first; struct fixture and fx_adapt_* where
 * FX_ADAPT is defined first. */
#ifndef SPAMSHIFT_TEST_FIXTURE_H
#define SPAMSHIFT_TEST_FIXTURE_H

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
/* cmocka.h needs these first; the including test has them too. */
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "model.h"
#include "store.h"

/* Make a fresh private directory $TMPDIR/TAG.XXXXXX (TMPDIR unset: /tmp) into
 * dir[len]; fails the test when it cannot. */
static inline void
fx_tmpdir(char *dir, size_t len, const char *tag)
{
    const char *base = getenv("TMPDIR");

    if (base == NULL || base[0] == '\0')
        base = "/tmp";
    if ((size_t)snprintf(dir, len, "%s/%s.XXXXXX", base, tag) >= len)
        fail_msg("temporary directory name for %s too long", tag);
    if (mkdtemp(dir) == NULL)
        fail_msg("mkdtemp %s: %s", dir, strerror(errno));
}

/* Remove path and, when it is a directory, all below it (depth first; a symbolic
 * link is removed, never followed).  Returns 0, or -1 with a message on stderr. */
static inline int
fx_rmtree(const char *path)
{
    struct stat sb;
    DIR *d;
    struct dirent *e;
    int rc = 0;

    if (path == NULL || path[0] == '\0')
        return 0;
    if (lstat(path, &sb) != 0)
        return errno == ENOENT ? 0 : -1;
    if (S_ISDIR(sb.st_mode)) {
        if ((d = opendir(path)) == NULL) {
            fprintf(stderr, "fixture: opendir %s: %s\n", path, strerror(errno));
            return -1;
        }
        while ((e = readdir(d)) != NULL) {
            char sub[PATH_MAX];

            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            if ((size_t)snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name) >= sizeof(sub)
                || fx_rmtree(sub) != 0)
                rc = -1;
        }
        closedir(d);
    }
    if (remove(path) != 0) {
        fprintf(stderr, "fixture: could not remove %s: %s\n", path, strerror(errno));
        return -1;
    }
    return rc;
}

/* out[len] = dir/name (name may be a printf format); fails the test when it does
 * not fit. */
static inline void
fx_path(char *out, size_t len, const char *dir, const char *name, ...)
{
    char rel[PATH_MAX];
    va_list ap;

    va_start(ap, name);
    if ((size_t)vsnprintf(rel, sizeof(rel), name, ap) >= sizeof(rel))
        fail_msg("fixture path %s too long", name);
    va_end(ap);
    if ((size_t)snprintf(out, len, "%s/%s", dir, rel) >= len)
        fail_msg("fixture path %s/%s too long", dir, rel);
}

#ifdef SPAMSHIFT_TEST_SYNTH_H
/* *m = synth_small_model(dir, n_each, seed, pool_max); fails the test on error.
 * Only where synth.h is included before this header (it links the model). */
static inline void
fx_small_model(const char *dir, size_t n_each, uint64_t seed, uint32_t pool_max,
               struct model **m)
{
    char err[512];

    if (synth_small_model(dir, n_each, seed, pool_max, m, err, sizeof(err)) != 0)
        fail_msg("small model: %s", err);
}
#endif

/* Create and open the store dir/name (opts NULL: defaults) into *s, its path into
 * db[dblen]; fails the test on error. */
static inline void
fx_store(const char *dir, const char *name, const struct store_opts *opts, char *db,
         size_t dblen, struct store **s)
{
    char err[512];

    fx_path(db, dblen, dir, "%s", name);
    if (store_open(db, STORE_CREATE, opts, s, err, sizeof(err)) != STORE_OK)
        fail_msg("store_open %s: %s", db, err);
}

/* The usual teardown: close s, free m (either may be NULL), remove dir.  Returns
 * fx_rmtree's result. */
static inline int
fx_cleanup(struct store *s, struct model *m, const char *dir)
{
    if (s != NULL)
        store_close(s);
    if (m != NULL)
        model_free(m);
    return fx_rmtree(dir);
}

#ifdef FX_ADAPT
#include "adapt.h"

/* FX_ADAPT (defined before this header): the adapt/ tests' fixture, a temporary
 * directory with a small trained model, a store dir/s.db, the user's synthetic
 * mail and default adaptation options. */
struct fixture {
    char dir[64];
    char db[128];
    struct model *m;
    struct store *s;
    struct synth data;      /* n_data ham + n_data spam bags */
    struct adapt_opts o;
};

/* A new fixture: the directory ($TMPDIR/TAG.XXXXXX), fx_small_model(dir, n_each,
 * model_seed, pool_max), the store, synth_make(n_data, n_data, 12, 12, 400,
 * data_seed).  Fails the test on any error. */
static inline struct fixture *
fx_adapt_open(const char *tag, size_t n_each, uint64_t model_seed, uint32_t pool_max,
              size_t n_data, uint64_t data_seed)
{
    struct fixture *f = calloc(1, sizeof(*f));

    assert_non_null(f);
    fx_tmpdir(f->dir, sizeof(f->dir), tag);
    fx_small_model(f->dir, n_each, model_seed, pool_max, &f->m);
    fx_store(f->dir, "s.db", NULL, f->db, sizeof(f->db), &f->s);
    assert_int_equal(synth_make(&f->data, n_data, n_data, 12, 12, 400, data_seed), 0);
    adapt_opts_default(&f->o);
    return f;
}

/* Undo fx_adapt_open: store, model, data, directory, f. */
static inline void
fx_adapt_close(struct fixture *f)
{
    fx_cleanup(f->s, f->m, f->dir);
    synth_free(&f->data);
    free(f);
}

/* A cmocka teardown for a fixture from fx_adapt_open. */
static inline int
fx_adapt_teardown(void **state)
{
    fx_adapt_close(*state);
    return 0;
}
#endif

#endif
