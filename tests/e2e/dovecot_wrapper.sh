#!/bin/bash
# dovecot_wrapper.sh - contrib/dovecot's spamshift-learn-wrapper on its own,
# without Dovecot (so it runs for any user, root or not): a table of
# invocations, each with the exit status and the message it must give, then
# what reached the store.  The Dovecot path itself is tests/e2e/dovecot.sh.
set -u
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=.}"
corpus=$top_srcdir/tests/data/corpus
cli=$top_builddir/spamshift
wrapper=$top_builddir/contrib/dovecot/spamshift-learn-wrapper
for b in "$cli" "$wrapper"; do
	[ -x "$b" ] || { echo "FAIL: $b is not built"; exit 99; }
done
abs_cli=$(cd "$(dirname "$cli")" && pwd)/$(basename "$cli")

tmp=$(mktemp -d /tmp/spamshift-wrapper.XXXXXX) || exit 99
trap 'rm -rf "$tmp"' EXIT
# Every call sets SPAMSHIFT_CONF and SPAMSHIFT to files in $tmp.  Under sudo the
# wrapper ignores both and uses its built-in (installed) paths, which a test
# must never read (issue 18, finding 4: after `make install` this test read
# SYSCONFDIR/spamshift/spamshift.conf and stored feedback in the live store).
# So the sudo cases run a copy of the built wrapper whose two built-in paths
# point into $tmp, as if it had been configured with those directories.
sudo_wrapper=$tmp/spamshift-learn-wrapper.sudo
sed -e "s|^builtin_conf=.*|builtin_conf=$tmp/sysconf/spamshift.conf|" \
	-e "s|^builtin_spamshift=.*|builtin_spamshift=$abs_cli|" "$wrapper" >"$sudo_wrapper" \
	&& chmod 755 "$sudo_wrapper" || { echo "FAIL: cannot copy the wrapper"; exit 99; }
changed=$(diff "$wrapper" "$sudo_wrapper" | grep -c '^>')
[ "$changed" -eq 2 ] || { echo "FAIL: the sudo copy of the wrapper differs in $changed lines, want 2"; exit 99; }
"$cli" train -q -o "$tmp/model.bin" --ham "$corpus/ham" --spam "$corpus/spam" --seed 1 \
	>"$tmp/train.log" 2>&1 || { cat "$tmp/train.log"; echo "FAIL: train"; exit 1; }
# Keys in any case, blanks around '=', a comment, CRLF: as the milter reads them.
printf '# test\r\n  Model =  %s \r\nDATABASE=%s\r\n' "$tmp/model.bin" "$tmp/users.db" \
	>"$tmp/ok.conf"
printf 'model = %s\n' "$tmp/model.bin" >"$tmp/nodb.conf"
printf 'database = %s\n' "$tmp/users.db" >"$tmp/nomodel.conf"

failures=0
# run NAME WANT_RC WANT_PATTERN CONF USER_ENV ARGS...: the wrapper with a clean
# environment (as Dovecot gives it), the message on stdin.
run() {
	local name=$1 want_rc=$2 pat=$3 conf=$4 uenv=$5 rc=0 w=$wrapper
	shift 5
	case $uenv in *SUDO_USER=*) w=$sudo_wrapper ;; esac
	env -i PATH=/usr/bin:/bin SPAMSHIFT="$abs_cli" SPAMSHIFT_CONF="$conf" $uenv \
		"$w" "$@" <"$msg" >"$tmp/out" 2>"$tmp/err" || rc=$?
	if [ "$rc" -ne "$want_rc" ]; then
		echo "FAIL: $name: got exit $rc, want $want_rc ($(cat "$tmp/out" "$tmp/err"))"
		failures=$((failures + 1))
	elif ! grep -q -e "$pat" "$tmp/out" "$tmp/err"; then
		echo "FAIL: $name: got \"$(cat "$tmp/out" "$tmp/err")\", want /$pat/"
		failures=$((failures + 1))
	elif [ "$want_rc" -eq 0 ] && [ -s "$tmp/err" ]; then
		echo "FAIL: $name: success wrote to stderr (Dovecot logs it as an error): $(cat "$tmp/err")"
		failures=$((failures + 1))
	elif [ "$want_rc" -ne 0 ] && ! [ -s "$tmp/err" ]; then
		echo "FAIL: $name: a failure must be on stderr, got none"
		failures=$((failures + 1))
	fi
}
bob=bob@example.org carol=carol@example.org

msg=$corpus/spam/03.eml
run "no arguments"        64 "usage: spamshift-learn-wrapper" "$tmp/ok.conf" USER=$bob
run "one argument"        64 "got 1 arguments" "$tmp/ok.conf" USER=$bob spam
run "class --forget"      64 "want spam or ham, got \"--forget\"" "$tmp/ok.conf" USER=$bob --forget $bob
run "user is an option"   64 "starts with '-'" "$tmp/ok.conf" USER=--db spam --db
run "empty user"          64 "is empty" "$tmp/ok.conf" USER= spam ""
run "other user"          77 "asked to teach \"$bob\" but the invoking user is \"$carol\"" \
	"$tmp/ok.conf" USER=$carol spam $bob
run "no USER at all"      77 "the invoking user is \"\"" "$tmp/ok.conf" "" spam $bob
run "sudo: other user"    77 "invoking user is \"$carol\"" "$tmp/ok.conf" "USER=$bob SUDO_USER=$carol" \
	spam $bob
# Under sudo the caller's SPAMSHIFT_CONF is ignored: the built-in path is read
# (here $tmp/sysconf/spamshift.conf, missing at first, then naming its own store).
run "sudo: env ignored"   78 "cannot read $tmp/sysconf/spamshift.conf" "$tmp/ok.conf" \
	"SUDO_USER=$bob" spam $bob
grep -q "$tmp/ok.conf" "$tmp/err" && { echo "FAIL: under sudo the wrapper read SPAMSHIFT_CONF"; failures=$((failures + 1)); }
mkdir "$tmp/sysconf"
printf 'model = %s\ndatabase = %s\n' "$tmp/model.bin" "$tmp/sudo.db" >"$tmp/sysconf/spamshift.conf"
run "sudo: built-in conf" 0 "^spamshift-learn: $bob spam: refitted $bob: version 1.*learned 1," \
	"$tmp/ok.conf" "SUDO_USER=$bob" spam $bob
[ -e "$tmp/users.db" ] && { echo "FAIL: under sudo the wrapper wrote SPAMSHIFT_CONF's store"; failures=$((failures + 1)); }
out=$("$cli" learn --db "$tmp/sudo.db" --user $bob --spam "$msg" 2>&1)
[ "$out" = "learned 0, moved 0, unchanged 1, forgotten 0" ] \
	|| { echo "FAIL: the sudo learn is not in the built-in conf's store: got \"$out\""; failures=$((failures + 1)); }
run "unreadable config"   78 "cannot read $tmp/none.conf" "$tmp/none.conf" USER=$bob spam $bob
run "no database"         78 "has no \"database\"" "$tmp/nodb.conf" USER=$bob spam $bob
run "no model"            78 "has no \"model\" to refit with" "$tmp/nomodel.conf" USER=$bob spam $bob
[ -e "$tmp/users.db" ] && { echo "FAIL: a refused call created the store"; failures=$((failures + 1)); }

run "spam"                0 "^spamshift-learn: $bob spam: refitted $bob: version 1.*learned 1, moved 0" \
	"$tmp/ok.conf" USER=$bob spam $bob
run "spam again"          0 "learned 0, moved 0, unchanged 1" "$tmp/ok.conf" USER=$bob spam $bob
run "now ham"             0 "$bob ham: refitted $bob: version 2.*moved 1" "$tmp/ok.conf" USER=$bob ham $bob
run "store only"          0 "^spamshift-learn: $bob spam: learned 0, moved 1" "$tmp/ok.conf" \
	"USER=$bob SPAMSHIFT_LEARN_REFIT=no" spam $bob
grep -q refitted "$tmp/out" && { echo "FAIL: SPAMSHIFT_LEARN_REFIT=no still refitted"; failures=$((failures + 1)); }
msg=/dev/null
run "empty message"       1 "spamshift learn failed (exit 1)" "$tmp/ok.conf" USER=$bob spam $bob
chmod 0444 "$tmp/users.db"
msg=$corpus/spam/04.eml
if [ "$(id -u)" -ne 0 ]; then   # root writes a read-only file anyway
	run "read-only store" 74 "spamshift learn failed (exit 74)" "$tmp/ok.conf" USER=$bob spam $bob
fi
# SQLite made the -wal and -shm files as read-only as the database.
chmod 0644 "$tmp"/users.db*

# Only bob's one message, now spam, is in the store; nobody else has a row.
out=$("$cli" learn --db "$tmp/users.db" --user $bob --spam "$corpus/spam/03.eml" 2>&1)
[ "$out" = "learned 0, moved 0, unchanged 1, forgotten 0" ] \
	|| { echo "FAIL: store after the table: got \"$out\", want unchanged 1"; failures=$((failures + 1)); }
out=$("$cli" learn --db "$tmp/users.db" --user $carol --forget "$corpus/spam/03.eml" 2>&1)
[ "$out" = "learned 0, moved 0, unchanged 1, forgotten 0" ] \
	|| { echo "FAIL: carol has data: got \"$out\", want nothing to forget"; failures=$((failures + 1)); }

[ $failures -eq 0 ] || exit 1
echo "PASS: spamshift-learn-wrapper"
exit 0
