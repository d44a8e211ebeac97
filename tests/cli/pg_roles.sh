#!/bin/sh
# tests/cli/pg_roles.sh - least privilege on a PostgreSQL store (issue 17
# item 2): the owner makes the schema (`spamshift store init`) and applies
# contrib/postgresql/roles.sql; then a login role per job does its job and no
# more: spamshift_milter's classify --observe writes reservoir and scan rows
# but a learn is refused, spamshift_learn learns and adapts, spamshift_stats
# reads stats but a learn is refused (a clear message, exit 77) and nothing
# is written; no role but the owner can create the schema.  First, without a
# server: a password in a database string (--db, store copy, database =) is
# refused with the alternatives named and the password never echoed.
# Skips (77) only when the server binaries are absent (after the refusals).
set -u
: "${top_srcdir:?}" "${top_builddir:?}"
. "$top_srcdir/tests/cli/store_lib.sh"
MILTER="$top_builddir/spamshift-milter"
P=$(mktemp -d "${TMPDIR:-/tmp}/ss-roles0.XXXXXX") || exit 1

# ---- passwords in database strings: refused, never echoed ----
# refuse NAME WANT_RC command...: exits WANT_RC, names the alternatives, does
# not print "s3cret".
refuse() {
    name=$1 want=$2
    shift 2
    "$@" > "$P/out" 2> "$P/err"
    got=$?
    if [ "$got" -ne "$want" ]; then
        fail "$name: exit $got, want $want ($(head -2 "$P/err"))"
    elif ! grep -q "password in the database string is refused" "$P/err" ||
         ! grep -q "PGPASSFILE" "$P/err" || ! grep -q "service=" "$P/err"; then
        fail "$name: message does not name the refusal and the alternatives: $(head -2 "$P/err")"
    elif grep -q "s3cret" "$P/out" "$P/err"; then
        fail "$name: the password was echoed"
    else
        ok "$name: refused ($got)"
    fi
}
refuse "URI user:password@" 64 "$SS" stats --db "postgresql://bob:s3cret@/x?host=$P"
refuse "URI password=" 64 "$SS" learn --db "postgresql:///x?host=$P&password=s3cret" \
    --user a@example.org --spam "$DATA"/spam/00.eml
refuse "key=value password" 64 "$SS" stats --db "host=$P dbname=x password = 's3cret x'"
refuse "store copy DST" 64 "$SS" store copy "$P/a.db" "host=$P password=s3cret dbname=x"
[ ! -e "$P/a.db" ] || fail "store copy created SRC"
"$SS" train -q -o "$P/m" --ham "$DATA/ham" --spam "$DATA/spam" --seed 3 \
    || { echo "FAIL: cannot train the fixture model"; exit 1; }
printf 'model = %s\nsocket = unix:%s/s.sock\ndatabase = postgresql://mx:s3cret@/x?host=%s\n' \
    "$P/m" "$P" "$P" > "$P/spamshift.conf"
refuse "milter database =" 78 "$MILTER" -n -c "$P/spamshift.conf"
# Not a password: a dbname or user that merely contains the word.
"$SS" stats --db "host=$P/none dbname=password user=x" > /dev/null 2> "$P/err"
rc=$?
if [ "$rc" -eq 64 ] || grep -q "password in the database" "$P/err"; then
    fail "dbname=password refused as a password (exit $rc)"
else
    ok "dbname=password is not a password (exit $rc: the server is not there)"
fi
cp "$P/m" "$P/model.keep"
[ "$fails" -eq 0 ] || { rm -rf "$P"; echo "$fails failed"; exit 1; }

# ---- roles on a real server ----
store_test_init roles
mv "$P/model.keep" "$T/m"
rm -rf "$P"
sql() { "$pg_bin/psql" -h "$pg_host" -U own -d roles -qAt -v ON_ERROR_STOP=1 -c "$1"; }
pg_cluster_sql "CREATE ROLE own LOGIN CREATEROLE" &&
    pg_cluster_sql "CREATE DATABASE roles OWNER own" &&
    pg_cluster_sql "CREATE DATABASE other OWNER own" &&
    pg_cluster_sql "CREATE ROLE mx LOGIN; CREATE ROLE imap LOGIN; CREATE ROLE mon LOGIN" ||
    { echo "FAIL: cannot make the roles"; exit 1; }
db() { echo "host=$T/pg dbname=roles user=$1"; }

# A role other than the owner cannot make the schema.
"$SS" store init --db "host=$T/pg dbname=other user=imap" > /dev/null 2> "$T/err"
rc=$?
if [ "$rc" -eq 0 ]; then fail "store init as imap made a schema in a database it does not own"
else ok "store init as a non-owner refused ($rc: $(head -1 "$T/err" | cut -c1-100))"; fi

"$SS" store init --db "$(db own)" > "$T/out" 2> "$T/err" &&
    grep -q "^initialised" "$T/out" || { fail "store init as owner: $(cat "$T/err")"; exit 1; }
ok "store init as the owner"
"$pg_bin/psql" -h "$pg_host" -U own -d roles -qAt -v ON_ERROR_STOP=1 \
    -f "$top_srcdir/contrib/postgresql/roles.sql" > "$T/roles.out" 2>&1 ||
    { fail "roles.sql: $(cat "$T/roles.out")"; exit 1; }
# Twice: it may be run again.
"$pg_bin/psql" -h "$pg_host" -U own -d roles -qAt -v ON_ERROR_STOP=1 \
    -f "$top_srcdir/contrib/postgresql/roles.sql" > "$T/roles.out" 2>&1 ||
    { fail "roles.sql again: $(cat "$T/roles.out")"; exit 1; }
ok "roles.sql applied (twice)"
sql "GRANT spamshift_milter TO mx; GRANT spamshift_learn TO imap; GRANT spamshift_stats TO mon" ||
    { fail "grant the group roles"; exit 1; }

# step NAME command...: must succeed.
step() {
    name=$1
    shift
    if "$@" > "$T/out" 2> "$T/err"; then ok "$name"
    else fail "$name: exit $? ($(head -2 "$T/err"))"; fi
}
# denied NAME command...: must fail with 77 and say permission denied.
denied() {
    name=$1
    shift
    "$@" > "$T/out" 2> "$T/err"
    rc=$?
    if [ "$rc" -ne 77 ]; then fail "$name: exit $rc, want 77 ($(head -2 "$T/err"))"
    elif ! grep -q "permission denied" "$T/err"; then
        fail "$name: no clear message: $(head -2 "$T/err")"
    else ok "$name: refused (77: $(head -1 "$T/err" | cut -c1-120))"; fi
}
counts() {
    sql "SELECT (SELECT count(*) FROM users) || ' ' || (SELECT count(*) FROM feedback) || ' ' ||
        (SELECT count(*) FROM reservoir) || ' ' || (SELECT count(*) FROM scans) || ' ' ||
        (SELECT count(*) FROM heads)"
}

# The milter's role: observes (reservoir, scan records, counters).
step "milter role: classify --observe" "$SS" classify -m "$T/m" --db "$(db mx)" \
    --user carol@example.org --observe "$DATA"/ham/*.eml "$DATA"/spam/*.eml
"$TOOL" scans "$(db mx)" carol@example.org 5 > /dev/null 2> "$T/err" ||
    fail "milter role: scan records: $(head -1 "$T/err")"
set -- $(counts)
if [ "${1:-0}" -eq 1 ] && [ "${3:-0}" -gt 0 ] && [ "${4:-0}" -gt 0 ]; then
    ok "milter role wrote a user, $3 reservoir rows, $4 scan records"
else fail "milter role: users feedback reservoir scans heads = $*"; fi
before=$(counts)
denied "milter role: learn" "$SS" learn --db "$(db mx)" --user carol@example.org \
    --spam "$DATA"/spam/00.eml
denied "milter role: sender lists" "$SS" user --db "$(db mx)" --user carol@example.org \
    --allow friend@example.com
[ "$(counts)" = "$before" ] || fail "milter role: a refused write changed rows: $before -> $(counts)"

# learn/adapt's role.
step "learn role: learn spam" "$SS" learn --db "$(db imap)" --user carol@example.org \
    --spam "$DATA"/spam/0[0-5].eml
step "learn role: learn ham" "$SS" learn --db "$(db imap)" --user carol@example.org \
    --ham "$DATA"/ham/0[0-5].eml
step "learn role: adapt" "$SS" adapt -m "$T/m" --db "$(db imap)" --all
step "learn role: a threshold" "$SS" user --db "$(db imap)" --user carol@example.org \
    --spam-threshold 0.8
sql "SELECT key FROM meta WHERE key = 'thresholds_gen'" | grep -q thresholds_gen ||
    fail "learn role: thresholds_gen not moved"
"$pg_bin/psql" -h "$pg_host" -U imap -d roles -qAt -c \
    "UPDATE meta SET value = '9' WHERE key = 'schema_version'" > "$T/out" 2>&1
if [ "$(sql "SELECT value FROM meta WHERE key = 'schema_version'")" = 9 ]; then
    fail "learn role changed schema_version"
else ok "learn role cannot change the settings beyond the generations"; fi
set -- $(counts)
if [ "${2:-0}" -eq 12 ] && [ "${5:-0}" -eq 1 ]; then ok "learn role: 12 feedback rows, a head"
else fail "learn role: users feedback reservoir scans heads = $*"; fi
# The milter's background refits publish heads: a second user refitted by
# the milter's role.
step "milter role: adapt (its background refits)" "$SS" adapt -m "$T/m" --db "$(db mx)" \
    --user carol@example.org

# stats' role: reads, never writes.
step "stats role: stats" "$SS" stats --db "$(db mon)"
grep -q "carol@example.org" "$T/out" || fail "stats role: carol is not in stats: $(head -3 "$T/out")"
step "stats role: stats --json" "$SS" stats --db "$(db mon)" --json --since all
python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); assert j["overview"]["scan_records"] > 0' \
    "$T/out" || fail "stats role: --json has no scan records"
step "stats role: classify --user" "$SS" classify -m "$T/m" --db "$(db mon)" \
    --user carol@example.org "$DATA"/spam/00.eml
before=$(counts)
denied "stats role: learn" "$SS" learn --db "$(db mon)" --user carol@example.org \
    --ham "$DATA"/spam/00.eml
"$SS" classify -m "$T/m" --db "$(db mon)" --user dave@example.org \
    --observe "$DATA"/ham/00.eml > "$T/out" 2> "$T/err" &&
    fail "stats role: classify --observe succeeded"
step "learn role: carol dirty again" "$SS" learn --db "$(db imap)" --user carol@example.org \
    --spam "$DATA"/spam/0[6-9].eml "$DATA"/spam/1*.eml
before=$(counts)
# (adapt's own exit code for a user it could not refit is 1, whatever the cause.)
"$SS" adapt -m "$T/m" --db "$(db mon)" --all > "$T/out" 2> "$T/err"
rc=$?
if [ "$rc" -eq 0 ] || ! grep -q "permission denied" "$T/err"; then
    fail "stats role: adapt: exit $rc ($(head -2 "$T/err"))"
else ok "stats role: adapt refused ($rc: $(head -1 "$T/err" | cut -c1-100))"; fi
[ "$(counts)" = "$before" ] || fail "stats role: a refused write changed rows: $before -> $(counts)"

[ "$fails" -eq 0 ] || { echo "$fails failed"; exit 1; }
echo "all passed"
