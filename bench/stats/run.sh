#!/bin/sh
# bench/stats/run.sh - time `spamshift stats` over a large store: 10,000 users,
# 1,000,000 per-message scan records (spread over the last 7 days), 7 days of
# per-user counters, 50,000 feedback rows (half of them matching a scan record)
# and one refit per user.  The store is created by spamshift itself (schema),
# then filled with python3's sqlite3 (fast bulk inserts).
#
#   bench/stats/run.sh [SPAMSHIFT] [WORKDIR]
set -eu
SS=${1:-spamshift}
W=${2:-/tmp/spamshift-bench-stats}
here=$(cd "$(dirname "$0")" && pwd)
rm -rf "$W"; mkdir -p "$W"
msg=$(ls "$here/../../tests/data/corpus/ham/00.eml")
"$SS" learn --db "$W/store.db" --user seed@example.org --ham "$msg" > /dev/null
python3 - "$W/store.db" <<'PY'
import random, sqlite3, struct, sys, time
db = sqlite3.connect(sys.argv[1])
r = random.Random(1)
now = int(time.time())
U = 10000
db.executemany("INSERT INTO users(key, created) VALUES (?, ?)",
               ((f"user{i:05d}@example.org", now) for i in range(U)))
uids = [u for u, in db.execute("SELECT id FROM users WHERE key LIKE 'user%'")]
def scans():
    for k in range(1000000):
        yield (uids[k % U], struct.pack("<QQ", k, 7), now - r.randrange(7 * 86400),
               r.random(), r.choice((0, 0, 0, 1, 1, 2, 3)))
db.executemany("INSERT INTO scans VALUES (?, ?, ?, ?, ?)", scans())
hist = struct.pack("<48I", *([0] * 10 + [90, 9, 1] + [0] * 35))
def days():
    for u in uids:
        for d in range(7):
            day = now - now % 86400 - d * 86400
            yield (u, day, 14, 3, 1, 1, 0, 0, 14 * 2.5, hist)
db.executemany("INSERT INTO scan_days VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", days())
def feedback():
    for k in range(50000):
        dig = struct.pack("<QQ", k * 20 if k % 2 else 10**9 + k, 7)
        yield (uids[(k * 20) % U if k % 2 else k % U], dig, r.randrange(2), 1, b"\x01", now - r.randrange(86400))
db.executemany("INSERT OR IGNORE INTO feedback(user_id, digest, spam, n, ids, updated) VALUES (?, ?, ?, ?, ?, ?)", feedback())
db.executemany("INSERT INTO refits(user_id, at, version, model_id, n_feedback, n_unlabelled, domain_auc, ess, cv_before, cv_after, ms) VALUES (?, ?, 1, 'x', 5, 200, 0.6, 150, 0.1, 0.05, 3)",
               ((u, now - 3600) for u in uids))
db.commit()
print("store:", {t: db.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("users", "scans", "scan_days", "feedback", "refits")})
PY
sync
for args in "" "--json" "--format prometheus" "--user user00042@example.org" "--since all"; do
    # shellcheck disable=SC2086
    "$SS" stats --db "$W/store.db" $args > /dev/null   # warm the page cache
    start=$(date +%s.%N)
    for i in 1 2 3; do "$SS" stats --db "$W/store.db" $args > /dev/null; done
    end=$(date +%s.%N)
    echo "stats $args: $(echo "($end - $start) / 3" | bc -l | cut -c1-5) s per run (mean of 3, warm cache)"
done
