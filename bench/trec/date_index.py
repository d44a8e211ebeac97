#!/usr/bin/env python3
"""date_index.py - write a TREC index ("spam PATH" / "ham PATH" per line) of
ham and spam directories in Date-header order, the order mail arrived in.

usage: date_index.py --ham DIR... --spam DIR... > index

Only *.txt files are read (the SpamAssassin copy here keeps .json beside
them).  A message whose Date header is missing or unparsable sorts by its
neighbours' position: it takes the date of the file before it in name order,
so it stays where the collection put it.  Ties keep name order.  Paths are
written absolute.
"""
import argparse
import email.utils
import os
import sys


def date_of(path):
    with open(path, 'rb') as fp:
        for raw in fp:
            line = raw.decode('latin-1')
            if line in ('\n', '\r\n'):
                break
            if line.lower().startswith('date:'):
                try:
                    d = email.utils.parsedate_to_datetime(line[5:].strip())
                    return d.timestamp()
                except (TypeError, ValueError, IndexError, OverflowError):
                    return None
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--ham', nargs='+', default=[])
    ap.add_argument('--spam', nargs='+', default=[])
    a = ap.parse_args()
    rows = []
    for label, dirs in (('ham', a.ham), ('spam', a.spam)):
        for d in dirs:
            last = 0.0
            for name in sorted(os.listdir(d)):
                if not name.endswith('.txt'):
                    continue
                p = os.path.abspath(os.path.join(d, name))
                t = date_of(p)
                if t is None:
                    t = last
                last = t
                rows.append((t, label, p))
    if not rows:
        sys.exit('date_index.py: no messages')
    rows.sort(key=lambda r: r[0])
    for _, label, p in rows:
        print(label, p)


if __name__ == '__main__':
    main()
