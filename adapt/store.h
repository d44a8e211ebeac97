/*
 * store.h - the per-user store: users, labelled feedback, the unlabelled
 * reservoir, published user models (heads) with versions, refit records and
 * counters.
 *
 * Backend-neutral, after bogofilter's datastore.h: callers see only these
 * functions and an opaque struct store.  The front (adapt/store.c and
 * friends) owns the policy; behind it a backend per database (store_be.h):
 * SQLite (adapt/store_sqlite*.c) for "PATH" or "sqlite:PATH", PostgreSQL
 * (adapt/store_pg*.c, when built with libpq) for a libpq URI
 * ("postgresql://..." or "postgres://...") or "key=value ..." string.  Only
 * the backends hold SQL.  Messages are kept as feature ids (idpack.h), never
 * as mail.
 *
 * Threads: a struct store is one connection and belongs to one thread at a time;
 * open one per thread.  Processes and threads share the database file safely.
 *
 * Transactions: every function that writes runs in a transaction.  Called
 * outside store_begin()/store_commit() it opens and commits its own; called
 * inside, it joins the caller's, so a writer (the milter's writer thread,
 * `spamshift learn`) can batch many writes in one commit.  A write that meets a
 * lock held by another connection waits up to the busy timeout, then fails with
 * STORE_BUSY and a clear message; nothing is half-written.
 *
 * Errors: functions return STORE_OK (0) or a negative STORE_E*; the message of the
 * last failure is store_errmsg().  Lookups that find nothing return
 * STORE_NOTFOUND (1), which is not an error.
 */
#ifndef SPAMSHIFT_STORE_H
#define SPAMSHIFT_STORE_H

#include <stddef.h>
#include <stdint.h>

struct store;

enum store_status {
    STORE_OK = 0,
    STORE_NOTFOUND = 1,
    STORE_ERR = -1,         /* I/O, corruption, bad argument, out of memory */
    STORE_BUSY = -2,        /* another connection held the lock past the timeout */
    STORE_STALE = -3,       /* a publish lost to a newer one (see store_head_publish) */
    STORE_EVERSION = -4,    /* a schema or features version this program cannot use
                             * (store_open_graded only) */
    STORE_EDOWN = -5,       /* the database server cannot be reached or the
                             * connection was lost: try again later */
    STORE_EPERM = -6        /* the database refused the operation to this role
                             * (PostgreSQL's insufficient_privilege: see
                             * contrib/postgresql/roles.sql) */
};

/* Which backend a database string names (see above). */
enum store_db { STORE_DB_SQLITE, STORE_DB_POSTGRESQL };
enum store_db store_db_kind(const char *db);
/* The file a SQLite database string names (PATH, or the PATH of sqlite:PATH);
 * NULL for a PostgreSQL string, which names no file. */
const char *store_db_file(const char *db);

/* 1 when db carries a password (a PostgreSQL URI's user:password@ or
 * password= parameter, a key=value string's password key), which the
 * commands and the milter refuse (store_secret.c); else 0. */
int store_db_password(const char *db);
#define STORE_PASSWORD_HELP "put the password in a password file (~/.pgpass, " \
    "or the file PGPASSFILE names) or a service file (PGSERVICEFILE, service=NAME), " \
    "never in the database string"

/* The mode of a store's files: its users' addresses and message features are
 * for the milter's user and group only.  Made so whatever the umask; SQLite
 * gives PATH-wal and PATH-shm the main file's mode. */
#define STORE_FILE_MODE 0660

/* store_open() flags */
#define STORE_RDONLY    0x01u   /* never write; the file must exist */
#define STORE_CREATE    0x02u   /* create the file (and schema) when missing */

struct store_opts {
    unsigned busy_ms;           /* wait this long for a lock; default 5000 */
    /* Used only when the store is created; afterwards read from the database. */
    uint32_t reservoir_size;    /* unlabelled samples kept per user; default 2000 */
    uint32_t feedback_max;      /* per-user quota of feedback rows; default
                                 * 20000: beyond it the least recently updated
                                 * are dropped (store_feedback_put) */
    uint32_t dirty_samples;     /* new samples since the last refit that make a
                                 * user dirty; default 200 */
    uint64_t seed;              /* reservoir RNG seed; default a fixed constant */
};

void store_opts_default(struct store_opts *o);

/*
 * Open (and with STORE_CREATE create) the store named by db (a path or a
 * connection string, see above); opts may be NULL for the defaults.  Brings an
 * older schema up to date in place (in one transaction) and refuses a schema
 * newer than this program or a store written with another FEATURES_VERSION.
 * Returns STORE_OK and *out (close with store_close()), or an error with *out =
 * NULL and a one-line reason in err.  May block up to busy_ms (and a
 * PostgreSQL server's connect timeout).
 *
 * store_open() answers STORE_OK, STORE_BUSY or STORE_ERR; store_open_graded()
 * the same but STORE_EVERSION (schema or features version: EX_CONFIG for a
 * command) and STORE_EDOWN (server unreachable) instead of STORE_ERR where
 * they apply.
 */
int store_open(const char *db, unsigned flags, const struct store_opts *opts,
               struct store **out, char *err, size_t errlen);
int store_open_graded(const char *db, unsigned flags, const struct store_opts *opts,
                      struct store **out, char *err, size_t errlen);

/* "sqlite" or "postgresql". */
const char *store_backend_name(const struct store *s);

/* Close; rolls back an open transaction.  Accepts NULL; returns NULL. */
struct store *store_close(struct store *s);

/* The message of the last failure on this connection ("" if none). */
const char *store_errmsg(const struct store *s);

/* The status of the last failure on this connection (STORE_OK if none): what a
 * caller that only got -1 from a layer above the store (headcache_sync,
 * refit_dirty) asks to tell STORE_EDOWN from the rest. */
int store_errcode(const struct store *s);

/* The store as messages name it: the SQLite path or "postgresql:DBNAME",
 * never a password or the rest of a connection string.  Owned by s. */
const char *store_name(const struct store *s);

/* The same for a database string, without opening it (for a message about a
 * store that would not open): into buf, cut to len.  This can't fail. */
void store_db_label(const char *db, char *buf, size_t len);

/* 1 when the path no longer names the file this connection has open (removed,
 * renamed or replaced under it: its writes would reach no one else), else 0.
 * A stat(2); never blocks on a lock.  (Closing such a connection leaves
 * PATH-wal and PATH-shm alone: SQLite neither checkpoints nor deletes them for
 * a moved file.  Replace a store by moving all three files, or a new main file
 * replays the old one's PATH-wal.) */
int store_moved(struct store *s);

/* Current settings (see store_opts). */
uint32_t store_reservoir_size(const struct store *s);
uint32_t store_dirty_samples(const struct store *s);

/* Change a setting stored in the database.  Shrinking the reservoir drops the
 * samples above the new size. */
int store_set_reservoir_size(struct store *s, uint32_t n);

/* The per-user feedback quota (stored in the database; a store made before it
 * existed reads the default).  Setting it drops every user's least recently
 * updated rows beyond n at once; *dropped (may be NULL) says how many.
 * store_feedback_dropped() counts the rows this connection's
 * store_feedback_put() calls dropped, for the caller to report. */
uint32_t store_feedback_max(const struct store *s);
int store_set_feedback_max(struct store *s, uint32_t n, uint64_t *dropped);
uint64_t store_feedback_dropped(const struct store *s);
int store_set_dirty_samples(struct store *s, uint32_t n);

/* Explicit write transaction: takes the write lock now (waiting up to busy_ms).
 * Transactions do not nest: store_begin() inside one fails with STORE_ERR. */
int store_begin(struct store *s);
int store_commit(struct store *s);
/* Accepts a store with no open transaction (then a no-op). */
void store_rollback(struct store *s);

/* Read snapshot: everything read until store_end_read() sees one consistent
 * state of the database even while other connections write. */
int store_begin_read(struct store *s);
void store_end_read(struct store *s);

/* ---- users ---- */

/* The user key is the lowercased address (the milter's and learn's job); the store
 * compares it byte for byte.  Keys are 1..320 bytes with no control characters. */
int store_user_get_or_create(struct store *s, const char *user, int64_t *uid);
/* 1 if user is an acceptable key, else 0 (what every function here checks). */
int store_user_valid(const char *user);
/* STORE_OK and *uid, or STORE_NOTFOUND. */
int store_user_lookup(struct store *s, const char *user, int64_t *uid);

/* ---- per-user thresholds ---- */

/*
 * A user's own spam threshold (a probability in (0, 1)): the milter tags that
 * user's copy at or above it, and `spamshift classify --user` says spam, instead
 * of using the global threshold.  store_threshold_get(): STORE_OK and *spam, or
 * STORE_NOTFOUND when the user is unknown or has none.  store_threshold_set():
 * spam in (0, 1) sets it (creating the user), spam < 0 clears it (an unknown
 * user is left alone); anything else is STORE_ERR.  Every set or clear bumps the
 * thresholds' generation (store_thresholds_gen(), 0 before the first), which is
 * what a reader polls to know when to read the list again.
 */
int store_threshold_get(struct store *s, const char *user, double *spam);
int store_threshold_set(struct store *s, const char *user, double spam);
int store_thresholds_gen(struct store *s, uint64_t *gen);
/* Every user with a threshold of its own, by key: *users NULL-terminated (free
 * with store_strv_free()), *spam malloc'd (free()), *n entries. */
int store_threshold_list(struct store *s, char ***users, double **spam, size_t *n);

/*
 * A user's own target false-positive rate (`spamshift user --target-fpr`): the
 * rate its verdict threshold is placed at (oppoint.h) instead of the site's
 * (spamshift.conf target_fpr, the commands' --target-fpr).  Kept in the meta
 * table under "target_fpr/USER", so no schema change; get, set (t in (0, 1);
 * t < 0 clears) and list as for the spam thresholds above, and every change
 * bumps the same generation (store_thresholds_gen).  The user need not exist.
 */
int store_target_fpr_get(struct store *s, const char *user, double *t);
int store_target_fpr_set(struct store *s, const char *user, double t);
int store_target_fpr_list(struct store *s, char ***users, double **t, size_t *n);

/*
 * Allow and block lists.  scope is a user key (that user's list) or "@domain"
 * (every user of that domain); sender a sender address ("alice@example.com") or
 * domain ("@example.com"), normalised by the caller (adapt/senderlist.h).
 * store_list_set() adds or changes an entry (action STORE_LIST_ALLOW or
 * STORE_LIST_BLOCK) or removes it (STORE_LIST_NONE: STORE_NOTFOUND when there
 * was none); each change bumps store_lists_gen(), which a milter polls to reload
 * its copy.  store_list_all() returns every entry in (scope, sender) order; free
 * with store_list_free().
 */
enum store_list_action { STORE_LIST_NONE = 0, STORE_LIST_ALLOW = 1, STORE_LIST_BLOCK = 2 };

struct store_list_entry {
    char *scope, *sender;
    int action;                 /* STORE_LIST_ALLOW or STORE_LIST_BLOCK */
    int64_t added;              /* Unix time of the last change */
};

int store_list_set(struct store *s, const char *scope, const char *sender, int action);
int store_lists_gen(struct store *s, uint64_t *gen);
int store_list_all(struct store *s, struct store_list_entry **v, size_t *n);
void store_list_free(struct store_list_entry *v, size_t n);

/* ---- labelled feedback ---- */

#define STORE_DIGEST_LEN 16

enum store_change {
    STORE_UNCHANGED = 0,    /* already there with that label / not there to forget */
    STORE_LEARNED,          /* new */
    STORE_MOVED,            /* was there with the other label */
    STORE_FORGOTTEN         /* removed */
};

/* Record message digest as spam (1) or ham (0) for user, with its feature ids
 * (sorted, unique).  Idempotent: the same digest and label again changes
 * nothing; the other label moves it.  Any change marks the user dirty.  A new
 * row beyond the user's quota (store_feedback_max) drops the user's least
 * recently updated other row, never the one just written.
 * *chg (may be NULL) says what happened. */
int store_feedback_put(struct store *s, const char *user,
                       const uint8_t digest[STORE_DIGEST_LEN], int spam,
                       const uint32_t *ids, size_t n, enum store_change *chg);

/* Forget digest for user: STORE_FORGOTTEN if it was there, else STORE_UNCHANGED. */
int store_feedback_forget(struct store *s, const char *user,
                          const uint8_t digest[STORE_DIGEST_LEN],
                          enum store_change *chg);

/* ---- unlabelled reservoir ---- */

/*
 * Offer one scanned message to user's reservoir: Algorithm R (Vitter 1985) over
 * the distinct messages offered to this user, with a per-user counter and a
 * deterministic RNG (the store seed, the user and the counter), so the reservoir
 * is a uniform sample of everything offered.  A digest already in the reservoir
 * is not counted again.  Enough new samples since the last refit mark the user
 * dirty.  *kept (may be NULL) is 1 when the sample entered the reservoir.
 */
int store_reservoir_offer(struct store *s, const char *user,
                          const uint8_t digest[STORE_DIGEST_LEN],
                          const uint32_t *ids, size_t n, int *kept);

/* ---- reading a user's data ---- */

struct store_sample {
    uint32_t *ids;          /* points into the owning set's arena */
    uint32_t n;
    uint8_t spam;           /* feedback label; 0 for reservoir samples */
    uint8_t digest[STORE_DIGEST_LEN];
    const float *rep;       /* cached representation under the model asked for
                             * (rep_len floats: h then z), or NULL */
    uint32_t rep_len;
};

/* A list of samples and the arenas holding all their ids and representations. */
struct store_samples {
    struct store_sample *v;
    size_t n;
    uint32_t *arena;
    float *rep_arena;
};

/* A user's refit state at one moment: what a refit loads and then publishes. */
struct store_user_state {
    int64_t uid;
    uint64_t fb_gen;        /* bumped by every feedback change */
    uint64_t seen;          /* distinct samples ever offered */
    uint64_t refit_fb_gen;  /* fb_gen and seen covered by the published head */
    uint64_t refit_seen;
    uint64_t head_version;  /* 0 = no head */
    uint32_t n_spam, n_ham; /* feedback counts */
    uint32_t n_reservoir;
};

/* State of user (STORE_NOTFOUND for an unknown user). */
int store_user_state(struct store *s, const char *user, struct store_user_state *st);

/* All of user's feedback, or all its reservoir samples, ordered by digest.
 * Each sample's cached representation is returned when it was computed under
 * base model model_id (NULL: never).  An unknown user gives an empty list.
 * Free with store_samples_free(). */
int store_feedback_list(struct store *s, const char *user, const char *model_id,
                        struct store_samples *out);
int store_reservoir_list(struct store *s, const char *user, const char *model_id,
                         struct store_samples *out);
void store_samples_free(struct store_samples *ss);

enum store_kind { STORE_FEEDBACK, STORE_RESERVOIR };

/* Cache representations computed under model_id for user's samples: rep[i*dim ..]
 * for digest[i], i < n (dim floats each, at most 1024).  Samples that are gone
 * meanwhile are skipped.  One transaction (or the caller's). */
int store_reps_put(struct store *s, const char *user, enum store_kind kind,
                   const char *model_id, const uint8_t (*digest)[STORE_DIGEST_LEN],
                   const float *rep, uint32_t dim, size_t n);

/* ---- the refit's cache ---- */

/*
 * What user's last refit derived from its reservoir and feedback count (an
 * opaque blob: adapt's struct adapt_prep), for base model model_id, and the
 * user's seen counter when its reservoir part was computed.  One per user;
 * a newer put replaces it.  get: STORE_OK with *blob malloc'd (caller frees),
 * or STORE_NOTFOUND when there is none for model_id.  put joins the caller's
 * transaction or runs its own; an unknown user is left alone (STORE_OK).
 */
int store_fitcache_get(struct store *s, const char *user, const char *model_id,
                       uint64_t *seen, void **blob, size_t *len);
int store_fitcache_put(struct store *s, const char *user, const char *model_id,
                       uint64_t seen, const void *blob, size_t len);

/* ---- published user models ---- */

/*
 * user's published model blob for the base model model_id (hex id of the model
 * file).  A head fitted against another base model is not returned.  If
 * have_version equals the stored version, returns STORE_OK with *blob = NULL
 * (the caller's copy is current: the cheap check a scorer cache makes).
 * Otherwise *blob is malloc'd (caller frees), *len and *version are set.
 * STORE_NOTFOUND when the user or a head for model_id does not exist.
 */
int store_head_get(struct store *s, const char *user, const char *model_id,
                   uint64_t have_version, void **blob, size_t *len,
                   uint64_t *version);

/* What a refit measured, kept in the refit log. */
struct store_refit {
    uint32_t n_feedback, n_unlabelled;
    double domain_auc, ess, cv_err_before, cv_err_after;
    double ms;
};

/*
 * Publish a user model fitted from the state loaded in *from (its fb_gen and
 * seen): in one transaction the head is replaced with version = previous + 1,
 * the user's refit marks advance to *from, and a refit record is appended.  If a
 * head from a newer state was published meanwhile, nothing is written and
 * STORE_STALE is returned.  *version (may be NULL) gets the new version.  A
 * claim this handle holds on user (store_dirty_claim) is given back in the
 * same transaction.
 */
int store_head_publish(struct store *s, const char *user, const char *model_id,
                       const void *blob, size_t len,
                       const struct store_user_state *from,
                       const struct store_refit *rec, uint64_t *version);

/* The last refit record of user (what `spamshift stats` shows): STORE_OK with *rec,
 * *version and *at (Unix time), or STORE_NOTFOUND when user was never refitted. */
int store_refit_last(struct store *s, const char *user, struct store_refit *rec,
                     uint64_t *version, int64_t *at);

/* Users whose model was republished after refit log position after (anyone's
 * refit: this process's, another milter's, `spamshift adapt`), each once, and in
 * *last the position to pass next time.  after < 0 asks only for the current
 * position (no users): where a new reader starts.  Free *users with
 * store_strv_free(). */
int store_refits_since(struct store *s, int64_t after, char ***users, size_t *n,
                       int64_t *last);

/* Users to refit: feedback changed or at least dirty_samples new samples since
 * the last published head, or their head was fitted against a base model other
 * than model_id (NULL: ignore the model).  *users is a NULL-terminated malloc'd
 * array of malloc'd keys (free with store_strv_free()); at most max (0: all). */
int store_dirty_list(struct store *s, const char *model_id, size_t max,
                     char ***users, size_t *n);
/*
 * Claiming dirty users, so that of several processes (hosts of a fleet on one
 * PostgreSQL store, adapt -j workers, the milters' refit threads) one refits a
 * user while the others skip it.  store_dirty_claim() takes the first dirty
 * user (as store_dirty_list() with model_id) whose key sorts bytewise after
 * after (NULL: from the first) and that nobody holds, or whose holder's lease
 * ran out (it is presumed dead: anyone may take an expired claim), and marks it
 * held by this handle for lease_s seconds (0: STORE_CLAIM_LEASE, the default
 * of the milter's refit_lease and of adapt --lease).  It never
 * waits for another process's claim: a held user is skipped.  Returns STORE_OK
 * with *user (malloc'd key, free() it), STORE_NOTFOUND when no user is left
 * after after, or an error.  One write transaction (or a savepoint inside the
 * caller's); refused on a read-only handle.  Walking with after := the last
 * key claimed visits each dirty user at most once per walk.
 * store_claim_release() gives user's claim back if this handle holds it (a
 * failed refit's, which the next walk may take; a publish gives it back by
 * itself, and a published user is no longer dirty); STORE_OK also when it
 * held none.
 */
#define STORE_CLAIM_LEASE 600
int store_dirty_claim(struct store *s, const char *model_id, const char *after,
                      unsigned lease_s, char **user);
int store_claim_release(struct store *s, const char *user);
/* Users with a head published for base model model_id, most recently published
 * first, at most max (0: all); as store_dirty_list().  For the milter's preload
 * of its head cache at start and at reload. */
int store_head_recent(struct store *s, const char *model_id, size_t max, char ***users,
                      size_t *n);
/* Every user key, sorted. */
int store_user_list(struct store *s, char ***users, size_t *n);
char **store_strv_free(char **v);

/* ---- counters ---- */

/* Add delta to user's counter name (created at 0). */
int store_counter_add(struct store *s, const char *user, const char *name,
                      int64_t delta);
/* STORE_OK and *value, or STORE_NOTFOUND. */
int store_counter_get(struct store *s, const char *user, const char *name,
                      int64_t *value);

/* ---- scan records: what the milter decided ---- */

/* Verdicts as recorded (the milter's, plus the two ways a message is not scored). */
enum store_verdict {
    STORE_V_PASS = 0, STORE_V_TAG, STORE_V_QUARANTINE, STORE_V_REJECT,
    STORE_V_SKIPPED, STORE_V_ERROR, STORE_V_N
};

/* Per-user counters (store_counter_add) of the copies the milter scanned in
 * mode = shadow, of them those it would have quarantined and rejected (their
 * scan records hold that verdict: what it would have done). */
#define STORE_COUNTER_SHADOW_SCANNED "shadow_scanned"
#define STORE_COUNTER_SHADOW_QUARANTINED "shadow_quarantined"
#define STORE_COUNTER_SHADOW_REJECTED "shadow_rejected"

#define STORE_SCAN_HIST 48          /* scan-time histogram buckets per user and day */
#define STORE_SCAN_KEEP_DAYS 30     /* per-message scan records older are dropped */

/* Upper edge in ms of scan-time bucket b: 0.05 ms * 1.3^(b+1); the last bucket
 * is open. */
double store_scan_bucket_ms(int b);

/*
 * Record that user's copy of a message got verdict (a store_verdict) with score
 * after ms of scanning, at Unix time at: the user's counters for that UTC day
 * (scanned = pass + tag + quarantine + reject; skipped; errors; total and
 * histogram of scan times) and, for a scored message (digest non-NULL), the
 * per-message record (user, digest, score, verdict) that later feedback is
 * matched against.  Per-message records expire after STORE_SCAN_KEEP_DAYS
 * (checked at most once an hour per connection); one per user and digest (the
 * latest wins).  Joins the caller's transaction.
 */
int store_scan_record(struct store *s, const char *user, const uint8_t *digest,
                      float score, int verdict, double ms, int64_t at);

/* One user's activity since a moment, as `spamshift stats` shows it. */
struct store_user_stats {
    char *user;                     /* owned by the array (store_user_stats_free) */
    uint64_t scanned, tagged, quarantined, rejected, skipped, errors;
    double ms_sum;                  /* over scanned messages */
    uint32_t hist[STORE_SCAN_HIST];
    uint64_t learned_spam, learned_ham;     /* feedback changed in the period */
    uint64_t fb_spam, fb_ham;               /* feedback held now */
    /* Feedback (changed in the period) matched to a scan record: the verdict at
     * scan time was contradicted (fp: learned ham, was tagged or worse; fn:
     * learned spam, was passed). */
    uint64_t matched_ham, matched_spam, fp, fn;
    uint64_t refits;                /* refits in the period */
    int has_refit;                  /* last refit, whenever it was: */
    uint64_t version;
    int64_t refit_at;
    struct store_refit last;
};

/*
 * Per-user statistics since Unix time since, for user (NULL: every user), in
 * user-key order.  A handful of aggregate queries in one read snapshot
 * (indexed by day and time), whatever the number of users.  *out is malloc'd,
 * free with store_user_stats_free().
 */
int store_user_stats(struct store *s, const char *user, int64_t since,
                     struct store_user_stats **out, size_t *n);
void store_user_stats_free(struct store_user_stats *v, size_t n);

struct store_overview {
    uint64_t users, feedback, scan_records, refits_since;
    int64_t oldest_scan;            /* Unix time of the oldest per-message record, 0 */
    int64_t oldest_day;             /* first day with counters (Unix time), 0 */
    int64_t bytes;                  /* database size (pages in use x page size) */
};

int store_overview(struct store *s, int64_t since, struct store_overview *o);

/* ---- the writer's batch ---- */

enum store_op_kind { STORE_OP_FEEDBACK, STORE_OP_FORGET, STORE_OP_OFFER,
                     STORE_OP_COUNTER, STORE_OP_SCAN };

/* One queued write.  All pointers are borrowed until store_apply() returns. */
struct store_op {
    enum store_op_kind kind;
    const char *user;
    uint8_t digest[STORE_DIGEST_LEN];
    const uint32_t *ids;
    size_t n;
    int spam;               /* FEEDBACK */
    const char *counter;    /* COUNTER */
    int64_t delta;          /* COUNTER */
    float score;            /* SCAN: the user's score, verdict and scan time */
    int verdict;
    double ms;
    /* results */
    enum store_change chg;  /* FEEDBACK, FORGET */
    int kept;               /* OFFER */
};

/* Apply ops[0..n) in one transaction: all or none.  Retries the whole batch once
 * when the lock cannot be had within the busy timeout, then fails with
 * STORE_BUSY.  On failure the database is unchanged and the results undefined. */
int store_apply(struct store *s, struct store_op *ops, size_t n);

/* PRAGMA integrity_check: STORE_OK when the database is sound, else STORE_ERR with
 * the first problem in store_errmsg(). */
int store_check(struct store *s);

/*
 * Backup and restore, online: other connections (the milter's) go on reading
 * and writing meanwhile.
 *
 * store_backup() writes a consistent snapshot of the store to dst: through
 * DST.tmp (mode STORE_FILE_MODE), fsync, then rename over dst, so dst is
 * either the old file or the whole new backup, never half of one.
 * store_restore() replaces the store's whole content with the backup at src in
 * one write transaction through this connection, after checking that src is a
 * sound store of this program's schema; every connection sees the restored
 * content at its next transaction, and the files at the path stay the same (no
 * PATH-wal of another file can be replayed into it).  Both may wait up to the
 * busy timeout for a lock (STORE_BUSY); on failure the destination is unchanged.
 */
int store_backup(struct store *s, const char *dst);
int store_restore(struct store *s, const char *src);

/* Copy the write-ahead log into the database and truncate PATH-wal to zero
 * (SQLite's TRUNCATE checkpoint): how a writer gives back the log's disk after
 * a burst or a full file system.  *wal_bytes (may be NULL) gets PATH-wal's size
 * afterwards.  STORE_BUSY when a reader keeps the log from being reset. */
int store_checkpoint(struct store *s, int64_t *wal_bytes);

/*
 * The write-ahead log a connection was opened with.  A store replaced by
 * moving only its main file (`mv backup.db users.db` under a running milter)
 * leaves PATH-wal of the old file beside the new one, and a connection opened
 * on the new file would read the old log's pages into it: corruption.  So a
 * process that sees store_moved() takes store_wal_pin() of the old connection
 * before closing it, and does not open the path again while
 * store_wal_is(path, fd): the same PATH-wal is still there.  The pin is a file
 * descriptor (so that the old log's inode cannot be reused by a new log while
 * it is compared); -1 when there was no log; the caller closes it.
 */
int store_wal_pin(const struct store *s);
int store_wal_is(const char *path, int fd);

#endif
