/*
 * corpus.h - the adaptation benchmarks' corpus (bench/adapt/loo.c,
 * bench/adapt/proto/proto.c): messages listed from directories of .txt files,
 * their feature ids extracted once, base models trained on a subset.  Bench
 * code: every failure prints "PROG: what" (corpus_prog) and exits 1.
 */
#ifndef SPAMSHIFT_BENCH_CORPUS_H
#define SPAMSHIFT_BENCH_CORPUS_H

#include <stddef.h>
#include <stdint.h>

#include "model.h"

struct corpus_msg {
    char *path;
    int user;               /* the caller's group number */
    uint8_t spam;
    long order;             /* arrival order within the user */
    uint32_t *ids;          /* features_extract's ids, after corpus_extract */
    uint32_t n;
};

/* The messages; grows with corpus_add_dir, lives until exit. */
struct corpus {
    struct corpus_msg *msgs;
    size_t n, cap;
};

/* The program name that prefixes every message (default "corpus"). */
extern const char *corpus_prog;

/* Prints "PROG: what" on stderr and exits 1. */
void corpus_die(const char *what);

/* calloc that dies instead of returning NULL; n = 0 allocates one element. */
void *corpus_calloc(size_t n, size_t s);

/* Monotonic wall time and this thread's CPU time, in seconds. */
double corpus_now(void);
double corpus_cpu_now(void);

/* The whole file, NUL-terminated, its length in *len; NULL if unreadable.
 * The caller frees it. */
char *corpus_slurp(const char *path, size_t *len);

/* Parses "1,2,3" into out (at most max); returns the count, -1 on a non-number. */
int corpus_parse_list(const char *s, long *out, int max);

/* 1 if name is one of the comma-separated list's items, else 0. */
int corpus_in_list(const char *list, const char *name);

/* Appends DIR's *.txt files as messages of user and class spam.  by_name: the
 * order is the number that leads the file name (Enron-Spam); else 0, for
 * corpus_extract to fill in. */
void corpus_add_dir(struct corpus *c, const char *dir, int user, uint8_t spam, int by_name);

/* The SpamAssassin corpus under sa split by age (the old-vs-new split):
 * easy-ham-1, hard-ham-1 and spam-1 as user old, easy-ham-2 and spam-2 as user
 * new, their order for corpus_extract(c, 1) to take from the mbox times. */
void corpus_add_sa_temporal(struct corpus *c, const char *sa, int old, int new);

/* Reads every message and extracts its feature ids.  mbox_order: a message
 * whose order is 0 takes the time on its mbox "From " line (SpamAssassin). */
void corpus_extract(struct corpus *c, int mbox_order);

/* qsort comparator over struct corpus_msg pointers: order, then path. */
int corpus_cmp_order(const void *a, const void *b);

/* A base model trained on set (model_train defaults, one thread, seed); NULL
 * (and a message on stderr) if training fails.  The caller frees it. */
struct model *corpus_train(struct corpus_msg **set, size_t n, uint64_t seed);

/* The base model cached at path: loaded if it is there, else trained on set
 * (corpus_train, seed 1; dies if that fails) and saved there (a failure to
 * save is only reported).  The caller frees it. */
struct model *corpus_base(const char *path, struct corpus_msg **set, size_t n);

/* Writes DIR/NAME: the paths of set's messages of class spam (-1: all), one a
 * line, each after "SPAM<TAB>" if labels. */
void corpus_write_list(const char *dir, const char *name, struct corpus_msg **set, size_t n,
                       int spam, int labels);

#endif
