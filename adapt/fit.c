/*
 * fit.c - one user's model over the base model: the head refitted on the
 * beta-weighted source pool and the user's feedback, jointly with a sparse
 * residual over user-hashed feature ids; scoring with it; its blob form.
 *
 * The objective is written out in adapt.h.  It is convex and small: the head
 * has hidden + 2 parameters (exact Newton, adapt_logreg), the residual one per
 * slot the feedback touches (Newton with conjugate gradients: its Hessian is
 * X'DX + c I with X the sparse message-by-slot incidence).  The two blocks are
 * minimised alternately until the objective stops moving; block coordinate
 * descent on a smooth convex function reaches the joint optimum, which the
 * oracle test checks against plain gradient descent.
 *
 * lambda and mu are chosen by k-fold cross-validation on the feedback (held-out
 * log loss) once there are opts->cv_min labels; the CV's joint fits see the
 * pool through one second-order model at the global head (the others a fixed
 * stride subsample), fold by fold with warm starts along the grid; past
 * opts->cv_fb_max labels the folds hold cv_fb_max of them, evenly spread.
 *
 * Where the time goes (bench/results/adapt-refit-2026-11-28.md,
 * adapt-refit-cold-2026-11-28.md): the joint fit re-linearises the pool's
 * loss instead of reading its rows at every Newton step (fit_relin); the dual
 * Newton step is a Cholesky solve with the feedback Gram matrix's inverse; a
 * cold refit at 200 labels splits about evenly between the domain classifier,
 * self-training, the cross-validation and the final fit.
 *
 * Everything here is pure computation: reentrant, deterministic (fixed loop
 * orders, no randomness), allocation failure reported as -1.
 */
#include "config.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <xxhash.h>

#include "adapt.h"
#include "clock.h"

/* The row passes over the pool (lr_pass, pool_pass) spend their time adding
 * rank-one terms to a small Hessian row by row; GCC vectorises that inner
 * loop only beyond -O2's very cheap cost model.  Element by element the sums
 * are the same, in the same order. */
#if defined(__GNUC__) && !defined(__clang__)
#define ROW_PASS __attribute__((optimize("tree-vectorize", "vect-cost-model=dynamic")))
#else
#define ROW_PASS
#endif

/* Two doubles in a vector register (GCC and clang vector extension): the row
 * passes' and the Cholesky's inner loops, written out because a reduction is
 * not vectorised without reassociating it. */
typedef double v2d __attribute__((vector_size(16)));

#define UM_MAGIC 0x4d555053u       /* "SPUM" little-endian */
#define UM_BLOB_VERSION 1u
#define UM_HEADER_LEN 32           /* magic, version, hidden, bits, seed, n, version64 */
#define CV_FOLDS 5
#define OUTER_MAX 60
#define RESID_NEWTON_MAX 30
#define CG_MAX 60
/* fit_resid's stopping rule: the largest gradient component below this.  The
 * residual of real feedback is solved to RESID_GTOL; self-training (weights
 * fitted on pseudo-labels, then cut to the pseudo_keep largest) to SELF_GTOL,
 * where the last Newton step moved the Enron LOO test logits by at most 0.0024
 * and took 40% of the solve (bench/results/adapt-refit-cold-2026-11-28.md). */
#define RESID_GTOL 1e-9
#define SELF_GTOL 1e-3
/* A Newton step taken whole with a decrement below this (relative to the
 * objective) ends the dual solve: convergence is quadratic there, so the step
 * after it would move the objective by about the square of that, far below
 * what a float head or weight can hold; one factorisation fewer per solve. */
#define NEWTON_LAST_DEC 1e-8

void
adapt_opts_default(struct adapt_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->clip = 10.0f;
    o->domain_l2 = 1e-3f;
    o->lambda = -1.0f;
    o->mu = -1.0f;
    o->resid_l2 = 10.0f;
    o->resid_bits = 20;
    o->cv_min = 20;
    o->cv_pool_max = 2000;
    o->cv_fb_max = 50;
    o->pseudo = 1.0f;
    o->pseudo_conf = 0.999f;
    o->pseudo_max = 5000;
    o->pseudo_self = 0.3f;
    o->learned = 1;
    o->pseudo_keep = 2000;
    o->pseudo_l2 = 1.0f;
    o->dual_max = 1000;
    o->use_reweight = 1;
    o->use_head = 1;
    o->use_resid = 1;
}

/* Defaults used when lambda/mu are not given and cannot be cross-validated. */
#define LAMBDA_DEFAULT 0.05f
#define MU_DEFAULT 1.0f
static const float cv_scale[] = { 0.25f, 1.0f, 4.0f };
#define N_SCALE (sizeof(cv_scale) / sizeof(cv_scale[0]))

/* log(1 + exp(-m)): the logistic loss at margin m, without overflow. */
static double
logloss_margin(double m)
{
    return m > 0 ? log1p(exp(-m)) : -m + log1p(exp(m));
}

static double
sigmoid(double t)
{
    return t >= 0 ? 1.0 / (1.0 + exp(-t)) : exp(t) / (1.0 + exp(t));
}

/* ---- the dense solver --------------------------------------------------- */

/*
 * Gathered rank-one updates of a lower-triangular q x q Hessian: the row
 * passes add hi x x' for every row; one at a time that is a load and a store
 * of the Hessian per multiply-add.  A gather keeps HB_ROWS rows (x and hi x)
 * and adds their sum into the Hessian at once, two columns at a time in
 * vector registers.  Each entry still gets its terms in row order within a
 * gather; the gathers' sums are added in order (deterministic).
 */
#define HB_ROWS 16

struct hgather {
    uint32_t q, stride, n;      /* stride: q rounded up to a multiple of 8 */
    double *x, *u;              /* HB_ROWS rows of stride: x (zero-padded), hi x */
};

static int
hg_init(struct hgather *hg, uint32_t q)
{
    hg->q = q;
    hg->stride = (q + 7) & ~7u;
    hg->n = 0;
    hg->x = calloc((size_t) 2 * HB_ROWS * hg->stride, sizeof(double));
    hg->u = hg->x != NULL ? hg->x + (size_t) HB_ROWS * hg->stride : NULL;
    return hg->x != NULL ? 0 : -1;
}

/* hess (lower triangle, row-major q x q) += the gathered rows' sum: eight
 * columns at a time in four independent accumulators (one would wait on
 * its own additions); what falls above the diagonal is not stored. */
ROW_PASS static void
hg_flush(struct hgather *hg, double *hess)
{
    uint32_t q = hg->q, st = hg->stride, a, b, r, k;

    if (hg->n == 0)
        return;
    for (a = 0; a < q; a++) {
        double *row = hess + (size_t) a * q;

        for (b = 0; b <= a; b += 8) {
            v2d a0 = { 0, 0 }, a1 = { 0, 0 }, a2 = { 0, 0 }, a3 = { 0, 0 };
            double sum[8];

            for (r = 0; r < hg->n; r++) {
                const double *xr = hg->x + r * st + b;
                double ua = hg->u[r * st + a];
                v2d uv = { ua, ua }, x0, x1, x2, x3;

                memcpy(&x0, xr, sizeof(x0));
                memcpy(&x1, xr + 2, sizeof(x1));
                memcpy(&x2, xr + 4, sizeof(x2));
                memcpy(&x3, xr + 6, sizeof(x3));
                a0 += uv * x0;
                a1 += uv * x1;
                a2 += uv * x2;
                a3 += uv * x3;
            }
            memcpy(sum, &a0, sizeof(a0));
            memcpy(sum + 2, &a1, sizeof(a1));
            memcpy(sum + 4, &a2, sizeof(a2));
            memcpy(sum + 6, &a3, sizeof(a3));
            for (k = 0; k < 8 && b + k <= a; k++)
                row[b + k] += sum[k];
        }
    }
    hg->n = 0;
}

/* Gather hi x x' (x: q values); flushes into hess when the gather is full. */
static inline void
hg_add(struct hgather *hg, double hi, const double *x, double *hess)
{
    double *xr = hg->x + (size_t) hg->n * hg->stride, *ur = hg->u + (size_t) hg->n * hg->stride;
    uint32_t a;

    for (a = 0; a < hg->q; a++) {
        xr[a] = x[a];
        ur[a] = hi * x[a];
    }
    if (++hg->n == HB_ROWS)
        hg_flush(hg, hess);
}

static void
hg_free(struct hgather *hg)
{
    free(hg->x);
    hg->x = hg->u = NULL;
}

/* x . y over n doubles: eight at a time in four independent vector
 * accumulators, then the tail; a fixed order, so deterministic. */
ROW_PASS static double
dot_v(const double *x, const double *y, uint32_t n)
{
    v2d a0 = { 0, 0 }, a1 = { 0, 0 }, a2 = { 0, 0 }, a3 = { 0, 0 }, x0, x1, x2, x3, y0, y1,
        y2, y3;
    double s;
    uint32_t k = 0;

    for (; k + 8 <= n; k += 8) {
        memcpy(&x0, x + k, 16);
        memcpy(&x1, x + k + 2, 16);
        memcpy(&x2, x + k + 4, 16);
        memcpy(&x3, x + k + 6, 16);
        memcpy(&y0, y + k, 16);
        memcpy(&y1, y + k + 2, 16);
        memcpy(&y2, y + k + 4, 16);
        memcpy(&y3, y + k + 6, 16);
        a0 += x0 * y0;
        a1 += x1 * y1;
        a2 += x2 * y2;
        a3 += x3 * y3;
    }
    a0 += a1;
    a2 += a3;
    a0 += a2;
    s = a0[0] + a0[1];
    for (; k < n; k++)
        s += x[k] * y[k];
    return s;
}

/* In-place Cholesky factor L (lower triangle) of the q x q SPD matrix a
 * (row-major).  Returns -1 if a is not positive definite.  Column by column
 * in the dot-product form: L[i][j] = (a[i][j] - L[i][0..j) . L[j][0..j)) /
 * L[j][j], each a dot product of two contiguous row prefixes (dot_v), so the
 * matrix is read, not rewritten, inside the inner loop. */
static int
chol_factor(double *a, uint32_t q)
{
    uint32_t i, j;

    for (j = 0; j < q; j++) {
        double *rj = a + (size_t) j * q, d = rj[j] - dot_v(rj, rj, j);

        if (!(d > 0))
            return -1;
        d = sqrt(d);
        rj[j] = d;
        for (i = j + 1; i < q; i++) {
            double *ri = a + (size_t) i * q;

            ri[j] = (ri[j] - dot_v(ri, rj, j)) / d;
        }
    }
    return 0;
}

/* Solve L L' x = b in place, L from chol_factor(). */
static void
chol_apply(const double *a, uint32_t q, double *b)
{
    uint32_t i, k;

    for (i = 0; i < q; i++) {
        double s = b[i];

        for (k = 0; k < i; k++)
            s -= a[i * q + k] * b[k];
        b[i] = s / a[i * q + i];
    }
    for (i = q; i-- > 0;) {
        double s = b[i];

        for (k = i + 1; k < q; k++)
            s -= a[k * q + i] * b[k];
        b[i] = s / a[i * q + i];
    }
}

/*
 * Backtracking (Armijo) line search of the Newton solvers over explicit
 * parameter vectors (adapt_logreg, fit_joint): from the point x (n values,
 * then n2 more from x2) along d, halve the step until
 * obj(arg, trial) <= f - step dec / 4, or the step falls below 1e-10.  Fills
 * trial[0 .. n + n2) with the last point tried and returns the objective there.
 */
typedef double (*ls_objective)(void *arg, const double *v);

static double
armijo(const double *x, size_t n, const double *x2, size_t n2, const double *d,
       double f, double dec, ls_objective obj, void *arg, double *trial)
{
    double step = 1, fn;
    size_t k;

    for (;;) {
        for (k = 0; k < n; k++)
            trial[k] = x[k] + step * d[k];
        for (k = 0; k < n2; k++)
            trial[n + k] = x2[k] + step * d[n + k];
        fn = obj(arg, trial);
        if (fn <= f - 0.25 * step * dec || step < 1e-10)
            return fn;
        step *= 0.5;
    }
}

/*
 * One pass over the rows: the objective at th and, with g != NULL, the data
 * part's gradient and the lower triangle of its Hessian (q x q) added to g and
 * hess.  One exp per row serves the loss and the sigmoid (exp(-|t|) is what
 * both logloss_margin and sigmoid take), so the values are theirs exactly.
 */
ROW_PASS static double
lr_pass(const float *x, size_t n, uint32_t p, const uint8_t *y, const double *w,
        const double *off, const double *pen, const double *c, const double *th,
        double *g, double *hess, struct hgather *hg)
{
    double f = 0, xr[NET_MAX_HIDDEN + 2];
    uint32_t q = p + 1, j, k;
    size_t i;

    for (i = 0; i < n; i++) {
        const float *r = x + i * p;
        double t = th[p] + (off != NULL ? off[i] : 0), m, e, pr, gi, hi;

        if (w[i] == 0)
            continue;
        for (k = 0; k < p; k++) {
            xr[k] = r[k];
            t += th[k] * xr[k];
        }
        xr[p] = 1.0;
        m = y[i] ? t : -t;
        e = exp(-fabs(t));
        f += w[i] * ((m > 0 ? 0 : -m) + log1p(e));
        if (g == NULL)
            continue;
        pr = t >= 0 ? 1.0 / (1.0 + e) : e / (1.0 + e);
        gi = w[i] * (pr - (y[i] ? 1.0 : 0.0));
        hi = w[i] * pr * (1 - pr);
        for (j = 0; j < q; j++)
            g[j] += gi * xr[j];
        hg_add(hg, hi, xr, hess);
    }
    if (g != NULL)
        hg_flush(hg, hess);
    for (k = 0; k <= p; k++)
        f += pen[k] * (th[k] - c[k]) * (th[k] - c[k]);
    return f;
}

/* adapt_logreg's problem, for armijo(): the objective at a trial point,
 * gathering its gradient and Hessian into g, hess as well. */
struct lr_problem {
    const float *x;
    size_t n;
    uint32_t p;
    const uint8_t *y;
    const double *w, *off, *pen, *c;
    double *g, *hess;
    struct hgather *hg;
};

static double
lr_trial(void *arg, const double *th)
{
    struct lr_problem *lp = arg;
    uint32_t q = lp->p + 1;

    memset(lp->hess, 0, (size_t) q * q * sizeof(double));
    memset(lp->g, 0, q * sizeof(double));
    return lr_pass(lp->x, lp->n, lp->p, lp->y, lp->w, lp->off, lp->pen, lp->c, th, lp->g,
                   lp->hess, lp->hg);
}

int
adapt_logreg(const float *x, size_t n, uint32_t p, const uint8_t *y,
             const double *w, const double *off, const double *pen,
             const double *c, double *theta, int max_iter)
{
    struct hgather hg;
    struct lr_problem lp = { x, n, p, y, w, off, pen, c, NULL, NULL, &hg };
    uint32_t q = p + 1, j;
    double *hess, *g, *d, *tr, *hn, *gn, *sw;
    double f;
    int it;

    assert(p <= NET_MAX_HIDDEN + 1);
    if (hg_init(&hg, q) < 0)
        return -1;
    hess = malloc((size_t) q * q * sizeof(double));
    hn = malloc((size_t) q * q * sizeof(double));
    g = malloc(q * sizeof(double));
    gn = malloc(q * sizeof(double));
    d = malloc(q * sizeof(double));
    tr = malloc(q * sizeof(double));
    if (hess == NULL || hn == NULL || g == NULL || gn == NULL || d == NULL || tr == NULL) {
        free(hess);
        free(hn);
        free(g);
        free(gn);
        free(d);
        free(tr);
        hg_free(&hg);
        return -1;
    }
    /* The pass that evaluates a trial point also gathers the gradient and
     * Hessian there: an accepted step needs no second pass. */
    memset(hess, 0, (size_t) q * q * sizeof(double));
    memset(g, 0, q * sizeof(double));
    f = lr_pass(x, n, p, y, w, off, pen, c, theta, g, hess, &hg);
    for (it = 0; it < max_iter; it++) {
        double dec = 0, fn;

        for (j = 0; j < q; j++) {
            g[j] += 2 * pen[j] * (theta[j] - c[j]);
            hess[(size_t) j * q + j] += 2 * pen[j] + 1e-12;
            d[j] = -g[j];
        }
        if (chol_factor(hess, q) < 0)
            break;
        chol_apply(hess, q, d);
        for (j = 0; j < q; j++)
            dec -= g[j] * d[j];
        if (dec < 1e-14 * (1 + fabs(f)))
            break;
        lp.g = gn;
        lp.hess = hn;
        fn = armijo(theta, q, NULL, 0, d, f, dec, lr_trial, &lp, tr);
        if (!(fn <= f))
            break;
        memcpy(theta, tr, q * sizeof(double));
        f = fn;
        sw = g, g = gn, gn = sw;
        sw = hess, hess = hn, hn = sw;
    }
    free(hess);
    free(hn);
    free(g);
    free(gn);
    free(d);
    free(tr);
    hg_free(&hg);
    return it;
}

/* ---- user keys, slots, scoring ------------------------------------------ */

uint32_t
adapt_user_seed(const char *user_key)
{
    return XXH32(user_key, strlen(user_key), 0x53505348u);
}

/*
 * XXH32 of the four little-endian bytes of v: the same value as
 * XXH32(le, 4, seed), written out for this one length (xxHash's published
 * algorithm: seed + PRIME5 + length, one 4-byte lane, the final avalanche).
 * A refit hashes every (message, id) pair of the user's feedback and
 * self-trained sample, a hundred thousand and more; the library call was most
 * of building a fit's slots.  test_fit checks it against XXH32.
 */
static inline uint32_t
rotl32(uint32_t x, int r)
{
    return (x << r) | (x >> (32 - r));
}

uint32_t
adapt_hash_u32(uint32_t v, uint32_t seed)
{
    uint32_t h = seed + 0x165667B1u + 4u;

    h += v * 0xC2B2AE3Du;
    h = rotl32(h, 17) * 0x27D4EB2Fu;
    h ^= h >> 15;
    h *= 0x85EBCA77u;
    h ^= h >> 13;
    h *= 0xC2B2AE3Du;
    h ^= h >> 16;
    return h;
}

uint32_t
adapt_resid_slot(uint32_t id, uint32_t seed, uint32_t bits)
{
    uint32_t mask = bits >= 32 ? UINT32_MAX : ((uint32_t) 1 << bits) - 1;

    return adapt_hash_u32(id, seed) & mask;
}

uint32_t
adapt_learned_slot(const uint32_t *ids, size_t n, uint32_t seed)
{
    uint32_t h = seed ^ 0x4c524e44u;
    size_t i;

    /* chained: each id's bytes hashed with the previous hash as the seed */
    for (i = 0; i < n; i++)
        h = adapt_hash_u32(ids[i], h);
    return ADAPT_LEARNED_BIT | (h & (ADAPT_LEARNED_BIT - 1));
}

/* How many times a message of n ids carries its learned slot in the residual
 * fit: its pull is then reps / sqrt(n) ~ ADAPT_LEARNED_GAIN times the slot's
 * weight, so the slot's L2 is the residual's divided by the gain squared. */
static uint32_t
learned_reps(size_t n)
{
    return n > 0 ? (uint32_t) ceil(ADAPT_LEARNED_GAIN * sqrt((double) n)) : 0;
}

void
adapt_represent(const struct model *m, struct adapt_example *ex)
{
    (void) net_forward(&m->net, ex->ids, ex->n, ex->h, &ex->z);
}

float
user_model_slot_weight(const struct user_model *um, uint32_t slot)
{
    uint32_t lo = 0, hi = um->n_resid;

    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;

        if (um->resid_slot[mid] < slot)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < um->n_resid && um->resid_slot[lo] == slot ? um->resid_w[lo] : 0.0f;
}

float
adapt_logit(const struct model *m, const struct user_model *um, const float *h,
            float z, const uint32_t *ids, size_t n)
{
    float s;
    size_t i;

    /* A user model fitted against other dimensions cannot apply: the global
     * head is the safe answer (the store refits it). */
    if (um == NULL || um->hidden != m->net.dims.hidden)
        return net_head(m->net.head, m->net.dims.hidden, h, z);
    s = net_head(um->head, um->hidden, h, z);
    if (um->n_resid > 0 && n > 0) {
        float rs = 0;

        for (i = 0; i < n; i++)
            rs += user_model_slot_weight(um, adapt_resid_slot(ids[i], um->seed, um->resid_bits));
        if (um->resid_bits < 31)
            rs += (float) learned_reps(n)
                * user_model_slot_weight(um, adapt_learned_slot(ids, n, um->seed));
        s += rs / sqrtf((float) n);
    }
    return s;
}

float
adapt_score(const struct model *m, const struct user_model *um,
            const uint32_t *ids, size_t n)
{
    float h[NET_MAX_HIDDEN], z;

    (void) net_forward(&m->net, ids, n, h, &z);
    return net_sigmoid(adapt_logit(m, um, h, z, ids, n));
}

/* ---- the blob ----------------------------------------------------------- */

static void
put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t) v;
    p[1] = (uint8_t) (v >> 8);
    p[2] = (uint8_t) (v >> 16);
    p[3] = (uint8_t) (v >> 24);
}

static uint32_t
get32(const uint8_t *p)
{
    return (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16
        | (uint32_t) p[3] << 24;
}

static void
putf(uint8_t *p, float f)
{
    uint32_t v;

    memcpy(&v, &f, 4);
    put32(p, v);
}

static float
getf(const uint8_t *p)
{
    uint32_t v = get32(p);
    float f;

    memcpy(&f, &v, 4);
    return f;
}

/*
 * Layout (little-endian): magic, blob version, hidden, resid_bits, seed,
 * n_resid, version (u64), head (hidden + 2 floats), n_resid (slot, weight)
 * pairs, XXH32 of everything before it.
 */
void *
user_model_encode(const struct user_model *um, size_t *len)
{
    uint32_t nh = NET_HEAD_LEN(um->hidden), k;
    size_t n = UM_HEADER_LEN + (size_t) nh * 4 + (size_t) um->n_resid * 8 + 4;
    uint8_t *b, *p;

    if ((b = malloc(n)) == NULL)
        return NULL;
    put32(b, UM_MAGIC);
    put32(b + 4, UM_BLOB_VERSION);
    put32(b + 8, um->hidden);
    put32(b + 12, um->resid_bits);
    put32(b + 16, um->seed);
    put32(b + 20, um->n_resid);
    put32(b + 24, (uint32_t) um->version);
    put32(b + 28, (uint32_t) (um->version >> 32));
    p = b + UM_HEADER_LEN;
    for (k = 0; k < nh; k++, p += 4)
        putf(p, um->head[k]);
    for (k = 0; k < um->n_resid; k++, p += 8) {
        put32(p, um->resid_slot[k]);
        putf(p + 4, um->resid_w[k]);
    }
    put32(p, XXH32(b, n - 4, 0));
    *len = n;
    return b;
}

struct user_model *
user_model_decode(const void *blob, size_t len)
{
    const uint8_t *b = blob, *p;
    struct user_model *um;
    uint32_t hidden, bits, n_resid, k;

    if (blob == NULL || len < UM_HEADER_LEN + 4 || get32(b) != UM_MAGIC
        || get32(b + 4) != UM_BLOB_VERSION)
        return NULL;
    hidden = get32(b + 8);
    bits = get32(b + 12);
    n_resid = get32(b + 20);
    if (hidden > NET_MAX_HIDDEN || bits > 31 || (n_resid > 0 && bits == 0)
        || (uint64_t) n_resid > ((uint64_t) 1 << bits) + ADAPT_LEARNED_BIT)
        return NULL;
    if ((uint64_t) len != UM_HEADER_LEN + (uint64_t) NET_HEAD_LEN(hidden) * 4
        + (uint64_t) n_resid * 8 + 4)
        return NULL;
    if (XXH32(b, len - 4, 0) != get32(b + len - 4))
        return NULL;
    if ((um = calloc(1, sizeof(*um))) == NULL)
        return NULL;
    um->hidden = hidden;
    um->resid_bits = bits;
    um->seed = get32(b + 16);
    um->version = (uint64_t) get32(b + 24) | (uint64_t) get32(b + 28) << 32;
    p = b + UM_HEADER_LEN;
    for (k = 0; k < NET_HEAD_LEN(hidden); k++, p += 4)
        if (!isfinite(um->head[k] = getf(p)))
            return user_model_free(um);
    if (n_resid > 0) {
        um->resid_slot = malloc(n_resid * sizeof(uint32_t));
        um->resid_w = malloc(n_resid * sizeof(float));
        if (um->resid_slot == NULL || um->resid_w == NULL)
            return user_model_free(um);
        um->n_resid = n_resid;
        for (k = 0; k < n_resid; k++, p += 8) {
            um->resid_slot[k] = get32(p);
            um->resid_w[k] = getf(p + 4);
            if ((k > 0 && um->resid_slot[k] <= um->resid_slot[k - 1])
                || (um->resid_slot[k] >> bits != 0
                    && (bits >= 31 || um->resid_slot[k] < ADAPT_LEARNED_BIT))
                || !isfinite(um->resid_w[k]))
                return user_model_free(um);
        }
    }
    return um;
}

/* ---- the prep's blob ---- */

#define PREP_MAGIC 0x52505053u      /* "SPPR" little-endian */
#define PREP_BLOB_VERSION 1u

/* A bounded cursor over a blob: writes and reads past the end set bad
 * instead of touching memory. */
struct cursor {
    uint8_t *w;                 /* writing, else NULL */
    const uint8_t *r;
    size_t len, at;
    int bad;
};

static uint8_t *
cur_room(struct cursor *k, size_t n)
{
    uint8_t *p;

    if (k->bad || k->len - k->at < n) {
        k->bad = 1;
        return NULL;
    }
    p = (k->w != NULL ? k->w : (uint8_t *) (uintptr_t) k->r) + k->at;
    k->at += n;
    return p;
}

static void
cur_u32(struct cursor *k, uint32_t *v)
{
    uint8_t *p = cur_room(k, 4);

    if (p == NULL)
        *v = 0;
    else if (k->w != NULL)
        put32(p, *v);
    else
        *v = get32(p);
}

static void
cur_f32(struct cursor *k, float *f)
{
    uint32_t v;

    memcpy(&v, f, 4);
    cur_u32(k, &v);
    memcpy(f, &v, 4);
    k->bad |= !isfinite(*f);
}

static void
cur_u64(struct cursor *k, uint64_t *v)
{
    uint32_t lo = (uint32_t) *v, hi = (uint32_t) (*v >> 32);

    cur_u32(k, &lo);
    cur_u32(k, &hi);
    *v = (uint64_t) lo | (uint64_t) hi << 32;
}

static void
cur_f64(struct cursor *k, double *d)
{
    uint64_t v;

    memcpy(&v, d, 8);
    cur_u64(k, &v);
    memcpy(d, &v, 8);
    k->bad |= !isfinite(*d);
}

/* Every field of prep through k, in the blob's order (both directions). */
static void
prep_fields(struct cursor *k, struct adapt_prep *pr)
{
    uint32_t magic = PREP_MAGIC, version = PREP_BLOB_VERSION, flags, a;
    struct adapt_domain *d = &pr->dom;

    flags = (pr->have_unl ? 1u : 0) | (pr->have_cv ? 2u : 0) | (pr->have_quad ? 4u : 0);
    cur_u32(k, &magic);
    cur_u32(k, &version);
    if (magic != PREP_MAGIC || version != PREP_BLOB_VERSION)
        k->bad = 1;
    cur_u64(k, &pr->fingerprint);
    cur_u32(k, &pr->hidden);
    cur_u32(k, &pr->seed);
    cur_u32(k, &flags);
    if (flags > 7 || pr->hidden > NET_MAX_HIDDEN)
        k->bad = 1;
    pr->have_unl = (flags & 1u) != 0;
    pr->have_cv = (flags & 2u) != 0;
    pr->have_quad = (flags & 4u) != 0 && !k->bad;
    cur_u32(k, &pr->n_unl);
    cur_u32(k, &pr->n_pseudo);
    cur_u32(k, &pr->cv_n);
    cur_f64(k, &pr->lambda);
    cur_f64(k, &pr->mu);
    cur_f64(k, &pr->cv_err);
    cur_f64(k, &d->auc);
    cur_f64(k, &d->ess);
    cur_f64(k, &d->scale);
    cur_f32(k, &d->clip);
    cur_u32(k, &d->n_clipped);
    cur_u32(k, &d->p);
    if (d->p != 0 && d->p != pr->hidden + 1)
        k->bad = 1;
    for (a = 0; a < d->p && !k->bad; a++) {
        cur_f64(k, &d->mean[a]);
        cur_f64(k, &d->isd[a]);
    }
    for (a = 0; a < d->p + (d->p != 0) && !k->bad; a++)
        cur_f64(k, &d->theta[a]);
    if (pr->have_quad) {
        size_t q = pr->hidden + 2, nq = 1 + q + q * q;

        if (k->w == NULL && (pr->quad = malloc(nq * sizeof(double))) == NULL)
            k->bad = 1;
        for (a = 0; a < nq && !k->bad; a++)
            cur_f64(k, &pr->quad[a]);
    }
    cur_u32(k, &pr->n_mem);
    if (k->w == NULL && !k->bad) {
        /* reading: the pairs must fit in what is left (then allocate) */
        if ((uint64_t) pr->n_mem * 8 + 4 != k->len - k->at) {
            k->bad = 1;
            return;
        }
        pr->mem_slot = malloc((pr->n_mem ? pr->n_mem : 1) * sizeof(uint32_t));
        pr->mem_w = malloc((pr->n_mem ? pr->n_mem : 1) * sizeof(float));
        if (pr->mem_slot == NULL || pr->mem_w == NULL) {
            k->bad = 1;
            return;
        }
    }
    for (a = 0; a < pr->n_mem && !k->bad; a++) {
        cur_u32(k, &pr->mem_slot[a]);
        cur_f32(k, &pr->mem_w[a]);
        if (a > 0 && pr->mem_slot[a] <= pr->mem_slot[a - 1])
            k->bad = 1;
    }
}

/* Layout: prep_fields()' order, little-endian, then XXH32 of all before it. */
void *
adapt_prep_encode(const struct adapt_prep *prep, size_t *len)
{
    struct adapt_prep copy = *prep;
    size_t q = prep->hidden + 2;
    size_t n = 128 + (size_t) prep->dom.p * 24 + 8 + (size_t) prep->n_mem * 8 + 4
        + (prep->have_quad ? (1 + q + q * q) * 8 : 0);
    struct cursor k = { 0 };

    if ((k.w = malloc(n)) == NULL)
        return NULL;
    k.len = n;
    prep_fields(&k, &copy);
    if (k.bad || k.len - k.at < 4) {
        free(k.w);
        return NULL;
    }
    put32(k.w + k.at, XXH32(k.w, k.at, 0));
    *len = k.at + 4;
    return k.w;
}

int
adapt_prep_decode(const void *blob, size_t len, struct adapt_prep *prep)
{
    struct cursor k = { 0 };

    memset(prep, 0, sizeof(*prep));
    if (blob == NULL || len < 8 || XXH32(blob, len - 4, 0) != get32((const uint8_t *) blob + len - 4)) {
        return -1;
    }
    k.r = blob;
    k.len = len;
    prep_fields(&k, prep);
    if (k.bad || k.at != len - 4) {
        adapt_prep_clear(prep);
        return -1;
    }
    return 0;
}

struct user_model *
user_model_free(struct user_model *um)
{
    if (um != NULL) {
        free(um->resid_slot);
        free(um->resid_w);
        free(um);
    }
    return NULL;
}

/* ---- fitting ------------------------------------------------------------ */

/*
 * The pool's weighted loss as its second-order model around v0:
 *   P(v) ~ f0 + g0.(v - v0) + (v - v0)' h0 (v - v0) / 2
 * with f0, g0, h0 (q x q, full) exact at v0.  See fit_relin().
 */
struct pool_quad {
    double f0, v0[NET_MAX_HIDDEN + 2], g0[NET_MAX_HIDDEN + 2];
    double *h0;
};

/*
 * Everything one user's fit needs, built once.  x holds the rows used by the
 * head solver: the pool rows (all, or a subsample in CV) then the feedback rows
 * (hidden + 1 floats each).  Feedback j's residual slots are compact indices
 * into slots[] (sorted unique), in fb_slot[fb_off[j] .. fb_off[j+1]), each
 * with its multiplicity in fb_cnt[].
 */
struct fit_ctx {
    uint32_t hidden, p;
    const struct adapt_opts *o;
    const float *vg;            /* the global head */
    size_t n_pool, n_fb;
    float *x;
    uint8_t *y;
    double *pool_w;             /* a_i beta_i per pool row */
    uint32_t *slots;            /* user slot numbers */
    size_t n_slots;
    uint32_t *fb_slot;
    double *fb_cnt;             /* how many times each pair counts (the learned
                                 * slot: learned_reps of its message; else 1) */
    size_t *fb_off;
    /* scratch, sized for the full problem */
    double *w, *off, *r, *s, *gr, *dr, *hd, *tmp, *rr, *hl, *sr, *sd, *u;
    int refit_pool;             /* the head is refitted (reweighted or use_head) */
    double *gram;               /* n_fb x n_fb: K[i][j] = phi_i . phi_j */
    const double *fb_base;      /* fixed logit added to each feedback row, or NULL */
    double *fb_scale;           /* 1/sqrt(ids) of each feedback message */
    const struct pool_quad *pq; /* when set, the pool's loss is this model (fit_relin) */
    double *alpha;              /* dual warm start, one per feedback message */
    const struct pool_quad *pq_fixed;   /* CV: the pool's model, not re-linearised */
    struct adapt_prep *prep;    /* keeps the pool's model at the global head */
    struct hgather hgs, *hg;    /* pool_pass's row gather (allocated up front:
                                 * the sums must not depend on the memory left) */
    int warm;                   /* fit_once starts from th, r (and alpha) as given */
    /* fit_dual: the inverse of the Gram matrix over the feedback set kinv_act
     * (kinv_n of them) plus kinv_eps on its diagonal (0 unless the matrix
     * itself is too close to singular); kinv_ok 0 when even that fails */
    double *kinv, kinv_eps;
    size_t *kinv_act, kinv_n;
    int kinv_ok;
};

/* Weight of each pool row: beta times the class-balancing factor. */
static void
pool_weights(const uint8_t *label, const float *beta, size_t n, size_t stride,
             double *out)
{
    double cnt[2] = { 0, 0 };
    size_t i, m = 0;

    for (i = 0; i < n; i += stride)
        cnt[label[i] ? 1 : 0] += beta != NULL ? beta[i] : 1.0;
    for (i = 0; i < n; i += stride, m++) {
        double c = cnt[label[i] ? 1 : 0];

        out[m] = c > 0 ? (beta != NULL ? beta[i] : 1.0) / (2 * c) : 0;
    }
}

/* Residual score of feedback j under r. */
static double
fb_resid(const struct fit_ctx *c, const double *r, size_t j)
{
    double s = 0;
    size_t k;

    for (k = c->fb_off[j]; k < c->fb_off[j + 1]; k++)
        s += c->fb_cnt[k] * r[c->fb_slot[k]];
    return s * c->fb_scale[j];
}

/* Head logit of row i of x. */
static double
head_logit(const struct fit_ctx *c, const double *th, size_t i)
{
    const float *row = c->x + i * c->p;
    double t = th[c->p];
    uint32_t k;

    for (k = 0; k < c->p; k++)
        t += th[k] * row[k];
    if (c->fb_base != NULL && i >= c->n_pool)
        t += c->fb_base[i - c->n_pool];
    return t;
}

/* The residual block: minimise sum_{j in mask} l(y_j, a_j + s_j(r)) + rho |r|^2
 * (the objective divided by lambda) by Newton-CG; a[] are the head logits of the
 * feedback rows.  mask[j] == 0 excludes feedback j (CV).  Stops once the
 * gradient's largest component is below gtol. */
static void
fit_resid(struct fit_ctx *c, const double *a, const double *mask, double rho,
          double *r, double gtol)
{
    size_t m = c->n_slots, j, k;
    const uint8_t *y = c->y + c->n_pool;
    double *s = c->s, *g = c->gr, *d = c->dr, *hd = c->hd, *q = c->tmp, *rr = c->rr;
    double *sr = c->sr, *sd = c->sd, *u = c->u;
    int it, cg;

    /* sr: each message's residual score under r, kept up to date below, and
     * sd the same under the Newton direction d (a sum of the CG steps), so
     * that neither the gradient nor the line search reads the slots again. */
    for (j = 0; j < c->n_fb; j++)
        sr[j] = mask[j] ? fb_resid(c, r, j) : 0;
    for (it = 0; it < RESID_NEWTON_MAX; it++) {
        double f = 0, gmax = 0, rs, fn, step = 1, dec = 0, forcing;

        memset(g, 0, m * sizeof(double));
        for (j = 0; j < c->n_fb; j++) {
            double t, pr;

            if (!mask[j])
                continue;
            t = a[j] + sr[j];
            pr = sigmoid(t);
            f += mask[j] * logloss_margin(y[j] ? t : -t);
            s[j] = mask[j] * pr * (1 - pr);
            for (k = c->fb_off[j]; k < c->fb_off[j + 1]; k++)
                g[c->fb_slot[k]] += c->fb_cnt[k] * mask[j] * (pr - y[j]) * c->fb_scale[j];
        }
        for (k = 0; k < m; k++) {
            f += rho * r[k] * r[k];
            g[k] += 2 * rho * r[k];
            if (fabs(g[k]) > gmax)
                gmax = fabs(g[k]);
        }
        if (gmax < gtol)
            break;
        /* CG on (X'DX + 2 rho I) d = -g, from d = 0. */
        memset(d, 0, m * sizeof(double));
        memset(sd, 0, c->n_fb * sizeof(double));
        for (k = 0; k < m; k++)
            rr[k] = -g[k];
        memcpy(q, rr, m * sizeof(double));
        rs = 0;
        for (k = 0; k < m; k++)
            rs += rr[k] * rr[k];
        /* Inexact Newton: CG stops once the residual is a fraction
         * min(0.5, sqrt|g|) of the gradient (the outer loop still runs to
         * |g|max < gtol, so the optimum is the same). */
        forcing = sqrt(rs) < 0.25 ? sqrt(rs) : 0.5;
        forcing = forcing * forcing * rs;
        for (cg = 0; cg < CG_MAX && rs > 1e-24 && rs > forcing; cg++) {
            double pq = 0, alpha, rs2 = 0;

            memset(hd, 0, m * sizeof(double));
            for (j = 0; j < c->n_fb; j++) {
                double v;

                if (!mask[j])
                    continue;
                u[j] = fb_resid(c, q, j);
                v = s[j] * u[j];
                for (k = c->fb_off[j]; k < c->fb_off[j + 1]; k++)
                    hd[c->fb_slot[k]] += c->fb_cnt[k] * v * c->fb_scale[j];
            }
            for (k = 0; k < m; k++) {
                hd[k] += 2 * rho * q[k];
                pq += q[k] * hd[k];
            }
            alpha = rs / pq;
            for (j = 0; j < c->n_fb; j++)
                if (mask[j])
                    sd[j] += alpha * u[j];
            for (k = 0; k < m; k++) {
                d[k] += alpha * q[k];
                rr[k] -= alpha * hd[k];
                rs2 += rr[k] * rr[k];
            }
            for (k = 0; k < m; k++)
                q[k] = rr[k] + (rs2 / rs) * q[k];
            rs = rs2;
        }
        for (k = 0; k < m; k++)
            dec -= g[k] * d[k];
        if (!(dec > 1e-15 * (1 + f)))
            break;
        for (;;) {
            fn = 0;
            for (k = 0; k < m; k++) {
                double v = r[k] + step * d[k];

                fn += rho * v * v;
            }
            for (j = 0; j < c->n_fb; j++) {
                double t;

                if (!mask[j])
                    continue;
                t = a[j] + sr[j] + step * sd[j];
                fn += mask[j] * logloss_margin(y[j] ? t : -t);
            }
            if (fn <= f - 0.25 * step * dec || step < 1e-10)
                break;
            step *= 0.5;
        }
        if (!(fn <= f))
            break;
        for (k = 0; k < m; k++)
            r[k] += step * d[k];
        for (j = 0; j < c->n_fb; j++)
            sr[j] += step * sd[j];
    }
}

static double pool_value(const struct fit_ctx *c, size_t n_rows_pool, const double *pw,
                         const double *th);

/* The full objective (adapt.h) at (th, r) over the rows c->x with weights w
 * (pool rows) and lambda on masked-in feedback. */
static double
full_objective(const struct fit_ctx *c, size_t n_rows_pool, const double *w,
               const double *mask, double lambda, double mu, double rho,
               const double *th, const double *r)
{
    double f = pool_value(c, n_rows_pool, w, th);
    size_t j;
    uint32_t k;

    for (j = 0; j < c->n_fb; j++) {
        double t;

        if (!mask[j])
            continue;
        t = head_logit(c, th, c->n_pool + j) + fb_resid(c, r, j);
        f += lambda * mask[j] * logloss_margin(c->y[c->n_pool + j] ? t : -t);
    }
    for (k = 0; k < c->p + 1; k++)
        f += mu * (th[k] - c->vg[k]) * (th[k] - c->vg[k]);
    for (k = 0; k < c->n_slots; k++)
        f += lambda * rho * r[k] * r[k];
    return f;
}

/*
 * Head and residual together (the head sees the feedback and the residual is
 * on): Newton's method on the joint objective.  Each iteration makes one pass
 * over the pool rows for the gradient and the q x q pool Hessian; the Newton
 * system is then solved by conjugate gradients preconditioned with the exact
 * head block and the residual diagonal, where a Hessian-vector product costs
 * only q^2 plus the feedback's nonzeros.  (Alternating the two blocks is
 * slow when feedback is strong: the bias and the residual trade off.)
 * Returns 0, or -1 on allocation failure.
 */
/* Add the weighted pool's logistic-loss gradient (g, q = p + 1 entries) and the
 * lower triangle of its Hessian (hs, q x q) at head th, and with f != NULL its
 * loss to *f (rows only; not with c->pq); xr is scratch of q doubles.  Shared
 * by the primal and the dual solver (pool_grad_hess) and pool_quad_build. */
ROW_PASS static void
pool_pass(const struct fit_ctx *c, size_t n_rows_pool, const double *pw,
          const double *th, size_t p, double *xr, double *g, double *hs, double *f)
{
    size_t i, a, b, q = p + 1;

    if (c->pq != NULL) {
        for (a = 0; a < q; a++) {
            double s = c->pq->g0[a];

            for (b = 0; b < q; b++)
                s += c->pq->h0[a * q + b] * (th[b] - c->pq->v0[b]);
            g[a] += s;
            for (b = 0; b <= a; b++)
                hs[a * q + b] += c->pq->h0[a * q + b];
        }
        assert(f == NULL);
        return;
    }
    for (i = 0; i < n_rows_pool; i++) {
        const float *row = c->x + i * p;
        double t = th[p], pr, gi, hi, e;

        for (a = 0; a < p; a++) {
            xr[a] = row[a];
            t += th[a] * xr[a];
        }
        xr[p] = 1;
        /* exp(-|t|) serves the sigmoid and, for pool_quad_build, the loss
         * (the values of sigmoid() and logloss_margin() exactly) */
        e = exp(-fabs(t));
        pr = t >= 0 ? 1.0 / (1.0 + e) : e / (1.0 + e);
        if (f != NULL) {
            double m = c->y[i] ? t : -t;

            *f += pw[i] * ((m > 0 ? 0 : -m) + log1p(e));
        }
        gi = pw[i] * (pr - c->y[i]);
        hi = pw[i] * pr * (1 - pr);
        for (a = 0; a < q; a++)
            g[a] += gi * xr[a];
        hg_add(c->hg, hi, xr, hs);
    }
    hg_flush(c->hg, hs);
}

static void
pool_grad_hess(const struct fit_ctx *c, size_t n_rows_pool, const double *pw,
               const double *th, size_t p, double *xr, double *g, double *hs)
{
    pool_pass(c, n_rows_pool, pw, th, p, xr, g, hs, NULL);
}

/* The weighted pool loss at head th: exact over the rows, or c->pq's model. */
static double
pool_value(const struct fit_ctx *c, size_t n_rows_pool, const double *pw, const double *th)
{
    double f = 0;
    size_t i, a, b, q = c->p + 1;

    if (c->pq != NULL) {
        double d[NET_MAX_HIDDEN + 2];

        for (a = 0; a < q; a++)
            d[a] = th[a] - c->pq->v0[a];
        f = c->pq->f0;
        for (a = 0; a < q; a++) {
            double s = 0;

            for (b = 0; b < q; b++)
                s += c->pq->h0[a * q + b] * d[b];
            f += (c->pq->g0[a] + 0.5 * s) * d[a];
        }
        return f;
    }
    for (i = 0; i < n_rows_pool; i++) {
        double t = head_logit(c, th, i);

        f += pw[i] * logloss_margin(c->y[i] ? t : -t);
    }
    return f;
}

/* pq := the exact second-order model of the pool's loss at th (one pass over
 * the rows for loss, gradient and Hessian; c->pq must be NULL). */
static void
pool_quad_build(const struct fit_ctx *c, size_t n_rows_pool, const double *pw,
                const double *th, struct pool_quad *pq)
{
    size_t a, b, q = c->p + 1;
    double xr[NET_MAX_HIDDEN + 2];

    assert(c->pq == NULL);
    memcpy(pq->v0, th, q * sizeof(double));
    memset(pq->g0, 0, q * sizeof(double));
    memset(pq->h0, 0, q * q * sizeof(double));
    pq->f0 = 0;
    pool_pass(c, n_rows_pool, pw, th, c->p, xr, pq->g0, pq->h0, &pq->f0);
    for (a = 0; a < q; a++)
        for (b = 0; b < a; b++)
            pq->h0[b * q + a] = pq->h0[a * q + b];
}

/* pq := the pool's second-order model at the global head under the whole
 * pool's weights pw (c->pool_w's values): the prep's copy when it has one
 * (made under the same weights: it belongs to the prep's unlabelled side),
 * else built (one pass) and kept in the prep.  Bit for bit the same either
 * way. */
static void
pool_quad_global(struct fit_ctx *c, const double *pw, struct pool_quad *pq)
{
    struct adapt_prep *pr = c->prep;
    size_t q = c->p + 1;
    double th[NET_MAX_HIDDEN + 2] = { 0 };

    if (pr != NULL && pr->have_quad) {
        pq->f0 = pr->quad[0];
        memcpy(pq->g0, pr->quad + 1, q * sizeof(double));
        memcpy(pq->h0, pr->quad + 1 + q, q * q * sizeof(double));
        for (size_t a = 0; a < q; a++)
            pq->v0[a] = c->vg[a];
        return;
    }
    for (size_t a = 0; a < q; a++)
        th[a] = c->vg[a];
    pool_quad_build(c, c->n_pool, pw, th, pq);
    if (pr != NULL && pr->have_unl
        && (pr->quad = malloc((1 + q + q * q) * sizeof(double))) != NULL) {
        pr->quad[0] = pq->f0;
        memcpy(pr->quad + 1, pq->g0, q * sizeof(double));
        memcpy(pr->quad + 1 + q, pq->h0, q * q * sizeof(double));
        pr->have_quad = 1;
        pr->changed = 1;
    }
}

/* fit_joint's problem, for armijo(): v = [head; residual]. */
struct joint_problem {
    const struct fit_ctx *c;
    size_t n_rows_pool;
    const double *pw, *mask;
    double lambda, mu, rho;
};

static double
joint_trial(void *arg, const double *v)
{
    const struct joint_problem *jp = arg;

    return full_objective(jp->c, jp->n_rows_pool, jp->pw, jp->mask, jp->lambda, jp->mu,
                          jp->rho, v, v + jp->c->p + 1);
}

static int
fit_joint(struct fit_ctx *c, size_t n_rows_pool, const double *pw, const double *mask,
          double lambda, double mu, double rho, double *th, double *r)
{
    struct joint_problem jp = { c, n_rows_pool, pw, mask, lambda, mu, rho };
    uint32_t q = c->p + 1, p = c->p, a, b;
    size_t m = c->n_slots, nv = q + m, j, k;
    double *hp = malloc((size_t) q * q * sizeof(double));
    double *hf = malloc((size_t) q * q * sizeof(double));
    double *g = malloc(nv * sizeof(double)), *d = malloc(nv * sizeof(double));
    double *res = malloc(nv * sizeof(double)), *z = malloc(nv * sizeof(double));
    double *dir = malloc(nv * sizeof(double)), *hv = malloc(nv * sizeof(double));
    double *diag = malloc((m ? m : 1) * sizeof(double));
    double *dj = malloc((c->n_fb ? c->n_fb : 1) * sizeof(double));
    double *tv = malloc(nv * sizeof(double));
    double xr[NET_MAX_HIDDEN + 2], f;
    const uint8_t *yf = c->y + c->n_pool;
    int it, rc = -1;

    if (hp == NULL || hf == NULL || g == NULL || d == NULL || res == NULL || z == NULL
        || dir == NULL || hv == NULL || diag == NULL || dj == NULL || tv == NULL)
        goto out;
    f = full_objective(c, n_rows_pool, pw, mask, lambda, mu, rho, th, r);
    for (it = 0; it < 50; it++) {
        double rz, dec = 0, fn;
        int cg;

        /* Gradient and the dense head block (pool + mu), then feedback rows. */
        memset(hp, 0, (size_t) q * q * sizeof(double));
        memset(g, 0, nv * sizeof(double));
        pool_grad_hess(c, n_rows_pool, pw, th, p, xr, g, hp);
        for (a = 0; a < q; a++) {
            g[a] += 2 * mu * (th[a] - c->vg[a]);
            hp[a * q + a] += 2 * mu;
            for (b = 0; b < a; b++)
                hp[b * q + a] = hp[a * q + b];
        }
        memcpy(hf, hp, (size_t) q * q * sizeof(double));
        for (k = 0; k < m; k++) {
            g[q + k] = 2 * lambda * rho * r[k];
            diag[k] = 2 * lambda * rho;
        }
        for (j = 0; j < c->n_fb; j++) {
            const float *row = c->x + (c->n_pool + j) * p;
            double t, pr, e;

            dj[j] = 0;
            if (!mask[j])
                continue;
            t = head_logit(c, th, c->n_pool + j) + fb_resid(c, r, j);
            pr = sigmoid(t);
            e = lambda * mask[j] * (pr - yf[j]);
            dj[j] = lambda * mask[j] * pr * (1 - pr);
            for (a = 0; a < p; a++)
                xr[a] = row[a];
            xr[p] = 1;
            for (a = 0; a < q; a++) {
                g[a] += e * xr[a];
                for (b = 0; b < q; b++)
                    hf[a * q + b] += dj[j] * xr[a] * xr[b];
            }
            for (k = c->fb_off[j]; k < c->fb_off[j + 1]; k++) {
                double cs = c->fb_cnt[k] * c->fb_scale[j];

                g[q + c->fb_slot[k]] += e * cs;
                /* exact unless two ids of a message share a slot */
                diag[c->fb_slot[k]] += dj[j] * cs * cs;
            }
        }
        if (chol_factor(hf, q) < 0) {
            /* Only without pool and mu; a tiny ridge keeps the preconditioner. */
            for (a = 0; a < q; a++)
                hp[a * q + a] += 1e-9;
            memcpy(hf, hp, (size_t) q * q * sizeof(double));
            for (a = 0; a < q; a++)
                hf[a * q + a] += 1e-6;
            if (chol_factor(hf, q) < 0)
                break;
        }

        /* PCG on H d = -g from d = 0. */
        memset(d, 0, nv * sizeof(double));
        for (k = 0; k < nv; k++)
            res[k] = -g[k];
#define PRECOND(src, dst) do { \
            memcpy(dst, src, q * sizeof(double)); \
            chol_apply(hf, q, dst); \
            for (k = 0; k < m; k++) \
                (dst)[q + k] = (src)[q + k] / diag[k]; \
        } while (0)
        PRECOND(res, z);
        memcpy(dir, z, nv * sizeof(double));
        rz = 0;
        for (k = 0; k < nv; k++)
            rz += res[k] * z[k];
        for (cg = 0; cg < 200 && rz > 1e-30; cg++) {
            double pq = 0, alpha, rz2 = 0, rn = 0;

            /* hv = H dir: pool block, then feedback rows through u_j. */
            for (a = 0; a < q; a++) {
                double sacc = 0;

                for (b = 0; b < q; b++)
                    sacc += hp[a * q + b] * dir[b];
                hv[a] = sacc;
            }
            for (k = 0; k < m; k++)
                hv[q + k] = 2 * lambda * rho * dir[q + k];
            for (j = 0; j < c->n_fb; j++) {
                const float *row = c->x + (c->n_pool + j) * p;
                double u = dir[p], ur = 0, sc = c->fb_scale[j];

                if (dj[j] == 0)
                    continue;
                for (a = 0; a < p; a++)
                    u += row[a] * dir[a];
                for (k = c->fb_off[j]; k < c->fb_off[j + 1]; k++)
                    ur += c->fb_cnt[k] * dir[q + c->fb_slot[k]];
                u = (u + sc * ur) * dj[j];
                for (a = 0; a < p; a++)
                    hv[a] += u * row[a];
                hv[p] += u;
                for (k = c->fb_off[j]; k < c->fb_off[j + 1]; k++)
                    hv[q + c->fb_slot[k]] += c->fb_cnt[k] * u * sc;
            }
            for (k = 0; k < nv; k++)
                pq += dir[k] * hv[k];
            if (!(pq > 0))
                break;
            alpha = rz / pq;
            for (k = 0; k < nv; k++) {
                d[k] += alpha * dir[k];
                res[k] -= alpha * hv[k];
                rn += res[k] * res[k];
            }
            if (rn < 1e-28)
                break;
            PRECOND(res, z);
            for (k = 0; k < nv; k++)
                rz2 += res[k] * z[k];
            for (k = 0; k < nv; k++)
                dir[k] = z[k] + (rz2 / rz) * dir[k];
            rz = rz2;
        }
#undef PRECOND
        for (k = 0; k < nv; k++)
            dec -= g[k] * d[k];
        if (!(dec > 1e-15 * (1 + fabs(f))))
            break;
        fn = armijo(th, q, r, m, d, f, dec, joint_trial, &jp, tv);
        if (!(fn <= f))
            break;
        memcpy(th, tv, q * sizeof(double));
        memcpy(r, tv + q, m * sizeof(double));
        f = fn;
    }
    rc = 0;
out:
    free(hp);
    free(hf);
    free(g);
    free(d);
    free(res);
    free(z);
    free(dir);
    free(hv);
    free(diag);
    free(dj);
    free(tv);
    return rc;
}

/* Solve the n x n system a x = b in place (b becomes x) by Gaussian
 * elimination with partial pivoting; a is destroyed.  -1 if singular. */
static int
lu_solve(double *a, size_t n, double *b)
{
    size_t i, j, k;

    for (k = 0; k < n; k++) {
        size_t piv = k;
        double best = fabs(a[k * n + k]);

        for (i = k + 1; i < n; i++)
            if (fabs(a[i * n + k]) > best) {
                best = fabs(a[i * n + k]);
                piv = i;
            }
        if (!(best > 1e-300))
            return -1;
        if (piv != k) {
            for (j = 0; j < n; j++) {
                double t = a[k * n + j];

                a[k * n + j] = a[piv * n + j];
                a[piv * n + j] = t;
            }
            {
                double t = b[k];

                b[k] = b[piv];
                b[piv] = t;
            }
        }
        for (i = k + 1; i < n; i++) {
            double f = a[i * n + k] / a[k * n + k];

            if (f == 0)
                continue;
            for (j = k + 1; j < n; j++)
                a[i * n + j] -= f * a[k * n + j];
            b[i] -= f * b[k];
        }
    }
    for (k = n; k-- > 0;) {
        double sacc = b[k];

        for (j = k + 1; j < n; j++)
            sacc -= a[k * n + j] * b[j];
        b[k] = sacc / a[k * n + k];
    }
    return 0;
}

/* The Gram matrix of the feedback's slot vectors, through an inverted index
 * (cost: the sum over slots of the squared number of messages holding it). */
static int
gram_build(struct fit_ctx *c)
{
    size_t n = c->n_fb, m = c->n_slots, nnz = c->fb_off[n], j, k, a, b;
    size_t *start = calloc(m + 1, sizeof(size_t));
    uint32_t *who = malloc((nnz ? nnz : 1) * sizeof(uint32_t));
    double *cnt = malloc((nnz ? nnz : 1) * sizeof(double));

    c->gram = calloc(n > 0 ? n * n : 1, sizeof(double));
    if (start == NULL || who == NULL || cnt == NULL || c->gram == NULL) {
        free(start);
        free(who);
        free(cnt);
        return -1;
    }
    for (k = 0; k < nnz; k++)
        start[c->fb_slot[k] + 1]++;
    for (k = 0; k < m; k++)
        start[k + 1] += start[k];
    for (j = 0; j < n; j++)
        for (k = c->fb_off[j]; k < c->fb_off[j + 1]; k++) {
            cnt[start[c->fb_slot[k]]] = c->fb_cnt[k];
            who[start[c->fb_slot[k]]++] = (uint32_t) j;
        }
    for (k = m; k > 0; k--)
        start[k] = start[k - 1];
    start[0] = 0;
    /* Every pair of holders of a slot adds the product of their counts. */
    for (k = 0; k < m; k++)
        for (a = start[k]; a < start[k + 1]; a++)
            for (b = start[k]; b < start[k + 1]; b++)
                c->gram[(size_t) who[a] * n + who[b]] += cnt[a] * cnt[b];
    for (a = 0; a < n; a++)
        for (b = 0; b < n; b++)
            c->gram[a * n + b] *= c->fb_scale[a] * c->fb_scale[b];
    free(start);
    free(who);
    free(cnt);
    return 0;
}

/*
 * The residual through its dual: at the optimum 2 rho r = -sum_j e_j phi_j,
 * so r = sum_j alpha_j phi_j and the residual score of message i is
 * (K alpha)_i with K the Gram matrix of the slot vectors.  The unknowns are
 * the head (when head_free) and one alpha per feedback message, however many
 * slots the messages touch, and Newton's system is dense and small:
 *
 *   [ H_vv          lambda A'DK      ] [dv]   [ -g_v               ]
 *   [ D A           D K + 2 rho I    ] [da] = [ -(e + 2 rho alpha) ]
 *
 * (the alpha rows of the true Hessian are these rows multiplied by lambda K,
 * so a solution here solves Newton's equations).  Only masked-in feedback
 * takes part.  On return r holds the primal residual.
 * Returns 0, or -1 on allocation failure.
 */
/* x := (L L')^-1 (n x n, row-major) from the factor L of chol_factor(): both
 * triangular solves on all n right-hand sides at once, as row updates over
 * the columns (which vectorise); the forward pass skips the zeros of L^-1. */
ROW_PASS static void
chol_inverse(const double *a, size_t n, double *x)
{
    size_t i, r, k;

    memset(x, 0, n * n * sizeof(double));
    for (i = 0; i < n; i++)
        x[i * n + i] = 1;
    for (i = 0; i < n; i++) {               /* L y = I: row i of y has columns <= i */
        double *xi = x + i * n, d = a[i * n + i];

        for (k = 0; k <= i; k++)
            xi[k] /= d;
        for (r = i + 1; r < n; r++) {
            double l = a[r * n + i], *xr = x + r * n;

            for (k = 0; k <= i; k++)
                xr[k] -= l * xi[k];
        }
    }
    for (i = n; i-- > 0;) {                 /* L' x = y */
        double *xi = x + i * n, d = a[i * n + i];

        for (k = 0; k < n; k++)
            xi[k] /= d;
        for (r = 0; r < i; r++) {
            double l = a[i * n + r], *xr = x + r * n;

            for (k = 0; k < n; k++)
                xr[k] -= l * xi[k];
        }
    }
}

/*
 * c->kinv := the inverse of the Gram matrix over the n feedback messages act[]
 * (kept for the next call on the same set, as in cross-validation).
 *
 * Messages whose slot vectors are equal (or linearly dependent: automated mail
 * learned many times, messages without learned slots) make that matrix
 * singular.  Then it is taken with KINV_JITTER times its largest diagonal
 * entry added to the diagonal (c->kinv_eps; fit_dual uses the same matrix
 * throughout): as if each feedback message carried one more feature of its
 * own, of weight sqrt(eps), that no other message has.  The residual over the
 * slots, hence every score, moves by O(eps); the Newton system stays symmetric
 * positive definite, a Cholesky factor instead of an LU of the full system
 * (half the work, and no pivot search).  Returns 1 with the inverse, 0 when
 * even the shifted matrix will not factor (the caller falls back to LU), -1 on
 * allocation failure.
 */
#define KINV_JITTER 1e-6

static int
kinv_try(double *lf, const double *gram, size_t n_fb, const size_t *act, size_t n,
         double eps)
{
    size_t i, l;
    double dmax = 0, pmin = HUGE_VAL;

    for (i = 0; i < n; i++)
        for (l = 0; l < n; l++)
            lf[i * n + l] = gram[act[i] * n_fb + act[l]] + (i == l ? eps : 0);
    for (i = 0; i < n; i++)
        dmax = fmax(dmax, lf[i * n + i]);
    if (chol_factor(lf, (uint32_t) n) < 0)
        return 0;
    for (i = 0; i < n; i++)
        pmin = fmin(pmin, lf[i * n + i] * lf[i * n + i]);
    return pmin > 1e-9 * dmax;
}

static int
kinv_get(struct fit_ctx *c, const size_t *act, size_t n)
{
    size_t i;
    double *lf, dmax = 0;

    if (c->kinv != NULL && c->kinv_n == n && memcmp(c->kinv_act, act, n * sizeof(size_t)) == 0)
        return c->kinv_ok;
    if (c->kinv == NULL) {
        c->kinv = malloc((c->n_fb * c->n_fb + 1) * sizeof(double));
        c->kinv_act = malloc((c->n_fb + 1) * sizeof(size_t));
        if (c->kinv == NULL || c->kinv_act == NULL)
            return -1;
    }
    if ((lf = malloc((n * n + 1) * sizeof(double))) == NULL)
        return -1;
    c->kinv_n = n;
    memcpy(c->kinv_act, act, n * sizeof(size_t));
    c->kinv_eps = 0;
    c->kinv_ok = kinv_try(lf, c->gram, c->n_fb, act, n, 0);
    if (!c->kinv_ok) {
        for (i = 0; i < n; i++)
            dmax = fmax(dmax, c->gram[act[i] * c->n_fb + act[i]]);
        c->kinv_eps = KINV_JITTER * (dmax > 0 ? dmax : 1);
        c->kinv_ok = kinv_try(lf, c->gram, c->n_fb, act, n, c->kinv_eps);
    }
    if (c->kinv_ok)
        chol_inverse(lf, n, c->kinv);
    free(lf);
    return c->kinv_ok;
}

static int
fit_dual(struct fit_ctx *c, size_t n_rows_pool, const double *pw, const double *mask,
         double lambda, double mu, double rho, int head_free, double *th, double *r)
{
    uint32_t q = c->p + 1, p = c->p, a, b;
    size_t n = 0, nv, i, j, k, l;
    size_t *act = malloc((c->n_fb ? c->n_fb : 1) * sizeof(size_t));
    double *al = NULL, *ka = NULL, *e = NULL, *dd = NULL, *mat = NULL, *rhs = NULL;
    double *hv = NULL, *gv = NULL, *kd = NULL, *tal = NULL, *tka = NULL;
    double xr[NET_MAX_HIDDEN + 2], tv[NET_MAX_HIDDEN + 2], f = 0;
    const double *ki = NULL;
    const uint8_t *yf = c->y + c->n_pool;
    int it, rc = -1, kok;

    if (act == NULL)
        goto out;
    for (j = 0; j < c->n_fb; j++)
        if (mask[j] > 0)
            act[n++] = j;
    nv = (head_free ? q : 0) + n;
    al = calloc(n + 1, sizeof(double));
    ka = calloc(n + 1, sizeof(double));
    tal = calloc(n + 1, sizeof(double));
    tka = calloc(n + 1, sizeof(double));
    e = calloc(n + 1, sizeof(double));
    dd = calloc(n + 1, sizeof(double));
    kd = calloc(n + 1, sizeof(double));
    mat = malloc((nv > 0 ? nv * nv : 1) * sizeof(double));
    rhs = malloc((nv ? nv : 1) * sizeof(double));
    hv = malloc((size_t) q * q * sizeof(double));
    gv = malloc(q * sizeof(double));
    if (al == NULL || ka == NULL || tal == NULL || tka == NULL || e == NULL || dd == NULL
        || kd == NULL || mat == NULL || rhs == NULL || hv == NULL || gv == NULL)
        goto out;
    if ((kok = kinv_get(c, act, n)) < 0)
        goto out;
    ki = kok ? c->kinv : NULL;

#define K(i_, j_) (c->gram[act[i_] * c->n_fb + act[j_]] + ((i_) == (j_) ? c->kinv_eps : 0))
#define FB_T(thv, kav, i_) (head_logit(c, thv, c->n_pool + act[i_]) + (kav)[i_])
    /* F restricted to what moves: pool (when the head is free), feedback, both
     * penalties.  r' r = alpha' K alpha = alpha . (K alpha). */
#define OBJECTIVE(thv, alv, kav, out_) do { \
        double f_ = 0; \
        if (head_free) { \
            f_ += pool_value(c, n_rows_pool, pw, thv); \
            for (a = 0; a < q; a++) \
                f_ += mu * ((thv)[a] - c->vg[a]) * ((thv)[a] - c->vg[a]); \
        } \
        for (i = 0; i < n; i++) { \
            double t_ = FB_T(thv, kav, i); \
            f_ += lambda * mask[act[i]] * logloss_margin(yf[act[i]] ? t_ : -t_); \
            f_ += lambda * rho * (alv)[i] * (kav)[i]; \
        } \
        out_ = f_; \
    } while (0)

    if (c->alpha != NULL)
        for (i = 0; i < n; i++) {
            al[i] = c->alpha[act[i]];
            for (l = 0; l < n; l++)
                ka[l] += K(l, i) * al[i];
        }
    OBJECTIVE(th, al, ka, f);
    for (it = 0; it < 100; it++) {
        double dec = 0, step = 1, fn = f;
        size_t off = head_free ? q : 0;

        /* e, D at the current point */
        for (i = 0; i < n; i++) {
            double t = FB_T(th, ka, i), pr = sigmoid(t);

            /* the row weight enters e and D, so the system below is as written */
            e[i] = mask[act[i]] * (pr - yf[act[i]]);
            dd[i] = mask[act[i]] * pr * (1 - pr);
        }
        memset(mat, 0, nv * nv * sizeof(double));
        if (head_free) {
            memset(hv, 0, (size_t) q * q * sizeof(double));
            memset(gv, 0, q * sizeof(double));
            pool_grad_hess(c, n_rows_pool, pw, th, p, xr, gv, hv);
            for (i = 0; i < n; i++) {
                const float *row = c->x + (c->n_pool + act[i]) * p;

                for (a = 0; a < p; a++)
                    xr[a] = row[a];
                xr[p] = 1;
                for (a = 0; a < q; a++) {
                    gv[a] += lambda * e[i] * xr[a];
                    for (b = 0; b <= a; b++)
                        hv[a * q + b] += lambda * dd[i] * xr[a] * xr[b];
                }
            }
            for (a = 0; a < q; a++) {
                gv[a] += 2 * mu * (th[a] - c->vg[a]);
                hv[a * q + a] += 2 * mu;
                for (b = 0; b <= a; b++)
                    mat[a * nv + b] = mat[b * nv + a] = hv[a * q + b];
                rhs[a] = -gv[a];
            }
            /* top right: lambda A' D K; bottom left: D A */
            for (i = 0; i < n; i++) {
                const float *row = c->x + (c->n_pool + act[i]) * p;

                for (a = 0; a < p; a++)
                    xr[a] = row[a];
                xr[p] = 1;
                for (a = 0; a < q; a++)
                    mat[(off + i) * nv + a] = (ki != NULL ? lambda : 1.0) * dd[i] * xr[a];
                for (l = 0; ki == NULL && l < n; l++) {
                    double w = lambda * dd[i] * K(i, l);

                    if (w != 0)
                        for (a = 0; a < q; a++)
                            mat[a * nv + off + l] += w * xr[a];
                }
            }
        }
        if (ki != NULL) {
            /* The same system in (dv, ds = K dalpha), multiplied through by
             * lambda K^-1 on the alpha rows: symmetric positive definite
             *   [ H_vv     lambda A'D               ] [dv]   [ -g_v                       ]
             *   [ lambda DA  lambda (D + 2 rho K^-1) ] [ds] = [ -lambda (e + 2 rho alpha) ]
             * (the Hessian in (v, s)), so a Cholesky factor replaces the LU;
             * lower triangle only. */
            for (i = 0; i < n; i++) {
                for (l = 0; l <= i; l++)
                    mat[(off + i) * nv + off + l] = lambda * 2 * rho * ki[i * n + l];
                mat[(off + i) * nv + off + i] += lambda * dd[i];
                rhs[off + i] = -lambda * (e[i] + 2 * rho * al[i]);
            }
            if (chol_factor(mat, (uint32_t) nv) < 0)
                break;
            chol_apply(mat, (uint32_t) nv, rhs);
            for (i = 0; i < n; i++)
                kd[i] = rhs[off + i];
            for (i = 0; i < n; i++) {
                double sacc = 0;

                for (l = 0; l < n; l++)
                    sacc += ki[i * n + l] * kd[l];
                rhs[off + i] = sacc;
            }
        } else {
            for (i = 0; i < n; i++) {
                for (l = 0; l < n; l++)
                    mat[(off + i) * nv + off + l] = dd[i] * K(i, l);
                mat[(off + i) * nv + off + i] += 2 * rho;
                rhs[off + i] = -(e[i] + 2 * rho * al[i]);
            }
            if (lu_solve(mat, nv, rhs) < 0)
                break;
            for (i = 0; i < n; i++) {
                double sacc = 0;

                for (l = 0; l < n; l++)
                    sacc += K(i, l) * rhs[off + l];
                kd[i] = sacc;
            }
        }
        /* Directional derivative of F along (dv, dalpha), for the line search:
         * g_v . dv + lambda (e + 2 rho alpha)' K dalpha. */
        for (i = 0; i < n; i++)
            dec -= lambda * (e[i] + 2 * rho * al[i]) * kd[i];
        if (head_free)
            for (a = 0; a < q; a++)
                dec -= gv[a] * rhs[a];
        if (!(dec > 1e-15 * (1 + fabs(f))))
            break;
        for (;;) {
            for (a = 0; a < q; a++)
                tv[a] = th[a] + (head_free ? step * rhs[a] : 0);
            for (i = 0; i < n; i++) {
                tal[i] = al[i] + step * rhs[off + i];
                tka[i] = ka[i] + step * kd[i];
            }
            OBJECTIVE(tv, tal, tka, fn);
            if (fn <= f - 0.25 * step * dec || step < 1e-10)
                break;
            step *= 0.5;
        }
        if (!(fn <= f))
            break;
        memcpy(th, tv, q * sizeof(double));
        memcpy(al, tal, n * sizeof(double));
        memcpy(ka, tka, n * sizeof(double));
        f = fn;
        if (step == 1 && dec < NEWTON_LAST_DEC * (1 + fabs(f)))
            break;
    }
#undef OBJECTIVE
#undef FB_T
#undef K
    if (c->alpha != NULL)
        for (i = 0; i < n; i++)
            c->alpha[act[i]] = al[i];
    /* The primal residual: r = sum_j alpha_j phi_j. */
    memset(r, 0, c->n_slots * sizeof(double));
    for (i = 0; i < n; i++)
        for (k = c->fb_off[act[i]]; k < c->fb_off[act[i] + 1]; k++)
            r[c->fb_slot[k]] += c->fb_cnt[k] * al[i] * c->fb_scale[act[i]];
    rc = 0;
out:
    free(act);
    free(al);
    free(ka);
    free(tal);
    free(tka);
    free(e);
    free(dd);
    free(kd);
    free(mat);
    free(rhs);
    free(hv);
    free(gv);
    return rc;
}

/* 1 when th is the global head exactly. */
static int
at_global(const struct fit_ctx *c, const double *th)
{
    for (uint32_t a = 0; a <= c->p; a++)
        if (th[a] != (double) c->vg[a])
            return 0;
    return 1;
}

/*
 * The joint fit (dual or primal) with the pool's loss replaced by its exact
 * second-order model at the current head, re-linearised after each solve, so
 * that the pool's rows are read once per outer step instead of twice per
 * Newton step.  At the fixed point the model's gradient is the pool's own, so
 * the answer is the joint optimum; an outer step stops when the head moves by
 * less than RELIN_TOL (the model's error there is of the order of its square:
 * 1e-8 for RELIN_TOL 1e-4, below the float a head is stored in; the Enron and
 * SA LOO logits are identical to 8 decimals with 1e-6).
 * Should the true objective rise, or the steps not settle, the exact solver
 * finishes from where it is.  Returns 0, or -1 on allocation failure.
 */
#define RELIN_MAX 8
#define RELIN_TOL 1e-4
static int
fit_relin(struct fit_ctx *c, size_t n_rows_pool, const double *pw, const double *mask,
          double lambda, double mu, double rho, int dual, double *th, double *r)
{
    size_t q = c->p + 1, a;
    struct pool_quad pq;
    double f_prev = HUGE_VAL, prev[NET_MAX_HIDDEN + 2];
    int outer, rc = 0, done = 0;

    if (c->pq_fixed != NULL) {
        c->pq = c->pq_fixed;
        rc = dual ? fit_dual(c, n_rows_pool, pw, mask, lambda, mu, rho, 1, th, r)
            : fit_joint(c, n_rows_pool, pw, mask, lambda, mu, rho, th, r);
        c->pq = NULL;
        return rc;
    }
    pq.h0 = malloc(q * q * sizeof(double));
    c->alpha = dual ? calloc(c->n_fb + 1, sizeof(double)) : NULL;
    if (pq.h0 == NULL || (dual && c->alpha == NULL)) {
        free(pq.h0);
        free(c->alpha);
        c->alpha = NULL;
        return -1;
    }
    for (outer = 0; outer < RELIN_MAX && rc == 0; outer++) {
        double f, dmax = 0;

        if (outer == 0 && n_rows_pool == c->n_pool && at_global(c, th))
            pool_quad_global(c, pw, &pq);
        else
            pool_quad_build(c, n_rows_pool, pw, th, &pq);
        f = pq.f0 + full_objective(c, 0, pw, mask, lambda, mu, rho, th, r);
        if (!(f <= f_prev + 1e-12 * (1 + fabs(f))))
            break;
        f_prev = f;
        memcpy(prev, th, q * sizeof(double));
        c->pq = &pq;
        rc = dual ? fit_dual(c, n_rows_pool, pw, mask, lambda, mu, rho, 1, th, r)
            : fit_joint(c, n_rows_pool, pw, mask, lambda, mu, rho, th, r);
        c->pq = NULL;
        for (a = 0; a < q; a++)
            dmax = fmax(dmax, fabs(th[a] - prev[a]));
        if (dmax < RELIN_TOL) {
            done = 1;
            break;
        }
    }
    if (rc == 0 && !done)
        rc = dual ? fit_dual(c, n_rows_pool, pw, mask, lambda, mu, rho, 1, th, r)
            : fit_joint(c, n_rows_pool, pw, mask, lambda, mu, rho, th, r);
    free(pq.h0);
    free(c->alpha);
    c->alpha = NULL;
    return rc;
}

/*
 * One fit: head th (starts at the global head) and residual r (starts at 0).
 * The solver sees rows [0, n_rows_pool) of the pool part of x (CV passes a
 * subsample copied to the front) and the masked-in feedback rows.
 * Returns 0, or -1 on allocation failure.
 */
static int
fit_once(struct fit_ctx *c, size_t n_rows_pool, const double *pw,
         const double *mask, double lambda, double mu, double *th, double *r)
{
    const struct adapt_opts *o = c->o;
    uint32_t q = c->p + 1, k;
    double pen[NET_MAX_HIDDEN + 2], cen[NET_MAX_HIDDEN + 2];
    double rho = o->resid_l2, *a = c->off;
    size_t j, n_rows = c->n_pool + c->n_fb;
    int use_fb_head = o->use_head, outer;
    double f_prev = HUGE_VAL;

    for (k = 0; k < q; k++) {
        if (!c->warm)
            th[k] = c->vg[k];
        pen[k] = mu;
        cen[k] = c->vg[k];
    }
    if (!c->warm)
        memset(r, 0, c->n_slots * sizeof(double));
    /* Row weights: pool rows beyond n_rows_pool and feedback rows not used by
     * the head carry weight 0. */
    memset(c->w, 0, n_rows * sizeof(double));
    if (c->refit_pool)
        memcpy(c->w, pw, n_rows_pool * sizeof(double));
    if (use_fb_head)
        for (j = 0; j < c->n_fb; j++)
            c->w[c->n_pool + j] = lambda * mask[j];
    memset(a, 0, n_rows * sizeof(double));
    if (o->use_resid && c->n_slots > 0 && lambda > 0 && c->gram != NULL) {
        if (!use_fb_head && c->refit_pool
            && adapt_logreg(c->x, n_rows, c->p, c->y, c->w, a, pen, cen, th, 50) < 0)
            return -1;
        if (use_fb_head)
            return fit_relin(c, n_rows_pool, pw, mask, lambda, mu, rho, 1, th, r);
        return fit_dual(c, n_rows_pool, pw, mask, lambda, mu, rho, 0, th, r);
    }
    if (use_fb_head && o->use_resid && c->n_slots > 0 && lambda > 0)
        return fit_relin(c, n_rows_pool, pw, mask, lambda, mu, rho, 0, th, r);

    for (outer = 0; outer < OUTER_MAX; outer++) {
        double f;

        if (c->refit_pool) {
            /* The head row offsets are the feedback's residual scores. */
            for (j = 0; j < c->n_fb; j++)
                a[c->n_pool + j] = fb_resid(c, r, j)
                    + (c->fb_base != NULL ? c->fb_base[j] : 0);
            if (adapt_logreg(c->x, n_rows, c->p, c->y, c->w, a, pen, cen, th, 50) < 0)
                return -1;
        }
        if (!o->use_resid || c->n_slots == 0 || lambda <= 0)
            break;
        for (j = 0; j < c->n_fb; j++)
            c->hl[j] = head_logit(c, th, c->n_pool + j);
        fit_resid(c, c->hl, mask, rho, r, RESID_GTOL);
        if (!use_fb_head)
            break;      /* the head does not see the feedback: one pass is exact */
        f = full_objective(c, n_rows_pool, pw, mask, lambda, mu, rho, th, r);
        if (f_prev - f < 1e-10 * (1 + fabs(f)))
            break;
        f_prev = f;
    }
    return 0;
}

static void
ctx_free(struct fit_ctx *c)
{
    free(c->x);
    free(c->y);
    free(c->pool_w);
    free(c->slots);
    free(c->fb_slot);
    free(c->fb_cnt);
    free(c->fb_off);
    free(c->w);
    free(c->off);
    free(c->r);
    free(c->s);
    free(c->gr);
    free(c->dr);
    free(c->hd);
    free(c->tmp);
    free(c->rr);
    free(c->hl);
    free(c->sr);
    free(c->sd);
    free(c->u);
    free(c->gram);
    free(c->fb_scale);
    free(c->kinv);
    free(c->kinv_act);
    if (c->hg != NULL)
        hg_free(c->hg);
}

/* The positions 0..n-1 of key[] in ascending key order, equal keys in
 * position order (an LSD radix sort, up to three 11-bit digits; qsort and a binary
 * search per id cost more than the whole residual fit).  ord needs n entries.
 * Returns 0, or -1 on allocation failure. */
static int
slot_order(const uint32_t *key, size_t n, uint32_t *ord)
{
    uint32_t *tmp = malloc((n ? n : 1) * sizeof(uint32_t)), *src = ord, *dst = tmp, kmax = 0;
    size_t cnt[2048], i;
    int shift;

    if (tmp == NULL)
        return -1;
    for (i = 0; i < n; i++) {
        ord[i] = (uint32_t) i;
        kmax = key[i] > kmax ? key[i] : kmax;
    }
    /* as many digits as the largest key has */
    for (shift = 0; shift < 33 && (shift == 0 || (kmax >> shift) != 0); shift += 11) {
        size_t sum = 0;

        memset(cnt, 0, sizeof(cnt));
        for (i = 0; i < n; i++)
            cnt[(key[i] >> shift) & 2047]++;
        for (i = 0; i < 2048; i++) {
            size_t t = cnt[i];

            cnt[i] = sum;
            sum += t;
        }
        for (i = 0; i < n; i++)
            dst[cnt[(key[src[i]] >> shift) & 2047]++] = src[i];
        src = dst;
        dst = src == ord ? tmp : ord;
    }
    if (src != ord)
        memcpy(ord, src, n * sizeof(uint32_t));
    free(tmp);
    return 0;
}

/* Build the context: rows (the pool's unless !with_pool, then the feedback's),
 * labels, slots.  Returns -1 on allocation failure. */
static int
ctx_build(struct fit_ctx *c, const struct model *m, uint32_t seed,
          const struct adapt_example *fb, size_t n_fb, const struct adapt_opts *o,
          int with_pool)
{
    size_t n_rows, i, j, n_ids = 0, scratch;
    uint32_t p = m->net.dims.hidden + 1, *ord;

    memset(c, 0, sizeof(*c));
    c->hidden = m->net.dims.hidden;
    c->p = p;
    c->o = o;
    c->vg = m->net.head;
    c->n_pool = with_pool ? m->pool_n : 0;
    c->n_fb = n_fb;
    n_rows = c->n_pool + n_fb;
    for (j = 0; j < n_fb; j++)
        n_ids += fb[j].n + (o->learned && o->resid_bits < 31 && fb[j].n > 0);
    c->x = malloc((n_rows ? n_rows : 1) * p * sizeof(float));
    c->y = malloc(n_rows ? n_rows : 1);
    c->pool_w = malloc((c->n_pool ? c->n_pool : 1) * sizeof(double));
    c->fb_off = malloc((n_fb + 1) * sizeof(size_t));
    c->fb_slot = malloc((n_ids ? n_ids : 1) * sizeof(uint32_t));
    c->fb_cnt = malloc((n_ids ? n_ids : 1) * sizeof(double));
    c->slots = malloc((n_ids ? n_ids : 1) * sizeof(uint32_t));
    c->w = malloc((n_rows ? n_rows : 1) * sizeof(double));
    c->off = malloc((n_rows ? n_rows : 1) * sizeof(double));
    if (c->x == NULL || c->y == NULL || c->pool_w == NULL || c->fb_off == NULL
        || c->fb_slot == NULL || c->fb_cnt == NULL || c->slots == NULL || c->w == NULL
        || c->off == NULL)
        return -1;
    if (c->n_pool > 0)
        memcpy(c->x, m->pool_rep, c->n_pool * p * sizeof(float));
    for (i = 0; i < c->n_pool; i++)
        c->y[i] = m->pool_label[i] ? 1 : 0;
    for (j = 0; j < n_fb; j++) {
        float *row = c->x + (c->n_pool + j) * p;

        memcpy(row, fb[j].h, c->hidden * sizeof(float));
        row[c->hidden] = fb[j].z;
        c->y[c->n_pool + j] = fb[j].spam ? 1 : 0;
    }
    /* Slots: every (feedback, id) pair's user slot; then compact them. */
    if ((c->fb_scale = malloc((n_fb ? n_fb : 1) * sizeof(double))) == NULL)
        return -1;
    for (j = 0; j < n_fb; j++)
        c->fb_scale[j] = fb[j].n > 0 ? 1.0 / sqrt((double) fb[j].n) : 0;
    c->fb_off[0] = 0;
    for (j = 0, i = 0; j < n_fb; j++) {
        uint32_t k;

        for (k = 0; k < fb[j].n; k++, i++) {
            c->slots[i] = adapt_resid_slot(fb[j].ids[k], seed, o->resid_bits);
            c->fb_cnt[i] = 1;
        }
        /* The learned slot: one pair counting learned_reps times. */
        if (o->learned && o->resid_bits < 31 && fb[j].n > 0) {
            c->slots[i] = adapt_learned_slot(fb[j].ids, fb[j].n, seed);
            c->fb_cnt[i++] = learned_reps(fb[j].n);
        }
        c->fb_off[j + 1] = i;
    }
    /* Compact: slots[] the sorted unique slot numbers, fb_slot[] each pair's
     * index into it. */
    memcpy(c->fb_slot, c->slots, n_ids * sizeof(uint32_t));
    if ((ord = malloc((n_ids ? n_ids : 1) * sizeof(uint32_t))) == NULL
        || slot_order(c->fb_slot, n_ids, ord) < 0) {
        free(ord);
        return -1;
    }
    for (i = 0, j = 0; i < n_ids; i++) {
        uint32_t key = c->fb_slot[ord[i]];

        if (j == 0 || key != c->slots[j - 1])
            c->slots[j++] = key;
        c->fb_slot[ord[i]] = (uint32_t) (j - 1);
    }
    c->n_slots = j;
    free(ord);
    scratch = (c->n_slots > n_fb ? c->n_slots : n_fb) + 1;
    c->hl = malloc(scratch * sizeof(double));
    c->r = malloc(scratch * sizeof(double));
    c->s = malloc(scratch * sizeof(double));
    c->gr = malloc(scratch * sizeof(double));
    c->dr = malloc(scratch * sizeof(double));
    c->hd = malloc(scratch * sizeof(double));
    c->tmp = malloc(scratch * sizeof(double));
    c->rr = malloc(scratch * sizeof(double));
    c->sr = malloc((n_fb + 1) * sizeof(double));
    c->sd = malloc((n_fb + 1) * sizeof(double));
    c->u = malloc((n_fb + 1) * sizeof(double));
    if (c->r == NULL || c->s == NULL || c->gr == NULL || c->dr == NULL || c->hd == NULL
        || c->tmp == NULL || c->rr == NULL || c->hl == NULL || c->sr == NULL
        || c->sd == NULL || c->u == NULL)
        return -1;
    if (hg_init(&c->hgs, p + 1) < 0)
        return -1;
    c->hg = &c->hgs;
    /* The dual needs an n_fb^2 Gram matrix and an (n_fb + q)^2 solve: beyond
     * opts->dual_max messages the primal Newton-CG (fit_joint/fit_resid) takes over. */
    if (o->use_resid && n_fb > 0 && n_fb <= o->dual_max && gram_build(c) < 0)
        return -1;
    return 0;
}

/* Error rate and mean log loss of feedback j under (th, r), at threshold thr. */
static void
fb_eval(const struct fit_ctx *c, const double *th, const double *r, size_t j,
        double thr_logit, double *err, double *loss)
{
    double t = head_logit(c, th, c->n_pool + j) + (r != NULL ? fb_resid(c, r, j) : 0);
    int y = c->y[c->n_pool + j];

    *err += (t >= thr_logit) != y;
    *loss += logloss_margin(y ? t : -t);
}

/*
 * K-fold CV over the (lambda, mu) grid on a pool subsample moved to the front
 * of x, on the real feedback only (pseudo-labelled rows would make each of the
 * grid's fits an order of magnitude slower).  Fills the chosen values and the
 * CV error rate.  The pool rows of x are restored before returning.
 */
static int
cross_validate(struct fit_ctx *c, const float *beta, const struct model *m,
               size_t n_real, double lam0, double mu0, int cv_lambda,
               int cv_mu, double thr_logit, double *lam_out, double *mu_out,
               double *err_out)
{
    size_t stride, n_sub, i, j, f, li, mi, n_cv = 0, cap;
    uint32_t p = c->p;
    double *mask = malloc((c->n_fb ? c->n_fb : 1) * sizeof(double));
    size_t *fold = malloc((c->n_fb ? c->n_fb : 1) * sizeof(size_t));
    double *pw = malloc((c->n_pool ? c->n_pool : 1) * sizeof(double));
    double th[NET_MAX_HIDDEN + 2], th0[NET_MAX_HIDDEN + 2], best = HUGE_VAL;
    double err[N_SCALE * N_SCALE] = { 0 }, loss[N_SCALE * N_SCALE] = { 0 };
    double *alpha0 = malloc((c->n_fb + 1) * sizeof(double));
    double *r0 = malloc((c->n_slots + 1) * sizeof(double));
    struct pool_quad pq;
    int rc = -1;

    pq.h0 = malloc((size_t) (p + 1) * (p + 1) * sizeof(double));
    if (mask == NULL || fold == NULL || pw == NULL || pq.h0 == NULL || alpha0 == NULL
        || r0 == NULL || (c->alpha = malloc((c->n_fb + 1) * sizeof(double))) == NULL)
        goto out;
    /* The joint fits see the whole pool through its second-order model at
     * the global head, built once (one pass); the other paths a subsample. */
    pool_weights(m->pool_label, beta, c->n_pool, 1, pw);
    for (i = 0; i <= p; i++)
        th[i] = c->vg[i];
    pool_quad_global(c, pw, &pq);
    c->pq_fixed = &pq;
    stride = c->o->cv_pool_max > 0 && c->n_pool > c->o->cv_pool_max
        ? (c->n_pool + c->o->cv_pool_max - 1) / c->o->cv_pool_max : 1;
    n_sub = 0;
    for (i = 0; i < c->n_pool; i += stride, n_sub++)
        if (n_sub != i)
            memcpy(c->x + n_sub * p, c->x + i * p, p * sizeof(float));
    /* labels of the subsample, moved the same way (restored below) */
    for (i = 0, n_sub = 0; i < c->n_pool; i += stride, n_sub++)
        c->y[n_sub] = c->y[i];
    pool_weights(m->pool_label, beta, c->n_pool, stride, pw);
    *lam_out = lam0;
    *mu_out = mu0;
    *err_out = -1;
    /* Past cv_fb_max labels the folds hold cv_fb_max of them, evenly spread
     * (fold[j] = CV_FOLDS: out of every CV fit): lambda and mu are chosen on
     * a bounded sample, the final fit sees everything. */
    cap = c->o->cv_fb_max > 0 && n_real > c->o->cv_fb_max ? c->o->cv_fb_max : n_real;
    for (j = 0; j < c->n_fb; j++)
        fold[j] = j < n_real && ((j + 1) * cap) / n_real != (j * cap) / n_real
            ? n_cv++ % CV_FOLDS : CV_FOLDS;
    /* Fold by fold, the grid in order, each fit starting from the previous
     * one's optimum (the objectives are convex: the optimum is the same, it
     * takes fewer Newton steps); a fold's first fit starts from the previous
     * fold's first, head, residual and dual alike (four fifths of its labels
     * are the same). */
    memset(c->alpha, 0, (c->n_fb + 1) * sizeof(double));
    for (f = 0; f < CV_FOLDS; f++) {
        for (j = 0; j < c->n_fb; j++)
            mask[j] = fold[j] != CV_FOLDS && fold[j] != f;
        c->warm = f > 0;
        if (f > 0) {
            memcpy(c->alpha, alpha0, (c->n_fb + 1) * sizeof(double));
            memcpy(th, th0, (p + 1) * sizeof(double));
            memcpy(c->r, r0, c->n_slots * sizeof(double));
        }
        for (li = 0; li < (cv_lambda ? N_SCALE : 1); li++)
            for (mi = 0; mi < (cv_mu ? N_SCALE : 1); mi++) {
                double lam = cv_lambda ? lam0 * cv_scale[li] : lam0;
                double mu = cv_mu ? mu0 * cv_scale[mi] : mu0;
                size_t gi = li * N_SCALE + mi;

                if (fit_once(c, n_sub, pw, mask, lam, mu, th, c->r) < 0)
                    goto restore;
                for (j = 0; j < n_real; j++)
                    if (fold[j] == f)
                        fb_eval(c, th, c->r, j, thr_logit, &err[gi], &loss[gi]);
                if (gi == 0) {
                    memcpy(alpha0, c->alpha, (c->n_fb + 1) * sizeof(double));
                    memcpy(th0, th, (p + 1) * sizeof(double));
                    memcpy(r0, c->r, c->n_slots * sizeof(double));
                }
                c->warm = 1;
            }
    }
    for (li = 0; li < (cv_lambda ? N_SCALE : 1); li++)
        for (mi = 0; mi < (cv_mu ? N_SCALE : 1); mi++) {
            size_t gi = li * N_SCALE + mi;

            if (loss[gi] < best) {
                best = loss[gi];
                *lam_out = cv_lambda ? lam0 * cv_scale[li] : lam0;
                *mu_out = cv_mu ? mu0 * cv_scale[mi] : mu0;
                *err_out = err[gi] / (double) n_cv;
            }
        }
    rc = 0;
restore:
    c->pq_fixed = NULL;
    c->warm = 0;
    free(c->alpha);
    c->alpha = NULL;
    if (c->n_pool > 0) {
        memcpy(c->x, m->pool_rep, c->n_pool * p * sizeof(float));
        for (i = 0; i < c->n_pool; i++)
            c->y[i] = m->pool_label[i] ? 1 : 0;
    }
out:
    free(mask);
    free(fold);
    free(pw);
    free(alpha0);
    free(r0);
    free(pq.h0);
    free(c->alpha);
    c->alpha = NULL;
    return rc;
}

/* The k-th largest (from 0) of v[0..n), k < n: what v[k] would be after a
 * descending sort, found by selection in O(n) (v is reordered). */
static double
kth_largest(double *v, size_t n, size_t k)
{
    size_t lo = 0, hi = n - 1;

    assert(k < n);
    while (lo < hi) {
        double piv = v[lo + (hi - lo) / 2];
        size_t i = lo, j = hi;

        /* Hoare partition, descending: [lo, j] >= piv >= [i, hi] */
        while (i <= j) {
            while (v[i] > piv)
                i++;
            while (v[j] < piv)
                j--;
            if (i <= j) {
                double t = v[i];

                v[i] = v[j];
                v[j] = t;
                i++;
                if (j == 0)
                    break;
                j--;
            }
        }
        if (k <= j && j != (size_t) -1)
            hi = j;
        else if (k >= i)
            lo = i;
        else
            return v[k];
    }
    return v[k];
}

/*
 * Self-training: the residual alone, fitted on n pseudo-labelled messages
 * against offsets pseudo_self times the global head's logit (each message at
 * weight opts->pseudo, L2 opts->pseudo_l2), by Newton-CG.  With pseudo_self
 * below 1 the confident messages still carry a gradient, so the memory learns
 * which tokens this user's ham and spam carry.  Fills mem's residual (slots
 * sorted, seed and bits set).  Returns 0, or -1 on allocation failure.
 */
static int
self_train(const struct model *m, uint32_t seed, const struct adapt_example *ex, size_t n,
           const struct adapt_opts *o, struct user_model *mem)
{
    struct adapt_opts po = *o;
    struct fit_ctx c;
    double *a = NULL, *mask = NULL;
    size_t j, k, nz = 0;
    int rc = -1;

    po.dual_max = 0;                    /* no Gram matrix: Newton-CG */
    po.learned = 0;                     /* pseudo-labels are not learned messages */
    if (ctx_build(&c, m, seed, ex, n, &po, 0) < 0)     /* the residual alone: no pool */
        goto out;
    a = malloc((n + 1) * sizeof(double));
    mask = malloc((n + 1) * sizeof(double));
    if (a == NULL || mask == NULL)
        goto out;
    for (j = 0; j < n; j++) {
        a[j] = o->pseudo_self * net_head(m->net.head, c.hidden, ex[j].h, ex[j].z);
        mask[j] = o->pseudo;
    }
    memset(c.r, 0, c.n_slots * sizeof(double));
    fit_resid(&c, a, mask, o->pseudo_l2, c.r, SELF_GTOL);
    if (o->pseudo_keep > 0 && c.n_slots > o->pseudo_keep) {
        /* keep the pseudo_keep largest weights: the cut is the pseudo_keep-th
         * largest |r| (ties kept) */
        double *mag = malloc(c.n_slots * sizeof(double)), cut;

        if (mag == NULL)
            goto out;
        for (k = 0; k < c.n_slots; k++)
            mag[k] = fabs(c.r[k]);
        cut = kth_largest(mag, c.n_slots, o->pseudo_keep - 1);
        free(mag);
        for (k = 0; k < c.n_slots; k++)
            if (fabs(c.r[k]) < cut)
                c.r[k] = 0;
    }
    for (k = 0; k < c.n_slots; k++)
        nz += (float) c.r[k] != 0.0f;
    mem->seed = seed;
    mem->resid_bits = o->resid_bits;
    mem->resid_slot = malloc((nz ? nz : 1) * sizeof(uint32_t));
    mem->resid_w = malloc((nz ? nz : 1) * sizeof(float));
    if (mem->resid_slot == NULL || mem->resid_w == NULL)
        goto out;
    for (k = 0; k < c.n_slots; k++)
        if ((float) c.r[k] != 0.0f) {
            mem->resid_slot[mem->n_resid] = c.slots[k];
            mem->resid_w[mem->n_resid++] = (float) c.r[k];
        }
    rc = 0;
out:
    ctx_free(&c);
    free(a);
    free(mask);
    return rc;
}

/* The residual part of a message's logit under mem. */
static double
mem_logit(const struct user_model *mem, const uint32_t *ids, size_t n)
{
    double t = 0;
    size_t i;

    if (mem->n_resid == 0 || n == 0)
        return 0;
    for (i = 0; i < n; i++)
        t += user_model_slot_weight(mem, adapt_resid_slot(ids[i], mem->seed, mem->resid_bits));
    return t / sqrt((double) n);
}

/* um's residual += add's (same seed and bits): a merge of two sorted lists. */
static int
merge_resid(struct user_model *um, const struct user_model *add)
{
    size_t n = um->n_resid + add->n_resid, i = 0, j = 0, k = 0;
    uint32_t *slot = malloc((n ? n : 1) * sizeof(uint32_t));
    float *w = malloc((n ? n : 1) * sizeof(float));

    if (slot == NULL || w == NULL) {
        free(slot);
        free(w);
        return -1;
    }
    while (i < um->n_resid || j < add->n_resid) {
        if (j == add->n_resid || (i < um->n_resid && um->resid_slot[i] < add->resid_slot[j])) {
            slot[k] = um->resid_slot[i];
            w[k] = um->resid_w[i++];
        } else if (i == um->n_resid || add->resid_slot[j] < um->resid_slot[i]) {
            slot[k] = add->resid_slot[j];
            w[k] = add->resid_w[j++];
        } else {
            slot[k] = um->resid_slot[i];
            w[k] = um->resid_w[i++] + add->resid_w[j++];
        }
        k++;
    }
    free(um->resid_slot);
    free(um->resid_w);
    um->resid_slot = slot;
    um->resid_w = w;
    um->n_resid = (uint32_t) k;
    return 0;
}

static struct user_model *
global_model(const struct model *m, uint32_t seed, uint32_t bits)
{
    struct user_model *um = calloc(1, sizeof(*um));

    if (um == NULL)
        return NULL;
    um->hidden = m->net.dims.hidden;
    memcpy(um->head, m->net.head, NET_HEAD_LEN(um->hidden) * sizeof(float));
    um->seed = seed;
    um->resid_bits = bits;
    return um;
}

/* Whether pseudo-labelled mail joins the feedback (instead of training the
 * self-trained memory): then a fit reads the unlabelled mail itself, and the
 * prep keeps no unlabelled side. */
static int
pseudo_joins_feedback(const struct adapt_opts *o)
{
    return o->pseudo > 0 && o->pseudo_max > 0 && (o->use_resid || o->use_head)
        && !(o->pseudo_self > 0 && o->use_resid);
}

/* What a prep depends on besides the user's mail: the base model (its id names
 * its pool and head) and every option.  Computed without allocating: a
 * failed allocation must not make a prep look foreign. */
static uint64_t
prep_fingerprint(const struct model *m, const struct adapt_opts *o)
{
    float f[] = { o->clip, o->domain_l2, o->lambda, o->mu, o->resid_l2, o->pseudo,
                  o->pseudo_conf, o->pseudo_self, o->pseudo_l2 };
    uint32_t u[] = { o->resid_bits, o->cv_min, o->cv_pool_max, o->cv_fb_max,
                     o->pseudo_max, o->pseudo_keep, (uint32_t) o->learned, o->dual_max,
                     (uint32_t) o->use_reweight, (uint32_t) o->use_head,
                     (uint32_t) o->use_resid, m->net.dims.hidden, m->pool_n };
    uint8_t buf[sizeof(m->id) + sizeof(f) + sizeof(u)];
    size_t idlen = strnlen(m->id, sizeof(m->id));

    memset(buf, 0, sizeof(buf));
    memcpy(buf, m->id, idlen);
    memcpy(buf + sizeof(m->id), f, sizeof(f));
    memcpy(buf + sizeof(m->id) + sizeof(f), u, sizeof(u));
    return XXH64(buf, sizeof(buf), 0x5350524550ull) | 1;     /* 0 is "none" */
}

int
adapt_prep_usable(const struct adapt_prep *prep, const struct model *m,
                  const char *user_key, const struct adapt_opts *o)
{
    return prep->fingerprint == prep_fingerprint(m, o)
        && prep->hidden == m->net.dims.hidden
        && prep->seed == adapt_user_seed(user_key)
        && !pseudo_joins_feedback(o)
        && !(prep->n_mem > 0 && prep->mem_slot[prep->n_mem - 1] >> o->resid_bits != 0);
}

void
adapt_prep_clear(struct adapt_prep *prep)
{
    free(prep->mem_slot);
    free(prep->mem_w);
    free(prep->quad);
    memset(prep, 0, sizeof(*prep));
}

/* Feedback counts at which cross-validated lambda and mu still hold: from the
 * count they were chosen at until it has grown by a quarter. */
static int
cv_current(const struct adapt_prep *prep, size_t n_fb)
{
    size_t n = prep->cv_n, grow = n / 4 > 1 ? n / 4 : 1;

    return prep->have_cv && n_fb >= n && n_fb < n + grow;
}

int
adapt_fit(const struct model *m, const char *user_key,
          const struct adapt_example *fb, size_t n_fb,
          const struct adapt_example *unl, size_t n_unl,
          const struct adapt_opts *o, struct user_model **out,
          struct adapt_fit_stats *st)
{
    return adapt_fit_prep(m, user_key, fb, n_fb, unl, n_unl, o, NULL, out, st);
}

int
adapt_fit_prep(const struct model *m, const char *user_key,
               const struct adapt_example *fb, size_t n_fb,
               const struct adapt_example *unl, size_t n_unl,
               const struct adapt_opts *o, struct adapt_prep *prep,
               struct user_model **out, struct adapt_fit_stats *st)
{
    uint32_t hidden = m->net.dims.hidden, p = hidden + 1, seed, k;
    struct fit_ctx c;
    struct user_model *um = NULL;
    float *beta = NULL, *tgt = NULL;
    double *mask = NULL;
    struct adapt_example *all = NULL;
    double th[NET_MAX_HIDDEN + 2], lam, mu, thr_logit, t0 = clock_seconds(), dist = 0;
    size_t i, j, n_ps = 0;
    int rc = -1, need_head, need_resid, self;
    struct adapt_fit_stats s;
    struct adapt_prep own;
    struct user_model ps;       /* the self-trained token memory (residual only),
                                 * borrowed from prep */
    double *fb_base = NULL;

    assert(hidden <= NET_MAX_HIDDEN && o->resid_bits >= 1 && o->resid_bits <= 31);
    memset(&s, 0, sizeof(s));
    memset(&c, 0, sizeof(c));
    memset(&ps, 0, sizeof(ps));
    memset(&own, 0, sizeof(own));
    seed = adapt_user_seed(user_key);
    *out = NULL;
    if (prep == NULL)
        prep = &own;
    if (!adapt_prep_usable(prep, m, user_key, o)) {
        adapt_prep_clear(prep);
        prep->fingerprint = prep_fingerprint(m, o);
        prep->hidden = hidden;
        prep->seed = seed;
    }
    if (prep->have_unl) {
        /* what the unlabelled mail gave last time stands for it */
        n_unl = prep->n_unl;
        unl = NULL;
        s.reused |= ADAPT_REUSED_UNL;
    } else {
        /* recomputed below from unl */
        free(prep->mem_slot);
        free(prep->mem_w);
        free(prep->quad);
        prep->quad = NULL;
        prep->have_quad = 0;
        prep->mem_slot = NULL;
        prep->mem_w = NULL;
        prep->n_mem = prep->n_pseudo = prep->n_unl = 0;
    }
    s.n_feedback = (uint32_t) n_fb;
    s.n_unlabelled = (uint32_t) n_unl;
    s.n_pool = m->pool_n;
    s.domain_auc = 0.5;
    s.ess = m->pool_n;
    s.cv_err_before = s.cv_err_after = -1;
    thr_logit = m->threshold > 0 && m->threshold < 1
        ? log(m->threshold / (1 - m->threshold)) : 0;

    lam = o->lambda >= 0 ? o->lambda : LAMBDA_DEFAULT;
    mu = o->mu >= 0 ? o->mu : MU_DEFAULT;
    /* What has anything to learn from: the pool reweighted (needs unlabelled
     * mail), the head and residual (need feedback). */
    need_head = (o->use_reweight && n_unl >= 2 && m->pool_n > 0)
        || (o->use_head && n_fb > 0);
    need_resid = o->use_resid && (n_fb > 0 || (o->pseudo > 0 && n_unl > 0));
    if (!need_head && !need_resid) {
        if ((um = global_model(m, seed, o->resid_bits)) == NULL)
            goto fail;
        goto done;
    }

    if ((beta = malloc((m->pool_n ? m->pool_n : 1) * sizeof(float))) == NULL)
        goto fail;
    if (prep->have_unl) {
        adapt_domain_weights(&prep->dom, m->pool_rep, m->pool_n, beta);
    } else {
        memset(&prep->dom, 0, sizeof(prep->dom));
        prep->dom.auc = 0.5;
        if (o->use_reweight && n_unl >= 2 && m->pool_n > 0) {
            if ((tgt = malloc(n_unl * p * sizeof(float))) == NULL)
                goto fail;
            for (j = 0; j < n_unl; j++) {
                memcpy(tgt + j * p, unl[j].h, hidden * sizeof(float));
                tgt[j * p + hidden] = unl[j].z;
            }
            if (adapt_reweight(m->pool_rep, m->pool_n, tgt, n_unl, hidden, o->domain_l2,
                               o->clip, beta, &prep->dom) < 0)
                goto fail;
        } else
            adapt_domain_weights(&prep->dom, m->pool_rep, m->pool_n, beta);
    }
    if (prep->dom.p != 0) {
        s.domain_auc = prep->dom.auc;
        s.ess = prep->dom.ess;
    }
    /* Pseudo-labels: unlabelled messages the global head is sure about join
     * the feedback at weight pseudo, evenly spread over the sample, so that the
     * residual learns this user's own vocabulary before any label arrives. */
    if (!prep->have_unl && o->pseudo > 0 && o->pseudo_max > 0 && n_unl > 0
        && (o->use_resid || o->use_head)) {
        double conf = log(o->pseudo_conf / (1 - o->pseudo_conf));
        size_t n_cand = 0;

        for (j = 0; j < n_unl; j++)
            n_cand += fabs(net_head(m->net.head, hidden, unl[j].h, unl[j].z)) >= conf;
        n_ps = n_cand < o->pseudo_max ? n_cand : o->pseudo_max;
    }
    if ((all = malloc((n_fb + n_ps + 1) * sizeof(*all))) == NULL)
        goto fail;
    if (n_fb > 0)
        memcpy(all, fb, n_fb * sizeof(*all));
    if (n_ps > 0) {
        double conf = log(o->pseudo_conf / (1 - o->pseudo_conf));
        size_t n_cand = 0, seen = 0, taken = 0;

        for (j = 0; j < n_unl; j++)
            n_cand += fabs(net_head(m->net.head, hidden, unl[j].h, unl[j].z)) >= conf;
        /* candidate number seen is taken when it crosses the next multiple of
         * n_cand / n_ps: an even spread, deterministic */
        for (j = 0; j < n_unl && taken < n_ps; j++) {
            float l = net_head(m->net.head, hidden, unl[j].h, unl[j].z);

            if (fabs(l) < conf)
                continue;
            if ((seen++ * n_ps) / n_cand == taken) {
                all[n_fb + taken] = unl[j];
                all[n_fb + taken].spam = l > 0;
                taken++;
            }
        }
        n_ps = taken;
    }
    self = o->pseudo_self > 0 && o->use_resid;
    if (!prep->have_unl && self && n_ps > 0) {
        /* Self-training: the pseudo-labelled mail's own token memory; the
         * pseudo rows then leave all[]. */
        if (self_train(m, seed, all + n_fb, n_ps, o, &ps) < 0) {
            free(ps.resid_slot);
            free(ps.resid_w);
            goto fail;
        }
        prep->mem_slot = ps.resid_slot;
        prep->mem_w = ps.resid_w;
        prep->n_mem = ps.n_resid;
    }
    if (!prep->have_unl && (self || n_ps == 0)) {
        prep->n_unl = (uint32_t) n_unl;
        prep->n_pseudo = (uint32_t) n_ps;
        prep->have_unl = 1;
        prep->changed = 1;
        n_ps = 0;
    }
    s.n_pseudo = prep->have_unl ? prep->n_pseudo : (uint32_t) n_ps;
    if (prep->n_mem > 0) {
        /* The real feedback is fitted on top of the memory (fb_base). */
        ps.seed = seed;
        ps.resid_bits = o->resid_bits;
        ps.n_resid = prep->n_mem;
        ps.resid_slot = prep->mem_slot;
        ps.resid_w = prep->mem_w;
        if ((fb_base = malloc((n_fb + 1) * sizeof(double))) == NULL)
            goto fail;
        for (j = 0; j < n_fb; j++)
            fb_base[j] = mem_logit(&ps, fb[j].ids, fb[j].n);
    }
    if (ctx_build(&c, m, seed, all, n_fb + n_ps, o, 1) < 0)
        goto fail;
    c.fb_base = fb_base;
    c.prep = prep;
    c.refit_pool = (o->use_reweight && n_unl >= 2 && m->pool_n > 0)
        || (o->use_head && n_fb + n_ps > 0);
    if ((mask = malloc((n_fb + n_ps + 1) * sizeof(double))) == NULL)
        goto fail;
    for (j = 0; j < n_fb + n_ps; j++)
        mask[j] = j < n_fb ? 1.0 : o->pseudo;

    if (n_fb >= o->cv_min && n_fb >= CV_FOLDS && (o->lambda < 0 || o->mu < 0)
        && (o->use_head || o->use_resid)) {
        if (cv_current(prep, n_fb)) {
            lam = prep->lambda;
            mu = prep->mu;
            s.cv_err_after = prep->cv_err;
            s.reused |= ADAPT_REUSED_CV;
        } else {
            prep->have_cv = 0;
            if (cross_validate(&c, o->use_reweight ? beta : NULL, m, n_fb, lam, mu,
                               o->lambda < 0, o->mu < 0 && (o->use_head || o->use_reweight),
                               thr_logit, &lam, &mu, &s.cv_err_after) < 0)
                goto fail;
            prep->have_cv = 1;
            prep->changed = 1;
            prep->cv_n = (uint32_t) n_fb;
            prep->lambda = lam;
            prep->mu = mu;
            prep->cv_err = s.cv_err_after;
        }
        s.cross_validated = 1;
    }
    pool_weights(m->pool_label, o->use_reweight ? beta : NULL, m->pool_n, 1, c.pool_w);
    if (fit_once(&c, c.n_pool, c.pool_w, mask, lam, mu, th, c.r) < 0)
        goto fail;

    if ((um = global_model(m, seed, o->resid_bits)) == NULL)
        goto fail;
    for (k = 0; k < NET_HEAD_LEN(hidden); k++) {
        um->head[k] = (float) th[k];
        dist += (th[k] - m->net.head[k]) * (th[k] - m->net.head[k]);
    }
    s.head_distance = sqrt(dist);
    if (o->use_resid && c.n_slots > 0) {
        size_t n_nz = 0;

        for (i = 0; i < c.n_slots; i++)
            n_nz += (float) c.r[i] != 0.0f;
        if (n_nz > 0) {
            um->resid_slot = malloc(n_nz * sizeof(uint32_t));
            um->resid_w = malloc(n_nz * sizeof(float));
            if (um->resid_slot == NULL || um->resid_w == NULL)
                goto fail;
            for (i = 0; i < c.n_slots; i++)
                if ((float) c.r[i] != 0.0f) {
                    um->resid_slot[um->n_resid] = c.slots[i];
                    um->resid_w[um->n_resid++] = (float) c.r[i];
                }
        }
    }
    if (ps.n_resid > 0 && merge_resid(um, &ps) < 0)
        goto fail;
    s.n_resid = um->n_resid;
done:
    s.lambda = (float) lam;
    s.mu = (float) mu;
    if (n_fb > 0) {
        /* Error of the global head on the feedback (it never saw it). */
        size_t wrong = 0;

        for (j = 0; j < n_fb; j++) {
            float l = net_head(m->net.head, hidden, fb[j].h, fb[j].z);

            wrong += (l >= thr_logit) != (fb[j].spam != 0);
        }
        s.cv_err_before = (double) wrong / (double) n_fb;
    }
    *out = um;
    um = NULL;
    rc = 0;
fail:
    s.seconds = clock_seconds() - t0;
    if (st != NULL)
        *st = s;
    user_model_free(um);
    ctx_free(&c);
    free(beta);
    free(tgt);
    free(mask);
    free(all);
    free(fb_base);
    adapt_prep_clear(&own);
    return rc;
}
