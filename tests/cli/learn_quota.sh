#!/bin/sh
# tests/cli/learn_quota.sh - the per-user feedback quota's knob (issue 6, item
# 5): `spamshift learn --db DB --quota N` sets it in the store, trims every
# user to their N most recently learned messages at once and says how many it
# dropped; later learns keep each user within it (the newest stay); the quota
# persists; bad values are usage errors.
set -u
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
. "$top_srcdir/tests/lib.sh"
test_init quota
db=$tmp/users.db
rows() { sqlite3 "$db" "SELECT count(*) FROM feedback f JOIN users u ON f.user_id = u.id WHERE u.key = '$1'"; }

"$cli" learn --db "$db" --user alice@example.org --spam "$data"/spam/*.eml >/dev/null || fail "learn alice"
"$cli" learn --db "$db" --user bob@example.org --ham "$data"/ham/*.eml >/dev/null || fail "learn bob"
[ "$(rows alice@example.org)" = 12 ] && [ "$(rows bob@example.org)" = 12 ] || fail "12 rows each before"

# The quota alone: both users trimmed to 5 at once.
out=$("$cli" learn --db "$db" --quota 5) || fail "learn --quota 5 exit $?"
[ "$out" = "feedback quota 5 per user (was 20000); dropped 14 oldest feedback" ] ||
    fail "learn --quota 5: got '$out', want 'feedback quota 5 per user (was 20000); dropped 14 oldest feedback'"
[ "$(rows alice@example.org)" = 5 ] || fail "alice after --quota 5: $(rows alice@example.org) rows, want 5"
[ "$(rows bob@example.org)" = 5 ] || fail "bob after --quota 5: $(rows bob@example.org) rows, want 5"

# Later learns stay within it, newest kept: learn 3 ham for alice (new rows),
# then those 3 again come back unchanged (kept), and she still has 5.
sleep 1     # rows are ordered by the second they were updated
out=$("$cli" learn --db "$db" --user alice@example.org --ham "$data"/ham/0[0-2].eml) || fail "learn 3"
echo "$out" | grep -qx 'dropped 3 oldest feedback (quota 5 per user)' ||
    fail "learn 3 more: got '$out', want a 'dropped 3 oldest feedback (quota 5 per user)' line"
[ "$(rows alice@example.org)" = 5 ] || fail "alice after 3 more: $(rows alice@example.org) rows, want 5"
out=$("$cli" learn --db "$db" --user alice@example.org --ham "$data"/ham/0[0-2].eml)
echo "$out" | grep -qx 'learned 0, moved 0, unchanged 3, forgotten 0' ||
    fail "the 3 newest were not kept: '$out'"

# Persisted in the store (meta), and set together with learning.
[ "$(sqlite3 "$db" "SELECT value FROM meta WHERE key = 'feedback_max'")" = 5 ] || fail "quota not stored"
out=$("$cli" learn --db "$db" --user carol@example.org --spam --quota 8 "$data"/spam/*.eml) ||
    fail "learn with --quota 8 exit $?"
echo "$out" | grep -q '^feedback quota 8 per user (was 5); dropped 0 oldest feedback$' ||
    fail "--quota with learning: '$out'"
[ "$(rows carol@example.org)" = 8 ] || fail "carol: $(rows carol@example.org) rows, want 8"

# Usage errors (64), the store untouched.
for bad in 0 -1 99999999; do
    "$cli" learn --db "$db" --quota "$bad" >/dev/null 2>"$tmp/err"
    rc=$?
    [ $rc -eq 64 ] && grep -q 'quota must be' "$tmp/err" || fail "--quota $bad: exit $rc: $(cat "$tmp/err")"
done
"$cli" learn --db "$db" --quota 3 "$data/spam/00.eml" >/dev/null 2>"$tmp/err"
[ $? -eq 64 ] || fail "--quota with a message and no --user: want exit 64"
[ "$(sqlite3 "$db" "SELECT value FROM meta WHERE key = 'feedback_max'")" = 8 ] || fail "a bad --quota changed the store"
[ $fails -eq 0 ] || exit 1
echo "PASS: learn --quota"
