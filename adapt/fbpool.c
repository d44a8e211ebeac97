/*
 * fbpool.c - pool every user's feedback into training examples (fbpool.h).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "fbpool.h"

void
fbpool_free(struct fbpool *p)
{
    for (size_t i = 0; i < p->n_sets; i++)
        store_samples_free(&p->sets[i]);
    free(p->sets);
    free(p->ex);
    memset(p, 0, sizeof(*p));
}

int
fbpool_load(struct store *s, struct fbpool *out)
{
    char **users = NULL;
    size_t n_users = 0, total = 0, k = 0;
    int rc;

    memset(out, 0, sizeof(*out));
    if ((rc = store_begin_read(s)) != STORE_OK)
        return rc;
    if ((rc = store_user_list(s, &users, &n_users)) != STORE_OK)
        goto done;
    if ((out->sets = calloc(n_users ? n_users : 1, sizeof(*out->sets))) == NULL) {
        rc = STORE_ERR;
        goto done;
    }
    for (size_t i = 0; i < n_users; i++) {
        if ((rc = store_feedback_list(s, users[i], NULL, &out->sets[i])) != STORE_OK)
            goto done;
        out->n_sets = i + 1;
        total += out->sets[i].n;
        out->n_users += out->sets[i].n > 0;
    }
    if ((out->ex = calloc(total ? total : 1, sizeof(*out->ex))) == NULL) {
        rc = STORE_ERR;
        goto done;
    }
    for (size_t i = 0; i < out->n_sets; i++)
        for (size_t j = 0; j < out->sets[i].n; j++) {
            const struct store_sample *x = &out->sets[i].v[j];

            out->ex[k].ids = x->ids;
            out->ex[k].n = x->n;
            out->ex[k].spam = x->spam;
            x->spam ? out->n_spam++ : out->n_ham++;
            k++;
        }
    out->n = k;
done:
    store_end_read(s);
    store_strv_free(users);
    if (rc != STORE_OK)
        fbpool_free(out);
    return rc;
}
