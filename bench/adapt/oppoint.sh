#!/bin/sh
# bench/adapt/oppoint.sh - the per-user operating point through the CLI, as an
# admin runs it (issue 16 finding 1): Enron-Spam leave-one-user-out.
#
#   bench/adapt/oppoint.sh SPAMSHIFT ENRON_DIR WORKDIR [TARGET_FPR [KS]]
#
# For each user u of ENRON_DIR/enron1..6: `spamshift train` on the other five
# (each user's directory is one group, so the threshold is cross-fitted over
# five held-out users; the train time is recorded), then u's mail in arrival
# order (the running number that leads each file name) is split in halves:
#   base   the second half scored by the model at its stored threshold
#   k=0    the first half observed (classify --observe: the reservoir), adapt,
#          the second half scored with `classify --user` (the user's threshold)
#   k=50   as k=0, and the first 50 of the first half learned (learn) first
# KS (default "0 50") lists the k to run; "all" labels the whole first half.
# Verdicts are the ones classify prints; per user and mean FPR/FNR are written
# to WORKDIR/summary.txt, the per-user thresholds and where they came from
# (stats --json: threshold, threshold_source) to WORKDIR/thresholds.txt.
# Models are kept in WORKDIR and reused when present (delete them to retrain).
# Other splits (bench/adapt/table.sh): with OPPOINT_USERS="u1 u2 ..." set, the
# users are those names, and each one's WORKDIR/base-wo-U.model and
# WORKDIR/U.order ("path<TAB>ham|spam" per line, in arrival order) must be
# there already (ENRON_DIR is then unused).
set -eu
[ $# -ge 3 ] || { echo "usage: $0 SPAMSHIFT ENRON_DIR WORKDIR [TARGET_FPR]" >&2; exit 64; }
S=$1 E=$2 W=$3 T=${4:-0.003} KS=${5:-0 50}
mkdir -p "$W"
USERS=${OPPOINT_USERS:-enron1 enron2 enron3 enron4 enron5 enron6}

# u's messages in arrival order, "path<TAB>label" per line
order() {
    for lab in ham spam; do
        for f in "$E/$1/$lab"/*; do printf '%s\t%s\n' "$f" "$lab"; done
    done | awk -F'\t' '{ n = $1; sub(/.*\//, "", n); sub(/\..*/, "", n); print n "\t" $0 }' \
         | sort -n -k1,1 | cut -f2-
}

# FPR and FNR of a classify output (name, score, verdict) against the labels
rates() {
    awk -F'\t' 'NR == FNR { lab[$1] = $2; next }
        { if (lab[$1] == "ham") { h++; if ($3 == "spam") fp++ } else { s++; if ($3 != "spam") fn++ } }
        END { printf "%.4f\t%.4f\t%d\t%d\t%d\t%d\n", 100 * fp / h, 100 * fn / s, fp, h, fn, s }' "$1" "$2"
}

: > "$W/rates.tsv"
: > "$W/thresholds.txt"
for u in $USERS; do
    m=$W/base-wo-$u.model
    if [ ! -f "$m" ] && [ -n "${OPPOINT_USERS:-}" ]; then
        echo "$0: $m: missing (OPPOINT_USERS is set)" >&2; exit 66
    elif [ ! -f "$m" ]; then
        args=
        for v in $USERS; do
            [ "$v" = "$u" ] || args="$args --ham $E/$v/ham --spam $E/$v/spam"
        done
        # shellcheck disable=SC2086
        /usr/bin/time -f '%e %U %S' -o "$W/train-$u.time" "$S" train --seed 1 \
            --target-fpr "$T" -o "$m" $args > "$W/train-$u.out"
    fi
    [ -n "${OPPOINT_USERS:-}" ] || order "$u" > "$W/$u.order"
    n=$(wc -l < "$W/$u.order"); h=$((n / 2))
    head -n "$h" "$W/$u.order" > "$W/$u.first"
    tail -n +"$((h + 1))" "$W/$u.order" > "$W/$u.second"
    cut -f1 "$W/$u.first" > "$W/$u.first.lst"
    cut -f1 "$W/$u.second" > "$W/$u.second.lst"
    "$S" classify -m "$m" --list "$W/$u.second.lst" > "$W/$u.base.tsv"
    printf '%s\tbase\t%s\n' "$u" "$(rates "$W/$u.second" "$W/$u.base.tsv")" >> "$W/rates.tsv"
    printf '%s\tbase\t%s\tmodel\n' "$u" "$(sed -n 's/.*threshold \([0-9.]*\),.*/\1/p' "$W/train-$u.out" 2>/dev/null)" >> "$W/thresholds.txt"
    for k in $KS; do
        db=$W/$u-k$k.db
        rm -f "$db" "$db-wal" "$db-shm"
        "$S" classify -m "$m" --db "$db" --user "$u" --observe --list "$W/$u.first.lst" > /dev/null
        if [ "$k" != 0 ]; then
            nk=$k
            [ "$k" != all ] || nk=$h
            head -n "$nk" "$W/$u.first" | awk -F'\t' '$2 == "spam" { print $1 }' > "$W/$u.k$k.spam"
            head -n "$nk" "$W/$u.first" | awk -F'\t' '$2 == "ham" { print $1 }' > "$W/$u.k$k.ham"
            [ ! -s "$W/$u.k$k.spam" ] || xargs "$S" learn --db "$db" --user "$u" --spam < "$W/$u.k$k.spam" > /dev/null
            [ ! -s "$W/$u.k$k.ham" ] || xargs "$S" learn --db "$db" --user "$u" --ham < "$W/$u.k$k.ham" > /dev/null
        fi
        "$S" adapt -m "$m" --db "$db" --user "$u" > /dev/null
        "$S" classify -m "$m" --db "$db" --user "$u" --target-fpr "$T" \
            --list "$W/$u.second.lst" > "$W/$u.k$k.tsv"
        printf '%s\tk=%s\t%s\n' "$u" "$k" "$(rates "$W/$u.second" "$W/$u.k$k.tsv")" >> "$W/rates.tsv"
        "$S" stats -m "$m" --db "$db" --user "$u" --target-fpr "$T" --json > "$W/$u.k$k.stats.json"
        printf '%s\tk=%s\t%s\n' "$u" "$k" "$(python3 -c 'import json, sys; u = json.load(open(sys.argv[1]))["users"][0]; print("%.6f\t%s" % (u["threshold"], u["threshold_source"]))' "$W/$u.k$k.stats.json")" >> "$W/thresholds.txt"
    done
done
awk -F'\t' '{ f[$2] += $3; n[$2] += $4; c[$2]++; if ($3 > mx[$2]) { mx[$2] = $3; who[$2] = $1 } }
    END { for (r in f) printf "%-6s mean FPR %.2f%%  mean FNR %.2f%%  worst FPR %.2f%% (%s)\n",
          r, f[r] / c[r], n[r] / c[r], mx[r], who[r] }' "$W/rates.tsv" | sort > "$W/summary.txt"
cat "$W/summary.txt"
