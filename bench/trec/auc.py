#!/usr/bin/env python3
"""auc.py - (1-AUC)% (ties half), lam% and messages of drive.sh results
("label score" lines): usage: auc.py RESULTS..."""
import math
import sys


def judge(path):
    rows = [l.split() for l in open(path) if l.strip()]
    s = sorted(((float(sc), lab == 'spam') for lab, sc in rows), key=lambda r: -r[0])
    n_spam = sum(1 for _, y in s if y)
    n_ham = len(s) - n_spam
    above_ham = 0
    win = 0.0
    i = 0
    while i < len(s):
        j = i
        gs = gh = 0
        while j < len(s) and s[j][0] == s[i][0]:
            gs += s[j][1]
            gh += not s[j][1]
            j += 1
        win += gs * (n_ham - above_ham - gh) + 0.5 * gs * gh
        above_ham += gh
        i = j
    auc = win / (n_spam * n_ham)
    fp = sum(1 for sc, y in s if not y and sc >= 0.5)
    fn = sum(1 for sc, y in s if y and sc < 0.5)
    hm = max(fp, 0.5) / n_ham
    sm = max(fn, 0.5) / n_spam
    lg = lambda p: math.log(p / (1 - p))
    lam = 100 / (1 + math.exp(-(lg(hm) + lg(sm)) / 2))
    print(f"{path}: {len(s)} messages ({n_ham} ham, {n_spam} spam): "
          f"(1-AUC)% {100 * (1 - auc):.4f}, lam% {lam:.3f}, FP {fp}, FN {fn}")


for p in sys.argv[1:]:
    judge(p)
