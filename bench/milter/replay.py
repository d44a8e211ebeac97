#!/usr/bin/env python3
"""replay.py - SMTP load client: replay corpus messages over N concurrent sessions.

    replay.py --port P [--host 127.0.0.1] [--sessions 20] [--messages 10000]
              [--rcpt bob@example.org] [--per-session 100] FILE_OR_DIR...

Each session sends up to --per-session messages on one connection, then
reconnects.  Messages are read once (a leading mbox "From " line dropped,
line ends made CRLF by smtplib) and cycled until --messages are sent.
Prints one JSON line: sent, accepted, rejected (5xx), deferred (4xx), errors,
seconds, messages/s, and client-side latency percentiles of the DATA phase
(the time from the end of DATA to the server's reply, which includes the
milter's end-of-message work).
"""
import argparse
import json
import os
import re
import smtplib
import sys
import threading
import time


def load(paths):
    msgs = []
    for p in paths:
        files = [os.path.join(p, f) for f in sorted(os.listdir(p))] if os.path.isdir(p) else [p]
        for f in files:
            if f.endswith(".json"):
                continue
            with open(f, "rb") as fh:
                data = fh.read()
            if data.startswith(b"From "):
                data = data.split(b"\n", 1)[1] if b"\n" in data else b""
            data = re.sub(rb"\r?\n", b"\r\n", data)     # CRLF line ends
            data = re.sub(rb"(?m)^\.", b"..", data)          # dot-stuffing
            if not data.endswith(b"\r\n"):
                data += b"\r\n"
            msgs.append(data)
    if not msgs:
        sys.exit("replay.py: no messages found")
    return msgs


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--sessions", type=int, default=20)
    ap.add_argument("--messages", type=int, default=10000)
    ap.add_argument("--per-session", type=int, default=100)
    ap.add_argument("--rcpt", default="bob@example.org")
    ap.add_argument("--from", dest="sender", default="load@example.net")
    ap.add_argument("paths", nargs="+")
    a = ap.parse_args()
    msgs = load(a.paths)

    lock = threading.Lock()
    state = {"next": 0, "accepted": 0, "rejected": 0, "deferred": 0, "errors": 0}
    lat = []

    def take():
        with lock:
            if state["next"] >= a.messages:
                return None
            i = state["next"]
            state["next"] += 1
            return i

    def worker():
        smtp = None
        sent_here = 0
        while True:
            i = take()
            if i is None:
                break
            try:
                if smtp is None or sent_here >= a.per_session:
                    if smtp is not None:
                        smtp.quit()
                    smtp = smtplib.SMTP(a.host, a.port, local_hostname="load.example.net",
                                        timeout=120)
                    sent_here = 0
                smtp.mail(a.sender)
                code, _ = smtp.rcpt(a.rcpt)
                if code >= 400:
                    smtp.rset()
                    raise smtplib.SMTPRecipientsRefused({a.rcpt: (code, b"")})
                code, _ = smtp.docmd("DATA")
                if code != 354:
                    raise smtplib.SMTPDataError(code, b"")
                body = msgs[i % len(msgs)]
                smtp.send(body)
                t0 = time.monotonic()
                smtp.send(b".\r\n")
                code, _ = smtp.getreply()
                dt = time.monotonic() - t0
                sent_here += 1
                with lock:
                    lat.append(dt)
                    if code < 300:
                        state["accepted"] += 1
                    elif code >= 500:
                        state["rejected"] += 1
                    else:
                        state["deferred"] += 1
            except (smtplib.SMTPException, OSError):
                with lock:
                    state["errors"] += 1
                try:
                    if smtp is not None:
                        smtp.close()
                except OSError:
                    pass
                smtp = None
        if smtp is not None:
            try:
                smtp.quit()
            except (smtplib.SMTPException, OSError):
                pass

    t0 = time.monotonic()
    threads = [threading.Thread(target=worker) for _ in range(a.sessions)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    secs = time.monotonic() - t0
    lat.sort()

    def pct(p):
        return round(1000 * lat[min(len(lat) - 1, int(p * len(lat)))], 3) if lat else None

    print(json.dumps({"sent": state["next"], "accepted": state["accepted"],
                      "rejected": state["rejected"], "deferred": state["deferred"],
                      "errors": state["errors"], "seconds": round(secs, 3),
                      "msgs_per_s": round(state["next"] / secs, 1),
                      "eod_ms_p50": pct(0.50), "eod_ms_p99": pct(0.99),
                      "eod_ms_max": pct(1.0)}))


if __name__ == "__main__":
    main()
