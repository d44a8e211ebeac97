/*
 * extract.h - read sources and extract their features on several threads while
 * keeping the messages in source order, so results do not depend on scheduling.
 */
#ifndef SPAMSHIFT_EXTRACT_H
#define SPAMSHIFT_EXTRACT_H

#include <stddef.h>
#include <stdint.h>

#include "input.h"

struct extract_msg {
    char *name;             /* source path, or "path:N" inside an mbox */
    int label;              /* the source's INPUT_LABEL_* */
    uint32_t *ids;          /* sorted unique feature ids (owned) */
    uint32_t n;
    uint32_t flags;         /* FEATURES_F_* */
    uint8_t digest[16];
};

struct extract_set {
    struct extract_msg *v;
    size_t n, cap;
    size_t failed;          /* sources that could not be read (each reported) */
};

/* Extract sources l->v[from..to) with jobs threads, appending the messages to
 * out in source order (the messages of one mbox in file order).  Unreadable
 * sources are reported on stderr and counted in out->failed.  When progress is
 * non-zero and stderr is a terminal, a counter is shown.
 * Returns 0, or -1 on allocation failure. */
int extract_sources(const struct input_list *l, size_t from, size_t to, unsigned jobs,
                    int progress, struct extract_set *out);

/* Free every message and empty the set. */
void extract_set_clear(struct extract_set *s);

#endif
