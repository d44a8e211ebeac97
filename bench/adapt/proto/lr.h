/*
 * lr.h - weighted L2 logistic regression for the per-user learner prototype
 * (issue 16 research; bench code, not product):
 *
 *   min over theta = [dense (p); sparse (m)]:
 *     sum_i w_i l(y_i, off_i + theta_dense . dense_i + val_i sum_{c in col_i} theta_sparse[c])
 *     + sum_j pen[j] (theta_dense[j] - center[j])^2
 *     + sum_c r_pen_c (theta_sparse[c] - r_center[c])^2
 *
 * l is the logistic loss.  L-BFGS (8 pairs) with Armijo backtracking, from
 * theta as given; stops when the largest gradient entry is below tol or the
 * objective stalls.  Returns the iterations used, -1 on allocation failure.
 */
#ifndef PROTO_LR_H
#define PROTO_LR_H

#include <stddef.h>
#include <stdint.h>

struct lr_row {
    const float *dense;     /* p values */
    const uint32_t *col;    /* n sparse column indices < m */
    uint32_t n;
    float val;              /* every sparse entry's value (1/sqrt(ids)) */
    double off;
    double w;
    uint8_t y;
};

struct lr_problem {
    const struct lr_row *rows;
    size_t n;
    uint32_t p;
    size_t m;
    const double *pen, *center;         /* p each; center may be NULL (0) */
    double r_pen;                       /* when r_pen_each is NULL */
    const double *r_pen_each;           /* m, or NULL */
    const double *r_center;             /* m, or NULL (0) */
};

int lr_fit(const struct lr_problem *pb, double *theta, int max_iter, double tol);
double lr_logit(const struct lr_problem *pb, const double *theta, const struct lr_row *r);

#endif
