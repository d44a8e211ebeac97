/*
 * canondump.c - the delivered-copy check's view of a message: what
 * features_extract() makes of it, the input that `learn` keys its memory on
 * and `classify` scores.  bench/canon/run.sh runs it on the copies the milter
 * scanned and on their delivered copies and bench/canon/canon.py pairs the
 * lines.
 *
 *   canondump [FILE...]     (no FILE: the paths, one per line, on stdin)
 *
 * Prints one line per file: PATH, the 128-bit digest in hex, the number of
 * feature ids, the XXH3-64 of the sorted id array (the bag; two bags with one
 * hash are the same bag for this check) and the FEATURES_F_* flags in hex,
 * separated by tabs.  A file that cannot be read is named on stderr and
 * skipped; the exit status is then EX_NOINPUT (66), else 0.  Not installed.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include <glib.h>
#include <xxhash.h>

#include "features.h"

/* One file's line on stdout.  Returns 0, or -1 (reported) when the file
 * cannot be read or memory is short. */
static int
dump_one(const char *path, struct features *f)
{
    gchar *buf = NULL;
    gsize len = 0;
    GError *err = NULL;
    char hex[33];

    if (!g_file_get_contents(path, &buf, &len, &err)) {
        fprintf(stderr, "canondump: %s\n", err->message);
        g_error_free(err);
        return -1;
    }
    if (features_extract(buf, len, f, NULL, NULL) != 0) {
        fprintf(stderr, "canondump: %s: out of memory\n", path);
        g_free(buf);
        return -1;
    }
    for (size_t i = 0; i < sizeof(f->digest); i++)
        snprintf(hex + 2 * i, 3, "%02x", f->digest[i]);
    printf("%s\t%s\t%zu\t%016llx\t%x\n", path, hex, f->n,
           (unsigned long long)XXH3_64bits(f->ids, f->n * sizeof(f->ids[0])), f->flags);
    g_free(buf);
    return 0;
}

int
main(int argc, char **argv)
{
    struct features f;
    int failed = 0;

    if (features_global_init() != 0) {
        fprintf(stderr, "canondump: cannot initialise GMime/libxml2\n");
        return EX_SOFTWARE;
    }
    features_init(&f);
    if (argc > 1) {
        for (int i = 1; i < argc; i++)
            failed |= dump_one(argv[i], &f) != 0;
    } else {
        char *line = NULL;
        size_t cap = 0;
        ssize_t n;
        while ((n = getline(&line, &cap, stdin)) > 0) {
            if (line[n - 1] == '\n')
                line[--n] = '\0';
            if (n > 0)
                failed |= dump_one(line, &f) != 0;
        }
        free(line);
    }
    features_clear(&f);
    features_global_shutdown();
    if (fflush(stdout) != 0) {
        fprintf(stderr, "canondump: stdout: %s\n", strerror(errno));
        return EX_IOERR;
    }
    return failed ? EX_NOINPUT : 0;
}
