#!/bin/bash
# two_refits.sh - end-to-end: two hosts' milters refitting the same dirty
# users at once on one PostgreSQL store (issue 17 item 3).  Two hosts
# (tests/e2e/lib-fleet.sh), each a spamshift-milter behind its own private
# Postfix, both with refit_interval = 1: each maintenance thread walks the
# dirty users every second, claiming each first (store_dirty_claim).  Twelve
# users learn (`spamshift learn --db PG`, as on the IMAP host: the probe spam
# and tests/milter/data/ham as ham, one transaction each) while both milters
# are stopped (SIGSTOP); both are continued at once, so that their refit walks
# run together.  Checks:
#   - both milters refitted some of the users (they ran at once);
#   - each user is refitted exactly once between the two milters: one
#     "refit USER:" line in the two logs together, and stats --json counts one
#     refit at version 1 for each, still so after three more rounds;
#   - both hosts end up scoring each user with that model: the probe through
#     A and through B carries the score `classify --user --db PG` prints
#     (bounded: 50 probes per user and host, all pairs at once);
# and prints how many refits each host made.
# Skips (77) unless root with postfix, swaks, the PostgreSQL server binaries
# and a build with PostgreSQL.
set -u
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
users=$(seq -f "u%g" 1 12)
fleet_users=$users
. "$top_srcdir/tests/e2e/lib-fleet.sh"
fleet_two two_refits refits "refit_interval = 1" "sync_interval = 1"

p=$data/probe-spam.eml
# Both milters stopped (SIGSTOP) while the users learn, then continued at
# once: each maintenance thread's wait has run out by then (more than
# refit_interval), so both walk the same dirty users at the same time.
kill -STOP "$mpid_A" "$mpid_B"
for u in $users; do
	"$cli" learn --db "$DB" --user "$u@example.org" --ham "$p" "$data"/ham/* \
		>"$tmp/learn-$u.out" 2>&1 || fail "learn $u: $(cat "$tmp/learn-$u.out")"
done
sleep 1.2
kill -CONT "$mpid_A" "$mpid_B"

# refits: "USER REFITS VERSION" for the eight users, from stats --json.
refits() {
	"$cli" stats --json --db "$DB" --since all 2>"$tmp/stats.out" | python3 -c '
import json, sys
for u in json.load(sys.stdin)["users"]:
    if u["user"].startswith("u"):
        print(u["user"], u["refits"], (u["last_refit"] or {}).get("version"))' | sort
}
want=$(for u in $users; do echo "$u@example.org 1 1"; done | sort)
i=0
until [ "$(refits)" = "$want" ]; do
	i=$((i + 1)); [ $i -le 60 ] || fail "refits after 30 s: $(refits | tr '\n' ' '), want one each at version 1"
	sleep 0.5
done
sleep 3         # three more rounds of each thread: nobody refits a user again
[ "$(refits)" = "$want" ] || fail "refits later: $(refits | tr '\n' ' '), want one each at version 1"
for u in $users; do
	n=$(cat "$tmp/A/milter.log" "$tmp/B/milter.log" | grep -c "refit $u@example.org: ")
	[ "$n" -eq 1 ] || fail "$u: $n refit lines in the two milter logs, want 1"
done
grep -q "refit .* failed" "$tmp/A/milter.log" "$tmp/B/milter.log" && fail "a refit failed"
na=$(grep -c "refit u[0-9]*@example.org: " "$tmp/A/milter.log")
nb=$(grep -c "refit u[0-9]*@example.org: " "$tmp/B/milter.log")

# Both hosts score each user with the published model, as classify does: the
# 24 (user, host) pairs at once, each probing until it does (the first copy a
# milter scores for a user not in its cache has the global head's score while
# the model loads: spamshift-milter(8)).
global=$("$cli" classify -m "$tmp/model.bin" "$p" | cut -f2)
pair() {        # pair USER H PORT: prints nothing when H scores USER as classify
	local d=$tmp/$2/mail/$1/new n=0 i new got want
	want=$("$cli" classify -m "$tmp/model.bin" --db "$DB" --user "$1@example.org" "$p" | cut -f2)
	[ "$want" != "$global" ] || { echo "$1: the refit did not change the probe's score ($want)"; return; }
	while :; do
		n=$((n + 1))
		ls "$d" 2>/dev/null | sort >"$tmp/seen-$1-$2"
		swaks --server 127.0.0.1 --port "$3" --helo client.e2e.test --from sender@example.net \
			--to "$1@example.org" --data "$p" >>"$tmp/swaks-$1-$2.log" 2>&1 ||
			{ echo "swaks: $1 through $2"; return; }
		i=0
		until new=$(ls "$d" 2>/dev/null | sort | comm -13 "$tmp/seen-$1-$2" -) && [ -n "$new" ]; do
			i=$((i + 1)); [ $i -le 200 ] || { echo "no delivery of the probe to $1 through $2"; return; }
			sleep 0.05
		done
		got=$(sed -n 's/^X-Spam-Score: //p' "$d/$new" | head -1)
		[ "$got" = "$want" ] && return
		[ $n -lt 50 ] || { echo "$1 through $2: X-Spam-Score $got, want classify --user's $want"; return; }
		sleep 0.1
	done
}
for u in $users; do
	pair "$u" A "$port_a" >"$tmp/pair-$u-A.res" &
	pair "$u" B "$port_b" >"$tmp/pair-$u-B.res" &
done
for j in $(jobs -p); do
	case " $mpid_A $mpid_B " in *" $j "*) ;; *) wait "$j" ;; esac
done
bad=$(cat "$tmp"/pair-*.res)
[ -z "$bad" ] || fail "$bad"
[ "$na" -gt 0 ] && [ "$nb" -gt 0 ] ||
	fail "one milter made all the refits (A $na, B $nb): they did not run at once"
echo "PASS: two_refits: 12 users refitted once each between the two milters (A $na, B $nb)," \
	"both scoring each with it (A port $port_a, B port $port_b)"
exit 0
