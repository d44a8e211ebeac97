#!/bin/sh
# tests/cli/learn_adapt.sh - `spamshift learn` and `spamshift adapt` end to end on
# the fixture corpus: what learn reports (learn, relearn, move, forget), digests
# that ignore transit headers, stdin and mbox input, user keys as the milter makes
# them, adapt --user/--all/--dry-run, dirty users (feedback and unlabelled mail),
# one user's feedback never touching another's model, and the exit codes.
set -u
: "${top_srcdir:?}" "${top_builddir:?}"
SS="$top_builddir/spamshift"
TOOL="$top_builddir/tests/cli/store_tool"
DATA="$top_srcdir/tests/data/corpus"
T=$(mktemp -d /tmp/spamshift-learn-XXXXXX)
trap 'rm -rf "$T"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
ok() { echo "ok: $*"; }
DB="$T/u.db"

# expect NAME WANT-EXIT WANT-LAST-LINE command...: run, check exit and last stdout line.
expect() {
    name=$1 want_rc=$2 want=$3
    shift 3
    "$@" > "$T/out" 2> "$T/err"
    rc=$?
    got=$(tail -1 "$T/out")
    if [ "$rc" -ne "$want_rc" ]; then
        fail "$name: exit $rc, want $want_rc ($(cat "$T/err"))"
    elif [ -n "$want" ] && [ "$got" != "$want" ]; then
        fail "$name: got \"$got\", want \"$want\""
    else
        ok "$name"
    fi
}
state() { "$TOOL" state "$DB" "$1"; }

"$SS" train -q -o "$T/m" --ham "$DATA/ham" --spam "$DATA/spam" --seed 3 \
    || { echo "FAIL: cannot train the fixture model"; exit 1; }

# ---- learn: sa-learn semantics ----
expect "learn 12 spam" 0 "learned 12, moved 0, unchanged 0, forgotten 0" \
    "$SS" learn --db "$DB" --user alice@example.org --spam "$DATA/spam"
expect "same again: unchanged" 0 "learned 0, moved 0, unchanged 12, forgotten 0" \
    "$SS" learn --db "$DB" --user alice@example.org --spam "$DATA/spam"
expect "3 of them as ham: moved" 0 "learned 0, moved 3, unchanged 0, forgotten 0" \
    "$SS" learn --db "$DB" --user alice@example.org --ham \
    "$DATA/spam/00.eml" "$DATA/spam/01.eml" "$DATA/spam/02.eml"
expect "forget one" 0 "learned 0, moved 0, unchanged 0, forgotten 1" \
    "$SS" learn --db "$DB" --user alice@example.org --forget "$DATA/spam/00.eml"
expect "forget it again: unchanged" 0 "learned 0, moved 0, unchanged 1, forgotten 0" \
    "$SS" learn --db "$DB" --user alice@example.org --forget "$DATA/spam/00.eml"
s=$(state alice@example.org)
case "$s" in
    "spam 9 ham 2 "*) ok "store holds 9 spam, 2 ham" ;;
    *) fail "store state: $s, want 9 spam 2 ham" ;;
esac

# The user key is normalised as the milter does: case and +detail do not matter.
expect "Alice+lists@EXAMPLE.org is alice@example.org" 0 \
    "learned 0, moved 0, unchanged 9, forgotten 0" \
    "$SS" learn --db "$DB" --user '<Alice+lists@EXAMPLE.org>' --spam \
    "$DATA/spam/03.eml" "$DATA/spam/04.eml" "$DATA/spam/05.eml" "$DATA/spam/06.eml" \
    "$DATA/spam/07.eml" "$DATA/spam/08.eml" "$DATA/spam/09.eml" "$DATA/spam/10.eml" \
    "$DATA/spam/11.eml"

# The digest ignores headers added in transit and by spamshift: the delivered copy
# (with Received, Delivered-To, X-Spam-*) is the message that was learned.
{
    printf 'Return-Path: <x@example.net>\nDelivered-To: alice@example.org\n'
    printf 'Received: from mx.example.net by mail.example.org; Fri, 27 Nov 2026 10:00:00 +0000\n'
    printf 'X-Spam-Flag: YES\nX-Spam-Score: 0.99\nX-Spamshift-Result: spam\n'
    cat "$DATA/spam/05.eml"
} > "$T/delivered.eml"
expect "delivered copy from stdin: unchanged" 0 \
    "learned 0, moved 0, unchanged 1, forgotten 0" \
    sh -c "\"$SS\" learn --db \"$DB\" --user alice@example.org --spam - < \"$T/delivered.eml\""

# An mbox of three ham messages, one of which alice has as spam.
for f in 00 01 04; do
    printf 'From sender@example.net Fri Nov 27 10:00:00 2026\n'
    cat "$DATA/ham/$f.eml"
    printf '\n'
done > "$T/ham.mbox"
expect "mbox of 3 ham" 0 "learned 3, moved 0, unchanged 0, forgotten 0" \
    "$SS" learn --db "$DB" --user alice@example.org --ham "$T/ham.mbox"
"$SS" learn --db "$DB" --user alice@example.org --ham -v "$T/ham.mbox" > "$T/v.out" 2>&1
if [ "$(grep -c "	unchanged$" "$T/v.out")" -eq 3 ] && grep -q "^committed 3$" "$T/v.out"; then
    ok "-v: one line per message and the committed batch"
else
    fail "-v output: $(cat "$T/v.out")"
fi

# ---- learn: errors ----
expect "no label: usage" 64 "" "$SS" learn --db "$DB" --user a@b "$DATA/ham/00.eml"
expect "two labels: usage" 64 "" "$SS" learn --db "$DB" --user a@b --spam --ham "$DATA/ham/00.eml"
expect "no --db: usage" 64 "" "$SS" learn --user a@b --spam "$DATA/ham/00.eml"
expect "no --user: usage" 64 "" "$SS" learn --db "$DB" --spam "$DATA/ham/00.eml"
expect "--user <>: usage" 64 "" "$SS" learn --db "$DB" --user '<>' --spam "$DATA/ham/00.eml"
expect "store in a missing directory: 73" 73 "" \
    "$SS" learn --db "$T/no/such/dir.db" --user a@b --spam "$DATA/ham/00.eml"
grep -q "no/such/dir.db" "$T/err" && ok "the error names the store" || fail "error: $(cat "$T/err")"
expect "a missing input: 1, the rest learned" 1 "learned 1, moved 0, unchanged 0, forgotten 0" \
    "$SS" learn --db "$DB" --user bob@example.org --spam "$T/missing.eml" "$DATA/spam/00.eml"
grep -q "missing.eml" "$T/err" && ok "the error names the input" || fail "error: $(cat "$T/err")"
printf 'not a store, just text that is long enough to fill an sqlite header of 100 bytes or more......\n' > "$T/junk.db"
expect "a file that is not a store: 73" 73 "" \
    "$SS" learn --db "$T/junk.db" --user a@b --spam "$DATA/ham/00.eml"
grep -q "junk.db.*not a database" "$T/err" && ok "says not a database" || fail "error: $(cat "$T/err")"

# ---- adapt ----
expect "adapt: neither --user nor --all" 64 "" "$SS" adapt -m "$T/m" --db "$DB"
expect "adapt: both --user and --all" 64 "" "$SS" adapt -m "$T/m" --db "$DB" --all --user a@b
expect "adapt: missing store" 66 "" "$SS" adapt -m "$T/m" --db "$T/none.db" --all
expect "adapt: missing model" 66 "" "$SS" adapt -m "$T/none.model" --db "$DB" --all

expect "adapt --all --dry-run" 0 "refitted 2 users: 0 published, 0 stale, 0 failed (dry run)" \
    "$SS" adapt -m "$T/m" --db "$DB" --all --dry-run
case "$(state alice@example.org)" in
    *" version 0") ok "dry run published nothing" ;;
    *) fail "dry run published: $(state alice@example.org)" ;;
esac
expect "adapt --all refits the two dirty users" 0 \
    "refitted 2 users: 2 published, 0 stale, 0 failed" \
    "$SS" adapt -m "$T/m" --db "$DB" --all
if grep -q "^alice@example.org: 9 spam, 5 ham, 0 unlabelled; domain AUC .*; version 1 (" "$T/out"; then
    ok "per-user line"
else
    fail "per-user line: $(head -1 "$T/out")"
fi
expect "nothing dirty any more" 0 "refitted 0 users: 0 published, 0 stale, 0 failed" \
    "$SS" adapt -m "$T/m" --db "$DB" --all
expect "adapt --user refits even when clean" 0 "" \
    "$SS" adapt -m "$T/m" --db "$DB" --user Alice@Example.org --json
grep -q '^{"user":"alice@example.org","spam":9,"ham":5,.*"version":2,"result":"published"' "$T/out" \
    && ok "--json line, version 2" || fail "--json: $(cat "$T/out")"

# ---- one user's feedback never touches another's model ----
bob_before=$(state bob@example.org)
expect "learn for carol" 0 "learned 12, moved 0, unchanged 0, forgotten 0" \
    "$SS" learn --db "$DB" --user carol@example.org --ham "$DATA/ham"
expect "adapt --all refits carol alone" 0 "refitted 1 users: 1 published, 0 stale, 0 failed" \
    "$SS" adapt -m "$T/m" --db "$DB" --all
grep -q "^carol@example.org: 0 spam, 12 ham" "$T/out" && ok "it was carol" || fail "refitted: $(cat "$T/out")"
[ "$(state bob@example.org)" = "$bob_before" ] && ok "bob's state and version unchanged" \
    || fail "bob changed: $bob_before -> $(state bob@example.org)"

# ---- continual: enough unlabelled mail makes a user dirty (default 200 samples) ----
mkdir "$T/unl"
awk -v d="$T/unl" 'BEGIN {
    for (i = 0; i < 200; i++) {
        f = sprintf("%s/%03d.eml", d, i)
        printf "From: news%d@list.example.com\nTo: dave@example.org\nSubject: weekly digest %d\nMessage-ID: <%d@list.example.com>\n\nIssue %d of the digest: topic%d and item%d.\n", i % 7, i, i, i, i % 13, i % 29 > f
        close(f)
    }
}'
"$TOOL" offer "$DB" dave@example.org "$T"/unl/0*.eml "$T"/unl/1[0-8]*.eml || fail "offer"
expect "199 samples: not dirty yet" 0 "refitted 0 users: 0 published, 0 stale, 0 failed (dry run)" \
    "$SS" adapt -m "$T/m" --db "$DB" --all --dry-run
"$TOOL" offer "$DB" dave@example.org "$T"/unl/19*.eml || fail "offer"
expect "200 samples: dirty" 0 "refitted 1 users: 1 published, 0 stale, 0 failed" \
    "$SS" adapt -m "$T/m" --db "$DB" --all
grep -q "^dave@example.org: 0 spam, 0 ham, 200 unlabelled" "$T/out" && ok "dave refitted on 200 samples" \
    || fail "refit: $(cat "$T/out")"

# ---- the fit cache: a refit for one new label takes the reservoir part from
# the last refit (no new samples since) instead of computing it again ----
expect "learn one for dave" 0 "learned 1, moved 0, unchanged 0, forgotten 0" \
    "$SS" learn --db "$DB" --user dave@example.org --spam "$T/unl/000.eml"
expect "dave refitted for his label" 0 "" \
    "$SS" adapt -m "$T/m" --db "$DB" --user dave@example.org --json
grep -q '^{"user":"dave@example.org","spam":1,"ham":0,"unlabelled":200,.*"cached_unlabelled":true,"cached_cv":false,.*"result":"published"' "$T/out" \
    && ok "the reservoir part came from the fit cache" || fail "fit cache: $(cat "$T/out")"

# ---- adapt --all -j 2: two workers, one connection each, every user once ----
for u in e1 e2 e3 e4 e5; do
    "$SS" learn --db "$DB" --user "$u@example.org" --spam "$DATA/spam/0$(echo $u | cut -c2).eml" \
        > /dev/null || fail "learn for $u"
done
expect "adapt --all -j 2" 0 "refitted 5 users: 5 published, 0 stale, 0 failed" \
    "$SS" adapt -m "$T/m" --db "$DB" --all -j 2
[ "$(grep -c '^e[1-5]@example.org: 1 spam, 0 ham, .*; version 1 (' "$T/out")" -eq 5 ] \
    && ok "one line per user" || fail "-j 2 output: $(cat "$T/out")"

# ---- learn -m refits at once ----
expect "learn -m refits the user" 0 "learned 1, moved 0, unchanged 0, forgotten 0" \
    "$SS" learn -m "$T/m" --db "$DB" --user carol@example.org --spam "$DATA/spam/11.eml"
grep -q "^refitted carol@example.org: version 2" "$T/out" && ok "carol at version 2" \
    || fail "learn -m: $(cat "$T/out")"

"$TOOL" check "$DB" > /dev/null && ok "integrity_check ok" || fail "integrity_check"
[ "$fails" -eq 0 ] || { echo "$fails failures"; exit 1; }
exit 0
