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
#      gets "550 5.7.1" at the SMTP client and is not delivered; ham still is;
#   3. privacy (issue 18, finding 1): a spam To bob and Bcc carol (whose own
#      threshold of 0.999 makes her verdict ham, bob's reject): both copies are
#      delivered flagged (multi_recipient = protect), and no header of either
#      copy names the other recipient or carries carol's verdict;
#   4. forged X-Spam-* / X-Spamshift-* headers (issue 18, finding 6), with
#      contrib/postfix/header_checks in place: with the milter running, the
#      delivered copy has the milter's own headers only (so header_checks are
#      not applied to milter-added headers); with the milter stopped and
#      milter_default_action = accept, it arrives with none of them.
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

# The milter, with a store for per-user thresholds (3.).
cat >"$tmp/spamshift.conf" <<EOC
socket = unix:$tmp/milter.sock
socket_mode = 0660
socket_owner = postfix:postfix
model = $tmp/model.bin
database = $tmp/users.db
spam_threshold = $mid
log_target = stderr
EOC
"$milter" -f -c "$tmp/spamshift.conf" 2>"$tmp/milter.log" &
mpid=$!

# The Postfix instance (scripts/private-postfix.sh: own config, queue and log),
# with the header_checks operators are told to install (a copy: the source tree
# need not be readable by the postfix user), and a second smtpd on port2 whose
# milter_default_action is accept, as in contrib/postfix/main.cf (4.).
port2=
for p in $((port + 1)) $((port + 7)) $((port + 13)); do
	if ! (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null; then port2=$p; break; fi
done
[ -n "$port2" ] || fail "no second port free"
mkdir -p "$tmp/mail"
chown nobody:nogroup "$tmp/mail"
cp "$top_srcdir/contrib/postfix/header_checks" "$tmp/header_checks"
"$pp" setup "$tmp" "$port" myhostname=mx.e2e.test mydomain=e2e.test 'myorigin=$myhostname' \
	virtual_mailbox_domains=example.org "virtual_mailbox_base=$tmp/mail" \
	"virtual_mailbox_maps=inline:{ bob@example.org=bob/, carol@example.org=carol/ }" \
	"virtual_uid_maps=static:$(id -u nobody)" "virtual_gid_maps=static:$(id -g nobody)" \
	virtual_minimum_uid=1 "smtpd_milters=unix:$tmp/milter.sock" \
	milter_default_action=tempfail "header_checks=regexp:$tmp/header_checks" \
	>"$tmp/setup.out" 2>&1 \
	&& "$pp" listen "$tmp" "$port2" milter_default_action=accept >>"$tmp/setup.out" 2>&1 \
	|| { cat "$tmp/setup.out"; fail "private Postfix setup"; }
i=0
while [ ! -S "$tmp/milter.sock" ]; do
	i=$((i + 1)); [ $i -le 100 ] || fail "milter socket missing"
	kill -0 "$mpid" 2>/dev/null || fail "the milter exited at start"
	sleep 0.05
done
"$pp" start "$tmp" >"$tmp/start.out" 2>&1 || { cat "$tmp/start.out"; fail "postfix start"; }

send() {        # send FILE RCPTS [PORT]: swaks output to swaks.out, returns swaks' status
	swaks --server 127.0.0.1 --port "${3:-$port}" --helo client.e2e.test \
		--from sender@example.net --to "$2" --data "$1" >>"$tmp/swaks.out" 2>&1
}
headers() {     # headers FILE: the header section of a delivered message
	sed '/^\r*$/q' "$1"
}
delivered() {   # delivered USER MESSAGE-ID: the file of USER's copy of it
	grep -l "^Message-ID: <$2>" "$tmp/mail/$1/new/"* 2>/dev/null | head -1
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
grep -q "^X-Spamshift-Result: score=$spam; verdict=tag\$" "$spamfile" \
	|| fail "delivered spam: want X-Spamshift-Result: score=$spam; verdict=tag"
grep -q "^X-Spam-Flag" "$hamfile" && fail "delivered ham has X-Spam-Flag"
grep -q "^X-Spam-Status: No, score=$ham required=$mid\$" "$hamfile" \
	|| fail "delivered ham: want X-Spam-Status: No, score=$ham required=$mid"
# The milter logged both with Postfix's queue ids.
for f in "$hamfile" "$spamfile"; do
	qid=$(sed -n 's/^Received: .* id \([0-9A-Za-z]*\)[;]*.*/\1/p; /^	.* id \([0-9A-Za-z]*\)/s/.* id \([0-9A-Za-z]*\).*/\1/p' "$f" | head -1)
	[ -n "$qid" ] || fail "no queue id in the Received header of $f"
	grep -q "spamshift-milter: $qid: rcpts=1 " "$tmp/milter.log" \
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

# 3. Privacy: one transaction To bob, Bcc carol (an envelope recipient the
# message's headers do not name).  carol's own threshold makes her verdict ham.
"$cli" user --db "$tmp/users.db" --user carol@example.org --spam-threshold 0.999 \
	>"$tmp/user.out" 2>&1 || { cat "$tmp/user.out"; fail "spamshift user"; }
sleep 1.5       # the milter rereads per-user thresholds every second
sed -e 's/^To: .*/To: Bob <bob@example.org>/' -e 's/^Message-ID: .*/Message-ID: <bcc@e2e.test>/' \
	"$data/probe-spam.eml" >"$tmp/bcc.eml"
send "$tmp/bcc.eml" bob@example.org,carol@example.org \
	|| fail "swaks: spam To bob, Bcc carol not accepted (protect must not refuse carol's copy)"
wait_mail bob 2
wait_mail carol 3
bobcopy=$(delivered bob bcc@e2e.test)
carolcopy=$(delivered carol bcc@e2e.test)
[ -n "$bobcopy" ] && [ -n "$carolcopy" ] || fail "the To/Bcc message did not reach both"
qid=$(sed -n 's/.* \([0-9A-F]\{6,\}\): rcpt=carol@example.org .*verdict=ham$/\1/p' "$tmp/milter.log" | tail -1)
[ -n "$qid" ] || fail "the milter logged no ham verdict for carol (the test would show nothing)"
grep -q "spamshift-milter: $qid: rcpt=bob@example.org user=bob@example.org score=[0-9.]* verdict=reject" \
	"$tmp/milter.log" || fail "$qid: the milter logged no reject verdict for bob"
grep -q "spamshift-milter: $qid: rcpts=2 .*verdict=tag" "$tmp/milter.log" \
	|| fail "$qid: the message's verdict is not tag"
for f in "$bobcopy" "$carolcopy"; do
	grep -q "^X-Spam-Flag: YES" "$f" || fail "$f: the To/Bcc spam is not flagged"
	grep -q "^X-Spamshift-Result: score=[0-9.]*; verdict=tag\$" "$f" \
		|| fail "$f: want X-Spamshift-Result: score=...; verdict=tag"
	[ "$(grep -c '^X-Spamshift-Result:' "$f")" -eq 1 ] || fail "$f: want one X-Spamshift-Result"
	if headers "$f" | grep -i 'verdict=ham'; then fail "$f: a header carries carol's verdict"; fi
done
if headers "$bobcopy" | grep -i carol; then fail "bob's copy names the Bcc recipient carol"; fi
# carol's copy: the sender's To: names bob, and nothing else may.
if headers "$carolcopy" | grep -iv '^To:' | grep -i bob; then
	fail "carol's copy names bob outside the sender's To: header"
fi

# 4. Forged headers.  Milter running: only its own results arrive (the ham to
# carol, below her reject; header_checks did not touch the milter's headers).
forge() {       # forge FILE MESSAGE-ID: FILE with the headers a spammer forges
	awk -v id="$2" '/^Message-ID:/ { print "Message-ID: <" id ">"; next }
		/^$/ && !done { print "X-Spam-Flag: NO"; print "X-Spam-Status: No, score=0.0 forged";
			print "X-Spamshift-Result: bob@example.org; score=0.000001; verdict=ham (forged)";
			done = 1 } { print }' "$1"
}
forge "$data/probe-ham.eml" fake-up@e2e.test >"$tmp/fake-up.eml"
send "$tmp/fake-up.eml" carol@example.org || fail "swaks: forged ham (milter up) not accepted"
wait_mail carol 4
f=$(delivered carol fake-up@e2e.test)
[ -n "$f" ] || fail "forged ham (milter up) not delivered"
if headers "$f" | grep -i forged; then fail "$f: a forged header arrived with the milter up"; fi
grep -q "^X-Spamshift-Result: score=[0-9.]*; verdict=ham\$" "$f" \
	|| fail "$f: the milter's X-Spamshift-Result did not arrive"
grep -q "^X-Spam-Status: No, score=" "$f" || fail "$f: the milter's X-Spam-Status did not arrive"
# Milter stopped; port2 accepts mail unscanned (milter_default_action = accept).
kill "$mpid"
wait "$mpid" 2>/dev/null
mpid=
forge "$data/probe-spam.eml" fake-down@e2e.test >"$tmp/fake-down.eml"
send "$tmp/fake-down.eml" bob@example.org "$port2" \
	|| fail "swaks: forged spam (milter down) not accepted"
wait_mail bob 3
f=$(delivered bob fake-down@e2e.test)
[ -n "$f" ] || fail "forged spam (milter down) not delivered"
grep -q "Milter service" "$tmp/maillog" || fail "Postfix did not log the milter as down"
if headers "$f" | grep -Ei '^X-Spam(shift)?-'; then
	fail "$f: with the milter down, forged X-Spam-*/X-Spamshift-* headers arrived"
fi
grep -q "^Subject: CONGRATULATIONS" "$f" || fail "$f: header_checks removed more than ours"

# (The graceful SIGTERM path is checked by tests/milter/abort.lua and reload.lua.)
echo "PASS: e2e (port $port; ham $ham, spam $spam, threshold $mid)"
exit 0
