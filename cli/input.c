/*
 * input.c - listing and reading message sources; see input.h.
 *
 * Files are read whole into memory (a message is at most tens of MB; the milter,
 * not this code, is where size caps matter).  Directory listings are sorted so a
 * training run is reproducible whatever order the file system returns.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib.h>

#include "input.h"
#include "log.h"

static int
list_push(struct input_list *l, const char *path, int label)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 256;
        struct input_source *v = realloc(l->v, cap * sizeof(*v));
        if (v == NULL)
            return -1;
        l->v = v;
        l->cap = cap;
    }
    if ((l->v[l->n].path = strdup(path)) == NULL)
        return -1;
    l->v[l->n].label = label;
    l->n++;
    return 0;
}

/* Names that are certainly not mail: archives and the JSON twins some corpora
 * keep beside each message. */
static int
skip_name(const char *name)
{
    static const char *const suffixes[] = {
        ".json", ".gz", ".bz2", ".xz", ".zip", ".tar", ".tgz",
    };
    size_t len = strlen(name);

    if (name[0] == '.')
        return 1;
    for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
        size_t sl = strlen(suffixes[i]);
        if (len > sl && strcmp(name + len - sl, suffixes[i]) == 0)
            return 1;
    }
    return 0;
}

static int
collect_dir(struct input_list *l, const char *dir, int label, int depth)
{
    struct dirent **ents = NULL;
    int n, rc = 0;

    if (depth > 64) {
        log_err("%s: directories nested too deep, not descending", dir);
        l->errors++;
        return 0;
    }
    n = scandir(dir, &ents, NULL, alphasort);
    if (n < 0) {
        log_err("%s: cannot list: %s", dir, strerror(errno));
        l->errors++;
        return 0;
    }
    for (int i = 0; i < n; i++) {
        const char *name = ents[i]->d_name;
        char *path = NULL;
        struct stat st;

        if (rc == 0 && !(strcmp(name, ".") == 0 || strcmp(name, "..") == 0)) {
            if (skip_name(name)) {
                l->skipped++;
            } else if (asprintf(&path, "%s/%s", dir, name) < 0) {
                rc = -1;
            } else if (stat(path, &st) != 0) {
                log_err("%s: %s", path, strerror(errno));
                l->errors++;
            } else if (S_ISDIR(st.st_mode)) {
                rc = collect_dir(l, path, label, depth + 1);
            } else if (S_ISREG(st.st_mode)) {
                rc = list_push(l, path, label);
            } else {
                l->skipped++;
            }
            free(path);
        }
        free(ents[i]);
    }
    free(ents);
    return rc;
}

int
input_collect(struct input_list *l, const char *path, int label)
{
    struct stat st;

    if (strcmp(path, "-") == 0)
        return list_push(l, path, label);
    if (stat(path, &st) != 0) {
        log_err("%s: %s", path, strerror(errno));
        l->errors++;
        return 0;
    }
    if (S_ISDIR(st.st_mode)) {
        /* Drop trailing slashes so names read "dir/file", not "dir//file". */
        char *p = strdup(path);
        int rc;
        if (p == NULL)
            return -1;
        for (size_t len = strlen(p); len > 1 && p[len - 1] == '/'; len--)
            p[len - 1] = '\0';
        rc = collect_dir(l, p, label, 0);
        free(p);
        return rc;
    }
    return list_push(l, path, label);
}

int
input_collect_index(struct input_list *l, const char *index_path)
{
    FILE *fp = fopen(index_path, "r");
    char *line = NULL, *dir, *slash;
    size_t cap = 0;
    unsigned lineno = 0;
    int rc = 0;

    if (fp == NULL) {
        log_err("%s: %s", index_path, strerror(errno));
        l->errors++;
        return 0;
    }
    if ((dir = strdup(index_path)) == NULL) {
        fclose(fp);
        return -1;
    }
    slash = strrchr(dir, '/');
    if (slash != NULL)
        *slash = '\0';
    else
        strcpy(dir, ".");

    while (rc == 0 && getline(&line, &cap, fp) >= 0) {
        char label[16], rel[4096], *full = NULL;
        int lab;

        lineno++;
        line[strcspn(line, "\r\n")] = '\0';
        if (line[0] == '\0' || line[0] == '#')
            continue;
        if (sscanf(line, "%15s %4095s", label, rel) != 2) {
            log_err("%s:%u: expected \"spam|ham PATH\", got \"%s\"", index_path, lineno, line);
            l->errors++;
            continue;
        }
        if (strcasecmp(label, "spam") == 0)
            lab = INPUT_LABEL_SPAM;
        else if (strcasecmp(label, "ham") == 0)
            lab = INPUT_LABEL_HAM;
        else {
            log_err("%s:%u: unknown label \"%s\" (want spam or ham)", index_path, lineno, label);
            l->errors++;
            continue;
        }
        if (rel[0] == '/')
            rc = list_push(l, rel, lab);
        else if (asprintf(&full, "%s/%s", dir, rel) < 0)
            rc = -1;
        else {
            rc = list_push(l, full, lab);
            free(full);
        }
    }
    free(line);
    free(dir);
    fclose(fp);
    return rc;
}

void
input_list_free(struct input_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i].path);
    free(l->v);
    memset(l, 0, sizeof(*l));
}

/* Read all of fd into a heap buffer; NUL-terminated for convenience (the NUL is
 * not counted in *len). */
static char *
read_all(int fd, size_t *len)
{
    size_t cap = 65536, n = 0;
    char *buf = malloc(cap + 1);

    if (buf == NULL)
        return NULL;
    for (;;) {
        ssize_t r;
        if (n == cap) {
            char *nb = realloc(buf, cap * 2 + 1);
            if (nb == NULL) {
                free(buf);
                return NULL;
            }
            buf = nb;
            cap *= 2;
        }
        r = read(fd, buf + n, cap - n);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            free(buf);
            return NULL;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

/* Is p (inside buf[0..len)) the start of an mbox separator line?  Besides
 * "From " it must carry the time of the envelope date ("... Mon Jan  1 00:00:00
 * 2024"), so an unescaped "From here on" in a body (mboxo) does not split. */
static int
is_from_line(const char *buf, size_t len, size_t p)
{
    const char *nl, *end;

    if (len - p < 5 || memcmp(buf + p, "From ", 5) != 0)
        return 0;
    nl = memchr(buf + p, '\n', len - p);
    end = nl ? nl : buf + len;
    for (const char *q = buf + p + 5; q + 5 <= end; q++)
        if (q[0] == ' ' && g_ascii_isdigit(q[1]) && g_ascii_isdigit(q[2]) && q[3] == ':'
                && g_ascii_isdigit(q[4]))
            return 1;
    return 0;
}

static int
read_mbox(const char *path, const char *buf, size_t len, input_fn fn, void *arg)
{
    size_t start = 0, nmsg = 0, p;
    int rc = 0;
    size_t *starts = NULL, nstarts = 0, cap = 0;

    /* First find every separator, so a one-message mbox keeps the plain path. */
    for (p = 0; p < len; ) {
        const char *nl;
        if ((p == 0 || (p >= 2 && buf[p - 1] == '\n' && buf[p - 2] == '\n')
                    || (p >= 3 && buf[p - 1] == '\n' && buf[p - 2] == '\r' && buf[p - 3] == '\n'))
            && is_from_line(buf, len, p)) {
            if (nstarts == cap) {
                size_t nc = cap ? cap * 2 : 16;
                size_t *ns = realloc(starts, nc * sizeof(*ns));
                if (ns == NULL) {
                    free(starts);
                    return -1;
                }
                starts = ns;
                cap = nc;
            }
            starts[nstarts++] = p;
        }
        nl = memchr(buf + p, '\n', len - p);
        if (nl == NULL)
            break;
        p = (size_t)(nl - buf) + 1;
    }
    for (size_t i = 0; rc == 0 && i < nstarts; i++) {
        size_t end = i + 1 < nstarts ? starts[i + 1] : len;
        char name[4200];

        start = starts[i];
        nmsg++;
        if (nstarts == 1)
            snprintf(name, sizeof(name), "%s", path);
        else
            snprintf(name, sizeof(name), "%s:%zu", path, nmsg);
        /* The message keeps its From_ line: features_extract() skips it. */
        rc = fn(arg, name, buf + start, end - start);
    }
    free(starts);
    return rc;
}

int
input_read(const struct input_source *src, input_fn fn, void *arg)
{
    int fd, rc;
    size_t len = 0;
    char *buf;
    int is_stdin = strcmp(src->path, "-") == 0;

    if (is_stdin)
        fd = STDIN_FILENO;
    else if ((fd = open(src->path, O_RDONLY | O_CLOEXEC)) < 0) {
        log_err("%s: cannot open: %s", src->path, strerror(errno));
        return -1;
    }
    buf = read_all(fd, &len);
    if (buf == NULL)
        log_err("%s: cannot read: %s", src->path, errno ? strerror(errno) : "out of memory");
    if (!is_stdin)
        close(fd);
    if (buf == NULL)
        return -1;
    if (is_from_line(buf, len, 0))
        rc = read_mbox(src->path, buf, len, fn, arg);
    else
        rc = fn(arg, src->path, buf, len);
    free(buf);
    return rc;
}

struct input_first {
    char *buf;
    size_t len;
    int n;
};

static int
input_first_cb(void *arg, const char *name, const char *buf, size_t len)
{
    struct input_first *o = arg;

    (void) name;
    if (++o->n > 1)
        return 1;           /* the second: enough to know there is more than one */
    if ((o->buf = malloc(len ? len : 1)) == NULL)
        return -2;
    memcpy(o->buf, buf, len);
    o->len = len;
    return 0;
}

int
input_read_first(const struct input_source *src, char **buf, size_t *len, int *n)
{
    struct input_first o = { 0 };
    int rc = input_read(src, input_first_cb, &o);

    *buf = o.buf;
    *len = o.len;
    *n = o.n;
    return rc == 1 ? 0 : rc;
}

int
input_collect_args(struct input_list *l, int argc, char **argv, int label)
{
    if (argc < 2)
        return input_collect(l, "-", label);
    for (int i = 1; i < argc; i++)
        if (input_collect(l, argv[i], label) != 0)
            return -1;
    return 0;
}
