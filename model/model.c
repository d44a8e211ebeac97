/*
 * model.c - the model file format: save, load (shared mapping, private copy or
 * a caller's buffer), verify and free.  Scoring is score.c, training train.c,
 * the source pool pool.c; model_seterr() here serves them all (model_int.h).
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
 *   format 1 (no count term):
 *   192 zeros up to MODEL_HEADER_LEN
 *   format 2 (the token-count term, counts.h):
 *   192 count table                 u64 offset, u64 length
 *   208 count table bits, used slots   2 x u32
 *   216 count weight W              f32, in (0, MODEL_COUNT_WEIGHT_MAX]
 *   220 zeros up to MODEL_HEADER_LEN
 *   then the sections, each at a 64-byte-aligned offset, zero padding between
 *   (the count table, 2^bits slots of (u32 id, f32 log f, f32 log(1 - f)),
 *   after the pool labels), then the XXH64 (seed 0) of every byte before it,
 *   u64, at a 64-byte-aligned offset; the file ends there.
 *
 * A model whose count weight is 0 is written as format 1, so a build that
 * knows nothing of counts reads it and its bytes are what such a build
 * writes; one with the term is format 2, which such a build refuses ("model
 * format version 2, this program reads version 1").  This build reads both.
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
 * Fields are encoded with common/le.h, but the sections are mapped and read as
 * float arrays in place, so only little-endian hosts are supported (checked at
 * compile time below).
 */
#include "config.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <xxhash.h>

#include "features.h"
#include "le.h"
#include "model.h"
#include "model_int.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "model.c maps the model file's float sections in little-endian byte order"
#endif

#define MODEL_MAGIC "SPSHMODL"
#define MODEL_HEADER_LEN 256
#define MODEL_ALIGN 64
#define MODEL_POOL_LIMIT 10000000u     /* sanity bound on pool_n in a file */

enum { SEC_LIN, SEC_EMB, SEC_W1, SEC_B1, SEC_HEAD, SEC_POOL_REP, SEC_POOL_LABEL,
       SEC_COUNTS, SEC_N };
#define SEC_N_V1 SEC_COUNTS     /* sections in the table of a format 1 header */
#define OFF_COUNT_BITS 208
#define OFF_COUNT_N 212
#define OFF_COUNT_W 216
#define HEADER_USED_V2 220

static const char *const sec_name[SEC_N] = {
    "lin", "emb", "w1", "b1", "head", "pool representations", "pool labels",
    "count table"
};

struct layout {
    uint64_t off[SEC_N];
    uint64_t len[SEC_N];
    uint64_t sum_off;       /* offset of the checksum */
    uint64_t file_len;
};

/* See model_int.h. */
void
model_seterr(char *err, size_t errlen, const char *fmt, ...)
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

/* The canonical layout for dims d (already validated), pool_n rows and a
 * count table of 2^count_bits slots (count_bits 0: none, format 1). */
static void
layout_compute(const struct net_dims *d, uint32_t pool_n, uint32_t count_bits,
               struct layout *l)
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
    l->len[SEC_COUNTS] = count_bits > 0 ? counts_bytes(count_bits) : 0;
    for (i = 0; i < SEC_N; i++) {
        l->off[i] = pos;
        pos = align_up(pos + l->len[i]);
    }
    l->sum_off = pos;
    l->file_len = pos + 8;
}

static void
header_encode(const struct model *m, const struct layout *l, unsigned char *hd)
{
    const struct net_dims *d = &m->net.dims;
    int i, has_counts = m->count_weight > 0;

    memset(hd, 0, MODEL_HEADER_LEN);
    memcpy(hd, MODEL_MAGIC, 8);
    le_put32(hd + 8, has_counts ? MODEL_FORMAT_VERSION : MODEL_FORMAT_NO_COUNTS);
    le_put32(hd + 12, m->feature_version);
    le_put32(hd + 16, MODEL_HEADER_LEN);
    le_put32(hd + 20, d->lin_bits);
    le_put32(hd + 24, d->emb_bits);
    le_put32(hd + 28, d->emb_dim);
    le_put32(hd + 32, d->hidden);
    le_put32(hd + 36, m->pool_n);
    le_put32(hd + 40, m->summary.n_ham);
    le_put32(hd + 44, m->summary.n_spam);
    le_put32(hd + 48, m->summary.n_features);
    le_put32(hd + 52, m->summary.epochs);
    le_put64(hd + 56, m->summary.seed);
    le_putf(hd + 64, m->threshold);
    le_putf(hd + 68, m->summary.loss);
    le_put64(hd + 72, l->file_len);
    for (i = 0; i < (has_counts ? SEC_N : SEC_N_V1); i++) {
        le_put64(hd + 80 + 16 * i, l->off[i]);
        le_put64(hd + 88 + 16 * i, l->len[i]);
    }
    if (has_counts) {
        le_put32(hd + OFF_COUNT_BITS, m->counts.bits);
        le_put32(hd + OFF_COUNT_N, m->counts.n);
        le_putf(hd + OFF_COUNT_W, m->count_weight);
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

/* Check the header of the model image p[0..size) (a whole file) against the
 * canonical layout: fills d, *pool_n and l.  Returns 0, or -1 with a reason in
 * err.  The checksum and the section contents are not looked at. */
static int
model_check_header(const unsigned char *p, size_t size, const char *name,
                   struct net_dims *d, uint32_t *pool_n, uint32_t *count_bits,
                   struct layout *l, char *err, size_t errlen)
{
    uint64_t file_len;
    uint32_t v, i, version, n_sec, used;
    int s;

    if ((uint64_t) size < MODEL_HEADER_LEN + 8) {
        model_seterr(err, errlen,
                     "%s: truncated model file (%zu bytes, a header alone is %d)", name,
                     size, MODEL_HEADER_LEN);
        return -1;
    }
    if (memcmp(p, MODEL_MAGIC, 8) != 0) {
        model_seterr(err, errlen, "%s: not a spamshift model file (bad magic)", name);
        return -1;
    }
    version = le_get32(p + 8);
    if (version != MODEL_FORMAT_NO_COUNTS && version != MODEL_FORMAT_VERSION) {
        model_seterr(err, errlen,
                     "%s: model format version %u, this program reads versions %u to %u%s",
                     name, version, MODEL_FORMAT_NO_COUNTS, MODEL_FORMAT_VERSION,
                     version > MODEL_FORMAT_VERSION ? " (written by a newer spamshift)" : "");
        return -1;
    }
    if ((v = le_get32(p + 12)) != FEATURES_VERSION) {
        model_seterr(err, errlen,
                     "%s: model trained with features version %u, this program "
                     "extracts version %u: retrain the model", name, v, FEATURES_VERSION);
        return -1;
    }
    if ((v = le_get32(p + 16)) != MODEL_HEADER_LEN) {
        model_seterr(err, errlen, "%s: corrupt model header (header length %u)", name, v);
        return -1;
    }
    d->lin_bits = le_get32(p + 20);
    d->emb_bits = le_get32(p + 24);
    d->emb_dim = le_get32(p + 28);
    d->hidden = le_get32(p + 32);
    *pool_n = le_get32(p + 36);
    if (!net_dims_valid(d)) {
        model_seterr(err, errlen, "%s: corrupt model header (dims lin_bits %u emb_bits %u "
                     "emb_dim %u hidden %u out of range)", name, d->lin_bits, d->emb_bits,
                     d->emb_dim, d->hidden);
        return -1;
    }
    if (*pool_n > MODEL_POOL_LIMIT) {
        model_seterr(err, errlen, "%s: corrupt model header (pool of %u rows)", name,
                     *pool_n);
        return -1;
    }
    *count_bits = 0;
    if (version >= 2) {
        *count_bits = le_get32(p + OFF_COUNT_BITS);
        if (*count_bits < 1 || *count_bits > COUNTS_MAX_BITS) {
            model_seterr(err, errlen, "%s: corrupt model header (count table of 2^%u "
                         "slots)", name, *count_bits);
            return -1;
        }
    }
    layout_compute(d, *pool_n, *count_bits, l);
    file_len = le_get64(p + 72);
    if (file_len != l->file_len) {
        model_seterr(err, errlen,
                     "%s: corrupt model header (file length %llu, dims imply %llu)", name,
                     (unsigned long long) file_len, (unsigned long long) l->file_len);
        return -1;
    }
    if ((uint64_t) size != file_len) {
        model_seterr(err, errlen, "%s: %s model file (%zu bytes, header says %llu)", name,
                     (uint64_t) size < file_len ? "truncated" : "oversized", size,
                     (unsigned long long) file_len);
        return -1;
    }
    n_sec = version >= 2 ? SEC_N : SEC_N_V1;
    used = version >= 2 ? HEADER_USED_V2 : 80 + 16 * SEC_N_V1;
    for (s = 0; s < (int) n_sec; s++) {
        if (le_get64(p + 80 + 16 * s) != l->off[s] || le_get64(p + 88 + 16 * s) != l->len[s]) {
            model_seterr(err, errlen, "%s: corrupt model header (section %s out of place)",
                         name, sec_name[s]);
            return -1;
        }
    }
    for (i = used; i < MODEL_HEADER_LEN; i++) {
        if (p[i] != 0) {
            model_seterr(err, errlen, "%s: corrupt model header (reserved bytes set)",
                         name);
            return -1;
        }
    }
    return 0;
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
    uint64_t sum, stored;
    uint32_t pool_n, count_bits, i;
    char why[160];

    if (model_check_header(p, size, name, &d, &pool_n, &count_bits, &l, err, errlen) != 0)
        return NULL;
    /* A shared mapping is checked through read() so the checksum does not
     * fault in every page; memory that is ours is checked as it is. */
    if (fd < 0)
        sum = XXH64(p, (size_t) l.sum_off, 0);
    else if (checksum_fd(fd, l.sum_off, &sum) != 0) {
        model_seterr(err, errlen, "%s: cannot read model: %s", name, strerror(errno));
        return NULL;
    }
    stored = le_get64(p + l.sum_off);
    if (sum != stored) {
        model_seterr(err, errlen, "%s: model checksum mismatch (stored %016llx, computed "
                     "%016llx): the file is corrupt", name, (unsigned long long) stored,
                     (unsigned long long) sum);
        return NULL;
    }
    if ((m = calloc(1, sizeof(*m))) == NULL) {
        model_seterr(err, errlen, "%s: out of memory", name);
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
    m->feature_version = le_get32(p + 12);
    m->threshold = le_getf(p + 64);
    m->summary.created = mtime;
    m->summary.seed = le_get64(p + 56);
    m->summary.n_ham = le_get32(p + 40);
    m->summary.n_spam = le_get32(p + 44);
    m->summary.n_features = le_get32(p + 48);
    m->summary.epochs = le_get32(p + 52);
    m->summary.loss = le_getf(p + 68);
    m->pool_n = pool_n;
    m->pool_rep = (const float *) (p + l.off[SEC_POOL_REP]);
    m->pool_label = p + l.off[SEC_POOL_LABEL];
    snprintf(m->id, sizeof(m->id), "%016llx", (unsigned long long) sum);
    if (!(m->threshold >= 0.0f && m->threshold <= 1.0f)) {
        model_seterr(err, errlen, "%s: corrupt model (threshold %g not in [0,1])", name,
                     (double) m->threshold);
        free(m);
        return NULL;
    }
    for (i = 0; i < pool_n; i++) {
        if (m->pool_label[i] > 1) {
            model_seterr(err, errlen, "%s: corrupt model (pool label %u at row %u)", name,
                         m->pool_label[i], i);
            free(m);
            return NULL;
        }
    }
    if (count_bits > 0) {
        float w = le_getf(p + OFF_COUNT_W);

        m->counts.bits = count_bits;
        m->counts.n = le_get32(p + OFF_COUNT_N);
        m->counts.slot = (const struct counts_slot *) (p + l.off[SEC_COUNTS]);
        if (counts_check(&m->counts, why, sizeof(why)) != 0) {
            model_seterr(err, errlen, "%s: corrupt model (%s)", name, why);
            free(m);
            return NULL;
        }
        if (!(w > 0) || model_set_count_weight(m, w) != 0) {
            model_seterr(err, errlen, "%s: corrupt model (count weight %g with v_z %g)",
                         name, (double) w, (double) m->net.head[d.hidden]);
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
        model_seterr(err, errlen, "%s: cannot open model: %s", path, strerror(errno));
        return -1;
    }
    if (fstat(fd, &sb) != 0) {
        model_seterr(err, errlen, "%s: cannot stat model: %s", path, strerror(errno));
        goto fail;
    }
    if (!S_ISREG(sb.st_mode)) {
        model_seterr(err, errlen, "%s: not a regular file", path);
        goto fail;
    }
    if ((uint64_t) sb.st_size < MODEL_HEADER_LEN + 8) {
        model_seterr(err, errlen,
                     "%s: truncated model file (%lld bytes, a header alone is %d)", path,
                     (long long) sb.st_size, MODEL_HEADER_LEN);
        goto fail;
    }
    if (private_copy)
        map = read_private(fd, (size_t) sb.st_size);
    else
        map = mmap(NULL, (size_t) sb.st_size, PROT_READ, MAP_SHARED, fd, 0);
    if (map == MAP_FAILED) {
        model_seterr(err, errlen, "%s: cannot map model: %s", path, strerror(errno));
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
    counts_release(&m->counts);
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
        model_seterr(err, errlen, "%s: refusing to save a model with invalid dims", path);
        return -1;
    }
    if (m->count_weight > 0 && (m->counts.slot == NULL || m->counts.bits < 1
                                || m->counts.bits > COUNTS_MAX_BITS)) {
        model_seterr(err, errlen, "%s: refusing to save a count weight without its table",
                     path);
        return -1;
    }
    layout_compute(&m->net.dims, m->pool_n, m->count_weight > 0 ? m->counts.bits : 0, &l);
    header_encode(m, &l, hd);
    sec[SEC_LIN] = m->net.lin;
    sec[SEC_EMB] = m->net.emb;
    sec[SEC_W1] = m->net.w1;
    sec[SEC_B1] = m->net.b1;
    sec[SEC_HEAD] = m->net.head;
    sec[SEC_POOL_REP] = m->pool_rep;
    sec[SEC_POOL_LABEL] = m->pool_label;
    sec[SEC_COUNTS] = m->counts.slot;

    if ((tmp = malloc(plen + 16)) == NULL || (dir = malloc(plen + 2)) == NULL
        || (w.st = XXH64_createState()) == NULL) {
        model_seterr(err, errlen, "%s: out of memory", path);
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
        model_seterr(err, errlen, "%s: cannot create a temporary file in %s: %s", path, dir,
                     strerror(errno));
        free(tmp);
        tmp = NULL;             /* nothing to remove */
        goto fail;
    }
    if (fchmod(w.fd, 0644) != 0) {
        model_seterr(err, errlen, "%s: chmod %s: %s", path, tmp, strerror(errno));
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
    le_put64(sum, XXH64_digest(w.st));
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
        model_seterr(err, errlen, "%s: cannot rename %s into place: %s", path, tmp,
                     strerror(errno));
        goto fail;
    }
    free(tmp);
    tmp = NULL;
    /* Make the rename itself durable. */
    if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
        if (fsync(dfd) != 0 && errno != EINVAL) {
            model_seterr(err, errlen, "%s: fsync of %s: %s", path, dir, strerror(errno));
            close(dfd);
            goto fail;
        }
        close(dfd);
    }
    free(dir);
    XXH64_freeState(w.st);
    return 0;

werr:
    model_seterr(err, errlen, "%s: cannot write %s: %s", path, tmp, strerror(errno));
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
