#!/bin/sh
# tests/layering/mutual.sh - no two object files call into each other (issue 15).
# For every pair of objects in each of the project's libraries and programs, if
# A uses a symbol B defines and B uses one A defines, the pair is a cycle: one
# of them should not need the other (split the shared part out, or pass a
# callback).  Reads the built objects with nm; run after make.
set -u
: "${top_builddir:=.}"
cd "$top_builddir" || exit 99
command -v nm > /dev/null 2>&1 || { echo "SKIP: no nm"; exit 77; }
tmp=$(mktemp -d) || exit 99
trap 'rm -rf "$tmp"' EXIT
found=0
# Each group: a library with the objects of the program that links it (a
# library calling back into its program is a cycle too).
for group in common/libcommon.a model/libmodel.a adapt/libadapt.a \
             "cli/libcli.a cli/spamshift-*.o" \
             "milter/libspamshift_milter.a milter/spamshift_milter-*.o"; do
    lib=${group%% *}
    [ -f "$lib" ] || { echo "mutual: $lib not built"; exit 99; }
    # One "object symbol" line per defined and per undefined symbol.
    # shellcheck disable=SC2086
    nm -A $group 2>/dev/null | awk -v D="$tmp/def" -v U="$tmp/und" '
        { n = split($1, p, ":"); o = (p[1] ~ /\.a$/) ? p[2] : p[1]; if (o == "") next
          t = $(NF - 1); s = $NF
          if (NF >= 3 && t ~ /^[TDBR]$/) print o, s > D
          else if (t == "U") print o, s > U }'
    sort -u "$tmp/def" -o "$tmp/def"; sort -u "$tmp/und" -o "$tmp/und"
    # who uses whom: "user definer"
    awk 'NR == FNR { def[$2] = $1; next } ($2 in def) && def[$2] != $1 { print $1, def[$2] }' \
        "$tmp/def" "$tmp/und" | sort -u > "$tmp/uses"
    while read -r a b; do
        if grep -qx "$b $a" "$tmp/uses" && [ "$a" \< "$b" ]; then
            echo "mutual: $lib: $a and $b call into each other"
            found=$((found + 1))
        fi
    done < "$tmp/uses"
    rm -f "$tmp/def" "$tmp/und"
done
[ "$found" -eq 0 ] && echo "PASS: no two objects call into each other"
[ "$found" -eq 0 ]
