#!/bin/bash
# bench/canon/real.sh - the delivered-copy check with real delivered copies: a
# private Postfix (scripts/private-postfix.sh) scans with spamshift-milter
# (subject_prefix = [SPAM]) on the MX smtpd, relays to a hub smtpd of its own
# (content_filter: one more Received after the milter, as in
# tests/e2e/learn_delivered.sh) and delivers with virtual(8) into a Maildir
# (Delivered-To, X-Original-To, Return-Path on top).  Then it checks what
# run.sh checks on built copies, as far as a real copy shows it: does
# `spamshift classify` on the delivered copy give the score the milter wrote
# into it (X-Spam-Score, 6 decimals)?  (The milter's buffer itself is not
# visible; run.sh compares digests and bags on its model of it.)
#
#   bench/canon/real.sh -m MODEL [-n N] [-o OUTDIR] DATADIR
#
# Sends the first N (default 200) messages of DATADIR (sorted, *.json
# skipped) one at a time with swaks, each waited for (bounded: 30 s).
# Needs root, postfix, swaks, setpriv and the user nobody (the milter and the
# mailbox run as nobody); exits 77 without them, 1 when some pair differs.
# Local only: 127.0.0.1, ports from 25000 up.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
model= out= n=200
while getopts m:n:o: opt; do
    case $opt in
    m) model=$OPTARG ;;
    n) n=$OPTARG ;;
    o) out=$OPTARG ;;
    *) echo "usage: $0 -m MODEL [-n N] [-o OUTDIR] DATADIR" >&2; exit 64 ;;
    esac
done
shift $((OPTIND - 1))
[ -n "$model" ] && [ $# -eq 1 ] && [ -d "$1" ] \
    || { echo "usage: $0 -m MODEL [-n N] [-o OUTDIR] DATADIR" >&2; exit 64; }
dir=$(cd "$1" && pwd)
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root (Postfix)"; exit 77; }
for t in postfix swaks setpriv; do
    command -v $t >/dev/null 2>&1 || [ -x /usr/sbin/$t ] || { echo "SKIP: no $t"; exit 77; }
done
id nobody >/dev/null 2>&1 || { echo "SKIP: no user nobody"; exit 77; }
for b in spamshift spamshift-milter; do
    [ -x "$top/$b" ] || { echo "$0: $top/$b not built" >&2; exit 69; }
done

free_port() {   # the first port from $1 up that nothing listens on
    local p=$1
    while (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; do p=$((p + 1)); done
    echo "$p"
}
tmp=$(mktemp -d /tmp/canon-real.XXXXXX)
chmod 755 "$tmp"
: "${out:=$tmp/out}"
pp=$top/scripts/private-postfix.sh
mpid=
cleanup() {
    "$pp" stop "$tmp/pf" >/dev/null 2>&1 || true
    [ -n "$mpid" ] && kill "$mpid" 2>/dev/null || true
    [ -n "${KEEP:-}" ] || rm -rf "$tmp/pf" "$tmp/lib" "$tmp/mail"
}
trap cleanup EXIT

mkdir -p "$tmp/lib" "$tmp/mail/user/new" "$tmp/pf" "$out"
cp "$model" "$tmp/lib/model.bin"
chown -R nobody "$tmp/lib" "$tmp/mail"
cat >"$tmp/spamshift.conf" <<EOC
socket = unix:$tmp/lib/milter.sock
socket_mode = 0666
model = $tmp/lib/model.bin
database = $tmp/lib/users.db
subject_prefix = [SPAM]
refit_interval = 0
log_target = stderr
EOC
setpriv --reuid=nobody --regid="$(id -g nobody)" --clear-groups \
    "$top/spamshift-milter" -f -c "$tmp/spamshift.conf" >/dev/null 2>"$tmp/milter.log" &
mpid=$!
i=0
until [ -S "$tmp/lib/milter.sock" ]; do
    i=$((i + 1))
    [ $i -le 300 ] && kill -0 "$mpid" 2>/dev/null \
        || { tail "$tmp/milter.log" >&2; echo "$0: the milter did not start" >&2; exit 1; }
    sleep 0.1
done
sport=$(free_port 25000)
hport=$(free_port $((sport + 1)))
"$pp" setup "$tmp/pf" "$sport" myhostname=mx.canon.test mydomain=canon.test \
    'myorigin=$myhostname' virtual_mailbox_domains=example.org \
    "virtual_mailbox_base=$tmp/mail" "virtual_mailbox_maps=inline:{ user@example.org=user/ }" \
    "virtual_uid_maps=static:$(id -u nobody)" "virtual_gid_maps=static:$(id -g nobody)" \
    virtual_mailbox_limit=0 message_size_limit=0 \
    "content_filter=relay:[127.0.0.1]:$hport" \
    "smtpd_milters=unix:$tmp/lib/milter.sock" milter_default_action=tempfail >"$tmp/setup.out" 2>&1 \
    && "$pp" listen "$tmp/pf" "$hport" content_filter= smtpd_milters= myhostname=hub.canon.test \
    >>"$tmp/setup.out" 2>&1 || { cat "$tmp/setup.out" >&2; exit 1; }
"$pp" start "$tmp/pf" >"$tmp/start.out" 2>&1 || { cat "$tmp/start.out" >&2; exit 1; }

name=$(basename "$dir")
rm -rf "$out/delivered" && mkdir -p "$out/delivered/$name"
find "$dir" -maxdepth 1 -type f ! -name '*.json' | LC_ALL=C sort | head -n "$n" >"$out/orig.list"
sent=0
while read -r f; do
    before=$(ls "$tmp/mail/user/new" | wc -l)
    swaks --server 127.0.0.1 --port "$sport" --helo client.canon.test --from sender@example.net \
        --to user@example.org --data "$f" >>"$tmp/swaks.out" 2>&1 \
        || { echo "$0: $f not accepted (see $tmp/swaks.out)" >&2; exit 1; }
    i=0
    until [ "$(ls "$tmp/mail/user/new" | wc -l)" -gt "$before" ]; do
        i=$((i + 1))
        [ $i -le 300 ] || { tail "$tmp/pf/maillog" >&2; echo "$0: $f not delivered" >&2; exit 1; }
        sleep 0.1
    done
    mv "$tmp/mail/user/new/"* "$out/delivered/$name/$(basename "$f")"
    sent=$((sent + 1))
done <"$out/orig.list"

# The milter's scores as classify output lines, classify on the delivered copies.
find "$out/delivered" -type f | LC_ALL=C sort >"$out/delivered.list"
while read -r f; do
    s=$(sed -n 's/^X-Spam-Score: *//p' "$f" | tr -d '\r' | head -1)
    v=$(grep -q '^X-Spam-Flag: YES' "$f" && echo spam || echo ham)
    printf '%s\t%s\t%s\n' "$f" "${s:-missing}" "$v"
done <"$out/delivered.list" >"$out/milter.tsv"
"$top/spamshift" classify -m "$model" --list "$out/delivered.list" >"$out/delivered.tsv"
echo "== real Postfix $(postconf -c "$tmp/pf/etc" -h mail_version 2>/dev/null): $sent of $dir delivered"
echo "milter's score (X-Spam-Score) against classify on the delivered copy:"
rc=0
python3 "$here/canon.py" compare "$out/milter.tsv" "$out/delivered.tsv" || rc=1
echo "copies and tables in $out"
exit $rc
