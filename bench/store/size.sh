#!/bin/sh
# bench/store/size.sh - the disk one user costs in the SQLite store, measured
# with real mail (doc/operator.md "Sizing").
#
#   bench/store/size.sh BUILDDIR MODEL WORKDIR HAM_DIR SPAM_DIR [USERS]
#
# Each of USERS (default 3) users observes 2,500 messages (`classify --observe`:
# their reservoir fills to its 2,000 samples; one scan record a message), learns
# 200 (100 ham, 100 spam) and is refitted (`adapt`: a published model and the
# fit cache).  Prints the store's size after each stage, per user, after a TRUNCATE
# checkpoint (`spamshift store checkpoint`) so that the -wal is not counted.
set -eu
[ $# -ge 5 ] || { echo "usage: $0 BUILDDIR MODEL WORKDIR HAM_DIR SPAM_DIR [USERS]" >&2; exit 64; }
B=$1 MODEL=$2 W=$3 HAM=$4 SPAM=$5 U=${6:-3}
S=$B/spamshift
mkdir -p "$W"
DB=$W/size.db
rm -f "$DB" "$DB-wal" "$DB-shm"
find "$HAM" "$SPAM" -type f -name '*.txt' | sort | head -n 2500 > "$W/observe.lst"
find "$HAM" -type f -name '*.txt' | sort | tail -n 100 > "$W/ham.lst"
find "$SPAM" -type f -name '*.txt' | sort | tail -n 100 > "$W/spam.lst"
size() { "$S" store checkpoint --db "$DB" > /dev/null; stat -c %s "$DB"; }
"$S" learn --db "$DB" --user probe@example.org --ham "$(head -n 1 "$W/ham.lst")" > /dev/null
base=$(size)
printf '%-34s %12s %14s\n' stage bytes "bytes per user"
printf '%-34s %12d %14s\n' "empty store (one probe user)" "$base" -
for stage in observe learn adapt; do
    i=0
    while [ "$i" -lt "$U" ]; do
        u=user$i@example.org
        case $stage in
        observe) xargs "$S" classify -m "$MODEL" --db "$DB" --user "$u" --observe < "$W/observe.lst" > /dev/null ;;
        learn) xargs "$S" learn --db "$DB" --user "$u" --ham < "$W/ham.lst" > /dev/null
               xargs "$S" learn --db "$DB" --user "$u" --spam < "$W/spam.lst" > /dev/null ;;
        adapt) "$S" adapt -m "$MODEL" --db "$DB" --user "$u" > /dev/null ;;
        esac
        i=$((i + 1))
    done
    now=$(size)
    printf '%-34s %12d %14d\n' "after $stage" "$now" $(( (now - base) / U ))
done
