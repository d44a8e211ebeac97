#!/bin/sh
# tests/hardening/privacy.sh - no raw mail in the store (issue 6, privacy):
# after `spamshift learn` of every test message (both labels) and `spamshift
# adapt`, no Subject, sender address or body line of 12 or more characters of
# any learned message appears anywhere in the database files (main, -wal,
# -shm), only hashed features.  The user key itself is stored by design.
set -u
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
. "$top_srcdir/tests/lib.sh"
test_init privacy

"$cli" train -q -o "$tmp/model.bin" --ham "$data/ham" --spam "$data/spam" --seed 1 \
    >"$tmp/log" 2>&1 || { cat "$tmp/log"; echo "FAIL: train"; exit 1; }
"$cli" learn --db "$tmp/users.db" --user alice@example.org --spam "$data"/spam/*.eml \
    >>"$tmp/log" 2>&1 || { cat "$tmp/log"; echo "FAIL: learn spam"; exit 1; }
"$cli" learn --db "$tmp/users.db" --user alice@example.org --ham "$data"/ham/*.eml \
    >>"$tmp/log" 2>&1 || { cat "$tmp/log"; echo "FAIL: learn ham"; exit 1; }
"$cli" adapt -m "$tmp/model.bin" --db "$tmp/users.db" --user alice@example.org \
    >>"$tmp/log" 2>&1 || { cat "$tmp/log"; echo "FAIL: adapt"; exit 1; }

# Needles: each message's Subject and From values and its body lines of 12+
# characters (CR stripped).
for f in "$data"/spam/*.eml "$data"/ham/*.eml; do
    sed -n 's/^Subject: *//p; s/^From: *//p' "$f" | head -2
    awk 'body && length($0) >= 12 { print } /^\r?$/ { body = 1 }' "$f"
done | tr -d '\r' | awk 'length($0) >= 12' | sort -u >"$tmp/needles"
n=$(wc -l <"$tmp/needles")
[ "$n" -ge 50 ] || { echo "FAIL: only $n needles, want at least 50"; exit 1; }
cat "$tmp"/users.db* >"$tmp/all.bin"
[ -s "$tmp/all.bin" ] || { echo "FAIL: no database written"; exit 1; }
grep -q -a -F 'alice@example.org' "$tmp/all.bin" || { echo "FAIL: the check cannot see the user key"; exit 1; }
if grep -a -F -f "$tmp/needles" "$tmp/all.bin" >"$tmp/found"; then
    echo "FAIL: message text stored in the database:"
    grep -a -o -F -f "$tmp/needles" "$tmp/all.bin" | sort -u | head -5
    exit 1
fi
echo "PASS: privacy: none of $n message texts in $(wc -c <"$tmp/all.bin") bytes of store"
