#!/bin/sh
# run.sh - run one miltertest script against a real spamshift-milter.
# (Scripts also get cli = the spamshift command, to read the store.)
#
#   run.sh tests/milter/NAME.lua        (make check runs it as LUA_LOG_COMPILER)
#
# Trains a model on tests/milter/data/{ham,spam} with `spamshift train`, scores
# the two probe messages with `spamshift classify`, writes a config made of a
# base (unix socket in a temp dir, log_target = stderr) plus the script's
# "-- conf: key = value" lines, in which @HAM@, @SPAM@ and @MID@ stand for the
# probes' scores and their midpoint, starts the milter in the foreground,
# runs miltertest, stops the milter (SIGTERM, checked, for scripts with a
# "-- graceful" line; SIGKILL otherwise), then checks that every
# "-- log: REGEX" line of the script matches the milter's log (grep -E),
# every "-- log1: REGEX" matches exactly one line of it and every
# "-- nolog: REGEX" none.  Exit 77 (skip) without miltertest, or when the script
# has a "-- requires: root" line and we are not root.  "-- cleanup: COMMAND"
# lines run at exit (before the temp dir goes), with $TMP set.
# SPAMSHIFT_TEST_SHOWLOG=1 prints the milter's log even when the test passes.
set -u
script=$1
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=.}"
name=$(basename "$script" .lua)
data=$top_srcdir/tests/milter/data
milter=$top_builddir/spamshift-milter
cli=$top_builddir/spamshift

command -v miltertest >/dev/null 2>&1 || { echo "SKIP: miltertest not installed"; exit 77; }
if grep -q '^-- requires: root' "$script" && [ "$(id -u)" -ne 0 ]; then
	echo "SKIP: $name needs root"
	exit 77
fi
for b in "$milter" "$cli"; do
	[ -x "$b" ] || { echo "FAIL: $b is not built"; exit 99; }
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/spamshift-mt-$name.XXXXXX") || exit 99
pid=
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null
	sed -n 's/^-- cleanup: //p' "$script" | while IFS= read -r cmd; do
		TMP=$tmp sh -c "$cmd" >/dev/null 2>&1
	done
	rm -rf "$tmp"
}
trap cleanup EXIT
fail() {
	echo "FAIL: $name: $*"
	if [ -f "$tmp/milter.log" ]; then echo "--- milter log:"; cat "$tmp/milter.log"; fi
	exit 1
}

"$cli" train -q -o "$tmp/model.bin" --ham "$data/ham" --spam "$data/spam" --seed 1 \
	>"$tmp/train.log" 2>&1 || { cat "$tmp/train.log"; fail "spamshift train failed"; }
cp "$tmp/model.bin" "$tmp/model2.bin"
ham=$("$cli" classify -m "$tmp/model.bin" "$data/probe-ham.eml" | cut -f2)
spam=$("$cli" classify -m "$tmp/model.bin" "$data/probe-spam.eml" | cut -f2)
[ -n "$ham" ] && [ -n "$spam" ] || fail "spamshift classify printed no score"
mid=$(awk -v h="$ham" -v s="$spam" 'BEGIN { if (s - h < 0.02) exit 1; printf "%.6f", (h + s) / 2 }') \
	|| fail "the probes are not separated: ham $ham, spam $spam"
echo "probe scores: ham $ham spam $spam mid $mid"

# "-- setup: COMMAND" lines run before the milter starts, with $CLI, $TMP,
# $DATA and $MODEL set (e.g. to teach a user with spamshift learn/adapt).
sed -n 's/^-- setup: //p' "$script" | while IFS= read -r cmd; do
	CLI=$cli TMP=$tmp DATA=$data MODEL=$tmp/model.bin sh -c "$cmd" >>"$tmp/setup.log" 2>&1 \
		|| { cat "$tmp/setup.log"; echo "setup failed: $cmd"; exit 1; }
done || fail "setup"

sock=$tmp/milter.sock
conf=$tmp/spamshift.conf
{
	echo "socket = unix:$sock"
	echo "model = $tmp/model.bin"
	echo "log_target = stderr"
	echo "log_level = debug"
	echo "pid_file = $tmp/milter.pid"
	sed -n 's/^-- conf: //p' "$script"
} | sed -e "s|@HAM@|$ham|g" -e "s|@SPAM@|$spam|g" -e "s|@MID@|$mid|g" -e "s|@TMP@|$tmp|g" \
	-e "s|@DATA@|$data|g" >"$conf"
# Variants a script may switch to with reload_with(N): the base lines plus its
# "-- confN: key = value" lines, in $tmp/spamshift.confN.
for n in 2 3 4; do
	grep -q "^-- conf$n: " "$script" || continue
	sed -n "s/^-- conf$n: //p" "$script" >"$tmp/variant"
	{	# the base lines whose keys the variant does not set, then the variant
		awk -F' *= *' 'NR == FNR { set[$1] = 1; next } !($1 in set)' \
			"$tmp/variant" "$conf"
		cat "$tmp/variant"
	} | sed -e "s|@HAM@|$ham|g" -e "s|@SPAM@|$spam|g" -e "s|@MID@|$mid|g" \
		-e "s|@TMP@|$tmp|g" -e "s|@DATA@|$data|g" >"$tmp/spamshift.conf$n"
done

"$milter" -n -c "$conf" >"$tmp/check.out" 2>&1 || { cat "$tmp/check.out"; fail "-n rejects the config"; }
"$milter" -f -c "$conf" 2>"$tmp/milter.log" &
pid=$!
i=0
while [ ! -S "$sock" ]; do
	i=$((i + 1))
	[ $i -le 100 ] || fail "the milter did not create $sock"
	kill -0 "$pid" 2>/dev/null || fail "the milter exited at start"
	sleep 0.05
done

miltertest -s "$script" -D socket="unix:$sock" -D datadir="$data" -D tmpdir="$tmp" \
	-D milter_pid="$pid" -D conf="$conf" -D score_ham="$ham" -D score_spam="$spam" \
	-D srcdir="$top_srcdir/tests/milter" -D cli="$cli" >"$tmp/mt.out" 2>&1
rc=$?
cat "$tmp/mt.out"
[ $rc -eq 0 ] || fail "miltertest exit $rc"

# A graceful stop costs libmilter's listener poll interval (about 5 s), so
# only scripts marked "-- graceful" check it; the others end the milter hard.
# SPAMSHIFT_TEST_GRACEFUL=1 (tests/sanitize.sh) stops every milter with SIGTERM,
# so that LeakSanitizer checks each one at exit.
if grep -q '^-- graceful' "$script" || [ -n "${SPAMSHIFT_TEST_GRACEFUL:-}" ]; then
	kill -TERM "$pid"
	wait "$pid"
	mrc=$?
	pid=
	[ $mrc -eq 0 ] || fail "the milter exited $mrc after SIGTERM"
	grep -q 'stopped' "$tmp/milter.log" || fail "no clean stop in the log"
else
	kill -KILL "$pid"
	wait "$pid" 2>/dev/null
	pid=
fi

# Sanitizer reports (--enable-sanitizers builds) fail the test even when the
# milter kept answering.
if grep -Eq 'runtime error:|AddressSanitizer|LeakSanitizer' "$tmp/milter.log"; then
	fail "sanitizer report in the milter log"
fi

# Log expectations.
sed -n 's/^-- log: //p' "$script" | while IFS= read -r re; do
	grep -Eq -- "$re" "$tmp/milter.log" || { echo "log lacks /$re/"; exit 1; }
done || fail "log expectations"
sed -n 's/^-- log1: //p' "$script" | while IFS= read -r re; do
	n=$(grep -Ec -- "$re" "$tmp/milter.log")
	[ "$n" -eq 1 ] || { echo "log has $n lines matching /$re/, want 1"; exit 1; }
done || fail "log expectations"
sed -n 's/^-- nolog: //p' "$script" | while IFS= read -r re; do
	if grep -Eq -- "$re" "$tmp/milter.log"; then echo "log has /$re/"; exit 1; fi
done || fail "log expectations"
if [ -n "${SPAMSHIFT_TEST_SHOWLOG:-}" ]; then echo "--- milter log:"; cat "$tmp/milter.log"; fi
echo "PASS: $name"
exit 0
