#!/bin/sh
# tests/cli/user_threshold.sh - `spamshift user`: a user's own spam threshold
# set, shown, listed and cleared in the store, bad values refused as usage
# errors, and `spamshift classify --user` saying spam at or above the user's
# threshold instead of the model's (tests/milter/user_threshold.lua checks the
# milter).
set -u
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
. "$top_srcdir/tests/lib.sh"
test_init userthr
db=$tmp/users.db
tab=$(printf '\t')

"$cli" train -q -o "$tmp/model.bin" --ham "$data/ham" --spam "$data/spam" --seed 1 \
	>/dev/null 2>&1 || { echo "FAIL: train"; exit 1; }

# Set (the key as the milter derives it), show, list.
out=$("$cli" user --db "$db" --user Carol+x@Example.org --spam-threshold 0.999) || fail "set exit $?"
[ "$out" = "carol@example.org${tab}spam_threshold${tab}0.999000" ] || fail "set: got '$out'"
"$cli" user --db "$db" --user bob@example.org --spam-threshold 0.25 >/dev/null || fail "set bob"
out=$("$cli" user --db "$db" --user dave@example.org) || fail "show exit $?"
[ "$out" = "dave@example.org${tab}spam_threshold${tab}-" ] || fail "show unset: got '$out'"
out=$("$cli" user --db "$db" | tr '\t\n' ' ;')
[ "$out" = "bob@example.org spam_threshold 0.250000;carol@example.org spam_threshold 0.999000;" ] ||
	fail "list: got '$out'"

# Bad values and combinations are usage errors and change nothing.
for args in "--spam-threshold 0" "--spam-threshold 1" "--spam-threshold -0.5" \
	"--spam-threshold x" "--spam-threshold 0.5 --clear-spam-threshold"; do
	# shellcheck disable=SC2086
	"$cli" user --db "$db" --user carol@example.org $args >/dev/null 2>&1
	rc=$?
	[ $rc -eq 64 ] || fail "user $args: exit $rc, want 64"
done
"$cli" user --db "$db" --spam-threshold 0.5 >/dev/null 2>&1
[ $? -eq 64 ] || fail "--spam-threshold without --user: want exit 64"

# classify --user: the spam probe (about 0.99) is ham for carol (0.999), spam
# for bob (0.25) and for a user without a threshold (the model's).
verdict() { "$cli" classify -m "$tmp/model.bin" --db "$db" --user "$1" "$2" | cut -f3; }
[ "$(verdict carol@example.org "$data/probe-spam.eml")" = ham ] || fail "carol: spam probe not ham"
[ "$(verdict erin@example.org "$data/probe-spam.eml")" = spam ] || fail "erin: spam probe not spam"
[ "$(verdict bob@example.org "$data/probe-spam.eml")" = spam ] || fail "bob: spam probe not spam"
json=$("$cli" classify -m "$tmp/model.bin" --db "$db" --user carol@example.org --json \
	"$data/probe-spam.eml")
echo "$json" | grep -q '"verdict":"ham","threshold":0.999000' || fail "carol JSON: $json"

# Cleared: carol is back on the model's threshold.
out=$("$cli" user --db "$db" --user carol@example.org --clear-spam-threshold) || fail "clear exit $?"
[ "$out" = "carol@example.org${tab}spam_threshold${tab}-" ] || fail "clear: got '$out'"
[ "$(verdict carol@example.org "$data/probe-spam.eml")" = spam ] || fail "carol after clear: not spam"

[ $fails -eq 0 ] || exit 1
echo "PASS: user_threshold"
