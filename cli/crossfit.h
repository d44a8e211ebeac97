/*
 * crossfit.h - the shipped threshold of `spamshift train`, cross-fitted: for each
 * group of the training mail (an input directory, a --group), train on the other
 * groups, score the held-out group's ham, and place the threshold where the
 * pooled held-out ham meets the target false-positive rate.  No message is
 * scored by a model that saw it.  With fewer than two groups the mail is split
 * into k seeded folds instead.
 *
 * The same held-out scores choose the weight W of the token-count term
 * (model/counts.h) from a small grid: each fold model gets the count table of
 * its own training mail, the held-out mail is scored at every W (the network's
 * weights do not depend on W, so one training per fold serves the whole grid),
 * and each W gets its own pooled threshold.  The rule (crossfit_choose):
 * the W whose held-out FNR at its threshold is lowest, among the W whose
 * held-out (1-AUC)% is no higher than W = 0's; W > 0 only when its FNR is
 * strictly lower than W = 0's; ties go to the smaller W.  FNR at the target
 * is what the shipped verdict gives; the (1-AUC)% guard keeps a W that wins at
 * the one operating point by luck of a few ham from worsening the ranking
 * every per-user threshold and head is built on.  With folds instead of groups
 * the grid is cut to W = 0: random folds of one group hold copies of one
 * campaign on both sides, which flatters exact-token counting (SpamAssassin,
 * five folds: held-out (1-AUC)% 0.061 -> 0.044 at W = 0.1, while on its
 * later mail the same W worsens it, 0.041 -> 0.057; base-count-2026-12-07.md).
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

/* One W of the grid, over the pooled held-out mail. */
struct crossfit_weight {
    float w;
    float threshold;            /* pooled threshold at the target with this W */
    size_t fp, fn;              /* pooled held-out errors at it */
    double one_minus_auc_pct;   /* pooled held-out (1-AUC)% */
};

#define CROSSFIT_MAX_WEIGHTS 8
#define CROSSFIT_WEIGHTS_DEFAULT { 0.0f, 0.1f, 0.2f, 0.4f }
#define CROSSFIT_N_WEIGHTS_DEFAULT 4

struct crossfit_result {
    float threshold;            /* -1 when no ham could be held out */
    float count_weight;         /* the chosen W (0 when no ham could be held out) */
    size_t n_weights;           /* grid entries evaluated (0: none held out) */
    struct crossfit_weight wt[CROSSFIT_MAX_WEIGHTS];
    int kfold;                  /* 1 when folds stood in for groups */
    size_t n_groups;            /* groups (or folds) held out */
    struct crossfit_group *g;   /* n_groups entries, malloc'd (crossfit_free) */
    size_t n_ham, n_spam, fp, fn;   /* pooled over the held-out groups */
    double seconds;
};

/*
 * Cross-fit the threshold and the count weight for target over ex[0..n):
 * weights[0..n_weights) is the grid of W (ascending, at most
 * CROSSFIT_MAX_WEIGHTS; NULL or 0 entries: W = 0 alone, one model per fold
 * and no count table).  group[i] is example i's
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
                       const float *weights, size_t n_weights,
                       struct crossfit_result *r, char *err, size_t errlen);

/* The index into wt[0..n) of the W the rule above chooses: the index of W = 0
 * when the term does not help (or 0 when the grid lacks W = 0).  n >= 1.
 * Cannot fail. */
size_t crossfit_choose(const struct crossfit_weight *wt, size_t n);

void crossfit_free(struct crossfit_result *r);

#endif
