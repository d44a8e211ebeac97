#!/bin/sh
# tests/cli/store_copy.sh - `spamshift store copy` (issue 17 item 4) on a real
# PostgreSQL (a throw-away cluster, tests/pg_cluster.sh): a SQLite store
# filled through the CLI (tests/cli/store_lib.sh) is copied into PostgreSQL
# and from there into a new SQLite file; the three hold the same rows (counts
# and contents, table by table and user by user), give every user the same
# scores, and stats --json the same feedback counts.  Then the refusals: a
# non-empty DST, an unreachable server, a bad URI, SRC = DST, a missing SRC:
# one line naming the problem, the documented exit code, nothing lost.
# Skips (77) only when the server binaries are absent.
set -u
: "${top_srcdir:?}" "${top_builddir:?}"
. "$top_srcdir/tests/cli/store_lib.sh"
store_test_init copy
for d in copy1 copy2 copy3; do
    pg_cluster_sql "CREATE DATABASE $d" || { echo "FAIL: create database $d"; exit 1; }
done
PG="host=$T/pg user=spamshift dbname=copy1"
PGURI="postgresql:///copy2?host=$T/pg&user=spamshift"
A="$T/a.db" C="$T/c.db"

"$SS" train -q -o "$T/m" --ham "$DATA/ham" --spam "$DATA/spam" --seed 3 \
    || { echo "FAIL: cannot train the fixture model"; exit 1; }
store_fill "$A" "$T/m" || exit 1

# ---- SQLite -> PostgreSQL -> SQLite ----
copy() {
    name=$1
    shift
    "$SS" store copy "$@" > "$T/copy.out" 2> "$T/copy.err"
    rc=$?
    if [ $rc -ne 0 ]; then
        fail "$name: exit $rc ($(cat "$T/copy.err"))"
    elif [ "$(tail -1 "$T/copy.out")" != "checked	equal" ]; then
        fail "$name: last line \"$(tail -1 "$T/copy.out")\", want checked equal"
    elif ! grep -q "^spamshift: store copy: 4 of 4 users$" "$T/copy.err"; then
        fail "$name: no progress line for 4 of 4 users on stderr ($(cat "$T/copy.err"))"
    else
        ok "$name"
    fi
}
copy "SQLite -> PostgreSQL (key=value)" "$A" "$PG"
cp "$T/copy.out" "$T/copy1.out"
copy "PostgreSQL -> SQLite" "$PG" "sqlite:$C"
copy "PostgreSQL -> PostgreSQL (URI)" "$PG" "$PGURI"

# Every table has rows, so that an empty table copied as empty proves nothing.
for t in users feedback reservoir heads refits counters scans scan_days fitcache \
         senderlists meta; do
    n=$(awk -F'\t' -v t="$t" '$1 == t { print $2 }' "$T/copy1.out")
    if [ -z "$n" ] || [ "$n" -eq 0 ]; then
        fail "the fill left $t empty (copy reported \"$n\" rows): the test would prove nothing"
    fi
done
ok "copy summary: $(sed 1d "$T/copy1.out" | tr '\t\n' '= ')"

# The comparison on its own, every pair (counts and contents per table per user).
cmp_pair() {
    if "$TOOL" compare "$1" "$2" > "$T/cmp.out" 2> "$T/cmp.err"; then
        ok "compare $3: equal"
    else
        fail "compare $3: $(cat "$T/cmp.err")"
    fi
}
cmp_pair "$A" "$PG" "SQLite with PostgreSQL"
cmp_pair "$A" "$C" "SQLite with the copy back"
cmp_pair "$PG" "$C" "PostgreSQL with the copy back"
cmp_pair "$A" "$PGURI" "SQLite with the PostgreSQL copy"
# The check can fail: one changed row is found and named.
cp "$C" "$T/c2.db"
"$SS" learn --db "$T/c2.db" --user bob@example.org --spam "$DATA/ham/06.eml" > /dev/null 2>&1
if "$TOOL" compare "$A" "$T/c2.db" > /dev/null 2> "$T/cmp.err"; then
    fail "compare missed a relabelled message"
elif grep -q "of user bob@example.org: 1 rows on both sides, but their values differ" "$T/cmp.err"; then
    ok "compare names the difference: $(cat "$T/cmp.err")"
else
    fail "compare's message: $(cat "$T/cmp.err")"
fi

# Same scores for every user on all three stores, and the same stats counts.
store_scores "$A" "$T/m" > "$T/scores.a" || fail "scores on $A"
store_scores "$PG" "$T/m" > "$T/scores.pg" || fail "scores on PostgreSQL"
store_scores "$C" "$T/m" > "$T/scores.c" || fail "scores on $C"
n=$(wc -l < "$T/scores.a")
if [ "$n" -ne 96 ]; then
    fail "scores: $n lines, want 4 users x 24 messages"
elif ! cmp -s "$T/scores.a" "$T/scores.pg"; then
    fail "scores differ SQLite vs PostgreSQL: $(diff "$T/scores.a" "$T/scores.pg" | head -4)"
elif ! cmp -s "$T/scores.a" "$T/scores.c"; then
    fail "scores differ SQLite vs its copy back: $(diff "$T/scores.a" "$T/scores.c" | head -4)"
else
    ok "classify --user: the same $n scores on SQLite, PostgreSQL and the copy back"
fi
# The users' models are their own (else equal scores would prove little).
if [ "$(grep '^alice' "$T/scores.a" | cut -f2)" = "$(grep '^bob' "$T/scores.a" | cut -f2)" ]; then
    fail "alice and bob score alike: the fill taught nothing"
fi
store_fb_counts "$A" "$T/m" > "$T/fb.a" || fail "stats on $A"
store_fb_counts "$PG" "$T/m" > "$T/fb.pg" || fail "stats on PostgreSQL"
store_fb_counts "$C" "$T/m" > "$T/fb.c" || fail "stats on $C"
if ! grep -q "^overview learned_spam [1-9]" "$T/fb.a"; then
    fail "stats: no learned spam in $(cat "$T/fb.a" | head -3)"
elif ! cmp -s "$T/fb.a" "$T/fb.pg" || ! cmp -s "$T/fb.a" "$T/fb.c"; then
    fail "stats --json counts differ: $(diff "$T/fb.a" "$T/fb.pg" | head -4) $(diff "$T/fb.a" "$T/fb.c" | head -4)"
else
    ok "stats --json: the same $(wc -l < "$T/fb.a") feedback and scan counts on all three"
fi

# The users' settings as `spamshift user` lists them (thresholds, target
# FPRs where this spamshift has them) and the allow and block lists.
for db in "$A" "$PG" "$C"; do
    { "$SS" user --db "$db"; "$SS" user --db "$db" --lists; } 2>&1
done > "$T/settings.all"
"$SS" user --db "$A" > "$T/settings.a" 2>&1
"$SS" user --db "$A" --lists >> "$T/settings.a" 2>&1
n=$(wc -l < "$T/settings.a")
if [ "$n" -lt 4 ] || ! grep -q "^bob@example.org	spam_threshold	0.800000$" "$T/settings.a"; then
    fail "settings on SQLite: $(cat "$T/settings.a")"
elif [ "$(cat "$T/settings.a" "$T/settings.a" "$T/settings.a")" != "$(cat "$T/settings.all")" ]; then
    fail "settings differ: $(cat "$T/settings.all")"
else
    ok "user settings and lists: the same $n lines on all three"
fi

# ---- refusals: one line, the exit code, nothing lost ----
# refuse NAME WANT-RC PATTERN args...: exit WANT-RC, one stderr line matching PATTERN.
refuse() {
    name=$1 want=$2 pat=$3
    shift 3
    "$SS" store copy "$@" > "$T/out" 2> "$T/err"
    rc=$?
    if [ $rc -ne "$want" ]; then
        fail "$name: exit $rc, want $want ($(cat "$T/err"))"
    elif [ "$(wc -l < "$T/err")" -ne 1 ] || ! grep -q "$pat" "$T/err"; then
        fail "$name: stderr \"$(cat "$T/err")\", want one line matching $pat"
    else
        ok "$name: $want, $(cat "$T/err")"
    fi
}
cp "$C" "$T/c.before"
refuse "into a non-empty SQLite store" 73 "c.db is not empty: it holds 4 rows in users" \
    "$A" "$C"
cmp -s "$C" "$T/c.before" && ok "the refused DST is unchanged" \
    || fail "the refused copy changed $C"
refuse "into a non-empty PostgreSQL store" 73 "is not empty: it holds 4 rows in users" \
    "$C" "$PG"
"$TOOL" compare "$A" "$PG" > /dev/null 2>&1 && ok "the refused PostgreSQL DST is unchanged" \
    || fail "the refused copy changed $PG"
refuse "from an unreachable server" 75 "cannot connect (is the server running?)" \
    "host=$T/nothing-here user=spamshift dbname=copy3" "$T/new.db"
[ -e "$T/new.db" ] && fail "a refused copy created $T/new.db" \
    || ok "nothing created for a refused copy"
refuse "to an unreachable server" 75 "cannot connect (is the server running?)" \
    "$A" "host=$T/nothing-here user=spamshift dbname=copy3"
refuse "a bad URI" 73 "postgresql" "$A" "postgresql://spamshift@/copy3?host=$T/pg&bogus=1"
refuse "SRC = DST" 64 "the same store" "$A" "$A"
refuse "SRC = DST under two names, --force" 64 "are the same store; nothing was copied" \
    --force "$A" "sqlite:$T/./a.db"
refuse "one database as key=value and as a URI, --force" 64 "are the same store" \
    --force "$PG" "postgresql:///copy1?host=$T/pg&user=spamshift"
refuse "a missing SRC" 66 "$T/none.db" "$T/none.db" "$T/new.db"
[ -e "$T/new.db" ] && fail "a copy from a missing SRC created $T/new.db" \
    || ok "nothing created for a missing SRC"
refuse "one argument" 64 "give SRC and DST" "$A"
# store restore across backends is refused with the way to do it; it used to
# read the closed source store for the message (a crash, exit 139).
"$SS" store restore --db "$PG" "$A" > /dev/null 2> "$T/err"
rc=$?
if [ $rc -eq 65 ] && grep -q "a sqlite backup cannot be restored into a postgresql store (spamshift store copy moves between them)" "$T/err"; then
    ok "store restore of a SQLite file into PostgreSQL: 65, $(cat "$T/err")"
else
    fail "store restore across backends: exit $rc, $(cat "$T/err")"
fi
"$TOOL" compare "$A" "$C" > /dev/null 2>&1 && ok "SRC is unchanged by the refusals" \
    || fail "SRC changed"

# --force replaces what DST holds: copy3 gets a store of its own first.
P3="host=$T/pg user=spamshift dbname=copy3"
"$SS" learn --db "$P3" --user zed@example.org --spam "$DATA/spam/05.eml" > /dev/null 2>&1
refuse "into copy3 without --force" 73 "it holds 1 rows in users" "$A" "$P3"
if "$SS" store copy --force "$A" "$P3" > "$T/out" 2> "$T/err" &&
   "$TOOL" compare "$A" "$P3" > /dev/null 2>&1; then
    ok "--force: copy3 now equals SRC (zed is gone)"
else
    fail "--force: $(cat "$T/err")"
fi
# A copy that fails half-way (here a trigger on DST refuses carol's row, as a
# full disk or a constraint would) stops at that user with one line naming it;
# the users before it are committed in DST, SRC is untouched; --force then
# makes DST whole.
P4="host=$T/pg user=spamshift dbname=copy4"
pg_cluster_sql "CREATE DATABASE copy4" && "$TOOL" create "$P4" 8 6 &&
"$pg_bin/psql" -h "$T/pg" -U spamshift -d copy4 -qAt -v ON_ERROR_STOP=1 -c "
    CREATE FUNCTION no_carol() RETURNS trigger LANGUAGE plpgsql AS \$\$ BEGIN
      IF NEW.key = 'carol@example.org' THEN RAISE EXCEPTION 'no room for carol'; END IF;
      RETURN NEW; END \$\$;
    CREATE TRIGGER no_carol BEFORE INSERT ON users FOR EACH ROW EXECUTE FUNCTION no_carol();" \
    || fail "cannot set up copy4"
"$SS" store copy "$A" "$P4" > "$T/out" 2> "$T/err"
rc=$?
last=$(tail -1 "$T/err")
if [ $rc -eq 74 ] && echo "$last" | grep -q "no room for carol (at user carol@example.org: 2 of 4 users copied)$" &&
   [ "$(grep -vc ' of 4 users$' "$T/err")" -eq 1 ]; then
    ok "a copy refused half-way: 74, $last"
else
    fail "a copy refused half-way: exit $rc, stderr $(cat "$T/err")"
fi
got=$("$pg_bin/psql" -h "$T/pg" -U spamshift -d copy4 -qAt -c \
    "SELECT string_agg(key, ' ' ORDER BY id) FROM users")
[ "$got" = "alice@example.org bob@example.org" ] && ok "DST holds the 2 users before it" \
    || fail "DST after the failure holds \"$got\", want alice and bob"
"$pg_bin/psql" -h "$T/pg" -U spamshift -d copy4 -qAt -c "DROP TRIGGER no_carol ON users"
if "$SS" store copy --force "$A" "$P4" > /dev/null 2> "$T/err" &&
   "$TOOL" compare "$A" "$P4" > /dev/null 2>&1; then
    ok "--force after the failure: DST equals SRC"
else
    fail "--force after the failure: $(cat "$T/err")"
fi

# A copied PostgreSQL store goes on taking new users (the ids continue past
# the copied ones) and new refits.
if "$SS" learn --db "$P3" --user erin@example.org --spam "$DATA/spam/06.eml" > /dev/null 2>&1 &&
   "$SS" adapt -m "$T/m" --db "$P3" --user alice@example.org > /dev/null 2>&1; then
    ok "the copy takes new users and refits"
else
    fail "the copy refused new rows (id sequences not moved past the copied ids?)"
fi

[ $fails -eq 0 ] || { echo "$fails failed"; exit 1; }
echo "all store copy tests passed"
