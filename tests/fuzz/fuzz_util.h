/*
 * fuzz_util.h - shared by the libFuzzer targets whose code under test reads a
 * file by path (model_load, conf_load): the input is written to one private
 * file per process under $TMPDIR (or /tmp), rewritten for every input and
 * removed at exit.  Header-only so that each target stays one .c file.
 */
#ifndef SPAMSHIFT_FUZZ_UTIL_H
#define SPAMSHIFT_FUZZ_UTIL_H

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static char fuzz_path[4096];

static void
fuzz_path_remove(void)
{
    if (fuzz_path[0] != '\0')
        unlink(fuzz_path);
}

/* Returns the path of a file holding exactly data[0..size); aborts on an I/O
 * error (the harness is broken, not the code under test). */
static const char *
fuzz_write_file(const char *tag, const uint8_t *data, size_t size)
{
    const char *dir;
    size_t off = 0;
    int fd;

    if (fuzz_path[0] == '\0') {
        dir = getenv("TMPDIR");
        snprintf(fuzz_path, sizeof(fuzz_path), "%s/spamshift-fuzz-%s.%ld",
                 dir != NULL && *dir != '\0' ? dir : "/tmp", tag, (long) getpid());
        atexit(fuzz_path_remove);
    }
    if ((fd = open(fuzz_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0)
        abort();
    while (off < size) {
        ssize_t w = write(fd, data + off, size - off);

        if (w <= 0)
            abort();
        off += (size_t) w;
    }
    if (close(fd) != 0)
        abort();
    return fuzz_path;
}

#endif
