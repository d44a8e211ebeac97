/*
 * evalplot.h - the pictures and raw points of `spamshift eval`: an SVG with the
 * ROC curve (log-scale false-positive axis) and, for online runs, the learning
 * curve over the messages learned; and the same points as TSV.
 */
#ifndef SPAMSHIFT_EVALPLOT_H
#define SPAMSHIFT_EVALPLOT_H

#include <stddef.h>
#include <stdio.h>

#include "metrics.h"

/* One point of a learning curve: after k messages, the error measured on the
 * block of messages that ended there. */
struct evalplot_step {
    double k;                   /* messages learned so far */
    double one_minus_auc_pct;   /* (1-AUC)% on the block; < 0 when the block
                                 * holds one class only (not plotted, "nan") */
    double err_pct;             /* misclassified % at the threshold on the block */
};

struct evalplot {
    const char *title;          /* e.g. the run's description */
    const char *label;          /* legend of the ROC curve */
    const struct metrics_point *roc;
    size_t n_roc;
    double auc;
    size_t n_ham;               /* sets the lowest FPR shown */
    const struct evalplot_step *curve;  /* NULL for offline runs */
    size_t n_curve;
};

/* Write the SVG to fp.  Returns 0, or -1 when writing failed. */
int evalplot_svg(FILE *fp, const struct evalplot *p);

/* Write "roc<TAB>fpr<TAB>tpr<TAB>threshold" and "curve<TAB>k<TAB>1-auc%<TAB>err%"
 * rows after a header line.  Returns 0, or -1 when writing failed. */
int evalplot_tsv(FILE *fp, const struct evalplot *p);

#endif
