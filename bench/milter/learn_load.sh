#!/bin/bash
# learn_load.sh - does `spamshift learn` get the store while the milter's
# writer is saturated?  (issue 6: under full load the writer's back-to-back
# transactions held the write lock and learn timed out.)
#
#   bench/milter/learn_load.sh BUILDDIR [MESSAGES_PER_CLIENT]   (default 4000)
#
# Starts BUILDDIR's spamshift-milter with a store, floods it from two
# miltertest clients (bench/milter/flood.lua: ten recipients a message, so the
# writer gets far more operations than it can commit), and runs one
# `spamshift learn` (one message, default 5 s busy timeout) a second while the
# flood lasts.  Prints each learn's exit status and wall time, the flood's
# wall time and the milter's CPU (utime + stime ticks).  Wall times are those
# of a shared machine; the learn outcomes are the point.
set -u
B=${1:?usage: learn_load.sh BUILDDIR [MESSAGES]}
N=${2:-4000}
here=$(cd "$(dirname "$0")" && pwd)
D=$here/../../tests/milter/data
T=$(mktemp -d /tmp/spamshift-learnload.XXXXXX)
mp=
trap '[ -n "$mp" ] && kill $mp 2>/dev/null; rm -rf "$T"' EXIT
"$B/spamshift" train -q -o "$T/model.bin" --ham "$D/ham" --spam "$D/spam" --seed 1
"$B/spamshift" learn --db "$T/users.db" --user carol@example.org --ham "$D"/spam/*.eml >/dev/null
cat >"$T/m.conf" <<EOC
socket = unix:$T/m.sock
model = $T/model.bin
log_target = stderr
log_level = notice
database = $T/users.db
EOC
"$B/spamshift-milter" -f -c "$T/m.conf" 2>"$T/milter.log" &
mp=$!
while [ ! -S "$T/m.sock" ]; do sleep 0.05; done
s0=$(awk '{print $14 + $15}' "/proc/$mp/stat")
fl=
for tag in a b; do
	miltertest -s "$here/flood.lua" -D socket="unix:$T/m.sock" -D datadir="$D" \
		-D srcdir="$here/../../tests/milter" -D tag=$tag -D count="$N" >"$T/flood-$tag.out" 2>&1 &
	fl="$fl $!"
done
t0=$(date +%s.%N)
i=0
while kill -0 $fl 2>/dev/null && [ $i -lt 120 ]; do
	sleep 1
	i=$((i + 1))
	a=$(date +%s.%N)
	"$B/spamshift" learn --db "$T/users.db" --user "z$i@example.org" --spam \
		"$D/spam/0$((i % 10)).eml" >/dev/null 2>"$T/learn.err"
	rc=$?
	b=$(date +%s.%N)
	printf 'learn %d: exit %d after %.3f s %s\n' $i $rc "$(echo "$b - $a" | bc)" \
		"$(head -1 "$T/learn.err" | cut -c1-110)"
done
wait $fl
t1=$(date +%s.%N)
s1=$(awk '{print $14 + $15}' "/proc/$mp/stat")
printf 'flood: %d messages x 10 recipients in %.2f s; milter CPU %d ticks; client failures %d\n' \
	$((2 * N)) "$(echo "$t1 - $t0" | bc)" $((s1 - s0)) "$(cat "$T"/flood-*.out | grep -c FAIL)"
