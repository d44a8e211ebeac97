#!/bin/bash
# bench/soak/run.sh - bounded soak of spamshift-milter (issue 6, item 6):
# -s concurrent miltertest sessions (default 50) send the test messages to 20
# users with a per-user store for -d seconds (default 600), while `spamshift
# learn` teaches those users (one message every second, alternating labels)
# and the milter refits dirty users every 30 s.  Measures: messages sent,
# answered and logged (0 lost = all three equal), the milter's RSS (VmRSS and
# RssAnon) every 5 s, and the end-of-message latency (elapsed_ms from the
# milter's log) p50/p99 per minute.  Writes Markdown to -o (default stdout).
#
#   bench/soak/run.sh -B BUILDDIR [-d SECONDS] [-s SESSIONS] [-p PAUSE] [-o RESULT.md]
#
# Each session waits PAUSE seconds (default 0.5) between messages, so that 50
# sessions offer a steady load (about 100 msg/s) instead of saturating the
# machine's shared cores.
# Everything runs under nice; needs miltertest.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
builddir= dur=600 sessions=50 out=/dev/stdout pause=0.5
while getopts "B:d:s:o:p:" o; do
	case $o in
	B) builddir=$OPTARG ;; d) dur=$OPTARG ;; s) sessions=$OPTARG ;; o) out=$OPTARG ;;
	p) pause=$OPTARG ;;
	*) echo "usage: $0 -B BUILDDIR [-d SECONDS] [-s SESSIONS] [-o OUT]" >&2; exit 64 ;;
	esac
done
[ -n "$builddir" ] || { echo "need -B BUILDDIR" >&2; exit 64; }
command -v miltertest >/dev/null || { echo "miltertest not installed" >&2; exit 77; }
cli=$builddir/spamshift milter=$builddir/spamshift-milter data=$top/tests/milter/data
NICE="nice -n 10"
tmp=$(mktemp -d /tmp/spamshift-soak.XXXXXX)
mpid=
cleanup() {
	[ -n "$mpid" ] && kill "$mpid" 2>/dev/null
	jobs -p | xargs -r kill 2>/dev/null || true
	[ -n "${KEEP:-}" ] || rm -rf "$tmp"
}
trap cleanup EXIT

"$cli" train -q -o "$tmp/model.bin" --ham "$data/ham" --spam "$data/spam" --seed 1
"$cli" learn --db "$tmp/users.db" --user user00@example.org --ham "$data/ham/00.eml" >/dev/null
cat >"$tmp/spamshift.conf" <<EOC
socket = unix:$tmp/milter.sock
model = $tmp/model.bin
database = $tmp/users.db
refit_interval = 30
on_error = tempfail
log_target = stderr
log_level = info
EOC
$NICE "$milter" -f -c "$tmp/spamshift.conf" 2>"$tmp/milter.log" &
mpid=$!
for _ in $(seq 100); do [ -S "$tmp/milter.sock" ] && break; sleep 0.1; done
[ -S "$tmp/milter.sock" ] || { cat "$tmp/milter.log"; echo "milter did not start" >&2; exit 1; }

start=$(date +%s)
deadline=$((start + dur))
for i in $(seq -w 1 "$sessions"); do
	$NICE miltertest -s "$here/session.lua" -D socket="unix:$tmp/milter.sock" \
		-D datadir="$data" -D srcdir="$top/tests/milter" -D deadline="$deadline" \
		-D id="$i" -D pause="$pause" >"$tmp/session.$i" 2>&1 &
done
# Learners: one message a second, rotating users and labels.
(
	k=0
	while [ "$(date +%s)" -lt "$deadline" ]; do
		k=$((k + 1))
		u=$(printf 'user%02d@example.org' $((k % 20)))
		if [ $((k % 2)) -eq 0 ]; then lab=--spam f=$data/spam/$(printf %02d $((k % 12))).eml
		else lab=--ham f=$data/ham/$(printf %02d $((k % 12))).eml; fi
		if $NICE "$cli" learn --db "$tmp/users.db" --user "$u" $lab "$f" >/dev/null 2>>"$tmp/learn.err"
		then echo ok; else echo fail; fi
		sleep 1
	done >"$tmp/learn.out"
) &
# RSS sampler.
(
	while [ "$(date +%s)" -lt "$deadline" ]; do
		echo "$(( $(date +%s) - start )) $(awk '/^VmRSS/ { r = $2 } /^RssAnon/ { a = $2 } END { print r, a }' /proc/$mpid/status)"
		sleep 5
	done >"$tmp/rss"
) &
sleep "$dur"
sleep 5
wait_sessions=0
while [ "$(ls "$tmp"/session.* | xargs grep -l '^session ' 2>/dev/null | wc -l)" -lt "$sessions" ] \
	&& [ $wait_sessions -lt 60 ]; do
	sleep 1; wait_sessions=$((wait_sessions + 1))
done
sleep 2
kill -TERM "$mpid"; wait "$mpid" || true; mpid=

sent=$(cat "$tmp"/session.* | awk '/^session / { s += $4 } END { print s + 0 }')
answered=$(cat "$tmp"/session.* | awk '/^session / { s += $6 } END { print s + 0 }')
ended=$(cat "$tmp"/session.* | grep -c '^session ' || true)
lostlines=$(cat "$tmp"/session.* | grep -c '^LOST' || true)
logged=$(grep -cE ': S[0-9]+M[0-9]+: rcpts=' "$tmp/milter.log" || true)
learn_ok=$(grep -c ok "$tmp/learn.out" || true)
learn_fail=$(grep -c fail "$tmp/learn.out" || true)
refits=$(grep -c 'refit' "$tmp/milter.log" || true)
san=$(grep -cE 'runtime error:|AddressSanitizer|LeakSanitizer' "$tmp/milter.log" || true)
{
	echo "# Soak: $sessions sessions, ${dur} s, learn once a second ($(date -u +%Y-%m-%d))"
	echo
	echo "Command: \`bench/soak/run.sh -B BUILDDIR -d $dur -s $sessions -p $pause\`; machine: $(nproc) cores,"
	echo "shared with other work (load before: see below), everything under nice."
	echo
	echo "| what | value |"
	echo "| --- | ---: |"
	echo "| sessions that ran to the end | $ended / $sessions |"
	echo "| messages sent | $sent |"
	echo "| messages answered (ACCEPT or 451) | $answered |"
	echo "| messages logged by the milter | $logged |"
	echo "| lost (sent - answered) | $((sent - answered)) ($lostlines LOST lines) |"
	echo "| throughput | $(awk -v n="$answered" -v d="$dur" 'BEGIN { printf "%.1f msg/s", n / d }') |"
	echo "| learn commands ok / failed | $learn_ok / $learn_fail |"
	echo "| milter log lines mentioning refit | $refits |"
	echo "| sanitizer lines in the milter log | $san |"
	echo
	echo "RSS of the milter (KB) every minute:"
	echo
	echo "| t (s) | VmRSS | RssAnon |"
	echo "| ---: | ---: | ---: |"
	awk '$1 % 60 < 5 { print "| " $1 " | " $2 " | " $3 " |" }' "$tmp/rss"
	echo
	echo "End-of-message latency per minute (elapsed_ms in the milter's log):"
	echo
	echo "| minute | messages | p50 ms | p99 ms | max ms |"
	echo "| ---: | ---: | ---: | ---: | ---: |"
	# Log lines carry no time stamp with log_target = stderr: minutes are
	# counted by line order against the total, proportionally.
	grep -E ': S[0-9]+M[0-9]+: rcpts=' "$tmp/milter.log" | sed -n 's/.*elapsed_ms=\([0-9.]*\).*/\1/p' \
		>"$tmp/lat"
	total=$(wc -l <"$tmp/lat")
	mins=$(( (dur + 59) / 60 ))
	for m in $(seq 0 $((mins - 1))); do
		from=$((m * total / mins + 1)) to=$(((m + 1) * total / mins))
		sed -n "${from},${to}p" "$tmp/lat" | sort -n | awk -v m="$((m + 1))" '
			{ v[NR] = $1 }
			END {
				if (NR == 0) exit
				a = int(NR * 0.5) + 1; if (a > NR) a = NR
				b = int(NR * 0.99) + 1; if (b > NR) b = NR
				printf "| %d | %d | %.2f | %.2f | %.2f |\n", m, NR, v[a], v[b], v[NR]
			}'
	done
	echo
	echo "Load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)."
	if [ -s "$tmp/learn.err" ]; then
		echo; echo "learn errors (first 3):"; echo; head -3 "$tmp/learn.err" | sed 's/^/    /'
	fi
	if [ "$lostlines" -gt 0 ]; then
		echo; echo "Lost (first 3):"; echo; cat "$tmp"/session.* | grep '^LOST' | head -3 | sed 's/^/    /'
	fi
} >"$out"
