#!/bin/sh
# check_config.sh - spamshift-milter -n and start-up: every bad line is named
# with its number and the exit status is EX_CONFIG (78); a missing or corrupt
# model is a clear error, not a crash; a good config passes; as root, the
# daemon detaches, writes its pid file, sets the socket's owner and mode and
# drops to `user`.
set -u
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=.}"
data=$top_srcdir/tests/milter/data
milter=$top_builddir/spamshift-milter
cli=$top_builddir/spamshift
for b in "$milter" "$cli"; do
	[ -x "$b" ] || { echo "FAIL: $b is not built"; exit 99; }
done
tmp=$(mktemp -d "${TMPDIR:-/tmp}/spamshift-check.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

"$cli" train -q -o "$tmp/model.bin" --ham "$data/ham" --spam "$data/spam" --seed 1 \
	>/dev/null 2>&1 || { echo "FAIL: spamshift train"; exit 1; }

# expect NAME STATUS PATTERN... : run -n on $tmp/c.conf, want STATUS and
# every PATTERN (grep -E) in the output.
expect() {
	name=$1 want=$2
	shift 2
	"$milter" -n -c "$tmp/c.conf" >"$tmp/out" 2>&1
	got=$?
	[ "$got" -eq "$want" ] || { fail "$name: got exit $got, want $want"; cat "$tmp/out"; }
	for re in "$@"; do
		grep -Eq -- "$re" "$tmp/out" || { fail "$name: output lacks /$re/"; cat "$tmp/out"; }
	done
}

printf 'model = %s\nsocket = unix:%s/s.sock\n' "$tmp/model.bin" "$tmp" >"$tmp/c.conf"
expect "good config" 0 "OK; model $tmp/model.bin \\(id [0-9a-f]{16}, 12 ham \\+ 12 spam\\), spam_threshold 0\\.[0-9]{6}; refit_interval 60 s, refit_lease 600 s\$"

# refit_lease: seconds from 10 to 86400, named with its line.
printf 'model = %s\nrefit_lease = 30\nrefit_interval = 5\n' "$tmp/model.bin" >"$tmp/c.conf"
expect "refit_lease 30" 0 "refit_interval 5 s, refit_lease 30 s\$"
for v in 9 86401 -1 10s; do
	printf 'model = %s\n\nrefit_lease = %s\n' "$tmp/model.bin" "$v" >"$tmp/c.conf"
	expect "refit_lease $v" 78 "c.conf:3: refit_lease = $v: want seconds from 10 to 86400"
done
printf 'model = %s\nrefit_lease = 86400\n' "$tmp/model.bin" >"$tmp/c.conf"
expect "refit_lease 86400" 0 "refit_lease 86400 s"

printf 'model = %s\n# fine\nspam_threshold = 2\nbogus = 1\nmulti_recipient = all\nuser = no-such-user-xyz\n' \
	"$tmp/model.bin" >"$tmp/c.conf"
expect "bad lines" 78 "c.conf:3: spam_threshold = 2: want a probability" \
	"c.conf:4: unknown key \"bogus\"" "c.conf:5: multi_recipient = all" \
	"c.conf:6: user: unknown user \"no-such-user-xyz\"" "4 errors in"

printf 'model = %s\nuser = no-such-user-xyz\n' "$tmp/model.bin" >"$tmp/c.conf"
expect "unknown user" 78 "user: unknown user \"no-such-user-xyz\""

printf 'model = %s/missing.bin\n' "$tmp" >"$tmp/c.conf"
expect "missing model" 78 "model $tmp/missing.bin: .*(No such file|cannot open|open)"

head -c 4096 "$tmp/model.bin" >"$tmp/short.bin"
printf 'model = %s/short.bin\n' "$tmp" >"$tmp/c.conf"
expect "truncated model" 78 "model $tmp/short.bin: "

printf 'model = %s\nreject_threshold = 0.0001\n' "$tmp/model.bin" >"$tmp/c.conf"
expect "reject under the model threshold" 78 "must not be below the model's threshold"

# metrics_listen: numeric addresses, IPv6 in brackets, a port; named with its
# line like every key.
printf 'model = %s\nmetrics_listen = [::1]:9470\n' "$tmp/model.bin" >"$tmp/c.conf"
expect "metrics_listen good" 0 "OK; model"
printf 'model = %s\nmetrics_listen = localhost:9470\nspam_threshold = 0.5\n' "$tmp/model.bin" >"$tmp/c.conf"
expect "metrics_listen host name" 78 \
	"c.conf:2: metrics_listen = localhost:9470: want a numeric IPv4 address" "1 error in"
printf 'model = %s\n\nmetrics_listen = [::1]:70000\n' "$tmp/model.bin" >"$tmp/c.conf"
expect "metrics_listen port" 78 "c.conf:3: metrics_listen = \\[::1\\]:70000: want a port from 0 to 65535"
printf 'model = %s\nmetrics_listen = ::1:9470\n' "$tmp/model.bin" >"$tmp/c.conf"
expect "metrics_listen IPv6 without brackets" 78 "c.conf:2: metrics_listen = ::1:9470: want a numeric IPv4"

# Issue 18, finding 7: one config with many mistakes, every one named with its
# line in one run, those that need files (model, alias map, directories,
# accounts) as well as the bad lines.  Each of these used to pass -n, or show
# only once the line errors were fixed.
printf 'bad-alias-line-without-a-target\n' >"$tmp/aliases"
cat >"$tmp/c.conf" <<EOC
model = $tmp/missing.bin
socket = inet:77636@127.0.0.1
database = $tmp/no-such-dir/users.db
pid_file = run/spamshift.pid
alias_map = $tmp/aliases
socket_owner = no-such-user-xyz
multi_recipient = all
EOC
expect "many errors" 78 "c.conf:1: model $tmp/missing.bin: " \
	"c.conf:2: socket = inet:77636@127.0.0.1: want a port from 1 to 65535" \
	"c.conf:3: database = $tmp/no-such-dir/users.db: directory $tmp/no-such-dir: No such file" \
	"c.conf:4: pid_file = run/spamshift.pid: want an absolute path" \
	"aliases" \
	"c.conf:6: socket_owner: unknown user \"no-such-user-xyz\"" \
	"c.conf:7: multi_recipient = all" "7 errors in"

for spec in inet:0@127.0.0.1 inet:65536 inet:12x@localhost inet:25@ unix:rel/s.sock \
	"unix:$tmp/no-such-dir/s.sock"; do
	printf 'model = %s\nsocket = %s\n' "$tmp/model.bin" "$spec" >"$tmp/c.conf"
	expect "socket = $spec" 78 "c.conf:2: socket = "
done
printf 'model = %s\nsocket = inet:65535@127.0.0.1\n' "$tmp/model.bin" >"$tmp/c.conf"
expect "socket port 65535" 0 "OK; model"

# A PostgreSQL store names no file: -n must not look for its "directory" (it
# used to refuse "postgresql:///db?host=/run/postgresql" as a missing
# directory); sqlite:PATH is checked as PATH.
for db in "postgresql:///spamshift?host=$tmp/no-such-dir" "host=$tmp/no-such-dir dbname=x"; do
	printf 'model = %s\nsocket = unix:%s/s.sock\ndatabase = %s\n' "$tmp/model.bin" "$tmp" "$db" \
		>"$tmp/c.conf"
	expect "database = $db" 0 "OK; model"
done
printf 'model = %s\nsocket = unix:%s/s.sock\ndatabase = sqlite:%s/no-such-dir/u.db\n' \
	"$tmp/model.bin" "$tmp" "$tmp" >"$tmp/c.conf"
expect "database = sqlite:PATH" 78 "c.conf:3: database = $tmp/no-such-dir/u.db: directory $tmp/no-such-dir: No such file"

# The threshold order against the model's threshold, with a bad line too.
printf 'model = %s\nreject_threshold = 0.0001\nbogus = 1\n' "$tmp/model.bin" >"$tmp/c.conf"
expect "threshold order with a bad line" 78 "c.conf:2: .*must not be below the model's threshold" \
	"c.conf:3: unknown key" "2 errors in"

# A UTF-8 byte order mark before the first key is accepted.
printf '\357\273\277model = %s\nsocket = unix:%s/s.sock\n' "$tmp/model.bin" "$tmp" >"$tmp/c.conf"
expect "UTF-8 BOM" 0 "OK; model"

# The commented sample in contrib/ is a valid config (paths made local).
sed -e "s|^model = .*|model = $tmp/model.bin|" -e "s|^socket = unix:.*|socket = unix:$tmp/s.sock|" -e "s|^socket_owner = .*|socket_owner = root|" \
	"$top_srcdir/contrib/spamshift.conf" >"$tmp/c.conf"
expect "contrib/spamshift.conf" 0 "OK; model"

rm -f "$tmp/c.conf"
expect "missing config" 78 "c.conf: cannot open"

# Not -n: the daemon refuses to start on the same errors, before listening.
printf 'model = %s/missing.bin\nsocket = unix:%s/s.sock\n' "$tmp" "$tmp" >"$tmp/c.conf"
"$milter" -f -c "$tmp/c.conf" >"$tmp/out" 2>&1
got=$?
[ "$got" -eq 78 ] || fail "start with a missing model: got exit $got, want 78"
[ -e "$tmp/s.sock" ] && fail "start with a missing model: the socket was created"

"$milter" -x >/dev/null 2>&1
got=$?
[ "$got" -eq 64 ] || fail "unknown option: got exit $got, want 64 (EX_USAGE)"

# As root: the daemon detaches, writes its pid file, hands the socket to
# socket_owner with socket_mode, and runs as `user`.
if [ "$(id -u)" -eq 0 ] && id nobody >/dev/null 2>&1; then
	mkdir -p "$tmp/run"
	chmod 755 "$tmp"
	cat >"$tmp/c.conf" <<EOC
model = $tmp/model.bin
socket = unix:$tmp/run/d.sock
socket_mode = 0600
socket_owner = nobody
pid_file = $tmp/run/d.pid
user = nobody
log_target = stderr
EOC
	chmod 644 "$tmp/model.bin" "$tmp/c.conf"
	"$milter" -c "$tmp/c.conf" >"$tmp/out" 2>&1
	got=$?
	[ "$got" -eq 0 ] || { fail "daemon start: got exit $got, want 0"; cat "$tmp/out"; }
	i=0
	while [ ! -s "$tmp/run/d.pid" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
	dpid=$(cat "$tmp/run/d.pid" 2>/dev/null)
	if [ -z "$dpid" ] || ! kill -0 "$dpid" 2>/dev/null; then
		fail "daemon: no live process in the pid file"
	else
		uid=$(awk '/^Uid:/ { print $2 $3 $4 $5 }' /proc/$dpid/status)
		want=$(id -u nobody)
		[ "$uid" = "$want$want$want$want" ] || fail "daemon: got uids $uid, want all $want"
		[ "$(stat -c '%U %a' "$tmp/run/d.sock")" = "nobody 600" ] \
			|| fail "socket: got $(stat -c '%U %a' "$tmp/run/d.sock"), want nobody 600"
		kill -KILL "$dpid"
	fi
fi

[ $failures -eq 0 ] || exit 1
echo "PASS: check_config"
