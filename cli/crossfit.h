/*
 * crossfit.h - the shipped threshold of `spamshift train`, cross-fitted: for each
 * group of the training mail (an input directory, a --group), train on the other
 * groups, score the held-out group's ham, and place the threshold where the
 * pooled held-out ham meets the target false-positive rate.  No message is
 * scored by a model that saw it.  With fewer than two groups the mail is split
 * into k seeded folds instead.
 */
#ifndef SPAMSHIFT_CROSSFIT_H
#define SPAMSHIFT_CROSSFIT_H

#include <stddef.h>

#include "model.h"
#include "net.h"

struct crossfit_group {
    const char *name;           /* borrowed */
    size_t n_ham, n_spam;       /* held-out messages */
    size_t fp, fn;              /* at the chosen threshold */
    int skipped;                /* not held out: the others lack a class */
};

struct crossfit_result {
    float threshold;            /* -1 when no ham could be held out */
    int kfold;                  /* 1 when folds stood in for groups */
    size_t n_groups;            /* groups (or folds) held out */
    struct crossfit_group *g;   /* n_groups entries, malloc'd (crossfit_free) */
    size_t n_ham, n_spam, fp, fn;   /* pooled over the held-out groups */
    double seconds;
};

/*
 * Cross-fit the threshold for target over ex[0..n): group[i] is example i's
 * group in [0, n_names) (names[] their names), or -1 for an example that is
 * always trained on and never scored (feedback from a store).  Each fold is
 * trained with *opts (pool cut to nothing: a fold model is never saved) on the
 * other groups' examples in their original order.  With fewer than two groups
 * that hold examples, k folds by a seeded hash of the position.  Returns 0 and
 * *r (free with crossfit_free()), or -1 with a reason in err.
 */
int crossfit_threshold(const struct net_example *ex, size_t n, const int *group,
                       const char *const *names, size_t n_names,
                       const struct model_train_opts *opts, double target, unsigned k,
                       struct crossfit_result *r, char *err, size_t errlen);

void crossfit_free(struct crossfit_result *r);

#endif
