# bench/milter/lib.sh - the mail path the milter benchmarks share, sourced by
# run.sh and syscalls.sh: smtp-sink as the final destination, the milter's
# config, and a private Postfix (scripts/private-postfix.sh, "$pp") that relays
# everything for example.org to the sink through the milter.  The caller sets
# $tmp (the instance directory), $pp and $model.

# sink_start PORT BACKLOG [PREFIX...]: smtp-sink on 127.0.0.1:PORT, run under
# PREFIX (e.g. nice), writing every message to a file of its own under
# $tmp/sink so that the count is exact; sets spid.
sink_start() {
	local port=$1 backlog=$2
	shift 2
	mkdir -p "$tmp/sink"
	chown nobody "$tmp/sink"
	"$@" smtp-sink -u nobody -d "$tmp/sink/m" 127.0.0.1:"$port" "$backlog" &
	spid=$!
}

# milter_conf FILE [LINE...]: the milter's config (socket $tmp/milter.sock for
# Postfix, the model, log to stderr), then the extra lines.
milter_conf() {
	local f=$1
	shift
	{
		echo "socket = unix:$tmp/milter.sock"
		echo "socket_owner = postfix:postfix"
		echo "model = $model"
		echo "log_target = stderr"
		for line in "$@"; do echo "$line"; done
	} >"$f"
}

# postfix_setup PORT SINK_PORT: the private Postfix listening on 127.0.0.1:PORT
# with the milter (tempfail when it is not there), relaying to the sink, with
# no rate limits.
postfix_setup() {
	"$pp" setup "$tmp" "$1" myhostname=mx.bench.test mydestination= relay_domains=example.org \
		"relayhost=[127.0.0.1]:$2" smtp_dns_support_level=disabled in_flow_delay=0 \
		smtpd_client_connection_count_limit=0 smtpd_client_message_rate_limit=0 \
		"smtpd_milters=unix:$tmp/milter.sock" milter_default_action=tempfail
}
