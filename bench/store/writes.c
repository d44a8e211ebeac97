/*
 * writes.c - the milter writer's store work alone (bench/store/writes.sh):
 * what one message costs the store when the milter's writer applies it, an
 * OFFER (a bag of 200 feature ids) and a SCAN (a passed verdict), in
 * store_apply() batches as the writer gathers them.
 *
 *   writes DB MESSAGES PER_BATCH [USERS]
 *
 * Message i goes to user (i mod USERS), default 1 user; PER_BATCH messages a
 * batch (2 operations each).  Prints one line:
 *   messages M batches B wall_s W cpu_ms_per_msg C
 * C is this process's user + system time over the batches / M (the client
 * side: libpq or SQLite itself); the server's is the script's to measure.
 * Exit 0, 1 on a failed operation (message on stderr), 64 on bad usage.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "store.h"

#define IDS 200

static double
cpu_s(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

static double
wall_s(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec / 1e9;
}

/* Message i's digest and sorted, distinct feature ids (deterministic). */
static void
message(uint32_t i, uint8_t *digest, uint32_t *ids)
{
    uint64_t x = 0x9e3779b97f4a7c15ULL * (i + 1);

    memset(digest, 0, STORE_DIGEST_LEN);
    for (int k = 0; k < STORE_DIGEST_LEN; k++) {
        x ^= x >> 29;
        x *= 0xbf58476d1ce4e5b9ULL;
        digest[k] = (uint8_t)(x >> 56);
    }
    ids[0] = (uint32_t)(x % 97);
    for (int k = 1; k < IDS; k++) {
        x ^= x >> 31;
        x *= 0x94d049bb133111ebULL;
        ids[k] = ids[k - 1] + 1 + (uint32_t)(x % 5000);
    }
}

int
main(int argc, char **argv)
{
    struct store *s;
    struct store_op *ops;
    uint32_t (*ids)[IDS];
    char err[512], (*users)[48];
    long m, per, nu = 1, batches = 0;
    double w0, c0;
    int rc;

    if (argc < 4 || argc > 5 || (m = atol(argv[2])) <= 0 || (per = atol(argv[3])) <= 0 ||
        (argc == 5 && (nu = atol(argv[4])) <= 0)) {
        fprintf(stderr, "usage: writes DB MESSAGES PER_BATCH [USERS]\n");
        return 64;
    }
    if (store_open(argv[1], STORE_CREATE, NULL, &s, err, sizeof(err)) != STORE_OK) {
        fprintf(stderr, "writes: %s\n", err);
        return 1;
    }
    ops = calloc((size_t)per * 2, sizeof(*ops));
    ids = calloc((size_t)per, sizeof(*ids));
    users = calloc((size_t)nu, sizeof(*users));
    if (ops == NULL || ids == NULL || users == NULL) {
        fprintf(stderr, "writes: out of memory\n");
        return 1;
    }
    for (long u = 0; u < nu; u++)
        snprintf(users[u], sizeof(users[u]), "user%ld@example.org", u);
    w0 = wall_s();
    c0 = cpu_s();
    for (long i = 0; i < m; batches++) {
        size_t n = 0;

        for (long k = 0; k < per && i < m; k++, i++) {
            struct store_op *o = &ops[n++], *sc = &ops[n++];

            memset(o, 0, 2 * sizeof(*o));
            message((uint32_t)i, o->digest, ids[k]);
            o->kind = STORE_OP_OFFER;
            o->user = users[i % nu];
            o->ids = ids[k];
            o->n = IDS;
            sc->kind = STORE_OP_SCAN;
            sc->user = o->user;
            memcpy(sc->digest, o->digest, STORE_DIGEST_LEN);
            sc->score = 0.1f;
            sc->verdict = STORE_V_PASS;
            sc->ms = 0.2 + (double)(i % 50) / 10;
        }
        if ((rc = store_apply(s, ops, n)) != STORE_OK) {
            fprintf(stderr, "writes: batch %ld: %s\n", batches, store_errmsg(s));
            return 1;
        }
    }
    printf("messages %ld batches %ld wall_s %.3f cpu_ms_per_msg %.4f\n", m, batches,
           wall_s() - w0, (cpu_s() - c0) * 1000 / (double)m);
    store_close(s);
    free(ops);
    free(ids);
    free(users);
    return 0;
}
