#!/usr/bin/env python3
"""bench/adapt/sender.py - does teaching a few of one sender's messages move the
sender's other mail?  (issue 16 item 6), through the CLI as an admin runs it.

  bench/adapt/sender.py --spamshift ./spamshift --sa /work/data/sa --enron /work/data/enron \
      --work WORK --out bench/results/sender-DATE

Splits (a base model, then a user whose mail it did not see):
  enron-sa     base `train` on enron1..6, the user = the SpamAssassin corpus
               (easy-ham-1, easy-ham-2, hard-ham-1 ham; spam-1, spam-2 spam)
  sa-enronN    base `train` on the SpamAssassin corpus, the user = enronN
  loo-enronN   base `train` on the other five Enron users, the user = enronN
Groups inside one user's mail, >= --min messages each:
  from-addr    the From address (lowercased), from-dom  the host after its '@'
  subject      the same Subject (lowercased, blanks squeezed; "re :"/"fw :" alone
               do not count): a campaign.  Enron mail has a Subject and a body
               only, no From, so Enron users have subject groups only.
For each user: a temporary store; `classify --observe` of all the user's mail
(file order: folder, then file name), `adapt` (the user's model before teaching,
"k=0"), and `classify --user` of all of it (the "before" verdicts, at the
user's shipped threshold: the verdict classify prints).  For each group and
direction, a copy of that store, the group's first --teach messages (file
order) taught with `learn`, `adapt`, `classify --user` of all the user's mail:
  against  taught as the opposite of the verdict the user saw for most of the
           group (k=0 model): the rest is moved if it now gets the taught verdict
  true     taught with their true labels: the rest is moved if it now gets its
           true label
When the two teach the same labels (the user saw the group wrongly and corrects
it) the run is done once, reported as "correction"; otherwise "against" is a
"taste" run (the user overrides a right verdict for this sender, e.g. a
newsletter as spam) and "true" a "confirm" run.
Per run: of the rest (the group minus the taught), how many did not have the
target verdict before and have it after (flip rate), the mean score before and
after; of the control set (the user's mail outside the group), the FPR/FNR
before and after and the ham -> spam / spam -> ham flips.
Writes OUT.md (tables) and OUT.json (every run); WORK keeps models, stores
and scores (models are reused when present).  Standard library only.
"""
import argparse
import email
import email.utils
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from collections import Counter, defaultdict
from email import policy

SA_DIRS = [('easy-ham-1', 'ham'), ('easy-ham-2', 'ham'), ('hard-ham-1', 'ham'),
           ('spam-1', 'spam'), ('spam-2', 'spam')]
ENRON = ['enron%d' % i for i in range(1, 7)]


def run(cmd, out=None):
    """Run cmd, stdout to the file out (or discarded); fail loudly."""
    with open(out or os.devnull, 'w') as f:
        r = subprocess.run(cmd, stdout=f, stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        sys.exit('%s: exit %d: %s' % (' '.join(cmd), r.returncode, r.stderr.strip()))


def sa_mail(sa):
    out = []
    for d, lab in SA_DIRS:
        for f in sorted(os.listdir(os.path.join(sa, d))):
            if f.endswith('.txt'):
                out.append((os.path.join(sa, d, f), lab))
    return out


def enron_mail(enron, u):
    out = []
    for lab in ('ham', 'spam'):
        d = os.path.join(enron, u, lab)
        out += [(os.path.join(d, f), lab) for f in sorted(os.listdir(d))]
    return out


def headers(path):
    with open(path, 'rb') as f:
        m = email.message_from_binary_file(f, policy=policy.compat32)
    return m.get('From'), m.get('Subject')


REPLY = re.compile(r'^((re|fw|fwd)\s*:\s*)+')


def keys(path):
    """{key kind: value} of one message; kinds it lacks are absent."""
    fr, subj = headers(path)
    k = {}
    if fr is not None:
        a = email.utils.parseaddr(str(fr))[1].lower()
        if '@' in a:
            k['from-addr'] = a
            k['from-dom'] = a.rsplit('@', 1)[1]
    if subj is not None:
        s = re.sub(r'\s+', ' ', str(subj).strip().lower())
        if REPLY.sub('', s).strip():
            k['subject'] = s
    return k


def read_scores(path):
    d = {}
    with open(path) as f:
        for line in f:
            p, s, v = line.rstrip('\n').split('\t')[:3]
            d[p] = (float(s), 'spam' if v != 'ham' else 'ham')
    return d


def remove_store(db):
    for suf in ('', '-wal', '-shm'):
        if os.path.exists(db + suf):
            os.remove(db + suf)


def copy_store(src, dst):
    remove_store(dst)
    for suf in ('', '-wal', '-shm'):
        if os.path.exists(src + suf):
            shutil.copyfile(src + suf, dst + suf)


def train(S, model, ham, spam, log):
    if os.path.exists(model):
        return
    cmd = [S, 'train', '--seed', '1', '-j', '1', '-o', model]
    for h in ham:
        cmd += ['--ham', h]
    for s in spam:
        cmd += ['--spam', s]
    run(cmd, log)


def rates(mail, sc):
    h = [p for p, l in mail if l == 'ham']
    s = [p for p, l in mail if l == 'spam']
    fp = sum(1 for p in h if sc[p][1] == 'spam')
    fn = sum(1 for p in s if sc[p][1] == 'ham')
    return fp, len(h), fn, len(s)


def one_user(S, model, user, mail, kinds, args, wdir):
    """Every group run of one user; a list of result dicts."""
    os.makedirs(wdir, exist_ok=True)
    lst = os.path.join(wdir, 'all.lst')
    with open(lst, 'w') as f:
        f.write(''.join(p + '\n' for p, _ in mail))
    base_db = os.path.join(wdir, 'k0.db')
    remove_store(base_db)
    run([S, 'classify', '-m', model, '--list', lst], os.path.join(wdir, 'base.tsv'))
    run([S, 'classify', '-m', model, '--db', base_db, '--user', user, '--observe',
         '--list', lst])
    run([S, 'adapt', '-m', model, '--db', base_db, '--user', user])
    before_tsv = os.path.join(wdir, 'k0.tsv')
    run([S, 'classify', '-m', model, '--db', base_db, '--user', user, '--list', lst], before_tsv)
    base = read_scores(os.path.join(wdir, 'base.tsv'))
    before = read_scores(before_tsv)
    label = dict(mail)
    mkeys = {p: keys(p) for p, _ in mail}
    results = []
    for kind in kinds:
        groups = defaultdict(list)
        for p, _ in mail:
            if kind in mkeys[p]:
                groups[mkeys[p][kind]].append(p)
        big = sorted(((g, m) for g, m in groups.items() if len(m) >= args.min),
                     key=lambda gm: (-len(gm[1]), gm[0]))
        if not big:
            print('  %s %s: no %s group of >= %d messages' % (user, kind, kind, args.min))
        for gi, (g, members) in enumerate(big):
            taught, rest = members[:args.teach], members[args.teach:]
            seen = Counter(before[p][1] for p in members).most_common(1)[0][0]
            against = 'ham' if seen == 'spam' else 'spam'
            runs = []
            true_labels = [label[p] for p in taught]
            if true_labels == [against] * len(taught):
                runs.append(('correction', {p: against for p in taught}, {p: against for p in rest}))
            else:
                runs.append(('taste', {p: against for p in taught}, {p: against for p in rest}))
                runs.append(('confirm', {p: label[p] for p in taught}, {p: label[p] for p in rest}))
            inside = set(members)
            control = [(p, l) for p, l in mail if p not in inside]
            for cat, teach, target in runs:
                tag = '%s-%03d-%s' % (kind, gi, cat)
                db = os.path.join(wdir, 'run.db')
                copy_store(base_db, db)
                for lab in ('spam', 'ham'):
                    files = [p for p in taught if teach[p] == lab]
                    if files:
                        run([S, 'learn', '--db', db, '--user', user, '--' + lab] + files)
                t0 = time.time()
                run([S, 'adapt', '-m', model, '--db', db, '--user', user])
                adapt_s = time.time() - t0
                out = os.path.join(wdir, tag + '.tsv')
                run([S, 'classify', '-m', model, '--db', db, '--user', user, '--list', lst], out)
                after = read_scores(out)
                off = [p for p in rest if before[p][1] != target[p]]
                moved = [p for p in off if after[p][1] == target[p]]
                broke = [p for p in rest if before[p][1] == target[p] and after[p][1] != target[p]]
                b_fp, nh, b_fn, ns = rates(control, before)
                a_fp, _, a_fn, _ = rates(control, after)
                hs = sum(1 for p, l in control if l == 'ham' and before[p][1] == 'ham'
                         and after[p][1] == 'spam')
                sh = sum(1 for p, l in control if l == 'spam' and before[p][1] == 'spam'
                         and after[p][1] == 'ham')
                r = {
                    'user': user, 'kind': kind, 'group': g, 'category': cat, 'n': len(members),
                    'labels': dict(Counter(label[p] for p in members)),
                    'taught': [[os.path.relpath(p, args.root), teach[p]] for p in taught],
                    'base_verdict_spam': sum(1 for p in members if base[p][1] == 'spam'),
                    'seen_spam': sum(1 for p in members if before[p][1] == 'spam'),
                    'rest': len(rest), 'off_before': len(off), 'moved': len(moved),
                    'broke': len(broke),
                    'at_target_before': sum(1 for p in rest if before[p][1] == target[p]),
                    'at_target_after': sum(1 for p in rest if after[p][1] == target[p]),
                    'taught_at_target_after': sum(1 for p in taught if after[p][1] == teach[p]),
                    'rest_mean_before': sum(before[p][0] for p in rest) / len(rest),
                    'rest_mean_after': sum(after[p][0] for p in rest) / len(rest),
                    'taught_mean_before': sum(before[p][0] for p in taught) / len(taught),
                    'taught_mean_after': sum(after[p][0] for p in taught) / len(taught),
                    'control_ham': nh, 'control_spam': ns,
                    'control_fp_before': b_fp, 'control_fp_after': a_fp,
                    'control_fn_before': b_fn, 'control_fn_after': a_fn,
                    'control_ham_to_spam': hs, 'control_spam_to_ham': sh,
                    'adapt_s': adapt_s,
                }
                results.append(r)
                print('  %s %-9s %-28.28s %-10s n=%3d moved %3d/%-3d broke %2d  rest %.3f -> %.3f'
                      '  taught %.3f -> %.3f  control FP %d -> %d FN %d -> %d' % (
                          user, kind, g, cat, len(members), len(moved), len(off), len(broke),
                          r['rest_mean_before'], r['rest_mean_after'], r['taught_mean_before'],
                          r['taught_mean_after'], b_fp, a_fp, b_fn, a_fn), flush=True)
    return results


def pct(a, b):
    return 100.0 * a / b if b else float('nan')


def table(results):
    """Markdown rows per (split, kind, category)."""
    rows = ['| split | group by | run | groups | messages | rest off target before | moved | '
            'flip rate | broke | rest mean score before -> after | taught at target after | '
            'control FPR before -> after | control FNR before -> after | '
            'control ham->spam / spam->ham |',
            '|' + '---|' * 14]
    agg = defaultdict(list)
    for r in results:
        agg[(r['split'], r['kind'], r['category'])].append(r)
    for (split, kind, cat), rs in sorted(agg.items()):
        off = sum(r['off_before'] for r in rs)
        moved = sum(r['moved'] for r in rs)
        nh = sum(r['control_ham'] for r in rs)
        ns = sum(r['control_spam'] for r in rs)
        rows.append('| %s | %s | %s | %d | %d | %d | %d | %.1f%% | %d | %.3f -> %.3f | %d/%d | '
                    '%.2f%% -> %.2f%% | %.2f%% -> %.2f%% | %d / %d |' % (
                        split, kind, cat, len(rs), sum(r['n'] for r in rs), off, moved,
                        pct(moved, off), sum(r['broke'] for r in rs),
                        sum(r['rest_mean_before'] for r in rs) / len(rs),
                        sum(r['rest_mean_after'] for r in rs) / len(rs),
                        sum(r['taught_at_target_after'] for r in rs),
                        sum(len(r['taught']) for r in rs),
                        pct(sum(r['control_fp_before'] for r in rs), nh),
                        pct(sum(r['control_fp_after'] for r in rs), nh),
                        pct(sum(r['control_fn_before'] for r in rs), ns),
                        pct(sum(r['control_fn_after'] for r in rs), ns),
                        sum(r['control_ham_to_spam'] for r in rs),
                        sum(r['control_spam_to_ham'] for r in rs)))
    return '\n'.join(rows)


def detail(results):
    rows = ['| split | user | by | group | labels | run | rest | moved/off | broke | '
            'rest mean before -> after | taught mean before -> after | control FP / FN change |',
            '|' + '---|' * 12]
    for r in results:
        rows.append('| %s | %s | %s | %s | %s | %s | %d | %d/%d | %d | %.3f -> %.3f | %.3f -> %.3f | '
                    '%+d / %+d |' % (
                        r['split'], r['user'], r['kind'], r['group'].replace('|', '/')[:40],
                        ' '.join('%s %d' % kv for kv in sorted(r['labels'].items())),
                        r['category'], r['rest'], r['moved'], r['off_before'], r['broke'],
                        r['rest_mean_before'], r['rest_mean_after'], r['taught_mean_before'],
                        r['taught_mean_after'], r['control_fp_after'] - r['control_fp_before'],
                        r['control_fn_after'] - r['control_fn_before']))
    return '\n'.join(rows)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--spamshift', required=True)
    ap.add_argument('--sa', help='folder holding easy-ham-1 ... spam-2')
    ap.add_argument('--enron', help='folder holding enron1 ... enron6')
    ap.add_argument('--splits', default='enron-sa,sa-enron,loo-enron',
                    help='comma-separated: enron-sa, sa-enron, loo-enron (default all)')
    ap.add_argument('--work', required=True)
    ap.add_argument('--out', required=True, help='write OUT.md and OUT.json')
    ap.add_argument('--min', type=int, default=20, help='messages a group needs (default 20)')
    ap.add_argument('--teach', type=int, default=5, help='messages taught (default 5)')
    ap.add_argument('--kinds', default='from-addr,from-dom,subject',
                    help='comma-separated group kinds (default from-addr,from-dom,subject)')
    args = ap.parse_args()
    S = os.path.abspath(args.spamshift)
    W = os.path.abspath(args.work)
    os.makedirs(W, exist_ok=True)
    args.root = os.path.commonpath([p for p in (args.sa, args.enron) if p] + ['/'])
    if args.sa and args.enron:
        args.root = os.path.commonpath([os.path.abspath(args.sa), os.path.abspath(args.enron)])
    splits = args.splits.split(',')
    kinds = args.kinds.split(',')
    results = []
    t_start = time.time()

    def user_runs(split, m, user, mail, wdir):
        for r in one_user(S, m, user, mail, kinds, args, os.path.join(W, wdir)):
            r['split'] = split
            results.append(r)

    if 'enron-sa' in splits:
        m = os.path.join(W, 'enron1-6.model')
        train(S, m, [os.path.join(args.enron, u, 'ham') for u in ENRON],
              [os.path.join(args.enron, u, 'spam') for u in ENRON], os.path.join(W, 'enron1-6.train'))
        print('enron-sa: base on enron1..6, user = the SpamAssassin corpus')
        user_runs('enron-sa', m, 'sa@example.org', sa_mail(args.sa), 'enron-sa')
    for u in ENRON if 'sa-enron' in splits else []:
        m = os.path.join(W, 'sa.model')
        train(S, m, [os.path.join(args.sa, d) for d, l in SA_DIRS if l == 'ham'],
              [os.path.join(args.sa, d) for d, l in SA_DIRS if l == 'spam'],
              os.path.join(W, 'sa.train'))
        print('sa-enron: base on the SpamAssassin corpus, user = %s' % u)
        user_runs('sa-enron', m, u + '@example.org', enron_mail(args.enron, u), 'sa-' + u)
    for u in ENRON if 'loo-enron' in splits else []:
        m = os.path.join(W, 'enron-wo-%s.model' % u)
        others = [v for v in ENRON if v != u]
        train(S, m, [os.path.join(args.enron, v, 'ham') for v in others],
              [os.path.join(args.enron, v, 'spam') for v in others],
              os.path.join(W, 'enron-wo-%s.train' % u))
        print('loo-enron: base on the other five, user = %s' % u)
        user_runs('loo-enron', m, u + '@example.org', enron_mail(args.enron, u), 'loo-' + u)
    elapsed = time.time() - t_start
    head = subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], capture_output=True,
                          text=True, cwd=os.path.dirname(S)).stdout.strip()
    meta = {'command': ' '.join(sys.argv), 'spamshift': S, 'commit': head,
            'host': platform.node(), 'date': time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime()),
            'elapsed_s': round(elapsed, 1), 'min': args.min, 'teach': args.teach}
    with open(args.out + '.json', 'w') as f:
        json.dump({'meta': meta, 'runs': results}, f, indent=1, sort_keys=True)
    with open(args.out + '.md', 'w') as f:
        f.write('<!-- generated by bench/adapt/sender.py: %s (commit %s, %s, %.0f s) -->\n\n' % (
            meta['command'], head, meta['date'], elapsed))
        f.write(table(results) + '\n\n' + detail(results) + '\n')
    print(table(results))
    print('%.0f s' % elapsed)


if __name__ == '__main__':
    main()
