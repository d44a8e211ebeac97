#!/usr/bin/env python3
"""ev.py DIR [DIR2 ...]: Enron LOO base metrics from DIR/enronN.tsv (classify output: path score verdict)
and /tmp/r7/table2/cli-loo/enronN.second (path label). With several DIRs: their logits averaged
(an ensemble; verdicts then at the oracle only, shipped from the first DIR)."""
import sys, math
L = '/tmp/r7/table2/cli-loo'
def logit(p):
    p = min(max(p, 1e-12), 1 - 1e-12)
    return math.log(p / (1 - p))
import json
def load(d, u):
    out = {}
    if d.startswith('bogo'):
        w = float(d.split('*')[1]) if '*' in d else 1.0
        j = json.load(open(f'/tmp/r7/table2/proto-loo/{u}/bogofilter.json'))['0']
        for p, v in j.items():
            out[p] = (w * logit(min(max(v, 1e-12), 1 - 1e-12)), v >= 0.99)
        return out
    if '*' in d:
        d, w = d.split('*'); w = float(w)
        o = load(d, u)
        return {p: (w * v, y) for p, (v, y) in o.items()}
    for line in open(f'{d}/{u}.tsv'):
        f = line.rstrip('\n').split('\t')
        out[f[0]] = (logit(float(f[1])), f[2] == 'spam')
    return out
def auc(h, s):
    # (1-AUC) by ranks, ties half
    allv = sorted([(v, 0) for v in h] + [(v, 1) for v in s])
    r = 0; i = 0; rank_sum = 0.0
    while i < len(allv):
        j = i
        while j < len(allv) and allv[j][0] == allv[i][0]: j += 1
        avg = (i + j + 1) / 2
        rank_sum += avg * sum(1 for k in range(i, j) if allv[k][1])
        i = j
    ns, nh = len(s), len(h)
    a = (rank_sum - ns * (ns + 1) / 2) / (ns * nh)
    return 1 - a
def fnr_at(h, s, fpr):
    hs = sorted(h, reverse=True)
    m = int(math.floor(fpr * len(hs)))  # ham allowed above threshold
    thr = hs[m]  # threshold: spam iff > thr (ham at thr not flagged)
    return 100 * sum(1 for v in s if v <= thr) / len(s)
dirs = sys.argv[1:]
users = ['enron%d' % i for i in range(1, 7)]
rows = []
for u in users:
    lab = dict(l.rstrip('\n').split('\t') for l in open(f'{L}/{u}.second'))
    sc = [load(d, u) for d in dirs]
    h, s = [], []; fp = fn = 0
    for p, y in lab.items():
        v = sum(x[p][0] for x in sc)
        ver = sc[0][p][1]
        if y == 'ham':
            h.append(v); fp += ver
        else:
            s.append(v); fn += not ver
    rows.append((u, 100 * fp / len(h), 100 * fn / len(s), 100 * auc(h, s),
                 1 - fnr_at(h, s, 0.001) / 100, fnr_at(h, s, 0.003), fp, fn))
print('user\tFPR%\tFNR%\t(1-AUC)%\trec@0.1%\tFNR@0.3%or\tfp\tfn')
for r in rows:
    print('%s\t%.2f\t%.2f\t%.3f\t%.3f\t%.2f\t%d\t%d' % r)
m = [sum(r[i] for r in rows) / 6 for i in range(1, 6)]
print('mean\t%.2f\t%.2f\t%.3f\t%.3f\t%.2f' % tuple(m))
