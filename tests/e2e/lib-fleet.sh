# tests/e2e/lib-fleet.sh - the plumbing of the fleet end-to-end tests (sourced
# by tests/e2e/two_hosts.sh and tests/e2e/pg_restart.sh): one throw-away
# PostgreSQL cluster (tests/pg_cluster.sh) and hosts, each a spamshift-milter
# behind its own private Postfix (scripts/private-postfix.sh) on 127.0.0.1.
#
#   fleet_require             exits 77 (SKIP) unless root with postfix, swaks,
#                             the PostgreSQL server binaries and a build with
#                             PostgreSQL; 99 when spamshift is not built
#   fleet_init NAME           tmp := a new directory; the EXIT trap stops every
#                             host and the cluster and removes tmp (KEEP=1
#                             keeps it); fail() names the test NAME
#   fleet_ports N             ports := N free TCP ports of 127.0.0.1, derived
#                             from the pid (each probed); fails with fewer
#   fleet_store DBNAME        starts the cluster in tmp/pg, creates database
#                             DBNAME, sets DB (its URI), trains tmp/model.bin
#                             from tests/milter/data and creates the store
#   fleet_host_up H PORT [LINE...]
#                             host H: its milter on tmp/H/milter.sock (conf
#                             tmp/H/spamshift.conf: database = DB, the LINEs
#                             appended; log tmp/H/milter.log; pid in mpid_H)
#                             and its Postfix on PORT delivering to
#                             tmp/H/mail/USER/ for each USER@example.org of
#                             fleet_users (default: bob carol dave), with
#                             milter_default_action = tempfail
#   fleet_two NAME DBNAME [LINE...]
#                             fleet_require, fleet_init NAME, two free ports
#                             (port_a, port_b), fleet_store DBNAME and hosts A
#                             and B up with the LINEs; fails unless both
#                             milters run
#   fail MESSAGE...           FAIL line and the tail of every log, exit 1
#   now                       the time, seconds with a fraction
# Callers use bash (/dev/tcp).
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=.}"
data=$top_srcdir/tests/milter/data
corpus=$top_srcdir/tests/data/corpus
milter=$top_builddir/spamshift-milter
cli=$top_builddir/spamshift
POSTFIX=$(command -v postfix || echo /usr/sbin/postfix)
pp=$top_srcdir/scripts/private-postfix.sh
. "$top_srcdir/tests/pg_cluster.sh"
fleet_users=${fleet_users:-bob carol dave}
fleet_hosts=
fleet_name=fleet
tmp=

fleet_require() {
	[ "$(id -u)" -eq 0 ] || { echo "SKIP: must run as root to start Postfix"; exit 77; }
	[ -x "$POSTFIX" ] || { echo "SKIP: postfix not installed"; exit 77; }
	command -v swaks >/dev/null 2>&1 || { echo "SKIP: swaks not installed"; exit 77; }
	id postfix >/dev/null 2>&1 || { echo "SKIP: no postfix user"; exit 77; }
	pg_cluster_require
	local b
	for b in "$milter" "$cli"; do
		[ -x "$b" ] || { echo "FAIL: $b is not built"; exit 99; }
	done
	grep -q "define HAVE_LIBPQ 1" "$top_builddir/config/config.h" 2>/dev/null || {
		echo "SKIP: this spamshift was built without PostgreSQL (apt-get install libpq-dev)"
		exit 77
	}
}

fleet_cleanup() {
	local h p
	for h in $fleet_hosts; do
		"$pp" stop "$tmp/$h" 2>/dev/null
		eval "p=\${mpid_$h:-}"
		[ -n "$p" ] && kill "$p" 2>/dev/null
	done
	wait 2>/dev/null
	pg_cluster_stop
	[ -n "${KEEP:-}" ] || rm -rf "$tmp"
}

fleet_init() {
	fleet_name=$1
	tmp=$(mktemp -d "/tmp/spamshift-$1.XXXXXX") || exit 99
	chmod 755 "$tmp"        # smtpd (postfix) reaches the sockets; the server (nobody) its dir
	trap fleet_cleanup EXIT
	trap 'exit 1' INT TERM
}

fail() {        # to stderr: it may run inside $(...), whose caller then exits
	{
		echo "FAIL: $fleet_name: $*"
		local f
		for f in "$tmp"/*/milter.log "$tmp"/*/maillog "$tmp"/*.out "$tmp/pg/server.log"; do
			[ -f "$f" ] && { echo "--- ${f#"$tmp"/}:"; tail -n 30 "$f"; }
		done
	} >&2
	exit 1
}
now() { date +%s.%N; }

fleet_ports() {
	local p n=$1
	ports=
	for p in $((22000 + $$ % 18000)) $((22100 + $$ % 17000)) $((23000 + $$ % 16000)) \
		 $((41000 + $$ % 9000)) $((42000 + $$ % 8000)) $((43000 + $$ % 7000)); do
		(exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || ports="$ports $p"
	done
	set -- $ports
	[ $# -ge "$n" ] || fail "fewer than $n free ports"
}

fleet_store() {
	mkdir "$tmp/pg" && pg_cluster_start "$tmp/pg" >"$tmp/pg.out" 2>&1 \
		|| { cat "$tmp/pg.out"; fail "PostgreSQL cluster"; }
	pg_cluster_sql "CREATE DATABASE $1" || fail "create database"
	DB="postgresql:///$1?host=$tmp/pg&user=spamshift"
	"$cli" train -q -o "$tmp/model.bin" --ham "$data/ham" --spam "$data/spam" --seed 1 \
		>"$tmp/train.log" 2>&1 || { cat "$tmp/train.log"; fail "spamshift train failed"; }
	# Create the store before the milters open it.
	"$cli" user --db "$DB" --user nobody@example.org --spam-threshold 0.5 >"$tmp/user.log" 2>&1 \
		|| { cat "$tmp/user.log"; fail "spamshift user (create the store)"; }
}

fleet_host_up() {
	local h=$1 port=$2 i=0 u maps=
	shift 2
	fleet_hosts="$fleet_hosts $h"
	mkdir -p "$tmp/$h/mail"
	chown nobody:nogroup "$tmp/$h/mail"
	{
		cat <<EOC
socket = unix:$tmp/$h/milter.sock
socket_mode = 0660
socket_owner = postfix:postfix
model = $tmp/model.bin
database = $DB
log_target = stderr
EOC
		for i in "$@"; do echo "$i"; done
	} >"$tmp/$h/spamshift.conf"
	"$milter" -f -c "$tmp/$h/spamshift.conf" 2>"$tmp/$h/milter.log" &
	eval "mpid_$h=$!"
	for u in $fleet_users; do maps="$maps${maps:+, }$u@example.org=$u/"; done
	"$pp" setup "$tmp/$h" "$port" "myhostname=mx-$h.e2e.test" mydomain=e2e.test \
		'myorigin=$myhostname' virtual_mailbox_domains=example.org \
		"virtual_mailbox_base=$tmp/$h/mail" "virtual_mailbox_maps=inline:{ $maps }" \
		"virtual_uid_maps=static:$(id -u nobody)" "virtual_gid_maps=static:$(id -g nobody)" \
		virtual_minimum_uid=1 "smtpd_milters=unix:$tmp/$h/milter.sock" \
		milter_default_action=tempfail >"$tmp/$h/setup.log" 2>&1 \
		|| { cat "$tmp/$h/setup.log"; fail "private Postfix setup for host $h"; }
	i=0
	while [ ! -S "$tmp/$h/milter.sock" ]; do
		i=$((i + 1)); [ $i -le 200 ] || fail "host $h: milter socket missing"
		sleep 0.05
	done
	"$pp" start "$tmp/$h" >"$tmp/$h/start.log" 2>&1 \
		|| { cat "$tmp/$h/start.log"; fail "host $h: postfix start"; }
}

fleet_two() {
	local name=$1 db=$2
	shift 2
	fleet_require
	fleet_init "$name"
	fleet_ports 2
	read -r port_a port_b _ <<<"$ports"
	fleet_store "$db"
	fleet_host_up A "$port_a" "$@"
	fleet_host_up B "$port_b" "$@"
	kill -0 "$mpid_A" && kill -0 "$mpid_B" || fail "a milter exited at start"
}
