#!/usr/bin/env python3
"""bench/adapt/table.py - the issue 16 table from bench/adapt/table.sh's WORKDIR.

  table.py WORKDIR [--compact]

For each split (loo, sa-enron, enron-sa, sa-temporal) whose WORKDIR/proto-SPLIT
exists: the mean over users per row and k of (1-AUC)%, spam recall at 0.1% FPR
and FPR%/FNR% at the threshold proto used (bench/adapt/proto/metrics.py,
bogofilter from its cache), and, for base and adapted, FPR%/FNR% through the
CLI at the shipped settings (WORKDIR/cli-SPLIT/rates.tsv, bench/adapt/oppoint.sh),
per user and mean.  --compact: the README's table instead (mean per split;
base, adapted, pooled, bogofilter; k = 0, 50, 200; (1-AUC)% and FPR/FNR, the
CLI's where there is one, else proto's marked *; bogofilter's at its cutoffs).  Standard library only.
"""
import argparse
import importlib.util
import os
from collections import defaultdict

_spec = importlib.util.spec_from_file_location(
    'proto_metrics', os.path.join(os.path.dirname(os.path.abspath(__file__)), 'proto',
                                  'metrics.py'))
metrics = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(metrics)

SPLITS = [('loo', 'Enron leave-one-user-out'), ('sa-enron', 'SA -> enron1..6'),
          ('enron-sa', 'Enron 1-6 -> SA (Date order)'), ('sa-temporal', 'SA older -> newer')]


def cli_rates(work, split):
    """{(user, row, k): (FPR%, FNR%)} from cli-SPLIT/rates.tsv; row base or adapted."""
    out = {}
    path = os.path.join(work, 'cli-' + split, 'rates.tsv')
    if not os.path.exists(path):
        return out
    with open(path) as f:
        for line in f:
            user, what, fpr, fnr = line.rstrip('\n').split('\t')[:4]
            if what == 'base':
                out[(user, 'base', None)] = (float(fpr), float(fnr))
            else:
                out[(user, 'adapted', int(what[2:]))] = (float(fpr), float(fnr))
    return out


def cli_mean(cli, users, row, k):
    """Mean (FPR%, FNR%) and the worst user's FPR over users, or None."""
    key = lambda u: (u, row, None if row == 'base' else k)
    if not users or any(key(u) not in cli for u in users):
        return None
    v = [cli[key(u)] for u in users]
    worst = max(users, key=lambda u: cli[key(u)][0])
    return (sum(x[0] for x in v) / len(v), sum(x[1] for x in v) / len(v), worst,
            cli[key(worst)][0])


def mean(cells, i):
    return sum(c[i] for c in cells) / len(cells)


def splits(work):
    """(title, users, rows, ks, res, cli) for each split WORKDIR has."""
    for split, title in SPLITS:
        pdir = os.path.join(work, 'proto-' + split)
        if os.path.isdir(pdir):
            users, rows, ks, res = metrics.measure([pdir], True)
            yield title, users, rows, ks, res, cli_rates(work, split)


def full(work):
    out = []
    for title, users, rows, ks, res, cli in splits(work):
        out.append('### %s (users: %s)\n' % (title, ', '.join(users)))
        out.append('Mean over users. proto: (1-AUC)% / spam recall at 0.1% FPR / FPR% / FNR% '
                   'at the threshold proto used (product rows: the per-user threshold the '
                   'product publishes; base, pooled, target-lr: the base model\'s 0.5; '
                   'bogofilter: spam_cutoff 0.99). CLI: FPR% / FNR% at the shipped settings '
                   '(worst user\'s FPR).\n')
        def cli_line(row):
            if row not in ('base', 'adapted') or not cli:
                return []
            c = []
            for k in ks:
                m = cli_mean(cli, users, row, k)
                c.append('' if m is None else 'CLI %.2f / %.2f (%s %.2f)' % m)
            return ['| %s, CLI | %s |' % (row, ' | '.join(c))]

        out += metrics.mean_table(rows, ks, res, cli_line)
        if cli and len(users) > 1:
            out.append('\nCLI per user, FPR% / FNR% at the shipped settings\n')
            out.append('| row | ' + ' | '.join(users) + ' |')
            out.append('|---|' + '---|' * len(users))
            for row, k in [('base', None)] + [('adapted', k) for k in ks]:
                if all((u, row, k) in cli for u in users):
                    out.append('| %s | %s |' % (row if k is None else 'adapted k=%d' % k,
                               ' | '.join('%.2f / %.2f' % cli[(u, row, k)] for u in users)))
        out.append('')
    return '\n'.join(out)


def compact(work):
    out = ['| split | row | k=0 | k=50 | k=200 |', '|---|---|---|---|---|']
    for title, users, rows, ks, res, cli in splits(work):
        for row in ('base', 'adapted', 'pooled', 'bogofilter'):
            c = []
            for k in (0, 50, 200):
                v = res.get((row, k))
                if v is None:
                    c.append('')
                    continue
                m = cli_mean(cli, users, row, k) if row in ('base', 'adapted') else None
                if m:
                    c.append('%.2f · %.2f / %.2f' % (mean(v, 1), m[0], m[1]))
                else:
                    c.append('%.2f · %.2f / %.2f%s' % (mean(v, 1), mean(v, 3), mean(v, 4),
                                                      '' if row == 'bogofilter' else ' *'))
            out.append('| %s | %s | %s |' % (title, row, ' | '.join(c)))
    return '\n'.join(out) + '\n'


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('work')
    ap.add_argument('--compact', action='store_true')
    a = ap.parse_args()
    print(compact(a.work) if a.compact else full(a.work))


if __name__ == '__main__':
    main()
