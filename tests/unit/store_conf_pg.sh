#!/bin/sh
# tests/unit/store_conf_pg.sh - the store conformance suite (test_store_conf)
# on PostgreSQL: a throw-away cluster (tests/pg_cluster.sh), one database per
# case.  Skips (77) only when the server binaries are absent.
set -u
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
. "$top_srcdir/tests/pg_cluster.sh"

pg_cluster_require
prog=${top_builddir:-.}/tests/unit/test_store_conf
if [ ! -x "$prog" ]; then
    echo "FAIL: $prog not built"
    exit 1
fi

pg_cluster_scratch pgconf
i=0
: > "$T/create.sql"
while [ $i -lt 24 ]; do
    echo "CREATE DATABASE conf$i;" >> "$T/create.sql"
    i=$((i + 1))
done
if ! "$pg_bin/psql" -h "$T" -U spamshift -d postgres -qAt -v ON_ERROR_STOP=1 \
        -f "$T/create.sql" >"$T/psql.log" 2>&1; then
    echo "FAIL: create databases:"; cat "$T/psql.log"; exit 1
fi

SPAMSHIFT_CONF_DB="host=$T user=spamshift dbname=conf%d" "$prog"
rc=$?
if [ $rc -ne 0 ]; then
    echo "server log:"; tail -20 "$T/server.log"
fi
exit $rc
