/*
 * test_model.c - the model file and whole-model training: save/load round trip
 * bit for bit, refusal of truncated, corrupt and wrong-version files, atomic
 * save under an injected write failure, byte-identical training, batch scoring
 * against one-by-one scoring, separation of a separable set and the stratified
 * source pool.  Synthetic id bags only (synth.h): no parser involved.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <xxhash.h>

#include "features.h"
#include "model.h"
#include "synth.h"
#include "fixture.h"

/* Small dims keep every test in milliseconds. */
static void
small_opts(struct model_train_opts *o, uint64_t seed)
{
    model_train_opts_default(o);
    o->dims.lin_bits = 14;
    o->dims.emb_bits = 10;
    o->dims.emb_dim = 8;
    o->dims.hidden = 4;
    o->net.epochs = 4;
    o->net.seed = seed;
}

static char tmpdir[64];

static int
setup_dir(void **state)
{
    fx_tmpdir(tmpdir, sizeof(tmpdir), "test_model");
    return 0;
}

static int
teardown_dir(void **state)
{
    return fx_rmtree(tmpdir);
}

static void
path_in(char *buf, size_t len, const char *name)
{
    snprintf(buf, len, "%s/%s", tmpdir, name);
}

static unsigned char *
slurp(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    unsigned char *buf;
    long n;

    if (fp == NULL)
        return NULL;
    fseek(fp, 0, SEEK_END);
    n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    buf = malloc(n > 0 ? (size_t) n : 1);
    if (buf != NULL && fread(buf, 1, (size_t) n, fp) != (size_t) n) {
        free(buf);
        buf = NULL;
    }
    fclose(fp);
    *len = (size_t) n;
    return buf;
}

static void
spit(const char *path, const unsigned char *buf, size_t len)
{
    FILE *fp = fopen(path, "wb");

    assert_non_null(fp);
    assert_int_equal(fwrite(buf, 1, len, fp), len);
    assert_int_equal(fclose(fp), 0);
}

static struct model *
train_small(const struct synth *s, uint64_t seed, unsigned threads)
{
    struct model_train_opts o;
    struct model *m;
    char err[256] = "";

    small_opts(&o, seed);
    o.threads = threads;
    m = model_train(s->ex, s->n, &o, err, sizeof(err));
    if (m == NULL)
        fail_msg("model_train: %s", err);
    return m;
}

static void
test_round_trip(void **state)
{
    struct synth s, probe;
    struct model *m, *l = NULL;
    char path[128], err[256] = "";
    size_t i;
    uint32_t H;

    assert_int_equal(synth_make(&s, 60, 40, 20, 30, 300, 1), 0);
    assert_int_equal(synth_make(&probe, 25, 25, 15, 40, 400, 99), 0);
    m = train_small(&s, 7, 2);
    path_in(path, sizeof(path), "rt.bin");
    if (model_save(m, path, err, sizeof(err)) != 0)
        fail_msg("model_save: %s", err);
    if (model_load(path, &l, err, sizeof(err)) != 0)
        fail_msg("model_load: %s", err);
    H = m->net.dims.hidden;
    assert_memory_equal(&l->net.dims, &m->net.dims, sizeof(m->net.dims));
    assert_int_equal(l->net.owned, 0);
    assert_int_equal(l->feature_version, FEATURES_VERSION);
    if (l->threshold != m->threshold)
        fail_msg("threshold: got %g, want %g", l->threshold, m->threshold);
    assert_int_equal(l->summary.n_ham, 60);
    assert_int_equal(l->summary.n_spam, 40);
    assert_int_equal(l->summary.n_features, m->summary.n_features);
    assert_int_equal(l->summary.epochs, 4);
    assert_int_equal(l->summary.seed, 7);
    assert_true(l->summary.created > 0);
    assert_int_equal(strlen(l->id), 16);
    assert_int_equal(strspn(l->id, "0123456789abcdef"), 16);
    assert_int_equal(l->pool_n, m->pool_n);
    assert_memory_equal(l->pool_rep, m->pool_rep, (size_t) m->pool_n * (H + 1) * sizeof(float));
    assert_memory_equal(l->pool_label, m->pool_label, m->pool_n);
    for (i = 0; i < probe.n; i++) {
        float h1[NET_MAX_HIDDEN], h2[NET_MAX_HIDDEN], z1, z2;
        float p1 = model_score(m, probe.ex[i].ids, probe.ex[i].n, h1, &z1);
        float p2 = model_score(l, probe.ex[i].ids, probe.ex[i].n, h2, &z2);

        if (memcmp(&p1, &p2, sizeof(float)) != 0 || memcmp(&z1, &z2, sizeof(float)) != 0
            || memcmp(h1, h2, H * sizeof(float)) != 0)
            fail_msg("probe %zu: loaded model scores %.9g (z %.9g), want %.9g (z %.9g)",
                     i, p2, z2, p1, z1);
    }
    /* The file's bytes loaded from memory: the same model. */
    {
        struct model *b = NULL;
        unsigned char *bytes;
        size_t blen;

        bytes = slurp(path, &blen);
        assert_non_null(bytes);
        if (model_load_buffer(bytes, blen, "rt.bin", &b, err, sizeof(err)) != 0)
            fail_msg("model_load_buffer: %s", err);
        assert_string_equal(b->id, l->id);
        assert_int_equal(b->summary.created, 0);
        for (i = 0; i < probe.n; i++) {
            float p1 = model_score(l, probe.ex[i].ids, probe.ex[i].n, NULL, NULL);
            float p2 = model_score(b, probe.ex[i].ids, probe.ex[i].n, NULL, NULL);

            if (memcmp(&p1, &p2, sizeof(float)) != 0)
                fail_msg("probe %zu: model from memory scores %.9g, want %.9g", i, p2, p1);
        }
        model_free(b);
        free(bytes);
    }
    /* Saving the loaded (mapped) model again gives the same bytes. */
    {
        char path2[128];
        unsigned char *a, *b;
        size_t la, lb;

        path_in(path2, sizeof(path2), "rt2.bin");
        if (model_save(l, path2, err, sizeof(err)) != 0)
            fail_msg("model_save of a loaded model: %s", err);
        a = slurp(path, &la);
        b = slurp(path2, &lb);
        assert_non_null(a);
        assert_non_null(b);
        if (la != lb || memcmp(a, b, la) != 0)
            fail_msg("re-saved loaded model differs (%zu vs %zu bytes)", lb, la);
        free(a);
        free(b);
    }
    model_free(l);
    model_free(m);
    synth_free(&s);
    synth_free(&probe);
}

/* Header offsets, as documented in model.c. */
#define OFF_FORMAT 8
#define OFF_FEATURES 12
#define OFF_HIDDEN 32
#define OFF_POOL_N 36
#define OFF_LIN 80      /* section table: lin offset */

enum corrupt_kind { C_TRUNC_HALF, C_TRUNC_HEADER, C_TRUNC_LAST, C_APPEND, C_FLIP,
                    C_FLIP_SUM, C_MAGIC, C_FORMAT, C_FEATURES, C_HIDDEN, C_POOL_N,
                    C_EMPTY };

struct corrupt_case {
    const char *name;
    enum corrupt_kind kind;
    const char *want;           /* substring of the error message */
};

static const struct corrupt_case corrupt_cases[] = {
    { "truncated to half", C_TRUNC_HALF, "truncated" },
    { "truncated inside the header", C_TRUNC_HEADER, "truncated" },
    { "last byte missing", C_TRUNC_LAST, "truncated" },
    { "one byte appended", C_APPEND, "oversized" },
    { "flipped byte in the weights", C_FLIP, "checksum" },
    { "flipped byte in the checksum", C_FLIP_SUM, "checksum" },
    { "wrong magic", C_MAGIC, "magic" },
    { "wrong format version", C_FORMAT, "format version" },
    { "wrong features version", C_FEATURES, "features version" },
    { "hidden out of range", C_HIDDEN, "out of range" },
    { "pool size disagrees with the length", C_POOL_N, "corrupt model header" },
    { "empty file", C_EMPTY, "truncated" },
};

static void
test_corrupt_refused(void **state)
{
    struct synth s;
    struct model *m, *l;
    char good[128], bad[128], err[256];
    unsigned char *buf, *copy;
    size_t len, n, i;

    assert_int_equal(synth_make(&s, 30, 30, 10, 10, 100, 2), 0);
    m = train_small(&s, 3, 1);
    path_in(good, sizeof(good), "good.bin");
    path_in(bad, sizeof(bad), "bad.bin");
    assert_int_equal(model_save(m, good, err, sizeof(err)), 0);
    buf = slurp(good, &len);
    assert_non_null(buf);
    copy = malloc(len + 1);
    assert_non_null(copy);

    for (i = 0; i < sizeof(corrupt_cases) / sizeof(corrupt_cases[0]); i++) {
        const struct corrupt_case *c = &corrupt_cases[i];
        uint32_t v;
        uint64_t off;

        memcpy(copy, buf, len);
        n = len;
        switch (c->kind) {
        case C_TRUNC_HALF: n = len / 2; break;
        case C_TRUNC_HEADER: n = 100; break;
        case C_TRUNC_LAST: n = len - 1; break;
        case C_APPEND: copy[len] = 0; n = len + 1; break;
        case C_FLIP:
            memcpy(&off, copy + OFF_LIN, 8);
            copy[off + 5] ^= 0x10;
            break;
        case C_FLIP_SUM: copy[len - 3] ^= 0x01; break;
        case C_MAGIC: copy[0] = 'X'; break;
        case C_FORMAT: v = MODEL_FORMAT_VERSION + 1; memcpy(copy + OFF_FORMAT, &v, 4); break;
        case C_FEATURES: v = FEATURES_VERSION + 1; memcpy(copy + OFF_FEATURES, &v, 4); break;
        case C_HIDDEN: v = NET_MAX_HIDDEN + 1; memcpy(copy + OFF_HIDDEN, &v, 4); break;
        case C_POOL_N:
            memcpy(&v, copy + OFF_POOL_N, 4);
            v += 1000;
            memcpy(copy + OFF_POOL_N, &v, 4);
            break;
        case C_EMPTY: n = 0; break;
        }
        spit(bad, copy, n);
        l = (struct model *) 1;
        err[0] = '\0';
        if (model_load(bad, &l, err, sizeof(err)) == 0)
            fail_msg("%s: got a loaded model, want a refusal", c->name);
        if (l != NULL)
            fail_msg("%s: got *out = %p, want NULL", c->name, (void *) l);
        if (strstr(err, c->want) == NULL || strstr(err, bad) == NULL)
            fail_msg("%s: got error \"%s\", want one naming the file and saying \"%s\"",
                     c->name, err, c->want);
        if (strchr(err, '\n') != NULL)
            fail_msg("%s: got a multi-line error \"%s\", want one line", c->name, err);
        /* The same bytes from memory are refused for the same reason. */
        {
            char err2[256] = "";

            l = (struct model *) 1;
            if (model_load_buffer(copy, n, bad, &l, err2, sizeof(err2)) == 0 || l != NULL)
                fail_msg("%s: model_load_buffer: got a loaded model, want a refusal",
                         c->name);
            if (strcmp(err2, err) != 0)
                fail_msg("%s: model_load_buffer: got error \"%s\", want \"%s\"", c->name,
                         err2, err);
        }
    }
    /* A missing file and a directory are refused too. */
    assert_int_equal(model_load(tmpdir, &l, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "not a regular file"));
    path_in(bad, sizeof(bad), "missing.bin");
    assert_int_equal(model_load(bad, &l, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "cannot open"));
    free(copy);
    free(buf);
    model_free(m);
    synth_free(&s);
}

static int
count_entries(const char *dir)
{
    char cmd[160];
    FILE *p;
    int n = -1;

    snprintf(cmd, sizeof(cmd), "ls -A '%s' | wc -l", dir);
    p = popen(cmd, "r");
    if (p == NULL || fscanf(p, "%d", &n) != 1)
        n = -1;
    if (p != NULL)
        pclose(p);
    return n;
}

/* On a failed save the previous file is untouched and no temporary is left:
 * failures are injected with a missing directory, a file where the directory
 * should be, and a write that fails half-way (RLIMIT_FSIZE -> EFBIG). */
static void
test_failed_save(void **state)
{
    struct synth s;
    struct model *a, *b;
    char sub[128], path[160], bad[192], err[256];
    unsigned char *before, *after;
    size_t lb, la;
    struct rlimit old, lim;
    struct sigaction ign, prev;
    int rc;

    assert_int_equal(synth_make(&s, 30, 30, 10, 10, 100, 4), 0);
    a = train_small(&s, 1, 1);
    b = train_small(&s, 2, 1);
    path_in(sub, sizeof(sub), "save");
    assert_int_equal(mkdir(sub, 0755), 0);
    snprintf(path, sizeof(path), "%s/model.bin", sub);
    assert_int_equal(model_save(a, path, err, sizeof(err)), 0);
    before = slurp(path, &lb);
    assert_non_null(before);

    snprintf(bad, sizeof(bad), "%s/nodir/model.bin", sub);
    err[0] = '\0';
    assert_int_equal(model_save(b, bad, err, sizeof(err)), -1);
    if (strstr(err, "temporary") == NULL)
        fail_msg("missing directory: got \"%s\", want a temporary-file error", err);
    snprintf(bad, sizeof(bad), "%s/model.bin/x.bin", sub);
    err[0] = '\0';
    assert_int_equal(model_save(b, bad, err, sizeof(err)), -1);
    if (strstr(err, "temporary") == NULL)
        fail_msg("file as directory: got \"%s\", want a temporary-file error", err);

    memset(&ign, 0, sizeof(ign));
    ign.sa_handler = SIG_IGN;
    sigaction(SIGXFSZ, &ign, &prev);
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    lim = old;
    lim.rlim_cur = 4096;
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    err[0] = '\0';
    rc = model_save(b, path, err, sizeof(err));
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    sigaction(SIGXFSZ, &prev, NULL);
    if (rc != -1)
        fail_msg("write failure: got %d, want -1", rc);
    if (strstr(err, "cannot write") == NULL)
        fail_msg("write failure: got \"%s\", want \"cannot write\"", err);

    after = slurp(path, &la);
    assert_non_null(after);
    if (la != lb || memcmp(before, after, lb) != 0)
        fail_msg("old model changed by a failed save (%zu bytes, want %zu)", la, lb);
    if (count_entries(sub) != 1)
        fail_msg("got %d entries in %s after failed saves, want 1 (no temporaries)",
                 count_entries(sub), sub);
    /* And a successful save does replace it. */
    assert_int_equal(model_save(b, path, err, sizeof(err)), 0);
    free(after);
    after = slurp(path, &la);
    assert_non_null(after);
    assert_true(la != lb || memcmp(before, after, lb) != 0);
    free(before);
    free(after);
    model_free(a);
    model_free(b);
    synth_free(&s);
}

struct det_case {
    const char *name;
    uint64_t seed_a, seed_b;
    unsigned threads_a, threads_b;
    int want_same;
};

static const struct det_case det_cases[] = {
    { "same seed", 11, 11, 2, 2, 1 },
    { "same seed, one thread vs two", 11, 11, 1, 2, 1 },
    { "different seed", 11, 12, 2, 2, 0 },
};

static void
test_determinism(void **state)
{
    struct synth s;
    size_t i;

    assert_int_equal(synth_make(&s, 80, 50, 20, 30, 300, 5), 0);
    for (i = 0; i < sizeof(det_cases) / sizeof(det_cases[0]); i++) {
        const struct det_case *c = &det_cases[i];
        struct model *a = train_small(&s, c->seed_a, c->threads_a);
        struct model *b = train_small(&s, c->seed_b, c->threads_b);
        char pa[128], pb[128], err[256];
        unsigned char *fa, *fb;
        size_t la, lb;
        int same;

        path_in(pa, sizeof(pa), "det_a.bin");
        path_in(pb, sizeof(pb), "det_b.bin");
        assert_int_equal(model_save(a, pa, err, sizeof(err)), 0);
        assert_int_equal(model_save(b, pb, err, sizeof(err)), 0);
        fa = slurp(pa, &la);
        fb = slurp(pb, &lb);
        assert_non_null(fa);
        assert_non_null(fb);
        same = la == lb && memcmp(fa, fb, la) == 0;
        if (same != c->want_same)
            fail_msg("%s: got files %s, want %s", c->name, same ? "identical" : "different",
                     c->want_same ? "identical" : "different");
        free(fa);
        free(fb);
        model_free(a);
        model_free(b);
    }
    synth_free(&s);
}

static void
test_batch_equals_single(void **state)
{
    struct synth s, probe;
    struct model *m;
    unsigned threads;
    float *batch;
    size_t i;

    assert_int_equal(synth_make(&s, 50, 50, 15, 15, 200, 6), 0);
    assert_int_equal(synth_make(&probe, 150, 101, 12, 30, 250, 60), 0);
    m = train_small(&s, 5, 2);
    batch = malloc(probe.n * sizeof(float));
    assert_non_null(batch);
    for (threads = 1; threads <= 2; threads++) {
        memset(batch, 0xff, probe.n * sizeof(float));
        model_score_batch(m, probe.ex, probe.n, batch, threads);
        for (i = 0; i < probe.n; i++) {
            float one = model_score(m, probe.ex[i].ids, probe.ex[i].n, NULL, NULL);

            if (memcmp(&one, &batch[i], sizeof(float)) != 0)
                fail_msg("threads %u, message %zu: got %.9g in batch, want %.9g",
                         threads, i, batch[i], one);
        }
    }
    free(batch);
    model_free(m);
    synth_free(&s);
    synth_free(&probe);
}

struct pool_case {
    const char *name;
    size_t n_ham, n_spam;
    uint32_t pool_max;
    uint32_t want_ham, want_spam;
};

static const struct pool_case pool_cases[] = {
    { "cap below the set, 3:1", 300, 100, 40, 30, 10 },
    { "cap above the set", 30, 20, 1000, 30, 20 },
    { "cap equal to the set", 30, 20, 50, 30, 20 },
    { "cap below the set, 1:1", 100, 100, 50, 25, 25 },
};

static void
test_separable_and_pool(void **state)
{
    size_t i;

    for (i = 0; i < sizeof(pool_cases) / sizeof(pool_cases[0]); i++) {
        const struct pool_case *c = &pool_cases[i];
        struct model_train_opts o;
        struct synth s, probe;
        struct model *m;
        char err[256];
        float *p;
        uint32_t H, r, got_ham = 0, got_spam = 0;
        double auc;
        size_t j;

        assert_int_equal(synth_make(&s, c->n_ham, c->n_spam, 20, 20, 200, 7 + i), 0);
        assert_int_equal(synth_make(&probe, 100, 100, 20, 20, 200, 1000 + i), 0);
        small_opts(&o, 21);
        o.pool_max = c->pool_max;
        m = model_train(s.ex, s.n, &o, err, sizeof(err));
        if (m == NULL)
            fail_msg("%s: model_train: %s", c->name, err);
        p = malloc(probe.n * sizeof(float));
        assert_non_null(p);
        model_score_batch(m, probe.ex, probe.n, p, 2);
        auc = synth_auc(p, probe.ex, probe.n);
        if (auc != 1.0)
            fail_msg("%s: got AUC %.6f on unseen separable mail, want 1.0", c->name, auc);

        H = m->net.dims.hidden;
        for (r = 0; r < m->pool_n; r++) {
            int found = 0;

            got_ham += m->pool_label[r] == 0;
            got_spam += m->pool_label[r] == 1;
            /* Each pool row is the representation of one training message of
             * the same label. */
            for (j = 0; j < s.n && !found; j++) {
                float h[NET_MAX_HIDDEN], z;

                if (s.ex[j].spam != m->pool_label[r])
                    continue;
                model_score(m, s.ex[j].ids, s.ex[j].n, h, &z);
                found = memcmp(h, m->pool_rep + (size_t) r * (H + 1), H * sizeof(float)) == 0
                    && memcmp(&z, m->pool_rep + (size_t) r * (H + 1) + H, sizeof(float)) == 0;
            }
            if (!found)
                fail_msg("%s: pool row %u matches no training message of its label",
                         c->name, r);
        }
        if (got_ham != c->want_ham || got_spam != c->want_spam)
            fail_msg("%s: got pool of %u ham + %u spam, want %u + %u", c->name,
                     got_ham, got_spam, c->want_ham, c->want_spam);
        assert_int_equal(m->summary.n_ham, c->n_ham);
        assert_int_equal(m->summary.n_spam, c->n_spam);
        assert_true(m->summary.train_seconds >= 0);
        free(p);
        model_free(m);
        synth_free(&s);
        synth_free(&probe);
    }
}

/* n_features counts distinct ids, checked against a naive sort-and-count. */
static void
test_distinct_features(void **state)
{
    struct synth s;
    struct model *m;
    uint32_t *all, want = 0;
    size_t i, k = 0, total = 0;

    assert_int_equal(synth_make(&s, 40, 40, 30, 30, 5000, 8), 0);
    /* An id 0 must count once, too. */
    s.ids[0] = 0;
    for (i = 0; i < s.n; i++)
        total += s.ex[i].n;
    all = malloc(total * sizeof(uint32_t));
    assert_non_null(all);
    for (i = 0; i < s.n; i++) {
        memcpy(all + k, s.ex[i].ids, s.ex[i].n * sizeof(uint32_t));
        k += s.ex[i].n;
    }
    qsort(all, total, sizeof(uint32_t), synth_cmp);
    for (i = 0; i < total; i++)
        want += i == 0 || all[i] != all[i - 1];
    m = train_small(&s, 1, 2);
    if (m->summary.n_features != want)
        fail_msg("got %u distinct features, want %u", m->summary.n_features, want);
    free(all);
    model_free(m);
    synth_free(&s);
}

struct bad_train_case {
    const char *name;
    size_t n_ham, n_spam;
    uint32_t hidden, epochs;
    float threshold, lr;
    const char *want;
};

static const struct bad_train_case bad_train_cases[] = {
    { "no messages", 0, 0, 4, 4, 0.5f, 0.1f, "no training messages" },
    { "no spam", 10, 0, 4, 4, 0.5f, 0.1f, "need both ham and spam" },
    { "no ham", 0, 10, 4, 4, 0.5f, 0.1f, "need both ham and spam" },
    { "hidden too wide", 10, 10, NET_MAX_HIDDEN + 1, 4, 0.5f, 0.1f, "invalid dims" },
    { "zero epochs", 10, 10, 4, 0, 0.5f, 0.1f, "invalid training options" },
    { "negative learning rate", 10, 10, 4, 4, 0.5f, -0.1f, "invalid training options" },
    { "threshold above 1", 10, 10, 4, 4, 1.5f, 0.1f, "threshold" },
    { "learning rates so high that training diverges", 10, 10, 4, 4, 0.5f, 1e30f,
      "diverged" },
};

static void
test_bad_training_input(void **state)
{
    size_t i;

    for (i = 0; i < sizeof(bad_train_cases) / sizeof(bad_train_cases[0]); i++) {
        const struct bad_train_case *c = &bad_train_cases[i];
        struct model_train_opts o;
        struct synth s;
        struct model *m;
        char err[256] = "";

        assert_int_equal(synth_make(&s, c->n_ham, c->n_spam, 5, 5, 50, 9), 0);
        small_opts(&o, 1);
        o.dims.hidden = c->hidden;
        o.net.epochs = c->epochs;
        o.threshold = c->threshold;
        o.net.lr = c->lr;
        o.net.lr_dense = c->lr;
        m = model_train(s.ex, s.n, &o, err, sizeof(err));
        if (m != NULL)
            fail_msg("%s: got a model, want a refusal", c->name);
        if (strstr(err, c->want) == NULL)
            fail_msg("%s: got error \"%s\", want \"%s\"", c->name, err, c->want);
        synth_free(&s);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_corrupt_refused),
        cmocka_unit_test(test_failed_save),
        cmocka_unit_test(test_determinism),
        cmocka_unit_test(test_batch_equals_single),
        cmocka_unit_test(test_separable_and_pool),
        cmocka_unit_test(test_distinct_features),
        cmocka_unit_test(test_bad_training_input),
    };

    return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}
