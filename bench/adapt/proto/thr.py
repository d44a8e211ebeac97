#!/usr/bin/env python3
"""bench/adapt/proto/thr.py - threshold estimators from unlabelled mail, offline.

    python3 bench/adapt/proto/thr.py OUTDIR [KS]

OUTDIR is a bench/adapt/proto output (--designs adapted): reservoir.tsv (the
observed history as refit_oppoint scores it under the published model, with
its true labels), scores.tsv (the later mail), thresholds.tsv (what the
product published), model_thresholds.tsv (each user's shipped threshold).
KS: comma-separated label counts (default 0,50,200).

For each estimator, the threshold it places from the reservoir (the labelled
ham counted with weight 1, as oppoint_fit does), raised to the model's as
oppoint_lookup does, scored on the later mail: mean FPR% / mean FNR% over the
users and the worst user's FPR.  Then two bounds no estimator can beat: the
reservoir's own ham quantile at the target (its true labels) and the later
mail's (per-user test oracle).  Pure Python (no numpy on the bench machine).
"""
import collections
import csv
import math
import sys

TARGET = 0.003
Z_TARGET = 2.7478   # one-sided normal quantile at 1 - 0.003


def load(d, row='adapted'):
    res = collections.defaultdict(lambda: ([], [], []))
    for r in csv.DictReader(open(d + '/reservoir.tsv'), delimiter='\t'):
        if r['row'] == row:
            t = res[(r['user'], int(r['k']))]
            t[0].append(int(r['spam']))
            t[1].append(float(r['logit']))
            t[2].append(int(r['labelled']))
    test = collections.defaultdict(lambda: ([], []))
    for r in csv.DictReader(open(d + '/scores.tsv'), delimiter='\t'):
        if r['row'] == row:
            t = test[(r['user'], int(r['k']))]
            t[0].append(int(r['spam']))
            t[1].append(float(r['logit']))
    pub = {}
    for r in csv.DictReader(open(d + '/thresholds.tsv'), delimiter='\t'):
        if r['row'] == row:
            pub[(r['user'], int(r['k']))] = float(r['threshold'])
    mthr = {r['user']: float(r['threshold'])
            for r in csv.DictReader(open(d + '/model_thresholds.tsv'), delimiter='\t')}
    return res, test, pub, mthr


def sig(x):
    return 1 / (1 + math.exp(-x)) if x > -700 else 0.0


def adjust(p, prior):
    """oppoint_adjust with prior_train 0.5"""
    a, b = p * prior / 0.5, (1 - p) * (1 - prior) / 0.5
    return a / (a + b) if a + b > 0 else prior


def prior_em(p):
    """oppoint_prior_em(p, n, 0.5, 200)"""
    prior = 0.5
    for _ in range(200):
        q = min(max(sum(adjust(x, prior) for x in p) / len(p), 0.001), 0.999)
        if abs(q - prior) < 1e-6:
            return q
        prior = q
    return prior


def weighted_threshold(s, w, target, z=0.0):
    """The smallest t with A + z sqrt(A) <= target * total, A the weight of
    the scores >= t (z = 0: oppoint_threshold)."""
    v = sorted(zip(s, w), reverse=True)
    tot = sum(w)
    acc, i = 0.0, 0
    while i < len(v):
        j, g = i, 0.0
        while j < len(v) and v[j][0] == v[i][0]:
            g += v[j][1]
            j += 1
        if acc + g + z * math.sqrt(acc + g) > target * tot * (1 + 1e-9):
            return v[i][0] + 1e-6
        acc += g
        i = j
    return -1e9


def quantile(x, q):
    x = sorted(x)
    i = q * (len(x) - 1)
    lo = int(math.floor(i))
    hi = min(lo + 1, len(x) - 1)
    return x[lo] + (x[hi] - x[lo]) * (i - lo)


def rates(y, l, thr):
    h = [a for b, a in zip(y, l) if b == 0]
    s = [a for b, a in zip(y, l) if b == 1]
    return (100.0 * sum(1 for a in h if a >= thr) / max(1, len(h)),
            100.0 * sum(1 for a in s if a < thr) / max(1, len(s)))


def em_estimator(temp=1.0, z=0.0, target=TARGET, fallback=False):
    """oppoint_fit's unlabelled estimate: EM prior, each message ham with its
    adjusted ham probability (logits divided by temp first); z: an upper
    confidence margin on the ham count; fallback: below 1/target messages of
    ham mass, the point with one message of ham above (this branch's
    oppoint_fit) instead of none (main's, which leaves the model's)."""
    def f(unl, fb_ham):
        p = [sig(x / temp) for x in unl]
        prior = prior_em(p)
        w = [1 - adjust(x, prior) for x in p] + [1.0] * len(fb_ham)
        mass = sum(w)
        t = target
        if mass * target < 1:
            if not fallback or mass < 1:
                return None
            t = 1.0 / mass
        return weighted_threshold(list(unl) + list(fb_ham), w, t, z)
    return f


def gmm_estimator(iters=200):
    """Two Gaussians on the logits by EM; the ham one's 1 - target quantile."""
    def f(unl, fb_ham):
        x = sorted(unl)
        n = len(x)
        m0, m1 = quantile(x, .25), quantile(x, .9)
        s0 = s1 = max(1.0, (x[-1] - x[0]) / 6)
        pi = 0.5
        for _ in range(iters):
            r = []
            for v in x:
                a = (1 - pi) * math.exp(-0.5 * ((v - m0) / s0) ** 2) / s0
                b = pi * math.exp(-0.5 * ((v - m1) / s1) ** 2) / s1
                r.append(b / (a + b) if a + b > 0 else (1.0 if v > m1 else 0.0))
            sr = sum(r)
            pi = sr / n
            m1 = sum(ri * v for ri, v in zip(r, x)) / sr
            m0 = sum((1 - ri) * v for ri, v in zip(r, x)) / (n - sr)
            s1 = math.sqrt(sum(ri * (v - m1) ** 2 for ri, v in zip(r, x)) / sr) + 1e-3
            s0 = math.sqrt(sum((1 - ri) * (v - m0) ** 2 for ri, v in zip(r, x)) / (n - sr)) + 1e-3
        return m0 + Z_TARGET * s0
    return f


def main():
    d = sys.argv[1]
    ks = [int(k) for k in (sys.argv[2] if len(sys.argv) > 2 else '0,50,200').split(',')]
    res, test, pub, mthr = load(d)
    keys = sorted(k for k in res if k[1] in ks)
    rows = [
        ('published (thresholds.tsv)', None),
        ('EM, main (no fallback)', em_estimator()),
        ('EM + fallback (this branch)', em_estimator(fallback=True)),
        ('EM + fallback, z=0.5', em_estimator(z=0.5, fallback=True)),
        ('EM + fallback, z=1', em_estimator(z=1, fallback=True)),
        ('EM + fallback, z=2', em_estimator(z=2, fallback=True)),
        ('EM + fallback, T=1.1', em_estimator(temp=1.1, fallback=True)),
        ('EM + fallback, T=1.2', em_estimator(temp=1.2, fallback=True)),
        ('EM + fallback, target/2', em_estimator(target=TARGET / 2, fallback=True)),
        ('Gaussian mixture', gmm_estimator()),
        ('reservoir ham quantile (labels)', 'resq'),
    ]
    print('| estimator | ' + ' | '.join('k=%d FPR / FNR (worst FPR)' % k for k in ks) + ' |')
    print('|---|' + '---|' * len(ks))

    def row(name, thr_of):
        """One table row: thr_of(key) the user's threshold for key."""
        cells = []
        for k in ks:
            r = [rates(*test[key], thr_of(key)) for key in keys if key[1] == k]
            cells.append('%.2f / %.2f (%.2f)' % (sum(a for a, _ in r) / len(r),
                                                 sum(b for _, b in r) / len(r),
                                                 max(a for a, _ in r)))
        print('| %s | %s |' % (name, ' | '.join(cells)))

    def estimated(est):
        def thr_of(key):
            y, l, lab = res[key]
            if est is None:
                return pub[key]
            if est == 'resq':
                return quantile([a for a, b in zip(l, y) if b == 0], 1 - TARGET)
            t = est([a for a, b in zip(l, lab) if not b],
                    [a for a, b, c in zip(l, y, lab) if c and b == 0])
            return mthr[key[0]] if t is None or t < mthr[key[0]] else t
        return thr_of

    def oracle(tg):
        def thr_of(key):
            ty, tl = test[key]
            h = sorted((a for b, a in zip(ty, tl) if b == 0), reverse=True)
            n = int(math.floor(tg * len(h)))
            return h[n] + 1e-9 if n < len(h) else -1e9
        return thr_of

    for name, est in rows:
        row(name, estimated(est))
    # the later mail's own per-user threshold: no estimator from the reservoir beats it
    for tg in (0.001, 0.003, 0.005, 0.01):
        row('test oracle at %.1f%%' % (100 * tg), oracle(tg))

if __name__ == '__main__':
    main()
