#!/usr/bin/env python3
"""bench/adapt/proto/metrics.py - metrics for bench/adapt/proto/proto's output.

  metrics.py WORK [WORK...] [--bogofilter] [--md OUT.md] [--title T]

WORK is a proto --out directory (scores.tsv, USER/threshold, USER/*.labels).
Per row and k, over every user in every WORK: mean (1-AUC)%, spam recall at
0.1% FPR, and FPR/FNR at the shipped threshold (USER/threshold, a logit); with
--bogofilter also bogofilter trained on source + the first k history messages
(bench/adapt/run.py's bogofilter(), cached in USER/bogofilter.json) with its
verdict at its default spam_cutoff 0.99.  Standard library only.
"""
import argparse
import importlib.util
import json
import os
from collections import defaultdict

_spec = importlib.util.spec_from_file_location(
    'adapt_run', os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'run.py'))
run = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(run)

BOGO_SPAM_CUTOFF = 0.99
ORDER = ['base', 'adapted', 'ad-m0', 'ad-no-rw', 'ad-no-head', 'ad-no-tok', 'ad-joint',
         'pooled', 'bogofilter', 'target-lr', 'full', 'no-rw', 'no-head',
         'no-tok']


def load(work, bogo):
    scores = defaultdict(lambda: ([], []))      # (user, k, row) -> (spam, ham)
    thr, users = {}, []
    with open(os.path.join(work, 'scores.tsv')) as f:
        next(f)
        for line in f:
            user, k, row, spam, logit = line.rstrip('\n').split('\t')
            if user not in users:
                users.append(user)
            scores[(user, int(k), row)][0 if spam == '1' else 1].append(float(logit))
    for user in users:
        udir = os.path.join(work, user)
        with open(os.path.join(udir, 'threshold')) as f:
            thr[(user, 'spamshift')] = float(f.read())
        thr[(user, 'bogofilter')] = BOGO_SPAM_CUTOFF
        if not bogo:
            continue
        ks = sorted(set(k for (u, k, _) in scores if u == user))
        cache = os.path.join(udir, 'bogofilter.json')
        if os.path.exists(cache):
            with open(cache) as f:
                bog = {int(k): v for k, v in json.load(f).items()}
        else:
            bog = run.bogofilter(udir, ks, work)
            with open(cache, 'w') as f:
                json.dump(bog, f)
        labels = dict((p, y) for y, p in (l.split('\t', 1) for l in
                                          run.read_list(os.path.join(udir, 'test.labels'))))
        for k, got in bog.items():
            for p, s in got.items():
                scores[(user, k, 'bogofilter')][0 if labels[p] == '1' else 1].append(s)
    tpath = os.path.join(work, 'thresholds.tsv')
    if os.path.exists(tpath):
        # the product rows' own per-user thresholds (refit_oppoint + oppoint_lookup)
        with open(tpath) as f:
            next(f)
            for line in f:
                user, k, row, t, _src = line.rstrip('\n').split('\t')
                thr[(user, int(k), row)] = float(t)
    return scores, thr, users


def measure(works, bogo):
    """(users, rows, ks, res): res[(row, k)] = [(user, (1-AUC)%, recall at 0.1% FPR,
    FPR%, FNR%) per user] over the proto --out directories works, for the (row, k)
    that every user has."""
    scores, thr, users = {}, {}, []
    for w in works:
        s, t, u = load(w, bogo)
        scores.update(s)
        thr.update(t)
        users += u
    rows = sorted(set(r for (_, _, r) in scores),
                  key=lambda r: (ORDER.index(r) if r in ORDER else len(ORDER), r))
    ks = sorted(set(k for (_, k, _) in scores))
    res = {}
    for row in rows:
        for k in ks:
            cells = []
            for user in users:
                pos, neg = scores.get((user, k, row), ([], []))
                if not pos or not neg:
                    continue
                t = thr.get((user, k, row),
                            thr[(user, 'bogofilter' if row == 'bogofilter' else 'spamshift')])
                cells.append((user, 100 * (1 - run.auc(pos, neg)), run.recall_at_fpr(pos, neg),
                              100.0 * sum(1 for s in neg if s >= t) / len(neg),
                              100.0 * sum(1 for s in pos if s < t) / len(pos)))
            if len(cells) == len(users):
                res[(row, k)] = cells
    return users, rows, ks, res


def mean_table(rows, ks, res, extra=None):
    """The markdown lines of the mean-over-users table: a row per row name, a
    column per k, each cell (1-AUC)% / recall / FPR% / FNR%; after a row, the
    lines extra(row) returns, if extra is given."""
    out = ['| row | ' + ' | '.join('k=%d' % k for k in ks) + ' |', '|---|' + '---|' * len(ks)]
    for row in rows:
        c = []
        for k in ks:
            v = res.get((row, k))
            if v is None:
                c.append('')
                continue
            n = float(len(v))
            c.append('%.2f / %.3f / %.2f / %.2f' % tuple(sum(x[i] for x in v) / n
                                                          for i in range(1, 5)))
        out.append('| %s | %s |' % (row, ' | '.join(c)))
        if extra is not None:
            out += extra(row)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('work', nargs='+')
    ap.add_argument('--bogofilter', action='store_true')
    ap.add_argument('--md')
    ap.add_argument('--title', default='')
    ap.add_argument('--per-user', action='store_true')
    args = ap.parse_args()
    users, rows, ks, res = measure(args.work, args.bogofilter)
    out = []
    out.append('%s users: %s\n' % (args.title, ', '.join(users)))
    out.append('Mean over users: (1-AUC)% / spam recall at 0.1% FPR / FPR% / FNR% at the '
               'shipped threshold (bogofilter: spam_cutoff 0.99)\n')
    out += mean_table(rows, ks, res)
    out.append('\nWorst user\'s FPR% at the threshold used\n')
    out.append('| row | ' + ' | '.join('k=%d' % k for k in ks) + ' |')
    out.append('|---|' + '---|' * len(ks))
    for row in rows:
        c = []
        for k in ks:
            v = res.get((row, k))
            c.append('' if v is None else '%s %.2f' % max(((x[0], x[3]) for x in v),
                                                         key=lambda t: t[1]))
        out.append('| %s | %s |' % (row, ' | '.join(c)))
    if args.per_user and len(users) > 1:
        out.append('\nPer user (1-AUC)% / FPR% / FNR%\n')
        for k in ks:
            out.append('k=%d\n\n| row | %s |\n|---|%s' % (k, ' | '.join(users),
                                                         '---|' * len(users)))
            for row in rows:
                v = res.get((row, k))
                if v:
                    out.append('| %s | %s |' % (row, ' | '.join('%.2f / %.2f / %.2f' % (x[1], x[3], x[4])
                                                                for x in v)))
            out.append('')
    text = '\n'.join(out) + '\n'
    print(text)
    if args.md:
        with open(args.md, 'w') as f:
            f.write(text)


if __name__ == '__main__':
    main()
