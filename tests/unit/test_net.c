/*
 * test_net.c - the network alone: forward pass against a naive double-precision
 * reference, the head, seeded initialisation, dims validation, bit-identical
 * training, falling loss, that h alone (without z) separates a synthetic
 * set, which per-user head retraining relies on, and the online linear step
 * against net_train() of one example.
 */
#include "config.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "net.h"
#include "synth.h"

static const struct net_dims small = { 10, 6, 8, 5 };

/* The formula of net.h, written out naively in double precision. */
static double
ref_forward(const struct net *n, const uint32_t *ids, size_t k, double *h, double *z)
{
    const struct net_dims *d = &n->dims;
    double e[NET_MAX_EMB_DIM] = { 0 }, logit;
    size_t i, j, c;

    *z = 0;
    for (i = 0; i < k; i++) {
        *z += n->lin[ids[i] % (1u << d->lin_bits)];
        for (c = 0; c < d->emb_dim; c++)
            e[c] += n->emb[(size_t) (ids[i] % (1u << d->emb_bits)) * d->emb_dim + c];
    }
    for (c = 0; c < d->emb_dim && k > 0; c++)
        e[c] /= (double) k;
    if (k > 0)
        *z /= sqrt((double) k);
    logit = n->head[d->hidden + 1] + n->head[d->hidden] * *z;
    for (j = 0; j < d->hidden; j++) {
        double a = n->b1[j];

        for (c = 0; c < d->emb_dim; c++)
            a += n->w1[j * d->emb_dim + c] * e[c];
        h[j] = tanh(a);
        logit += n->head[j] * h[j];
    }
    return logit;
}

struct fwd_case {
    const char *name;
    uint32_t ids[8];
    size_t n;
};

static const struct fwd_case fwd_cases[] = {
    { "no ids", { 0 }, 0 },
    { "one id", { 17 }, 1 },
    { "ids beyond both tables wrap", { 5, 1024 + 5, 0xffffffffu, 70000 }, 4 },
    { "unsorted ids", { 900, 3, 77, 12, 4000 }, 5 },
    { "id 0", { 0, 1 }, 2 },
};

static void
test_forward_matches_reference(void **state)
{
    struct net n;
    size_t i, j;

    assert_int_equal(net_alloc(&n, &small, 42), 0);
    /* Give the linear table and biases non-zero values so that every term
     * of the formula is exercised. */
    for (i = 0; i < (1u << small.lin_bits); i++)
        n.lin[i] = (float) ((int) (i % 13) - 6) * 0.01f;
    for (j = 0; j < small.hidden; j++)
        n.b1[j] = 0.05f * (float) j;
    n.head[small.hidden + 1] = -0.3f;
    for (i = 0; i < sizeof(fwd_cases) / sizeof(fwd_cases[0]); i++) {
        const struct fwd_case *c = &fwd_cases[i];
        float h[NET_MAX_HIDDEN], z, logit;
        double rh[NET_MAX_HIDDEN], rz, rlogit;

        logit = net_forward(&n, c->ids, c->n, h, &z);
        rlogit = ref_forward(&n, c->ids, c->n, rh, &rz);
        if (fabs(logit - rlogit) > 1e-5)
            fail_msg("%s: got logit %.9g, want %.9g", c->name, logit, rlogit);
        if (fabs(z - rz) > 1e-5)
            fail_msg("%s: got z %.9g, want %.9g", c->name, z, rz);
        for (j = 0; j < small.hidden; j++)
            if (fabs(h[j] - rh[j]) > 1e-5)
                fail_msg("%s: got h[%zu] %.9g, want %.9g", c->name, j, h[j], rh[j]);
        /* NULL outputs are allowed and do not change the logit. */
        if (net_forward(&n, c->ids, c->n, NULL, NULL) != logit)
            fail_msg("%s: logit differs without h and z outputs", c->name);
        if (net_head(n.head, small.hidden, h, z) != logit)
            fail_msg("%s: net_head over [h; z] differs from net_forward", c->name);
    }
    net_release(&n);
    net_release(&n);    /* an emptied net may be released again */
}

static void
test_head(void **state)
{
    const float head[NET_HEAD_LEN(3)] = { 1.0f, -2.0f, 0.5f, 3.0f, -1.0f };
    const float h[3] = { 0.5f, 0.25f, -1.0f };
    float got = net_head(head, 3, h, 2.0f);
    float want = 0.5f - 0.5f - 0.5f + 6.0f - 1.0f;

    if (got != want)
        fail_msg("got %g, want %g", got, want);
}

static void
test_alloc_seeded(void **state)
{
    struct net a, b, c;
    size_t n_emb = ((size_t) 1 << small.emb_bits) * small.emb_dim;

    assert_int_equal(net_alloc(&a, &small, 1), 0);
    assert_int_equal(net_alloc(&b, &small, 1), 0);
    assert_int_equal(net_alloc(&c, &small, 2), 0);
    assert_int_equal(a.owned, 1);
    assert_memory_equal(a.emb, b.emb, n_emb * sizeof(float));
    assert_memory_equal(a.w1, b.w1, small.hidden * small.emb_dim * sizeof(float));
    assert_memory_equal(a.head, b.head, NET_HEAD_LEN(small.hidden) * sizeof(float));
    if (memcmp(a.emb, c.emb, n_emb * sizeof(float)) == 0)
        fail_msg("seeds 1 and 2 gave the same embeddings, want different");
    if (a.head[small.hidden] != 1.0f)
        fail_msg("got initial v_z %g, want 1", a.head[small.hidden]);
    net_release(&a);
    net_release(&b);
    net_release(&c);
}

struct dims_case {
    const char *name;
    struct net_dims d;
    int want_valid;
};

static const struct dims_case dims_cases[] = {
    { "small", { 10, 6, 8, 5 }, 1 },
    { "defaults", { 22, 18, 32, 16 }, 1 },
    { "lin_bits 0", { 0, 6, 8, 5 }, 0 },
    { "lin_bits too large", { NET_MAX_LIN_BITS + 1, 6, 8, 5 }, 0 },
    { "emb_bits too large", { 10, NET_MAX_EMB_BITS + 1, 8, 5 }, 0 },
    { "emb_dim 0", { 10, 6, 0, 5 }, 0 },
    { "emb_dim not a multiple of 4", { 10, 6, 10, 5 }, 0 },
    { "emb_dim too wide", { 10, 6, NET_MAX_EMB_DIM + 1, 5 }, 0 },
    { "hidden 0", { 10, 6, 8, 0 }, 0 },
    { "hidden too wide", { 10, 6, 8, NET_MAX_HIDDEN + 1 }, 0 },
    { "embedding table over 2^30 floats", { 10, 24, 256, 5 }, 0 },
};

static void
test_dims_valid(void **state)
{
    size_t i;

    for (i = 0; i < sizeof(dims_cases) / sizeof(dims_cases[0]); i++) {
        const struct dims_case *c = &dims_cases[i];
        struct net n;
        int got = net_dims_valid(&c->d);

        if (got != c->want_valid)
            fail_msg("%s: got valid %d, want %d", c->name, got, c->want_valid);
        if (!c->want_valid) {
            if (net_alloc(&n, &c->d, 1) != -1)
                fail_msg("%s: net_alloc accepted invalid dims", c->name);
            assert_null(n.lin);
        }
    }
}

static void
weights_equal(const struct net *a, const struct net *b, int *same)
{
    const struct net_dims *d = &a->dims;

    *same = memcmp(a->lin, b->lin, ((size_t) 1 << d->lin_bits) * sizeof(float)) == 0
        && memcmp(a->emb, b->emb, ((size_t) 1 << d->emb_bits) * d->emb_dim * sizeof(float)) == 0
        && memcmp(a->w1, b->w1, (size_t) d->hidden * d->emb_dim * sizeof(float)) == 0
        && memcmp(a->b1, b->b1, d->hidden * sizeof(float)) == 0
        && memcmp(a->head, b->head, NET_HEAD_LEN(d->hidden) * sizeof(float)) == 0;
}

struct losses {
    double loss[32];
    uint32_t calls;
};

static void
record_loss(void *arg, uint32_t epoch, uint32_t epochs, double loss)
{
    struct losses *l = arg;

    assert_int_equal(epoch, l->calls + 1);
    assert_true(epoch <= epochs);
    l->loss[l->calls++] = loss;
}

static void
test_train_deterministic_and_learns(void **state)
{
    struct synth s;
    struct net a, b, c;
    struct net_train_opts o;
    struct net_train_summary sa, sb;
    struct losses la = { { 0 }, 0 };
    int same;

    assert_int_equal(synth_make(&s, 60, 40, 15, 25, 300, 3), 0);
    net_train_opts_default(&o);
    o.epochs = 6;
    o.seed = 9;
    assert_int_equal(net_alloc(&a, &small, o.seed), 0);
    assert_int_equal(net_alloc(&b, &small, o.seed), 0);
    assert_int_equal(net_alloc(&c, &small, o.seed), 0);
    o.progress = record_loss;
    o.arg = &la;
    assert_int_equal(net_train(&a, s.ex, s.n, &o, &sa), 0);
    o.progress = NULL;
    assert_int_equal(net_train(&b, s.ex, s.n, &o, &sb), 0);
    weights_equal(&a, &b, &same);
    if (!same)
        fail_msg("two trainings with seed 9: got different weights, want identical");
    if (sa.loss != sb.loss || sa.epochs != 6)
        fail_msg("summaries: got loss %.9g/%.9g epochs %u, want equal losses, 6 epochs",
                 sa.loss, sb.loss, sa.epochs);
    assert_int_equal(la.calls, 6);
    if (!(la.loss[5] < la.loss[0] * 0.5))
        fail_msg("loss went from %.6f to %.6f, want it at least halved", la.loss[0],
                 la.loss[5]);
    if (fabs(la.loss[5] - sa.loss) > 1e-12)
        fail_msg("summary loss %.9g, want the last epoch's %.9g", sa.loss, la.loss[5]);
    o.seed = 10;
    assert_int_equal(net_train(&c, s.ex, s.n, &o, NULL), 0);
    weights_equal(&a, &c, &same);
    if (same)
        fail_msg("shuffle seeds 9 and 10: got identical weights, want different");
    net_release(&a);
    net_release(&b);
    net_release(&c);
    synth_free(&s);
}

/* Per-user heads are fitted on [h; z]; the dense path must be useful on its
 * own.  Fit a logistic regression on h alone over the training messages (plain
 * full-batch gradient descent, as a per-user fitter would, in double) and score
 * unseen messages with it; the linear path z alone must separate too.  Chance
 * is 0.5; the synthetic signal is 8 class ids among 48. */
static double
auc_of_lr_on_h(const struct net *n, const struct synth *s, const struct synth *probe)
{
    uint32_t H = n->dims.hidden, j;
    double w[NET_MAX_HIDDEN + 1] = { 0 }, auc;
    float *x = malloc(s->n * H * sizeof(float)), *sc = malloc(probe->n * sizeof(float));
    size_t i;
    int it;

    assert_non_null(x);
    assert_non_null(sc);
    for (i = 0; i < s->n; i++)
        net_forward(n, s->ex[i].ids, s->ex[i].n, x + i * H, NULL);
    for (it = 0; it < 300; it++) {
        double g[NET_MAX_HIDDEN + 1] = { 0 };

        for (i = 0; i < s->n; i++) {
            double a = w[H], q;

            for (j = 0; j < H; j++)
                a += w[j] * x[i * H + j];
            q = 1.0 / (1.0 + exp(-a)) - s->ex[i].spam;
            for (j = 0; j < H; j++)
                g[j] += q * x[i * H + j];
            g[H] += q;
        }
        for (j = 0; j <= H; j++)
            w[j] -= g[j] / (double) s->n;
    }
    for (i = 0; i < probe->n; i++) {
        float h[NET_MAX_HIDDEN];
        double a = w[H];

        net_forward(n, probe->ex[i].ids, probe->ex[i].n, h, NULL);
        for (j = 0; j < H; j++)
            a += w[j] * h[j];
        sc[i] = (float) a;
    }
    auc = synth_auc(sc, probe->ex, probe->n);
    free(x);
    free(sc);
    return auc;
}

static void
test_h_alone_predictive(void **state)
{
    struct synth s, probe;
    struct net n;
    struct net_train_opts o;
    const struct net_dims d = { 14, 10, 16, 8 };
    float *by_z;
    double auc_h, auc_z;
    size_t i;

    assert_int_equal(synth_make(&s, 200, 200, 8, 40, 400, 12), 0);
    assert_int_equal(synth_make(&probe, 100, 100, 8, 40, 400, 13), 0);
    net_train_opts_default(&o);
    o.epochs = 5;
    assert_int_equal(net_alloc(&n, &d, o.seed), 0);
    assert_int_equal(net_train(&n, s.ex, s.n, &o, NULL), 0);
    by_z = malloc(probe.n * sizeof(float));
    assert_non_null(by_z);
    for (i = 0; i < probe.n; i++)
        net_forward(&n, probe.ex[i].ids, probe.ex[i].n, NULL, &by_z[i]);
    auc_h = auc_of_lr_on_h(&n, &s, &probe);
    auc_z = synth_auc(by_z, probe.ex, probe.n);
    if (auc_h < 0.97)
        fail_msg("logistic regression on h alone: got AUC %.4f, want >= 0.97", auc_h);
    if (auc_z < 0.99)
        fail_msg("linear path alone: got AUC %.4f, want >= 0.99", auc_z);
    free(by_z);
    net_release(&n);
    synth_free(&s);
    synth_free(&probe);
}

/* net_step_linear() against its definition: net_train() of the one example
 * with epochs 1, lr_dense 0 and aux 0 gives the same linear weights bit for bit
 * (also when ids share a slot, which then share an accumulator), and the dense
 * path and head stay untouched. */
struct step_case {
    const char *name;
    uint32_t ids[8];
    uint32_t n;         /* > 8: that many ids i * 7 + 1 instead */
    uint8_t spam;
};

static const struct step_case step_cases[] = {
    { "spam, distinct slots", { 3, 77, 500, 900 }, 4, 1 },
    { "ham, distinct slots", { 3, 77, 500, 900 }, 4, 0 },
    { "ids sharing a slot", { 5, 70, 1024 + 5, 2048 + 5 }, 4, 1 },
    { "one id", { 17 }, 1, 0 },
    { "no ids", { 0 }, 0, 1 },
    { "300 ids (slot table grows)", { 0 }, 300, 1 },
};

static void
test_step_linear_matches_train(void **state)
{
    size_t n_lin = (size_t) 1 << small.lin_bits;
    size_t n_emb = ((size_t) 1 << small.emb_bits) * small.emb_dim;
    size_t i, j;

    for (i = 0; i < sizeof(step_cases) / sizeof(step_cases[0]); i++) {
        const struct step_case *c = &step_cases[i];
        uint32_t many[300];
        struct net_example ex = { c->ids, c->n, c->spam };
        struct net a, b, orig;
        struct net_train_opts o;
        size_t moved = 0;

        if (c->n > 8) {
            for (j = 0; j < c->n; j++)
                many[j] = (uint32_t) j * 7 + 1;
            ex.ids = many;
        }
        assert_int_equal(net_alloc(&a, &small, 5), 0);
        assert_int_equal(net_alloc(&b, &small, 5), 0);
        assert_int_equal(net_alloc(&orig, &small, 5), 0);
        for (j = 0; j < n_lin; j++)     /* non-zero weights: the L2 term counts */
            a.lin[j] = b.lin[j] = orig.lin[j] = (float) ((int) (j % 11) - 5) * 0.02f;
        net_train_opts_default(&o);
        o.epochs = 1;
        o.lr = 0.1f;
        o.lr_dense = 0;
        o.aux = 0;
        assert_int_equal(net_train(&a, &ex, 1, &o, NULL), 0);
        assert_int_equal(net_step_linear(&b, &ex, o.lr, o.l2), 0);
        for (j = 0; j < n_lin; j++) {
            if (memcmp(&a.lin[j], &b.lin[j], sizeof(float)) != 0)
                fail_msg("%s: lin[%zu] got %.9g, want %.9g (net_train)", c->name, j,
                         b.lin[j], a.lin[j]);
            moved += b.lin[j] != orig.lin[j];
        }
        if ((c->n > 0) != (moved > 0))
            fail_msg("%s: %zu linear weights moved, want %s", c->name, moved,
                     c->n > 0 ? "some" : "none");
        if (memcmp(b.emb, orig.emb, n_emb * sizeof(float)) != 0
            || memcmp(b.w1, orig.w1, (size_t) small.hidden * small.emb_dim * sizeof(float)) != 0
            || memcmp(b.b1, orig.b1, small.hidden * sizeof(float)) != 0
            || memcmp(b.head, orig.head, NET_HEAD_LEN(small.hidden) * sizeof(float)) != 0)
            fail_msg("%s: the dense path or the head moved, want them untouched", c->name);
        net_release(&a);
        net_release(&b);
        net_release(&orig);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forward_matches_reference),
        cmocka_unit_test(test_head),
        cmocka_unit_test(test_alloc_seeded),
        cmocka_unit_test(test_dims_valid),
        cmocka_unit_test(test_train_deterministic_and_learns),
        cmocka_unit_test(test_h_alone_predictive),
        cmocka_unit_test(test_step_linear_matches_train),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
