#!/bin/bash
# adapt_lease.sh - the refit claim's lease is a setting (adapt --lease S; the
# milter's refit_lease), on a PostgreSQL store (a throw-away cluster,
# tests/pg_cluster.sh).  An `adapt --all --lease 20` is stopped (SIGSTOP) in
# the middle of its walk, holding a claim, and killed; then checks:
#   - another `adapt --all` refits every dirty user but the held one;
#   - the held user stays held until its lease has run out (the adapt --all
#     runs every 0.5 s after the kill publish nothing) and is taken and
#     published by the first one after it (within 20 s of the stop; with the
#     default 600 s it would wait ten minutes);
#   - --lease outside 10..86400 is a usage error (exit 64).
# Skips (77) only when the PostgreSQL server binaries are absent or the build
# has no PostgreSQL.
set -u
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=.}"
. "$top_srcdir/tests/pg_cluster.sh"
pg_cluster_require
cli=$top_builddir/spamshift
data=$top_srcdir/tests/milter/data
[ -x "$cli" ] || { echo "FAIL: $cli is not built"; exit 99; }
grep -q "define HAVE_LIBPQ 1" "$top_builddir/config/config.h" 2>/dev/null ||
	{ echo "SKIP: this spamshift was built without PostgreSQL"; exit 77; }
pg_cluster_scratch lease
apid=
trap '[ -n "$apid" ] && kill -KILL "$apid" 2>/dev/null; pg_cluster_stop; rm -rf "$T"' EXIT
fail() { echo "FAIL: adapt_lease: $*"; for f in "$T"/*.out; do echo "--- $f"; tail -5 "$f"; done; exit 1; }
pg_cluster_sql "CREATE DATABASE lease" || fail "create database"
DB="postgresql:///lease?host=$T&user=spamshift"
"$cli" train -q -o "$T/model.bin" --ham "$data/ham" --spam "$data/spam" --seed 1 \
	>"$T/train.out" 2>&1 || fail "train"

for bad in 9 86401 0; do
	"$cli" adapt -m "$T/model.bin" --db "$DB" --all --lease "$bad" >"$T/bad.out" 2>&1
	rc=$?
	[ $rc -eq 64 ] && grep -q -- "--lease must be 10..86400 seconds, got $bad" "$T/bad.out" ||
		fail "--lease $bad: exit $rc, want 64 and the range: $(cat "$T/bad.out")"
done

# published OUT: how many users an adapt --all --json run published.
published() { grep -c '"result":"published"' "$1"; }
dirty() {
	"$cli" adapt -m "$T/model.bin" --db "$DB" --all --dry-run --json 2>/dev/null |
		grep -c '"user"'
}
# late: one adapt --all after the kill, into late.out; its published count.
late() {
	"$cli" adapt -m "$T/model.bin" --db "$DB" --all --json >"$T/late.out" 2>&1 ||
		fail "adapt --all (late)"
	published "$T/late.out"
}
# Up to five tries: the stop may fall between two claims (none held then) or
# inside a claim's or a publish's transaction (the user row locked, skipped
# by the second run; the kill rolls it back, and the first late run takes the
# user at once: no claim was held).
try=0 held=0 intxn=0
while [ $held -ne 1 ]; do
	try=$((try + 1))
	[ $try -le 5 ] || fail "five stops held no claim ($intxn inside a transaction)"
	for k in $(seq 1 40); do
		"$cli" learn --db "$DB" --user "t$try-$k@example.org" --ham "$data/probe-spam.eml" \
			>>"$T/learn.out" 2>&1 || fail "learn"
	done
	# (adapt flushes each user's line itself: no stdbuf, whose LD_PRELOAD
	# the sanitizer build refuses)
	"$cli" adapt -m "$T/model.bin" --db "$DB" --all --json --lease 20 \
		>"$T/walk.out" 2>&1 &
	apid=$!
	i=0
	until [ "$(published "$T/walk.out")" -ge 3 ]; do
		i=$((i + 1)); [ $i -le 300 ] || fail "adapt --all published nothing in 30 s"
		kill -0 "$apid" 2>/dev/null || fail "adapt --all ended before it was stopped"
		sleep 0.02
	done
	kill -STOP "$apid"
	t_stop=$(date +%s.%N)
	"$cli" adapt -m "$T/model.bin" --db "$DB" --all --json >"$T/other.out" 2>&1 ||
		fail "adapt --all beside the stopped one"
	t_other=$(date +%s.%N)
	kill -KILL "$apid"
	wait "$apid" 2>/dev/null
	apid=
	held=$(dirty)
	[ "$held" -le 1 ] || fail "$held dirty users left by the second adapt, want at most the held one"
	[ "$held" -eq 1 ] || continue  # (a stop after a publish, before its line: 39 lines)
	n=$(($(published "$T/walk.out") + $(published "$T/other.out")))
	[ $n -eq 39 ] || fail "the two runs published $n users, want 39 of 40 (one held;" \
		"the second run ended $(awk -v s="$t_stop" -v o="$t_other" 'BEGIN { printf "%.1f", o - s }') s after the stop)"
	[ "$(late)" -eq 1 ] && intxn=$((intxn + 1)) held=0
done
# The lease runs out 20 s after the claim (before the stop): poll until the
# held user is taken; until then each run publishes nothing.
# The first late run (in the loop) found it held.
i=0 held_runs=1
while :; do
	sleep 0.5
	n=$(late)
	[ "$n" -eq 1 ] && break
	[ "$n" -eq 0 ] || fail "a late run published $n users"
	held_runs=$((held_runs + 1))
	i=$((i + 1)); [ $i -le 60 ] || fail "the held user was not taken 30 s after the stop"
done
t_take=$(date +%s.%N)
[ "$(dirty)" -eq 0 ] || fail "dirty users left at the end"
awk -v s="$t_stop" -v t="$t_take" -v try=$try -v h=$held_runs -v x=$intxn 'BEGIN {
	printf "PASS: adapt_lease: held user taken %.1f s after the stop (lease 20 s; %d runs before found it held); try %d, %d stopped inside a transaction\n", t - s, h, try, x }'
exit 0
