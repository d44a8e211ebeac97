/*
 * model.c - the model file (save, load, verify), training a whole model and
 * scoring with it.
 *
 * File layout (all integers little-endian; floats IEEE-754 binary32 LE):
 *
 *   0   magic "SPSHMODL"            8 bytes
 *   8   format version              u32   MODEL_FORMAT_VERSION
 *   12  features version            u32   FEATURES_VERSION of the trainer
 *   16  header length               u32   MODEL_HEADER_LEN
 *   20  lin_bits emb_bits emb_dim hidden pool_n n_ham n_spam n_features epochs
 *                                   9 x u32
 *   56  seed                        u64
 *   64  threshold, loss             2 x f32
 *   72  file length                 u64   including the checksum
 *   80  section table               7 x (u64 offset, u64 length): lin, emb, w1,
 *                                   b1, head, pool_rep, pool_label
 *   192 zeros up to MODEL_HEADER_LEN
 *   then the sections, each at a 64-byte-aligned offset, zero padding between,
 *   then the XXH64 (seed 0) of every byte before it, u64, at a 64-byte-aligned
 *   offset; the file ends there.
 *
 * The layout is a function of (dims, pool_n) alone: model_load() recomputes it
 * and refuses any header whose table differs, so no offset in a file is trusted.
 * Nothing time-dependent is stored: identical training gives identical bytes.
 *
 * A loaded model points into a read-only shared mapping (MAP_SHARED, PROT_READ):
 * one copy in memory for every thread and process, and the kernel faults in only
 * the rows the scored messages touch.  The checksum is computed with read(), not
 * through the mapping, so loading does not make the whole table resident.
 * A shared mapping dies with SIGBUS when the file is truncated or rewritten in
 * place under it (`cp new.bin model.bin` truncates first): model_load_private()
 * reads the file into private memory instead, for long-running processes (the
 * milter; tests/hostile/faults.lua pins it).
 * Only little-endian hosts are supported (checked at compile time).
 */
#include "config.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <xxhash.h>

#include "features.h"
#include "model.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "model.c writes and maps the model file in little-endian byte order"
#endif

#define MODEL_MAGIC "SPSHMODL"
#define MODEL_HEADER_LEN 256
#define MODEL_ALIGN 64
#define MODEL_POOL_LIMIT 10000000u     /* sanity bound on pool_n in a file */

enum { SEC_LIN, SEC_EMB, SEC_W1, SEC_B1, SEC_HEAD, SEC_POOL_REP, SEC_POOL_LABEL,
       SEC_N };

static const char *const sec_name[SEC_N] = {
    "lin", "emb", "w1", "b1", "head", "pool representations", "pool labels"
};

struct layout {
    uint64_t off[SEC_N];
    uint64_t len[SEC_N];
    uint64_t sum_off;       /* offset of the checksum */
    uint64_t file_len;
};

static void
seterr(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static uint64_t
align_up(uint64_t x)
{
    return (x + MODEL_ALIGN - 1) & ~(uint64_t) (MODEL_ALIGN - 1);
}

/* The canonical layout for dims d (already validated) and pool_n rows. */
static void
layout_compute(const struct net_dims *d, uint32_t pool_n, struct layout *l)
{
    uint64_t pos = MODEL_HEADER_LEN;
    int i;

    l->len[SEC_LIN] = ((uint64_t) 1 << d->lin_bits) * sizeof(float);
    l->len[SEC_EMB] = ((uint64_t) 1 << d->emb_bits) * d->emb_dim * sizeof(float);
    l->len[SEC_W1] = (uint64_t) d->hidden * d->emb_dim * sizeof(float);
    l->len[SEC_B1] = (uint64_t) d->hidden * sizeof(float);
    l->len[SEC_HEAD] = (uint64_t) NET_HEAD_LEN(d->hidden) * sizeof(float);
    l->len[SEC_POOL_REP] = (uint64_t) pool_n * (d->hidden + 1) * sizeof(float);
    l->len[SEC_POOL_LABEL] = pool_n;
    for (i = 0; i < SEC_N; i++) {
        l->off[i] = pos;
        pos = align_up(pos + l->len[i]);
    }
    l->sum_off = pos;
    l->file_len = pos + 8;
}

/* Little-endian field access (the host is little-endian, see above; memcpy
 * keeps unaligned access defined). */
static uint32_t
get32(const unsigned char *p)
{
    uint32_t v;

    memcpy(&v, p, 4);
    return v;
}

static uint64_t
get64(const unsigned char *p)
{
    uint64_t v;

    memcpy(&v, p, 8);
    return v;
}

static float
getf(const unsigned char *p)
{
    float v;

    memcpy(&v, p, 4);
    return v;
}

static void
put32(unsigned char *p, uint32_t v)
{
    memcpy(p, &v, 4);
}

static void
put64(unsigned char *p, uint64_t v)
{
    memcpy(p, &v, 8);
}

static void
putf(unsigned char *p, float v)
{
    memcpy(p, &v, 4);
}

static void
header_encode(const struct model *m, const struct layout *l, unsigned char *hd)
{
    const struct net_dims *d = &m->net.dims;
    int i;

    memset(hd, 0, MODEL_HEADER_LEN);
    memcpy(hd, MODEL_MAGIC, 8);
    put32(hd + 8, MODEL_FORMAT_VERSION);
    put32(hd + 12, m->feature_version);
    put32(hd + 16, MODEL_HEADER_LEN);
    put32(hd + 20, d->lin_bits);
    put32(hd + 24, d->emb_bits);
    put32(hd + 28, d->emb_dim);
    put32(hd + 32, d->hidden);
    put32(hd + 36, m->pool_n);
    put32(hd + 40, m->summary.n_ham);
    put32(hd + 44, m->summary.n_spam);
    put32(hd + 48, m->summary.n_features);
    put32(hd + 52, m->summary.epochs);
    put64(hd + 56, m->summary.seed);
    putf(hd + 64, m->threshold);
    putf(hd + 68, m->summary.loss);
    put64(hd + 72, l->file_len);
    for (i = 0; i < SEC_N; i++) {
        put64(hd + 80 + 16 * i, l->off[i]);
        put64(hd + 88 + 16 * i, l->len[i]);
    }
}

/* ---- loading ---- */

/* XXH64 of the first len bytes of fd, read with pread (not through the
 * mapping, so the pages do not count against the process).  Returns 0 or -1
 * with errno set. */
static int
checksum_fd(int fd, uint64_t len, uint64_t *out)
{
    enum { BUF = 1 << 20 };
    XXH64_state_t *st;
    unsigned char *buf;
    uint64_t pos = 0;
    int ret = -1;

    st = XXH64_createState();
    buf = malloc(BUF);
    if (st == NULL || buf == NULL) {
        errno = ENOMEM;
        goto out;
    }
    XXH64_reset(st, 0);
    while (pos < len) {
        size_t want = len - pos < BUF ? (size_t) (len - pos) : BUF;
        ssize_t r = pread(fd, buf, want, (off_t) pos);

        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            if (r == 0)
                errno = EIO;
            goto out;
        }
        XXH64_update(st, buf, (size_t) r);
        pos += (uint64_t) r;
    }
    *out = XXH64_digest(st);
    ret = 0;
out:
    free(buf);
    if (st != NULL)
        XXH64_freeState(st);
    return ret;
}

/* Read fd's first len bytes into a fresh anonymous mapping, left read-only.
 * Returns the mapping, or MAP_FAILED with errno set (EIO if the file shrank). */
static void *
read_private(int fd, size_t len)
{
    unsigned char *buf;
    size_t pos = 0;

    buf = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (buf == MAP_FAILED)
        return MAP_FAILED;
    while (pos < len) {
        ssize_t r = pread(fd, buf + pos, len - pos, (off_t) pos);

        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            if (r == 0)
                errno = EIO;
            munmap(buf, len);
            return MAP_FAILED;
        }
        pos += (size_t) r;
    }
    if (mprotect(buf, len, PROT_READ) != 0) {
        munmap(buf, len);
        return MAP_FAILED;
    }
    return buf;
}

/*
 * Check the model image p[0..size) (a whole file) and build the struct model
 * over it, pointing into p.  name is used in messages; fd >= 0 means the
 * checksum is read back from fd with pread (p is a shared mapping of it),
 * fd < 0 that it is computed over p.  mtime becomes summary.created.  Returns
 * the model (its map field left NULL), or NULL with a reason in err.
 */
static struct model *
model_check(const unsigned char *p, size_t size, const char *name, int fd,
            int64_t mtime, char *err, size_t errlen)
{
    struct model *m = NULL;
    struct layout l;
    struct net_dims d;
    uint64_t file_len, sum, stored;
    uint32_t v, pool_n, i;
    int s;

    if ((uint64_t) size < MODEL_HEADER_LEN + 8) {
        seterr(err, errlen, "%s: truncated model file (%zu bytes, a header alone is %d)",
               name, size, MODEL_HEADER_LEN);
        return NULL;
    }
    if (memcmp(p, MODEL_MAGIC, 8) != 0) {
        seterr(err, errlen, "%s: not a spamshift model file (bad magic)", name);
        return NULL;
    }
    if ((v = get32(p + 8)) != MODEL_FORMAT_VERSION) {
        seterr(err, errlen, "%s: model format version %u, this program reads version %u",
               name, v, MODEL_FORMAT_VERSION);
        return NULL;
    }
    if ((v = get32(p + 12)) != FEATURES_VERSION) {
        seterr(err, errlen, "%s: model trained with features version %u, this program "
               "extracts version %u: retrain the model", name, v, FEATURES_VERSION);
        return NULL;
    }
    if ((v = get32(p + 16)) != MODEL_HEADER_LEN) {
        seterr(err, errlen, "%s: corrupt model header (header length %u)", name, v);
        return NULL;
    }
    d.lin_bits = get32(p + 20);
    d.emb_bits = get32(p + 24);
    d.emb_dim = get32(p + 28);
    d.hidden = get32(p + 32);
    pool_n = get32(p + 36);
    if (!net_dims_valid(&d)) {
        seterr(err, errlen, "%s: corrupt model header (dims lin_bits %u emb_bits %u "
               "emb_dim %u hidden %u out of range)", name, d.lin_bits, d.emb_bits,
               d.emb_dim, d.hidden);
        return NULL;
    }
    if (pool_n > MODEL_POOL_LIMIT) {
        seterr(err, errlen, "%s: corrupt model header (pool of %u rows)", name, pool_n);
        return NULL;
    }
    layout_compute(&d, pool_n, &l);
    file_len = get64(p + 72);
    if (file_len != l.file_len) {
        seterr(err, errlen, "%s: corrupt model header (file length %llu, dims imply %llu)",
               name, (unsigned long long) file_len, (unsigned long long) l.file_len);
        return NULL;
    }
    if ((uint64_t) size != file_len) {
        seterr(err, errlen, "%s: %s model file (%zu bytes, header says %llu)", name,
               (uint64_t) size < file_len ? "truncated" : "oversized", size,
               (unsigned long long) file_len);
        return NULL;
    }
    for (s = 0; s < SEC_N; s++) {
        if (get64(p + 80 + 16 * s) != l.off[s] || get64(p + 88 + 16 * s) != l.len[s]) {
            seterr(err, errlen, "%s: corrupt model header (section %s out of place)",
                   name, sec_name[s]);
            return NULL;
        }
    }
    for (i = 80 + 16 * SEC_N; i < MODEL_HEADER_LEN; i++) {
        if (p[i] != 0) {
            seterr(err, errlen, "%s: corrupt model header (reserved bytes set)", name);
            return NULL;
        }
    }
    /* A shared mapping is checked through read() so the checksum does not
     * fault in every page; memory that is ours is checked as it is. */
    if (fd < 0)
        sum = XXH64(p, (size_t) l.sum_off, 0);
    else if (checksum_fd(fd, l.sum_off, &sum) != 0) {
        seterr(err, errlen, "%s: cannot read model: %s", name, strerror(errno));
        return NULL;
    }
    stored = get64(p + l.sum_off);
    if (sum != stored) {
        seterr(err, errlen, "%s: model checksum mismatch (stored %016llx, computed "
               "%016llx): the file is corrupt", name, (unsigned long long) stored,
               (unsigned long long) sum);
        return NULL;
    }
    if ((m = calloc(1, sizeof(*m))) == NULL) {
        seterr(err, errlen, "%s: out of memory", name);
        return NULL;
    }
    m->net.dims = d;
    /* The weights are read-only through the mapping; struct net has non-const
     * pointers because training writes heap copies (owned == 1). */
    m->net.lin = (float *) (p + l.off[SEC_LIN]);
    m->net.emb = (float *) (p + l.off[SEC_EMB]);
    m->net.w1 = (float *) (p + l.off[SEC_W1]);
    m->net.b1 = (float *) (p + l.off[SEC_B1]);
    m->net.head = (float *) (p + l.off[SEC_HEAD]);
    m->net.owned = 0;
    m->feature_version = get32(p + 12);
    m->threshold = getf(p + 64);
    m->summary.created = mtime;
    m->summary.seed = get64(p + 56);
    m->summary.n_ham = get32(p + 40);
    m->summary.n_spam = get32(p + 44);
    m->summary.n_features = get32(p + 48);
    m->summary.epochs = get32(p + 52);
    m->summary.loss = getf(p + 68);
    m->pool_n = pool_n;
    m->pool_rep = (const float *) (p + l.off[SEC_POOL_REP]);
    m->pool_label = p + l.off[SEC_POOL_LABEL];
    snprintf(m->id, sizeof(m->id), "%016llx", (unsigned long long) sum);
    if (!(m->threshold >= 0.0f && m->threshold <= 1.0f)) {
        seterr(err, errlen, "%s: corrupt model (threshold %g not in [0,1])", name,
               (double) m->threshold);
        free(m);
        return NULL;
    }
    for (i = 0; i < pool_n; i++) {
        if (m->pool_label[i] > 1) {
            seterr(err, errlen, "%s: corrupt model (pool label %u at row %u)", name,
                   m->pool_label[i], i);
            free(m);
            return NULL;
        }
    }
    return m;
}

static int model_load_as(const char *path, int private_copy, struct model **out,
                         char *err, size_t errlen);

int
model_load(const char *path, struct model **out, char *err, size_t errlen)
{
    return model_load_as(path, 0, out, err, errlen);
}

int
model_load_private(const char *path, struct model **out, char *err, size_t errlen)
{
    return model_load_as(path, 1, out, err, errlen);
}

int
model_load_buffer(const void *buf, size_t len, const char *name, struct model **out,
                  char *err, size_t errlen)
{
    /* The weights are read as floats and u64s in place. */
    assert(buf != NULL && (uintptr_t) buf % 8 == 0);
    *out = model_check(buf, len, name, -1, 0, err, errlen);
    return *out != NULL ? 0 : -1;
}

static int
model_load_as(const char *path, int private_copy, struct model **out, char *err,
              size_t errlen)
{
    struct model *m;
    struct stat sb;
    void *map = MAP_FAILED;
    int fd;

    *out = NULL;
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
        seterr(err, errlen, "%s: cannot open model: %s", path, strerror(errno));
        return -1;
    }
    if (fstat(fd, &sb) != 0) {
        seterr(err, errlen, "%s: cannot stat model: %s", path, strerror(errno));
        goto fail;
    }
    if (!S_ISREG(sb.st_mode)) {
        seterr(err, errlen, "%s: not a regular file", path);
        goto fail;
    }
    if ((uint64_t) sb.st_size < MODEL_HEADER_LEN + 8) {
        seterr(err, errlen, "%s: truncated model file (%lld bytes, a header alone is %d)",
               path, (long long) sb.st_size, MODEL_HEADER_LEN);
        goto fail;
    }
    if (private_copy)
        map = read_private(fd, (size_t) sb.st_size);
    else
        map = mmap(NULL, (size_t) sb.st_size, PROT_READ, MAP_SHARED, fd, 0);
    if (map == MAP_FAILED) {
        seterr(err, errlen, "%s: cannot map model: %s", path, strerror(errno));
        goto fail;
    }
    /* A private copy is checked as read (the file may change after). */
    m = model_check(map, (size_t) sb.st_size, path, private_copy ? -1 : fd,
                    (int64_t) sb.st_mtime, err, errlen);
    if (m == NULL)
        goto fail;
    m->map = map;
    m->map_len = (size_t) sb.st_size;
    close(fd);
    *out = m;
    return 0;

fail:
    if (map != MAP_FAILED)
        munmap(map, (size_t) sb.st_size);
    close(fd);
    return -1;
}

struct model *
model_free(struct model *m)
{
    if (m == NULL)
        return NULL;
    if (m->map != NULL)
        munmap(m->map, m->map_len);
    else
        net_release(&m->net);
    free(m->pool_rep_owned);
    free(m->pool_label_owned);
    free(m);
    return NULL;
}

/* ---- saving ---- */

struct writer {
    int fd;
    uint64_t pos;
    XXH64_state_t *st;
};

static int
write_all(struct writer *w, const void *buf, size_t len)
{
    const char *p = buf;

    XXH64_update(w->st, buf, len);
    while (len > 0) {
        ssize_t r = write(w->fd, p, len);

        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        p += r;
        len -= (size_t) r;
        w->pos += (uint64_t) r;
    }
    return 0;
}

static int
pad_to(struct writer *w, uint64_t off)
{
    static const unsigned char zero[MODEL_ALIGN];

    while (w->pos < off) {
        uint64_t n = off - w->pos;

        if (write_all(w, zero, n < sizeof(zero) ? (size_t) n : sizeof(zero)) != 0)
            return -1;
    }
    return 0;
}

int
model_save(const struct model *m, const char *path, char *err, size_t errlen)
{
    unsigned char hd[MODEL_HEADER_LEN], sum[8];
    const void *sec[SEC_N];
    struct writer w = { -1, 0, NULL };
    struct layout l;
    char *tmp = NULL, *dir = NULL, *slash;
    size_t plen = strlen(path);
    int s, dfd;

    if (!net_dims_valid(&m->net.dims)) {
        seterr(err, errlen, "%s: refusing to save a model with invalid dims", path);
        return -1;
    }
    layout_compute(&m->net.dims, m->pool_n, &l);
    header_encode(m, &l, hd);
    sec[SEC_LIN] = m->net.lin;
    sec[SEC_EMB] = m->net.emb;
    sec[SEC_W1] = m->net.w1;
    sec[SEC_B1] = m->net.b1;
    sec[SEC_HEAD] = m->net.head;
    sec[SEC_POOL_REP] = m->pool_rep;
    sec[SEC_POOL_LABEL] = m->pool_label;

    if ((tmp = malloc(plen + 16)) == NULL || (dir = malloc(plen + 2)) == NULL
        || (w.st = XXH64_createState()) == NULL) {
        seterr(err, errlen, "%s: out of memory", path);
        goto fail;
    }
    snprintf(tmp, plen + 16, "%s.tmp.XXXXXX", path);
    memcpy(dir, path, plen + 1);
    if ((slash = strrchr(dir, '/')) == NULL)
        strcpy(dir, ".");
    else if (slash == dir)
        dir[1] = '\0';
    else
        *slash = '\0';
    if ((w.fd = mkstemp(tmp)) < 0) {
        seterr(err, errlen, "%s: cannot create a temporary file in %s: %s", path, dir,
               strerror(errno));
        free(tmp);
        tmp = NULL;             /* nothing to remove */
        goto fail;
    }
    if (fchmod(w.fd, 0644) != 0) {
        seterr(err, errlen, "%s: chmod %s: %s", path, tmp, strerror(errno));
        goto fail;
    }
    XXH64_reset(w.st, 0);
    if (write_all(&w, hd, sizeof(hd)) != 0)
        goto werr;
    for (s = 0; s < SEC_N; s++) {
        if (pad_to(&w, l.off[s]) != 0
            || (l.len[s] > 0 && write_all(&w, sec[s], (size_t) l.len[s]) != 0))
            goto werr;
    }
    if (pad_to(&w, l.sum_off) != 0)
        goto werr;
    put64(sum, XXH64_digest(w.st));
    if (write_all(&w, sum, sizeof(sum)) != 0)
        goto werr;
    if (fsync(w.fd) != 0)
        goto werr;
    if (close(w.fd) != 0) {
        w.fd = -1;
        goto werr;
    }
    w.fd = -1;
    if (rename(tmp, path) != 0) {
        seterr(err, errlen, "%s: cannot rename %s into place: %s", path, tmp,
               strerror(errno));
        goto fail;
    }
    free(tmp);
    tmp = NULL;
    /* Make the rename itself durable. */
    if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
        if (fsync(dfd) != 0 && errno != EINVAL) {
            seterr(err, errlen, "%s: fsync of %s: %s", path, dir, strerror(errno));
            close(dfd);
            goto fail;
        }
        close(dfd);
    }
    free(dir);
    XXH64_freeState(w.st);
    return 0;

werr:
    seterr(err, errlen, "%s: cannot write %s: %s", path, tmp, strerror(errno));
fail:
    if (w.fd >= 0)
        close(w.fd);
    if (tmp != NULL) {
        unlink(tmp);
        free(tmp);
    }
    free(dir);
    if (w.st != NULL)
        XXH64_freeState(w.st);
    return -1;
}

/* ---- scoring ---- */

float
model_score(const struct model *m, const uint32_t *ids, size_t n, float *h, float *z)
{
    return net_sigmoid(net_forward(&m->net, ids, n, h, z));
}

/* A contiguous share of a batch, scored by one thread. */
struct batch_job {
    const struct model *m;
    const struct net_example *ex;
    const size_t *rows;         /* NULL: rows lo..hi; else ex[rows[i]] */
    size_t lo, hi;
    float *prob;                /* may be NULL */
    float *rep;                 /* may be NULL: (hidden + 1) floats per row */
};

static void *
batch_run(void *arg)
{
    struct batch_job *j = arg;
    uint32_t H = j->m->net.dims.hidden;
    float hb[NET_MAX_HIDDEN], z;
    size_t i;

    for (i = j->lo; i < j->hi; i++) {
        const struct net_example *x = &j->ex[j->rows ? j->rows[i] : i];
        float p = model_score(j->m, x->ids, x->n, hb, &z);

        if (j->prob != NULL)
            j->prob[i] = p;
        if (j->rep != NULL) {
            memcpy(j->rep + i * (H + 1), hb, H * sizeof(float));
            j->rep[i * (H + 1) + H] = z;
        }
    }
    return NULL;
}

/* Score rows 0..n on up to two threads, in two fixed halves: each row's result
 * is computed exactly as one-by-one scoring would, so the split never changes a
 * bit.  Falls back to one thread when a thread cannot be started. */
static void
batch_split(const struct model *m, const struct net_example *ex, const size_t *rows,
            size_t n, float *prob, float *rep, unsigned threads)
{
    struct batch_job a = { m, ex, rows, 0, n, prob, rep }, b = a;
    pthread_t t;

    if (threads < 2 || n < 64) {
        batch_run(&a);
        return;
    }
    a.hi = n / 2;
    b.lo = n / 2;
    if (pthread_create(&t, NULL, batch_run, &b) != 0) {
        a.hi = n;
        batch_run(&a);
        return;
    }
    batch_run(&a);
    pthread_join(t, NULL);
}

void
model_score_batch(const struct model *m, const struct net_example *ex, size_t n,
                  float *prob, unsigned threads)
{
    batch_split(m, ex, NULL, n, prob, NULL, threads);
}

/* ---- training ---- */

void
model_train_opts_default(struct model_train_opts *o)
{
    memset(o, 0, sizeof(*o));
    net_dims_default(&o->dims);
    net_train_opts_default(&o->net);
    o->pool_max = 20000;
    o->threshold = 0.5f;
    o->threads = 2;
}

/* Distinct-id counting, run on the second core while the network trains: an
 * open-addressing set of uint32 (0 is the empty slot and is counted apart). */
struct distinct_job {
    const struct net_example *ex;
    size_t n_ex;
    uint32_t count;
    int failed;
};

static void *
distinct_run(void *arg)
{
    struct distinct_job *j = arg;
    size_t cap = 1 << 16, used = 0, i, t, k;
    uint32_t *set = calloc(cap, sizeof(uint32_t));
    int zero = 0;

    if (set == NULL) {
        j->failed = 1;
        return NULL;
    }
    for (i = 0; i < j->n_ex; i++) {
        for (t = 0; t < j->ex[i].n; t++) {
            uint32_t id = j->ex[i].ids[t];

            if (id == 0) {
                zero = 1;
                continue;
            }
            for (k = (id * 2654435761u) & (cap - 1); set[k] != 0 && set[k] != id;
                 k = (k + 1) & (cap - 1))
                ;
            if (set[k] == id)
                continue;
            set[k] = id;
            if (++used * 2 > cap) {
                size_t ncap = cap * 2, q, r;
                uint32_t *ns = calloc(ncap, sizeof(uint32_t));

                if (ns == NULL) {
                    free(set);
                    j->failed = 1;
                    return NULL;
                }
                for (q = 0; q < cap; q++) {
                    if (set[q] == 0)
                        continue;
                    for (r = (set[q] * 2654435761u) & (ncap - 1); ns[r] != 0;
                         r = (r + 1) & (ncap - 1))
                        ;
                    ns[r] = set[q];
                }
                free(set);
                set = ns;
                cap = ncap;
            }
        }
    }
    free(set);
    j->count = (uint32_t) (used + zero);
    return NULL;
}

static uint64_t
pool_rand(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static int
cmp_size(const void *a, const void *b)
{
    size_t x = *(const size_t *) a, y = *(const size_t *) b;

    return (x > y) - (x < y);
}

/* Choose k of the rows of class cls by a seeded partial Fisher-Yates; appends
 * them to sel (unsorted).  idx is scratch for n_cls entries. */
static size_t
pool_pick(const struct net_example *ex, size_t n_ex, int cls, size_t k, size_t *idx,
          size_t *sel, uint64_t *rng)
{
    size_t n = 0, i;

    for (i = 0; i < n_ex; i++)
        if ((ex[i].spam != 0) == cls)
            idx[n++] = i;
    if (k > n)
        k = n;
    for (i = 0; i < k; i++) {
        size_t r = i + (size_t) (pool_rand(rng) % (n - i)), t = idx[i];

        idx[i] = idx[r];
        idx[r] = t;
        sel[i] = idx[i];
    }
    return k;
}

struct model *
model_train(const struct net_example *ex, size_t n_ex, const struct model_train_opts *o,
            char *err, size_t errlen)
{
    struct distinct_job dj = { ex, n_ex, 0, 0 };
    struct net_train_summary ns;
    struct model *m = NULL;
    struct timespec t0, t1;
    size_t i, n_spam = 0, n_ham, k_spam, k_ham, *idx = NULL, *sel = NULL;
    uint64_t rng;
    pthread_t dt;
    int have_thread = 0, rc;

    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (n_ex == 0) {
        seterr(err, errlen, "no training messages");
        return NULL;
    }
    if (n_ex > UINT32_MAX) {
        seterr(err, errlen, "too many training messages (%zu)", n_ex);
        return NULL;
    }
    for (i = 0; i < n_ex; i++) {
        if (ex[i].n > 0 && ex[i].ids == NULL) {
            seterr(err, errlen, "training message %zu has %u ids but no id array", i,
                   ex[i].n);
            return NULL;
        }
        n_spam += ex[i].spam != 0;
    }
    n_ham = n_ex - n_spam;
    if (n_spam == 0 || n_ham == 0) {
        seterr(err, errlen, "need both ham and spam to train (got %zu ham, %zu spam)",
               n_ham, n_spam);
        return NULL;
    }
    if (!net_dims_valid(&o->dims)) {
        seterr(err, errlen, "invalid dims (lin_bits %u emb_bits %u emb_dim %u hidden %u)",
               o->dims.lin_bits, o->dims.emb_bits, o->dims.emb_dim, o->dims.hidden);
        return NULL;
    }
    if (o->net.epochs == 0 || !(o->net.lr > 0) || !(o->net.lr_dense > 0)
        || !(o->net.l2 >= 0) || !(o->net.aux >= 0)) {
        seterr(err, errlen, "invalid training options (epochs %u lr %g lr_dense %g "
               "l2 %g aux %g)", o->net.epochs, (double) o->net.lr,
               (double) o->net.lr_dense, (double) o->net.l2, (double) o->net.aux);
        return NULL;
    }
    if (!(o->threshold >= 0.0f && o->threshold <= 1.0f)) {
        seterr(err, errlen, "threshold %g not in [0,1]", (double) o->threshold);
        return NULL;
    }
    if ((m = calloc(1, sizeof(*m))) == NULL || net_alloc(&m->net, &o->dims, o->net.seed) != 0)
        goto oom;

    if (o->threads >= 2 && pthread_create(&dt, NULL, distinct_run, &dj) == 0)
        have_thread = 1;
    rc = net_train(&m->net, ex, n_ex, &o->net, &ns);
    if (have_thread)
        pthread_join(dt, NULL);
    else
        distinct_run(&dj);
    if (rc == -2) {
        seterr(err, errlen, "training diverged (loss not finite): lower the learning rates");
        model_free(m);
        return NULL;
    }
    if (rc != 0 || dj.failed)
        goto oom;

    m->threshold = o->threshold;
    m->feature_version = FEATURES_VERSION;
    m->summary.seed = o->net.seed;
    m->summary.n_ham = (uint32_t) n_ham;
    m->summary.n_spam = (uint32_t) n_spam;
    m->summary.n_features = dj.count;
    m->summary.epochs = ns.epochs;
    m->summary.loss = (float) ns.loss;

    /* Source pool: stratified (each class in its training proportion), seeded,
     * kept in training order. */
    if (n_ex <= o->pool_max) {
        k_spam = n_spam;
        k_ham = n_ham;
    } else {
        k_spam = (size_t) (((double) o->pool_max * (double) n_spam) / (double) n_ex + 0.5);
        k_ham = o->pool_max - k_spam;
    }
    if ((idx = malloc(n_ex * sizeof(size_t))) == NULL
        || (sel = malloc((k_spam + k_ham + 1) * sizeof(size_t))) == NULL)
        goto oom;
    rng = o->net.seed ^ 0x706f6f6cULL;
    k_ham = pool_pick(ex, n_ex, 0, k_ham, idx, sel, &rng);
    k_spam = pool_pick(ex, n_ex, 1, k_spam, idx, sel + k_ham, &rng);
    m->pool_n = (uint32_t) (k_ham + k_spam);
    qsort(sel, m->pool_n, sizeof(size_t), cmp_size);
    m->pool_rep_owned = malloc(((size_t) m->pool_n * (o->dims.hidden + 1) + 1) * sizeof(float));
    m->pool_label_owned = malloc((size_t) m->pool_n + 1);
    if (m->pool_rep_owned == NULL || m->pool_label_owned == NULL)
        goto oom;
    batch_split(m, ex, sel, m->pool_n, NULL, m->pool_rep_owned, o->threads);
    for (i = 0; i < m->pool_n; i++)
        m->pool_label_owned[i] = ex[sel[i]].spam != 0;
    m->pool_rep = m->pool_rep_owned;
    m->pool_label = m->pool_label_owned;
    free(idx);
    free(sel);

    clock_gettime(CLOCK_MONOTONIC, &t1);
    m->summary.train_seconds = (float) ((double) (t1.tv_sec - t0.tv_sec)
                                        + (double) (t1.tv_nsec - t0.tv_nsec) * 1e-9);
    /* The id names the bytes model_save() will write; computed there and at load.
     * Until saved, a trained model has no id. */
    m->id[0] = '\0';
    return m;

oom:
    seterr(err, errlen, "out of memory while training");
    free(idx);
    free(sel);
    model_free(m);
    return NULL;
}
