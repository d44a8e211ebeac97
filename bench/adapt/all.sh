#!/bin/sh
# bench/adapt/all.sh - time `spamshift adapt --all` over a store of synthetic
# users (issue 4: 10,000 users in <= 5 minutes).
#
#   bench/adapt/all.sh BUILDDIR MODEL WORKDIR [USERS [FEEDBACK [SAMPLES]]]
#
# BUILDDIR holds spamshift and tests/cli/store_tool (`make tests/cli/store_tool`).
# Each user gets FEEDBACK labelled messages (half spam) and SAMPLES unlabelled
# ones, bags of 200 random feature ids (store_tool populate); defaults 10000 20
# 200, so that every user is refitted with cross-validated lambda/mu (20 labels,
# adapt_opts cv_min), reweighting and self-training.  Prints the CPU time
# (user + sys) and wall time of the populate step and of the one adapt --all
# that refits every user (representations computed and cached on the way), and
# CPU ms per user.  The machine may be shared: judge by CPU time.
set -eu
[ $# -ge 3 ] || { echo "usage: $0 BUILDDIR MODEL WORKDIR [USERS [FEEDBACK [SAMPLES]]]" >&2; exit 64; }
B=$1 MODEL=$2 W=$3 U=${4:-10000} F=${5:-20} S=${6:-200}
mkdir -p "$W"
DB=$W/all-$U-$F-$S.db
rm -f "$DB" "$DB-wal" "$DB-shm"
/usr/bin/time -f '%U %S %e %M' -o "$W/populate.time" "$B/tests/cli/store_tool" populate "$DB" "$U" "$F" "$S"
/usr/bin/time -f '%U %S %e %M' -o "$W/adapt.time" "$B/spamshift" adapt -m "$MODEL" --db "$DB" --all \
    > "$W/adapt.out" 2>&1
tail -n 1 "$W/adapt.out"
read pu ps pe pm < "$W/populate.time"
read au as ae am < "$W/adapt.time"
awk -v u="$U" -v pu="$pu" -v ps="$ps" -v pe="$pe" -v au="$au" -v as="$as" -v ae="$ae" -v am="$am" 'BEGIN {
    printf "populate %d users: CPU %.1f s (user %.1f + sys %.1f), wall %.1f s\n", u, pu + ps, pu, ps, pe
    printf "adapt --all: CPU %.1f s (user %.1f + sys %.1f) = %.1f ms per user, wall %.1f s, max RSS %d KB\n", au + as, au, as, 1000 * (au + as) / u, ae, am }'
