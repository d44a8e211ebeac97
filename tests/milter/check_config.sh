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
expect "good config" 0 "OK; model $tmp/model.bin \\(id [0-9a-f]{16}, 12 ham \\+ 12 spam\\), spam_threshold 0\\.[0-9]{6}"

printf 'model = %s\n# fine\nspam_threshold = 2\nbogus = 1\nmulti_recipient = all\nuser = no-such-user-xyz\n' \
	"$tmp/model.bin" >"$tmp/c.conf"
expect "bad lines" 78 "c.conf:3: spam_threshold = 2: want a probability" \
	"c.conf:4: unknown key \"bogus\"" "c.conf:5: multi_recipient = all" "3 errors in"

printf 'model = %s\nuser = no-such-user-xyz\n' "$tmp/model.bin" >"$tmp/c.conf"
expect "unknown user" 78 "user: unknown user \"no-such-user-xyz\""

printf 'model = %s/missing.bin\n' "$tmp" >"$tmp/c.conf"
expect "missing model" 78 "model $tmp/missing.bin: .*(No such file|cannot open|open)"

head -c 4096 "$tmp/model.bin" >"$tmp/short.bin"
printf 'model = %s/short.bin\n' "$tmp" >"$tmp/c.conf"
expect "truncated model" 78 "model $tmp/short.bin: "

printf 'model = %s\nreject_threshold = 0.0001\n' "$tmp/model.bin" >"$tmp/c.conf"
expect "reject under the model threshold" 78 "must not be below the model's threshold"

# The commented sample in contrib/ is a valid config (paths made local).
sed -e "s|^model = .*|model = $tmp/model.bin|" -e "s|^socket_owner = .*|socket_owner = root|" \
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
