#!/bin/bash
# scripts/private-postfix.sh - a private Postfix instance under one directory, on
# 127.0.0.1 only, for the end-to-end test, the milter benchmark and the demo
# (tests/e2e/postfix.sh, bench/milter/run.sh, scripts/demo.sh).  Nothing of the
# system's Postfix is touched: its own main.cf and master.cf in DIR/etc (every
# service unchrooted, since the private queue has no chroot tree), queue in
# DIR/spool, data in DIR/data, log in DIR/maillog.
#
#   private-postfix.sh setup DIR PORT [NAME=VALUE...]
#       write the configuration with smtpd on 127.0.0.1:PORT; each NAME=VALUE
#       sets a main.cf parameter (postconf -e; an empty VALUE clears it)
#   private-postfix.sh listen DIR PORT [NAME=VALUE...]
#       one more smtpd on 127.0.0.1:PORT, with the NAME=VALUE overrides for
#       that port only (master.cf -o; VALUE without blanks)
#   private-postfix.sh start DIR     postfix check and start, then wait (up to
#                                    10 s) until every smtpd port answers
#   private-postfix.sh stop DIR
#
# Needs root and the postfix user (Postfix starts as root and drops to it).
# Exit 64 on a usage error, 1 when Postfix refuses the configuration or does not
# come up (its complaint on stderr).
set -eu
usage() {
	echo "usage: private-postfix.sh setup|listen DIR PORT [NAME=VALUE...] | start|stop DIR" >&2
	exit 64
}
[ $# -ge 2 ] || usage
cmd=$1 dir=$2
shift 2
POSTFIX=$(command -v postfix || echo /usr/sbin/postfix)

# An smtpd line for master.cf, and the port in DIR/etc/ports for start.
smtpd_line() {     # smtpd_line PORT [NAME=VALUE...]
	port=$1
	shift
	printf '127.0.0.1:%s inet n - n - - smtpd' "$port"
	for kv in "$@"; do printf ' -o %s' "$kv"; done
	printf '\n'
}

case $cmd in
setup)
	[ $# -ge 1 ] || usage
	port=$1
	shift
	mkdir -p "$dir/etc" "$dir/spool" "$dir/data"
	chown postfix "$dir/data"
	cat >"$dir/etc/main.cf" <<EOC
compatibility_level = 3.6
config_directory = $dir/etc
queue_directory = $dir/spool
data_directory = $dir/data
daemon_directory = $(postconf -dh daemon_directory)
shlib_directory = $(postconf -dh shlib_directory)
mail_owner = postfix
setgid_group = postdrop
myhostname = mx.private.test
mydestination = localhost
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
alias_maps =
alias_database =
milter_protocol = 6
maillog_file = $dir/maillog
maillog_file_prefixes = $dir
smtputf8_enable = no
biff = no
EOC
	for kv in "$@"; do
		case $kv in *=*) ;; *) usage ;; esac
		postconf -c "$dir/etc" -e "$kv"
	done
	{
		smtpd_line "$port"
		cat <<'EOC'
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
virtual   unix  -       n       n       -       -       virtual
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
EOC
	} >"$dir/etc/master.cf"
	echo "$port" >"$dir/etc/ports"
	;;
listen)
	[ $# -ge 1 ] && [ -f "$dir/etc/master.cf" ] || usage
	port=$1
	shift
	smtpd_line "$port" "$@" >>"$dir/etc/master.cf"
	echo "$port" >>"$dir/etc/ports"
	;;
start)
	"$POSTFIX" -c "$dir/etc" check >&2 || exit 1
	"$POSTFIX" -c "$dir/etc" start >/dev/null || exit 1
	for port in $(cat "$dir/etc/ports"); do
		i=0
		until (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
			i=$((i + 1))
			[ $i -le 100 ] || { echo "private-postfix.sh: no smtpd on 127.0.0.1:$port" >&2; exit 1; }
			sleep 0.1
		done
	done
	;;
stop)
	"$POSTFIX" -c "$dir/etc" stop >/dev/null 2>&1 || true
	;;
*)
	usage ;;
esac
