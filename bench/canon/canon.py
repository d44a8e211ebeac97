#!/usr/bin/env python3
"""canon.py - the delivered-copy accuracy check (bench/canon/run.sh drives it).

Does the canonical form (model/canon.c) make a delivered copy score as the copy
the milter scanned, and does it leave the base model's accuracy alone?
Standard library only; reads and writes local files, downloads nothing.

  canon.py scanned LIST OUTDIR
      For each path in LIST (one a line), write OUTDIR/<parent dir>/<file
      name>: the message as Postfix queues it (queued_one: the obs-field
      label "name :" written "name:", the blank line a header block without
      one gets; what bench/canon/real.sh showed a real Postfix does) and
      spamshift-milter buffers and scans it (milter/filter.c): each header
      rebuilt as "Name: value" from what Postfix hands the milter (the value
      without the blanks after the colon, folded lines joined by LF), LF
      after the header block, the blank line, the body as Postfix sends it
      to milters (CRLF line ends).
  canon.py deliver SCORES.tsv DATADIR OUTDIR
      For each line "PATH<TAB>SCORE<TAB>VERDICT" of `spamshift classify` over
      the scanned copies, write OUTDIR/<parent dir>/<file name>: DATADIR/<file
      name> as Postfix queued it (queued_one), its long lines broken as the
      MX's SMTP client relays them to the hub (smtp_break), and as Postfix and dovecot-lda
      deliver it after spamshift-milter (the layout tests/e2e/learn_delivered.sh
      gets from a real Postfix and Dovecot): Return-Path, X-Original-To,
      Delivered-To and two Received headers (the hub's, the MX's) on top, the
      message's own headers with "[SPAM] " in front of the Subject when VERDICT
      is spam (subject_prefix), then X-Spam-Flag (spam only), X-Spam-Score,
      X-Spam-Status, X-Spamshift-Result and X-Spamshift-Seen: received=N (N the
      message's own Received headers: Postfix 3.7 does not show the milter its
      own) with "; subject-prefix=[SPAM]" or "; subject-added" as the milter
      writes it.  A leading mbox "From " line is dropped (the MTA never has it).
  canon.py compare ORIG.tsv DELIVERED.tsv [ORIG.dump DELIVERED.dump]
      Pairs the two classify outputs by <parent dir>/<file name>; prints how
      many scores are identical (to classify's 6 decimals), the largest score
      change, how many verdicts flip, and for each side (1-AUC)%, FPR and FNR
      at classify's verdict.  With the two bench/canon/canondump outputs also
      how many digests and feature bags are identical and how many messages
      have all three the same; the first differing pairs are named on stderr.
      Exits 1 when any pair differs, 0 when all are identical.  A message is spam when its parent directory's
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


HEADER = re.compile(rb"^[!-9;-~]+[ \t]*:")


def split_message(raw):
    """(header lines with their line ends, the separator, body) of raw bytes.

    The header block ends at the first blank line (the separator), which
    queued_one() guarantees; else at the first line that cannot be a header
    (the separator is then b"")."""
    if raw.startswith(b"From "):
        raw = raw.split(b"\n", 1)[1] if b"\n" in raw else b""
    lines = raw.splitlines(keepends=True)
    for i, line in enumerate(lines):
        if line in (b"\n", b"\r\n"):
            return lines[:i], line, b"".join(lines[i + 1:])
        if not HEADER.match(line) and not (i > 0 and line[:1] in (b" ", b"\t")):
            return lines[:i], b"", b"".join(lines[i:])
    return lines, b"", b""


OBS_LABEL = re.compile(rb"^([!-9;-~]+)[ \t]+:")


def queued_one(raw):
    """raw as Postfix's cleanup queues it, as far as the milter and the
    delivered copy both see it (checked with bench/canon/real.sh on Postfix
    3.7): no mbox From_ line, an obs-field label "darren :" written
    "darren:", a blank line where the header block runs into a line that
    cannot be a header (Enron's mail), every line ended.  (The From, Date
    and Message-Id cleanup adds to such mail, and its address rewriting,
    are left out: they reach both copies alike.)"""
    if raw.startswith(b"From "):
        raw = raw.split(b"\n", 1)[1] if b"\n" in raw else b""
    lines = raw.splitlines(keepends=True)
    eol = b"\r\n" if lines and lines[0].endswith(b"\r\n") else b"\n"
    if lines and not lines[-1].endswith(b"\n"):
        lines[-1] += eol
    out = []
    for i, line in enumerate(lines):
        if line in (b"\n", b"\r\n"):
            return b"".join(out + lines[i:])
        if line[:1] in (b" ", b"\t") and out:
            out.append(line)
        elif HEADER.match(line):
            out.append(OBS_LABEL.sub(rb"\1:", line))
        else:
            return b"".join(out) + eol + b"".join(lines[i:])
    return b"".join(out) + eol


def scanned_one(raw):
    """The milter's buffer of raw (milter/filter.c filter_header/filter_body)."""
    if raw.startswith(b"From "):
        raw = raw.split(b"\n", 1)[1] if b"\n" in raw else b""
    lines = raw.splitlines(keepends=True)
    heads, i = [], 0
    while i < len(lines):
        line = lines[i]
        if line in (b"\n", b"\r\n"):
            i += 1
            break
        if line[:1] in (b" ", b"\t") and heads:
            heads[-1].append(line.rstrip(b"\r\n"))
        elif HEADER.match(line):
            heads.append([line.rstrip(b"\r\n")])
        else:
            break               # Postfix: the body starts at a non-header line
        i += 1
    out = []
    for h in heads:
        name, value = h[0].split(b":", 1)
        value = b"\n".join([value] + h[1:]).lstrip(b" \t")
        out.append(name.rstrip(b" \t") + b": " + value + b"\n")
    body = b"".join(l.rstrip(b"\r\n") + b"\r\n" if l.endswith(b"\n") else l for l in lines[i:])
    return b"".join(out) + b"\n" + body


def cmd_scanned(listfile, outdir):
    n = 0
    with open(listfile, "rb") as f:
        paths = [l.rstrip(b"\n").decode("utf-8", "surrogateescape") for l in f if l.strip()]
    for path in paths:
        with open(path, "rb") as f:
            raw = queued_one(f.read())
        out = os.path.join(outdir, key_of(path))
        os.makedirs(os.path.dirname(out), exist_ok=True)
        with open(out, "wb") as f:
            f.write(scanned_one(raw))
        n += 1
    print("scanned %d copies into %s" % (n, outdir))


def smtp_break(raw):
    """raw as Postfix's SMTP client relays it to the hub (smtp_line_length_limit
    = 998): a longer line broken by inserting CRLF SPACE, no piece longer than
    998 octets with its space (bench/canon/real.sh saw 4965 octets come as
    998, 998, 998, 998 and 977)."""
    out = []
    for line in re.findall(rb"[^\n]*\n|[^\n]+", raw):     # LF ends a line, a bare CR not
        end = b"\r\n" if line.endswith(b"\r\n") else line[len(line.rstrip(b"\n")):]
        text = line[:len(line) - len(end)]
        if len(text) <= 998:
            out.append(line)
            continue
        eol = end or b"\r\n"
        out.append(text[:998])
        rest = text[998:]
        while rest:
            out.append(eol + b" " + rest[:997])
            rest = rest[997:]
        out.append(end)
    return b"".join(out)


def deliver_one(raw, user, score, spam, n):
    raw = smtp_break(raw)       # the MX relays to the hub after the milter
    head, blank, body = split_message(raw)
    received = sum(1 for h in head if re.match(rb"(?i)received[ \t]*:", h))
    if head and not head[-1].endswith(b"\n"):
        head[-1] += b"\r\n" if head[-1].endswith(b"\r") else b"\n"   # SMTP ends every line
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


def cmd_deliver(scores, datadir, outdir):
    n = 0
    for key, (path, score, verdict) in sorted(read_classify(scores).items()):
        with open(os.path.join(datadir, os.path.basename(path)), "rb") as f:
            raw = queued_one(f.read())
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


def read_dump(path):
    """{key: (digest, n, bag hash)} from bench/canon/canondump output."""
    out = {}
    with open(path, encoding="utf-8", errors="surrogateescape") as f:
        for line in f:
            p = line.rstrip("\n").split("\t")
            if len(p) == 5:
                out[key_of(p[0])] = (p[1], p[2], p[3])
    return out


def cmd_compare(orig, deliv, odump=None, ddump=None):
    a, b = read_classify(orig), read_classify(deliv)
    keys = sorted(set(a) & set(b))
    missing = len(set(a) ^ set(b))
    same = sum(1 for k in keys if a[k][1] == b[k][1])
    diff = max((abs(float(a[k][1]) - float(b[k][1])) for k in keys), default=0.0)
    flips = sum(1 for k in keys if a[k][2] != b[k][2])
    to_spam = sum(1 for k in keys if a[k][2] != "spam" and b[k][2] == "spam")
    n = max(len(keys), 1)
    print("pairs %d (unpaired %d): identical scores %d (%.2f%%), max |score change| %.6f, "
          "verdict flips %d (%d ham -> spam)" % (len(keys), missing, same,
                                                 100.0 * same / n, diff, flips, to_spam))
    bad = set(k for k in keys if a[k][1] != b[k][1]) | (set(a) ^ set(b))
    if odump is not None:
        da, db = read_dump(odump), read_dump(ddump)
        dig = sum(1 for k in keys if k in da and k in db and da[k][0] == db[k][0])
        bag = sum(1 for k in keys if k in da and k in db and da[k][1:] == db[k][1:])
        bad |= set(k for k in keys if k not in da or k not in db or da[k] != db[k])
        print("identical digests %d (%.2f%%), identical feature bags %d (%.2f%%), "
              "digest, bag and score all identical %d of %d (%.2f%%)"
              % (dig, 100.0 * dig / n, bag, 100.0 * bag / n, len(keys) - len(bad & set(keys)),
                 len(keys), 100.0 * (len(keys) - len(bad & set(keys))) / n))
        for k in sorted(bad)[:10]:
            sys.stderr.write("differs: %s score %s -> %s digest %s bag %s\n" % (
                k, a.get(k, ("", "-"))[1], b.get(k, ("", "-"))[1],
                "same" if k in da and k in db and da[k][0] == db[k][0] else "DIFF",
                "same" if k in da and k in db and da[k][1:] == db[k][1:] else "DIFF"))
    for name, side in (("scanned  ", a), ("delivered", b)):
        r = rates([side[k] for k in keys])
        print("%s  ham %d spam %d  (1-AUC)%% %.4f  FPR %.3f%%  FNR %.3f%%"
              % (name, r[3], r[4], r[0], r[1], r[2]))
    return 1 if bad else 0


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
    cmds = {"scanned": (cmd_scanned, 2), "deliver": (cmd_deliver, 3),
            "compare": (cmd_compare, (2, 4)), "loo": (cmd_loo, 1)}
    if len(argv) < 2 or argv[1] not in cmds:
        sys.stderr.write(__doc__)
        return 64
    fn, nargs = cmds[argv[1]]
    if len(argv) - 2 not in (nargs if isinstance(nargs, tuple) else (nargs,)):
        sys.stderr.write(__doc__)
        return 64
    rc = fn(*argv[2:])
    return rc or 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
