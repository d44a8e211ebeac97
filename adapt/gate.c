/*
 * gate.c - the publish gate's measure: a model's false-positive rate
 * estimated on unlabelled mail (see gate.h).
 *
 * The judge is the user's current model, not the refit: the refit was fitted
 * to the labels that made it, so its own posteriors would vouch for it.
 * With the judge's ham weights the current model's estimate and the refit's
 * are on one scale; a refit that moves more of the user's likely ham above
 * its threshold than the current model does is the refit to refuse (SA ->
 * enron4, 50 labels: the refit flagged every ham of the second half).
 */
#include "config.h"

#include <math.h>
#include <stdlib.h>

#include "gate.h"
#include "oppoint.h"

static float
new_mail_score(const struct model *m, const struct user_model *um,
               const struct adapt_example *ex)
{
    return net_sigmoid((float) (adapt_logit(m, um, ex->h, ex->z, ex->ids, ex->n)
                                - adapt_learned_share(um, ex->ids, ex->n)));
}

double
gate_fpr(const struct model *m, const struct user_model *judge,
         const struct user_model *um, float thr, const struct adapt_example *res,
         size_t n)
{
    float *p;
    double prior, ham = 0, fp = 0;

    if (n == 0 || (p = malloc(n * sizeof(*p))) == NULL)
        return -1;
    for (size_t i = 0; i < n; i++)
        p[i] = new_mail_score(m, judge, &res[i]);
    prior = oppoint_prior_em(p, n, 0.5, 200);
    for (size_t i = 0; i < n; i++) {
        double w = 1.0 - oppoint_adjust(p[i], 0.5, prior);

        ham += w;
        fp += new_mail_score(m, um, &res[i]) >= thr ? w : 0;
    }
    free(p);
    return ham > 0 ? fp / ham : -1;
}
