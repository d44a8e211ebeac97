/*
 * extract.c - parallel, order-preserving feature extraction; see extract.h.
 *
 * Each worker takes the next source index from a shared counter and stores that
 * source's messages in a slot of its own; the slots are concatenated in index
 * order afterwards.  GMime and libxml2 objects never cross threads (each call to
 * features_extract() builds and frees its own).
 */
#include "config.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "extract.h"
#include "features.h"
#include "log.h"

struct slot {
    struct extract_msg *v;
    size_t n, cap;
    int failed;
    int oom;
};

struct job {
    const struct input_list *l;
    size_t from, to;
    struct slot *slots;
    atomic_size_t next;
    atomic_size_t done;
    int progress;
};

struct slot_ctx {
    struct slot *slot;
    int label;
    struct features f;
};

static int
on_message(void *arg, const char *name, const char *buf, size_t len)
{
    struct slot_ctx *c = arg;
    struct slot *s = c->slot;
    struct extract_msg *m;

    if (features_extract(buf, len, &c->f, NULL, NULL) != 0) {
        s->oom = 1;
        return -1;
    }
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 1;
        struct extract_msg *v = realloc(s->v, cap * sizeof(*v));
        if (v == NULL) {
            s->oom = 1;
            return -1;
        }
        s->v = v;
        s->cap = cap;
    }
    m = &s->v[s->n];
    memset(m, 0, sizeof(*m));
    m->name = strdup(name);
    m->ids = malloc((c->f.n ? c->f.n : 1) * sizeof(uint32_t));
    if (m->name == NULL || m->ids == NULL) {
        free(m->name);
        free(m->ids);
        s->oom = 1;
        return -1;
    }
    memcpy(m->ids, c->f.ids, c->f.n * sizeof(uint32_t));
    m->n = (uint32_t)c->f.n;
    m->label = c->label;
    m->flags = c->f.flags;
    memcpy(m->digest, c->f.digest, sizeof(m->digest));
    s->n++;
    return 0;
}

static void *
worker(void *arg)
{
    struct job *j = arg;
    struct slot_ctx c;
    int tty = j->progress && isatty(STDERR_FILENO);

    features_init(&c.f);
    for (;;) {
        size_t i = atomic_fetch_add(&j->next, 1) + j->from;
        size_t done;
        if (i >= j->to)
            break;
        c.slot = &j->slots[i - j->from];
        c.label = j->l->v[i].label;
        if (input_read(&j->l->v[i], on_message, &c) != 0 && !c.slot->oom)
            c.slot->failed = 1;
        done = atomic_fetch_add(&j->done, 1) + 1;
        if (tty && (done % 500 == 0 || i + 1 == j->to))
            fprintf(stderr, "\rreading %zu/%zu", done, j->to - j->from);
    }
    features_clear(&c.f);
    return NULL;
}

int
extract_sources(const struct input_list *l, size_t from, size_t to, unsigned jobs,
                int progress, struct extract_set *out)
{
    struct job j;
    pthread_t th[64];
    unsigned started = 0;
    int rc = 0;

    if (to <= from)
        return 0;
    if (jobs < 1)
        jobs = 1;
    if (jobs > 64)
        jobs = 64;
    if (jobs > to - from)
        jobs = (unsigned)(to - from);
    j.l = l;
    j.from = from;
    j.to = to;
    j.progress = progress;
    atomic_init(&j.next, 0);
    atomic_init(&j.done, 0);
    if ((j.slots = calloc(to - from, sizeof(*j.slots))) == NULL)
        return -1;
    /* The calling thread is worker 0. */
    for (unsigned t = 1; t < jobs; t++) {
        if (pthread_create(&th[t], NULL, worker, &j) != 0)
            break;
        started++;
    }
    worker(&j);
    for (unsigned t = 1; t <= started; t++)
        pthread_join(th[t], NULL);
    if (progress && isatty(STDERR_FILENO))
        fputc('\n', stderr);

    for (size_t i = 0; i < to - from; i++) {
        struct slot *s = &j.slots[i];
        if (s->oom)
            rc = -1;
        if (s->failed)
            out->failed++;
        for (size_t k = 0; k < s->n; k++) {
            if (rc == 0 && out->n == out->cap) {
                size_t cap = out->cap ? out->cap * 2 : 1024;
                struct extract_msg *v = realloc(out->v, cap * sizeof(*v));
                if (v == NULL)
                    rc = -1;
                else {
                    out->v = v;
                    out->cap = cap;
                }
            }
            if (rc == 0)
                out->v[out->n++] = s->v[k];
            else {
                free(s->v[k].name);
                free(s->v[k].ids);
            }
        }
        free(s->v);
    }
    free(j.slots);
    return rc;
}

void
extract_set_clear(struct extract_set *s)
{
    for (size_t i = 0; i < s->n; i++) {
        free(s->v[i].name);
        free(s->v[i].ids);
    }
    free(s->v);
    memset(s, 0, sizeof(*s));
}
