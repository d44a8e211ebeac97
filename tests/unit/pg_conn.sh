#!/bin/sh
# tests/unit/pg_conn.sh - test_pg_conn's outage case and test_writer_pg (the
# milter's writer holding its writes) on a throw-away PostgreSQL cluster
# (tests/pg_cluster.sh) that the tests stop (pg_ctl stop -m fast) and start
# again.  Skips (77) only when the server
# binaries are absent.
set -u
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
. "$top_srcdir/tests/pg_cluster.sh"

pg_cluster_require
for prog in test_pg_conn test_writer_pg; do
    if [ ! -x "${top_builddir:-.}/tests/unit/$prog" ]; then
        echo "FAIL: tests/unit/$prog not built"
        exit 1
    fi
done
pg_cluster_scratch pgconn
pg_cluster_sql "CREATE DATABASE conn" || exit 1
pg_cluster_sql "CREATE DATABASE writer" || exit 1

# The test runs these with system(): the helper sourced again in a child shell.
lib=". '$top_srcdir/tests/pg_cluster.sh'; pg_bin='$pg_bin'; pg_dir='$T'; pg_run='$pg_run'"
export SPAMSHIFT_PG_STOP="$lib; pg_cluster_halt fast"
export SPAMSHIFT_PG_START="$lib; pg_cluster_resume"
rc=0
SPAMSHIFT_PG_DB="host=$T user=spamshift dbname=conn" \
    "${top_builddir:-.}/tests/unit/test_pg_conn" || rc=1
SPAMSHIFT_PG_DB="host=$T user=spamshift dbname=writer" \
    "${top_builddir:-.}/tests/unit/test_writer_pg" || rc=1
exit $rc
