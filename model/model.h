/*
 * model.h - the model file: network weights, threshold, training summary and the
 * source pool that adaptation reweights.
 *
 * On disk: a fixed little-endian header (magic "SPSHMODL", format version,
 * FEATURES_VERSION, dims, counts, section offsets, training summary) followed by
 * 64-byte-aligned sections (lin, emb, w1, b1, head, pool representations, pool
 * labels, and in format 2 only the token-count table), and a trailing 64-bit
 * xxHash checksum over everything before it.  A model without the count term
 * (count_weight 0) is written as format 1, byte for byte what builds before
 * format 2 wrote; one with it as format 2, which those builds refuse by its
 * version.
 * model_load() maps the file read-only and shares the pages between threads and
 * processes; a truncated, corrupt or wrong-version file is refused with a message.
 * model_save() writes a temporary file beside the target, fsyncs it and renames
 * it over the target, so readers see the old or the new model, never a mix.
 */
#ifndef SPAMSHIFT_MODEL_H
#define SPAMSHIFT_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "counts.h"
#include "net.h"

#define MODEL_FORMAT_VERSION 2     /* the newest this build reads and writes */
#define MODEL_FORMAT_NO_COUNTS 1   /* what a model without a count table is written as */
#define MODEL_COUNT_WEIGHT_MAX 16.0f

struct model_summary {
    int64_t created;        /* not stored: the file's mtime at load (0 after
                             * model_train), so identical training gives a
                             * byte-identical file */
    uint64_t seed;
    uint32_t n_ham;         /* training messages */
    uint32_t n_spam;
    uint32_t n_features;    /* distinct feature ids seen in training */
    uint32_t epochs;
    float loss;             /* final training loss */
    float train_seconds;    /* not stored: set by model_train() only */
};

struct model {
    struct net net;
    float threshold;        /* spam iff probability >= threshold */
    uint32_t feature_version;
    struct model_summary summary;
    /* Source pool: a seeded sample of the training mail as representations.
     * pool_rep holds pool_n rows of (hidden + 1) floats: h then z.  They are
     * computed by the final body on messages it was trained on, so they are
     * somewhat more confident than on new mail (SpamAssassin temporal split:
     * mean z of spam 0.86 in the pool, 0.35 on the later test mail; ham -1.39
     * and -1.26). */
    uint32_t pool_n;
    const float *pool_rep;
    const uint8_t *pool_label;  /* 1 = spam */
    /* Token-count term (counts.h): logit += count_weight x Fisher log-odds,
     * through z (net.count_z).  0 and an empty table when the model has none. */
    float count_weight;
    struct counts counts;
    char id[17];            /* hex of the checksum: names this exact model */
    /* private */
    void *map;
    size_t map_len;
    float *pool_rep_owned;
    uint8_t *pool_label_owned;
};

/* Load and verify path.  On success returns 0 and *out (free with model_free()).
 * On failure returns -1, *out = NULL and a one-line reason in err. */
int model_load(const char *path, struct model **out, char *err, size_t errlen);

/* As model_load(), but the file is read into private read-only memory (all of
 * it resident, not shared with other processes) instead of mapped: the loaded
 * model survives the file being truncated or overwritten in place, which kills
 * a process scoring through a shared mapping with SIGBUS.  For the milter. */
int model_load_private(const char *path, struct model **out, char *err, size_t errlen);

/* As model_load(), but over a whole model file already in memory, buf[0..len),
 * which must be 8-byte aligned (malloc's is).  The model points into buf, not
 * into a copy: buf must stay unchanged until model_free().  name stands for the
 * path in messages; summary.created is 0.  For callers that hold the bytes
 * already (the fuzz target tests/fuzz/fuzz_model.c). */
int model_load_buffer(const void *buf, size_t len, const char *name,
                      struct model **out, char *err, size_t errlen);

/* Write m to path atomically (temp file in the same directory, fsync, rename,
 * fsync of the directory).  Returns 0, or -1 with a reason in err; on failure the
 * previous file at path is untouched. */
int model_save(const struct model *m, const char *path, char *err, size_t errlen);

/* Free a model from model_load*() or model_train(); accepts NULL; returns NULL. */
struct model *model_free(struct model *m);

/* Spam probability of one message's features under the global head.  Writes the
 * representation (h: hidden floats, z) when non-NULL, for per-user heads.
 * Reentrant. */
float model_score(const struct model *m, const uint32_t *ids, size_t n,
                  float *h, float *z);

/* Score ex[0..n) into prob[0..n) (ids of each example; labels ignored), on up
 * to `threads` threads (1 or 2) working on fixed halves: prob[i] is bit for bit
 * model_score() of ex[i].  Reentrant; cannot fail. */
void model_score_batch(const struct model *m, const struct net_example *ex, size_t n,
                       float *prob, unsigned threads);

struct model_train_opts {
    struct net_dims dims;
    struct net_train_opts net;
    uint32_t pool_max;      /* source pool size cap */
    float threshold;        /* stored verdict threshold */
    unsigned threads;       /* 1 or 2: the second core counts distinct features
                             * during training and computes half of the pool;
                             * the result is the same bytes either way */
    float count_weight;     /* W of the token-count term; 0 (the default): none,
                             * no table built.  The network's weights do not
                             * depend on it; the pool representations do. */
};

void model_train_opts_default(struct model_train_opts *o);

/* Train a new model on ex[0..n_ex) and fill its summary and source pool.
 * Deterministic: the same examples (in the same order) and options give a model
 * that model_save() writes byte for byte identically.  May use both cores.
 * Returns NULL with a reason in err. */
struct model *model_train(const struct net_example *ex, size_t n_ex,
                          const struct model_train_opts *o, char *err, size_t errlen);

/* Set the weight of m's count term to w (0 turns it off, the table kept), for
 * cross-fitting W over one fold model.  Returns 0; -1 when w > 0 and m has no
 * table, w is out of [0, MODEL_COUNT_WEIGHT_MAX], or the global head's v_z is
 * too close to 0 to carry the term through z (m unchanged then).  Not
 * reentrant with scoring m. */
int model_set_count_weight(struct model *m, float w);

#endif
