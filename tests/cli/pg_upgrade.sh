#!/bin/sh
# tests/cli/pg_upgrade.sh - the PostgreSQL schema upgraded in place from
# version 2 (issue 17 item 2): a store with scan records for three users is
# taken back to schema 2 (the 2 -> 3 step only adds users.scans, so dropping
# that column and writing schema_version 2 is schema 2 as main's build made
# it); the next open as a writer (`spamshift learn`) upgrades it, and then
# each user's users.scans is the count of its rows, `stats --json`'s
# scan_records is the total, `store check` passes, and the count stays right
# through new records and records scanned again.  A read-only open (stats)
# of the schema-2 store says to open it for writing and changes nothing.  Last, `store check`
# fails (65, naming users.scans) when a user's count is off: the check can
# fail.  Skips (77) only when the server binaries are absent.
set -u
: "${top_srcdir:?}" "${top_builddir:?}"
. "$top_srcdir/tests/cli/store_lib.sh"
store_test_init pgupgrade
pg_cluster_sql "CREATE DATABASE up" > /dev/null || { echo "FAIL: create database"; exit 1; }
DB="host=$T/pg user=spamshift dbname=up"
sql() { "$pg_bin/psql" -h "$pg_host" -U spamshift -d up -qAt -v ON_ERROR_STOP=1 -c "$1"; }
# counts: the schema version, the rows of scans, the sum of users.scans and
# the users whose users.scans is not their rows' count.
counts() {
    sql "SELECT (SELECT value FROM meta WHERE key = 'schema_version') || ' ' ||
        (SELECT count(*) FROM scans) || ' ' || (SELECT coalesce(sum(scans), 0) FROM users)
        || ' ' || (SELECT count(*) FROM users u WHERE scans <> (SELECT count(*) FROM scans s
        WHERE s.user_id = u.id))"
}
scan_records() {
    "$SS" stats --db "$DB" --json --since all > "$T/stats.json" 2> "$T/err" ||
        { echo "stats failed: $(head -1 "$T/err")"; return; }
    python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["overview"]["scan_records"])' \
        "$T/stats.json"
}

store_step "create" "$TOOL" create "$DB" 8 6 || exit 1
store_step "alice's scans" "$TOOL" scans "$DB" alice@example.org 20 || exit 1
store_step "bob's scans" "$TOOL" scans "$DB" bob@example.org 7 || exit 1
store_step "carol's learn" "$SS" learn --db "$DB" --user carol@example.org \
    --spam "$DATA"/spam/00.eml || exit 1
# Each user's rows, counted: what users.scans must hold after the upgrade.
rows_per_user() {
    sql "SELECT u.key || ' ' || count(s.user_id) FROM users u LEFT JOIN scans s
        ON s.user_id = u.id GROUP BY u.key ORDER BY u.key"
}
n=$(sql "SELECT count(*) FROM scans")
rows_per_user > "$T/want"
set -- $(counts)
[ "$n" -gt 0 ] && [ "$*" = "3 $n $n 0" ] ||
    fail "schema 3 store: version scans sum wrong = $*, want 3 $n $n 0"

# Back to schema 2.
sql "ALTER TABLE users DROP COLUMN scans;
     UPDATE meta SET value = '2' WHERE key = 'schema_version'" ||
    { echo "FAIL: cannot take the store back to schema 2"; exit 1; }
# A read-only open does not write: stats says how to upgrade and changes nothing.
"$SS" stats --db "$DB" > "$T/out" 2> "$T/err"
rc=$?
if [ "$rc" -ne 0 ] && grep -q "open it once for writing to upgrade it" "$T/err"; then
    ok "stats on schema 2 says to upgrade ($rc: $(head -1 "$T/err" | cut -c1-90))"
else fail "stats on schema 2: exit $rc ($(head -1 "$T/err"))"; fi
[ "$(sql "SELECT value FROM meta WHERE key = 'schema_version'")" = 2 ] ||
    fail "a read-only stats changed the schema"

# A writer's open upgrades it.
store_step "learn (upgrades)" "$SS" learn --db "$DB" --user carol@example.org \
    --ham "$DATA"/ham/00.eml || exit 1
set -- $(counts)
if [ "$*" = "3 $n $n 0" ]; then ok "upgraded to 3: $n scan records counted per user"
else fail "after the upgrade: version scans sum wrong = $*, want 3 $n $n 0"; fi
sql "SELECT key || ' ' || scans FROM users ORDER BY key" > "$T/per-user"
cmp -s "$T/per-user" "$T/want" && ok "per user: $(tr '\n' ' ' < "$T/want")" ||
    fail "per user: $(tr '\n' ' ' < "$T/per-user"), want $(tr '\n' ' ' < "$T/want")"
got=$(scan_records)
[ "$got" = "$n" ] && ok "stats --json after the upgrade: $n scan records" ||
    fail "stats --json after the upgrade: scan_records $got, want $n"
"$SS" store check --db "$DB" > "$T/out" 2> "$T/err" && ok "store check after the upgrade" ||
    fail "store check after the upgrade: exit $? ($(head -1 "$T/err"))"

# Going on: alice's 20 again (records scanned again) and 10 more, carol's first.
store_step "alice's scans again" "$TOOL" scans "$DB" alice@example.org 30 || exit 1
store_step "carol's scans" "$TOOL" scans "$DB" carol@example.org 5 || exit 1
n2=$(sql "SELECT count(*) FROM scans")
set -- $(counts)
[ "$n2" -gt "$n" ] && [ "$*" = "3 $n2 $n2 0" ] &&
    ok "after new records and records scanned again: $n -> $n2" ||
    fail "after more scans: version scans sum wrong = $*, want 3 $n2 $n2 0 (more than $n)"
got=$(scan_records)
[ "$got" = "$n2" ] || fail "stats --json after more scans: scan_records $got, want $n2"

# The check can fail.
sql "UPDATE users SET scans = scans + 1 WHERE key = 'bob@example.org'"
"$SS" store check --db "$DB" > "$T/out" 2> "$T/err"
rc=$?
if [ "$rc" -eq 65 ] && grep -q "users.scans" "$T/err"; then
    ok "store check finds a user's count off (65: $(head -1 "$T/err" | cut -c1-100))"
else fail "store check with bob's count off: exit $rc, want 65 ($(head -1 "$T/err"))"; fi
[ "$fails" -eq 0 ] || { echo "$fails failed"; exit 1; }
echo "all passed"
