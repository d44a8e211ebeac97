# tests/e2e/lib-dovecot.sh - the private Dovecot the learn-on-move tests share
# (tests/e2e/dovecot.sh, tests/e2e/learn_delivered.sh).  Sourced by bash once
# top_srcdir and top_builddir are known:
#   . "$top_srcdir/tests/e2e/lib-dovecot.sh"
#   dovecot_require                    # skips (77) without what a Dovecot test needs
#   ... make $tmp, define fail(), MUSER (the mail uid), store_owner, db ...
#   dovecot_sieve; dovecot_users bob carol
#   dovecot_conf PORT NAME [BEFORE [AFTER]]; dovecot_start PORT
#   dovecot_move PORT USER FROM TO MESSAGE-ID [all]; fb USER SPAM
#   dovecot_stop                       # in the test's cleanup
# The test's own Dovecot: config, base_dir, state and log in $tmp, IMAP on
# 127.0.0.1 at PORT, passwd-file users USER@example.org (password pw-USER, the
# mail uid MUSER, Maildir in $tmp/home/USER), contrib/dovecot's
# 90-spamshift.conf as built (only its installed paths overridden),
# report-spam.sieve and report-ham.sieve compiled, and the built
# spamshift-learn-wrapper behind a two-line trampoline that sets SPAMSHIFT_CONF
# ($tmp/spamshift.conf) and SPAMSHIFT ($tmp/bin/spamshift), because Dovecot
# gives pipe programs a clean environment, and appends the wrapper's stdout to
# $tmp/wrapper.out (its stderr goes to Dovecot's log, as in production).  The
# caller copies the programs into $tmp/bin (the mail uid runs them) and writes
# $tmp/spamshift.conf.
DOVECOT=$(command -v dovecot || echo /usr/sbin/dovecot)
wrapper=$top_builddir/contrib/dovecot/spamshift-learn-wrapper
snippet=$top_builddir/contrib/dovecot/90-spamshift.conf

# Exit 77 (skip) unless root with dovecot, sievec, python3, sqlite3, runuser,
# timeout and Dovecot's users; 99 when the wrapper or the snippet is not built.
dovecot_require() {
	local t u
	[ "$(id -u)" -eq 0 ] || { echo "SKIP: must run as root to start Dovecot"; exit 77; }
	[ -x "$DOVECOT" ] || { echo "SKIP: dovecot not installed (dovecot-imapd)"; exit 77; }
	command -v sievec >/dev/null 2>&1 || { echo "SKIP: sievec missing (dovecot-sieve)"; exit 77; }
	for t in python3 sqlite3 runuser timeout; do
		command -v $t >/dev/null 2>&1 || { echo "SKIP: $t not installed"; exit 77; }
	done
	for u in dovecot dovenull; do
		id "$u" >/dev/null 2>&1 || { echo "SKIP: no user $u"; exit 77; }
	done
	[ -x "$wrapper" ] || { echo "FAIL: $wrapper is not built"; exit 99; }
	[ -f "$snippet" ] || { echo "FAIL: $snippet is not built"; exit 99; }
}

# free_port BASE: a port near BASE (spread by the shell's pid) nothing listens on.
free_port() {
	local p
	for p in $(($1 + $$ % 9000)) $(($1 + 9000 + $$ % 9000)) $(($1 + 18000 + $$ % 2000)); do
		if ! (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null; then echo $p; return; fi
	done
	echo $(($1 + $$ % 9000))
}

# The trampoline in $tmp/sieve (sieve_pipe_bin_dir) and the IMAPSieve scripts,
# compiled here as an installation compiles them (Dovecot cannot write .svbin
# files there).
dovecot_sieve() {
	local s
	mkdir -p "$tmp/sieve"
	cat >"$tmp/sieve/spamshift-learn-wrapper" <<EOC
#!/bin/sh
SPAMSHIFT_CONF=$tmp/spamshift.conf SPAMSHIFT=$tmp/bin/spamshift \\
	exec $tmp/bin/spamshift-learn-wrapper "\$@" >>$tmp/wrapper.out
EOC
	chmod 755 "$tmp/sieve/spamshift-learn-wrapper"
	: >"$tmp/wrapper.out"
	chown "$MUSER" "$tmp/wrapper.out"
	for s in report-spam report-ham; do
		cp "$top_srcdir/contrib/dovecot/$s.sieve" "$tmp/sieve/" || fail "no $s.sieve"
		sievec -P sieve_imapsieve -P sieve_extprograms \
			-x '+vnd.dovecot.pipe +vnd.dovecot.environment' "$tmp/sieve/$s.sieve" \
			>"$tmp/sievec.out" 2>&1 || { cat "$tmp/sievec.out"; fail "sievec $s.sieve"; }
	done
}

# dovecot_users USER...: $tmp/passwd with USER@example.org (password pw-USER)
# as the mail uid, and an empty Maildir in $tmp/home/USER, the mail uid's.
dovecot_users() {
	local u muid mgid
	muid=$(id -u "$MUSER") mgid=$(id -g "$MUSER")
	: >"$tmp/passwd"
	for u in "$@"; do
		echo "$u@example.org:{PLAIN}pw-$u:$muid:$mgid::$tmp/home/$u::" >>"$tmp/passwd"
		mkdir -p "$tmp/home/$u/Maildir/new" "$tmp/home/$u/Maildir/cur" "$tmp/home/$u/Maildir/tmp"
	done
	chown -R "$MUSER:$mgid" "$tmp/home"
}

# dovecot_conf PORT NAME [BEFORE [AFTER]]: $tmp/dovecot.conf, instance
# spamshift-NAME-PID, IMAP at PORT; BEFORE is more configuration before the
# shipped snippet's !include, AFTER after it (to override the snippet).
dovecot_conf() {
	cp "$snippet" "$tmp/90-spamshift.conf" || fail "no $snippet"
	mkdir -p "$tmp/run" "$tmp/state"
	cat >"$tmp/dovecot.conf" <<EOC
base_dir = $tmp/run
state_dir = $tmp/state
instance_name = spamshift-$2-$$
log_path = $tmp/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain
default_login_user = dovenull
default_internal_user = dovecot
first_valid_uid = 1
# No address-space cap: a sanitizer build of spamshift learn (tests/sanitize.sh)
# reserves terabytes of shadow memory and dies under Dovecot's 256M default.
default_vsz_limit = 0
passdb {
  driver = passwd-file
  args = scheme=PLAIN $tmp/passwd
}
userdb {
  driver = passwd-file
  args = $tmp/passwd
}
mail_location = maildir:~/Maildir
namespace inbox {
  inbox = yes
  separator = /
  mailbox Junk {
    special_use = \Junk
    auto = create
  }
  mailbox Trash {
    special_use = \Trash
    auto = create
  }
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = $1
  }
  inet_listener imaps {
    port = 0
  }
}
service stats {
  unix_listener stats-writer {
    mode = 0666
  }
}
${3:-}
# The shipped snippet, with only its installed paths pointed into $tmp.
!include $tmp/90-spamshift.conf
${4:-}
plugin {
  sieve_pipe_bin_dir = $tmp/sieve
  imapsieve_mailbox1_before = file:$tmp/sieve/report-spam.sieve
  imapsieve_mailbox2_before = file:$tmp/sieve/report-ham.sieve
}
EOC
}

# dovecot_start PORT: start the instance and wait (10 s at most) until it listens.
dovecot_start() {
	local i=0
	"$DOVECOT" -c "$tmp/dovecot.conf" >"$tmp/start.out" 2>&1 \
		|| { cat "$tmp/start.out"; fail "dovecot did not start"; }
	until (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null; do
		i=$((i + 1)); [ $i -le 100 ] || fail "dovecot not listening on $1"
		sleep 0.1
	done
}

# Stop the instance, if it started (for the test's cleanup; never fails).
dovecot_stop() {
	local pid i=0
	[ -f "$tmp/run/master.pid" ] || return 0
	"$DOVECOT" -c "$tmp/dovecot.conf" stop >/dev/null 2>&1
	pid=$(cat "$tmp/run/master.pid" 2>/dev/null)
	while [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && [ $i -lt 50 ]; do
		i=$((i + 1)); sleep 0.1
	done
	[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null
	return 0
}

# dovecot_move PORT USER FROM TO MESSAGE-ID [all]: an IMAP client (python3
# imaplib, logged in as USER) moves the message with UID MOVE: exactly one copy,
# or with "all" every copy (at least one); then checks that TO holds one copy
# (with "all": at least as many as were moved).
# Fails (exit status 1, the reason in $tmp/imap.out) when the server lacks MOVE.
dovecot_move() {
	timeout 30 python3 - "$@" >>"$tmp/imap.out" 2>&1 <<'EOP'
import imaplib, sys
port, user, src, dst, msgid = sys.argv[1:6]
every = sys.argv[6:] == ["all"]
c = imaplib.IMAP4("127.0.0.1", int(port), timeout=20)
c.login(user, "pw-" + user.split("@")[0])
typ, _ = c.select('"%s"' % src)
assert typ == "OK", "select %s: %s" % (src, typ)
typ, data = c.uid("SEARCH", None, "HEADER", "Message-ID", msgid)
uids = data[0].split()
if every:
    assert typ == "OK" and uids, "%s in %s: got no uid, want some" % (msgid, src)
else:
    assert typ == "OK" and len(uids) == 1, "%s in %s: got uids %r, want one" % (msgid, src, uids)
caps = c.capability()[1][0].decode().upper().split()  # after login: MOVE is there
assert "MOVE" in caps, "the server lacks MOVE: %r" % caps
typ, data = c.uid("MOVE", b",".join(uids).decode(), '"%s"' % dst)
assert typ == "OK", "move %s -> %s: %s %r" % (src, dst, typ, data)
typ, _ = c.select('"%s"' % dst)
assert typ == "OK", "select %s: %s" % (dst, typ)
typ, data = c.uid("SEARCH", None, "HEADER", "Message-ID", msgid)
got = len(data[0].split())
assert got >= len(uids) if every else got == 1, "%s: %d in %s after moving %d there" % (
    msgid, got, dst, len(uids))
c.logout()
print("moved %s %s (%d): %s -> %s" % (user, msgid, len(uids), src, dst))
EOP
}

# Store queries, as store_owner (the store's owner: a root reader could leave
# root-owned WAL files).  q SQL prints the result, 0 while the store is empty;
# fb USER SPAM: the count of USER's feedback rows with that label.
q() {
	[ -s "$db" ] || { echo 0; return; }
	runuser -u "$store_owner" -- sqlite3 "$db" ".timeout 5000" "$1"
}
fb() {
	q "SELECT count(*) FROM feedback f JOIN users u ON u.id = f.user_id
	   WHERE u.key = '$1' AND f.spam = $2;"
}
