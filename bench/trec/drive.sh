#!/bin/sh
# drive.sh - drive a filter through a TREC index the way the TREC Spam Filter
# Evaluation Toolkit does: initialize; for each message in order, classify it
# (recording the score), then train it with its true label; finalize.
#
#   drive.sh spamshift|bogofilter INDEX WORKDIR > RESULTS
#
# spamshift is run through contrib/trec/ (SPAMSHIFT names the binary; with
# SPAMSHIFT_BASE_MODEL set it starts from that base).  bogofilter gets the
# equivalent commands: a fresh wordlist in WORKDIR, `bogofilter -T` to score
# (its spamicity, higher = spammier) and `-s`/`-n` to train.
# RESULTS has one line per message: "label score".  Judge with auc.py.
set -eu
filter=$1 index=$2 work=$3
here=$(cd "$(dirname "$0")" && pwd)
contrib=$(cd "$here/../../contrib/trec" && pwd)
indexdir=$(cd "$(dirname "$index")" && pwd)
index=$indexdir/$(basename "$index")
rm -rf "$work"; mkdir -p "$work"; cd "$work"
case $filter in
spamshift)
    "$contrib/initialize"
    while read -r label path; do
        case $path in /*) ;; *) path=$indexdir/$path ;; esac
        out=$("$contrib/classify" "$path")
        score=${out#*score=}; score=${score%% *}
        echo "$label $score"
        "$contrib/train" "$label" "$path"
    done < "$index"
    "$contrib/finalize" ;;
bogofilter)
    mkdir -p db
    while read -r label path; do
        case $path in /*) ;; *) path=$indexdir/$path ;; esac
        score=$(bogofilter -d db -T < "$path" | awk '{print $2}')
        echo "$label ${score:-0.5}"
        if [ "$label" = spam ]; then bogofilter -d db -s < "$path"; else bogofilter -d db -n < "$path"; fi
    done < "$index" ;;
*) echo "drive.sh: filter must be spamshift or bogofilter" >&2; exit 64 ;;
esac
