#!/bin/bash
# bench/store/writes.sh - the milter writer's store work alone, on SQLite and
# on PostgreSQL, in CPU time per message (less noisy than msg/s on a shared
# machine): bench/store/writes (one OFFER and one SCAN a message, in
# store_apply batches as the writer gathers them) against a SQLite file and a
# throw-away cluster (tests/pg_cluster.sh: a unix socket, fsync on).
#
#   bench/store/writes.sh WRITES WORKDIR [MESSAGES [PER_BATCH [USERS [ROUNDS]]]]
#
# WRITES is a built bench/store/writes (`make bench/store/writes`; one built
# at another commit compares that commit's store).  Defaults 3000 messages, 8
# a batch (about what the milter's writer put in a transaction in
# bench/milter/run.sh -S: 60 transactions for 400 messages), 1 user, 3 rounds,
# each round a fresh SQLite file and a fresh database.  For each round it prints
# the client's CPU ms/msg (writes' own user + sys), and for PostgreSQL the
# server's: every process of the cluster (the postmaster's own and reaped
# children's time, and its live children's: backends, WAL writer,
# checkpointer) over the round, / messages.  Also the statements a message
# costs: the server's log with log_statement = all in one extra round of 200
# messages.  Never part of make check.
set -eu
[ $# -ge 2 ] || { echo "usage: $0 WRITES WORKDIR [MESSAGES [PER_BATCH [USERS [ROUNDS]]]]" >&2; exit 64; }
WR=$(cd "$(dirname "$1")" && pwd)/$(basename "$1") W=$2
M=${3:-3000} P=${4:-8} U=${5:-1} R=${6:-3}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/cluster.sh"
bench_cluster "$W"
tck=$(getconf CLK_TCK)
echo "machine: $(nproc) CPUs, $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1);" \
    "$(date -u '+%Y-%m-%d %H:%M UTC'); load $(cut -d' ' -f1-3 /proc/loadavg);" \
    "PostgreSQL $("$pg_bin/postgres" -V | sed 's/^[^0-9]*\([0-9.]*\).*/\1/')"
echo "writes $WR: $M messages, $P a batch, $U user(s)"

# The cluster's CPU ticks so far: the postmaster's own and its reaped
# children's, and every live child's.
server_ticks() {
    local pm t=0 p
    pm=$(head -1 "$W/pg/data/postmaster.pid")
    t=$(awk '{ print $14 + $15 + $16 + $17 }' "/proc/$pm/stat")
    for p in $(pgrep -P "$pm"); do
        t=$((t + $(awk '{ print $14 + $15 }' "/proc/$p/stat" 2>/dev/null || echo 0)))
    done
    echo "$t"
}

for r in $(seq 1 "$R"); do
    out=$("$WR" "$W/r$r.db" "$M" "$P" "$U")
    echo "round $r SQLite:     $out"
    pg_cluster_sql "CREATE DATABASE r$r" >/dev/null
    t0=$(server_ticks)
    out=$("$WR" "postgresql:///r$r?host=$W/pg&user=spamshift" "$M" "$P" "$U")
    sleep 0.2                           # the backend exits and is reaped
    t1=$(server_ticks)
    echo "round $r PostgreSQL: $out server_cpu_ms_per_msg" \
        "$(awk -v a="$t0" -v b="$t1" -v h="$tck" -v m="$M" 'BEGIN { printf "%.4f", (b - a) * 1000 / h / m }')"
done

pg_cluster_sql "CREATE DATABASE logged" >/dev/null
pg_cluster_sql "ALTER DATABASE logged SET log_statement = 'all'" >/dev/null
before=$(wc -l <"$W/pg/server.log")
"$WR" "postgresql:///logged?host=$W/pg&user=spamshift" 200 "$P" "$U" >/dev/null
sleep 0.2
echo "statements for 200 messages (log_statement = all), by text:"
tail -n +"$((before + 1))" "$W/pg/server.log" |
    sed -n 's/.*LOG:  \(statement\|execute [^:]*\): \(.\{0,70\}\).*/\2/p' | sort | uniq -c | sort -rn
tail -n +"$((before + 1))" "$W/pg/server.log" | grep -c 'LOG:  \(statement\|execute\)' |
    awk '{ printf "total %d, %.2f a message\n", $1, $1 / 200 }'

# Round trips: the client's socket writes (libpq sends once per flush: one
# send a round trip, and each wakes the server's backend) and reads, for 200
# messages, under strace -c (only when strace is there).
if command -v strace >/dev/null; then
    pg_cluster_sql "CREATE DATABASE traced" >/dev/null
    strace -f -c -o "$W/strace.out" -e trace=sendto,recvfrom,poll \
        "$WR" "postgresql:///traced?host=$W/pg&user=spamshift" 200 "$P" "$U" >/dev/null
    for call in sendto recvfrom poll; do
        awk -v c="$call" '$NF == c { n = $4 }
            END { printf "%s calls for 200 messages: %d, %.2f a message\n", c, n, n / 200 }' \
            "$W/strace.out"
    done
fi
