#!/bin/bash
# dovecot.sh - end-to-end: learn-on-move through a real Dovecot with IMAPSieve.
#
# Runs its own Dovecot (tests/e2e/lib-dovecot.sh: config, base_dir, state and
# log in a temp dir, IMAP on 127.0.0.1 at a high port, passwd-file users bob
# and carol with Maildirs), leaving any system instance alone, with
# contrib/dovecot's 90-spamshift.conf, report-spam.sieve, report-ham.sieve and
# the built spamshift-learn-wrapper, run unchanged behind a trampoline.  An IMAP
# client (python3 imaplib) moves delivered messages (with the Received and
# X-Spam-* headers Postfix and the milter add) and the test checks, in the store:
#   1. INBOX -> Junk: bob's spam feedback count rises and bob's model is
#      refitted (a refit record, a head version);
#   2. Junk -> INBOX: the same message is learned as ham instead (moved, not
#      added) and refitted again, to a higher version;
#   3. the copy the milter scanned (no transit headers) has the same digest as
#      the delivered one: `spamshift learn` of it as ham reports "unchanged";
#   4. Junk -> Trash teaches nothing (report-ham.sieve skips Trash);
#   5. carol's data is untouched by bob's moves and hers reach only her; the
#      wrapper refuses to teach a user other than the invoking one ($USER) and
#      refuses an unknown class;
#   6. Dovecot logged no error;
#   7. a learn that fails (the model made unreadable for the group) does not
#      stop the move, and Dovecot's log names the user, the exit and the reason.
# The store is set up exactly as doc/operator.md and contrib/dovecot/README say:
# a user and group "spamshift" own the store directory (2770), users.db (0660)
# and model.bin (0640); the mail uid "vmail" is not a member of the group in
# /etc/group, it gets the group only from 90-spamshift.conf's
# mail_access_groups (Dovecot gives a passwd-file user no supplementary groups
# of the system; issue 18 finding 3: with `usermod -a -G spamshift vmail`
# alone every learn failed with "Permission denied").  So that the test can
# name these users without adding them to the system, it runs in a private
# mount namespace (unshare -m) with copies of /etc/passwd and /etc/group,
# extended by whichever of spamshift and vmail are missing, bind-mounted over
# the real ones; the system's files are never written.
# Skips (77) unless root with dovecot, dovecot-sieve (sievec), python3, sqlite3,
# unshare.
set -u
if [ "$(id -u)" -eq 0 ] && [ -z "${SPAMSHIFT_E2E_NS:-}" ] && command -v unshare >/dev/null 2>&1; then
	SPAMSHIFT_E2E_NS=1 exec unshare -m --propagation private "$BASH" "$0" "$@"
fi
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=.}"
. "$top_srcdir/tests/e2e/lib-dovecot.sh"
corpus=$top_srcdir/tests/data/corpus
cli=$top_builddir/spamshift
milter=$top_builddir/spamshift-milter
MUSER=vmail     # the mail uid of the test users (Dovecot refuses root)
OWNER=spamshift # the user and group that own the store, as documented
store_owner=$OWNER

dovecot_require
[ -n "${SPAMSHIFT_E2E_NS:-}" ] || { echo "SKIP: unshare (util-linux) missing"; exit 77; }
[ -x "$cli" ] || { echo "FAIL: $cli is not built"; exit 99; }

tmp=$(mktemp -d /tmp/spamshift-dovecot.XXXXXX) || exit 99
chmod 755 "$tmp"        # the mail uid reaches its files inside
cleanup() {
	dovecot_stop
	[ -n "${KEEP:-}" ] || rm -rf "$tmp"
}
trap cleanup EXIT
fail() {
	echo "FAIL: dovecot e2e: $*"
	for f in dovecot.log imap.out wrapper.out; do
		[ -f "$tmp/$f" ] && { echo "--- $f:"; tail -n 40 "$tmp/$f"; }
	done
	exit 1
}
as_muser() { runuser -u "$MUSER" -- "$@"; }
as_owner() { runuser -u "$OWNER" -- "$@"; }

port=$(free_port 22000)

# The users, in this namespace only: spamshift (the store's owner) and vmail
# (the mail uid), each with its own group; vmail is NOT put in the group
# spamshift here, Dovecot's mail_access_groups must give it.
mkdir -p "$tmp/etc"
cp /etc/passwd "$tmp/etc/passwd" && cp /etc/group "$tmp/etc/group" || fail "cannot copy /etc/passwd"
free_id() {     # a number that is neither a uid nor a gid yet
	local n=64990
	while getent passwd $n >/dev/null || getent group $n >/dev/null \
		|| grep -q ":$n:" "$tmp/etc/passwd" "$tmp/etc/group"; do n=$((n - 1)); done
	echo $n
}
for u in $OWNER $MUSER; do
	if ! getent group $u >/dev/null; then
		echo "$u:x:$(free_id):" >>"$tmp/etc/group"
	fi
	if ! getent passwd $u >/dev/null; then
		g=$(awk -F: -v u=$u '$1 == u { print $3 }' "$tmp/etc/group")
		echo "$u:x:$(free_id):$g::/nonexistent:/usr/sbin/nologin" >>"$tmp/etc/passwd"
	fi
done
# Whatever the system says, vmail is in no group of spamshift's here.
awk -F: -v OFS=: -v g=$OWNER -v u=$MUSER '$1 == g {
	n = split($4, m, ","); $4 = ""
	for (i = 1; i <= n; i++) if (m[i] != u) $4 = ($4 == "" ? m[i] : $4 "," m[i])
} { print }' "$tmp/etc/group" >"$tmp/etc/group.new" && mv "$tmp/etc/group.new" "$tmp/etc/group"
mount --bind "$tmp/etc/passwd" /etc/passwd && mount --bind "$tmp/etc/group" /etc/group \
	|| fail "cannot bind-mount the test's /etc/passwd and /etc/group"
id $OWNER >/dev/null && id $MUSER >/dev/null || fail "the test users do not resolve"
id -nG $MUSER | grep -qw $OWNER && fail "$MUSER is in group $OWNER in /etc/group"

# Programs, model, store.  The mail uid runs spamshift, so it gets its own copy
# (the build tree may sit in a directory it cannot enter).  The store as the
# docs make it: directory 2770 (files SQLite creates in it, users.db-wal and
# -shm, get the group spamshift whoever creates them), users.db created empty
# 0660, model.bin 0640, all spamshift:spamshift.
mkdir -p "$tmp/bin" "$tmp/msg"
install -d -o $OWNER -g $OWNER -m 2770 "$tmp/lib" || fail "install -d $tmp/lib"
cp "$cli" "$tmp/bin/spamshift" && cp "$wrapper" "$tmp/bin/spamshift-learn-wrapper" \
	|| fail "cannot copy the programs"
"$cli" train -q -o "$tmp/lib/model.bin" --ham "$corpus/ham" --spam "$corpus/spam" --seed 1 \
	>"$tmp/train.log" 2>&1 || { cat "$tmp/train.log"; fail "spamshift train failed"; }
chown $OWNER:$OWNER "$tmp/lib/model.bin" && chmod 0640 "$tmp/lib/model.bin" || fail "chown model"
db=$tmp/lib/users.db
install -o $OWNER -g $OWNER -m 0660 /dev/null "$db" || fail "install $db"
cat >"$tmp/spamshift.conf" <<EOC
socket = unix:$tmp/milter.sock
model = $tmp/lib/model.bin
database = $db
EOC
# The wrapper reads the milter's own config: it must be one the milter accepts.
if [ -x "$milter" ]; then
	"$milter" -n -c "$tmp/spamshift.conf" >"$tmp/check.out" 2>&1 \
		|| { cat "$tmp/check.out"; fail "spamshift-milter -n refuses the test config"; }
fi

dovecot_sieve

# Users, mailboxes and their messages as Postfix delivered them: the milter's
# headers and Postfix's Received on top of what the milter scanned
# ($tmp/msg/*.scanned).  The classify scores fill X-Spam-Score as the milter would.
dovecot_users bob carol
n=0
deliver() {     # deliver USER SOURCE NAME
	local score status flag
	n=$((n + 1))
	cp "$2" "$tmp/msg/$3.scanned"
	score=$("$cli" classify -m "$tmp/lib/model.bin" "$2" | cut -f2)
	case $("$cli" classify -m "$tmp/lib/model.bin" "$2" | cut -f3) in
	spam) status=Yes; flag="X-Spam-Flag: YES
" ;;
	*) status=No; flag= ;;
	esac
	{
		printf 'Return-Path: <sender@example.net>\nDelivered-To: %s@example.org\n' "$1"
		printf 'Received: from client.e2e.test (localhost [127.0.0.1])\n'
		printf '\tby mx.e2e.test (Postfix) with ESMTP id 4E2E%04d\n' "$n"
		printf '\tfor <%s@example.org>; Fri, 27 Nov 2026 12:00:%02d +0000 (UTC)\n' "$1" "$n"
		printf '%sX-Spam-Score: %s\nX-Spam-Status: %s, score=%s required=0.5\n' \
			"$flag" "$score" "$status" "$score"
		printf 'X-Spamshift-Result: %s@example.org; score=%s; verdict=%s\n' "$1" "$score" \
			"$([ "$status" = Yes ] && echo tag || echo accept)"
		cat "$2"
	} >"$tmp/home/$1/Maildir/new/17000000$(printf %02d $n).M1P$n.mx.e2e.test"
}
deliver bob "$corpus/spam/00.eml" spamA
deliver bob "$corpus/ham/00.eml" hamB
deliver bob "$corpus/spam/01.eml" spamC
deliver carol "$corpus/spam/02.eml" spamD
chown -R "$MUSER:$(id -g "$MUSER")" "$tmp/home"
msgid() { sed -n 's/^Message-ID: *//Ip' "$tmp/msg/$1.scanned" | head -1 | tr -d '\r'; }

dovecot_conf "$port" e2e
dovecot_start "$port"

# move USER FROM TO MESSAGE-ID: the IMAP client moves one message (UID MOVE).
move() { dovecot_move "$port" "$@"; }

# Store queries beside q and fb (lib-dovecot.sh, as the store's owner).
refits() { q "SELECT count(*) FROM refits r JOIN users u ON u.id = r.user_id WHERE u.key = '$1';"; }
version() {
	v=$(q "SELECT h.version FROM heads h JOIN users u ON u.id = h.user_id WHERE u.key = '$1';")
	echo "${v:-0}"
}
wait_fb() {     # wait_fb USER SPAM N: until USER has N feedback rows labelled SPAM
	i=0
	while [ "$(fb "$1" "$2")" != "$3" ]; do
		i=$((i + 1))
		[ $i -le 100 ] || fail "$1: got $(fb "$1" "$2") feedback rows with spam=$2, want $3"
		sleep 0.1
	done
}
bob=bob@example.org carol=carol@example.org

# 1. INBOX -> Junk: spam.
[ "$(fb $bob 1)" = 0 ] && [ "$(fb $bob 0)" = 0 ] || fail "bob has feedback before any move"
move $bob INBOX Junk "$(msgid spamA)" || fail "IMAP move of spamA into Junk"
wait_fb $bob 1 1
[ "$(fb $bob 0)" = 0 ] || fail "bob: got $(fb $bob 0) ham rows after a move into Junk, want 0"
[ "$(refits $bob)" -ge 1 ] || fail "bob: no refit record after learning"
v1=$(version $bob)
[ "$v1" -ge 1 ] || fail "bob: got head version $v1 after the move into Junk, want >= 1"
grep -q "bob@example.org spam: .*learned 1," "$tmp/wrapper.out" \
	|| fail "the wrapper did not report \"learned 1\" for bob's spam"

# 2. Junk -> INBOX: the same message becomes ham.
move $bob Junk INBOX "$(msgid spamA)" || fail "IMAP move of spamA out of Junk"
wait_fb $bob 0 1
[ "$(fb $bob 1)" = 0 ] || fail "bob: got $(fb $bob 1) spam rows after moving it back, want 0"
grep -q "bob@example.org ham: .*moved 1," "$tmp/wrapper.out" \
	|| fail "the wrapper did not report \"moved 1\" for bob's ham"
v2=$(version $bob)
[ "$v2" -gt "$v1" ] || fail "bob: got head version $v2 after relearning, want > $v1"

# 3. The scanned copy (what the milter saw) and the delivered copy (what Dovecot
#    piped, CRLF, with transit headers) have one digest.
out=$(as_owner "$tmp/bin/spamshift" learn --db "$db" --user $bob --ham "$tmp/msg/spamA.scanned" 2>&1) \
	|| fail "spamshift learn of the scanned copy: $out"
[ "$out" = "learned 0, moved 0, unchanged 1, forgotten 0" ] \
	|| fail "learning the scanned copy as ham: got \"$out\", want unchanged 1"
[ "$(fb $bob 0)" = 1 ] || fail "bob: got $(fb $bob 0) ham rows after relearning, want 1"

# 4. Junk -> Trash teaches nothing: spamC into Junk (spam), then to Trash; then
#    hamB into Junk, whose learning shows that the Trash move has been handled.
move $bob INBOX Junk "$(msgid spamC)" || fail "IMAP move of spamC into Junk"
wait_fb $bob 1 1
move $bob Junk Trash "$(msgid spamC)" || fail "IMAP move of spamC into Trash"
move $bob INBOX Junk "$(msgid hamB)" || fail "IMAP move of hamB into Junk"
wait_fb $bob 1 2
[ "$(fb $bob 0)" = 1 ] || fail "bob: a move from Junk to Trash was learned as ham"

# 5. Users are kept apart.
[ "$(fb $carol 0)" = 0 ] && [ "$(fb $carol 1)" = 0 ] || fail "bob's moves reached carol"
move $carol INBOX Junk "$(msgid spamD)" || fail "IMAP move of carol's spamD into Junk"
wait_fb $carol 1 1
[ "$(fb $bob 1)" = 2 ] && [ "$(fb $bob 0)" = 1 ] || fail "carol's move changed bob's data"
before=$(q "SELECT count(*) || '/' || sum(spam) FROM feedback;")
rc=0
as_muser env -i USER=$carol PATH=/usr/bin:/bin SPAMSHIFT_CONF="$tmp/spamshift.conf" \
	SPAMSHIFT="$tmp/bin/spamshift" "$tmp/bin/spamshift-learn-wrapper" ham $bob <"$tmp/msg/hamB.scanned" 2>"$tmp/refused.err" || rc=$?
[ $rc -eq 77 ] || fail "wrapper run by carol for bob: got exit $rc, want 77"
grep -q "refused: asked to teach \"$bob\" but the invoking user is \"$carol\"" "$tmp/refused.err" \
	|| fail "wrapper refusal message: got \"$(cat "$tmp/refused.err")\""
rc=0
as_muser env -i USER=$bob PATH=/usr/bin:/bin SPAMSHIFT_CONF="$tmp/spamshift.conf" \
	SPAMSHIFT="$tmp/bin/spamshift" "$tmp/bin/spamshift-learn-wrapper" --forget $bob <"$tmp/msg/hamB.scanned" 2>/dev/null || rc=$?
[ $rc -eq 64 ] || fail "wrapper with class --forget: got exit $rc, want 64"
after=$(q "SELECT count(*) || '/' || sum(spam) FROM feedback;")
[ "$before" = "$after" ] || fail "refused wrapper calls changed the store: $before -> $after"

# 6. Dovecot saw no error (a failed pipe, or anything the wrapper wrote to
#    stderr, is logged as one).
if grep -E "Error|Fatal|Panic" "$tmp/dovecot.log" >"$tmp/errors.out"; then
	cat "$tmp/errors.out"
	fail "dovecot logged errors"
fi

# 7. A learn that fails still moves the mail, and says so where the admin
#    looks: the model readable by its owner only (what a root `cp` or a 0600
#    umask gives), carol moves spamD back out of Junk.
chmod 0600 "$tmp/lib/model.bin"
move $carol Junk INBOX "$(msgid spamD)" || fail "a failing learn stopped carol's move"
i=0
until grep -q "spamshift-learn: $carol ham: not learned: spamshift learn failed" "$tmp/dovecot.log"; do
	i=$((i + 1)); [ $i -le 100 ] || fail "no failed-learn line for carol in Dovecot's log"
	sleep 0.1
done
line=$(grep "spamshift-learn: $carol ham: not learned" "$tmp/dovecot.log")
for want in "Permission denied" "model.bin" "as $MUSER, groups" "mail_access_groups"; do
	case $line in *"$want"*) ;; *) fail "failed-learn line lacks \"$want\": $line" ;; esac
done
[ "$(fb $carol 1)" = 1 ] && [ "$(fb $carol 0)" = 0 ] || fail "carol's failed learn changed her feedback"
chmod 0640 "$tmp/lib/model.bin"

echo "PASS: dovecot e2e (port $port; bob head version $v1 -> $v2)"
exit 0
