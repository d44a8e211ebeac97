/*
 * proto.c - issue 16 research: a prototype of the next per-user learner,
 * benchmarked against the base, today's adapt_fit, pooled retraining and a
 * target-only word LR on the splits the issue names.  Bench code, never
 * product: the design measured here is to be ported into the restructured
 * adapt/ (see doc/design-adapt-next.md).
 *
 *   proto --split loo|sa-enron|enron-sa|sa-temporal [--enron DIR] [--sa DIR]
 *         [--sa-index FILE]
 *         --out DIR [--users 1,2,3] [--ks 0,10,50,200] [--designs full,no-rw,...]
 *         [--fit-pool N] [--no-pooled 1] [--no-adapted 1] [--time-refit 1]
 *         [--lam-grid L1,L2,..] [--a-grid A1,..] [--cv-metric auc|loss] [--val 0|1]
 *         [--mu M] [--lam L] [--gamma G] [--dom-l2 L] [--clip C]
 *         [--pseudo-conf P] [--pseudo-self S] [--pseudo-l2 L] [--pseudo W]
 *         [--pseudo-keep N] [--resid-l2 L] [--st-conf P]
 *
 * --pseudo-conf/-self/-l2, --pseudo, --pseudo-keep and --resid-l2 set the
 * stage U options of adapt_opts (adapt.h) for the product rows; --st-conf P
 * runs the research designs at k = 0 on pseudo-labels (the history messages
 * the base scores beyond probability P or 1 - P, labelled by its side).
 *
 * Splits: loo, Enron leave one user out (source = the other five); sa-enron,
 * source = the whole SpamAssassin corpus, user = enronN in file-number order;
 * enron-sa, source = enron1..6, user = the SpamAssassin corpus in the order of
 * --sa-index (bench/trec/date_index.py output: Date order); sa-temporal, as
 * loo.c --sa, source = the older SA groups (easy-ham-1, hard-ham-1, spam-1),
 * user "sa-new" = the newer (easy-ham-2, spam-2) in the order of their mbox
 * "From " times (or of --sa-index).  Like loo.c, the
 * user's mail splits in arrival order into history (first half: all of it
 * unlabelled, its first k labelled) and test (second half).
 *
 * The learner (a "design" row; see struct design):
 *
 *   user logit(x) = a * base(x) + c + delta . [h; z] + val(x) sum_{t in x} r[t]
 *
 * base(x) the global head's logit, val(x) = 1/sqrt(#ids).  Fitted by one
 * weighted L2 logistic regression (lr.h) over the user's k labels (class-
 * balanced, total weight 1) and, when the design uses the pool, the source
 * pool's messages (feature ids and (h, z)) with total weight gamma, each
 * weighted by beta(x) from a domain classifier on the token features (pool vs
 * the user's unlabelled history), class-balanced within the pool.  a, the
 * trust in the base, is a hyperparameter (fixed while fitting: a fitted a
 * overfits toward the base's large logits); the fit's penalties are
 * mu |delta|^2 and lam |r|^2 (c free).  a, lam and gamma are chosen by 5-fold
 * cross-validation on the labels (--cv-metric: pooled out-of-fold AUC, or
 * class-balanced log loss) from cv_min labels on; below it a = 1, lam and
 * gamma the defaults.  Designs: see designs[] (the ablations switch the pool,
 * beta, a/delta and r off one at a time).  --val 1 makes token values 1
 * (default 1/sqrt(#ids), like today's residual).  The vocabulary is the
 * exact feature ids of the pool and the history (no hashing; the product's
 * residual hashes them per user).
 *
 * Output like loo.c: OUT/scores.tsv (user, k, row, spam, logit), per user
 * OUT/USER/{source.spam,source.ham,history,history.labels,test,test.labels}
 * for the bogofilter rows (bench/adapt/proto/metrics.py), OUT/USER/threshold
 * (the shipped threshold as a logit); fit details on stderr.  Also
 * OUT/reservoir.tsv (user, k, row, spam, logit, labelled: the history as
 * refit_oppoint scores it under each product row's published model) and
 * OUT/model_thresholds.tsv (user, the base's threshold as a logit; corpus_train()
 * here does not cross-fit, so it is 0.5, not what `spamshift train` ships),
 * read by bench/adapt/proto/thr.py to compare threshold estimators offline.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "adapt.h"
#include "features.h"
#include "model.h"
#include "auc.h"
#include "corpus.h"
#include "lr.h"
#include "oppoint.h"
#include "refit.h"
#include "gate.h"
#include "labels.h"

#define MAX_USERS 6
#define SA_USER 10
#define SA_OLD 11           /* sa-temporal: the older SA groups, the source */

static struct corpus cp;

static int
cmp_path(const void *a, const void *b)
{
    return strcmp(((const struct corpus_msg *) a)->path, ((const struct corpus_msg *) b)->path);
}

/* --sa-index: the SA messages' order is their line in the index. */
static void
order_by_index(const char *index)
{
    FILE *f = fopen(index, "r");
    char line[8192];
    long pos = 0;

    if (f == NULL)
        corpus_die("cannot read --sa-index");
    qsort(cp.msgs, cp.n, sizeof(*cp.msgs), cmp_path);
    while (fgets(line, sizeof(line), f)) {
        char *p = strchr(line, ' ');
        struct corpus_msg key, *m;

        if (p == NULL)
            continue;
        p++;
        p[strcspn(p, "\n")] = 0;
        key.path = p;
        m = bsearch(&key, cp.msgs, cp.n, sizeof(*cp.msgs), cmp_path);
        if (m != NULL)
            m->order = ++pos;
    }
    fclose(f);
}

/* ---- the user's data as the learner sees it ---- */

/* One message: dense [1, h (d), z, base logit] and its ids as columns of the
 * user's vocabulary (ids outside it dropped; val counts all ids). */
struct ex {
    float *dense;
    uint32_t *col;
    uint32_t n;
    float val;
    double base;
    uint8_t spam;
};

static uint32_t *vocab;
static size_t n_vocab;
static int val_mode;            /* --val: 0, 1/sqrt(#ids); 1, 1 (binary) */
static int cv_auc;              /* --cv-metric auc: pooled out-of-fold AUC, else log loss */

static int
cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *) a, y = *(const uint32_t *) b;

    return (x > y) - (x < y);
}

static void
build_vocab(struct corpus_msg **a, size_t na, struct corpus_msg **b, size_t nb)
{
    size_t tot = 0, i, j, w = 0;

    for (i = 0; i < na; i++)
        tot += a[i]->n;
    for (i = 0; i < nb; i++)
        tot += b[i]->n;
    free(vocab);
    vocab = corpus_calloc(tot, sizeof(uint32_t));
    for (i = 0; i < na; i++)
        for (j = 0; j < a[i]->n; j++)
            vocab[w++] = a[i]->ids[j];
    for (i = 0; i < nb; i++)
        for (j = 0; j < b[i]->n; j++)
            vocab[w++] = b[i]->ids[j];
    qsort(vocab, w, sizeof(uint32_t), cmp_u32);
    for (i = 0, j = 0; i < w; i++)
        if (j == 0 || vocab[j - 1] != vocab[i])
            vocab[j++] = vocab[i];
    n_vocab = j;
}

static void
make_ex(const struct model *base, const struct corpus_msg *m, struct ex *e)
{
    struct adapt_example a;
    uint32_t d = base->net.dims.hidden, j;

    memset(&a, 0, sizeof(a));
    a.ids = m->ids;
    a.n = m->n;
    adapt_represent(base, &a);
    e->dense = corpus_calloc(d + 3, sizeof(float));
    e->base = adapt_logit(base, NULL, a.h, a.z, m->ids, m->n);
    e->dense[0] = 1;
    memcpy(e->dense + 1, a.h, d * sizeof(float));
    e->dense[d + 1] = a.z;
    e->dense[d + 2] = (float) e->base;
    e->col = corpus_calloc(m->n, sizeof(uint32_t));
    e->n = 0;
    for (j = 0; j < m->n; j++) {
        uint32_t *p = bsearch(&m->ids[j], vocab, n_vocab, sizeof(uint32_t), cmp_u32);

        if (p != NULL)
            e->col[e->n++] = (uint32_t) (p - vocab);
    }
    e->val = val_mode ? 1.0f : m->n ? 1.0f / sqrtf((float) m->n) : 0;
    e->spam = m->spam;
}

static void
free_ex(struct ex *e, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        free(e[i].dense);
        free(e[i].col);
    }
    free(e);
}

static double
auc_of(const double *s, const uint8_t *y, size_t n)
{
    return auc_double(s, y, n);
}

/* ---- the domain classifier on token features: beta for the pool ---- */

struct domain {
    double auc;
    double ess;
    double seconds;
};

static void
domain_weights(const struct ex *pool, size_t n_pool, const struct ex *unl, size_t n_unl,
               double l2, double clip, double *beta, struct domain *dm)
{
    size_t n = n_pool + n_unl, i, nh = 0, n_tr[2] = { 0, 0 };
    struct lr_row *rows = corpus_calloc(n, sizeof(*rows));
    double *th = corpus_calloc(1 + n_vocab, sizeof(double)), pen = 1e-6, *s, sum = 0, sq = 0;
    uint8_t *y;
    struct lr_problem pb;
    double t0 = corpus_cpu_now();

    for (i = 0; i < n; i++) {
        const struct ex *e = i < n_pool ? &pool[i] : &unl[i - n_pool];

        rows[i].dense = e->dense;           /* column 0: the constant 1 */
        rows[i].col = e->col;
        rows[i].n = e->n;
        rows[i].val = e->val;
        rows[i].y = i >= n_pool;
        if (i % 5 != 4)
            n_tr[rows[i].y]++;
    }
    for (i = 0; i < n; i++)
        rows[i].w = i % 5 == 4 ? 0 : 0.5 / (double) n_tr[rows[i].y];
    memset(&pb, 0, sizeof(pb));
    pb.rows = rows;
    pb.n = n;
    pb.p = 1;
    pb.m = n_vocab;
    pb.pen = &pen;
    pb.r_pen = l2;
    lr_fit(&pb, th, 200, 1e-6);
    s = corpus_calloc(n, sizeof(double));
    y = corpus_calloc(n, 1);
    for (i = 0; i < n; i++)
        if (i % 5 == 4) {
            s[nh] = lr_logit(&pb, th, &rows[i]);
            y[nh++] = rows[i].y;
        }
    dm->auc = auc_of(s, y, nh);
    for (i = 0; i < n_pool; i++) {
        beta[i] = exp(lr_logit(&pb, th, &rows[i]));
        sum += beta[i];
    }
    for (i = 0; i < n_pool; i++)
        beta[i] = fmin(beta[i] * (double) n_pool / sum, clip);
    sum = 0;
    for (i = 0; i < n_pool; i++)
        sum += beta[i];
    for (i = 0; i < n_pool; i++) {
        beta[i] *= (double) n_pool / sum;
        sq += beta[i] * beta[i];
    }
    dm->ess = (double) n_pool * n_pool / sq;
    dm->seconds = corpus_cpu_now() - t0;
    free(rows);
    free(th);
    free(s);
    free(y);
}

/* ---- the per-user learner ---- */

struct design {
    const char *name;
    int head;       /* 0: a = 1 fixed, bias c only; 1: a (CV) and c; 2: a (CV), c and delta */
    int tok;        /* fit r */
    int pool;       /* the pool joins the fit */
    int rw;         /* pool weighted by beta (else uniformly) */
    int pool_base;  /* pool rows carry the base logit and (h, z) (else words only) */
    int no_base;    /* target-only LR: no base at all (a = 0) */
};

static const struct design designs[] = {
    { "full", 2, 1, 1, 1, 1, 0 },
    { "no-rw", 2, 1, 1, 0, 1, 0 },
    { "no-head", 0, 1, 1, 1, 1, 0 },
    { "no-tok", 2, 0, 1, 1, 1, 0 },
    { "ac-pool", 1, 1, 1, 1, 1, 0 },
    { "words-pool", 2, 1, 1, 1, 0, 0 },
    { "words-pool-norw", 2, 1, 1, 0, 0, 0 },
    { "stack", 2, 1, 0, 0, 0, 0 },
    { "stack-ac", 1, 1, 0, 0, 0, 0 },
    { "stack-nohead", 0, 1, 0, 0, 0, 0 },
    { "target-lr", 0, 1, 0, 0, 0, 1 },
};

struct learn_opts {
    double mu, lam, gamma;
    int cv_min;
    double lam_grid[8];
    int n_lam;
    double gamma_grid[4];
    int n_gamma;
    double a_grid[6];
    int n_a;
};

/* A fitted user model: logit = a base + theta_dense . dense + val sum r[col]. */
struct fitted {
    double *theta;      /* p dense then n_vocab sparse */
    uint32_t p;
    double a, lam, gamma, cv_loss;
    int cv;
    double seconds;
};

static uint32_t hidden;
static int32_t *colmap;         /* n_vocab: compact index or -1 */
static uint32_t *colback;       /* compact index -> vocabulary column */

static uint32_t
design_p(const struct design *ds)
{
    return ds->head == 2 ? hidden + 2 : 1;
}

/* Fill rows: labels (indices lab[0..n_lab) of fb) then the pool; the rows'
 * columns are compacted into cols (the touched columns, colback). */
static size_t
make_rows(const struct design *ds, double a, const struct ex *fb, const size_t *lab,
          size_t n_lab, const struct ex *pool, size_t n_pool, const double *beta, double gamma,
          const float *zero_dense, struct lr_row *rows, uint32_t **cols, size_t *m)
{
    size_t n_cls[2] = { 0, 0 }, i, w = 0, nnz = 0;
    double bsum[2] = { 0, 0 };
    int use_pool = ds->pool && gamma > 0;
    uint32_t *c, j;

    for (i = 0; i < n_lab; i++)
        nnz += fb[lab[i]].n;
    for (i = 0; use_pool && i < n_pool; i++)
        nnz += pool[i].n;
    c = *cols = corpus_calloc(ds->tok ? nnz : 1, sizeof(uint32_t));
    *m = 0;
    for (i = 0; i < n_lab; i++)
        n_cls[fb[lab[i]].spam]++;
    for (i = 0; i < n_lab + (use_pool ? n_pool : 0); i++) {
        const struct ex *e = i < n_lab ? &fb[lab[i]] : &pool[i - n_lab];
        struct lr_row *r = &rows[w++];
        int in_pool = i >= n_lab;

        r->dense = in_pool && !ds->pool_base ? zero_dense : e->dense;
        r->col = c;
        r->n = ds->tok ? e->n : 0;
        for (j = 0; j < r->n; j++) {
            uint32_t v = e->col[j];

            if (colmap[v] < 0) {
                colmap[v] = (int32_t) *m;
                colback[(*m)++] = v;
            }
            *c++ = (uint32_t) colmap[v];
        }
        r->val = e->val;
        r->off = (in_pool && !ds->pool_base) ? 0 : a * e->base;
        r->y = e->spam;
        if (!in_pool)
            r->w = n_cls[0] && n_cls[1] ? 0.5 / (double) n_cls[e->spam] : 1.0 / (double) n_lab;
    }
    for (i = 0; use_pool && i < n_pool; i++)
        bsum[pool[i].spam] += ds->rw ? beta[i] : 1;
    for (i = 0; use_pool && i < n_pool; i++)
        rows[n_lab + i].w = gamma * 0.5 * (ds->rw ? beta[i] : 1) / bsum[pool[i].spam];
    for (i = 0; i < *m; i++)
        colmap[colback[i]] = -1;
    return w;
}

/* One fit at given a, lam, gamma; theta (p + n_vocab) is the start and the result. */
static void
fit_once(const struct design *ds, const struct learn_opts *lo, double a, double lam,
         double gamma, const struct ex *fb, const size_t *lab, size_t n_lab,
         const struct ex *pool, size_t n_pool, const double *beta, double *theta)
{
    uint32_t p = design_p(ds), j, *cols;
    struct lr_row *rows = corpus_calloc(n_lab + n_pool, sizeof(*rows));
    double pen[NET_MAX_HIDDEN + 3], *th;
    float *zero = corpus_calloc(hidden + 3, sizeof(float));
    struct lr_problem pb;
    size_t m, i;

    zero[0] = 1;
    memset(&pb, 0, sizeof(pb));
    pb.n = make_rows(ds, a, fb, lab, n_lab, pool, n_pool, beta, gamma, zero, rows, &cols, &m);
    pb.rows = rows;
    pb.p = p;
    pb.m = m;
    for (j = 0; j < p; j++)
        pen[j] = j == 0 ? 1e-6 : lo->mu;
    pb.pen = pen;
    pb.r_pen = lam;
    th = corpus_calloc(p + m, sizeof(double));
    memcpy(th, theta, p * sizeof(double));
    for (i = 0; i < m; i++)
        th[p + i] = theta[p + colback[i]];
    if (pb.n > 0)
        lr_fit(&pb, th, 300, 1e-7);
    memcpy(theta, th, p * sizeof(double));
    memset(theta + p, 0, n_vocab * sizeof(double));
    for (i = 0; i < m; i++)
        theta[p + colback[i]] = th[p + i];
    free(th);
    free(cols);
    free(rows);
    free(zero);
}

static double
row_logit(const struct design *ds, const struct fitted *f, const double *theta,
          double a, const struct ex *e)
{
    uint32_t p = design_p(ds), j;
    double t = a * e->base;

    (void) f;
    for (j = 0; j < p; j++)
        t += theta[j] * e->dense[j];
    if (ds->tok)
        for (j = 0; j < e->n; j++)
            t += theta[p + e->col[j]] * e->val;
    return t;
}

/* a's candidates: 1 without head learning, 0 for target-only, else the grid */
static int
a_grid(const struct design *ds, const struct learn_opts *lo, double *g)
{
    if (ds->no_base) {
        g[0] = 0;
        return 1;
    }
    if (ds->head == 0) {
        g[0] = 1;
        return 1;
    }
    memcpy(g, lo->a_grid, lo->n_a * sizeof(double));
    return lo->n_a;
}

static void
learn(const struct design *ds, const struct learn_opts *lo, const struct ex *fb, size_t k,
      const struct ex *pool, size_t n_pool, const double *beta, struct fitted *out)
{
    size_t dim = design_p(ds) + n_vocab, *lab = corpus_calloc(k, sizeof(size_t)), i;
    size_t n_cls[2] = { 0, 0 };
    double c0 = corpus_cpu_now(), lam = lo->lam, gamma = lo->gamma, best = INFINITY, ag[6];
    double a = ds->no_base ? 0 : 1;
    int na = a_grid(ds, lo, ag);

    for (i = 0; i < k; i++) {
        lab[i] = i;
        n_cls[fb[i].spam]++;
    }
    out->p = design_p(ds);
    out->theta = corpus_calloc(dim, sizeof(double));
    out->cv = 0;
    out->cv_loss = NAN;
    if ((int) k >= lo->cv_min && n_cls[0] >= 2 && n_cls[1] >= 2) {
        int li, gi, ai, gn = ds->pool ? lo->n_gamma : 1, ln = ds->tok ? lo->n_lam : 1, f;
        size_t *tr = corpus_calloc(k, sizeof(size_t));
        double *th[5], *oof = corpus_calloc(k, sizeof(double));
        uint8_t *oy = corpus_calloc(k, 1);

        for (f = 0; f < 5; f++)
            th[f] = corpus_calloc(dim, sizeof(double));
        for (gi = 0; gi < gn; gi++)
            for (ai = 0; ai < na; ai++) {
                for (f = 0; f < 5; f++)
                    memset(th[f], 0, dim * sizeof(double));
                /* lam from strong to weak, each fold warm-started from the last */
                for (li = ln - 1; li >= 0; li--) {
                    double g = ds->pool ? lo->gamma_grid[gi] : 0;
                    double l = ds->tok ? lo->lam_grid[li] : lo->lam, loss = 0, wsum = 0;

                    for (f = 0; f < 5; f++) {
                        size_t nt = 0;

                        for (i = 0; i < k; i++)
                            if ((int) (i % 5) != f)
                                tr[nt++] = i;
                        fit_once(ds, lo, ag[ai], l, g, fb, tr, nt, pool, n_pool, beta, th[f]);
                        for (i = f; i < k; i += 5) {
                            double t = row_logit(ds, out, th[f], ag[ai], &fb[i]);

                            oof[i] = t;
                            oy[i] = fb[i].spam;
                            {
                            double mg = fb[i].spam ? t : -t;
                            double w = 0.5 / (double) n_cls[fb[i].spam];

                            loss += w * (mg > 0 ? log1p(exp(-mg)) : -mg + log1p(exp(mg)));
                            wsum += w;
                            }
                        }
                    }
                    loss /= wsum;
                    if (cv_auc)     /* 1 - AUC, log loss breaking ties */
                        loss = 1 - auc_double(oof, oy, k) + 1e-3 * loss;
                    if (loss < best) {
                        best = loss;
                        lam = l;
                        gamma = g;
                        a = ag[ai];
                    }
                }
            }
        out->cv = 1;
        out->cv_loss = best;
        free(oof);
        free(oy);
        free(tr);
        for (f = 0; f < 5; f++)
            free(th[f]);
    }
    fit_once(ds, lo, a, lam, gamma, fb, lab, k, pool, n_pool, beta, out->theta);
    out->a = a;
    out->lam = lam;
    out->gamma = gamma;
    out->seconds = corpus_cpu_now() - c0;
    free(lab);
}

/* The product rows: adapt_fit with these switches (adapt.h's opts). */
struct variant {
    const char *name;
    int rw, head, resid, labels, no_labels;
};
static const struct variant variants[] = {
    { "adapted", 1, 1, 1, 1, 0 },       /* stage U + stage L, all parts */
    { "ad-m0", 1, 1, 1, 1, 1 },         /* stage U alone: the labels unused */
    { "ad-no-rw", 0, 1, 1, 1, 0 },      /* pool not reweighted */
    { "ad-no-head", 1, 0, 1, 1, 0 },    /* a = 1, c = 0 */
    { "ad-no-tok", 1, 1, 0, 1, 0 },     /* no token weights (nor self-training) */
    { "ad-joint", 1, 1, 1, 0, 0 },      /* the joint fit before stage L */
};

/* ---- main ---- */

int
main(int argc, char **argv)
{
    const char *enron = NULL, *sa = NULL, *out = NULL, *split = "loo", *only = NULL;
    const char *sa_index = NULL;
    long ks[16] = { 0, 10, 50, 200 }, users[MAX_USERS];
    int n_ks = 4, n_users = 0, a, no_pooled = 0, no_adapted = 0, timing = 0, temporal;
    long fit_pool = 4000;
    struct learn_opts lo = { 1e-2, 1e-3, 1.0, 20,
                             { 1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3 }, 6,
                             { 0.1, 1.0 }, 2,
                             { 0, 0.1, 0.3, 1 }, 4 };
    double dom_l2 = 1e-4, clip = 10;
    double ps_conf = -1, ps_self = -1, ps_l2 = -1, ps_w = -1, r_l2 = -1;
    long ps_keep = -1;
    double st_conf = 0;
    char path[8192];
    FILE *scores, *thrs, *resv, *mthr;
    int u;

    corpus_prog = "proto";
    for (a = 1; a < argc; a++) {
        const char *v = a + 1 < argc ? argv[a + 1] : NULL;

        if (v == NULL)
            corpus_die("usage: see the comment at the top of bench/adapt/proto/proto.c");
        if (strcmp(argv[a], "--enron") == 0)
            enron = v;
        else if (strcmp(argv[a], "--sa") == 0)
            sa = v;
        else if (strcmp(argv[a], "--sa-index") == 0)
            sa_index = v;
        else if (strcmp(argv[a], "--out") == 0)
            out = v;
        else if (strcmp(argv[a], "--split") == 0)
            split = v;
        else if (strcmp(argv[a], "--designs") == 0)
            only = v;
        else if (strcmp(argv[a], "--ks") == 0)
            n_ks = corpus_parse_list(v, ks, 16);
        else if (strcmp(argv[a], "--users") == 0)
            n_users = corpus_parse_list(v, users, MAX_USERS);
        else if (strcmp(argv[a], "--fit-pool") == 0)
            fit_pool = strtol(v, NULL, 10);
        else if (strcmp(argv[a], "--no-pooled") == 0)
            no_pooled = atoi(v);
        else if (strcmp(argv[a], "--no-adapted") == 0)
            no_adapted = atoi(v);
        else if (strcmp(argv[a], "--time-refit") == 0)
            timing = atoi(v);
        else if (strcmp(argv[a], "--mu") == 0)
            lo.mu = atof(v);
        else if (strcmp(argv[a], "--lam") == 0)
            lo.lam = atof(v);
        else if (strcmp(argv[a], "--gamma") == 0)
            lo.gamma = atof(v);
        else if (strcmp(argv[a], "--val") == 0)
            val_mode = atoi(v);
        else if (strcmp(argv[a], "--cv-metric") == 0)
            cv_auc = strcmp(v, "auc") == 0;
        else if (strcmp(argv[a], "--lam-grid") == 0) {
            int q;

            lo.n_lam = 0;
            for (q = 0; q < 8 && *v; q++) {
                char *end;

                lo.lam_grid[lo.n_lam++] = strtod(v, &end);
                v = *end == ',' ? end + 1 : end;
            }
        } else if (strcmp(argv[a], "--a-grid") == 0) {
            int q;

            lo.n_a = 0;
            for (q = 0; q < 6 && *v; q++) {
                char *end;

                lo.a_grid[lo.n_a++] = strtod(v, &end);
                v = *end == ',' ? end + 1 : end;
            }
        } else if (strcmp(argv[a], "--dom-l2") == 0)
            dom_l2 = atof(v);
        else if (strcmp(argv[a], "--clip") == 0)
            clip = atof(v);
        else if (strcmp(argv[a], "--pseudo-conf") == 0)
            ps_conf = atof(v);
        else if (strcmp(argv[a], "--pseudo-self") == 0)
            ps_self = atof(v);
        else if (strcmp(argv[a], "--pseudo-l2") == 0)
            ps_l2 = atof(v);
        else if (strcmp(argv[a], "--pseudo") == 0)
            ps_w = atof(v);
        else if (strcmp(argv[a], "--st-conf") == 0)
            st_conf = atof(v);
        else if (strcmp(argv[a], "--pseudo-keep") == 0)
            ps_keep = strtol(v, NULL, 10);
        else if (strcmp(argv[a], "--resid-l2") == 0)
            r_l2 = atof(v);
        else
            corpus_die("unknown option (see the comment at the top of bench/adapt/proto/proto.c)");
        a++;
    }
    temporal = strcmp(split, "sa-temporal") == 0;
    if (out == NULL || (enron == NULL && !temporal) || (strcmp(split, "loo") != 0 && sa == NULL))
        corpus_die("need --out, --enron (but for sa-temporal) and (but for loo) --sa");
    mkdir(out, 0777);
    if (features_global_init() < 0)
        corpus_die("cannot initialise GMime/libxml2");
    for (u = 0; u < MAX_USERS && !temporal; u++) {
        snprintf(path, sizeof(path), "%s/enron%d/ham", enron, u + 1);
        corpus_add_dir(&cp, path, u, 0, 1);
        snprintf(path, sizeof(path), "%s/enron%d/spam", enron, u + 1);
        corpus_add_dir(&cp, path, u, 1, 1);
    }
    if (temporal) {
        /* as bench/adapt/loo --sa: the older groups are the source, the newer
         * the user, in the order of their mbox "From " times (corpus_extract) */
        corpus_add_sa_temporal(&cp, sa, SA_OLD, SA_USER);
        if (sa_index != NULL)
            order_by_index(sa_index);
    } else if (sa != NULL && strcmp(split, "loo") != 0) {
        static const char *const g[] = { "easy-ham-1", "easy-ham-2", "hard-ham-1", "spam-1",
                                         "spam-2" };

        for (u = 0; u < 5; u++) {
            snprintf(path, sizeof(path), "%s/%s", sa, g[u]);
            corpus_add_dir(&cp, path, SA_USER, u >= 3, 1);
        }
        if (sa_index != NULL)
            order_by_index(sa_index);
    }
    if (strcmp(split, "enron-sa") == 0 || temporal) {
        n_users = 1;
        users[0] = SA_USER + 1;
    } else if (n_users == 0)
        for (n_users = 0; n_users < MAX_USERS; n_users++)
            users[n_users] = n_users + 1;
    corpus_extract(&cp, temporal);
    snprintf(path, sizeof(path), "%s/scores.tsv", out);
    if ((scores = fopen(path, "w")) == NULL)
        corpus_die("cannot write scores.tsv");
    fprintf(scores, "user\tk\trow\tspam\tlogit\n");
    snprintf(path, sizeof(path), "%s/thresholds.tsv", out);
    if ((thrs = fopen(path, "w")) == NULL)
        corpus_die("cannot write thresholds.tsv");
    fprintf(thrs, "user\tk\trow\tthreshold\tsource\n");
    /* The reservoir (the observed history) as refit_oppoint scores it under
     * each product row's published model (learned slots left out), with its
     * true labels, and each user's shipped threshold: for studying
     * threshold estimators offline (bench/adapt/proto/thr.py). */
    snprintf(path, sizeof(path), "%s/reservoir.tsv", out);
    if ((resv = fopen(path, "w")) == NULL)
        corpus_die("cannot write reservoir.tsv");
    fprintf(resv, "user\tk\trow\tspam\tlogit\tlabelled\n");
    snprintf(path, sizeof(path), "%s/model_thresholds.tsv", out);
    if ((mthr = fopen(path, "w")) == NULL)
        corpus_die("cannot write model_thresholds.tsv");
    fprintf(mthr, "user\tthreshold\n");

    for (u = 0; u < n_users; u++) {
        int held = (int) users[u] - 1;
        struct corpus_msg **src = corpus_calloc(cp.n, sizeof(*src));
        struct corpus_msg **tgt = corpus_calloc(cp.n, sizeof(*tgt));
        struct corpus_msg **pool_m;
        size_t n_src = 0, n_tgt = 0, n_hist, n_test, n_pool, i, ki;
        struct ex *hist, *test, *pool;
        struct adapt_example *ahist, *atest;
        double *beta, thr, t0;
        struct domain dm;
        struct model *base;
        char udir[4096], uname[64];

        for (i = 0; i < cp.n; i++) {
            int g = cp.msgs[i].user, is_tgt = g == held;
            int is_src = strcmp(split, "loo") == 0 ? g != held && g < MAX_USERS
                : strcmp(split, "sa-enron") == 0 ? g == SA_USER
                : temporal ? g == SA_OLD
                : g < MAX_USERS;

            if (is_tgt)
                tgt[n_tgt++] = &cp.msgs[i];
            else if (is_src)
                src[n_src++] = &cp.msgs[i];
        }
        qsort(tgt, n_tgt, sizeof(*tgt), corpus_cmp_order);
        n_hist = n_tgt / 2;
        n_test = n_tgt - n_hist;
        if (held == SA_USER)
            snprintf(uname, sizeof(uname), temporal ? "sa-new" : "sa");
        else
            snprintf(uname, sizeof(uname), "enron%d", held + 1);
        snprintf(udir, sizeof(udir), "%s/%s", out, uname);
        mkdir(udir, 0777);
        corpus_write_list(udir, "source.spam", src, n_src, 1, 0);
        corpus_write_list(udir, "source.ham", src, n_src, 0, 0);
        corpus_write_list(udir, "history", tgt, n_hist, -1, 0);
        corpus_write_list(udir, "test", tgt + n_hist, n_test, -1, 0);
        corpus_write_list(udir, "history.labels", tgt, n_hist, -1, 1);
        corpus_write_list(udir, "test.labels", tgt + n_hist, n_test, -1, 1);

        t0 = corpus_now();
        snprintf(path, sizeof(path), "%s/base.model", udir);
        base = corpus_base(path, src, n_src);
        hidden = base->net.dims.hidden;
        thr = base->threshold > 0 && base->threshold < 1
            ? log(base->threshold / (1 - base->threshold)) : 0;
        snprintf(path, sizeof(path), "%s/threshold", udir);
        {
            FILE *f = fopen(path, "w");

            if (f == NULL)
                corpus_die("cannot write threshold");
            fprintf(f, "%.9g\n", thr);
            fclose(f);
        }
        /* the learner's pool: an even stride over the source, fit_pool of it */
        n_pool = n_src < (size_t) fit_pool ? n_src : (size_t) fit_pool;
        pool_m = corpus_calloc(n_pool, sizeof(*pool_m));
        for (i = 0; i < n_pool; i++)
            pool_m[i] = src[i * n_src / n_pool];
        build_vocab(pool_m, n_pool, tgt, n_hist);
        free(colmap);
        free(colback);
        colmap = corpus_calloc(n_vocab, sizeof(int32_t));
        colback = corpus_calloc(n_vocab, sizeof(uint32_t));
        for (i = 0; i < n_vocab; i++)
            colmap[i] = -1;
        fprintf(mthr, "%s\t%.9g\n", uname, log(base->threshold / (1 - base->threshold)));
        fprintf(stderr, "proto: %s: base on %zu source messages (%.1f s), learner pool %zu, "
                "vocabulary %zu, history %zu, test %zu\n", uname, n_src, corpus_now() - t0, n_pool,
                n_vocab, n_hist, n_test);
        pool = corpus_calloc(n_pool, sizeof(*pool));
        hist = corpus_calloc(n_hist, sizeof(*hist));
        test = corpus_calloc(n_test, sizeof(*test));
        ahist = corpus_calloc(n_hist, sizeof(*ahist));
        atest = corpus_calloc(n_test, sizeof(*atest));
        for (i = 0; i < n_pool; i++)
            make_ex(base, pool_m[i], &pool[i]);
        for (i = 0; i < n_hist; i++) {
            make_ex(base, tgt[i], &hist[i]);
            ahist[i].ids = tgt[i]->ids;
            ahist[i].n = tgt[i]->n;
            ahist[i].spam = tgt[i]->spam;
            adapt_represent(base, &ahist[i]);
        }
        for (i = 0; i < n_test; i++) {
            make_ex(base, tgt[n_hist + i], &test[i]);
            atest[i].ids = tgt[n_hist + i]->ids;
            atest[i].n = tgt[n_hist + i]->n;
            atest[i].spam = tgt[n_hist + i]->spam;
            adapt_represent(base, &atest[i]);
        }
        beta = corpus_calloc(n_pool, sizeof(double));
        domain_weights(pool, n_pool, hist, n_hist, dom_l2, clip, beta, &dm);
        fprintf(stderr, "proto: %s: token-space domain classifier: held-out AUC %.3f, "
                "ESS %.0f/%zu, %.0f ms\n", uname, dm.auc, dm.ess, n_pool, dm.seconds * 1e3);

        if (timing) {
            /* refit cost at k = 200 with the learner pool given, the domain
             * classifier's beta kept (prep), CV on and off */
            static const char *const tn[] = { "full", "stack-ac", "target-lr" };
            size_t di, k = n_hist < 200 ? n_hist : 200;
            int rep;

            for (di = 0; di < 3; di++) {
                const struct design *ds = NULL;
                size_t q;

                for (q = 0; q < sizeof(designs) / sizeof(designs[0]); q++)
                    if (strcmp(designs[q].name, tn[di]) == 0)
                        ds = &designs[q];
                for (rep = 0; rep < 2; rep++) {
                    struct learn_opts l2 = lo;
                    struct fitted f;
                    double t[5];
                    int r;

                    if (rep == 1)
                        l2.cv_min = 1 << 30;
                    for (r = 0; r < 5; r++) {
                        learn(ds, &l2, hist, k, pool, n_pool, beta, &f);
                        t[r] = f.seconds * 1e3;
                        free(f.theta);
                    }
                    for (r = 1; r < 5; r++) {
                        double x = t[r];
                        int s = r - 1;

                        while (s >= 0 && t[s] > x) {
                            t[s + 1] = t[s];
                            s--;
                        }
                        t[s + 1] = x;
                    }
                    fprintf(stderr, "proto: refit %s %s k=%zu pool %zu%s: CPU median %.1f ms "
                            "(min %.1f, max %.1f)\n", uname, ds->name, k, n_pool,
                            rep == 0 ? ", CV" : ", no CV", t[2], t[0], t[4]);
                }
            }
        }

        for (ki = 0; ki < (size_t) n_ks && !timing; ki++) {
            size_t k = (size_t) ks[ki] < n_hist ? (size_t) ks[ki] : n_hist, di;

            for (i = 0; i < n_test; i++)
                fprintf(scores, "%s\t%zu\tbase\t%d\t%.9g\n", uname, k, test[i].spam,
                        test[i].base);
            /* The product's fit (adapt_fit) and its ablations, each scored
             * at the threshold the product would publish for the user
             * (refit_oppoint: the reservoir = the observed history, the k
             * labels; oppoint_lookup at the default target), through the
             * publish gate as refit_user applies it (gate.h: the current
             * model is the one fitted before any label, M0, published with
             * its operating points; a refused refit leaves it, with the
             * labels' learned slots) */
            for (size_t vi = 0; !no_adapted && vi < sizeof(variants) / sizeof(variants[0]);
                 vi++) {
                const struct variant *vr = &variants[vi];
                struct adapt_opts o;
                struct adapt_fit_stats st;
                struct oppoint_user op, op0;
                struct user_model *um = NULL, *um0 = NULL;
                struct adapt_example *lab = corpus_calloc(k, sizeof(*lab));
                size_t kk = vr->no_labels ? 0 : k;
                double tc, g0 = -1, g1 = -1;
                float uthr, thr0;
                int tsrc, refused = 0;

                if (only != NULL && !corpus_in_list(only, vr->name))
                    continue;
                for (i = 0; i < kk; i++)
                    lab[i] = ahist[i];
                adapt_opts_default(&o);
                if (ps_conf > 0)
                    o.pseudo_conf = (float) ps_conf;
                if (ps_self >= 0)
                    o.pseudo_self = (float) ps_self;
                if (ps_l2 > 0)
                    o.pseudo_l2 = (float) ps_l2;
                if (ps_w >= 0)
                    o.pseudo = (float) ps_w;
                if (ps_keep >= 0)
                    o.pseudo_keep = (uint32_t) ps_keep;
                if (r_l2 > 0)
                    o.resid_l2 = (float) r_l2;
                o.use_reweight = vr->rw;
                o.use_head = vr->head;
                o.use_resid = vr->resid;
                o.labels = vr->labels;
                if (adapt_fit(base, uname, NULL, 0, ahist, n_hist, &o, &um0, &st) < 0
                    || refit_oppoint(base, uname, um0, NULL, 0, ahist, n_hist, &o, &st,
                                     &op0) < 0)
                    corpus_die("adapt_fit: out of memory");
                thr0 = oppoint_lookup(&op0, OPPOINT_TARGET_DEFAULT, base->threshold, NULL);
                tc = corpus_cpu_now();
                if (adapt_fit(base, uname, lab, kk, ahist, n_hist, &o, &um, &st) < 0)
                    corpus_die("adapt_fit: out of memory");
                tc = corpus_cpu_now() - tc;
                if (refit_oppoint(base, uname, um, lab, kk, ahist, n_hist, &o, &st, &op) < 0)
                    corpus_die("refit_oppoint: out of memory");
                uthr = oppoint_lookup(&op, OPPOINT_TARGET_DEFAULT, base->threshold, &tsrc);
                if (kk > 0 && n_hist >= OPPOINT_UNL_MIN) {
                    g0 = gate_fpr(base, um0, um0, thr0, ahist, n_hist);
                    g1 = gate_fpr(base, um0, um, uthr, ahist, n_hist);
                    if (g0 >= 0 && g1 > g0 + GATE_FPR_TOL) {
                        user_model_free(um);
                        if ((um = labels_keep(base, um0, adapt_user_seed(uname), o.resid_bits,
                                              lab, kk)) == NULL)
                            corpus_die("labels_keep: out of memory");
                        uthr = oppoint_lookup(&op0, OPPOINT_TARGET_DEFAULT, base->threshold,
                                              &tsrc);
                        refused = 1;
                    }
                }
                fprintf(thrs, "%s\t%zu\t%s\t%.9g\t%s\n", uname, k, vr->name,
                        log(uthr / (1 - uthr)), oppoint_source_name(tsrc));
                for (i = 0; i < n_hist; i++)
                    fprintf(resv, "%s\t%zu\t%s\t%d\t%.9g\t%d\n", uname, k, vr->name,
                            ahist[i].spam,
                            adapt_logit(base, um, ahist[i].h, ahist[i].z, ahist[i].ids,
                                        ahist[i].n)
                            - adapt_learned_share(um, ahist[i].ids, ahist[i].n), i < kk);
                for (i = 0; i < n_test; i++)
                    fprintf(scores, "%s\t%zu\t%s\t%d\t%.9g\n", uname, k, vr->name,
                            test[i].spam, (double) adapt_logit(base, um, atest[i].h,
                                                               atest[i].z, atest[i].ids,
                                                               atest[i].n));
                fprintf(stderr, "proto: %s k=%zu %-10s [h;z] domain AUC %.3f ESS %.0f/%u "
                        "a %.2f c %.3f lam %g%s%s cv m0 %.4f chosen %.4f learned %u "
                        "thr %.4f (%s) gate FPR %.4f -> %.4f%s %.1f ms\n", uname, k, vr->name,
                        st.domain_auc, st.ess, st.n_pool, st.label_a, st.label_c,
                        st.label_lam, st.labels_identity ? " (M0 kept)" : "",
                        st.cross_validated ? " (CV)" : "", st.label_cv_m0, st.label_cv,
                        st.n_learned, (double) uthr, oppoint_source_name(tsrc), g0, g1,
                        refused ? " REFUSED" : "", tc * 1e3);
                user_model_free(um);
                user_model_free(um0);
                free(lab);
            }
            if (k > 0 && !no_pooled && (only == NULL || corpus_in_list(only, "pooled"))) {
                struct corpus_msg **set = corpus_calloc(n_src + k, sizeof(*set));
                struct model *pm;

                memcpy(set, src, n_src * sizeof(*set));
                memcpy(set + n_src, tgt, k * sizeof(*set));
                if ((pm = corpus_train(set, n_src + k, 1)) == NULL)
                    corpus_die("pooled training failed");
                for (i = 0; i < n_test; i++) {
                    float h[NET_MAX_HIDDEN], z;
                    float l = net_forward(&pm->net, tgt[n_hist + i]->ids,
                                          tgt[n_hist + i]->n, h, &z);

                    fprintf(scores, "%s\t%zu\tpooled\t%d\t%.9g\n", uname, k, test[i].spam,
                            (double) l);
                }
                model_free(pm);
                free(set);
            }
            for (di = 0; di < sizeof(designs) / sizeof(designs[0]); di++) {
                const struct design *ds = &designs[di];
                struct fitted f;

                if (only != NULL && !corpus_in_list(only, ds->name))
                    continue;
                if (ds->no_base && k == 0 && st_conf <= 0)
                    continue;
                if (k == 0 && st_conf > 0) {
                    /* --st-conf: self-training for the research designs at
                     * k = 0: the history messages the base scores beyond
                     * +-logit(st_conf), labelled by the base's side, stand
                     * for the labels (the pool, reweighted by the token-space
                     * domain classifier, as with real labels) */
                    struct ex *ps = corpus_calloc(n_hist, sizeof(*ps));
                    double cl = log(st_conf / (1 - st_conf));
                    size_t np = 0;

                    for (i = 0; i < n_hist; i++)
                        if (fabs(hist[i].base) >= cl) {
                            ps[np] = hist[i];
                            ps[np++].spam = hist[i].base > 0;
                        }
                    learn(ds, &lo, ps, np, pool, n_pool, beta, &f);
                    free(ps);
                } else
                    learn(ds, &lo, hist, k, pool, n_pool, beta, &f);
                for (i = 0; i < n_test; i++)
                    fprintf(scores, "%s\t%zu\t%s\t%d\t%.9g\n", uname, k, ds->name,
                            test[i].spam, row_logit(ds, &f, f.theta, f.a, &test[i]));
                {
                    double dn = 0;
                    size_t nz = 0;
                    uint32_t j;

                    for (j = 1; j < f.p; j++)
                        dn += f.theta[j] * f.theta[j];
                    for (i = 0; ds->tok && i < n_vocab; i++)
                        nz += fabs(f.theta[f.p + i]) > 1e-3;
                    fprintf(stderr, "proto: %s k=%zu %-16s a %.3f c %.3f |delta| %.3f "
                            "r>1e-3 %zu lam %g gamma %g%s cv-loss %.4f  %.0f ms\n", uname, k,
                            ds->name, f.a, f.theta[0], sqrt(dn), nz,
                            f.lam, f.gamma, f.cv ? " (CV)" : "", f.cv_loss, f.seconds * 1e3);
                }
                free(f.theta);
            }
            fflush(scores);
            fflush(thrs);
        }
        model_free(base);
        free_ex(pool, n_pool);
        free_ex(hist, n_hist);
        free_ex(test, n_test);
        free(ahist);
        free(atest);
        free(beta);
        free(pool_m);
        free(src);
        free(tgt);
    }
    fclose(scores);
    fclose(thrs);
    fclose(resv);
    fclose(mthr);
    return 0;
}
