#!/bin/sh
# scripts/demo.sh - a private demo of spamshift in front of a real Postfix, all on
# 127.0.0.1 and under one directory (nothing of the system's Postfix is touched;
# the instance is scripts/private-postfix.sh's):
#   spamshift-milter on inet:11332@127.0.0.1 with the given model,
#   Postfix on 127.0.0.1:2525 delivering demo@example.org into DIR/mail/demo/.
#
#   scripts/demo.sh start DIR MODEL   start both (as root)
#   scripts/demo.sh prove DIR FILE    send FILE through Postfix with swaks and show
#                                     the X-Spam-* headers it was delivered with
#   scripts/demo.sh stop DIR          stop both
set -eu
cmd=${1:?usage: demo.sh start|prove|stop DIR [MODEL|FILE]}
DIR=${2:?usage: demo.sh start|prove|stop DIR [MODEL|FILE]}
TOP=$(cd "$(dirname "$0")/.." && pwd)
BIN=${BIN:-$TOP}
PORT=${PORT:-2525}
MPORT=${MPORT:-11332}

case $cmd in
start)
    MODEL=${3:?usage: demo.sh start DIR MODEL}
    [ "$(id -u)" -eq 0 ] || { echo "demo.sh: Postfix needs root to start" >&2; exit 77; }
    mkdir -p "$DIR/mail"
    chown nobody:nogroup "$DIR/mail"
    cat > "$DIR/spamshift.conf" <<EOC
socket = inet:$MPORT@127.0.0.1
model = $MODEL
database = $DIR/users.db
refit_interval = 60
pid_file = $DIR/spamshift-milter.pid
log_target = stderr
EOC
    "$BIN/spamshift-milter" -n -c "$DIR/spamshift.conf"
    "$BIN/spamshift-milter" -f -c "$DIR/spamshift.conf" 2> "$DIR/milter.log" &
    echo $! > "$DIR/milter.pid"
    "$TOP/scripts/private-postfix.sh" setup "$DIR" "$PORT" myhostname=mx.demo.test \
        virtual_mailbox_domains=example.org "virtual_mailbox_base=$DIR/mail" \
        "virtual_mailbox_maps=inline:{ demo@example.org=demo/ }" \
        "virtual_uid_maps=static:$(id -u nobody)" "virtual_gid_maps=static:$(id -g nobody)" \
        virtual_minimum_uid=1 "smtpd_milters=inet:127.0.0.1:$MPORT" \
        "non_smtpd_milters=inet:127.0.0.1:$MPORT" milter_default_action=accept
    "$TOP/scripts/private-postfix.sh" start "$DIR"
    sleep 1
    echo "spamshift-milter: inet:$MPORT@127.0.0.1 (log $DIR/milter.log); Postfix: 127.0.0.1:$PORT (log $DIR/maillog)"
    ;;
prove)
    FILE=${3:?usage: demo.sh prove DIR FILE}
    before=$(ls "$DIR/mail/demo/new" 2>/dev/null | wc -l)
    swaks --silent 2 --server 127.0.0.1 --port "$PORT" --from sender@example.net \
        --to demo@example.org --data "@$FILE"
    i=0
    while [ "$(ls "$DIR/mail/demo/new" 2>/dev/null | wc -l)" -le "$before" ] && [ $i -lt 50 ]; do
        sleep 0.2; i=$((i + 1))
    done
    last=$(ls -t "$DIR/mail/demo/new" | head -n 1)
    [ -n "$last" ] || { echo "demo.sh: nothing delivered; see $DIR/maillog" >&2; exit 1; }
    echo "delivered as $DIR/mail/demo/new/$last with:"
    grep -E '^X-Spam(-[A-Za-z]+)?:|^X-Spamshift' "$DIR/mail/demo/new/$last"
    ;;
stop)
    "$TOP/scripts/private-postfix.sh" stop "$DIR"
    [ -f "$DIR/milter.pid" ] && kill "$(cat "$DIR/milter.pid")" 2>/dev/null || true
    rm -f "$DIR/milter.pid"
    ;;
*)
    echo "usage: demo.sh start|prove|stop DIR [MODEL|FILE]" >&2; exit 64 ;;
esac
