#!/usr/bin/env python3
"""bench/adapt/proto/tail.py - the low-FPR tail of a proto run (Enron LOO), offline.

    tail.py rates OUTDIR ROW K CLI_THRESHOLDS [-v]
    tail.py joint OUTDIR ROW K
    tail.py subject OUTDIR ROW DELTA HAM_LOGIT [both] > scores.tsv
    tail.py errors OUTDIR ROW CLI_THRESHOLDS
    tail.py cli-errors WORK ENRON_DIR

OUTDIR is a bench/adapt/proto --out directory (scores.tsv, thresholds.tsv,
reservoir.tsv, USER/history, USER/test).  CLI_THRESHOLDS is the thresholds.txt
bench/adapt/oppoint.sh writes: its "base" lines are the cross-fitted model
thresholds `spamshift train` ships (proto's own base models are the same
training but do not cross-fit, so their threshold is 0.5).

rates: per user and mean, (1-AUC)%, FPR/FNR at the published threshold raised
to the shipped model threshold (as oppoint_lookup does), and the FNR at each
user's own 0.3% and 0.1% FPR threshold on the later mail (the oracle).
joint: the best mean FNR any per-user thresholds give with mean FPR <= 0.3%,
each user's FPR free (the test labels known: a bound, not an estimator).
subject: the thread/campaign memory: a later message whose normalised Subject
(lower case, Re/Fw/Fwd prefixes off, at least two words) matches a history
message scored <= HAM_LOGIT under ROW gets logit - DELTA; with "both", one that
matches a history message scored >= -HAM_LOGIT gets + DELTA.  Prints a
scores.tsv to rate (copy thresholds.tsv beside it).
errors: for each user the later ham scored above the threshold that gives it
0.3% FPR, with each one's nearest history message by word Jaccard (its label
and score): can anything learnt from the user's earlier mail reach them?
cli-errors: the same question on bench/adapt/oppoint.sh's WORK (k = 0): per
user the later ham scored above, and the spam below, the user's own 0.3% FPR
threshold, with Subject, size, body words, the base's and the user model's
score, and the other Enron users (ENRON_DIR) whose mail has that normalised
Subject; a count of the missed spam by kind.
Standard library only.
"""
import collections
import csv
import math
import os
import re
import sys


def sig_logit(p):
    return math.log(p / (1 - p))


def cli_thresholds(path):
    t = {}
    for line in open(path):
        u, k, v, _src = line.split()
        if k == 'base':
            t[u] = sig_logit(float(v))
    return t


def load(d, row, k, name='scores.tsv'):
    sc = collections.defaultdict(list)
    for r in csv.DictReader(open(d + '/' + name), delimiter='\t'):
        if r['row'] == row and int(r['k']) == k:
            sc[r['user']].append((int(r['spam']), float(r['logit'])))
    return sc


def load_reservoir(d, row, k):
    return load(d, row, k, 'reservoir.tsv')


def published(d, row, k):
    pub = {}
    try:
        for r in csv.DictReader(open(d + '/thresholds.tsv'), delimiter='\t'):
            if r['row'] == row and int(r['k']) == k:
                pub[r['user']] = float(r['threshold'])
    except FileNotFoundError:
        pass
    return pub


def auc(pos, neg):
    v = sorted([(x, 1) for x in pos] + [(x, 0) for x in neg])
    i, rs = 0, 0.0
    while i < len(v):
        j = i
        while j < len(v) and v[j][0] == v[i][0]:
            j += 1
        rs += (i + j + 1) / 2.0 * sum(1 for q in range(i, j) if v[q][1])
        i = j
    p, n = len(pos), len(neg)
    return (rs - p * (p + 1) / 2.0) / (p * n)


def oracle_fnr(pos, neg, target):
    h = sorted(neg, reverse=True)
    t = h[int(math.floor(target * len(h)))] + 1e-9
    return 100.0 * sum(1 for x in pos if x < t) / len(pos)


def rates(d, row, k, cli, verbose):
    sc, pub = load(d, row, k), published(d, row, k)
    tot, lines = collections.defaultdict(float), []
    for u in sorted(sc):
        pos = [x for y, x in sc[u] if y]
        neg = [x for y, x in sc[u] if not y]
        t = max(pub.get(u, -1e9), cli[u])
        c = {'auc': 100 * (1 - auc(pos, neg)),
             'fpr': 100.0 * sum(1 for x in neg if x >= t) / len(neg),
             'fnr': 100.0 * sum(1 for x in pos if x < t) / len(pos),
             'o3': oracle_fnr(pos, neg, 0.003), 'o1': oracle_fnr(pos, neg, 0.001)}
        lines.append('%s (1-AUC)%% %.3f FPR/FNR %.2f/%.2f oracle 0.3%% FNR %.2f 0.1%% %.2f'
                     % (u, c['auc'], c['fpr'], c['fnr'], c['o3'], c['o1']))
        for key, v in c.items():
            tot[key] += v / len(sc)
        tot['worst'] = max(tot['worst'], c['fpr'])
    print('%s %s k=%d: (1-AUC)%% %.3f  FPR/FNR %.2f/%.2f (worst FPR %.2f)  oracle FNR at 0.3%% '
          '%.2f, at 0.1%% %.2f' % (d, row, k, tot['auc'], tot['fpr'], tot['fnr'], tot['worst'],
                                   tot['o3'], tot['o1']))
    if verbose:
        print('\n'.join('  ' + x for x in lines))


def joint(d, row, k):
    sc = load(d, row, k)
    curves = {}
    for u, v in sc.items():
        ham = sorted([x for y, x in v if not y], reverse=True)
        spam = [x for y, x in v if y]
        curves[u] = [(100.0 * n / len(ham),
                      100.0 * sum(1 for s in spam if s < ham[n] + 1e-9) / len(spam))
                     for n in range(len(ham) // 20)]
    best = None
    for lam in [0.25 * x for x in range(1, 400)]:
        pick = {u: min(c, key=lambda p: p[1] + lam * p[0]) for u, c in curves.items()}
        fp = sum(p[0] for p in pick.values()) / len(pick)
        fn = sum(p[1] for p in pick.values()) / len(pick)
        if fp <= 0.3 and (best is None or fn < best[1]):
            best = (fp, fn, pick)
    print('%s %s k=%d joint oracle: mean FPR %.2f FNR %.2f (%s)' % (
        d, row, k, best[0], best[1],
        ', '.join('%s %.2f/%.2f' % (u, p[0], p[1]) for u, p in sorted(best[2].items()))))


def norm_subject(path):
    with open(path, errors='replace') as f:
        line = f.readline()
    s = line[9:] if line.startswith('Subject:') else ''
    s = re.sub(r'^\s*((re|fw|fwd)\s*(\[\s*\d+\s*\])?\s*:\s*)+', '', s.lower())
    return re.sub(r'\s+', ' ', s).strip()


def subject(d, row, delta, ham_logit, both):
    res, sc = load_reservoir(d, row, 0), load(d, row, 0)
    stat = collections.Counter()
    print('user\tk\trow\tspam\tlogit')
    for u in sorted(sc):
        hist = [x.strip() for x in open('%s/%s/history' % (d, u))]
        test = [x.strip() for x in open('%s/%s/test' % (d, u))]
        ham, spam = set(), set()
        for p, (_y, x) in zip(hist, res[u]):
            s = norm_subject(p)
            if len(s.split()) < 2:
                continue
            if x <= ham_logit:
                ham.add(s)
            if x >= -ham_logit:
                spam.add(s)
        for p, (y, x) in zip(test, sc[u]):
            s = norm_subject(p)
            if len(s.split()) >= 2 and s in ham:
                x -= delta
                stat['ham match, truth ' + ('spam' if y else 'ham')] += 1
            elif len(s.split()) >= 2 and both and s in spam:
                x += delta
                stat['spam match, truth ' + ('spam' if y else 'ham')] += 1
            print('%s\t0\t%s\t%d\t%.9g' % (u, row, y, x))
    sys.stderr.write('%s\n' % dict(stat))


def words(path):
    return set(re.findall(r'[a-z0-9]+', open(path, errors='replace').read().lower()))


def errors(d, row, cli):
    res, sc = load_reservoir(d, row, 0), load(d, row, 0)
    for u in sorted(sc):
        hist = [x.strip() for x in open('%s/%s/history' % (d, u))]
        test = [x.strip() for x in open('%s/%s/test' % (d, u))]
        hw = [words(p) for p in hist]
        ham = sorted([(x, p) for p, (y, x) in zip(test, sc[u]) if not y], reverse=True)
        print('== %s (shipped threshold logit %.2f)' % (u, cli[u]))
        for x, p in ham[:max(1, int(0.003 * len(ham))) + 3]:
            w = words(p)
            j, best = max(((len(w & h) / len(w | h) if h else 0, i) for i, h in enumerate(hw)))
            y, hx = res[u][best]
            print('  ham logit %.2f, nearest history J=%.2f %s logit %.2f: %s'
                  % (x, j, 'spam' if y else 'ham', hx,
                     open(p, errors='replace').readline()[:60].strip()))


def cli_errors(work, enron):
    def read(path):
        with open(path, errors='replace') as f:
            t = f.read()
        first, _, body = t.partition('\n')
        s = first[9:].strip() if first.startswith('Subject:') else ''
        return s, len(t), len(body.split())

    def norm(s):
        s = re.sub(r'^((re|fw|fwd)\s*:\s*)+', '', s.lower())
        return re.sub(r'\s+', ' ', s).strip()

    seen = collections.defaultdict(set)
    for u in range(1, 7):
        for lab in ('ham', 'spam'):
            d = '%s/enron%d/%s' % (enron, u, lab)
            for fn in os.listdir(d):
                seen[norm(read(d + '/' + fn)[0])].add((u, lab))

    def show(p, x, base, u):
        s, size, nw = read(p)
        other = sorted(o for o in seen[norm(s)] if o[0] != u)[:4]
        print('  %.5f base %.5f %6dB %5dw  %-55s | %s' % (x, base[p], size, nw, s[:55], other))

    for u in range(1, 7):
        lab = dict(x.rstrip('\n').split('\t') for x in open('%s/enron%d.second' % (work, u)))
        base = {x.split('\t')[0]: float(x.split('\t')[1])
                for x in open('%s/enron%d.base.tsv' % (work, u))}
        k0 = {x.split('\t')[0]: float(x.split('\t')[1])
              for x in open('%s/enron%d.k0.tsv' % (work, u))}
        ham = sorted((p for p in k0 if lab[p] == 'ham'), key=lambda p: -k0[p])
        t = k0[ham[int(0.003 * len(ham))]] + 1e-9
        fn = sorted((p for p in k0 if lab[p] == 'spam' and k0[p] < t), key=lambda p: k0[p])
        n_spam = len(k0) - len(ham)
        print('== enron%d: 0.3%% FPR threshold %.6f, ham %d, spam %d, spam below %d (%.2f%%)'
              % (u, t, len(ham), n_spam, len(fn), 100.0 * len(fn) / n_spam))
        print('-- ham at the top')
        for p in ham[:12]:
            show(p, k0[p], base, u)
        print('-- spam below, lowest first')
        kinds = collections.Counter()
        for p in fn:
            s, _size, nw = read(p)
            other = [o for o in seen[norm(s)] if o[0] != u]
            kinds['subject of another user\'s spam' if any(o[1] == 'spam' for o in other)
                  else 'subject of another user\'s ham' if other else 'subject unseen'] += 1
            kinds['no subject' if not s else 'subject'] += 1
            kinds['< 30 body words' if nw < 30 else '>= 30 body words'] += 1
        for p in fn[:25]:
            show(p, k0[p], base, u)
        print('  spam below, by kind: %s' % dict(kinds))


def main():
    a = sys.argv[1:]
    if len(a) >= 5 and a[0] == 'rates':
        rates(a[1], a[2], int(a[3]), cli_thresholds(a[4]), '-v' in a)
    elif len(a) == 4 and a[0] == 'joint':
        joint(a[1], a[2], int(a[3]))
    elif len(a) >= 5 and a[0] == 'subject':
        subject(a[1], a[2], float(a[3]), float(a[4]), 'both' in a[5:])
    elif len(a) == 4 and a[0] == 'errors':
        errors(a[1], a[2], cli_thresholds(a[3]))
    elif len(a) == 3 and a[0] == 'cli-errors':
        cli_errors(a[1], a[2])
    else:
        sys.exit(__doc__)


if __name__ == '__main__':
    main()
