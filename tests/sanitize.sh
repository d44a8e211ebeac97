#!/bin/sh
# tests/sanitize.sh - the whole test suite under AddressSanitizer +
# UndefinedBehaviorSanitizer, with LeakSanitizer on every milter.
#
#   tests/sanitize.sh BUILDDIR [make check arguments...]
#
# Configures BUILDDIR (once) with --enable-sanitizers (configure.ac: ASan+UBSan,
# frame pointers) and --enable-werror (a warning fails it), builds, and runs `make check` there with
#   ASAN_OPTIONS=detect_leaks=1:abort_on_error=1   leaks and errors fail the program
#   UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1   undefined behaviour too
#   SPAMSHIFT_TEST_GRACEFUL=1   every miltertest milter is stopped with SIGTERM
#                               (not SIGKILL), so LeakSanitizer checks it at exit;
#                               tests/milter/run.sh fails on any sanitizer line
#                               in the milter's log.
# Exit status is make check's.  Never builds in the source tree.
set -eu

srcdir=$(cd "$(dirname "$0")/.." && pwd)
build=${1:?usage: sanitize.sh BUILDDIR [make check arguments]}
shift
mkdir -p "$build"
cd "$build"
if [ ! -f Makefile ]; then
    "$srcdir/configure" -q --enable-sanitizers --enable-werror CFLAGS="${CFLAGS:--g -O1}"
fi
make -s -j"${SANITIZE_JOBS:-2}" >/dev/null
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:${ASAN_OPTIONS:-} \
UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1:${UBSAN_OPTIONS:-} \
SPAMSHIFT_TEST_GRACEFUL=1 \
    make -j"${SANITIZE_JOBS:-2}" check "$@"
