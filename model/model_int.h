/*
 * model_int.h - helpers shared by the files of the model object (model.c: the
 * file format; score.c: scoring; train.c: training; pool.c: the source pool).
 * Internal to model/: nothing outside model/ includes it.
 */
#ifndef SPAMSHIFT_MODEL_INT_H
#define SPAMSHIFT_MODEL_INT_H

#include <stddef.h>

#include "model.h"

/* printf into err[0..errlen) when err is non-NULL and errlen > 0; cannot fail. */
void model_seterr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Score n rows of ex under m's global head on up to `threads` threads (1 or 2),
 * in two fixed halves: row i is ex[rows[i]] (ex[i] when rows is NULL).  Writes
 * the probability to prob[i] when prob is non-NULL and the representation (h,
 * then z: hidden + 1 floats) to rep[i * (hidden + 1)] when rep is non-NULL.
 * Each row's result is bit for bit model_score() of it, whatever the split;
 * falls back to one thread when a thread cannot be started.  Cannot fail. */
void model_score_rows(const struct model *m, const struct net_example *ex,
                      const size_t *rows, size_t n, float *prob, float *rep,
                      unsigned threads);

#endif
