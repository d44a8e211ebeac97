#!/bin/bash
# run.sh - milter throughput benchmark (issue 3, item 9):
#   load client -> Postfix -> spamshift-milter -> smtp-sink
# side by side with the same Postfix instance without a milter (a second smtpd
# port with smtpd_milters empty) and with bench/milter/nullmilter (a third port:
# the same libmilter conversation as spamshift-milter without its work), so that
# queue, disk and delivery are shared and what any milter costs Postfix is told
# apart from what spamshift's scan costs.
#
#   bench/milter/run.sh -B BUILDDIR -m MODEL [-n MESSAGES] [-s SESSIONS]
#                       [-l MSGLEN] [-o RESULT.md] [-C] [-d] [-N NICE] [-W DIR]
#                       [-M] [-S] [-F] [CORPUS_DIR...]
# (-C: corpus replay only, no smtp-source phases; -d: smtp-source keeps its
# SESSIONS connections open for every message, as replay.py does, instead of
# one SMTP session, hence one milter connection, per message; -N: the milter's nice value,
# default 10 like everything else: -N 0 measures the milter run ahead of Postfix,
# as contrib/systemd/spamshift-milter.service's Nice= line can set it; -W: the
# directory that holds the run's Postfix queue, sink and sockets, default /tmp;
# its filesystem is part of what is measured, since Postfix creates and removes
# a queue file per message; -M: a second spamshift-milter with metrics_listen on a
# fourth smtpd port, scraped every 0.1 s (HTTP GET /metrics from one Python
# client) while its phases run, and the
# spamshift phases run twice, alternating without and with it, so that the cost
# of the metrics is told apart from the run-to-run noise; -S: the store
# comparison of issue 17: two more spamshift-milters, one with database = a
# SQLite store in the work directory, one with database = a PostgreSQL store on
# a throw-away cluster (tests/pg_cluster.sh: initdb on a temporary directory
# under the work directory, a unix socket, fsync as the cluster's default
# unless -F), each on an smtpd port of its own, and their phases run twice,
# alternating SQLite and PostgreSQL, so that the ratio is read within one run)
#
# Loads: smtp-source (fixed-size generated mail, -l bytes) and, when corpus
# directories are given, bench/milter/replay.py replaying their messages.
# For each load and each path it measures: client throughput (messages/s until
# the last message is accepted), time until the sink has every message,
# messages counted at the sink (0 lost = sink count equals accepted), the
# milter's end-of-message latency (scan_ms from its log: p50/p99/max), the
# client-side end-of-DATA latency (replay.py), and the milter's RSS sampled
# every 0.5 s (start, max, end).  Must run as root (own Postfix instance,
# nothing of the system's touched).  Everything runs under nice(1).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
builddir= model= n=10000 sessions=20 msglen=4096 out= corpus_only= milter_nice=10 keep= workdir=/tmp
with_metrics= with_stores= pg_fsync=on
while getopts "B:m:n:s:l:o:CdN:W:MSF" o; do
	case $o in
	B) builddir=$OPTARG ;; m) model=$OPTARG ;; n) n=$OPTARG ;; s) sessions=$OPTARG ;;
	l) msglen=$OPTARG ;; o) out=$OPTARG ;; C) corpus_only=1 ;; d) keep=-d ;;
	N) milter_nice=$OPTARG ;; W) workdir=$OPTARG ;; M) with_metrics=1 ;;
	S) with_stores=1 ;; F) pg_fsync=off ;;
	*) echo "usage: $0 -B BUILDDIR -m MODEL [-n N] [-s S] [-l LEN] [-o OUT] [-C] [-d] [-N NICE] [-W DIR] [-M] [-S] [-F] [CORPUS...]" >&2
	   exit 64 ;;
	esac
done
shift $((OPTIND - 1))
corpora=("$@")
[ -n "$builddir" ] && [ -n "$model" ] || { echo "need -B BUILDDIR and -m MODEL" >&2; exit 64; }
[ "$(id -u)" -eq 0 ] || { echo "must run as root" >&2; exit 77; }
milter=$builddir/spamshift-milter
NICE="nice -n 10"

tmp=$(mktemp -d "$workdir/spamshift-bench.XXXXXX")
chmod 755 "$tmp"
mpid= spid= rpid= zpid= xpid= scpid= lpid= qpid=
cleanup() {
	"$here/../../scripts/private-postfix.sh" stop "$tmp"
	for p in $mpid $zpid $xpid $lpid $qpid $spid $rpid $scpid; do kill "$p" 2>/dev/null || true; done
	for p in $mpid $zpid $xpid $lpid $qpid; do wait "$p" 2>/dev/null || true; done
	[ -z "$with_stores" ] || pg_cluster_stop
	[ -n "${KEEP:-}" ] || rm -rf "$tmp"
}
trap cleanup EXIT

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
port_base=$((30000 + $$ % 20000))
sink_port=$port_base a_port=$((port_base + 1)) b_port=$((port_base + 2)) z_port=$((port_base + 3))
x_port=$((port_base + 4)) metrics_port=$((port_base + 5))
l_port=$((port_base + 6)) q_port=$((port_base + 7))

pp=$here/../../scripts/private-postfix.sh
. "$here/lib.sh"
sink_start $sink_port 256 $NICE

# The milter: the model's threshold, tags only (nothing rejected, so every
# message must reach the sink).
milter_conf "$tmp/spamshift.conf" "max_message_size = 1M"
nice -n "$milter_nice" "$milter" -f -c "$tmp/spamshift.conf" 2>"$tmp/milter.log" &
mpid=$!
while [ ! -S "$tmp/milter.sock" ]; do kill -0 $mpid; sleep 0.05; done
nice -n "$milter_nice" "$builddir/bench/milter/nullmilter" "unix:$tmp/null.sock" 2>"$tmp/null.log" &
zpid=$!
while [ ! -S "$tmp/null.sock" ]; do kill -0 $zpid; sleep 0.05; done
# -M: the same milter and config with metrics_listen, on a socket of its own.
if [ -n "$with_metrics" ]; then
	sed -e "s|$tmp/milter.sock|$tmp/milterx.sock|" "$tmp/spamshift.conf" >"$tmp/spamshiftx.conf"
	echo "metrics_listen = 127.0.0.1:$metrics_port" >>"$tmp/spamshiftx.conf"
	nice -n "$milter_nice" "$milter" -f -c "$tmp/spamshiftx.conf" 2>"$tmp/milterx.log" &
	xpid=$!
	while [ ! -S "$tmp/milterx.sock" ]; do kill -0 $xpid; sleep 0.05; done
fi
# -S: the same milter and config with database = a SQLite store, and with
# database = a PostgreSQL store on a private cluster (nobody runs the server;
# the milter, as root, reaches its socket in $tmp/pg).
if [ -n "$with_stores" ]; then
	. "$here/../../tests/pg_cluster.sh"
	pg_cluster_find || { echo "-S: no PostgreSQL server binaries (apt-get install postgresql)" >&2; exit 77; }
	mkdir "$tmp/pg"
	pg_cluster_start "$tmp/pg" || exit 1
	[ "$pg_fsync" = on ] && pg_cluster_sql "ALTER SYSTEM SET fsync = on" >/dev/null &&
		pg_cluster_sql "SELECT pg_reload_conf()" >/dev/null
	pg_cluster_sql "CREATE DATABASE bench" >/dev/null
	pg_db="postgresql:///bench?host=$tmp/pg&user=spamshift"
	sed -e "s|$tmp/milter.sock|$tmp/milterl.sock|" "$tmp/spamshift.conf" >"$tmp/spamshiftl.conf"
	echo "database = $tmp/store.db" >>"$tmp/spamshiftl.conf"
	sed -e "s|$tmp/milter.sock|$tmp/milterq.sock|" "$tmp/spamshift.conf" >"$tmp/spamshiftq.conf"
	echo "database = $pg_db" >>"$tmp/spamshiftq.conf"
	nice -n "$milter_nice" "$milter" -f -c "$tmp/spamshiftl.conf" 2>"$tmp/milterl.log" &
	lpid=$!
	nice -n "$milter_nice" "$milter" -f -c "$tmp/spamshiftq.conf" 2>"$tmp/milterq.log" &
	qpid=$!
	while [ ! -S "$tmp/milterl.sock" ]; do kill -0 $lpid; sleep 0.05; done
	while [ ! -S "$tmp/milterq.sock" ]; do kill -0 $qpid; sleep 0.05; done
fi

# Postfix: one queue, two smtpd ports (scripts/private-postfix.sh), started
# under nice as well: at nice 0 against the milter's nice 10 Postfix took about
# ten times the milter's share of a busy CPU, which measured the scheduler, not
# the milter (eom latency inflated by waiting for the CPU).
postfix_setup $a_port $sink_port
"$pp" listen "$tmp" $b_port smtpd_milters=
"$pp" listen "$tmp" $z_port "smtpd_milters=unix:$tmp/null.sock"
[ -z "$with_metrics" ] || "$pp" listen "$tmp" $x_port "smtpd_milters=unix:$tmp/milterx.sock"
if [ -n "$with_stores" ]; then
	"$pp" listen "$tmp" $l_port "smtpd_milters=unix:$tmp/milterl.sock"
	"$pp" listen "$tmp" $q_port "smtpd_milters=unix:$tmp/milterq.sock"
fi
$NICE "$pp" start "$tmp"

# Anonymous memory (heap, stacks) is what would grow with a leak; file-backed
# RSS is mostly the model's mapped pages, touched as features hit them.
# ($rsspid: spamshift-milter's, or with -M the metrics one's in its phases.)
rsspid=$mpid
rss() { awk '/^RssAnon/ { print $2 }' /proc/$rsspid/status; }
rss_file() { awk '/^RssFile/ { print $2 }' /proc/$rsspid/status; }
# CPU time (user + system) of the milter a phase talks to ($cpid: spamshift's
# or nullmilter's), in clock ticks.
cpu_ticks() { awk '{ print $14 + $15 }' /proc/$cpid/stat; }
# Busy CPU time of the whole machine (every process: Postfix, the load, the sink,
# the milter), in clock ticks: user + nice + system + irq + softirq.
machine_ticks() { awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8 }' /proc/stat; }
sink_count() { find "$tmp/sink" -type f | wc -l; }

# phase NAME PORT LOAD... : run one load against one port; appends a result row.
rows=()
quarts=()
phase() {
	local name=$1 port=$2
	shift 2
	find "$tmp/sink" -type f -delete
	local log_start rss0 t0 t1 t2 accepted sunk
	log_start=$(wc -l <"$mlog")
	rss0=$(rss)
	local cpu0 mach0
	cpu0=$(cpu_ticks)
	mach0=$(machine_ticks)
	( while :; do rss >>"$tmp/rss.$name"; rss_file >>"$tmp/rssf.$name"; sleep 0.5; done ) &
	rpid=$!
	t0=$(date +%s.%N)
	"$@" >"$tmp/load.$name" 2>&1 || true
	t1=$(date +%s.%N)
	# Every accepted message must reach the sink (milter only tags).
	# replay.py prints one JSON line; smtp-source prints nothing when all went in.
	local json
	json=$(grep '^{"sent"' "$tmp/load.$name" | tail -1 || true)
	accepted=$n
	if [ -n "$json" ]; then
		accepted=$(printf '%s' "$json" | sed 's/.*"accepted": \([0-9]*\).*/\1/')
	elif [ -s "$tmp/load.$name" ]; then
		echo "$name: the load client said:" >&2
		head -5 "$tmp/load.$name" >&2
	fi
	for _ in $(seq 1 240); do
		[ "$(sink_count)" -ge "$accepted" ] && break
		sleep 0.5
	done
	t2=$(date +%s.%N)
	kill $rpid; wait $rpid 2>/dev/null || true; rpid=
	sunk=$(sink_count)
	local lat
	lat=$(tail -n +$((log_start + 1)) "$mlog" | sed -n 's/.* scan_ms=\([0-9.]*\) .*/\1/p' |
		sort -n | awk '{ v[NR] = $1 } END { if (NR == 0) { print "- - -"; exit }
			i50 = int(0.50 * NR); i99 = int(0.99 * NR); if (i50 < 1) i50 = 1; if (i99 < 1) i99 = 1
			printf "%.2f %.2f %.2f", v[i50], v[i99], v[NR] }')
	local eod="-"
	if [ -n "$json" ]; then
		eod=$(printf '%s' "$json" | sed 's/.*"eod_ms_p50": \([0-9.]*\), "eod_ms_p99": \([0-9.]*\).*/\1 \/ \2/')
	fi
	local rssmax rss1
	rssmax=$(sort -n "$tmp/rss.$name" | tail -1)
	rss1=$(rss)
	# Anonymous RSS a tenth into the run (after warm-up) against the end: growth
	# per message shows as a difference that scales with the message count.
	local rss10 rssf
	rss10=$(awk -v k="$(($(wc -l <"$tmp/rss.$name") / 10 + 1))" 'NR == k' "$tmp/rss.$name")
	rssf=$(sort -n "$tmp/rssf.$name" | tail -1)
	local cpums machms quart
	cpums=$(awk -v a="$cpu0" -v b="$(cpu_ticks)" -v hz="$(getconf CLK_TCK)" -v n="$n" \
		'BEGIN { printf "%.3f", (b - a) * 1000 / hz / n }')
	machms=$(awk -v a="$mach0" -v b="$(machine_ticks)" -v hz="$(getconf CLK_TCK)" -v n="$n" \
		'BEGIN { printf "%.3f", (b - a) * 1000 / hz / n }')
	quart=$(awk '{ v[NR] = $1 } END { printf "%d / %d / %d / %d", v[int(NR / 4) + 1],
		v[int(NR / 2) + 1], v[int(3 * NR / 4) + 1], v[NR] }' "$tmp/rss.$name")
	quarts+=("| $name | $quart |")
	rows+=("$(awk -v name="$name" -v n="$n" -v t0="$t0" -v t1="$t1" -v t2="$t2" -v acc="$accepted" \
		-v sunk="$sunk" -v lat="$lat" -v eod="$eod" -v r0="$rss0" -v rm="$rssmax" -v r1="$rss1" \
		-v r10="$rss10" -v rf="$rssf" -v cpums="$cpums" -v machms="$machms" \
		'BEGIN { split(lat, l, " ");
		printf "| %s | %d | %.1f | %.1f | %d / %d | %s | %s | %s | %s | %.1f | %s | %s | %d / %d / %d / %d | %d |",
			name, n, n / (t1 - t0), n / (t2 - t0), sunk, acc, l[1], l[2], l[3], eod,
			(t2 - t0), cpums, machms, r0, r10, rm, r1, rf }')")
	echo "${rows[-1]}"
}

# One phase per load and path: Postfix alone, with the null milter, with
# spamshift; with -M then spamshift with metrics_listen (scraped), spamshift
# again and with metrics again.
cpid=$mpid
mlog=$tmp/milter.log
paths=("no milter:$b_port:$mpid" "null milter:$z_port:$zpid" "spamshift:$a_port:$mpid")
[ -z "$with_metrics" ] || paths+=("spamshift + metrics scraped:$x_port:$xpid"
	"spamshift (run 2):$a_port:$mpid" "spamshift + metrics scraped (run 2):$x_port:$xpid")
[ -z "$with_stores" ] || paths+=("spamshift + SQLite store:$l_port:$lpid"
	"spamshift + PostgreSQL store:$q_port:$qpid" "spamshift + SQLite store (run 2):$l_port:$lpid"
	"spamshift + PostgreSQL store (run 2):$q_port:$qpid")
scrapes=()
# metrics_phase NAME LOAD...: phase with the scraper running; counts its answers.
metrics_phase() {
	local name=$1
	shift
	: >"$tmp/scrapes"
	# One long-lived client (a curl process per scrape cost the shared CPUs
	# about 40 ms each, which measured curl, not the milter): bounded, killed
	# at the end of the phase.
	python3 -u -c '
import http.client, sys, time
for _ in range(100000):
    try:
        c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=5)
        c.request("GET", "/metrics")
        r = c.getresponse()
        body = r.read()
        print(r.status if b"spamshift_messages_total" in body else "bad", flush=True)
        c.close()
    except OSError as e:
        print("error", e, flush=True)
    time.sleep(0.1)
' "$metrics_port" >>"$tmp/scrapes" 2>&1 &
	scpid=$!
	phase "$name" "$@"
	kill $scpid; wait $scpid 2>/dev/null || true; scpid=
	scrapes+=("| $name | $(wc -l <"$tmp/scrapes") | $(grep -vc '^200$' "$tmp/scrapes" || true) |")
}
run_path() {
	local pname=$1 load=$2
	shift 2
	mlog=$tmp/milter.log rsspid=$mpid
	if [ -n "$with_stores" ] && [ "$cpid" = "$lpid" ]; then
		mlog=$tmp/milterl.log rsspid=$lpid
	elif [ -n "$with_stores" ] && [ "$cpid" = "$qpid" ]; then
		mlog=$tmp/milterq.log rsspid=$qpid
	fi
	if [ "$cpid" = "$xpid" ]; then
		mlog=$tmp/milterx.log rsspid=$xpid
		metrics_phase "$load, $pname" "$@"
	else
		phase "$load, $pname" "$@"
	fi
}
if [ -z "$corpus_only" ]; then
	for path in "${paths[@]}"; do
		IFS=: read -r pname port cpid <<<"$path"
		run_path "$pname" "smtp-source${keep:+ -d}" "$port" $NICE smtp-source $keep -s "$sessions" \
			-m "$n" -l "$msglen" -f load@example.net -t bob@example.org 127.0.0.1:"$port"
	done
fi
if [ ${#corpora[@]} -gt 0 ]; then
	for path in "${paths[@]}"; do
		IFS=: read -r pname port cpid <<<"$path"
		run_path "$pname" "corpus replay" "$port" $NICE python3 "$here/replay.py" --port "$port" \
			--sessions "$sessions" --messages "$n" "${corpora[@]}"
	done
fi

# -S: stop the two store milters (each writer flushes its queue as it stops,
# and says what it wrote), so that the stores are read complete.
if [ -n "$with_stores" ]; then
	for p in $lpid $qpid; do kill "$p"; done
	for p in $lpid $qpid; do wait "$p" 2>/dev/null || true; done
	lpid= qpid=
fi
report() {
	echo "# spamshift-milter throughput ($(date -u +%Y-%m-%d), $(hostname))"
	echo
	echo "Machine: $(nproc) CPUs, $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)," \
		"$(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo) RAM;" \
		"load average before the run: $load_before; Postfix $(postconf -dh mail_version)."
	echo "Command: bench/milter/run.sh -n $n -s $sessions -l $msglen ${keep:+-d }-N $milter_nice -W $workdir ${with_metrics:+-M }${with_stores:+-S }$([ "$pg_fsync" = off ] && echo "-F ")-m $model ${corpora[*]:-}"
	echo "Work directory (Postfix queue, sink): $(df -T "$workdir" | awk 'NR == 2 { print $2 }') filesystem."
	echo "Model: $(sed -n 's/.*; model \([0-9a-f]*\) (.*/\1/p' "$tmp/milter.log" | head -1)" \
		"($(stat -c %s "$model") bytes).  Postfix and the load under nice -n 10, the milter under nice -n $milter_nice; the machine is shared."
	echo
	echo "| load, path | messages | accept msg/s | end-to-end msg/s | at sink / accepted |" \
		"eom p50 ms | eom p99 ms | eom max ms | client end-of-DATA p50 / p99 ms |" \
		"seconds | milter CPU ms/msg | machine CPU ms/msg |" \
		"milter anon RSS kB start / at 10% / max / end | milter file RSS kB max |"
	echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
	printf '%s\n' "${rows[@]}"
	echo
	echo "Milter anonymous RSS (kB) at a quarter, half, three quarters and the end of each phase:"
	echo
	echo "| phase | 25% / 50% / 75% / 100% |"
	echo "|---|---|"
	printf '%s\n' "${quarts[@]}"
	echo
	if [ -n "$with_metrics" ]; then
		echo "Scrapes of the metrics milter (GET /metrics every 0.1 s during its phases, one Python http.client):"
		echo
		echo "| phase | scrapes | not 200 |"
		echo "|---|---|---|"
		printf '%s\n' "${scrapes[@]}"
		echo
	fi
	if [ -n "$with_stores" ]; then
		echo "Stores (-S): SQLite $tmp/store.db; PostgreSQL $("$pg_bin/postgres" -V | sed 's/^[^0-9]*\([0-9.]*\).*/\1/') on a"
		echo "private cluster (unix socket, fsync $pg_fsync), database = $pg_db."
		echo "Their writers as they stopped: SQLite \"$(sed -n 's/.*store writer: //p' "$tmp/milterl.log")\";"
		echo "PostgreSQL \"$(sed -n 's/.*store writer: //p' "$tmp/milterq.log")\"."
		echo "What each store holds after the run (spamshift stats --json --since all: scanned, scan records):"
		echo
		for db in "$tmp/store.db" "$pg_db"; do
			echo "    $db: $("$builddir/spamshift" stats --db "$db" --json --since all 2>&1 |
				python3 -c 'import json,sys; o=json.load(sys.stdin)["overview"]; print("scanned", o.get("scanned"), "scan_records", o.get("scan_records"))' 2>&1)"
		done
		echo
	fi
	echo "CPU ms/msg = the milter process's user + system time over the phase / messages"
	echo "(spamshift-milter's, idle in the no-milter phases; nullmilter's in the"
	echo "null-milter phases); the RSS columns are always spamshift-milter's (idle"
	echo "outside its own phases); machine CPU ms/msg = the busy time"
	echo "of every CPU (all processes: Postfix, load client, sink, milter) over the phase,"
	echo "until the sink holds every message, / messages."
	echo "eom = the milter's own end-of-message work (parse, features, score, headers),"
	echo "from its per-message log line (scan_ms).  End-to-end = until the sink holds every"
	echo "accepted message."
}
if [ -n "$out" ]; then report >"$out"; cat "$out"; else report; fi
