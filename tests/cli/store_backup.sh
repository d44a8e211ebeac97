#!/bin/sh
# tests/cli/store_backup.sh - `spamshift store` (issue 18, finding 5), with real
# processes on one database:
#   - a store created under umask 022 or 077 is mode 0660 (it used to be 0640
#     from a root shell, after which Dovecot's learns as the mail user failed);
#   - `store backup` while another process writes gives a copy that passes
#     `store check` and holds a consistent count (all of a learn's batch or none);
#   - `store restore` puts a backup's content back, in place (same inode);
#   - `store check` finds a corrupt store (exit 65) and a wrong mode (a warning);
#   - `store checkpoint` leaves no write-ahead log behind;
#   - usage errors are exit 64 and name the mistake.
set -u
: "${top_srcdir:?}" "${top_builddir:?}"
. "$top_srcdir/tests/lib.sh"
test_init store_backup
bg=""
trap 'for p in $bg; do kill -9 "$p" 2>/dev/null; done; rm -rf "$tmp"' EXIT
DATA="$top_srcdir/tests/data/corpus"
ok() { echo "ok: $*"; }
count() { sqlite3 "$1" "SELECT count(*) FROM feedback"; }

# Modes whatever the umask.
for m in 022 077; do
    db="$tmp/umask$m.db"
    (umask $m && "$cli" learn --db "$db" --user a@example.org --spam "$DATA/spam" > /dev/null) \
        || fail "learn under umask $m"
    mode=$(stat -c %a "$db")
    [ "$mode" = 660 ] && ok "umask $m: store mode $mode" \
        || fail "umask $m: store mode $mode, want 660"
done

# Online backup while another process learns batch after batch.
db="$tmp/live.db"
"$cli" learn --db "$db" --user a@example.org --spam "$DATA/spam" > /dev/null || fail "first learn"
mkdir -p "$tmp/many"
awk -v d="$tmp/many" 'BEGIN { for (i = 0; i < 3000; i++) {
    f = sprintf("%s/%05d.eml", d, i)
    printf "From: s%d@sender.example\nSubject: number %d\nMessage-ID: <%d@example>\n\nword%d item %d\n", i, i, i, i % 97, i > f; close(f) } }'
"$cli" learn --db "$db" --user b@example.org --ham --batch 100 "$tmp/many" > /dev/null 2>&1 &
bg="$!"
sleep 0.3
"$cli" store backup --db "$db" "$tmp/backup.db" > "$tmp/backup.out" 2>&1 \
    || { cat "$tmp/backup.out"; fail "store backup under a writer"; }
wait $bg; bg=""
n=$(count "$tmp/backup.db")
[ $(( (n - 12) % 100 )) -eq 0 ] && [ "$n" -ge 12 ] && ok "backup holds $n feedback rows (whole batches)" \
    || fail "backup holds $n feedback rows: not 12 + whole batches of 100"
[ "$(stat -c %a "$tmp/backup.db")" = 660 ] || fail "backup mode $(stat -c %a "$tmp/backup.db"), want 660"
[ -e "$tmp/backup.db-wal" ] && fail "the backup left a -wal beside it"
[ -e "$tmp/backup.db.tmp" ] && fail "the backup left its temporary file"
"$cli" store check --db "$tmp/backup.db" > "$tmp/check.out" 2>&1 \
    && grep -q '^integrity	ok$' "$tmp/check.out" && grep -q "^feedback	$n$" "$tmp/check.out" \
    && ok "store check passes the backup" || { cat "$tmp/check.out"; fail "store check of the backup"; }
[ "$(count "$db")" -eq 3012 ] || fail "live store holds $(count "$db") rows, want 3012"

# Restore in place: the same file, the backup's content.
ino=$(stat -c %i "$db")
"$cli" store restore --db "$db" "$tmp/backup.db" > "$tmp/restore.out" 2>&1 \
    || { cat "$tmp/restore.out"; fail "store restore"; }
[ "$(count "$db")" -eq "$n" ] && ok "restored: $n rows" || fail "restored store holds $(count "$db"), want $n"
[ "$(stat -c %i "$db")" = "$ino" ] || fail "restore replaced the file instead of writing in place"
"$cli" store check --db "$db" > /dev/null 2>&1 || fail "store check after restore"
# A restore into a missing store creates it.
"$cli" store restore --db "$tmp/new.db" "$tmp/backup.db" > /dev/null 2>&1 \
    && [ "$(count "$tmp/new.db")" -eq "$n" ] || fail "restore into a missing store"
# Not a store: refused, the store unchanged.
echo "not a database" > "$tmp/junk.db"
"$cli" store restore --db "$db" "$tmp/junk.db" > "$tmp/junk.out" 2>&1; rc=$?
[ "$rc" -eq 65 ] && [ "$(count "$db")" -eq "$n" ] && ok "restore of junk refused (65)" \
    || { cat "$tmp/junk.out"; fail "restore of junk: exit $rc, rows $(count "$db")"; }

# check: corruption and modes.
cp "$tmp/backup.db" "$tmp/bad.db"
size=$(stat -c %s "$tmp/bad.db")
dd if=/dev/urandom of="$tmp/bad.db" bs=4096 seek=3 count=$(( size / 4096 - 4 )) conv=notrunc 2>/dev/null
"$cli" store check --db "$tmp/bad.db" > "$tmp/bad.out" 2>&1; rc=$?
[ "$rc" -eq 65 ] && ok "store check finds corruption (65)" || { cat "$tmp/bad.out"; fail "store check of a corrupt store: exit $rc, want 65"; }
chmod 0640 "$tmp/backup.db"
"$cli" store check --db "$tmp/backup.db" > "$tmp/mode.out" 2>&1
grep -q 'mode 0640, not 0660' "$tmp/mode.out" && ok "store check warns of mode 0640" \
    || { cat "$tmp/mode.out"; fail "no warning for mode 0640"; }

# checkpoint: the log's disk given back.
"$cli" store checkpoint --db "$db" > "$tmp/cp.out" 2>&1 && grep -q ' 0 bytes of write-ahead log left' "$tmp/cp.out" \
    && ok "checkpoint" || { cat "$tmp/cp.out"; fail "store checkpoint"; }

# Usage.
for args in "" "frob --db $db" "backup --db $db" "check --db $db extra" "backup $tmp/x.db" "backup --db $db $db"; do
    # shellcheck disable=SC2086
    "$cli" store $args > "$tmp/usage.out" 2>&1; rc=$?
    [ "$rc" -eq 64 ] && [ -s "$tmp/usage.out" ] || fail "store $args: exit $rc, want 64 with a message"
done

[ "$fails" -eq 0 ] && echo "PASS: store_backup" || echo "FAIL: store_backup ($fails)"
[ "$fails" -eq 0 ]
