#!/usr/bin/env python3
"""canon.py - the delivered-copy accuracy check (bench/canon/run.sh drives it).

Does the canonical form (model/canon.c) make a delivered copy score as the copy
the milter scanned, and does it leave the base model's accuracy alone?
Standard library only; reads and writes local files, downloads nothing.

  canon.py deliver SCORES.tsv OUTDIR
      For each line "PATH<TAB>SCORE<TAB>VERDICT" of `spamshift classify`,
      write OUTDIR/<parent dir>/<file name>: PATH as Postfix and dovecot-lda
      deliver it after spamshift-milter (the layout tests/e2e/learn_delivered.sh
      gets from a real Postfix and Dovecot): Return-Path, X-Original-To,
      Delivered-To and two Received headers (the hub's, the MX's) on top, the
      message's own headers with "[SPAM] " in front of the Subject when VERDICT
      is spam (subject_prefix), then X-Spam-Flag (spam only), X-Spam-Score,
      X-Spam-Status, X-Spamshift-Result and X-Spamshift-Seen: received=N (N the
      message's own Received headers: Postfix 3.7 does not show the milter its
      own) with "; subject-prefix=[SPAM]" or "; subject-added" as the milter
      writes it.  A leading mbox "From " line is dropped (the MTA never has it).
  canon.py compare ORIG.tsv DELIVERED.tsv
      Pairs the two classify outputs by <parent dir>/<file name>; prints how
      many scores are identical (to classify's 6 decimals), the largest score
      change, how many verdicts flip, and for each side (1-AUC)%, FPR and FNR
      at classify's verdict.  A message is spam when its parent directory's
      name starts with "spam" (SA spam-2, Enron enronN/spam).
  canon.py loo SCORES.tsv
      bench/adapt/loo's scores.tsv (user, k, row, spam, logit): per row and k,
      the mean over users of (1-AUC)% and of FPR and FNR at logit >= 0 (score
      0.5), as /tmp/h8-metrics.py printed them for the canon change.
"""
import collections
import os
import re
import sys

PREFIX = b"[SPAM]"


def auc(pos, neg):
    """Rank AUC with ties counted half: P(spam score > ham score)."""
    allv = sorted([(v, 1) for v in pos] + [(v, 0) for v in neg])
    i, n, sp = 0, len(allv), 0.0
    while i < n:
        j = i
        while j < n and allv[j][0] == allv[i][0]:
            j += 1
        avg = (i + j + 1) / 2.0
        sp += avg * sum(1 for k in range(i, j) if allv[k][1])
        i = j
    p, q = len(pos), len(neg)
    if p == 0 or q == 0:
        return float("nan")
    return (sp - p * (p + 1) / 2.0) / (p * q)


def key_of(path):
    return os.path.join(os.path.basename(os.path.dirname(path)), os.path.basename(path))


def is_spam(path):
    return os.path.basename(os.path.dirname(path)).lower().startswith("spam")


def read_classify(path):
    """{key: (path, score string, verdict)} from `spamshift classify` output."""
    out = {}
    with open(path, encoding="utf-8", errors="surrogateescape") as f:
        for line in f:
            p = line.rstrip("\n").split("\t")
            if len(p) != 3:
                continue
            out[key_of(p[0])] = (p[0], p[1], p[2])
    return out


def split_message(raw):
    """(header lines with their line ends, the blank line, body) of raw bytes."""
    if raw.startswith(b"From "):
        raw = raw.split(b"\n", 1)[1] if b"\n" in raw else b""
    lines = raw.splitlines(keepends=True)
    for i, line in enumerate(lines):
        if line in (b"\n", b"\r\n"):
            return lines[:i], line, b"".join(lines[i + 1:])
    return lines, b"\n", b""


def deliver_one(raw, user, score, spam, n):
    head, blank, body = split_message(raw)
    received = sum(1 for h in head if re.match(rb"(?i)received:", h))
    eol = b"\r\n" if head and head[0].endswith(b"\r\n") else b"\n"
    s = score.encode()
    top = [
        b"Return-Path: <sender@example.net>",
        b"X-Original-To: " + user,
        b"Delivered-To: " + user,
        b"Received: from mx.bench.test (localhost [127.0.0.1])",
        b"\tby hub.bench.test (Postfix) with ESMTP id B%07d" % n,
        b"\tfor <" + user + b">; Mon,  7 Dec 2026 09:00:00 +0000 (UTC)",
        b"Received: from client.bench.test (localhost [127.0.0.1])",
        b"\tby mx.bench.test (Postfix) with ESMTP id A%07d" % n,
        b"\tfor <" + user + b">; Mon,  7 Dec 2026 09:00:00 +0000 (UTC)",
    ]
    own, subject_seen = [], False
    for h in head:
        if spam and not subject_seen and re.match(rb"(?i)subject:", h):
            name, value = h.split(b":", 1)
            h = name + b": " + PREFIX + b" " + value.lstrip(b" \t")
            subject_seen = True
        own.append(h)
    marker = b"received=%d" % received
    tail = []
    if spam:
        tail.append(b"X-Spam-Flag: YES")
        if subject_seen:
            marker += b"; subject-prefix=" + PREFIX
        else:
            tail.append(b"Subject: " + PREFIX + b" ")
            marker += b"; subject-added"
    tail += [
        b"X-Spam-Score: " + s,
        b"X-Spam-Status: " + (b"Yes" if spam else b"No") + b", score=" + s + b" required=0.5",
        b"X-Spamshift-Result: score=" + s + b"; verdict=" + (b"tag" if spam else b"ham"),
        b"X-Spamshift-Seen: " + marker,
    ]
    return (eol.join(top) + eol + b"".join(own) + eol.join(tail) + eol + blank + body)


def cmd_deliver(scores, outdir):
    n = 0
    for key, (path, score, verdict) in sorted(read_classify(scores).items()):
        with open(path, "rb") as f:
            raw = f.read()
        n += 1
        out = os.path.join(outdir, key)
        os.makedirs(os.path.dirname(out), exist_ok=True)
        with open(out, "wb") as f:
            f.write(deliver_one(raw, b"user@example.org", score, verdict == "spam", n))
    print("delivered %d copies into %s" % (n, outdir))


def rates(rows):
    """(1-AUC)%, FPR%, FNR%, n ham, n spam of [(path, score, verdict)]."""
    pos = [float(s) for p, s, v in rows if is_spam(p)]
    neg = [float(s) for p, s, v in rows if not is_spam(p)]
    fp = sum(1 for p, s, v in rows if not is_spam(p) and v == "spam")
    fn = sum(1 for p, s, v in rows if is_spam(p) and v != "spam")
    return (100 * (1 - auc(pos, neg)), 100.0 * fp / max(len(neg), 1),
            100.0 * fn / max(len(pos), 1), len(neg), len(pos))


def cmd_compare(orig, deliv):
    a, b = read_classify(orig), read_classify(deliv)
    keys = sorted(set(a) & set(b))
    missing = len(set(a) ^ set(b))
    same = sum(1 for k in keys if a[k][1] == b[k][1])
    diff = max((abs(float(a[k][1]) - float(b[k][1])) for k in keys), default=0.0)
    flips = sum(1 for k in keys if a[k][2] != b[k][2])
    to_spam = sum(1 for k in keys if a[k][2] != "spam" and b[k][2] == "spam")
    print("pairs %d (unpaired %d): identical scores %d (%.2f%%), max |score change| %.6f, "
          "verdict flips %d (%d ham -> spam)" % (len(keys), missing, same,
                                                 100.0 * same / max(len(keys), 1), diff,
                                                 flips, to_spam))
    for name, side in (("original ", a), ("delivered", b)):
        r = rates([side[k] for k in keys])
        print("%s  ham %d spam %d  (1-AUC)%% %.4f  FPR %.3f%%  FNR %.3f%%"
              % (name, r[3], r[4], r[0], r[1], r[2]))


def cmd_loo(scores):
    d = collections.defaultdict(lambda: ([], []))
    with open(scores) as f:
        f.readline()
        for line in f:
            u, k, row, sp, lg = line.rstrip("\n").split("\t")
            d[(row, int(k), u)][0 if sp == "1" else 1].append(float(lg))
    for r, k in sorted(set((r, k) for r, k, u in d)):
        us = sorted(u for rr, kk, u in d if rr == r and kk == k)
        a, fp, fn = [], [], []
        for u in us:
            pos, neg = d[(r, k, u)]
            a.append(100 * (1 - auc(pos, neg)))
            fp.append(100.0 * sum(1 for v in neg if v >= 0) / max(len(neg), 1))
            fn.append(100.0 * sum(1 for v in pos if v < 0) / max(len(pos), 1))
        print("%-18s k=%-3d users=%d mean(1-AUC)%%=%.4f meanFPR=%.3f%% meanFNR=%.3f%%"
              % (r, k, len(us), sum(a) / len(a), sum(fp) / len(fp), sum(fn) / len(fn)))


def main(argv):
    cmds = {"deliver": (cmd_deliver, 2), "compare": (cmd_compare, 2), "loo": (cmd_loo, 1)}
    if len(argv) < 2 or argv[1] not in cmds or len(argv) - 2 != cmds[argv[1]][1]:
        sys.stderr.write(__doc__)
        return 64
    cmds[argv[1]][0](*argv[2:])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
