# tests/lib.sh - the start the CLI shell tests share.  Sourced once top_srcdir
# is known:
#   : "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
#   . "$top_srcdir/tests/lib.sh"
#   test_init NAME
# Sets cli (the built spamshift), data (the test messages of tests/milter/data),
# fails=0 and fail(), which reports and counts; test_init makes tmp, a private
# directory removed on exit, and exits 99 (a hard error) if spamshift is not built.
: "${top_builddir:=.}"
cli=$top_builddir/spamshift
data=$top_srcdir/tests/milter/data
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

test_init() {
	[ -x "$cli" ] || { echo "FAIL: $cli is not built"; exit 99; }
	tmp=$(mktemp -d "${TMPDIR:-/tmp}/spamshift-$1.XXXXXX") || exit 99
	trap 'rm -rf "$tmp"' EXIT
}
