#!/bin/sh
# tests/fuzz/build.sh - build the libFuzzer targets (clang,
# -fsanitize=fuzzer,address,undefined) out of tree.
#
#   tests/fuzz/build.sh BUILDDIR
#
# Configures BUILDDIR with clang and the fuzzer/sanitizer instrumentation (once;
# an existing configured BUILDDIR is reused), builds the project's libraries
# there, and links BUILDDIR/tests/fuzz/fuzz_{features,model,conf,blob}.  Run them
# with tests/fuzz/run.sh.  Never touches the source tree.  Exit 77 (skip) when
# clang or its libFuzzer runtime is missing (Debian: clang, libclang-rt-14-dev).
set -eu

srcdir=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:?usage: build.sh BUILDDIR}
CC=${FUZZ_CC:-clang}
SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"

if ! command -v "$CC" >/dev/null 2>&1; then
    echo "build.sh: $CC not found (apt-get install clang libclang-rt-14-dev)" >&2
    exit 77
fi
probe=$(mktemp -d)
trap 'rm -rf "$probe"' EXIT
printf 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { return 0; }\n' \
    >"$probe/p.c"
if ! "$CC" -fsanitize=fuzzer "$probe/p.c" -o "$probe/p" 2>/dev/null; then
    echo "build.sh: $CC cannot link -fsanitize=fuzzer (apt-get install libclang-rt-14-dev)" >&2
    exit 77
fi

mkdir -p "$build"
cd "$build"
if [ ! -f Makefile ]; then
    "$srcdir/configure" -q --enable-werror CC="$CC" \
        CFLAGS="-g -O1 -fsanitize=fuzzer-no-link $SAN"
fi
make -s -j"${FUZZ_JOBS:-2}" model/libmodel.a common/libcommon.a adapt/libadapt.a \
    milter/libspamshift_milter.a

# The flags the project's own Makefile computed (pkg-config results and all).
var() {
    printf 'print:\n\t@echo $(%s)\n' "$1" | make -s -f Makefile -f - print
}
cppflags="$(var DEFS) $(var DEFAULT_INCLUDES) $(var AM_CPPFLAGS) $(var CPPFLAGS)"
model_libs=$(var MODEL_LIBS)
adapt_libs=$(var ADAPT_LIBS)
glib_libs=$(var GLIB_LIBS)
cflags="-g -O1 -fsanitize=fuzzer $SAN $(var WARN_CFLAGS)"

mkdir -p tests/fuzz
link() {
    out=$1
    shift
    # shellcheck disable=SC2086
    "$CC" $cflags $cppflags -iquote "$srcdir/tests/fuzz" -iquote "$srcdir/milter" \
        "$srcdir/tests/fuzz/$out.c" -o "tests/fuzz/$out" "$@"
}
# shellcheck disable=SC2086
link fuzz_features $model_libs
# shellcheck disable=SC2086
link fuzz_model $model_libs
# shellcheck disable=SC2086
link fuzz_conf milter/libspamshift_milter.a common/libcommon.a $glib_libs
# shellcheck disable=SC2086
link fuzz_blob $adapt_libs $model_libs
# The seed writer (tests/fuzz/mkseeds.c): an ordinary program, no fuzzer main.
# shellcheck disable=SC2086
"$CC" -g -O1 $SAN $cppflags "$srcdir/tests/fuzz/mkseeds.c" -o tests/fuzz/mkseeds \
    $adapt_libs $model_libs
echo "build.sh: built $build/tests/fuzz/fuzz_{features,model,conf,blob} and mkseeds"
