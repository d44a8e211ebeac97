#!/usr/bin/env python3
"""bench/adapt/run.py - the leave-one-user-out adaptation benchmark, end to end.

Runs bench/adapt/loo (spamshift's rows: base, target-only, adapted and the three
ablations, scores as logits), trains and runs bogofilter on exactly the same
splits (source + the first k labelled history messages, scored on the test half),
and writes per-user and mean (1-AUC)% and spam recall at FPR <= 0.1% as
Markdown and JSON.

  bench/adapt/run.py --loo BUILD/bench/adapt/loo --enron /data/enron --out bench/results/adapt-enron
  bench/adapt/run.py --loo BUILD/bench/adapt/loo --sa /data/sa --out bench/results/adapt-sa

Extra arguments after -- go to loo (e.g. -- --lambda 0.1).  --work DIR keeps the
split lists and scores (default: a temporary directory); --reuse skips loo and
bogofilter when DIR already holds their output.  Standard library only.
"""
import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict

ROWS = ['base', 'target-only', 'bogofilter', 'adapted', 'adapted-no-pseudo', 'reweight-only',
        'head-only', 'resid-only']


def auc(pos, neg):
    """ROC AUC by ranks, ties counted half."""
    items = sorted([(s, 1) for s in pos] + [(s, 0) for s in neg])
    rank_sum, i, n = 0.0, 0, len(items)
    while i < n:
        j = i
        while j < n and items[j][0] == items[i][0]:
            j += 1
        mid = (i + 1 + j) / 2.0
        rank_sum += mid * sum(y for _, y in items[i:j])
        i = j
    p, q = len(pos), len(neg)
    if p == 0 or q == 0:
        return float('nan')
    return (rank_sum - p * (p + 1) / 2.0) / (p * q)


def recall_at_fpr(pos, neg, fpr=0.001):
    """Spam recall at the strictest threshold letting at most floor(fpr*|ham|) ham
    through: a spam counts only if it scores above that many + 1 ham."""
    hs = sorted(neg, reverse=True)
    allowed = int(fpr * len(hs))
    thr = hs[allowed] if allowed < len(hs) else float('-inf')
    return sum(1 for s in pos if s > thr) / float(len(pos)) if pos else float('nan')


def read_list(path):
    with open(path) as f:
        return [l.rstrip('\n') for l in f if l.strip()]


def bogofilter(udir, ks, work):
    """Scores of bogofilter trained on source + first k history, per k."""
    db0 = os.path.join(work, 'bogo-' + os.path.basename(udir))
    if os.path.isdir(db0):
        shutil.rmtree(db0)
    os.mkdir(db0)
    for flag, name in (('-s', 'source.spam'), ('-n', 'source.ham')):
        with open(os.path.join(udir, name)) as f:
            subprocess.run(['nice', 'bogofilter', '-C', '-d', db0, flag, '-b'], stdin=f,
                           check=True)
    hist = [l.split('\t', 1) for l in read_list(os.path.join(udir, 'history.labels'))]
    test = read_list(os.path.join(udir, 'test'))
    out = {}
    for k in ks:
        db = db0 + '-k%d' % k
        if os.path.isdir(db):
            shutil.rmtree(db)
        shutil.copytree(db0, db)
        for flag, lab in (('-s', '1'), ('-n', '0')):
            paths = [p for y, p in hist[:k] if y == lab]
            if paths:
                subprocess.run(['nice', 'bogofilter', '-C', '-d', db, flag, '-b'],
                               input='\n'.join(paths) + '\n', text=True, check=True)
        res = subprocess.run(['nice', 'bogofilter', '-C', '-d', db, '-v', '-b',
                              '--spamicity-formats=%.12e,%.12e,%.12e'],
                             input='\n'.join(test) + '\n', text=True, capture_output=True)
        got = {}
        for line in res.stdout.splitlines():
            path, rest = line.split(' X-Bogosity: ', 1)
            got[path] = float(rest.split('spamicity=', 1)[1].split(',', 1)[0])
        out[min(k, len(hist))] = got
        shutil.rmtree(db)
    shutil.rmtree(db0)
    return out


def machine():
    cpu = ''
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    cpu = line.split(':', 1)[1].strip()
                    break
    except OSError:
        pass
    return '%s, %s, %d cores' % (platform.platform(), cpu, os.cpu_count() or 0)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--loo', required=True, help='the bench/adapt/loo binary')
    ap.add_argument('--enron', help='folder holding enron1..6')
    ap.add_argument('--sa', help='folder holding easy-ham-1 ... spam-2')
    ap.add_argument('--out', required=True, help='write OUT.md and OUT.json')
    ap.add_argument('--ks', default='0,10,50,200')
    ap.add_argument('--work', help='keep lists and scores here')
    ap.add_argument('--reuse', action='store_true', help='reuse loo/bogofilter output in --work')
    ap.add_argument('--no-bogofilter', action='store_true')
    ap.add_argument('loo_args', nargs='*')
    args = ap.parse_args()
    if (args.enron is None) == (args.sa is None):
        sys.exit('give exactly one of --enron and --sa')
    if not args.no_bogofilter and shutil.which('bogofilter') is None:
        sys.exit('bogofilter not found: apt-get install bogofilter')
    ks = [int(k) for k in args.ks.split(',')]
    work = args.work or tempfile.mkdtemp(prefix='spamshift-adapt-')
    os.makedirs(work, exist_ok=True)
    cmd = [args.loo, '--enron' if args.enron else '--sa', args.enron or args.sa,
           '--out', work, '--ks', args.ks] + args.loo_args
    t0 = time.time()
    if not (args.reuse and os.path.exists(os.path.join(work, 'scores.tsv'))):
        subprocess.run(['nice'] + cmd, check=True)
    loo_seconds = time.time() - t0

    scores = defaultdict(lambda: ([], []))      # (user, k, row) -> (spam, ham)
    users = []
    with open(os.path.join(work, 'scores.tsv')) as f:
        next(f)
        for line in f:
            user, k, row, spam, logit = line.rstrip('\n').split('\t')
            if user not in users:
                users.append(user)
            scores[(user, int(k), row)][0 if spam == '1' else 1].append(float(logit))
    t1 = time.time()
    if not args.no_bogofilter:
        for user in users:
            udir = os.path.join(work, user)
            cache = os.path.join(udir, 'bogofilter.json')
            if args.reuse and os.path.exists(cache):
                with open(cache) as f:
                    bog = {int(k): v for k, v in json.load(f).items()}
            else:
                bog = bogofilter(udir, ks, work)
                with open(cache, 'w') as f:
                    json.dump(bog, f)
            labels = dict((p, y) for y, p in (l.split('\t', 1) for l in
                                              read_list(os.path.join(udir, 'test.labels'))))
            for k, got in bog.items():
                for p, s in got.items():
                    scores[(user, k, 'bogofilter')][0 if labels[p] == '1' else 1].append(s)
    bogo_seconds = time.time() - t1

    result = {'date': time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime()),
              'machine': machine(), 'command': ' '.join(cmd),
              'loo_seconds': round(loo_seconds, 1), 'bogofilter_seconds': round(bogo_seconds, 1),
              'users': users, 'ks': ks, 'per_user': {}, 'mean': {}}
    kk = sorted(set(k for (_, k, _) in scores))
    for row in ROWS:
        for k in kk:
            errs, recs = [], []
            for user in users:
                pos, neg = scores.get((user, k, row), ([], []))
                if not pos or not neg:
                    continue
                e = 100.0 * (1 - auc(pos, neg))
                r = recall_at_fpr(pos, neg)
                result['per_user'].setdefault(row, {}).setdefault(str(k), {})[user] = {
                    'one_minus_auc_pct': round(e, 4), 'recall_at_0.1pct_fpr': round(r, 4),
                    'n_spam': len(pos), 'n_ham': len(neg)}
                errs.append(e)
                recs.append(r)
            if errs and len(errs) == len(users):
                result['mean'].setdefault(row, {})[str(k)] = {
                    'one_minus_auc_pct': round(sum(errs) / len(errs), 4),
                    'recall_at_0.1pct_fpr': round(sum(recs) / len(recs), 4)}

    with open(args.out + '.json', 'w') as f:
        json.dump(result, f, indent=1, sort_keys=True)
    with open(args.out + '.md', 'w') as f:
        f.write('# Adaptation benchmark: %s\n\n' % ('Enron-Spam, leave one user out'
                if args.enron else 'SpamAssassin corpus, old groups -> new group'))
        f.write('- date: %s\n- machine: %s\n- command: `%s`\n' % (result['date'],
                result['machine'], ' '.join(sys.argv)))
        f.write('- loo: `%s` (%.0f s); bogofilter %.0f s\n' % (result['command'], loo_seconds,
                                                              bogo_seconds))
        f.write('- split: each held-out user\'s mail in arrival order; first half history '
                '(all unlabelled, first k labelled), second half test.\n\n')
        f.write('## Mean over users: (1-AUC)%% / spam recall at 0.1%% FPR\n\n')
        f.write('| row | ' + ' | '.join('k=%d' % k for k in kk) + ' |\n')
        f.write('|---|' + '---|' * len(kk) + '\n')
        for row in ROWS:
            if row not in result['mean']:
                continue
            cells = []
            for k in kk:
                m = result['mean'][row].get(str(k))
                cells.append('%.3f / %.3f' % (m['one_minus_auc_pct'],
                                              m['recall_at_0.1pct_fpr']) if m else 'n/a')
            f.write('| %s | %s |\n' % (row, ' | '.join(cells)))
        f.write('\n## Per user: (1-AUC)%\n\n')
        for k in kk:
            f.write('### k = %d\n\n| row | %s |\n|---|%s\n' % (k, ' | '.join(users),
                                                             '---|' * len(users)))
            for row in ROWS:
                pu = result['per_user'].get(row, {}).get(str(k), {})
                if not pu:
                    continue
                f.write('| %s | %s |\n' % (row, ' | '.join(
                    '%.3f' % pu[u]['one_minus_auc_pct'] if u in pu else 'n/a' for u in users)))
            f.write('\n')
    print(open(args.out + '.md').read())


if __name__ == '__main__':
    main()
