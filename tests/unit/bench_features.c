/*
 * bench_features.c - feature extraction throughput over a corpus, and a token
 * dump for one message.  A noinst tool, not a test (never in TESTS).
 *
 *   bench_features DIR...        extract every file under the DIRs (one message
 *                                per file) three times; print messages/s
 *   bench_features -d FILE       print the tokens of FILE, one per line
 *   bench_features -t DIR...     print "file<TAB>token" for every distinct token
 *                                of every message (for feature analysis)
 *
 * Files are read into memory first, so the number is extraction alone; time is
 * the process CPU time (the machine is shared), best of three rounds.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <glib.h>

#include "features.h"

static void print_token(void *arg, uint32_t id, const char *token, size_t len)
{
    (void) arg;
    printf("%08x %.*s\n", id, (int) len, token);
}

struct dump {
    const char *file;
    GHashTable *seen;
};

static void dump_token(void *arg, uint32_t id, const char *token, size_t len)
{
    struct dump *d = arg;

    if (!g_hash_table_contains(d->seen, GUINT_TO_POINTER(id))) {
        g_hash_table_add(d->seen, GUINT_TO_POINTER(id));
        printf("%s\t%.*s\n", d->file, (int) len, token);
    }
}

static void dump_dir(const char *dir, struct features *f)
{
    GDir *dh = g_dir_open(dir, 0, NULL);
    const char *name;

    if (dh == NULL) {
        fprintf(stderr, "bench_features: cannot open %s\n", dir);
        exit(2);
    }
    while ((name = g_dir_read_name(dh)) != NULL) {
        char *path = g_build_filename(dir, name, NULL), *buf;
        gsize len;
        struct dump d;

        if (g_file_test(path, G_FILE_TEST_IS_DIR)) {
            dump_dir(path, f);
        } else if (!g_str_has_suffix(name, ".json") && g_file_get_contents(path, &buf, &len, NULL)) {
            d.file = path;
            d.seen = g_hash_table_new(g_direct_hash, g_direct_equal);
            features_extract(buf, len, f, dump_token, &d);
            g_hash_table_destroy(d.seen);
            g_free(buf);
        }
        g_free(path);
    }
    g_dir_close(dh);
}

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static void load_dir(const char *dir, GPtrArray *bufs, GArray *lens)
{
    GDir *d = g_dir_open(dir, 0, NULL);
    const char *name;

    if (d == NULL) {
        fprintf(stderr, "bench_features: cannot open %s\n", dir);
        exit(2);
    }
    while ((name = g_dir_read_name(d)) != NULL) {
        char *path = g_build_filename(dir, name, NULL), *buf;
        gsize len;

        if (g_str_has_suffix(name, ".json") || g_file_test(path, G_FILE_TEST_IS_DIR)) {
            if (g_file_test(path, G_FILE_TEST_IS_DIR))
                load_dir(path, bufs, lens);
            g_free(path);
            continue;
        }
        if (g_file_get_contents(path, &buf, &len, NULL)) {
            g_ptr_array_add(bufs, buf);
            g_array_append_val(lens, len);
        }
        g_free(path);
    }
    g_dir_close(d);
}

int main(int argc, char **argv)
{
    struct features f;
    GPtrArray *bufs;
    GArray *lens;
    size_t i, total = 0, ids = 0;
    double t0, best = 0;
    int a, round;

    if (features_global_init() != 0) {
        fprintf(stderr, "bench_features: init failed\n");
        return 1;
    }
    features_init(&f);
    if (argc == 3 && strcmp(argv[1], "-d") == 0) {
        char *buf;
        gsize len;

        if (!g_file_get_contents(argv[2], &buf, &len, NULL)) {
            fprintf(stderr, "bench_features: cannot read %s\n", argv[2]);
            return 1;
        }
        if (features_extract(buf, len, &f, print_token, NULL) != 0)
            return 1;
        printf("# %zu ids, flags 0x%x\n", f.n, f.flags);
        features_clear(&f);
        g_free(buf);
        return 0;
    }
    if (argc >= 3 && strcmp(argv[1], "-t") == 0) {
        for (a = 2; a < argc; a++)
            dump_dir(argv[a], &f);
        features_clear(&f);
        return 0;
    }
    if (argc < 2) {
        fprintf(stderr, "usage: bench_features DIR... | -d FILE | -t DIR...\n");
        return 64;
    }
    bufs = g_ptr_array_new_with_free_func(g_free);
    lens = g_array_new(FALSE, FALSE, sizeof(gsize));
    for (a = 1; a < argc; a++)
        load_dir(argv[a], bufs, lens);
    for (i = 0; i < bufs->len; i++)
        total += g_array_index(lens, gsize, i);
    for (round = 0; round < 3; round++) {
        t0 = now();
        ids = 0;
        for (i = 0; i < bufs->len; i++) {
            if (features_extract(g_ptr_array_index(bufs, i), g_array_index(lens, gsize, i),
                                 &f, NULL, NULL) != 0)
                return 1;
            ids += f.n;
        }
        t0 = now() - t0;
        if (best == 0 || t0 < best)
            best = t0;
    }
    printf("%u messages, %.1f KB average, %.0f ids average: %.0f messages/s (best of 3)\n",
           bufs->len, bufs->len ? total / 1024.0 / bufs->len : 0,
           bufs->len ? (double) ids / bufs->len : 0, bufs->len / best);
    features_clear(&f);
    g_ptr_array_free(bufs, TRUE);
    g_array_free(lens, TRUE);
    features_global_shutdown();
    return 0;
}
