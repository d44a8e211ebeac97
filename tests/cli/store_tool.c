/*
 * store_tool.c - a test helper that plays the other parties of the store's
 * safety tests (issue 4, item 8) through the real store.h/refit.h calls:
 *
 *   store_tool check DB                 PRAGMA integrity_check; "ok" or the problem
 *   store_tool state DB USER            "spam S ham H reservoir R seen N fb_gen G version V"
 *   store_tool lock DB MS               hold the write lock MS ms ("locked" once held)
 *   store_tool offer DB USER PATH...    offer each message file to USER's reservoir
 *   store_tool score DB MODEL USER SECONDS PATH...
 *                                       a scorer: for SECONDS (or until the file
 *                                       named by $STORE_TOOL_STOP exists), reload
 *                                       USER's model (cached by version) and score
 *                                       every PATH; prints "loads L versions A..B
 *                                       scores N"
 *   store_tool populate DB USERS FEEDBACK SAMPLES
 *                                       synthetic users (for timing adapt --all):
 *                                       each gets FEEDBACK labelled and SAMPLES
 *                                       unlabelled bags of 200 random ids
 *
 * Exit 0 on success, 1 on a failed check or operation (message on stderr),
 * 64 on bad usage.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "adapt.h"
#include "features.h"
#include "model.h"
#include "refit.h"
#include "store.h"

static int
usage(void)
{
    fprintf(stderr, "usage: store_tool check|state|lock|offer|score|populate DB ...\n");
    return 64;
}

static char *
slurp(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    char *buf = NULL;
    long n;

    if (fp == NULL || fseek(fp, 0, SEEK_END) != 0 || (n = ftell(fp)) < 0 ||
        fseek(fp, 0, SEEK_SET) != 0 || (buf = malloc((size_t)n + 1)) == NULL ||
        fread(buf, 1, (size_t)n, fp) != (size_t)n) {
        perror(path);
        free(buf);
        buf = NULL;
    } else
        *len = (size_t)n;
    if (fp != NULL)
        fclose(fp);
    return buf;
}

static double
now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

int
main(int argc, char **argv)
{
    struct store *s;
    char err[512];
    unsigned flags;
    int rc = 0;

    if (argc < 3)
        return usage();
    flags = strcmp(argv[1], "offer") == 0 || strcmp(argv[1], "populate") == 0 ? STORE_CREATE :
            strcmp(argv[1], "check") == 0 || strcmp(argv[1], "state") == 0 ||
            strcmp(argv[1], "score") == 0 ? STORE_RDONLY : 0;
    if (store_open(argv[2], flags, NULL, &s, err, sizeof(err)) != STORE_OK) {
        fprintf(stderr, "store_tool: %s\n", err);
        return 1;
    }
    if (strcmp(argv[1], "check") == 0) {
        if (store_check(s) != STORE_OK) {
            fprintf(stderr, "store_tool: %s\n", store_errmsg(s));
            rc = 1;
        } else
            printf("ok\n");
    } else if (strcmp(argv[1], "state") == 0 && argc == 4) {
        struct store_user_state st;
        int r = store_user_state(s, argv[3], &st);

        if (r < 0) {
            fprintf(stderr, "store_tool: %s\n", store_errmsg(s));
            rc = 1;
        } else
            printf("spam %u ham %u reservoir %u seen %llu fb_gen %llu version %llu\n",
                   st.n_spam, st.n_ham, st.n_reservoir, (unsigned long long)st.seen,
                   (unsigned long long)st.fb_gen, (unsigned long long)st.head_version);
    } else if (strcmp(argv[1], "lock") == 0 && argc == 4) {
        if (store_begin(s) != STORE_OK) {
            fprintf(stderr, "store_tool: %s\n", store_errmsg(s));
            rc = 1;
        } else {
            printf("locked\n");
            fflush(stdout);
            usleep((useconds_t)atoi(argv[3]) * 1000u);
            store_rollback(s);
        }
    } else if (strcmp(argv[1], "offer") == 0 && argc >= 5) {
        features_global_init();
        for (int i = 4; i < argc && rc == 0; i++) {
            struct features f;
            size_t len;
            char *buf = slurp(argv[i], &len);
            int kept;

            features_init(&f);
            if (buf == NULL || features_extract(buf, len, &f, NULL, NULL) != 0 ||
                refit_observe(s, argv[3], &f, &kept) != STORE_OK) {
                fprintf(stderr, "store_tool: %s: %s\n", argv[i], store_errmsg(s));
                rc = 1;
            }
            features_clear(&f);
            free(buf);
        }
    } else if (strcmp(argv[1], "score") == 0 && argc >= 7) {
        struct model *m;
        struct user_model *um = NULL;
        struct features *fs;
        int nf = argc - 6;
        double until = now_s() + atof(argv[5]);
        unsigned long loads = 0, scores = 0;
        uint64_t vmin = UINT64_MAX, vmax = 0;

        features_global_init();
        if (model_load(argv[3], &m, err, sizeof(err)) != 0) {
            fprintf(stderr, "store_tool: %s\n", err);
            store_close(s);
            return 1;
        }
        fs = calloc((size_t)nf, sizeof(*fs));
        for (int i = 0; i < nf; i++) {
            size_t len;
            char *buf = slurp(argv[6 + i], &len);

            features_init(&fs[i]);
            if (buf == NULL || features_extract(buf, len, &fs[i], NULL, NULL) != 0)
                rc = 1;
            free(buf);
        }
        const char *stop = getenv("STORE_TOOL_STOP");

        while (rc == 0 && now_s() < until && (stop == NULL || access(stop, F_OK) != 0)) {
            int r = refit_load_user_model(s, m, argv[4], &um, err, sizeof(err));

            loads++;
            if (r < 0) {
                fprintf(stderr, "store_tool: load: %s\n", err);
                rc = 1;
                break;
            }
            if (um != NULL) {
                vmin = um->version < vmin ? um->version : vmin;
                vmax = um->version > vmax ? um->version : vmax;
            }
            for (int i = 0; i < nf; i++) {
                float p = adapt_score(m, um, fs[i].ids, fs[i].n);

                if (!(p >= 0.0f && p <= 1.0f)) {
                    fprintf(stderr, "store_tool: score %g out of [0, 1]\n", (double)p);
                    rc = 1;
                }
                scores++;
            }
        }
        printf("loads %lu versions %llu..%llu scores %lu\n", loads,
               vmin == UINT64_MAX ? 0ULL : (unsigned long long)vmin,
               (unsigned long long)vmax, scores);
        for (int i = 0; i < nf; i++)
            features_clear(&fs[i]);
        free(fs);
        user_model_free(um);
        model_free(m);
    } else if (strcmp(argv[1], "populate") == 0 && argc == 6) {
        long users = atol(argv[3]), nfb = atol(argv[4]), nsm = atol(argv[5]);
        uint64_t x = 88172645463325252ULL;
        uint32_t ids[200];

        if (store_begin(s) != STORE_OK)
            rc = 1;
        for (long u = 0; rc == 0 && u < users; u++) {
            char key[64];

            snprintf(key, sizeof(key), "user%06ld@example.org", u);
            for (long k = 0; rc == 0 && k < nfb + nsm; k++) {
                uint8_t dg[STORE_DIGEST_LEN];
                uint32_t v = 0;
                int spam = (int)(k & 1);

                for (int i = 0; i < 200; i++) {     /* xorshift64, ascending ids */
                    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
                    v += 1 + (uint32_t)(x % 20000000u);
                    ids[i] = v + (spam ? 7u : 0u);
                }
                x ^= x << 13, x ^= x >> 7, x ^= x << 17;
                memcpy(dg, &x, 8);
                memcpy(dg + 8, &u, 4);
                memcpy(dg + 12, &k, 4);
                if ((k < nfb ? store_feedback_put(s, key, dg, spam, ids, 200, NULL)
                             : store_reservoir_offer(s, key, dg, ids, 200, NULL)) != STORE_OK)
                    rc = 1;
            }
            if (rc == 0 && u % 1000 == 999 && (store_commit(s) != STORE_OK ||
                                               store_begin(s) != STORE_OK))
                rc = 1;
        }
        if (rc == 0 && store_commit(s) != STORE_OK)
            rc = 1;
        if (rc != 0)
            fprintf(stderr, "store_tool: %s\n", store_errmsg(s));
    } else
        rc = usage();
    store_close(s);
    return rc;
}
