#!/bin/sh
# tests/unit/store_conf_pg.sh - the store conformance suite (test_store_conf)
# on PostgreSQL: a throw-away cluster (initdb and pg_ctl on a temporary
# directory, its unix socket in that directory, no TCP), run as an
# unprivileged user (nobody when the tests run as root), one database per
# case.  Skips (77) only when the server binaries are absent.
set -u

bin=${PG_BINDIR:-}
if [ -z "$bin" ]; then
    for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k5 -n -r); do
        if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && [ -x "$d/psql" ]; then
            bin=$d
            break
        fi
    done
fi
if [ -z "$bin" ]; then
    echo "SKIP: no PostgreSQL server (initdb, pg_ctl, psql under /usr/lib/postgresql/*/bin):" \
         "apt-get install postgresql"
    exit 77
fi
prog=${top_builddir:-.}/tests/unit/test_store_conf
if [ ! -x "$prog" ]; then
    echo "FAIL: $prog not built"
    exit 1
fi

T=$(mktemp -d "${TMPDIR:-/tmp}/ss-pgconf.XXXXXX") || exit 1
chmod 755 "$T"
run=
if [ "$(id -u)" -eq 0 ]; then
    chown nobody "$T" || exit 1
    run="runuser -u nobody --"
fi
cleanup() {
    $run "$bin/pg_ctl" -D "$T/data" -m immediate stop >/dev/null 2>&1
    rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

if ! $run "$bin/initdb" -D "$T/data" -A trust -U spamshift --locale=C -E UTF8 --no-sync \
        >"$T/initdb.log" 2>&1; then
    echo "FAIL: initdb:"; cat "$T/initdb.log"; exit 1
fi
if ! $run "$bin/pg_ctl" -D "$T/data" -l "$T/server.log" -w -t 60 \
        -o "-k $T -c listen_addresses= -c fsync=off -c max_connections=50" start >/dev/null; then
    echo "FAIL: pg_ctl start:"; cat "$T/server.log"; exit 1
fi
i=0
: > "$T/create.sql"
while [ $i -lt 16 ]; do
    echo "CREATE DATABASE conf$i;" >> "$T/create.sql"
    i=$((i + 1))
done
if ! "$bin/psql" -h "$T" -U spamshift -d postgres -qAt -v ON_ERROR_STOP=1 \
        -f "$T/create.sql" >"$T/psql.log" 2>&1; then
    echo "FAIL: create databases:"; cat "$T/psql.log"; exit 1
fi

SPAMSHIFT_CONF_DB="host=$T user=spamshift dbname=conf%d" "$prog"
rc=$?
if [ $rc -ne 0 ]; then
    echo "server log:"; tail -20 "$T/server.log"
fi
exit $rc
