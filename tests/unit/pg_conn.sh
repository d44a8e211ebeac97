#!/bin/sh
# tests/unit/pg_conn.sh - test_pg_conn's outage case on a throw-away
# PostgreSQL cluster (tests/pg_cluster.sh) that the test stops
# (pg_ctl stop -m fast) and starts again.  Skips (77) only when the server
# binaries are absent.
set -u
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
. "$top_srcdir/tests/pg_cluster.sh"

pg_cluster_require
prog=${top_builddir:-.}/tests/unit/test_pg_conn
if [ ! -x "$prog" ]; then
    echo "FAIL: $prog not built"
    exit 1
fi
T=$(mktemp -d "${TMPDIR:-/tmp}/ss-pgconn.XXXXXX") || exit 1
cleanup() {
    pg_cluster_stop
    rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
pg_cluster_start "$T" || exit 1
pg_cluster_sql "CREATE DATABASE conn" || exit 1

# The test runs these with system(): the helper sourced again in a child shell.
lib=". '$top_srcdir/tests/pg_cluster.sh'; pg_bin='$pg_bin'; pg_dir='$T'; pg_run='$pg_run'"
SPAMSHIFT_PG_DB="host=$T user=spamshift dbname=conn" \
SPAMSHIFT_PG_STOP="$lib; pg_cluster_halt fast" \
SPAMSHIFT_PG_START="$lib; pg_cluster_resume" \
    "$prog"
