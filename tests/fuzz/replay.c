/*
 * replay.c - runs one libFuzzer target's LLVMFuzzerTestOneInput() over its
 * committed seeds (tests/fuzz/corpus/<target>/) and over every input that once
 * crashed it (tests/fuzz/regress/<target>/), with the ordinary compiler, as a
 * `make check` test.  So every crash the fuzzers found stays a regression test
 * even where clang is missing, and under --enable-sanitizers it runs with
 * ASan/UBSan too.  FUZZ_DIR and FUZZ_TARGET are set at compile time
 * (tests/hardening.inc).  Exits 0 when every input ran (the target aborts on a
 * broken contract), 1 when a directory cannot be read or holds no input.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

static int
slurp(const char *path, uint8_t **buf, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    size_t cap = 4096, n = 0, r;
    uint8_t *b = malloc(cap);

    if (fp == NULL || b == NULL) {
        free(b);
        if (fp != NULL)
            fclose(fp);
        return -1;
    }
    while ((r = fread(b + n, 1, cap - n, fp)) > 0) {
        n += r;
        if (n == cap) {
            uint8_t *nb = realloc(b, cap *= 2);

            if (nb == NULL) {
                free(b);
                fclose(fp);
                return -1;
            }
            b = nb;
        }
    }
    fclose(fp);
    *buf = b;
    *len = n;
    return 0;
}

/* Runs every regular file of dir; returns how many, or -1. */
static long
replay_dir(const char *dir, int must_exist)
{
    struct dirent *de;
    DIR *d = opendir(dir);
    long count = 0;

    if (d == NULL) {
        if (!must_exist)
            return 0;
        fprintf(stderr, "replay: %s: cannot open\n", dir);
        return -1;
    }
    while ((de = readdir(d)) != NULL) {
        char path[4096];
        uint8_t *buf;
        size_t len;

        if (de->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        if (slurp(path, &buf, &len) != 0) {
            fprintf(stderr, "replay: %s: cannot read\n", path);
            closedir(d);
            return -1;
        }
        printf("replay %s (%zu bytes)\n", path, len);
        fflush(stdout);
        LLVMFuzzerTestOneInput(buf, len);
        free(buf);
        count++;
    }
    closedir(d);
    return count;
}

int
main(int argc, char **argv)
{
    char dir[4096];
    long seeds, regress;

    if (LLVMFuzzerInitialize != NULL)
        LLVMFuzzerInitialize(&argc, &argv);
    snprintf(dir, sizeof(dir), "%s/corpus/%s", FUZZ_DIR, FUZZ_TARGET);
    if ((seeds = replay_dir(dir, 1)) < 0)
        return 1;
    if (seeds == 0) {
        fprintf(stderr, "replay: %s: no seeds, want at least one\n", dir);
        return 1;
    }
    snprintf(dir, sizeof(dir), "%s/regress/%s", FUZZ_DIR, FUZZ_TARGET);
    if ((regress = replay_dir(dir, 0)) < 0)
        return 1;
    printf("replay %s: %ld seeds, %ld regression inputs, all passed\n", FUZZ_TARGET,
           seeds, regress);
    return 0;
}
