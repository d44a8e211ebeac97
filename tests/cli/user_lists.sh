#!/bin/sh
# tests/cli/user_lists.sh - `spamshift user --allow/--block/--unlist/--lists`
# (issue 18: allow and block lists per user and per domain): entries are
# normalised, listed per scope, changed and removed; a bad SENDER is named and
# nothing is written; the option combinations that make no sense are usage
# errors (64).
set -u
: "${top_srcdir:?}" "${top_builddir:?}"
. "$top_srcdir/tests/lib.sh"
test_init user_lists
db=$tmp/u.db
expect() { # WANT_FILE GOT_FILE WHAT
    cmp -s "$1" "$2" || { echo "--- want"; cat "$1"; echo "--- got"; cat "$2"; fail "$3"; }
}

"$cli" user --db "$db" --user '<Bob+x@Example.ORG>' --allow Friend@Pals.example \
    --block spam.example --block '@Ads.Example' > "$tmp/out" 2>&1 || fail "add entries"
printf 'bob@example.org\tallowed\tfriend@pals.example\nbob@example.org\tblocked\t@spam.example\nbob@example.org\tblocked\t@ads.example\n' > "$tmp/want"
expect "$tmp/want" "$tmp/out" "add: output"
"$cli" user --db "$db" --domain Example.ORG --allow @shop.example > /dev/null 2>&1 || fail "domain entry"
"$cli" user --db "$db" --lists > "$tmp/out" 2>&1 || fail "--lists"
printf '@example.org\tallow\t@shop.example\nbob@example.org\tblock\t@ads.example\nbob@example.org\tblock\t@spam.example\nbob@example.org\tallow\tfriend@pals.example\n' > "$tmp/want"
expect "$tmp/want" "$tmp/out" "--lists: every entry in (scope, sender) order"
"$cli" user --db "$db" --lists --domain example.org > "$tmp/out" 2>&1
printf '@example.org\tallow\t@shop.example\n' > "$tmp/want"
expect "$tmp/want" "$tmp/out" "--lists --domain: that scope only"
# A block that becomes an allow is one entry; an unlist removes it.
"$cli" user --db "$db" --user bob@example.org --allow @ads.example --unlist spam.example > /dev/null 2>&1
"$cli" user --db "$db" --lists --user bob@example.org > "$tmp/out" 2>&1
printf 'bob@example.org\tallow\t@ads.example\nbob@example.org\tallow\tfriend@pals.example\n' > "$tmp/want"
expect "$tmp/want" "$tmp/out" "change and unlist"
"$cli" user --db "$db" --user bob@example.org --unlist never.example > "$tmp/out" 2>&1 \
    && grep -q 'was not listed' "$tmp/out" || fail "unlisting a missing entry: no warning"
# Bad senders: all named, nothing written, exit 64.
"$cli" user --db "$db" --user bob@example.org --allow 'Name <a@b.example>' --block 'a@' \
    --allow good.example > "$tmp/out" 2>&1; rc=$?
[ "$rc" -eq 64 ] && [ "$(grep -c 'is not a sender address or domain' "$tmp/out")" -eq 2 ] \
    || { cat "$tmp/out"; fail "bad senders: exit $rc, want 64 naming both"; }
"$cli" user --db "$db" --lists | grep -q good.example && fail "a bad SENDER let the good one be written"
# Usage.
for args in "--allow x.example" "--domain example.org --user a@example.org --lists" \
            "--domain a@example.org --lists" "--domain example.org --spam-threshold 0.5"; do
    # shellcheck disable=SC2086
    "$cli" user --db "$db" $args > "$tmp/out" 2>&1; rc=$?
    [ "$rc" -eq 64 ] && [ -s "$tmp/out" ] || fail "user $args: exit $rc, want 64 with a message"
done
# Listing a store that does not exist does not create it.
"$cli" user --db "$tmp/none.db" --lists > /dev/null 2>&1 && fail "--lists on a missing store succeeded"
[ -e "$tmp/none.db" ] && fail "--lists created the store"

# explain --user says what the lists decide for a delivered copy: by its
# Return-Path (the envelope sender) and its From, both needed to allow.
"$cli" train -o "$tmp/m" --ham "$top_srcdir/tests/data/corpus/ham" \
    --spam "$top_srcdir/tests/data/corpus/spam" > /dev/null 2>&1 || fail "train"
printf 'Return-Path: <news@shop.example>\nFrom: Shop <news@shop.example>\nSubject: sale\n\nbuy\n' \
    > "$tmp/shop.eml"
printf 'Return-Path: <bulk@elsewhere.example>\nFrom: Shop <news@shop.example>\nSubject: sale\n\nbuy\n' \
    > "$tmp/forged.eml"
"$cli" explain -m "$tmp/m" --db "$db" --user carol@example.org "$tmp/shop.eml" > "$tmp/out" 2>&1
grep -q '^lists: allowed by @example.org @shop.example: ' "$tmp/out" \
    || { cat "$tmp/out"; fail "explain: the domain's allow entry not shown"; }
"$cli" explain -m "$tmp/m" --db "$db" --user carol@example.org "$tmp/forged.eml" > "$tmp/out" 2>&1
grep -q '^lists: no allow or block entry of carol@example.org decides it (Return-Path <bulk@elsewhere.example>' \
    "$tmp/out" || { cat "$tmp/out"; fail "explain: a forged From alone shown as allowed"; }

# stats counts the entries, in all and in the table, as --lists lists them.
"$cli" user --db "$db" --user bob@example.org --block @casino.example > /dev/null 2>&1
"$cli" user --db "$db" --lists > "$tmp/lists" 2>&1
na=$(grep -c "$(printf '\tallow\t')" "$tmp/lists"); nb=$(grep -c "$(printf '\tblock\t')" "$tmp/lists")
[ "$na" -ge 2 ] && [ "$nb" -ge 1 ] || fail "the store holds $na allow and $nb block entries, want >= 2 and >= 1"
"$cli" stats --db "$db" --json > "$tmp/out" 2>&1
grep -q "\"lists\":{\"allow\":$na,\"block\":$nb},\"refits\"" "$tmp/out" \
    || { cat "$tmp/out"; fail "stats --json: want lists allow $na block $nb"; }
"$cli" stats --db "$db" > "$tmp/out" 2>&1
grep -q "^lists       $na allow and $nb block entries in " "$tmp/out" \
    || { cat "$tmp/out"; fail "stats: no lists line with $na and $nb"; }

[ "$fails" -eq 0 ] && echo "PASS: user_lists" || echo "FAIL: user_lists ($fails)"
[ "$fails" -eq 0 ]
