#!/usr/bin/env python3
"""nb.py MODE OUTDIR: token-count models on Enron LOO (train on the other five users' mail, score
the user's second half). Tokens: the Subject's words as "s:"+w, body words bare (presence).
MODE nb: sum of smoothed log-odds over present tokens (Bernoulli NB, present terms only);
MODE rob: Robinson f(w) + Fisher chi-square (bogofilter's method: robs 0.0178, robx 0.52, min_dev 0.375)."""
import sys, os, math, glob, re
mode, out = sys.argv[1], sys.argv[2]
os.makedirs(out, exist_ok=True)
E = '/work/data/enron'; L = '/tmp/r7/table2/cli-loo'
def toks(p):
    t = open(p, 'rb').read().decode('latin-1').lower()
    lines = t.split('\n', 1)
    s = lines[0][8:] if lines[0].startswith('subject:') else ''
    b = lines[1] if len(lines) > 1 else ''
    ws = set('s:' + w for w in re.findall(r"[a-z0-9$][a-z0-9'\-._$]*", s))
    ws |= set(re.findall(r"[a-z0-9$][a-z0-9'\-._$]*", b))
    return ws
docs = {}
for u in range(1, 7):
    for lab in ('ham', 'spam'):
        for p in glob.glob(f'{E}/enron{u}/{lab}/*.txt'):
            docs[p] = (u, lab == 'spam', toks(p))
def chi2q(x2, v):
    m = x2 / 2.0; s = t = math.exp(-m)
    for i in range(1, v // 2):
        t *= m / i; s += t
    return min(s, 1.0)
for u in range(1, 7):
    hc, sc = {}, {}; H = S = 0
    for p, (uu, y, ws) in docs.items():
        if uu == u: continue
        if y:
            S += 1
            for w in ws: sc[w] = sc.get(w, 0) + 1
        else:
            H += 1
            for w in ws: hc[w] = hc.get(w, 0) + 1
    with open(f'{out}/enron{u}.tsv', 'w') as f:
        for line in open(f'{L}/enron{u}.second'):
            p = line.split('\t')[0]
            ws = docs[p][2]
            if mode == 'nb':
                a = 1.0; z = 0.0
                for w in ws:
                    s_, h_ = sc.get(w, 0), hc.get(w, 0)
                    if s_ + h_ == 0: continue
                    z += math.log((s_ + a) / (S + 2 * a)) - math.log((h_ + a) / (H + 2 * a))
                z /= math.sqrt(max(len(ws), 1)) if os.environ.get('NBSQRT') else 1
                pr = 1 / (1 + math.exp(-max(min(z, 700), -700)))
            else:
                robs, robx, md = 0.0178, 0.52, 0.375
                P = Q = 0.0; n = 0
                for w in ws:
                    s_, h_ = sc.get(w, 0), hc.get(w, 0)
                    N = s_ + h_
                    if N == 0: continue
                    g = (s_ / S) / (s_ / S + h_ / H)
                    fw = (robs * robx + N * g) / (robs + N)
                    if abs(fw - 0.5) < md - 0.5 + 0.5 and abs(fw - 0.5) < md: continue
                    P += math.log(1 - fw); Q += math.log(fw); n += 1
                if n == 0: pr = robx
                else:
                    pp = 1 - chi2q(-2 * P, 2 * n); qq = 1 - chi2q(-2 * Q, 2 * n)
                    pr = (1 + pp - qq) / 2
            f.write('%s\t%.12g\t%s\n' % (p, pr, 'spam' if pr >= 0.99 else 'ham'))
