#!/bin/sh
# run.sh NAME [BIN]: LOO base models with the current SSX_* env, scores in /tmp/r13/NAME
set -eu
N=$1 S=${2:-/work/wt/r13-tail/spamshift} E=/work/data/enron L=/tmp/r7/table2/cli-loo
W=/tmp/r13/$N; mkdir -p $W
env | grep '^SSX_' > $W/env || true
for u in enron1 enron2 enron3 enron4 enron5 enron6; do
  args=
  for v in enron1 enron2 enron3 enron4 enron5 enron6; do [ $v = $u ] || args="$args --ham $E/$v/ham --spam $E/$v/spam"; done
  [ -f $W/$u.model ] || nice -n 10 $S train --seed ${SEED:-1} --target-fpr 0.003 -o $W/$u.model $args > $W/train-$u.out 2>&1
  nice -n 10 $S classify -m $W/$u.model --list $L/$u.second.lst > $W/$u.tsv
done
python3 /tmp/r13/ev.py $W > $W/ev.txt; cat $W/ev.txt
