/*
 * mkseeds.c - writes the binary seeds of the fuzz corpora that cannot be
 * copied from tests/data: small valid model files (fuzz_model) and valid id
 * blobs and per-user head blobs (fuzz_blob), made with the project's own
 * writers so that they follow the formats exactly.
 *
 *   mkseeds DIR      writes the files under DIR/model/ and DIR/blob/
 *
 * Run by hand when a format changes (tests/fuzz/build.sh builds it); the output
 * is committed under tests/fuzz/corpus/.  Exits 1 with a message on any error.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapt.h"
#include "features.h"
#include "idpack.h"
#include "model.h"
#include "net.h"

static void
die(const char *what)
{
    fprintf(stderr, "mkseeds: %s\n", what);
    exit(1);
}

static void
put_file(const char *path, const void *buf, size_t len)
{
    FILE *fp = fopen(path, "wb");

    if (fp == NULL || fwrite(buf, 1, len, fp) != len || fclose(fp) != 0)
        die(path);
}

static void
seed_model(const char *dir, const char *name, uint32_t lin_bits, uint32_t emb_bits,
           uint32_t emb_dim, uint32_t hidden, float threshold)
{
    struct net_dims d = { lin_bits, emb_bits, emb_dim, hidden };
    struct model *m = calloc(1, sizeof(*m));
    char path[4096], err[256];

    if (m == NULL || net_alloc(&m->net, &d, 7) != 0)
        die("net_alloc");
    m->threshold = threshold;
    m->feature_version = FEATURES_VERSION;
    m->summary.seed = 7;
    snprintf(path, sizeof(path), "%s/model/%s", dir, name);
    if (model_save(m, path, err, sizeof(err)) != 0)
        die(err);
    model_free(m);
}

static void
seed_ids(const char *dir, const char *name, const uint32_t *ids, size_t n)
{
    uint8_t buf[2 + 5 * 64];
    char path[4096];
    size_t len;

    if (n > 64)
        die("too many ids");
    buf[0] = (uint8_t) (n & 0xff);
    buf[1] = (uint8_t) (n >> 8);
    if ((len = idpack_encode(ids, n, buf + 2)) == (size_t) -1)
        die("idpack_encode");
    snprintf(path, sizeof(path), "%s/blob/%s", dir, name);
    put_file(path, buf, len + 2);
}

static void
seed_head(const char *dir, const char *name, uint32_t hidden, uint32_t bits, uint32_t n)
{
    struct user_model um;
    char path[4096];
    void *blob;
    size_t len;
    uint32_t k;

    memset(&um, 0, sizeof(um));
    um.hidden = hidden;
    for (k = 0; k < NET_HEAD_LEN(hidden); k++)
        um.head[k] = 0.25f * (float) k - 1.0f;
    um.seed = adapt_user_seed("alice@example.org");
    um.resid_bits = bits;
    um.n_resid = n;
    um.version = 3;
    if (n > 0) {
        um.resid_slot = calloc(n, sizeof(uint32_t));
        um.resid_w = calloc(n, sizeof(float));
        if (um.resid_slot == NULL || um.resid_w == NULL)
            die("calloc");
        for (k = 0; k < n; k++) {
            um.resid_slot[k] = k * 3 + 1;
            um.resid_w[k] = 0.5f - 0.1f * (float) k;
        }
    }
    if ((blob = user_model_encode(&um, &len)) == NULL)
        die("user_model_encode");
    /* fuzz_blob recomputes the checksum when the last byte is even; keep the
     * seed exactly as written either way (it is valid as it stands). */
    snprintf(path, sizeof(path), "%s/blob/%s", dir, name);
    put_file(path, blob, len);
    free(blob);
    free(um.resid_slot);
    free(um.resid_w);
}

/* A fit cache with every part: the domain classifier, a quad, a memory. */
static void
seed_prep(const char *dir, const char *name, uint32_t hidden, uint32_t n_mem, int quad)
{
    struct adapt_prep pr;
    char path[4096];
    void *blob;
    size_t len, k, q = hidden + 2;

    memset(&pr, 0, sizeof(pr));
    pr.fingerprint = 0x1234567890abcdefULL;
    pr.hidden = hidden;
    pr.seed = adapt_user_seed("alice@example.org");
    pr.have_unl = 1;
    pr.n_unl = 40;
    pr.n_pseudo = 12;
    pr.dom.auc = 0.7;
    pr.dom.ess = 900;
    pr.dom.p = hidden + 1;
    pr.dom.scale = 0.5;
    pr.dom.clip = 10;
    for (k = 0; k < pr.dom.p; k++) {
        pr.dom.mean[k] = 0.1 * (double) k;
        pr.dom.isd[k] = 1.0 + (double) k;
        pr.dom.theta[k] = -0.2 * (double) k;
    }
    pr.dom.theta[pr.dom.p] = 0.3;
    pr.have_cv = 1;
    pr.cv_n = 20;
    pr.lambda = 0.05;
    pr.mu = 1;
    pr.cv_err = 0.1;
    pr.n_mem = n_mem;
    pr.mem_slot = calloc(n_mem ? n_mem : 1, sizeof(uint32_t));
    pr.mem_w = calloc(n_mem ? n_mem : 1, sizeof(float));
    pr.quad = quad ? calloc(1 + q + q * q, sizeof(double)) : NULL;
    if (pr.mem_slot == NULL || pr.mem_w == NULL || (quad && pr.quad == NULL))
        die("calloc");
    pr.have_quad = quad;
    for (k = 0; k < n_mem; k++) {
        pr.mem_slot[k] = (uint32_t) (k * 5 + 2);
        pr.mem_w[k] = 0.25f - 0.05f * (float) k;
    }
    for (k = 0; quad && k < 1 + q + q * q; k++)
        pr.quad[k] = 0.01 * (double) k;
    if ((blob = adapt_prep_encode(&pr, &len)) == NULL)
        die("adapt_prep_encode");
    snprintf(path, sizeof(path), "%s/blob/%s", dir, name);
    put_file(path, blob, len);
    free(blob);
    adapt_prep_clear(&pr);
}

int
main(int argc, char **argv)
{
    static const uint32_t few[] = { 3, 200, 70000, 0x7fffffffu, 0xffffffffu };
    static const uint32_t one[] = { 0 };
    uint32_t many[64];
    size_t i;

    if (argc != 2)
        die("usage: mkseeds DIR");
    seed_model(argv[1], "tiny.bin", 4, 2, 4, 2, 0.5f);
    seed_model(argv[1], "small.bin", 6, 4, 8, 4, 0.9f);
    for (i = 0; i < 64; i++)
        many[i] = (uint32_t) (i * i * 977 + i);
    seed_ids(argv[1], "ids-few.bin", few, 5);
    seed_ids(argv[1], "ids-one.bin", one, 1);
    seed_ids(argv[1], "ids-many.bin", many, 64);
    seed_ids(argv[1], "ids-empty.bin", NULL, 0);
    seed_head(argv[1], "head-4.bin", 4, 10, 5);
    seed_head(argv[1], "head-2-noresid.bin", 2, 0, 0);
    seed_prep(argv[1], "prep-3.bin", 3, 4, 1);
    seed_prep(argv[1], "prep-2-nomem.bin", 2, 0, 0);
    return 0;
}
