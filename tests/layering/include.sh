#!/bin/sh
# tests/layering/include.sh - a layering violation must not compile.
# model/ must not include adapt/ headers; adapt/ must not include milter/ or cli/
# headers.  Compiles one-line files with the exact preprocessor flags that
# model/libmodel.a and adapt/libadapt.a are built with (LAYER_*_CPPFLAGS, set by
# Makefile.am's AM_TESTS_ENVIRONMENT), in both spellings ("store.h" and
# "adapt/store.h").  Each violation must fail; each allowed include (the module's
# own header and one from below it) must compile, so the check cannot pass because
# the flags are broken.
set -u
fails=0
: "${LAYER_CC:?run through make check (AM_TESTS_ENVIRONMENT sets LAYER_CC)}"
: "${LAYER_MODEL_CPPFLAGS:?model/libmodel.a has no _CPPFLAGS}"
: "${LAYER_ADAPT_CPPFLAGS:?adapt/libadapt.a has no _CPPFLAGS}"
T=$(mktemp -d "${TMPDIR:-/tmp}/layering.XXXXXX") || exit 99
trap 'rm -rf "$T"' EXIT

# compiles FLAGS HEADER: 0 if a file holding only #include "HEADER" compiles.
compiles() {
    printf '#include "%s"\n' "$2" > "$T/probe.c"
    eval "$LAYER_CC $1 -fsyntax-only -o /dev/null \"\$T/probe.c\"" > "$T/out" 2>&1
}
want() {  # want LAYER FLAGS HEADER ok|fail
    if compiles "$2" "$3"; then got=ok; else got=fail; fi
    if [ "$got" = "$4" ]; then
        echo "ok: $1 #include \"$3\": $got"
    else
        echo "FAIL: $1 #include \"$3\": got $got, want $4"; sed 's/^/  /' "$T/out"
        fails=$((fails + 1))
    fi
}
want model "$LAYER_MODEL_CPPFLAGS" model.h ok
want model "$LAYER_MODEL_CPPFLAGS" log.h ok
want model "$LAYER_MODEL_CPPFLAGS" store.h fail
want model "$LAYER_MODEL_CPPFLAGS" adapt/store.h fail
want model "$LAYER_MODEL_CPPFLAGS" adapt.h fail
want adapt "$LAYER_ADAPT_CPPFLAGS" store.h ok
want adapt "$LAYER_ADAPT_CPPFLAGS" model.h ok
want adapt "$LAYER_ADAPT_CPPFLAGS" filter.h fail
want adapt "$LAYER_ADAPT_CPPFLAGS" milter/filter.h fail
want adapt "$LAYER_ADAPT_CPPFLAGS" commands.h fail
want adapt "$LAYER_ADAPT_CPPFLAGS" cli/commands.h fail
[ "$fails" -eq 0 ] || { echo "$fails layering check(s) failed"; exit 1; }
