# tests/pg_cluster.sh - a throw-away PostgreSQL cluster for the tests that need
# a real server (sourced): initdb and pg_ctl on a temporary directory, its
# unix socket in that directory (no TCP), trust for the role spamshift, run as
# an unprivileged user (nobody when the tests run as root).
#
#   pg_cluster_find           sets pg_bin (PG_BINDIR or the newest
#                             /usr/lib/postgresql/*/bin with initdb, pg_ctl,
#                             psql); returns 1 when there is none
#   pg_cluster_start DIR      makes DIR (a new directory; its parents searchable
#                             by that user) a cluster and starts
#                             it; returns 1 after printing why; sets pg_host
#                             (the socket directory) and pg_run
#   pg_cluster_require        pg_cluster_find, or prints a SKIP line and
#                             exits 77
#   pg_cluster_scratch NAME   T := a new temporary directory that is a started
#                             cluster, both gone on exit (sets the EXIT
#                             trap); exits 1 after printing why
#   pg_cluster_sql SQL        runs SQL as spamshift on database postgres
#   pg_cluster_halt MODE      pg_ctl stop -m MODE (fast, immediate), waiting;
#                             the tests that take the server away mid-run
#   pg_cluster_resume         starts the halted cluster again (same socket)
#   pg_cluster_stop           stops it (immediate); DIR is the caller's to remove
pg_bin=
pg_dir=
pg_host=
pg_run=

pg_cluster_find() {
    pg_bin=${PG_BINDIR:-}
    if [ -z "$pg_bin" ]; then
        for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k5 -n -r); do
            if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && [ -x "$d/psql" ]; then
                pg_bin=$d
                break
            fi
        done
    fi
    [ -n "$pg_bin" ] && [ -x "$pg_bin/initdb" ] && [ -x "$pg_bin/pg_ctl" ] &&
        [ -x "$pg_bin/psql" ]
}

pg_cluster_require() {
    if ! pg_cluster_find; then
        echo "SKIP: no PostgreSQL server (initdb, pg_ctl, psql under" \
             "/usr/lib/postgresql/*/bin): apt-get install postgresql"
        exit 77
    fi
}

pg_cluster_start() {
    pg_dir=$1
    pg_host=$1
    chmod 755 "$pg_dir" || return 1
    pg_run=
    if [ "$(id -u)" -eq 0 ]; then
        chown nobody "$pg_dir" || return 1
        pg_run="runuser -u nobody --"
    fi
    if ! $pg_run "$pg_bin/initdb" -D "$pg_dir/data" -A trust -U spamshift --locale=C \
            -E UTF8 --no-sync >"$pg_dir/initdb.log" 2>&1; then
        echo "FAIL: initdb:"; cat "$pg_dir/initdb.log"; return 1
    fi
    pg_cluster_resume
}

pg_cluster_resume() {
    if ! $pg_run "$pg_bin/pg_ctl" -D "$pg_dir/data" -l "$pg_dir/server.log" -w -t 60 \
            -o "-k $pg_dir -c listen_addresses= -c fsync=off -c max_connections=50" \
            start >/dev/null; then
        echo "FAIL: pg_ctl start:"; cat "$pg_dir/server.log"; return 1
    fi
}

pg_cluster_scratch() {
    T=$(mktemp -d "${TMPDIR:-/tmp}/ss-$1.XXXXXX") || exit 1
    trap 'pg_cluster_stop; rm -rf "$T"' EXIT
    trap 'exit 1' INT TERM
    pg_cluster_start "$T" || exit 1
}

pg_cluster_sql() {
    "$pg_bin/psql" -h "$pg_host" -U spamshift -d postgres -qAt -v ON_ERROR_STOP=1 -c "$1"
}

pg_cluster_halt() {
    $pg_run "$pg_bin/pg_ctl" -D "$pg_dir/data" -m "$1" -w stop >/dev/null
}

pg_cluster_stop() {
    [ -n "$pg_dir" ] && [ -d "$pg_dir/data" ] &&
        $pg_run "$pg_bin/pg_ctl" -D "$pg_dir/data" -m immediate stop >/dev/null 2>&1
    return 0
}
