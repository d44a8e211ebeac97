/*
 * copy_tool.c - what tests/cli/store_copy.sh needs besides the spamshift
 * command, through store.h and store_copy.h only (either backend):
 *
 *   copy_tool create DB RESERVOIR DIRTY  a new store with a reservoir of
 *                                        RESERVOIR samples per user and
 *                                        DIRTY new samples making a user dirty
 *   copy_tool scans DB USER N            N scan records of USER as the
 *                                        milter's writer makes them (one
 *                                        batch through store_apply): digest
 *                                        i, score i/N, verdicts in turn, a
 *                                        shadow counter per record
 *   copy_tool reservoir DB USER          the digests in USER's reservoir (hex,
 *                                        in digest order), one a line
 *   copy_tool compare A B                store_copy_compare: "equal" and
 *                                        "table<TAB>rows" lines, or the first
 *                                        difference
 *
 * Exit 0 on success (compare: equal), 1 on a difference or a failure (the
 * message on stderr), 64 on bad usage.
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"
#include "store_copy.h"

static int
usage(void)
{
    fprintf(stderr, "usage: copy_tool create DB RESERVOIR DIRTY | scans DB USER N | "
            "reservoir DB USER | compare A B\n");
    return 64;
}

static struct store *
open_db(const char *db, unsigned flags, const struct store_opts *o)
{
    struct store *s;
    char err[512];

    if (store_open(db, flags, o, &s, err, sizeof(err)) != STORE_OK) {
        fprintf(stderr, "copy_tool: %s\n", err);
        return NULL;
    }
    return s;
}

static int
scans(struct store *s, const char *user, int n)
{
    struct store_op *ops = calloc((size_t)n * 2, sizeof(*ops));
    int rc;

    if (ops == NULL)
        return 1;
    for (int i = 0; i < n; i++) {
        struct store_op *op = &ops[2 * i];

        op->kind = STORE_OP_SCAN;
        op->user = user;
        op->digest[0] = (uint8_t)i;
        op->digest[1] = (uint8_t)(i >> 8);
        op->digest[15] = 0x5c;
        op->score = (float)i / (float)n;
        op->verdict = i % STORE_V_N;
        op->ms = 0.5 + i;
        op[1].kind = STORE_OP_COUNTER;
        op[1].user = user;
        op[1].counter = STORE_COUNTER_SHADOW_SCANNED;
        op[1].delta = 1;
    }
    rc = store_apply(s, ops, (size_t)n * 2);
    free(ops);
    if (rc != STORE_OK) {
        fprintf(stderr, "copy_tool: %s\n", store_errmsg(s));
        return 1;
    }
    return 0;
}

static int
reservoir(struct store *s, const char *user)
{
    struct store_samples ss;

    if (store_reservoir_list(s, user, NULL, &ss) != STORE_OK) {
        fprintf(stderr, "copy_tool: %s\n", store_errmsg(s));
        return 1;
    }
    for (size_t i = 0; i < ss.n; i++) {
        for (int k = 0; k < STORE_DIGEST_LEN; k++)
            printf("%02x", ss.v[i].digest[k]);
        printf("\n");
    }
    store_samples_free(&ss);
    return 0;
}

static int
compare(struct store *a, struct store *b)
{
    struct store_copy_counts n;
    char diff[1024];
    int rc = store_copy_compare(a, b, &n, diff, sizeof(diff));

    if (rc != STORE_OK) {
        fprintf(stderr, "copy_tool: %s\n", diff);
        return 1;
    }
    printf("equal\nusers\t%" PRIu64 "\n", n.users);
    for (int t = 1; t < STORE_COPY_TABLES; t++)
        printf("%s\t%" PRIu64 "\n", store_copy_table_name(t), n.rows[t]);
    return 0;
}

int
main(int argc, char **argv)
{
    struct store_opts o;
    struct store *a, *b;
    int rc;

    store_opts_default(&o);
    if (argc == 5 && strcmp(argv[1], "create") == 0) {
        o.reservoir_size = (uint32_t)atoi(argv[3]);
        o.dirty_samples = (uint32_t)atoi(argv[4]);
        if ((a = open_db(argv[2], STORE_CREATE, &o)) == NULL)
            return 1;
        store_close(a);
        return 0;
    }
    if (argc == 5 && strcmp(argv[1], "scans") == 0) {
        if ((a = open_db(argv[2], STORE_CREATE, &o)) == NULL)
            return 1;
        rc = scans(a, argv[3], atoi(argv[4]));
        store_close(a);
        return rc;
    }
    if (argc == 4 && strcmp(argv[1], "reservoir") == 0) {
        if ((a = open_db(argv[2], STORE_RDONLY, &o)) == NULL)
            return 1;
        rc = reservoir(a, argv[3]);
        store_close(a);
        return rc;
    }
    if (argc == 4 && strcmp(argv[1], "compare") == 0) {
        if ((a = open_db(argv[2], STORE_RDONLY, &o)) == NULL)
            return 1;
        if ((b = open_db(argv[3], STORE_RDONLY, &o)) == NULL) {
            store_close(a);
            return 1;
        }
        rc = compare(a, b);
        store_close(b);
        store_close(a);
        return rc;
    }
    return usage();
}
