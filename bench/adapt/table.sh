#!/bin/sh
# bench/adapt/table.sh - the issue 16 adaptation table, every split x row x k,
# from the corpora given (bench/results/adapt-table-2026-12-07.md).
#
#   bench/adapt/table.sh BUILDDIR ENRON_DIR SA_DIR WORKDIR [TARGET_FPR [STEPS]]
#
# BUILDDIR is a built tree with bench/adapt/proto/proto (`make
# bench/adapt/proto/proto`) and spamshift; ENRON_DIR holds enron1..6/{ham,spam},
# SA_DIR the SpamAssassin groups (easy-ham-1, easy-ham-2, hard-ham-1, spam-1,
# spam-2).  Splits: loo (Enron leave one user out), sa-enron (SA -> enron1..6),
# enron-sa (enron1..6 -> SA in Date order, bench/trec/date_index.py),
# sa-temporal (SA older -> newer groups, mbox time order).  k = 0, 10, 50, 200.
# STEPS (default "proto metrics cli") chooses what to (re)do:
#   proto    bench/adapt/proto/proto on each split (WORKDIR/proto-SPLIT): the
#            product rows (adapted, its ablations, each at the threshold the
#            product publishes for the user) and the reference rows (base,
#            pooled, target-lr) at the base's threshold; base models cached in
#            WORKDIR/proto-SPLIT/USER/base.model (delete to retrain)
#   metrics  bench/adapt/proto/metrics.py --bogofilter --per-user on each split
#            (WORKDIR/SPLIT.md; bogofilter trained on source + k, its default
#            cutoffs, cached in USER/bogofilter.json)
#   cli      FPR/FNR at the shipped settings through the CLI
#            (bench/adapt/oppoint.sh: train --target-fpr, classify --observe,
#            learn, adapt, classify --user) on each split (WORKDIR/cli-SPLIT/
#            summary.txt, rates.tsv); needs the proto step's lists for the
#            users' arrival order on enron-sa and sa-temporal
# Everything runs one job at a time under nice 10.  The table of all splits
# (bench/adapt/table.py) is WORKDIR/table.md, the README's WORKDIR/table-compact.md;
# per user also WORKDIR/SPLIT.md (proto rows) and the CLI section of table.md.
set -eu
[ $# -ge 4 ] || { echo "usage: $0 BUILDDIR ENRON_DIR SA_DIR WORKDIR [TARGET_FPR [STEPS]]" >&2; exit 64; }
B=$1 E=$2 SA=$3 W=$4 T=${5:-0.003} STEPS=${6:-proto metrics cli}
HERE=$(cd "$(dirname "$0")" && pwd)
S=$B/spamshift P=$B/bench/adapt/proto/proto
SPLITS="loo sa-enron enron-sa sa-temporal"
DESIGNS=adapted,ad-m0,ad-no-rw,ad-no-head,ad-no-tok,ad-joint,pooled,target-lr
mkdir -p "$W"
has() { case " $STEPS " in *" $1 "*) return 0 ;; esac; return 1; }

if has proto; then
    [ -s "$W/sa.date-index" ] || python3 "$HERE/../trec/date_index.py" \
        --ham "$SA/easy-ham-1" "$SA/easy-ham-2" "$SA/hard-ham-1" \
        --spam "$SA/spam-1" "$SA/spam-2" > "$W/sa.date-index"
    for sp in $SPLITS; do
        idx=
        [ "$sp" != enron-sa ] || idx="--sa-index $W/sa.date-index"
        # shellcheck disable=SC2086
        /usr/bin/time -f '%e s wall, %U s user' -o "$W/proto-$sp.time" nice -n 10 "$P" \
            --split "$sp" --enron "$E" --sa "$SA" $idx --out "$W/proto-$sp" \
            --ks 0,10,50,200 --fit-pool 2000 --lam-grid 1e-5,1e-4,1e-3,3e-3 --a-grid 0,0.3,1 \
            --cv-metric auc --designs "$DESIGNS" > "$W/proto-$sp.log" 2>&1
    done
fi

if has metrics; then
    for sp in $SPLITS; do
        nice -n 10 python3 "$HERE/proto/metrics.py" "$W/proto-$sp" --bogofilter --per-user \
            --title "$sp" --md "$W/$sp.md" > /dev/null
    done
fi

# the users' arrival order as proto split it: "path<TAB>ham|spam"
proto_order() {
    cat "$W/proto-$1/$2/history.labels" "$W/proto-$1/$2/test.labels" \
        | awk -F'\t' '{ print $2 "\t" ($1 == "1" ? "spam" : "ham") }'
}

# train --target-fpr on the directories given, once
cli_train() {
    m=$1; shift
    [ -f "$m" ] || /usr/bin/time -f '%e %U %S' -o "$m.time" nice -n 10 "$S" train --seed 1 \
        --target-fpr "$T" -o "$m" "$@" > "$m.out"
}

if has cli; then
    KS="0 10 50 200"
    nice -n 10 "$HERE/oppoint.sh" "$S" "$E" "$W/cli-loo" "$T" "$KS" > /dev/null
    mkdir -p "$W/cli-models" "$W/cli-sa-enron" "$W/cli-enron-sa" "$W/cli-sa-temporal"
    cli_train "$W/cli-models/sa.model" --ham "$SA/easy-ham-1" --ham "$SA/easy-ham-2" \
        --ham "$SA/hard-ham-1" --spam "$SA/spam-1" --spam "$SA/spam-2"
    for u in enron1 enron2 enron3 enron4 enron5 enron6; do
        ln -sf "$W/cli-models/sa.model" "$W/cli-sa-enron/base-wo-$u.model"
        cp "$W/cli-models/sa.model.out" "$W/cli-sa-enron/train-$u.out"
    done
    nice -n 10 "$HERE/oppoint.sh" "$S" "$E" "$W/cli-sa-enron" "$T" "$KS" > /dev/null
    args=
    for u in enron1 enron2 enron3 enron4 enron5 enron6; do
        args="$args --ham $E/$u/ham --spam $E/$u/spam"
    done
    # shellcheck disable=SC2086
    cli_train "$W/cli-models/enron.model" $args
    ln -sf "$W/cli-models/enron.model" "$W/cli-enron-sa/base-wo-sa.model"
    cp "$W/cli-models/enron.model.out" "$W/cli-enron-sa/train-sa.out"
    proto_order enron-sa sa > "$W/cli-enron-sa/sa.order"
    OPPOINT_USERS=sa nice -n 10 "$HERE/oppoint.sh" "$S" "$E" "$W/cli-enron-sa" "$T" "$KS" \
        > /dev/null
    cli_train "$W/cli-models/sa-old.model" --ham "$SA/easy-ham-1" --ham "$SA/hard-ham-1" \
        --spam "$SA/spam-1"
    ln -sf "$W/cli-models/sa-old.model" "$W/cli-sa-temporal/base-wo-sa-new.model"
    cp "$W/cli-models/sa-old.model.out" "$W/cli-sa-temporal/train-sa-new.out"
    proto_order sa-temporal sa-new > "$W/cli-sa-temporal/sa-new.order"
    OPPOINT_USERS=sa-new nice -n 10 "$HERE/oppoint.sh" "$S" "$E" "$W/cli-sa-temporal" "$T" \
        "$KS" > /dev/null
fi

python3 "$HERE/table.py" "$W" > "$W/table.md"
python3 "$HERE/table.py" "$W" --compact > "$W/table-compact.md"
echo "$W/table.md $W/table-compact.md"
