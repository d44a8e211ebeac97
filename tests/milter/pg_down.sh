#!/bin/sh
# tests/milter/pg_down.sh - spamshift-milter on a PostgreSQL store whose
# server goes away under load and comes back (issue 17 item 2): a throw-away
# cluster (tests/pg_cluster.sh), the milter with database = a libpq URI and
# on_error = tempfail, messages through miltertest (pg_down.lua) before,
# during and after `pg_ctl stop -m fast`.  Checks:
#   - every message is answered ACCEPT (scored with the models held; none
#     tempfailed although on_error says tempfail);
#   - the log has exactly one "database server is gone" and one "is back"
#     line (store_pg_conn.c), one writer line each way (writer.c) and the
#     maintenance thread's pause/resume once each, not a line per retry;
#   - the scan records of the messages sent while the server was down land
#     after it is back (`spamshift stats --db`: every message counted once);
#   - the learns `spamshift learn` acknowledged (exit 0) before the stop are
#     all there after it;
#   - a `spamshift learn` while the server is down exits 75 (EX_TEMPFAIL)
#     with one line on stderr;
#   - a milter started while the server is down starts, answers, holds its
#     writes and writes them when the server comes (it used to exit 78).
# Skips (77) only when the PostgreSQL server binaries or miltertest are absent.
set -u
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=.}"
. "$top_srcdir/tests/pg_cluster.sh"

pg_cluster_require
command -v miltertest >/dev/null 2>&1 || { echo "SKIP: miltertest not installed"; exit 77; }
SS=$top_builddir/spamshift
MILTER=$top_builddir/spamshift-milter
DATA=$top_srcdir/tests/milter/data
CORPUS=$top_srcdir/tests/data/corpus
for b in "$SS" "$MILTER"; do
    [ -x "$b" ] || { echo "FAIL: $b is not built"; exit 99; }
done

T=$(mktemp -d "${TMPDIR:-/tmp}/ss-pgdown.XXXXXX") || exit 99
pid=
cleanup() {
    [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null
    pg_cluster_stop
    rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
ok() { echo "ok: $*"; }
die() {
    echo "FAIL: $*"
    [ -f "$T/milter.log" ] && { echo "--- milter log:"; cat "$T/milter.log"; }
    exit 1
}

chmod 711 "$T"      # the server runs as nobody under root: it must reach $T/pg
mkdir "$T/pg" && pg_cluster_start "$T/pg" || exit 1
pg_cluster_sql "CREATE DATABASE down" || die "create database"
# With a password (the cluster trusts the socket, so it is never checked): it
# must not reach the log.  In a password file, as doc/operator.md says: a
# database string with one is refused (exit 64, tests/cli/pg_roles.sh).
printf '*:*:down:spamshift:secretpw\n' > "$T/pgpass" && chmod 600 "$T/pgpass" &&
    export PGPASSFILE="$T/pgpass" || die "password file"
DB="postgresql://spamshift@/down?host=$T/pg"

"$SS" train -q -o "$T/model.bin" --ham "$DATA/ham" --spam "$DATA/spam" --seed 1 \
    >"$T/train.log" 2>&1 || { cat "$T/train.log"; die "spamshift train"; }
ham=$("$SS" classify -m "$T/model.bin" "$DATA/probe-ham.eml" | cut -f2)
spam=$("$SS" classify -m "$T/model.bin" "$DATA/probe-spam.eml" | cut -f2)
mid=$(awk -v h="$ham" -v s="$spam" 'BEGIN { printf "%.6f", (h + s) / 2 }')

# Acknowledged learns: 6 spam and 5 ham for alice, each `learn` exit 0.
"$SS" learn --db "$DB" --user alice@example.org --spam "$CORPUS"/spam/0[0-5].eml \
    >/dev/null 2>"$T/learn.err" || { cat "$T/learn.err"; die "learn spam before the stop"; }
"$SS" learn --db "$DB" --user alice@example.org --ham "$CORPUS"/ham/0[0-4].eml \
    >/dev/null 2>"$T/learn.err" || { cat "$T/learn.err"; die "learn ham before the stop"; }

# counts KEY...: the overview's and alice's values of stats --json, "KEY VALUE"
# a line (alice's prefixed "alice.").  Fails while the server is down.
counts() {
    "$SS" stats -m "$T/model.bin" --db "$DB" --json --since all >"$T/stats.json" \
        2>"$T/stats.err" || return 1
    python3 - "$T/stats.json" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
for k in ("scanned", "scan_records", "learned_spam", "learned_ham"):
    print(k, j["overview"].get(k, 0))
for u in j["users"]:
    if u["user"] == "alice@example.org":
        for k in ("learned_spam", "learned_ham"):
            print("alice." + k, u.get(k, 0))
PY
}
# value KEY: one of them, from the last counts.
value() { sed -n "s/^$1 //p" "$T/counts"; }
# wait_scanned N: until the overview counts N scans (bounded: 60 s).
wait_scanned() {
    i=0
    while [ $i -lt 120 ]; do
        counts >"$T/counts" 2>/dev/null && [ "$(value scanned)" = "$1" ] && return 0
        sleep 0.5
        i=$((i + 1))
    done
    return 1
}

cat >"$T/spamshift.conf" <<CONF
socket = unix:$T/milter.sock
model = $T/model.bin
log_target = stderr
log_level = debug
pid_file = $T/milter.pid
database = $DB
spam_threshold = $mid
on_error = tempfail
CONF
"$MILTER" -n -c "$T/spamshift.conf" >"$T/check.out" 2>&1 || { cat "$T/check.out"; die "-n"; }
# start_milter LOG: in the foreground (pid), until its socket is there.
start_milter() {
    rm -f "$T/milter.sock"
    "$MILTER" -f -c "$T/spamshift.conf" 2>"$1" &
    pid=$!
    i=0
    while [ ! -S "$T/milter.sock" ]; do
        i=$((i + 1))
        [ $i -le 200 ] || die "the milter did not create its socket"
        kill -0 "$pid" 2>/dev/null || { cat "$1"; die "the milter exited at start"; }
        sleep 0.05
    done
}
start_milter "$T/milter.log"

# send PHASE COUNT: a phase of pg_down.lua.
send() {
    miltertest -s "$top_srcdir/tests/milter/pg_down.lua" -D socket="unix:$T/milter.sock" \
        -D datadir="$DATA" -D tmpdir="$T" -D srcdir="$top_srcdir/tests/milter" \
        -D phase="$1" -D count="$2" >"$T/mt-$1.out" 2>&1
    rc=$?
    cat "$T/mt-$1.out"
    [ $rc -eq 0 ] || fail "$1: miltertest exit $rc"
}

send up 10
wait_scanned 10 || die "the 10 scans before the stop did not land: $(cat "$T/counts" "$T/stats.err" 2>/dev/null)"
ok "10 scan records before the stop"
before_spam=$(value alice.learned_spam) before_ham=$(value alice.learned_ham)
[ "$before_spam" = 6 ] && [ "$before_ham" = 5 ] ||
    fail "alice's learns before the stop: got $before_spam spam $before_ham ham, want 6 5"

t0=$(date +%s.%N)
pg_cluster_halt fast || die "pg_ctl stop -m fast"
send down1 10
"$SS" learn --db "$DB" --user alice@example.org --spam "$CORPUS"/spam/0[6-9].eml \
    >/dev/null 2>"$T/learn-down.err"
rc=$?
lines=$(wc -l <"$T/learn-down.err")
if [ $rc -eq 75 ] && [ "$lines" -eq 1 ]; then
    ok "learn while down: exit 75, one line: $(cat "$T/learn-down.err")"
else
    fail "learn while down: got exit $rc and $lines lines, want 75 and 1:"
    cat "$T/learn-down.err"
fi
# Long enough for several reconnect attempts (100 ms, 200, 400, 800, ...).
sleep 2
send down2 10
pg_cluster_resume || die "pg_ctl start"
t_up=$(date +%s.%N)
send back 10
if wait_scanned 40; then
    t1=$(date +%s.%N)
    ok "40 scan records after the restart (the last landed $(awk -v a="$t0" -v u="$t_up" \
        -v b="$t1" 'BEGIN { printf "%.1f s after the stop, %.1f s after the start", b - a, b - u }'))"
else
    fail "scan records after the restart: got $(value scanned), want 40"
fi
[ "$(value alice.learned_spam)" = "$before_spam" ] &&
    [ "$(value alice.learned_ham)" = "$before_ham" ] &&
    ok "alice's acknowledged learns are all there (6 spam, 5 ham)" ||
    fail "alice's learns after the restart: got $(value alice.learned_spam) spam" \
         "$(value alice.learned_ham) ham, want $before_spam $before_ham"

# wait_log FILE REGEX: until a line of FILE matches (bounded: 10 s).
wait_log() {
    i=0
    until grep -Eq -- "$2" "$1"; do
        i=$((i + 1))
        [ $i -le 100 ] || return 1
        sleep 0.1
    done
}
# stop_milter WHAT: SIGTERM, and it must exit 0.
stop_milter() {
    kill -TERM "$pid"
    wait "$pid"
    mrc=$?
    pid=
    [ $mrc -eq 0 ] || fail "$1 exited $mrc after SIGTERM"
}

# The maintenance thread (a round a second) is back too, within seconds, not
# after its own grown backoff (store_pg_conn.c).
wait_log "$T/milter.log" 'maintenance goes on'

# A learn after the restart lands as before.
"$SS" learn --db "$DB" --user alice@example.org --spam "$CORPUS"/spam/0[6-9].eml \
    >/dev/null 2>"$T/learn.err" || fail "learn after the restart: $(cat "$T/learn.err")"

stop_milter "the milter"

# once REGEX WHAT: exactly one line of the milter's log matches.
once() {
    n=$(grep -Ec -- "$1" "$T/milter.log")
    [ "$n" -eq 1 ] && ok "one line: $2" || fail "$n lines match /$1/ ($2), want 1"
}
once 'the database server is gone: .*reconnecting with backoff' "the store's gone line"
once 'the database server is back after [0-9.]+ s' "the store's back line"
once 'store postgresql:down: the database server is unreachable' "the writer's hold"
once 'store postgresql:down: the database server is reachable again .* 0 new ones were dropped' \
    "the writer's return, nothing dropped"
once 'maintenance waits for the database server' "the maintenance thread's pause"
once 'maintenance goes on' "the maintenance thread's return"
n=$(grep -Ec ': rcpts=1 size=[0-9]+ verdict=(ham|tag) ' "$T/milter.log")
[ "$n" -eq 40 ] && ok "40 verdicts logged (ham or tag)" || fail "$n verdict lines, want 40"
if grep -Eq 'verdict=(tempfail|error)|TEMPFAIL' "$T/milter.log"; then
    fail "a message was tempfailed or failed:"; grep -E 'verdict=(tempfail|error)' "$T/milter.log"
fi
if grep -q 'secretpw' "$T/milter.log" "$T/learn-down.err"; then
    fail "the password in the log:"; grep 'secretpw' "$T/milter.log" "$T/learn-down.err"
fi
if [ $fails -ne 0 ] || [ -n "${SPAMSHIFT_TEST_SHOWLOG:-}" ]; then
    echo "--- milter log:"; cat "$T/milter.log"
fi

# A milter started while the server is down.
pg_cluster_halt fast || die "pg_ctl stop -m fast (before the cold start)"
start_milter "$T/milter2.log"
ok "the milter starts with the server down"
send cold 10
pg_cluster_resume || die "pg_ctl start (after the cold start)"
wait_scanned 50 && ok "its 10 scan records land when the server comes (50 in all)" ||
    fail "scan records after the cold start: got $(value scanned), want 50"
wait_log "$T/milter2.log" 'store postgresql:down: opened; maintenance goes on'
stop_milter "the cold-started milter"
n=$(grep -c 'store postgresql:down: the database server is unreachable' "$T/milter2.log")
[ "$n" -eq 1 ] || fail "cold start: $n writer hold lines, want 1"
n=$(grep -c 'store postgresql:down: the database server is reachable again' "$T/milter2.log")
[ "$n" -eq 1 ] || fail "cold start: $n writer return lines, want 1"
n=$(grep -c 'store postgresql:down: opened; maintenance goes on' "$T/milter2.log")
[ "$n" -eq 1 ] || fail "cold start: $n maintenance open lines, want 1"
n=$(grep -Ec ': rcpts=1 size=[0-9]+ verdict=(ham|tag) ' "$T/milter2.log")
[ "$n" -eq 10 ] || fail "cold start: $n verdict lines, want 10"
! grep -q secretpw "$T/milter2.log" || fail "cold start: the password in the log"
if [ $fails -ne 0 ] || [ -n "${SPAMSHIFT_TEST_SHOWLOG:-}" ]; then
    echo "--- cold-started milter's log:"; cat "$T/milter2.log"
fi
[ $fails -eq 0 ] && echo "PASS: pg_down" || exit 1
