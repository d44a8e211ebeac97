#!/bin/sh
# scripts/check-dist.sh - every file git tracks is in the release tarball.
# distcheck builds and tests from the tarball, but only catches a missing file that
# the build or a test needs; this catches the rest (a doc, a contrib file, a header
# that only some configurations compile). Run from a configured tree.
set -eu

name=$(sed -n 's/^PACKAGE_TARNAME = //p' Makefile)-$(sed -n 's/^PACKAGE_VERSION = //p' Makefile)
rm -rf "$name"
make distdir >/dev/null
missing=0
for f in $(git ls-files); do
    # debian/ is the packaging, kept out of the upstream tarball as Debian asks.
    case $f in .gitignore|*/.gitignore|debian/*) continue ;; esac
    if [ ! -e "$name/$f" ]; then
        echo "check-dist: $f is tracked but not in the tarball (add it to EXTRA_DIST)" >&2
        missing=$((missing + 1))
    fi
done
rm -rf "$name"
[ "$missing" -eq 0 ] || { echo "check-dist: $missing file(s) missing" >&2; exit 1; }
echo "check-dist: every tracked file is in $name.tar"
