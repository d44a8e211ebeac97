#!/bin/sh
# tests/cli/model_errors.sh - the exit code says why a model could not be opened
# (issue 18, finding 3): a missing file is 66 (EX_NOINPUT), a file the user may
# not read (the file's mode or a directory on its path) is 77 (EX_NOPERM) with the path and strerror in the message, a file
# that is read but refused is 78 (EX_CONFIG).  It used to be 66 for permission
# denied behind a directory (Dovecot's learn-on-move logged "exit 66", documented
# as "the model does not exist", when the mail user was not in the group), and
# 78, "refused", for a file of mode 000.
# Every command that opens a model is checked; classify --status answers 3.
set -u
: "${top_srcdir:?}" "${top_builddir:?}"
. "$top_srcdir/tests/lib.sh"
test_init model-errors
DATA="$top_srcdir/tests/data/corpus"
ok() { echo "ok: $*"; }

# The tests run as root, who reads any file: the permission case runs as nobody.
as_nobody() {
	if command -v setpriv > /dev/null 2>&1; then
		setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"
	else
		runuser -u nobody -- "$@"
	fi
}

chmod 755 "$tmp"
"$cli" train -q -o "$tmp/m.bin" --ham "$DATA/ham" --spam "$DATA/spam" --seed 3 \
	|| { echo "FAIL: train"; exit 99; }
cp "$tmp/m.bin" "$tmp/locked.bin"
chmod 000 "$tmp/locked.bin"
# A readable model in a directory nobody may search: today's Dovecot case (66
# before the fix, from access(F_OK) failing with EACCES).
mkdir "$tmp/private" && cp "$tmp/m.bin" "$tmp/private/m.bin" && chmod 700 "$tmp/private"
printf 'not a model\n' > "$tmp/bad.bin"
chmod 644 "$tmp/bad.bin" "$tmp/m.bin"
cp "$DATA/spam/00.eml" "$tmp/msg.eml"
chmod 644 "$tmp/msg.eml"
mkdir "$tmp/db" && chmod 777 "$tmp/db"
as_nobody "$cli" classify -m "$tmp/m.bin" "$tmp/msg.eml" > /dev/null 2>&1 \
	|| { echo "FAIL: nobody cannot run spamshift from $tmp (exit $?)"; exit 99; }

# check WANT MATCH -- ARGS...: run as nobody; exit WANT and stderr matching MATCH.
check() {
	c_want=$1 c_match=$2; shift 3
	as_nobody "$cli" "$@" > "$tmp/out" 2> "$tmp/err" < /dev/null
	rc=$?
	if [ "$rc" -ne "$c_want" ]; then
		fail "$*: got exit $rc, want $c_want: $(cat "$tmp/err")"
	elif ! grep -q -F -- "$c_match" "$tmp/err"; then
		fail "$*: got stderr $(cat "$tmp/err"), want it to hold \"$c_match\""
	else
		ok "$1 $2 ... exit $c_want"
	fi
}

for m in missing locked private bad; do
	case $m in
	missing) want=66 match="$tmp/missing.bin: cannot open model: No such file or directory" ;;
	locked) want=77 match="$tmp/locked.bin: cannot open model: Permission denied" ;;
	private) want=77 match="$tmp/private/m.bin: cannot open model: Permission denied" ;;
	bad) want=78 match="$tmp/bad.bin" ;;
	esac
	f="$tmp/$m.bin"
	[ "$m" = private ] && f="$tmp/private/m.bin"
	check $want "classify: $match" -- classify -m "$f" "$tmp/msg.eml"
	check 3 "classify: $match" -- classify --status -m "$f" "$tmp/msg.eml"
	check $want "explain: $match" -- explain -m "$f" "$tmp/msg.eml"
	check $want "eval: $match" -- eval -q -m "$f" --test-ham "$DATA/ham" --test-spam "$DATA/spam"
	check $want "learn: $match" -- learn --db "$tmp/db/u.db" --user a@example.org --spam \
		-m "$f" "$tmp/msg.eml"
	check $want "adapt: $match" -- adapt -m "$f" --db "$tmp/db/u.db" --all
	check $want "stats: $match" -- stats -m "$f" --db "$tmp/db/u.db"
done

[ "$fails" -eq 0 ] || { echo "$fails failures"; exit 1; }
