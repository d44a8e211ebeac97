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
# Never part of make check.
set -eu
[ $# -ge 3 ] || { echo "usage: $0 BUILDDIR MODEL WORKDIR [USERS [FEEDBACK [SAMPLES [JOBS]]]]" >&2; exit 64; }
B=$(cd "$1" && pwd) MODEL=$2 W=$3 U=${4:-10000} F=${5:-20} S=${6:-200} J=${7:-2}
here=$(cd "$(dirname "$0")" && pwd)
SS=$B/spamshift
. "$here/../../tests/pg_cluster.sh"
pg_cluster_find || { echo "no PostgreSQL server binaries (apt-get install postgresql)" >&2; exit 77; }
rm -rf "$W"
mkdir -p "$W/pg"
chmod 755 "$W"
trap pg_cluster_stop EXIT
pg_cluster_start "$W/pg" || exit 1
pg_cluster_sql "ALTER SYSTEM SET fsync = on" >/dev/null
pg_cluster_sql "SELECT pg_reload_conf()" >/dev/null
pg_cluster_sql "CREATE DATABASE adapt" >/dev/null
pg_cluster_sql "CREATE DATABASE stats" >/dev/null
PGA="postgresql:///adapt?host=$W/pg&user=spamshift"
PGS="postgresql:///stats?host=$W/pg&user=spamshift"
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
pg_cluster_sql "VACUUM ANALYZE" >/dev/null
for args in "" "--json" "--format prometheus" "--user user00042@example.org" "--since all"; do
    for db in "$W/stats/store.db" "$PGS"; do
        # shellcheck disable=SC2086
        "$SS" stats --db "$db" $args >/dev/null   # warm the caches
        start=$(date +%s.%N)
        for _ in 1 2 3; do "$SS" stats --db "$db" $args >/dev/null; done
        end=$(date +%s.%N)
        printf 'stats %-34s %-10s %6.3f s per run (mean of 3, warm)\n' "$args" \
            "$(case $db in postgresql*) echo PostgreSQL ;; *) echo SQLite ;; esac)" \
            "$(echo "($end - $start) / 3" | bc -l)"
    done
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
