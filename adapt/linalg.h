/*
 * linalg.h - the small dense linear algebra and the line search of adapt/'s
 * Newton solvers (internal to adapt/): the logistic loss and linalg_sigmoid, gathered
 * rank-one Hessian updates, Cholesky factor/solve/inverse, an LU solve, the
 * Armijo backtracking search.  Everything works on caller arrays; nothing
 * allocates except linalg_gather_init().  Deterministic: fixed loop orders,
 * so that every fit is bit for bit the same on every run.
 */
#ifndef SPAMSHIFT_ADAPT_LINALG_H
#define SPAMSHIFT_ADAPT_LINALG_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

/* The row passes over the pool (lr_pass, objective_pool_pass) spend their time adding
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
/* Four floats: the single-precision Cholesky's inner loop. */
typedef float v4f __attribute__((vector_size(16)));

/* log(1 + exp(-m)): the logistic loss at margin m, without overflow. */
static inline double
linalg_logloss(double m)
{
    return m > 0 ? log1p(exp(-m)) : -m + log1p(exp(m));
}

/* The logistic function, without overflow. */
static inline double
linalg_sigmoid(double t)
{
    return t >= 0 ? 1.0 / (1.0 + exp(-t)) : exp(t) / (1.0 + exp(t));
}

/*
 * Gathered rank-one updates of a lower-triangular q x q Hessian: the row
 * passes add hi x x' for every row; one at a time that is a load and a store
 * of the Hessian per multiply-add.  A gather keeps LINALG_GATHER_ROWS rows (x and hi x)
 * and adds their sum into the Hessian at once, two columns at a time in
 * vector registers.  Each entry still gets its terms in row order within a
 * gather; the gathers' sums are added in order (deterministic).
 */
#define LINALG_GATHER_ROWS 16

struct linalg_gather {
    uint32_t q, stride, n;      /* stride: q rounded up to a multiple of 8 */
    double *x, *u;              /* LINALG_GATHER_ROWS rows of stride: x (zero-padded), hi x */
};

/* Allocate the gather for a q x q Hessian.  Returns 0, or -1 on allocation
 * failure.  Release with linalg_gather_free() (which accepts a failed init). */
int linalg_gather_init(struct linalg_gather *hg, uint32_t q);
/* hess (lower triangle, row-major q x q) += the gathered rows' sum. */
void linalg_gather_flush(struct linalg_gather *hg, double *hess);
void linalg_gather_free(struct linalg_gather *hg);

/* Gather hi x x' (x: q values); flushes into hess when the gather is full. */
static inline void
linalg_gather_add(struct linalg_gather *hg, double hi, const double *x, double *hess)
{
    double *xr = hg->x + (size_t) hg->n * hg->stride, *ur = hg->u + (size_t) hg->n * hg->stride;
    uint32_t a;

    for (a = 0; a < hg->q; a++) {
        xr[a] = x[a];
        ur[a] = hi * x[a];
    }
    if (++hg->n == LINALG_GATHER_ROWS)
        linalg_gather_flush(hg, hess);
}

/* In-place Cholesky factor L (lower triangle) of the q x q SPD matrix a
 * (row-major).  Returns -1 if a is not positive definite. */
int linalg_chol_factor(double *a, uint32_t q);
/* Solve L L' x = b in place, L from linalg_chol_factor(). */
void linalg_chol_apply(const double *a, uint32_t q, double *b);
/* The same two in single precision (twice the lanes of a vector register):
 * for a Newton direction, where the iteration, not the factor, sets the
 * accuracy (labels.c).  The solve takes and gives doubles. */
int linalg_chol_factor_f(float *a, uint32_t q);
void linalg_chol_apply_f(const float *a, uint32_t q, double *b);
/* x := (L L')^-1 (n x n, row-major) from the factor L of linalg_chol_factor(). */
void linalg_chol_inverse(const double *a, size_t n, double *x);
/* Solve the n x n system a x = b in place (b becomes x) by Gaussian
 * elimination with partial pivoting; a is destroyed.  -1 if singular. */
int linalg_lu_solve(double *a, size_t n, double *b);

/*
 * Backtracking (Armijo) line search of the Newton solvers over explicit
 * parameter vectors (logreg_fit, joint_solve): from the point x (n values,
 * then n2 more from x2) along d, halve the step until
 * obj(arg, trial) <= f - step dec / 4, or the step falls below 1e-10.  Fills
 * trial[0 .. n + n2) with the last point tried and returns the objective there.
 */
typedef double (*linalg_objective)(void *arg, const double *v);
double linalg_armijo(const double *x, size_t n, const double *x2, size_t n2, const double *d,
              double f, double dec, linalg_objective obj, void *arg, double *trial);

#endif
