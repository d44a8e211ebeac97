#!/bin/bash
# syscalls.sh - the milter's system calls per message behind a real Postfix:
#   smtp-source -> private Postfix -> spamshift-milter under strace -f -c -> smtp-sink
#
#   bench/milter/syscalls.sh MILTER_BINARY MODEL [MESSAGES]
#
# Prints whether every message reached the sink, strace's counts for poll,
# read, write and the total, and the number of per-message log lines.  Counts
# (not times) are what compare between two builds: strace slows the milter
# down, and poll counts move with timing (libmilter's worker pool), read and
# write much less.  As root (own Postfix under scripts/private-postfix.sh).
# Default 300 messages, 5 sessions, 4 KB each.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
milter=${1:?usage: syscalls.sh MILTER_BINARY MODEL [MESSAGES]}
model=${2:?usage: syscalls.sh MILTER_BINARY MODEL [MESSAGES]}
n=${3:-300}
[ "$(id -u)" -eq 0 ] || { echo "must run as root" >&2; exit 77; }
pp=$here/../../scripts/private-postfix.sh
. "$here/lib.sh"
tmp=$(mktemp -d /tmp/spamshift-syscalls.XXXXXX)
chmod 755 "$tmp"
port_base=$((30000 + $$ % 20000))
sink_port=$port_base smtp_port=$((port_base + 1))
spid= mpid=
cleanup() {
	"$pp" stop "$tmp" >/dev/null 2>&1 || true
	pkill -TERM -f "$milter -f -c $tmp" 2>/dev/null || true
	[ -n "$mpid" ] && wait "$mpid" 2>/dev/null || true
	[ -n "$spid" ] && kill "$spid" 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT

sink_start $sink_port 64
milter_conf "$tmp/milter.conf"
strace -f -c -o "$tmp/strace.out" "$milter" -f -c "$tmp/milter.conf" 2>"$tmp/milter.log" &
mpid=$!
while [ ! -S "$tmp/milter.sock" ]; do kill -0 $mpid; sleep 0.1; done
postfix_setup $smtp_port $sink_port >/dev/null
"$pp" start "$tmp" >/dev/null
smtp-source -s 5 -m "$n" -l 4096 -f load@example.net -t bob@example.org 127.0.0.1:$smtp_port
for _ in $(seq 120); do
	[ "$(find "$tmp/sink" -type f | wc -l)" -ge "$n" ] && break
	sleep 0.5
done
echo "messages at the sink: $(find "$tmp/sink" -type f | wc -l) of $n"
"$pp" stop "$tmp" >/dev/null 2>&1 || true
# strace writes its summary when the milter exits (SIGTERM: graceful stop).
pkill -TERM -f "$milter -f -c $tmp"
wait $mpid || true
mpid=
grep -E "calls| (poll|read|write|writev)$| total$" "$tmp/strace.out"
echo "per-message log lines: $(grep -c "verdict=" "$tmp/milter.log")"
