#!/bin/sh
# tests/faults/failmalloc_milter.sh - allocation failures in the running milter
# (issue 6, item 3): with the LD_PRELOAD failer of tests/hardening/failmalloc.c,
# each allocation the milter's own code makes while it starts and handles the
# messages of tests/faults/failmalloc.lua is failed in turn, one run each.
# Every run must either
#  - exit at start-up, non-zero, not on a signal, with a clear message
#    ("out of memory" / "Cannot allocate memory"), or
#  - answer every message per on_error = tempfail (scored, or 451 4.3.0 with a
#    log line for that queue id saying why), defer at most one of them (one
#    allocation failed: the others are scored) and still be running;
# and the feedback learned before (12 rows) is still in the store afterwards.
# Then memory that stays short: every allocation from the N-th on fails
# (FAILMALLOC_ALL, N at a quarter, half and three quarters of the count): the
# milter must still answer every message (scored or 451, logged) and not die.
# Skips (77) without miltertest and in sanitizer builds (ASan must be the
# first DSO).
set -u
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=.}"
milter=$top_builddir/spamshift-milter
cli=$top_builddir/spamshift
so=$top_builddir/tests/hardening/failmalloc.so
data=$top_srcdir/tests/milter/data
script=$top_srcdir/tests/faults/failmalloc.lua
command -v miltertest >/dev/null 2>&1 || { echo "SKIP: miltertest not installed"; exit 77; }
[ -x "$milter" ] && [ -x "$cli" ] && [ -f "$so" ] || { echo "FAIL: not built"; exit 99; }
if ldd "$milter" | grep -q libasan; then echo "SKIP: sanitizer build"; exit 77; fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/spamshift-fmmilter.XXXXXX") || exit 99
pid=
trap '[ -n "$pid" ] && kill -KILL $pid 2>/dev/null; rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

"$cli" train -q -o "$tmp/model.bin" --ham "$data/ham" --spam "$data/spam" --seed 1 \
    >"$tmp/log" 2>&1 || { cat "$tmp/log"; echo "FAIL: train"; exit 1; }
"$cli" learn --db "$tmp/users.db" --user carol@example.org --ham "$data"/spam/*.eml \
    >"$tmp/log" 2>&1 || { cat "$tmp/log"; echo "FAIL: learn"; exit 1; }
cat >"$tmp/m.conf" <<CONF
socket = unix:$tmp/m.sock
model = $tmp/model.bin
log_target = stderr
log_level = info
database = $tmp/users.db
on_error = tempfail
CONF

# start ENV...: the milter in the background with the failer and ENV; returns
# 0 once it is ready (its "listening on" line: the socket is made a little
# earlier), 1 if it exited first (its status in $rc).
start() {
    rm -f "$tmp/m.sock"
    # Emptied here, not only by the child's redirection: a child scheduled late
    # would leave the last run's "listening on" for the loop below to find.
    : >"$tmp/milter.log"
    env "$@" LD_PRELOAD="$so" "$milter" -f -c "$tmp/m.conf" 2>"$tmp/milter.log" &
    pid=$!
    i=0
    while ! grep -q 'listening on' "$tmp/milter.log"; do
        if ! kill -0 "$pid" 2>/dev/null; then
            wait "$pid"
            rc=$?
            pid=
            return 1
        fi
        i=$((i + 1))
        [ $i -le 400 ] || { rc=124; return 1; }
        sleep 0.05
    done
    return 0
}

messages() {
    rm -f "$tmp/deferred"
    timeout 60 miltertest -s "$script" -D socket="unix:$tmp/m.sock" -D datadir="$data" \
        -D srcdir="$top_srcdir/tests/milter" -D outcome="$tmp/deferred" >"$tmp/mt.out" 2>&1
}

# After a start: run messages() and check that every message was answered, the
# milter is still alive and each deferred queue id has a log line saying why;
# ndef = how many were deferred.  Then stop the milter.  $1 names the case.
check_and_stop() {
    ndef=0
    if ! messages; then
        fail "$1: $(grep -E 'FAIL|error' "$tmp/mt.out" | head -3)"
        sed 's/^/    /' "$tmp/milter.log" | tail -5
    elif ! kill -0 "$pid" 2>/dev/null; then
        fail "$1: the milter died: $(tail -3 "$tmp/milter.log")"
    fi
    for q in $(cat "$tmp/deferred" 2>/dev/null); do
        ndef=$((ndef + 1))
        grep -q "$q: .*error" "$tmp/milter.log" ||
            fail "$1: $q deferred without a log line saying why"
    done
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    pid=
}

# How many allocations a whole run makes (counted at a clean exit).
start FAILMALLOC_COUNT=1 || { cat "$tmp/milter.log"; echo "FAIL: the milter does not start"; exit 1; }
messages || { cat "$tmp/mt.out" "$tmp/milter.log"; echo "FAIL: messages without injection"; exit 1; }
kill -TERM "$pid"
wait "$pid"
pid=
total=$(sed -n 's/^failmalloc: \([0-9]*\) allocations.*/\1/p' "$tmp/milter.log")
[ -n "$total" ] && [ "$total" -gt 0 ] || { echo "FAIL: no allocation counted"; exit 1; }

# Threads make the order vary a little from run to run: go a few beyond.
n=1 started=0 refused=0 deferred=0
while [ "$n" -le $((total + 5)) ]; do
    if ! start FAILMALLOC_AT=$n; then
        if [ "$rc" -eq 124 ]; then
            fail "allocation $n: the milter neither listened nor exited in 20 s"
        elif [ "$rc" -gt 128 ] || [ "$rc" -eq 0 ]; then
            fail "allocation $n: the milter exited $rc at start-up: $(tail -3 "$tmp/milter.log")"
        elif ! grep -Eqi 'out of memory|cannot allocate memory' "$tmp/milter.log"; then
            fail "allocation $n: exit $rc at start-up without a clear message: $(tail -3 "$tmp/milter.log")"
        fi
        refused=$((refused + 1))
        n=$((n + 1))
        continue
    fi
    started=$((started + 1))
    check_and_stop "allocation $n"
    [ "$ndef" -le 1 ] || fail "allocation $n: one failed allocation deferred $ndef messages"
    deferred=$((deferred + ndef))
    n=$((n + 1))
done

# Memory short from allocation N on.
short=0
for n in $((total / 4)) $((total / 2)) $((total * 3 / 4)); do
    if ! start FAILMALLOC_AT=$n FAILMALLOC_ALL=1; then
        grep -Eqi 'out of memory|cannot allocate memory' "$tmp/milter.log" && [ "$rc" -lt 128 ] &&
            [ "$rc" -ne 0 ] || fail "from allocation $n on: exit $rc at start-up: $(tail -3 "$tmp/milter.log")"
        continue
    fi
    check_and_stop "from allocation $n on"
    short=$((short + ndef))
done

fb=$(sqlite3 -cmd '.timeout 5000' "$tmp/users.db" 'SELECT count(*) FROM feedback')
[ "$fb" = 12 ] || fail "feedback after the sweep: $fb rows, want the 12 learned before"
[ $fails -eq 0 ] || exit 1
echo "PASS: failmalloc_milter: $total allocations failed in turn (+5): $started runs answered" \
    "every message ($deferred deferred), $refused stopped at start-up with a clear message;" \
    "memory short from 3 points on: every message answered ($short deferred)"
