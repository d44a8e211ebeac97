#!/bin/bash
# postfix.sh - end-to-end: a real Postfix instance with spamshift-milter in
# smtpd_milters, fed by swaks, delivering into Maildirs.
#
# Runs its own Postfix (config, queue and data directories in a temp dir,
# smtpd on 127.0.0.1 at a high port, virtual(8) delivery to Maildirs, its own
# maillog_file), leaving any system instance alone.  Checks:
#   1. a ham and a spam are delivered; both carry X-Spam-Score/X-Spam-Status and
#      X-Spamshift-Result, the spam X-Spam-Flag: YES; the milter logged each
#      message with Postfix's queue id;
#   2. after SIGHUP with a reject_threshold under the spam's score, the spam
#      gets "550 5.7.1" at the SMTP client and is not delivered; ham still is.
# Skips (77) unless root with postfix, swaks and the built programs at hand.
set -u
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=.}"
data=$top_srcdir/tests/milter/data
milter=$top_builddir/spamshift-milter
cli=$top_builddir/spamshift
POSTFIX=$(command -v postfix || echo /usr/sbin/postfix)
pp=$top_srcdir/scripts/private-postfix.sh

[ "$(id -u)" -eq 0 ] || { echo "SKIP: must run as root to start Postfix"; exit 77; }
[ -x "$POSTFIX" ] || { echo "SKIP: postfix not installed"; exit 77; }
command -v swaks >/dev/null 2>&1 || { echo "SKIP: swaks not installed"; exit 77; }
id postfix >/dev/null 2>&1 || { echo "SKIP: no postfix user"; exit 77; }
for b in "$milter" "$cli"; do
	[ -x "$b" ] || { echo "FAIL: $b is not built"; exit 99; }
done

tmp=$(mktemp -d /tmp/spamshift-e2e.XXXXXX) || exit 99
chmod 755 "$tmp"        # smtpd (user postfix) reaches the milter socket inside
mpid=
cleanup() {
	"$pp" stop "$tmp"
	[ -n "$mpid" ] && kill "$mpid" 2>/dev/null
	[ -n "${KEEP:-}" ] || rm -rf "$tmp"
}
trap cleanup EXIT
fail() {
	echo "FAIL: e2e: $*"
	for f in milter.log maillog swaks.out; do
		[ -f "$tmp/$f" ] && { echo "--- $f:"; tail -n 40 "$tmp/$f"; }
	done
	exit 1
}

# A port unlikely to be taken; try a few.
port=
for p in $((20000 + $$ % 20000)) $((21000 + $$ % 19000)) $((41000 + $$ % 9000)); do
	if ! (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null; then port=$p; break; fi
done
[ -n "$port" ] || port=$((20000 + $$ % 20000))

# Model and probe scores.
"$cli" train -q -o "$tmp/model.bin" --ham "$data/ham" --spam "$data/spam" --seed 1 \
	>"$tmp/train.log" 2>&1 || { cat "$tmp/train.log"; fail "spamshift train failed"; }
ham=$("$cli" classify -m "$tmp/model.bin" "$data/probe-ham.eml" | cut -f2)
spam=$("$cli" classify -m "$tmp/model.bin" "$data/probe-spam.eml" | cut -f2)
mid=$(awk -v h="$ham" -v s="$spam" 'BEGIN { if (s - h < 0.02) exit 1; printf "%.6f", (h + s) / 2 }') \
	|| fail "the probes are not separated: ham $ham, spam $spam"

# The milter.
cat >"$tmp/spamshift.conf" <<EOC
socket = unix:$tmp/milter.sock
socket_mode = 0660
socket_owner = postfix:postfix
model = $tmp/model.bin
spam_threshold = $mid
log_target = stderr
EOC
"$milter" -f -c "$tmp/spamshift.conf" 2>"$tmp/milter.log" &
mpid=$!

# The Postfix instance (scripts/private-postfix.sh: own config, queue and log).
mkdir -p "$tmp/mail"
chown nobody:nogroup "$tmp/mail"
"$pp" setup "$tmp" "$port" myhostname=mx.e2e.test mydomain=e2e.test 'myorigin=$myhostname' \
	virtual_mailbox_domains=example.org "virtual_mailbox_base=$tmp/mail" \
	"virtual_mailbox_maps=inline:{ bob@example.org=bob/, carol@example.org=carol/ }" \
	"virtual_uid_maps=static:$(id -u nobody)" "virtual_gid_maps=static:$(id -g nobody)" \
	virtual_minimum_uid=1 "smtpd_milters=unix:$tmp/milter.sock" \
	milter_default_action=tempfail >"$tmp/setup.out" 2>&1 \
	|| { cat "$tmp/setup.out"; fail "private Postfix setup"; }
i=0
while [ ! -S "$tmp/milter.sock" ]; do
	i=$((i + 1)); [ $i -le 100 ] || fail "milter socket missing"
	kill -0 "$mpid" 2>/dev/null || fail "the milter exited at start"
	sleep 0.05
done
"$pp" start "$tmp" >"$tmp/start.out" 2>&1 || { cat "$tmp/start.out"; fail "postfix start"; }

send() {        # send FILE RCPT: swaks output to swaks.out, returns swaks' status
	swaks --server 127.0.0.1 --port "$port" --helo client.e2e.test --from sender@example.net \
		--to "$2" --data "$1" >>"$tmp/swaks.out" 2>&1
}
wait_mail() {   # wait_mail USER N: until USER's Maildir holds N messages
	i=0
	while [ "$(ls "$tmp/mail/$1/new" 2>/dev/null | wc -l)" -lt "$2" ]; do
		i=$((i + 1)); [ $i -le 150 ] || fail "no delivery to $1 after 15 s"
		sleep 0.1
	done
}

# 1. Tag.
send "$data/probe-ham.eml" carol@example.org || fail "swaks: ham not accepted"
send "$data/probe-spam.eml" bob@example.org || fail "swaks: spam not accepted"
wait_mail carol 1
wait_mail bob 1
hamfile=$(ls "$tmp/mail/carol/new/"* | head -1)
spamfile=$(ls "$tmp/mail/bob/new/"* | head -1)
grep -q "^X-Spam-Flag: YES" "$spamfile" || fail "delivered spam lacks X-Spam-Flag: YES"
grep -q "^X-Spam-Score: $spam\$" "$spamfile" || fail "delivered spam: want X-Spam-Score: $spam"
grep -q "^X-Spam-Status: Yes, score=$spam required=$mid\$" "$spamfile" \
	|| fail "delivered spam: want X-Spam-Status: Yes, score=$spam required=$mid"
grep -q "^X-Spamshift-Result: bob@example.org; score=$spam; verdict=tag\$" "$spamfile" \
	|| fail "delivered spam: want its X-Spamshift-Result"
grep -q "^X-Spam-Flag" "$hamfile" && fail "delivered ham has X-Spam-Flag"
grep -q "^X-Spam-Status: No, score=$ham required=$mid\$" "$hamfile" \
	|| fail "delivered ham: want X-Spam-Status: No, score=$ham required=$mid"
# The milter logged both with Postfix's queue ids.
for f in "$hamfile" "$spamfile"; do
	qid=$(sed -n 's/^Received: .* id \([0-9A-Za-z]*\)[;]*.*/\1/p; /^	.* id \([0-9A-Za-z]*\)/s/.* id \([0-9A-Za-z]*\).*/\1/p' "$f" | head -1)
	[ -n "$qid" ] || fail "no queue id in the Received header of $f"
	grep -q "spamshift-milter: $qid: rcpts=" "$tmp/milter.log" \
		|| fail "the milter log has no line for queue id $qid"
done

# 2. Reject, after a reload.
echo "reject_threshold = $mid" >>"$tmp/spamshift.conf"
kill -HUP "$mpid"
i=0
until grep -q "reloaded" "$tmp/milter.log"; do
	i=$((i + 1)); [ $i -le 50 ] || fail "no reload logged"
	sleep 0.1
done
: >"$tmp/swaks.out"
send "$data/probe-spam.eml" bob@example.org && fail "swaks: spam accepted, want 550 5.7.1"
grep -q "<\*\* *550 5.7.1 Message rejected as spam" "$tmp/swaks.out" \
	|| fail "swaks did not see 550 5.7.1 Message rejected as spam"
send "$data/probe-ham.eml" carol@example.org || fail "swaks: ham after reload not accepted"
wait_mail carol 2
sleep 0.5
[ "$(ls "$tmp/mail/bob/new" | wc -l)" -eq 1 ] || fail "the rejected spam was delivered"

# (The graceful SIGTERM path is checked by tests/milter/abort.lua and reload.lua.)
echo "PASS: e2e (port $port; ham $ham, spam $spam, threshold $mid)"
exit 0
