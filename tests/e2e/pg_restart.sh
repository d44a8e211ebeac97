#!/bin/bash
# pg_restart.sh - end-to-end: PostgreSQL stopped and restarted under load
# through a real Postfix (issue 17 item 5).  One host (tests/e2e/lib-fleet.sh):
# smtp-source -> private Postfix on 127.0.0.1 -> spamshift-milter (database =
# a throw-away cluster, on_error = tempfail; Postfix's milter_default_action =
# tempfail) -> a Maildir.  Messages go in batches of 10 (two sessions each) to
# bob while `spamshift learn` runs in a loop (one message for a new user each
# time); once a few batches are in, `pg_ctl stop -m fast`, 3 s down, start
# again; the load and the learns go on until 5 batches and 3 learns after
# the start (bounded: 60 batches, 60 learns).  Checks:
#   - every batch was accepted (smtp-source gives up on any reply but 2xx, so a
#     tempfail fails its batch) and some ran while the server was down;
#   - every message is delivered: after a queue flush the Maildir holds as
#     many as were sent (bounded wait), the queue is empty and the Postfix
#     log has no deferral;
#   - the milter log has exactly one "gone" and one "back" line;
#   - learns exited 0 or 75 (EX_TEMPFAIL) and nothing else, those that ran
#     while the server was down all 75 (at least one did), and every learn
#     that exited 0 is in the store afterwards (its user's learned_spam is 1);
#   - the scan records land after the restart: stats --json counts one scan
#     per message delivered (bounded wait);
#   - the milter is the process started first (same pid, alive, one start).
# Skips (77) unless root with postfix, swaks, the PostgreSQL server binaries
# and a build with PostgreSQL.
set -u
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
fleet_users=bob
. "$top_srcdir/tests/e2e/lib-fleet.sh"
fleet_require
command -v smtp-source >/dev/null 2>&1 || { echo "SKIP: smtp-source not installed"; exit 77; }
fleet_init pg_restart
fleet_ports 1
set -- $ports
port=$1
fleet_store restart
fleet_host_up A "$port" "on_error = tempfail" "refit_interval = 0" "sync_interval = 1" \
	"pid_file = $tmp/A/milter.pid"
pid0=$mpid_A
kill -0 "$pid0" || fail "the milter exited at start"
i=0
until [ -s "$tmp/A/milter.pid" ]; do
	i=$((i + 1)); [ $i -le 100 ] || fail "no pid file"; sleep 0.05
done
filepid0=$(cat "$tmp/A/milter.pid")

# Phases, as files the loops look at: resumed (the server is back).
# load: batches of 10 until 5 after the resume; "N START END RC" a line.
load() {
	local b=0 after=0 src t0 rc
	while [ $b -lt 60 ] && [ $after -lt 5 ]; do
		b=$((b + 1))
		[ -e "$tmp/resumed" ] && after=$((after + 1))
		if [ $((b % 2)) -eq 0 ]; then src=$corpus/ham/0$((b % 10)).eml
		else src=$corpus/spam/0$((b % 10)).eml; fi
		t0=$(now)
		smtp-source -4 -s 2 -m 10 -M client.e2e.test -f sender@example.net \
			-t bob@example.org -F "$src" "127.0.0.1:$port" >>"$tmp/load.out" 2>&1
		rc=$?
		echo "$b $t0 $(now) $rc" >>"$tmp/load.tsv"
		sleep 0.2
	done
}
# learns: one spam for user lK@example.org each, until 3 after the resume.
learns() {
	local k=0 after=0 t0 rc
	while [ $k -lt 60 ] && [ $after -lt 3 ]; do
		k=$((k + 1))
		[ -e "$tmp/resumed" ] && after=$((after + 1))
		t0=$(now)
		"$cli" learn --db "$DB" --user "l$k@example.org" --spam "$corpus/spam/0$((k % 10)).eml" \
			>/dev/null 2>>"$tmp/learn.out"
		rc=$?
		echo "$k $t0 $(now) $rc" >>"$tmp/learn.tsv"
		sleep 0.3
	done
}
: >"$tmp/load.tsv"
: >"$tmp/learn.tsv"
load &
lpid=$!
learns &
kpid=$!
# A few batches in, the server goes away.
i=0
until [ "$(wc -l <"$tmp/load.tsv")" -ge 4 ]; do
	i=$((i + 1)); [ $i -le 300 ] || fail "the load did not start (30 s)"; sleep 0.1
done
t_halt=$(now)
pg_cluster_halt fast || fail "pg_ctl stop -m fast"
t_down=$(now)
sleep 3
t_up0=$(now)
pg_cluster_resume || fail "pg_ctl start"
t_up=$(now)
touch "$tmp/resumed"
wait "$lpid"
wait "$kpid"

# Every batch accepted, some during the outage.
bad=$(awk '$4 != 0' "$tmp/load.tsv")
[ -z "$bad" ] || fail "batches refused (N START END RC): $bad"
sent=$(($(wc -l <"$tmp/load.tsv") * 10))
during=$(awk -v a="$t_down" -v b="$t_up0" '$2 >= a && $3 <= b' "$tmp/load.tsv" | wc -l)
[ "$during" -ge 1 ] || fail "no batch ran while the server was down (stopped $t_down, started $t_up0)"

# Every message delivered: flush the queue, wait (bounded: 60 s).
postqueue -c "$tmp/A/etc" -f 2>/dev/null
i=0
until [ "$(ls "$tmp/A/mail/bob/new" 2>/dev/null | wc -l)" -eq "$sent" ]; do
	i=$((i + 1))
	[ $i -le 600 ] || fail "delivered $(ls "$tmp/A/mail/bob/new" | wc -l), want $sent"
	sleep 0.1
done
i=0
until postqueue -c "$tmp/A/etc" -p 2>&1 | grep -q "Mail queue is empty"; do
	i=$((i + 1)); [ $i -le 100 ] || fail "the queue is not empty: $(postqueue -c "$tmp/A/etc" -p)"
	sleep 0.1
done
! grep -Eq 'status=deferred|milter-reject|4\.[0-9]\.[0-9] ' "$tmp/A/maillog" ||
	fail "deferred or refused in the Postfix log: $(grep -E 'status=deferred|milter-reject|4\.[0-9]\.[0-9] ' "$tmp/A/maillog" | head -3)"

# One gone line, one back line.
n=$(grep -Ec 'the database server is gone: .*reconnecting with backoff' "$tmp/A/milter.log")
[ "$n" -eq 1 ] || fail "$n 'database server is gone' lines in the milter log, want 1"
n=$(grep -Ec 'the database server is back after [0-9.]+ s' "$tmp/A/milter.log")
[ "$n" -eq 1 ] || fail "$n 'database server is back' lines in the milter log, want 1"

# Learns: 0 or 75 only; 75 while down; the acknowledged ones in the store.
bad=$(awk '$4 != 0 && $4 != 75' "$tmp/learn.tsv")
[ -z "$bad" ] || fail "learns exited other than 0 or 75 (K START END RC): $bad"
down=$(awk -v a="$t_down" -v b="$t_up0" '$2 >= a && $3 <= b' "$tmp/learn.tsv")
[ -n "$down" ] || fail "no learn ran while the server was down"
bad=$(echo "$down" | awk '$4 != 75')
[ -z "$bad" ] || fail "learns while the server was down exited other than 75: $bad"
acked=$(awk '$4 == 0 { print $1 }' "$tmp/learn.tsv")
[ "$(echo "$acked" | grep -c .)" -ge 2 ] || fail "fewer than 2 learns acknowledged: $(cat "$tmp/learn.tsv")"
"$cli" stats --json --db "$DB" --since all >"$tmp/stats.json" 2>"$tmp/stats.out" ||
	fail "stats --json after the restart"
echo "$acked" | python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
have = {u["user"]: u.get("learned_spam", 0) for u in d["users"]}
lost = [k for k in sys.stdin.read().split()
        if have.get("l%s@example.org" % k, 0) != 1]
if lost:
    print("acknowledged learns missing from the store (learned_spam != 1):", lost)
    sys.exit(1)' "$tmp/stats.json" >&2 || fail "acknowledged learns lost"

# The scan records land: one per message (bounded: 60 s).
scanned() {
	"$cli" stats --json --db "$DB" --since all --user bob@example.org 2>/dev/null |
		python3 -c 'import json,sys; print(sum(u["scanned"] for u in json.load(sys.stdin)["users"]))'
}
i=0
until [ "$(scanned)" = "$sent" ]; do
	i=$((i + 1)); [ $i -le 120 ] || fail "bob's scans: $(scanned), want $sent"
	sleep 0.5
done
t_land=$(now)

# The same milter throughout.
kill -0 "$pid0" 2>/dev/null || fail "the milter (pid $pid0) is gone"
[ "$(cat "$tmp/A/milter.pid")" = "$filepid0" ] || fail "the pid file changed: $(cat "$tmp/A/milter.pid"), was $filepid0"
[ "$filepid0" = "$pid0" ] || fail "pid file $filepid0, started $pid0"

nl=$(wc -l <"$tmp/learn.tsv")
n75=$(awk '$4 == 75' "$tmp/learn.tsv" | wc -l)
awk -v h="$t_halt" -v d="$t_down" -v u0="$t_up0" -v u="$t_up" -v l="$t_land" \
	-v s="$sent" -v g="$during" -v nl="$nl" -v n75="$n75" 'BEGIN {
	printf "PASS: pg_restart: %d messages delivered (%d batches of 10 while down), ", s, g
	printf "%d learns (%d exit 75, the rest acknowledged and kept); stop took %.1f s, ", nl, n75, d - h
	printf "start %.1f s; scans all counted %.1f s after the start\n", u - u0, l - u }'
exit 0
