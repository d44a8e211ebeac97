#!/bin/bash
# two_hosts.sh - end-to-end: a fleet of two MX hosts on one PostgreSQL store
# (issue 17, items 3 and 5).  One throw-away cluster (tests/pg_cluster.sh),
# two spamshift-milter processes on two sockets, each behind its own private
# Postfix instance (scripts/private-postfix.sh: host A and host B, each with its
# own config, queue, log and Maildirs, smtpd on two ports of 127.0.0.1).
# Checks:
#   1. before any learn, the probe spam through B is flagged for bob, with the
#      score and verdict `classify --user --db PG` gives;
#   2. a learn (`spamshift learn --db PG`, as on the IMAP host) plus
#      `spamshift adapt --user bob` changes bob's verdict on host B: the copy
#      delivered through B loses X-Spam-Flag and carries the score `classify
#      --user bob --db PG` prints, and so does the copy through A.  The time
#      from adapt's exit to B scoring with the new version is measured (probes
#      sent through B every 0.1 s) and printed as "propagation";
#   3. both milters write at once: 20 distinct messages through A and 20
#      through B, sent concurrently, each to carol and dave; then `stats --json
#      --db PG` counts 40 scanned for each and the reservoirs hold 40 samples
#      each (`adapt --dry-run --json`'s unlabelled), nothing lost or doubled;
#   4. two `adapt --all` runs at once (two hosts' refits) refit each of six
#      dirty users once between them (claims): 6 published in all, every
#      user's head at version 1 with one refit.
# Skips (77) unless root with postfix, swaks, the PostgreSQL server binaries
# and a build with PostgreSQL.
set -u
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
. "$top_srcdir/tests/e2e/lib-fleet.sh"
fleet_two two_hosts fleet "refit_interval = 0" "sync_interval = 1"

send() {        # send FILE RCPTS PORT
	swaks --server 127.0.0.1 --port "$3" --helo client.e2e.test \
		--from sender@example.net --to "$2" --data "$1" >>"$tmp/swaks.out" 2>&1
}
delivered() {   # delivered H USER MESSAGE-ID: the file of USER's copy through H
	grep -l "^Message-ID: <$3>" "$tmp/$1/mail/$2/new/"* 2>/dev/null | head -1
}
wait_copy() {   # wait_copy H USER MESSAGE-ID: prints the file once delivered
	local i=0 f
	until f=$(delivered "$1" "$2" "$3") && [ -n "$f" ]; do
		i=$((i + 1)); [ $i -le 200 ] || fail "no delivery of <$3> to $2 through $1 after 20 s"
		sleep 0.1
	done
	echo "$f"
}
# The probe: the same bytes every time (a per-user model can weigh any token,
# the Message-ID's too, so classify must see what the milters saw); its copies
# are told apart by arrival, one send at a time.
p=$data/probe-spam.eml
send_probe() {  # send_probe H PORT: bob's new copy through H (its file)
	ls "$tmp/$1/mail/bob/new" 2>/dev/null | sort >"$tmp/seen.$1"
	local i=0 new
	send "$p" bob@example.org "$2" || fail "swaks: probe through $1"
	now >"$tmp/t.smtp"      # the milter has scored it: smtpd waits for its answer
	while :; do
		new=$(ls "$tmp/$1/mail/bob/new" 2>/dev/null | sort | comm -13 "$tmp/seen.$1" -)
		[ -n "$new" ] && break
		i=$((i + 1)); [ $i -le 200 ] || fail "no delivery of the probe to bob through $1 after 20 s"
		sleep 0.05
	done
	echo "$tmp/$1/mail/bob/new/$new"
}
score_of() { sed -n 's/^X-Spam-Score: //p' "$1" | head -1; }
# classify's score and verdict for bob on the store: "SCORE VERDICT".
classify_bob() {
	"$cli" classify -m "$tmp/model.bin" --db "$DB" --user bob@example.org "$1" \
		| awk -F'\t' '{ print $2, $3 }'
}
# A delivered copy agrees with classify: the same score, flagged iff spam.
agrees() {      # agrees FILE "SCORE VERDICT" WHAT
	got=$(score_of "$1")
	set -- "$1" $2 "$3"
	[ "$got" = "$2" ] || fail "$4: X-Spam-Score $got, want classify --user's $2"
	if [ "$3" = spam ]; then
		grep -q "^X-Spam-Flag: YES" "$1" || fail "$4: classify says spam, copy not flagged"
	else
		grep -q "^X-Spam-Flag" "$1" && fail "$4: classify says $3, copy flagged"
	fi
	return 0
}

# 1. Before: bob's probe through B is spam, as classify --user says.
want=$(classify_bob "$p")
case $want in *" spam") ;; *) fail "the probe is not spam for bob before learning: $want" ;; esac
f=$(send_probe B "$port_b") || exit 1
agrees "$f" "$want" "before, through B"

# 2. Learn (on "the IMAP host") and adapt; B must follow.
"$cli" learn --db "$DB" --user bob@example.org --ham "$data/probe-spam.eml" "$data"/spam/* \
	>"$tmp/learn.out" 2>&1 || { cat "$tmp/learn.out"; fail "spamshift learn --db PG"; }
"$cli" adapt -m "$tmp/model.bin" --db "$DB" --user bob@example.org >"$tmp/adapt.out" 2>&1 \
	|| { cat "$tmp/adapt.out"; fail "spamshift adapt --user bob"; }
t0=$(now)
want=$(classify_bob "$p")
case $want in *" spam") fail "learning did not change bob's verdict in classify: $want" ;; esac
newscore=${want% *}
# Probes through B until one is scored with the new model (bounded: 10 s).
n=0 tprev=$t0 tgot=
while [ $n -lt 100 ]; do
	n=$((n + 1))
	tstart=$(now)
	f=$(send_probe B "$port_b") || exit 1
	if [ "$(score_of "$f")" = "$newscore" ]; then tgot=$(cat "$tmp/t.smtp"); break; fi
	tprev=$tstart
	sleep 0.1
done
[ -n "$tgot" ] || fail "B never scored bob with the new model (100 probes, last $(score_of "$f"), want $newscore)"
agrees "$f" "$want" "after adapt, through B"
prop=$(awk -v a="$t0" -v b="$tgot" -v p="$tprev" \
	'BEGIN { lo = p - a; if (lo < 0) lo = 0
		printf "%.2f s (at most; at least %.2f s; probe %d through B)", b - a, lo, '"$n"' }')
# And A scores bob the same way.  A has not scored bob since it started: its
# first message for him is scored with the global head while his model loads
# (spamshift-milter(8)), so probe until A holds it (bounded: 5 s).
n=0
while :; do
	n=$((n + 1))
	f=$(send_probe A "$port_a") || exit 1
	[ "$(score_of "$f")" = "$newscore" ] && break
	[ $n -lt 50 ] || fail "A never scored bob with the new model (last $(score_of "$f"), want $newscore)"
	sleep 0.1
done
agrees "$f" "$want" "after adapt, through A"

# 3. Both milters write at once: 20 distinct messages each, to carol and dave.
load() {        # load H PORT FROM: 20 messages numbered FROM.. through H
	local i src
	for i in $(seq "$3" $(($3 + 19))); do
		src=$(ls "$corpus"/ham/*.eml "$corpus"/spam/*.eml | sed -n "$((i % 24 + 1))p")
		awk -v id="load$i@e2e.test" -v i="$i" '
			/^Message-ID:/ && !m { print "Message-ID: <" id ">"; m = 1; next }
			/^\r?$/ && !b { if (!m) print "Message-ID: <" id ">"; b = 1 }
			{ print } END { print ""; print "load sample " i " of the two-host test" }' \
			"$src" >"$tmp/load$i.eml"
		send "$tmp/load$i.eml" carol@example.org,dave@example.org "$2" || echo "send $i failed"
	done >"$tmp/load-$1.out" 2>&1
}
load A "$port_a" 0 &
la=$!
load B "$port_b" 20 &
lb=$!
wait "$la" "$lb"
grep -q failed "$tmp/load-A.out" "$tmp/load-B.out" && fail "a load message was refused"
for j in $(seq 0 39); do
	h=A; [ "$j" -ge 20 ] && h=B
	wait_copy "$h" carol "load$j@e2e.test" >/dev/null || exit 1
	wait_copy "$h" dave "load$j@e2e.test" >/dev/null || exit 1
done
# The writers flush within a second or two; wait (bounded) for the counts.
counts() {      # counts USER: "SCANNED UNLABELLED"
	sc=$("$cli" stats --json --db "$DB" --since all --user "$1" 2>/dev/null \
		| python3 -c 'import json,sys; d=json.load(sys.stdin); print(sum(u["scanned"] for u in d["users"]))')
	un=$("$cli" adapt -m "$tmp/model.bin" --db "$DB" --user "$1" --dry-run --json 2>/dev/null \
		| python3 -c 'import json,sys; print(json.loads(sys.stdin.readline())["unlabelled"])')
	echo "$sc $un"
}
for u in carol@example.org dave@example.org; do
	i=0
	until [ "$(counts "$u")" = "40 40" ]; do
		i=$((i + 1)); [ $i -le 50 ] || fail "$u: scanned/reservoir $(counts "$u"), want 40 40"
		sleep 0.2
	done
done

# 4. Two hosts' adapt --all at once: each dirty user refitted once.
for k in 1 2 3 4 5 6; do
	"$cli" learn --db "$DB" --user "u$k@example.org" --spam "$corpus/spam/0$k.eml" \
		>>"$tmp/learn6.out" 2>&1 || fail "learn u$k"
done
"$cli" adapt -m "$tmp/model.bin" --db "$DB" --all --json >"$tmp/all1.out" 2>&1 &
a1=$!
"$cli" adapt -m "$tmp/model.bin" --db "$DB" --all --json >"$tmp/all2.out" 2>&1 &
a2=$!
wait "$a1" || fail "adapt --all (1): $(tail -2 "$tmp/all1.out")"
wait "$a2" || fail "adapt --all (2): $(tail -2 "$tmp/all2.out")"
pub=$(cat "$tmp/all1.out" "$tmp/all2.out" | grep -c '"result":"published"')
# bob, carol and dave are not dirty (bob published; 40 < 200 samples): the six.
[ "$pub" -eq 6 ] || fail "two adapt --all runs published $pub refits, want 6 (one per dirty user)"
"$cli" stats --json --db "$DB" --since all >"$tmp/stats.json" || fail "stats --json"
python3 - "$tmp/stats.json" <<'EOP' || fail "refits per user: see above"
import json, sys
d = json.load(open(sys.argv[1]))
bad = [(u["user"], u["refits"], (u["last_refit"] or {}).get("version"))
       for u in d["users"] if u["user"].startswith("u")
       and (u["refits"] != 1 or u["last_refit"]["version"] != 1)]
n = sum(1 for u in d["users"] if u["user"].startswith("u"))
if bad or n != 6:
    print("want 6 users refitted once at version 1, got", n, "users; bad:", bad)
    sys.exit(1)
EOP

echo "propagation (adapt --user exit to host B scoring with the new version, sync_interval 1): $prop"
echo "PASS: two_hosts (A port $port_a, B port $port_b; bob's probe ${want})"
exit 0
