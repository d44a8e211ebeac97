/*
 * evalplot.c - SVG and TSV output of `spamshift eval` (evalplot.h).  Plain
 * SVG 1.1 written by hand: two panels side by side, each with its axes, ticks,
 * units and legend inside the picture, so it reads without the command line.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "evalplot.h"

#define PW 440      /* panel width and height (plot area) */
#define PH 340
#define ML 70       /* margins around a plot area */
#define MT 50
#define MB 60
#define MR 30

static void
xml_text(FILE *fp, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '<': fputs("&lt;", fp); break;
        case '>': fputs("&gt;", fp); break;
        case '&': fputs("&amp;", fp); break;
        case '"': fputs("&quot;", fp); break;
        default:
            if ((unsigned char) *s >= 0x20)
                putc(*s, fp);
        }
    }
}

/* The ROC panel at x0: FPR on a log axis from lo to 1, TPR linear 0..1 (shown
 * in %). */
/* A panel's x-axis label, y-axis label and title around its plot area at
 * (px, py); the texts are plain (no markup). */
static void
panel_titles(FILE *fp, int px, int py, const char *xlabel, const char *ylabel,
             const char *title)
{
    fprintf(fp, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">%s</text>\n",
            px + PW / 2, py + PH + 42, xlabel);
    fprintf(fp, "<text transform=\"translate(%d,%d) rotate(-90)\" text-anchor=\"middle\">"
            "%s</text>\n", px - 48, py + PH / 2, ylabel);
    fprintf(fp, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\" font-weight=\"bold\">"
            "%s</text>\n", px + PW / 2, py - 14, title);
}

static void
roc_panel(FILE *fp, const struct evalplot *p, int x0)
{
    double lo = 1e-4, llo;
    int px = x0 + ML, py = MT;

    if (p->n_ham > 0 && 0.5 / p->n_ham < lo)
        lo = pow(10, floor(log10(0.5 / p->n_ham)));
    llo = log10(lo);
#define X(f) (px + PW * (log10((f) < lo ? lo : (f)) - llo) / -llo)
#define Y(t) (py + PH * (1 - (t)))
    fprintf(fp, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"white\" "
            "stroke=\"black\"/>\n", px, py, PW, PH);
    for (double d = lo; d <= 1.0001; d *= 10) {
        double x = X(d);
        fprintf(fp, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#ddd\"/>\n",
                x, py, x, py + PH);
        fprintf(fp, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%g%%</text>\n",
                x, py + PH + 18, d * 100);
    }
    for (int t = 0; t <= 100; t += 20) {
        double y = Y(t / 100.0);
        fprintf(fp, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#ddd\"/>\n",
                px, y, px + PW, y);
        fprintf(fp, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%d%%</text>\n",
                px - 6, y + 4, t);
    }
    panel_titles(fp, px, py, "false-positive rate (ham called spam, %, log scale)",
                 "spam recall (%)", "ROC curve");
    fprintf(fp, "<polyline fill=\"none\" stroke=\"#c0392b\" stroke-width=\"2\" points=\"");
    for (size_t i = 0; i < p->n_roc; i++) {
        /* A step curve: recall rises at a fixed FPR, then FPR moves on. */
        if (i > 0)
            fprintf(fp, "%.1f,%.1f ", X(p->roc[i].fpr), Y(p->roc[i - 1].tpr));
        fprintf(fp, "%.1f,%.1f ", X(p->roc[i].fpr), Y(p->roc[i].tpr));
    }
    fprintf(fp, "\"/>\n");
    fprintf(fp, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#c0392b\" "
            "stroke-width=\"2\"/>\n", px + PW - 210, py + PH - 24, px + PW - 185, py + PH - 24);
    fprintf(fp, "<text x=\"%d\" y=\"%d\">", px + PW - 180, py + PH - 20);
    xml_text(fp, p->label ? p->label : "spamshift");
    fprintf(fp, " (1-AUC %.3f%%)</text>\n", 100 * (1 - p->auc));
#undef X
#undef Y
}

/* The learning-curve panel: k on a log axis, error % on a linear one. */
static void
curve_panel(FILE *fp, const struct evalplot *p, int x0)
{
    int px = x0 + ML, py = MT;
    double kmin = 1e300, kmax = 1, ymax = 1, lk0, lk1;

    for (size_t i = 0; i < p->n_curve; i++) {
        if (p->curve[i].k < kmin)
            kmin = p->curve[i].k;
        if (p->curve[i].k > kmax)
            kmax = p->curve[i].k;
        if (p->curve[i].err_pct > ymax)
            ymax = p->curve[i].err_pct;
        if (p->curve[i].one_minus_auc_pct > ymax)
            ymax = p->curve[i].one_minus_auc_pct;
    }
    if (kmin < 1 || kmin > kmax)
        kmin = 1;
    lk0 = floor(log10(kmin));
    lk1 = ceil(log10(kmax));
    if (lk1 <= lk0)
        lk1 = lk0 + 1;
    ymax = ymax <= 5 ? 5 : ymax <= 10 ? 10 : ymax <= 25 ? 25 : ymax <= 50 ? 50 : 100;
#define X(k) (px + PW * (log10(k) - lk0) / (lk1 - lk0))
#define Y(v) (py + PH * (1 - (v) / ymax))
    fprintf(fp, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"white\" "
            "stroke=\"black\"/>\n", px, py, PW, PH);
    for (double e = lk0; e <= lk1 + 1e-9; e++) {
        double x = X(pow(10, e));
        fprintf(fp, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#ddd\"/>\n",
                x, py, x, py + PH);
        fprintf(fp, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%g</text>\n",
                x, py + PH + 18, pow(10, e));
    }
    for (int t = 0; t <= 5; t++) {
        double v = ymax * t / 5, y = Y(v);
        fprintf(fp, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#ddd\"/>\n",
                px, y, px + PW, y);
        fprintf(fp, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%g%%</text>\n",
                px - 6, y + 4, v);
    }
    panel_titles(fp, px, py, "messages learned so far, k (log scale)",
                 "error on the block ending at k (%)", "Learning curve");
    for (int s = 0; s < 2; s++) {
        fprintf(fp, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"",
                s ? "#2c3e50" : "#2980b9");
        for (size_t i = 0; i < p->n_curve; i++) {
            double v = s ? p->curve[i].err_pct : p->curve[i].one_minus_auc_pct;

            if (v < 0)
                continue;       /* not measurable on that block */
            fprintf(fp, "%.1f,%.1f ", X(p->curve[i].k), Y(v > ymax ? ymax : v));
        }
        fprintf(fp, "\"/>\n");
        fprintf(fp, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"%s\" "
                "stroke-width=\"2\"/>\n", px + PW - 250, py + 20 + 18 * s, px + PW - 225,
                py + 20 + 18 * s, s ? "#2c3e50" : "#2980b9");
        fprintf(fp, "<text x=\"%d\" y=\"%d\">%s</text>\n", px + PW - 220, py + 24 + 18 * s,
                s ? "misclassified at threshold (%)" : "(1-AUC)% of the block");
    }
#undef X
#undef Y
}

int
evalplot_svg(FILE *fp, const struct evalplot *p)
{
    int panels = p->curve && p->n_curve ? 2 : 1;
    int w = panels * (ML + PW + MR), h = MT + PH + MB + 20;

    fprintf(fp, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"%d\" "
            "height=\"%d\" viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" "
            "font-size=\"12\">\n", w, h, w, h);
    fprintf(fp, "<rect width=\"%d\" height=\"%d\" fill=\"white\"/>\n", w, h);
    if (p->title) {
        fprintf(fp, "<title>");
        xml_text(fp, p->title);
        fprintf(fp, "</title>\n<text x=\"%d\" y=\"%d\" text-anchor=\"middle\" "
                "font-size=\"11\" fill=\"#555\">", w / 2, h - 6);
        xml_text(fp, p->title);
        fprintf(fp, "</text>\n");
    }
    roc_panel(fp, p, 0);
    if (panels == 2)
        curve_panel(fp, p, ML + PW + MR);
    fprintf(fp, "</svg>\n");
    return ferror(fp) ? -1 : 0;
}

int
evalplot_tsv(FILE *fp, const struct evalplot *p)
{
    fprintf(fp, "kind\tx\ty\tz\n");
    for (size_t i = 0; i < p->n_roc; i++)
        fprintf(fp, "roc\t%.6g\t%.6g\t%.6g\n", p->roc[i].fpr, p->roc[i].tpr, p->roc[i].thr);
    for (size_t i = 0; i < p->n_curve; i++)
        if (p->curve[i].one_minus_auc_pct < 0)
            fprintf(fp, "curve\t%.0f\tnan\t%.6g\n", p->curve[i].k, p->curve[i].err_pct);
        else
            fprintf(fp, "curve\t%.0f\t%.6g\t%.6g\n", p->curve[i].k,
                    p->curve[i].one_minus_auc_pct, p->curve[i].err_pct);
    return ferror(fp) ? -1 : 0;
}
