# tests/cli/store_lib.sh - what store_copy.sh and store_same.sh share
# (sourced; top_srcdir and top_builddir set): their start on a throw-away
# PostgreSQL cluster, one sequence that fills a store through the CLI with
# something in every table, and what the tests compare across stores.
#
#   store_test_init NAME   SS, TOOL (copy_tool), DATA, fail/ok/fails; skips
#                          (77) when there is no PostgreSQL server; T, a
#                          private directory with a cluster started in T/pg
#                          (pg_host), both gone on exit
#   store_fill DB MODEL    a store made with a reservoir of 8 (so that
#                          observing 24 messages replaces slots by the
#                          reservoir's RNG) and 6 samples to make a user dirty;
#                          learn, classify --observe, adapt (twice for
#                          alice: refit log and head version 2), thresholds
#                          (and target FPRs where `user` has them), allow and
#                          block lists for a user and a domain, scan records
#   store_users            the users store_fill makes
#   store_scores DB MODEL  every user's `classify --user` over the corpus
#   store_fb_counts DB MODEL  stats --json's feedback and scan counts, overview
#                          and per user, one "key value" line each
. "$top_srcdir/tests/pg_cluster.sh"
SS="$top_builddir/spamshift"
TOOL="$top_builddir/tests/cli/copy_tool"
DATA="$top_srcdir/tests/data/corpus"
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
ok() { echo "ok: $*"; }

store_test_cleanup() {
    pg_cluster_stop
    rm -rf "$T"
}

store_test_init() {
    pg_cluster_require
    T=$(mktemp -d "${TMPDIR:-/tmp}/ss-$1.XXXXXX") || exit 1
    trap store_test_cleanup EXIT
    trap 'exit 1' INT TERM
    chmod 711 "$T"   # the server runs as nobody under root: it must reach $T/pg
    mkdir "$T/pg" && pg_cluster_start "$T/pg" || exit 1
}

STORE_USERS="alice@example.org bob@example.org carol@example.org dave@example.net"

store_users() { echo $STORE_USERS; }

# run NAME command...: a step of the fill that must succeed.
store_step() {
    name=$1
    shift
    "$@" > "$T/step.out" 2> "$T/step.err" || {
        fail "$name: exit $? ($(tail -2 "$T/step.err"))"
        return 1
    }
}

store_fill() {
    db=$1 m=$2
    store_step "create $db" "$TOOL" create "$db" 8 6 || return 1
    store_step "learn alice spam" "$SS" learn --db "$db" --user alice@example.org --spam \
        "$DATA"/spam/0[0-5].eml || return 1
    store_step "learn alice ham" "$SS" learn --db "$db" --user alice@example.org --ham \
        "$DATA"/ham/0[0-5].eml || return 1
    store_step "learn bob ham" "$SS" learn --db "$db" --user bob@example.org --ham \
        "$DATA"/ham/0[6-9].eml "$DATA"/ham/1*.eml || return 1
    store_step "observe carol" "$SS" classify -m "$m" --db "$db" --user carol@example.org \
        --observe "$DATA"/ham/*.eml "$DATA"/spam/*.eml || return 1
    store_step "observe dave" "$SS" classify -m "$m" --db "$db" --user dave@example.net \
        --observe "$DATA"/spam/*.eml "$DATA"/ham/0[0-3].eml || return 1
    store_step "learn carol spam" "$SS" learn --db "$db" --user carol@example.org --spam \
        "$DATA"/spam/1[01].eml "$DATA"/spam/0[89].eml || return 1
    store_step "learn carol ham" "$SS" learn --db "$db" --user carol@example.org --ham \
        "$DATA"/ham/1[01].eml || return 1
    store_step "adapt --all" "$SS" adapt -m "$m" --db "$db" --all || return 1
    store_step "move alice's 00 to ham" "$SS" learn --db "$db" --user alice@example.org \
        --ham "$DATA"/spam/00.eml || return 1
    store_step "adapt alice again" "$SS" adapt -m "$m" --db "$db" --user alice@example.org \
        || return 1
    store_step "bob's threshold" "$SS" user --db "$db" --user bob@example.org \
        --spam-threshold 0.8 || return 1
    if "$SS" user --help 2>&1 | grep -q -- --target-fpr; then
        store_step "carol's target FPR" "$SS" user --db "$db" --user carol@example.org \
            --target-fpr 0.01 || return 1
    fi
    store_step "alice's lists" "$SS" user --db "$db" --user alice@example.org \
        --allow friend@example.com --block @spam.example || return 1
    store_step "a domain's list" "$SS" user --db "$db" --domain example.net \
        --block bulk@ads.example || return 1
    store_step "alice's scans" "$TOOL" scans "$db" alice@example.org 20 || return 1
    store_step "dave's scans" "$TOOL" scans "$db" dave@example.net 7 || return 1
}

store_scores() {
    db=$1 m=$2
    for u in $STORE_USERS; do
        "$SS" classify -m "$m" --db "$db" --user "$u" "$DATA"/ham/*.eml "$DATA"/spam/*.eml \
            | sed "s|^$DATA/|$u |" || return 1
    done
}

store_fb_counts() {
    "$SS" stats -m "$2" --db "$1" --json --since all > "$T/stats.json" || return 1
    python3 - "$T/stats.json" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
keys = ("learned_spam", "learned_ham", "feedback_spam", "feedback_ham", "feedback_held",
        "scanned", "tagged", "quarantined", "rejected", "skipped", "errors", "refits",
        "scan_records", "false_positives", "false_negatives")
for k in keys:
    if k in j["overview"]:
        print("overview", k, j["overview"][k])
for u in j["users"]:
    for k in keys:
        if k in u:
            print(u["user"], k, u[k])
PY
}
