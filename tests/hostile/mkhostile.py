#!/usr/bin/env python3
"""mkhostile.py - write the hostile messages of issue 6 into a directory.

    mkhostile.py DIR [--small]

Each case is one RFC 822 file DIR/NAME.eml.  They are generated, not committed,
because several are large (a 100 MB body, 40 MB of base64); --small divides
the sizes by 100 for quick runs (the structure stays the same).  Deterministic:
the same bytes on every run.  Cases:

  broken-boundary   multipart whose boundary never closes, a part with a bogus
                    boundary parameter and a second, undeclared delimiter
  body-100m         a 100 MB plain text body
  headers-10k       10,000 header lines
  header-1m         one 1 MB header line (a Subject with no space in it)
  deep-nesting      2,000 levels of multipart/mixed inside each other
  rfc822-nesting    500 levels of message/rfc822 inside each other
  invalid-utf8      bytes 0x80-0xff in a body and headers declared UTF-8
  unknown-charset   charset=x-no-such-charset in a part and encoded words
  base64-huge       40 MB of base64 (30 MB decoded) on 76-column lines
  base64-oneline    8 MB of base64 on a single line
  html-million      HTML with 1,000,000 nested <div> tags
  nul-bytes         NUL bytes in header names, values and the body
  long-line         a 10 MB body line without a newline
  many-parts        20,000 tiny sibling parts
"""
import base64
import os
import sys


def header(subject, ctype="text/plain; charset=us-ascii", extra=b""):
    return (b"From: Hostile <hostile@example.net>\n"
            b"To: bob@example.org\n"
            b"Subject: " + subject + b"\n"
            b"Message-ID: <" + subject[:40].replace(b" ", b"-") + b"@example.net>\n"
            b"Date: Fri, 27 Nov 2026 21:00:00 +0000\n"
            b"MIME-Version: 1.0\n" + extra +
            b"Content-Type: " + ctype.encode() + b"\n\n")


def cases(scale):
    mb = 1024 * 1024 // scale
    line = b"the quick brown fox jumps over the lazy dog 0123456789 cheap pills\n"

    yield "broken-boundary", (header(b"broken boundary", 'multipart/mixed; boundary="AAA"')
        + b"preamble\n--AAA\nContent-Type: text/plain\n\nfirst part\n"
        + b"--AAA\nContent-Type: multipart/alternative; boundary=\n\n--\n--BBB\n"
        + b"Content-Type: text/html\n\n<p>inner</p>\n--AAA-\n--AA\n--AAA--x\nno end")

    yield "body-100m", header(b"one hundred megabytes") + line * (100 * mb // len(line))

    yield "headers-10k", (b"".join(b"X-Hdr-%d: value %d\n" % (i, i) for i in range(10000))
        + header(b"ten thousand headers") + line)

    yield "header-1m", (header(b"x" * (1024 * 1024 // scale)) + line)

    depth = 2000
    body = b"".join(b"--b%d\nContent-Type: multipart/mixed; boundary=\"b%d\"\n\n" % (i, i + 1)
                    for i in range(depth))
    body += b"--b%d\nContent-Type: text/plain\n\ndeep\n" % depth
    body += b"".join(b"--b%d--\n" % i for i in range(depth, -1, -1))
    yield "deep-nesting", header(b"deep nesting", 'multipart/mixed; boundary="b0"') + body

    inner = header(b"innermost") + line
    for i in range(500):
        inner = header(b"level %d" % i, "message/rfc822") + inner
    yield "rfc822-nesting", inner

    junk = bytes(range(0x80, 0x100)) * 64
    yield "invalid-utf8", (header(b"bad \xff\xfe utf8 \xc3\x28", "text/plain; charset=utf-8",
                                  b"X-Bad: \xed\xa0\x80 \xf8\x88\x80\x80\x80\n")
        + junk + b"\n" + b"caf\xc3 \xe2\x82 \xf0\x9f\x98\n" * 100)

    yield "unknown-charset", (header(b"=?x-no-such-charset?B?c3BhbQ==?= =?utf-8?Q?ok?=",
                                     'multipart/mixed; boundary="Z"')
        + b"--Z\nContent-Type: text/plain; charset=x-no-such-charset\n\n\x8f\x9f spam\n"
        + b"--Z\nContent-Type: text/html; charset=\"\xff\xfe\"\n\n<b>hi</b>\n--Z--\n")

    raw = line * (30 * mb // len(line))
    yield "base64-huge", (header(b"huge base64", "text/plain; charset=us-ascii",
                                 b"Content-Transfer-Encoding: base64\n")
        + base64.encodebytes(raw))

    yield "base64-oneline", (header(b"one-line base64", "text/html",
                                    b"Content-Transfer-Encoding: base64\n")
        + base64.b64encode(b"<div>" * (6 * mb // 5)) + b"\n")

    n = 1000000 // scale
    yield "html-million", (header(b"a million tags", "text/html; charset=utf-8")
        + b"<html><body>" + b"<div>" * n + b"deep text" + b"</div>" * n + b"</body></html>\n")

    yield "nul-bytes", (b"From: nul\x00@example.net\nX-N\x00ul: a\x00b\n"
        + header(b"nul \x00 bytes") + (b"body\x00with\x00nuls " * 1000) + b"\n")

    yield "long-line", header(b"long line") + b"a" * (10 * mb)

    parts = 20000 // scale
    yield "many-parts", (header(b"many parts", 'multipart/mixed; boundary="P"')
        + b"".join(b"--P\nContent-Type: text/plain\n\npart %d\n" % i for i in range(parts))
        + b"--P--\n")


def main():
    if len(sys.argv) < 2 or len(sys.argv) > 3 or (len(sys.argv) == 3 and sys.argv[2] != "--small"):
        sys.exit("usage: mkhostile.py DIR [--small]")
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    for name, data in cases(100 if len(sys.argv) == 3 else 1):
        with open(os.path.join(out, name + ".eml"), "wb") as fh:
            fh.write(data)


if __name__ == "__main__":
    main()
