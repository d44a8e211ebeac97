#!/bin/bash
# bench/store/pg.sh - issue 17's store benchmarks on both backends, side by
# side in one run: `spamshift adapt --all -j JOBS` over USERS users, and
# `spamshift stats` over 10,000 users and 1,000,000 scan records, on SQLite and
# on PostgreSQL.  The PostgreSQL store is a throw-away cluster
# (tests/pg_cluster.sh: initdb on WORKDIR/pg, a unix socket, fsync as the
# server's default, on) filled by `spamshift store copy` from the SQLite store,
# so that both hold the same rows.
#
#   bench/store/pg.sh BUILDDIR MODEL WORKDIR [USERS [FEEDBACK [SAMPLES [JOBS]]]]
#
# BUILDDIR holds spamshift and tests/cli/store_tool (`make tests/cli/store_tool`).
# adapt: each user gets FEEDBACK labelled messages (half spam) and SAMPLES
# unlabelled ones, bags of 200 random feature ids (store_tool populate, as
# bench/adapt/all.sh); defaults 10000 20 200 2.  stats: the store of
# bench/stats/run.sh (which also times SQLite's stats), copied.  Prints the
# wall and CPU (user + sys) time of every step; a step that fails stops the run.
# STEPS (environment; default "adapt stats") picks the parts to run.
# stats: every form run REPS times (environment; default 5) after a warm-up,
# alternating the backends run by run (the machine is shared: both see the
# same load); each line gives the median, min and max wall time, and for
# PostgreSQL the server's CPU (the backends' user + sys, from the
# postmaster's children's times) per run; the load average before and after.
# BEFORE (environment): another build's spamshift, timed in the same
# rotation (a before/after in one run) on the same rows: its own database,
# stats_before, filled by its own `store copy` (a build of another schema
# version does not open this one's database).
# Never part of make check.
set -eu
[ $# -ge 3 ] || { echo "usage: $0 BUILDDIR MODEL WORKDIR [USERS [FEEDBACK [SAMPLES [JOBS]]]]" >&2; exit 64; }
B=$(cd "$1" && pwd) MODEL=$2 W=$3 U=${4:-10000} F=${5:-20} S=${6:-200} J=${7:-2}
here=$(cd "$(dirname "$0")" && pwd)
SS=$B/spamshift
. "$here/cluster.sh"
bench_cluster "$W"
pg_cluster_sql "CREATE DATABASE adapt" >/dev/null
pg_cluster_sql "CREATE DATABASE stats" >/dev/null
pg_cluster_sql "CREATE DATABASE stats_before" >/dev/null
PGA="postgresql:///adapt?host=$W/pg&user=spamshift"
PGS="postgresql:///stats?host=$W/pg&user=spamshift"
PGSB="postgresql:///stats_before?host=$W/pg&user=spamshift"
echo "machine: $(nproc) CPUs, $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)," \
    "$(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo) RAM;" \
    "$(date -u '+%Y-%m-%d %H:%M UTC'); load $(cut -d' ' -f1-3 /proc/loadavg);" \
    "PostgreSQL $("$pg_bin/postgres" -V | sed 's/^[^0-9]*\([0-9.]*\).*/\1/')"

# timed NAME command...: run it, print wall and CPU seconds; its output in W/NAME.out.
timed() {
    local name=$1
    shift
    if ! /usr/bin/time -f '%e %U %S %M' -o "$W/$name.time" "$@" >"$W/$name.out" 2>&1; then
        echo "$name: failed:" >&2; tail -5 "$W/$name.out" >&2; exit 1
    fi
    read -r e u s m <"$W/$name.time"
    awk -v n="$name" -v e="$e" -v u="$u" -v s="$s" -v m="$m" \
        'BEGIN { printf "%-28s wall %7.1f s  CPU %7.1f s (user %.1f + sys %.1f)  max RSS %d kB\n", n, e, u + s, u, s, m }'
}

STEPS=${STEPS:-adapt stats}
case " $STEPS " in *" adapt "*) ;; *) SKIP_ADAPT=1 ;; esac
if [ -z "${SKIP_ADAPT:-}" ]; then
echo "== adapt --all -j $J: $U users, $F labels and $S samples each"
timed populate-sqlite "$B/tests/cli/store_tool" populate "$W/adapt.db" "$U" "$F" "$S"
timed copy-to-pg "$SS" store copy "$W/adapt.db" "$PGA"
tail -n 3 "$W/copy-to-pg.out"
timed adapt-sqlite "$SS" adapt -m "$MODEL" --db "$W/adapt.db" --all -j "$J"
tail -n 1 "$W/adapt-sqlite.out"
timed adapt-pg "$SS" adapt -m "$MODEL" --db "$PGA" --all -j "$J"
tail -n 1 "$W/adapt-pg.out"
fi
case " $STEPS " in *" stats "*) ;; *) exit 0 ;; esac

echo "== stats: bench/stats/run.sh's store (10,000 users, 1,000,000 scan records)"
timed stats-sqlite "$here/../stats/run.sh" "$SS" "$W/stats"
cat "$W/stats-sqlite.out"
timed copy-stats-to-pg "$SS" store copy "$W/stats/store.db" "$PGS"
tail -n 3 "$W/copy-stats-to-pg.out"
# On the stats database (pg_cluster_sql's is postgres), as autovacuum would
# soon after a copy: the planner's row counts and the visibility map.
dbs=stats
if [ -n "${BEFORE:-}" ]; then
    timed copy-stats-to-pg-before "$BEFORE" store copy "$W/stats/store.db" "$PGSB"
    tail -n 1 "$W/copy-stats-to-pg-before.out"
    dbs="stats stats_before"
fi
for d in $dbs; do
    "$pg_bin/psql" -h "$pg_host" -U spamshift -d "$d" -qAt -v ON_ERROR_STOP=1 \
        -c "VACUUM ANALYZE" >/dev/null
done
REPS=${REPS:-5}
pm=$(head -1 "$W/pg/data/postmaster.pid")
tck=$(getconf CLK_TCK)
# The CPU seconds of the server's exited backends (the postmaster's cutime + cstime).
server_cpu() { awk -v t="$tck" '{ printf "%.3f", ($16 + $17) / t }' "/proc/$pm/stat"; }
# stats_run LABEL BIN DB ARGS...: one timed run, "LABEL wall server_cpu" on W/stats.times.
stats_run() {
    local label=$1 bin=$2 db=$3 c0 c1 t0 t1
    shift 3
    c0=$(server_cpu)
    t0=$(date +%s.%N)
    "$bin" stats --db "$db" "$@" >/dev/null
    t1=$(date +%s.%N)
    sleep 0.1      # the backend has exited and been reaped
    c1=$(server_cpu)
    echo "$label $(echo "$t1 - $t0" | bc -l) $(echo "$c1 - $c0" | bc -l)" >>"$W/stats.times"
}
# stats_summary: numbers on stdin, sorted, to "median min max count".
stats_summary() {
    awk '{ v[++n] = $1 } END { m = n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
        print m, v[1], v[n], n }'
}
runs="SQLite:$SS:$W/stats/store.db PostgreSQL:$SS:$PGS"
[ -n "${BEFORE:-}" ] && runs="$runs PostgreSQL-before:$BEFORE:$PGSB"
for args in "" "--json" "--format prometheus" "--user user00042@example.org" "--since all"; do
    load0=$(cut -d' ' -f1-3 /proc/loadavg)
    : >"$W/stats.times"
    for r in $runs; do
        IFS=: read -r label bin db <<<"$r"
        # shellcheck disable=SC2086
        "$bin" stats --db "$db" $args >/dev/null   # warm the caches
    done
    for _ in $(seq "$REPS"); do
        for r in $runs; do
            IFS=: read -r label bin db <<<"$r"
            # shellcheck disable=SC2086
            stats_run "$label" "$bin" "$db" $args
        done
    done
    for r in $runs; do
        label=${r%%:*}
        w=$(awk -v l="$label" '$1 == l { print $2 }' "$W/stats.times" | sort -n | stats_summary)
        c=$(awk -v l="$label" '$1 == l { print $3 }' "$W/stats.times" | sort -n | stats_summary)
        # shellcheck disable=SC2086
        set -- $w
        printf 'stats %-30s %-17s median %6.3f s (min %.3f, max %.3f, %d runs)' \
            "${args:-(table)}" "$label" "$1" "$2" "$3" "$4"
        # shellcheck disable=SC2086
        [ "$label" = SQLite ] || { set -- $c; printf ', server CPU median %.2f s' "$1"; }
        printf '\n'
    done
    echo "    load average before $load0, after $(cut -d' ' -f1-3 /proc/loadavg)"
done
"$SS" stats --db "$W/stats/store.db" --json --since all >"$W/stats-sqlite.json"
"$SS" stats --db "$PGS" --json --since all >"$W/stats-pg.json"
# The same but for when it ran and the store's size on disk.
python3 - "$W/stats-sqlite.json" "$W/stats-pg.json" <<'PY'
import json, sys
a, b = (json.load(open(f)) for f in sys.argv[1:])
for j in (a, b):
    j.pop("generated", None)
    j["overview"].pop("db_bytes", None)
print("stats --json --since all:", "the same on both (but generated, db_bytes)" if a == b
      else "differs (diff %s %s)" % tuple(sys.argv[1:]))
PY
