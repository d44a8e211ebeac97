/*
 * corpus.c - the adaptation benchmarks' corpus loading and base training,
 * shared by bench/adapt/loo.c and bench/adapt/proto/proto.c (see corpus.h).
 * Bench code: failures exit.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "corpus.h"
#include "features.h"

const char *corpus_prog = "corpus";

void
corpus_die(const char *what)
{
    fprintf(stderr, "%s: %s\n", corpus_prog, what);
    exit(1);
}

void *
corpus_calloc(size_t n, size_t s)
{
    void *p = calloc(n ? n : 1, s);

    if (p == NULL)
        corpus_die("out of memory");
    return p;
}

double
corpus_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

double
corpus_cpu_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

char *
corpus_slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    long n;

    if (f == NULL)
        return NULL;
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = malloc((size_t) n + 1);
    if (buf == NULL || fread(buf, 1, (size_t) n, f) != (size_t) n) {
        fclose(f);
        free(buf);
        return NULL;
    }
    fclose(f);
    buf[n] = 0;
    *len = (size_t) n;
    return buf;
}

int
corpus_parse_list(const char *s, long *out, int max)
{
    int n = 0;
    char *end;

    while (*s && n < max) {
        out[n++] = strtol(s, &end, 10);
        if (end == s)
            return -1;
        s = *end == ',' ? end + 1 : end;
    }
    return n;
}

int
corpus_in_list(const char *list, const char *name)
{
    size_t l = strlen(name);

    for (;;) {
        if (strncmp(list, name, l) == 0 && (list[l] == ',' || list[l] == 0))
            return 1;
        if ((list = strchr(list, ',')) == NULL)
            return 0;
        list++;
    }
}

void
corpus_add_dir(struct corpus *c, const char *dir, int user, uint8_t spam, int by_name)
{
    DIR *d = opendir(dir);
    struct dirent *e;

    if (d == NULL) {
        fprintf(stderr, "%s: %s: %s\n", corpus_prog, dir, strerror(errno));
        exit(1);
    }
    while ((e = readdir(d)) != NULL) {
        size_t l = strlen(e->d_name);
        struct corpus_msg *m;

        if (e->d_name[0] == '.' || l < 5 || strcmp(e->d_name + l - 4, ".txt") != 0)
            continue;
        if (c->n == c->cap) {
            c->cap = c->cap ? 2 * c->cap : 4096;
            if ((c->msgs = realloc(c->msgs, c->cap * sizeof(*c->msgs))) == NULL)
                corpus_die("out of memory");
        }
        m = &c->msgs[c->n++];
        memset(m, 0, sizeof(*m));
        if (asprintf(&m->path, "%s/%s", dir, e->d_name) < 0)
            corpus_die("out of memory");
        m->user = user;
        m->spam = spam;
        m->order = by_name ? strtol(e->d_name, NULL, 10) : 0;
    }
    closedir(d);
}

void
corpus_add_sa_temporal(struct corpus *c, const char *sa, int old, int new)
{
    static const char *const o[] = { "easy-ham-1", "hard-ham-1", "spam-1" };
    static const char *const n[] = { "easy-ham-2", "spam-2" };
    char path[8192];
    int i;

    for (i = 0; i < 3; i++) {
        snprintf(path, sizeof(path), "%s/%s", sa, o[i]);
        corpus_add_dir(c, path, old, i == 2, 0);
    }
    for (i = 0; i < 2; i++) {
        snprintf(path, sizeof(path), "%s/%s", sa, n[i]);
        corpus_add_dir(c, path, new, i == 1, 0);
    }
}

/* Arrival order of an SA message: the time on its mbox "From " line. */
static long
mbox_time(const char *buf)
{
    const char *sp;
    struct tm tm;

    if (strncmp(buf, "From ", 5) != 0)
        return 0;
    sp = buf + 5;
    while (*sp && *sp != ' ')
        sp++;
    while (*sp == ' ')
        sp++;
    memset(&tm, 0, sizeof(tm));
    if (strptime(sp, "%a %b %d %H:%M:%S %Y", &tm) == NULL)
        return 0;
    return (long) timegm(&tm);
}

void
corpus_extract(struct corpus *c, int mbox_order)
{
    struct features f;
    double t0 = corpus_now();
    size_t i;

    features_init(&f);
    for (i = 0; i < c->n; i++) {
        struct corpus_msg *m = &c->msgs[i];
        size_t len;
        char *buf = corpus_slurp(m->path, &len);

        if (buf == NULL) {
            fprintf(stderr, "%s: %s: cannot read\n", corpus_prog, m->path);
            exit(1);
        }
        if (mbox_order && m->order == 0)
            m->order = mbox_time(buf);
        if (features_extract(buf, len, &f, NULL, NULL) < 0)
            corpus_die("feature extraction: out of memory");
        m->n = (uint32_t) f.n;
        m->ids = corpus_calloc(f.n, sizeof(uint32_t));
        memcpy(m->ids, f.ids, f.n * sizeof(uint32_t));
        free(buf);
    }
    features_clear(&f);
    fprintf(stderr, "%s: extracted %zu messages in %.1f s\n", corpus_prog, c->n,
            corpus_now() - t0);
}

int
corpus_cmp_order(const void *a, const void *b)
{
    const struct corpus_msg *x = *(const struct corpus_msg *const *) a;
    const struct corpus_msg *y = *(const struct corpus_msg *const *) b;

    if (x->order != y->order)
        return x->order < y->order ? -1 : 1;
    return strcmp(x->path, y->path);
}

struct model *
corpus_train(struct corpus_msg **set, size_t n, uint64_t seed)
{
    struct net_example *ex = corpus_calloc(n, sizeof(*ex));
    struct model_train_opts o;
    struct model *m;
    char err[256];
    size_t i;

    for (i = 0; i < n; i++) {
        ex[i].ids = set[i]->ids;
        ex[i].n = set[i]->n;
        ex[i].spam = set[i]->spam;
    }
    model_train_opts_default(&o);
    o.threads = 1;
    o.net.seed = seed;
    m = model_train(ex, n, &o, err, sizeof(err));
    if (m == NULL)
        fprintf(stderr, "%s: training on %zu messages failed: %s\n", corpus_prog, n, err);
    free(ex);
    return m;
}

void
corpus_write_list(const char *dir, const char *name, struct corpus_msg **set, size_t n,
                  int spam, int labels)
{
    char path[8192];
    FILE *f;
    size_t i;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    if ((f = fopen(path, "w")) == NULL)
        corpus_die("cannot write a list file");
    for (i = 0; i < n; i++) {
        if (spam >= 0 && set[i]->spam != spam)
            continue;
        if (labels)
            fprintf(f, "%d\t", set[i]->spam);
        fprintf(f, "%s\n", set[i]->path);
    }
    fclose(f);
}

struct model *
corpus_base(const char *path, struct corpus_msg **set, size_t n)
{
    struct model *base;
    char err[256];

    if (model_load(path, &base, err, sizeof(err)) == 0)
        return base;
    if ((base = corpus_train(set, n, 1)) == NULL)
        corpus_die("base model training failed");
    if (model_save(base, path, err, sizeof(err)) < 0)
        fprintf(stderr, "%s: %s: %s (not cached)\n", corpus_prog, path, err);
    return base;
}
