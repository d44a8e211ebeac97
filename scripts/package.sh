#!/bin/bash
# scripts/package.sh - build the Debian package in a throw-away copy of the
# tree, check it with lintian, install it on this machine, prove it works and
# purge it again.
#
#   scripts/package.sh [WORKDIR]     (as root; .ci/run runs it as a gate)
#
# 1. Copies the tree (git's tracked and untracked, not ignored, files: a
#    developer's uncommitted edits are included, build products are not) to
#    WORKDIR (default a new /tmp/spamshift-pkg.XXXXXX) and runs
#    `dpkg-buildpackage -us -uc -b` there; the build runs the unit tests
#    (debian/rules, dh_auto_test) and must report them passed.
# 2. lintian on the .changes: no error and no warning (debian/
#    spamshift.lintian-overrides explains the two informational tags left).
# 3. apt-get install ./spamshift_*.deb, then checks the files, the conffile,
#    the user and group, the modes of /var/lib/spamshift, the store and the
#    socket directory (doc/operator.md), trains a model from tests/data/corpus
#    into the installed model path and runs, as the unit does (systemctl when
#    systemd runs, otherwise by hand as the spamshift user with the unit's
#    groups and umask), ExecStartPre (`spamshift-milter -n`) and ExecStart on
#    the installed config; miltertest sends a spam and a ham through the
#    installed socket and wants X-Spam-Flag only on the spam.  A learn as
#    another uid that has only the group spamshift (Dovecot's mail uid with
#    mail_access_groups) must write the store.  tests/e2e/installed_paths.sh
#    (from the package's build tree) then runs the tests that have default
#    paths with the package installed: they must pass and leave the installed
#    files as they were.
# 4. apt-get remove keeps /etc/spamshift and /var/lib/spamshift; apt-get purge
#    removes every file of the package, /etc/spamshift, /var/lib/spamshift and
#    the socket directory, and keeps the spamshift user and group (Debian
#    custom for system users; README.Debian).
# The package is purged on every exit (trap), failed or not, so that nothing
# of it is left in /etc, /usr or /var for other builds' tests.  Refuses to run
# when spamshift is installed already or /etc/spamshift or /var/lib/spamshift
# exist (a purge would delete them).  Exit 77 (skip) when not root or a tool is
# missing (scripts/deps.sh installs them); with CI=true those fail instead.
set -euo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
say() { echo "package: $*"; }
fail() { echo "package: FAIL: $*" >&2; exit 1; }
# Under CI a missing tool is a bug of scripts/deps.sh, not a reason to skip.
skip() { [ "${CI:-}" = true ] && fail "$*"; echo "package: SKIP: $*"; exit 77; }

[ "$(id -u)" -eq 0 ] || skip "must run as root (installs the package)"
for t in git dpkg-buildpackage dh lintian fakeroot apt-get miltertest setpriv ss; do
	command -v "$t" >/dev/null 2>&1 || skip "$t missing (scripts/deps.sh)"
done
if dpkg-query -W -f='${db:Status-Status}\n' spamshift 2>/dev/null | grep -qv '^not-installed$'; then
	fail "spamshift is installed already (dpkg -l spamshift): not touching it"
fi
for d in /etc/spamshift /var/lib/spamshift; do
	[ ! -e "$d" ] || fail "$d exists (a make install?): the purge would delete it"
done

keep=${1:+yes}
work=${1:-$(mktemp -d /tmp/spamshift-pkg.XXXXXX)}
mkdir -p "$work"
work=$(cd "$work" && pwd)
installed='' milter_pid=''
cleanup() {
	local rc=$?
	if [ -n "$milter_pid" ]; then
		kill "$milter_pid" 2>/dev/null && wait "$milter_pid" 2>/dev/null
	fi
	if [ -n "$installed" ] && dpkg-query -W spamshift >/dev/null 2>&1; then
		if [ -d /run/systemd/system ]; then systemctl stop spamshift-milter 2>/dev/null || true; fi
		DEBIAN_FRONTEND=noninteractive apt-get purge -y -q spamshift >"$work/purge-trap.log" 2>&1 \
			|| echo "package: the purge in cleanup failed: $work/purge-trap.log" >&2
	fi
	if [ "$rc" -ne 0 ]; then
		echo "package: logs kept in $work" >&2
	elif [ -z "$keep" ]; then
		rm -rf "$work"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# mode_owner PATH: "MODE USER:GROUP" (octal mode with the setgid digit).
mode_owner() { stat -c '%a %U:%G' "$1"; }
want_mode() {   # want_mode PATH "MODE USER:GROUP"
	local got
	got=$(mode_owner "$1") || fail "$1 is missing"
	[ "$got" = "$2" ] || fail "$1: got $got, want $2"
	say "$1: $got"
}

# 1. Build.
say "copying $src to $work/spamshift"
rm -rf "$work/spamshift" && mkdir "$work/spamshift"
(cd "$src" && git ls-files -z -c -o --exclude-standard \
	| while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done \
	| tar --null -T - -cf -) | tar -xf - -C "$work/spamshift"
say "dpkg-buildpackage -us -uc -b (log: $work/build.log)"
(cd "$work/spamshift" && dpkg-buildpackage -us -uc -b) >"$work/build.log" 2>&1 \
	|| { tail -n 60 "$work/build.log"; fail "dpkg-buildpackage failed"; }
count() { awk -v k="$1:" '$1 == "#" && $2 == k {print $3; exit}' "$work/build.log"; }
npass=$(count PASS) nfail=$(count FAIL) nerror=$(count ERROR)
[ "${npass:-0}" -gt 0 ] || fail "the package build ran no unit test (dh_auto_test)"
if [ "${nfail:-1}" -ne 0 ] || [ "${nerror:-1}" -ne 0 ]; then
	fail "unit tests in the package build: ${nfail:-?} failed, ${nerror:-?} errors"
fi
say "unit tests in the package build (dh_auto_test): $npass passed, $nfail failed"
deb=$(ls "$work"/spamshift_*_*.deb)
changes=$(ls "$work"/spamshift_*.changes)

# 2. lintian: errors and warnings fail; the rest is printed.
say "lintian $changes"
lintian -I --fail-on error,warning "$changes" >"$work/lintian.log" 2>&1 \
	|| { cat "$work/lintian.log"; fail "lintian found errors or warnings"; }
grep -v 'running with root privileges' "$work/lintian.log" || true
say "lintian: $(grep -c '^[EW]:' "$work/lintian.log" || true) errors and warnings"

# 3. Install and check.
# What the package holds that is not there yet: all of it must go on purge
# (directories it shares with other packages, like /usr/bin, stay).
dpkg-deb -c "$deb" | awk '{print $6}' | sed 's|^\./|/|; s|/$||' | grep -v '^$' \
	| while IFS= read -r f; do [ -e "$f" ] || echo "$f"; done >"$work/new-paths"
say "apt-get install $deb"
installed=yes
DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$deb" \
	>"$work/install.log" 2>&1 || { cat "$work/install.log"; fail "apt-get install failed"; }

for f in /usr/bin/spamshift /usr/sbin/spamshift-milter \
	/usr/share/man/man1/spamshift.1.gz /usr/share/man/man8/spamshift-milter.8.gz \
	/usr/share/man/man5/spamshift.conf.5.gz /etc/spamshift/spamshift.conf \
	/lib/systemd/system/spamshift-milter.service \
	/usr/share/spamshift/dovecot/90-spamshift.conf /usr/share/spamshift/dovecot/README \
	/usr/share/spamshift/dovecot/report-spam.sieve /usr/share/spamshift/dovecot/report-ham.sieve \
	/usr/share/spamshift/dovecot/spamshift-learn-wrapper \
	/usr/share/spamshift/postfix/main.cf /usr/share/spamshift/postfix/master.cf \
	/usr/share/spamshift/postfix/header_checks \
	/usr/share/doc/spamshift/examples/spamshift.conf /usr/share/doc/spamshift/operator.md.gz \
	/usr/share/doc/spamshift/README.Debian /usr/share/doc/spamshift/copyright; do
	dpkg -L spamshift | grep -qx "$f" || fail "$f is not in dpkg -L spamshift"
	[ -e "$f" ] || fail "$f is listed but missing"
done
[ -x /usr/share/spamshift/dovecot/spamshift-learn-wrapper ] || fail "the learn wrapper is not executable"
if command -v sievec >/dev/null 2>&1; then   # postinst compiles them for this Dovecot
	for s in report-spam report-ham; do
		[ -s "/usr/share/spamshift/dovecot/$s.svbin" ] || fail "postinst did not compile $s.sieve"
	done
fi
dpkg-query -W -f='${Conffiles}\n' spamshift | grep -q '^ /etc/spamshift/spamshift.conf ' \
	|| fail "/etc/spamshift/spamshift.conf is not a conffile"
say "files and man pages in place; /etc/spamshift/spamshift.conf is a conffile"
/usr/bin/spamshift --help >"$work/help.out" 2>&1 || fail "spamshift --help failed: $(cat "$work/help.out")"
grep -q '^  train ' "$work/help.out" || fail "spamshift --help lists no train command"

# The user and group: system ids, no login, the store as home.
IFS=: read -r _ _ uid gid _ home shell < <(getent passwd spamshift) || fail "no user spamshift"
[ "$(getent group spamshift | cut -d: -f3)" = "$gid" ] || fail "spamshift's primary group is not spamshift"
min=$(awk '$1 == "LAST_SYSTEM_UID" {print $2}' /etc/adduser.conf 2>/dev/null); min=${min:-999}
[ "$uid" -le "$min" ] || fail "spamshift uid $uid is not a system uid (<= $min)"
[ "$home" = /var/lib/spamshift ] || fail "spamshift's home: got $home, want /var/lib/spamshift"
[ "$shell" = /usr/sbin/nologin ] || fail "spamshift's shell: got $shell, want /usr/sbin/nologin"
say "user spamshift: uid $uid gid $gid home $home shell $shell"
want_mode /var/lib/spamshift "2770 spamshift:spamshift"
want_mode /var/lib/spamshift/users.db "660 spamshift:spamshift"
if getent group postfix >/dev/null; then
	want_mode /var/spool/postfix/spamshift "750 spamshift:postfix"
fi

# The unit's lines, run as the unit runs them.
unit=/lib/systemd/system/spamshift-milter.service
key() { sed -n "s/^$1=//p" "$unit"; }
read -r -a start_pre <<<"$(key ExecStartPre)"
read -r -a start <<<"$(key ExecStart)"
umask=$(key UMask)
run_user=$(key User) run_group=$(key Group) groups=$(key SupplementaryGroups | tr ' ' ,)
[ "${start[*]}" = "/usr/sbin/spamshift-milter -f -c /etc/spamshift/spamshift.conf" ] \
	|| fail "the unit's ExecStart is \"${start[*]}\""
[ "${start_pre[*]}" = "/usr/sbin/spamshift-milter -n -c /etc/spamshift/spamshift.conf" ] \
	|| fail "the unit's ExecStartPre is \"${start_pre[*]}\""
if command -v systemd-analyze >/dev/null 2>&1; then
	systemd-analyze verify "$unit" >"$work/verify.log" 2>&1 \
		|| { cat "$work/verify.log"; fail "systemd-analyze verify $unit"; }
	say "systemd-analyze verify: ok"
fi
as_unit() { setpriv --reuid="$run_user" --regid="$run_group" --groups="$groups" --inh-caps=-all "$@"; }

corpus=$src/tests/data/corpus
model=$(sed -n 's/^model *= *//p' /etc/spamshift/spamshift.conf)
sock=$(sed -n 's/^socket *= *unix://p' /etc/spamshift/spamshift.conf)
[ "$model" = /var/lib/spamshift/model.bin ] || fail "the shipped config's model is \"$model\""
# Not set up yet: the check must fail, naming the model.
if as_unit "${start_pre[@]}" >"$work/check0.log" 2>&1; then fail "spamshift-milter -n passed without a model"; fi
grep -q "$model" "$work/check0.log" || fail "spamshift-milter -n without a model: $(cat "$work/check0.log")"
say "before training, spamshift-milter -n fails naming $model, as it should"
/usr/bin/spamshift train -q -o "$model" --ham "$corpus/ham" --spam "$corpus/spam" --seed 1 \
	|| fail "spamshift train into $model failed"
chown spamshift:spamshift "$model" && chmod 0640 "$model"   # README.Debian
as_unit "${start_pre[@]}" >"$work/check.log" 2>&1 || fail "ExecStartPre (${start_pre[*]}) as $run_user: $(cat "$work/check.log")"
say "ExecStartPre as $run_user: ${start_pre[*]}: ok"

if [ -d /run/systemd/system ]; then
	say "systemctl start spamshift-milter"
	systemctl daemon-reload
	systemctl start spamshift-milter || { systemctl status spamshift-milter || true; fail "systemctl start"; }
	milter_main=$(systemctl show -P MainPID spamshift-milter)
else
	say "no systemd running: starting ExecStart by hand as $run_user:$run_group (+$groups), umask $umask"
	install -d -o "$run_user" -g "$run_group" -m "$(key RuntimeDirectoryMode)" "/run/$(key RuntimeDirectory)"
	(umask "$umask" && exec setpriv --reuid="$run_user" --regid="$run_group" --groups="$groups" \
		--inh-caps=-all "${start[@]}") >"$work/milter.log" 2>&1 &
	milter_pid=$! milter_main=$milter_pid
fi
for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.1; done
[ -S "$sock" ] || { cat "$work/milter.log" 2>/dev/null; fail "no socket $sock after 10 s"; }
want_mode "$sock" "660 spamshift:postfix"
ss -xlp | grep -F "$sock" | grep -q "pid=$milter_main," || fail "pid $milter_main does not listen on $sock"
[ "$(ps -o user= -p "$milter_main")" = spamshift ] || fail "the milter runs as $(ps -o user= -p "$milter_main")"
say "spamshift-milter (pid $milter_main, user spamshift) listens on $sock"

# A spam and a ham through the installed milter.
spam_msg=$corpus/spam/00.eml ham_msg=$corpus/ham/00.eml
read -r _ spam_score spam_verdict < <(/usr/bin/spamshift classify -m "$model" "$spam_msg" | tr '\t' ' ')
read -r _ ham_score ham_verdict < <(/usr/bin/spamshift classify -m "$model" "$ham_msg" | tr '\t' ' ')
{ [ "$spam_verdict" = spam ] && [ "$ham_verdict" = ham ]; } \
	|| fail "the corpus model: spam $spam_score $spam_verdict, ham $ham_score $ham_verdict"
cat >"$work/scan.lua" <<'EOF'
-- Through the installed milter: the spam is flagged, with classify's score; the ham is not.
dofile(srcdir .. "/tests/milter/common.lua")
local function scan(file, qid)
	local conn = connect()
	begin_message(conn, { qid = qid })
	send_content(conn, file)
	local reply = finish(conn)
	check(reply == SMFIR_ACCEPT, qid .. ": got reply " .. tostring(reply) .. ", want ACCEPT")
	return conn
end
local conn = scan(spam, "PKGSPAM")
expect_header(conn, "X-Spam-Flag", "YES")
expect_header(conn, "X-Spam-Score", spam_score)
mt.disconnect(conn)
conn = scan(ham, "PKGHAM")
expect_header(conn, "X-Spam-Flag", nil)
expect_header(conn, "X-Spam-Score", ham_score)
mt.disconnect(conn)
mt.echo("scanned: spam flagged, ham not")
EOF
miltertest -D socket="unix:$sock" -D srcdir="$src" -D spam="$spam_msg" -D ham="$ham_msg" \
	-D spam_score="$spam_score" -D ham_score="$ham_score" -s "$work/scan.lua" >"$work/scan.log" 2>&1 \
	|| { cat "$work/scan.log" "$work/milter.log" 2>/dev/null; fail "miltertest through $sock"; }
say "miltertest through $sock: spam X-Spam-Flag YES score $spam_score, ham no flag score $ham_score"

if [ -n "$milter_pid" ]; then
	kill -TERM "$milter_pid"
	for _ in $(seq 100); do kill -0 "$milter_pid" 2>/dev/null || break; sleep 0.1; done
	kill -0 "$milter_pid" 2>/dev/null && fail "the milter did not stop within 10 s of SIGTERM"
	wait "$milter_pid" || fail "the milter exited $? on SIGTERM: $(cat "$work/milter.log")"
	milter_pid=
else
	systemctl stop spamshift-milter
fi
say "the milter stopped on SIGTERM"

# Dovecot's mail uid reaches the store through the group spamshift alone
# (mail_access_groups): a learn as nobody with that group writes it.
setpriv --reuid=nobody --regid=nogroup --groups=spamshift --inh-caps=-all \
	/usr/bin/spamshift learn --db /var/lib/spamshift/users.db -m "$model" \
	--user bob@example.org --spam "$spam_msg" >"$work/learn.log" 2>&1 \
	|| fail "learn as nobody with the group spamshift: $(cat "$work/learn.log")"
want_mode /var/lib/spamshift/users.db "660 spamshift:spamshift"
for f in /var/lib/spamshift/users.db-wal /var/lib/spamshift/users.db-shm; do
	[ ! -e "$f" ] || [ "$(stat -c %G "$f")" = spamshift ] || fail "$f: group $(stat -c %G "$f"), want spamshift"
done
as_unit /usr/bin/spamshift store check --db /var/lib/spamshift/users.db >"$work/store.log" 2>&1 \
	|| fail "store check as spamshift: $(cat "$work/store.log")"
grep -q "^feedback$(printf '\t')1$" "$work/store.log" || fail "store check: $(cat "$work/store.log")"
say "learn as nobody (group spamshift) wrote the store; store check as spamshift: ok"

# The tests with default paths, with the package installed: they pass, read
# none of it and change none of it.
installed_sum() { find /etc/spamshift /var/lib/spamshift -type f -print0 | sort -z | xargs -0 sha256sum; }
installed_sum >"$work/sum.before"
(cd "$work/spamshift" && top_srcdir=$PWD top_builddir=$PWD bash tests/e2e/installed_paths.sh) \
	>"$work/paths.log" 2>&1 || { cat "$work/paths.log"; fail "tests/e2e/installed_paths.sh with the package installed"; }
installed_sum >"$work/sum.after"
diff "$work/sum.before" "$work/sum.after" || fail "installed_paths.sh changed the installed files"
say "installed_paths.sh with the package installed: $(tail -n 1 "$work/paths.log")"

# 4. remove keeps the configuration and the data; purge removes them.
DEBIAN_FRONTEND=noninteractive apt-get remove -y -q spamshift >"$work/remove.log" 2>&1 \
	|| { cat "$work/remove.log"; fail "apt-get remove"; }
for f in /usr/bin/spamshift /usr/sbin/spamshift-milter "$unit"; do
	[ ! -e "$f" ] || fail "$f is still there after remove"
done
for f in /etc/spamshift/spamshift.conf "$model" /var/lib/spamshift/users.db; do
	[ -e "$f" ] || fail "remove deleted $f (only purge may)"
done
if grep -q 'not empty so not removed' "$work/remove.log"; then
	fail "dpkg warned on remove: $(grep 'not empty' "$work/remove.log")"
fi
say "apt-get remove: programs gone, config, model and store kept"

DEBIAN_FRONTEND=noninteractive apt-get purge -y -q spamshift >"$work/purge.log" 2>&1 \
	|| { cat "$work/purge.log"; fail "apt-get purge"; }
installed=''
if dpkg -L spamshift >/dev/null 2>&1; then fail "dpkg -L spamshift still lists files after purge"; fi
left=
while IFS= read -r f; do
	[ ! -e "$f" ] || left="$left $f"
done < <(cat "$work/new-paths"; printf '%s\n' /var/lib/spamshift /var/spool/postfix/spamshift \
	/run/spamshift /usr/share/spamshift/dovecot/report-spam.svbin)
[ -z "$left" ] || fail "left after purge:$left"
getent passwd spamshift >/dev/null || fail "purge removed the user spamshift (README.Debian says it is kept)"
say "apt-get purge: no file of the package, no /etc/spamshift, /var/lib/spamshift or socket directory left; user spamshift kept"
say "ok"
