/*
 * store_conf_same.c - the conformance suite's cross-backend case: one
 * learn/observe/publish/settings sequence on the backend under test and on a
 * SQLite file, every answer the store gives written down as a line, the two
 * compared line by line (the first difference named).
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "store.h"
#include "store_conf.h"

static void
out(char **buf, size_t *len, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    int n;
    char *p;

    va_start(ap, fmt);
    n = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    assert_true(n >= 0 && (size_t)n < sizeof(line));
    assert_non_null(p = realloc(*buf, *len + (size_t)n + 2));
    *buf = p;
    memcpy(*buf + *len, line, (size_t)n);
    *len += (size_t)n;
    (*buf)[(*len)++] = '\n';
    (*buf)[*len] = '\0';
}

/* Every (key, value) a list function gives, one line each. */
static void
print_key_values(struct store *s, char **buf, size_t *len, const char *what,
                 int (*list)(struct store *, char ***, double **, size_t *))
{
    char **keys;
    double *v;
    size_t n;

    assert_int_equal(list(s, &keys, &v, &n), STORE_OK);
    for (size_t i = 0; i < n; i++)
        out(buf, len, "%s %s %.17g", what, keys[i], v[i]);
    store_strv_free(keys);
    free(v);
}

/* Learn, observe and publish for three users, writing down every answer the
 * store gives (not the times it records): samples, heads, the dirty list,
 * thresholds and target FPRs, the recent heads, statistics. */
static char *
sequence(struct store *s)
{
    static const char *const users[] = { "b@x", "A@x", "c@y" };
    struct store_user_stats *us;
    struct store_samples ss;
    char *buf = NULL, **keys;
    size_t len = 0, n;
    int64_t now = (int64_t)time(NULL);

    for (uint32_t k = 1; k <= 120; k++) {
        const char *u = users[k % 3];
        uint8_t d[STORE_DIGEST_LEN];

        out(&buf, &len, "offer %s %u kept %d", u, k, conf_offer(s, u, k % 50));
        conf_digest_of(k % 50, d);
        if (k % 7 == 0) {
            uint32_t ids[16];
            size_t m = conf_ids_of(k % 50, ids);
            enum store_change chg;

            assert_int_equal(store_feedback_put(s, u, d, (int)(k % 2), ids, m, &chg),
                             STORE_OK);
            out(&buf, &len, "learn %s %u change %d", u, k, (int)chg);
        }
        assert_int_equal(store_scan_record(s, u, d, (float)(k % 10) / 10, (int)(k % 4),
                                           0.01 * k, now), STORE_OK);
    }
    for (size_t i = 0; i < 3; i++) {
        struct store_user_state st;
        uint64_t v = 0;

        conf_state_of(s, users[i], &st);
        out(&buf, &len, "state %s uid %lld fb_gen %llu seen %llu spam %u ham %u res %u",
            users[i], (long long)st.uid, (unsigned long long)st.fb_gen,
            (unsigned long long)st.seen, st.n_spam, st.n_ham, st.n_reservoir);
        assert_int_equal(store_reservoir_list(s, users[i], NULL, &ss), STORE_OK);
        for (size_t j = 0; j < ss.n; j++)
            out(&buf, &len, "  res %02x%02x n %u first %u", ss.v[j].digest[0],
                ss.v[j].digest[1], ss.v[j].n, ss.v[j].ids[0]);
        store_samples_free(&ss);
        if (i < 2)
            assert_int_equal(store_head_publish(s, users[i], "m", "blob", 4, &st, NULL, &v),
                             STORE_OK);
        out(&buf, &len, "published %s %llu", users[i], (unsigned long long)v);
    }
    assert_int_equal(store_dirty_list(s, "m", 0, &keys, &n), STORE_OK);
    for (size_t i = 0; i < n; i++)
        out(&buf, &len, "dirty %s", keys[i]);
    store_strv_free(keys);
    for (size_t i = 0; i < 3; i++) {
        double t;

        assert_int_equal(store_threshold_set(s, users[i], 0.5 + 0.1 * (double)i), STORE_OK);
        assert_int_equal(store_target_fpr_set(s, users[i], 0.001 * (double)(i + 1)),
                         STORE_OK);
        if (i == 1)
            assert_int_equal(store_target_fpr_set(s, users[i], -1), STORE_OK);
        out(&buf, &len, "target %s %d", users[i], store_target_fpr_get(s, users[i], &t));
    }
    print_key_values(s, &buf, &len, "threshold", store_threshold_list);
    print_key_values(s, &buf, &len, "target", store_target_fpr_list);
    assert_int_equal(store_head_recent(s, "m", 0, &keys, &n), STORE_OK);
    out(&buf, &len, "recent %zu", n);
    store_strv_free(keys);
    assert_int_equal(store_user_stats(s, NULL, now - 60, &us, &n), STORE_OK);
    for (size_t i = 0; i < n; i++) {
        out(&buf, &len, "stats %s scanned %llu tagged %llu q %llu r %llu ms %.6f fb %llu/%llu "
            "matched %llu/%llu fp %llu fn %llu refits %llu", us[i].user,
            (unsigned long long)us[i].scanned, (unsigned long long)us[i].tagged,
            (unsigned long long)us[i].quarantined, (unsigned long long)us[i].rejected,
            us[i].ms_sum, (unsigned long long)us[i].fb_spam, (unsigned long long)us[i].fb_ham,
            (unsigned long long)us[i].matched_spam, (unsigned long long)us[i].matched_ham,
            (unsigned long long)us[i].fp, (unsigned long long)us[i].fn,
            (unsigned long long)us[i].refits);
        for (int b = 0; b < STORE_SCAN_HIST; b++)
            if (us[i].hist[b] != 0)
                out(&buf, &len, "  hist %d %u", b, us[i].hist[b]);
    }
    store_user_stats_free(us, n);
    return buf;
}

void
test_same_on_both(void **state)
{
    struct conf *c = *state;
    struct store *ref;
    char db[600], *got, *want, *g, *w;
    int line = 1;

    conf_open_fresh(1, db, sizeof(db), &ref);
    got = sequence(c->s);
    want = sequence(ref);
    store_close(ref);
    for (g = got, w = want; *g != '\0' && *g == *w; g++, w++)
        line += *g == '\n';
    if (*g != '\0' || *w != '\0') {
        char *ge = strchr(g, '\n'), *we = strchr(w, '\n');

        fail_msg("%s and SQLite differ at line %d: got \"%.*s\", want \"%.*s\"",
                 store_backend_name(c->s), line, ge ? (int)(ge - g) : (int)strlen(g), g,
                 we ? (int)(we - w) : (int)strlen(w), w);
    }
    free(got);
    free(want);
}
