# bench/store/cluster.sh - sourced by bench/store/pg.sh and writes.sh: a
# throw-away PostgreSQL cluster for a benchmark (tests/pg_cluster.sh's, with
# fsync on as a production server has it), stopped when the script exits.
#   bench_cluster WORKDIR      empties WORKDIR, starts the cluster in WORKDIR/pg
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/../../tests/pg_cluster.sh"

bench_cluster() {
    pg_cluster_find || { echo "no PostgreSQL server binaries (apt-get install postgresql)" >&2; exit 77; }
    rm -rf "$1"
    mkdir -p "$1/pg"
    chmod 755 "$1"
    trap pg_cluster_stop EXIT
    pg_cluster_start "$1/pg" || exit 1
    pg_cluster_sql "ALTER SYSTEM SET fsync = on" >/dev/null
    pg_cluster_sql "SELECT pg_reload_conf()" >/dev/null
}
