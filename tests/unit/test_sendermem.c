/*
 * test_sendermem.c - the sender memory (adapt/sendermem.c, score.c's memory
 * slots) on crafted messages parsed by the real features_extract(): a
 * newsletter sender whose five taught messages must move its other mail, and
 * leave other senders' mail and a forged From alone (nearly) untouched.
 *
 * The user's observed mail (the reservoir) is the newsletter's ten other
 * issues and forty messages of eight other senders; the model is a small
 * hand-built network (no training), so every score is the global head's
 * plus the memory, and the memory's share is read exactly with
 * adapt_memory_share() and adapt_logit().
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "adapt.h"
#include "features.h"
#include "sendermem.h"

#define HID 4
#define BITS 20
#define N_TAUGHT 5
#define N_NEWS_RES 10
#define N_OTHER 8
#define PER_OTHER 5
#define N_RES (N_NEWS_RES + N_OTHER * PER_OTHER)

static const char *const words[] = {
    "meeting", "report", "budget", "lunch", "project", "schedule", "review", "draft",
    "team", "update", "friday", "office", "client", "notes", "agenda", "travel",
};

/* Issue k of the newsletter: its own sender, relay, list headers, footer. */
static char *
newsletter(int k, const char *from)
{
    char *buf = malloc(4096);

    assert_non_null(buf);
    snprintf(buf, 4096,
             "Received: from out.lettermail.example (out.lettermail.example [192.0.2.7])\n"
             "\tby mx.lettermail.example with ESMTP id %d; Mon, 7 Dec 2026 10:00:00 +0000\n"
             "From: Weekly Gadget Letter <%s>\n"
             "To: user@example.org\n"
             "Subject: gadget letter issue %d: %s and %s\n"
             "Message-ID: <issue%d@lettermail.example>\n"
             "List-Id: <gadgets.lettermail.example>\n"
             "List-Unsubscribe: <http://lettermail.example/unsub>\n"
             "X-Mailer: LetterBlaster 5\n"
             "\n"
             "This week in gadgets: the %s and the %s, reviewed.\n"
             "Read more at http://lettermail.example/issue%d\n"
             "You receive the gadget letter because you subscribed at lettermail.\n"
             "Unsubscribe: http://lettermail.example/unsub\n",
             k, from, k, words[k % 16], words[(k * 7 + 3) % 16], k, words[(k * 3 + 1) % 16],
             words[(k * 5 + 2) % 16], k);
    return buf;
}

/* Message k of other sender s (each with its own address, relay, words). */
static char *
other(int s, int k)
{
    char *buf = malloc(4096);

    assert_non_null(buf);
    snprintf(buf, 4096,
             "Received: from mail.corp%d.example (mail.corp%d.example [198.51.100.%d])\n"
             "\tby mx.corp%d.example with ESMTP id %d; Mon, 7 Dec 2026 11:00:00 +0000\n"
             "From: Person %d <person%d@corp%d.example>\n"
             "To: user@example.org\n"
             "Subject: %s %s\n"
             "Message-ID: <m%d.%d@corp%d.example>\n"
             "\n"
             "Hello, about the %s: the %s is on %s, see the %s.\n"
             "Regards, person %d\n",
             s, s, s + 1, s, k, s, s, s, words[(s + k) % 16], words[(s * 3 + k) % 16], s, k, s,
             words[(s * 5 + k) % 16], words[(k * 3 + 7) % 16], words[(s + 2 * k) % 16],
             words[(s * 7 + k * 5) % 16], s);
    return buf;
}

/* Another sender's message with the newsletter's From header: a forgery. */
static char *
forged(int k)
{
    char *buf = malloc(4096);

    assert_non_null(buf);
    snprintf(buf, 4096,
             "Received: from relay.elsewhere.example (relay.elsewhere.example [203.0.113.9])\n"
             "\tby mx.elsewhere.example with ESMTP id %d; Mon, 7 Dec 2026 12:00:00 +0000\n"
             "From: Weekly Gadget Letter <news@lettermail.example>\n"
             "To: user@example.org\n"
             "Subject: %s %s\n"
             "Message-ID: <f%d@elsewhere.example>\n"
             "\n"
             "Hello, about the %s: the %s is on %s.\n",
             k, words[k % 16], words[(k + 5) % 16], k, words[(k + 9) % 16],
             words[(k + 2) % 16], words[(k + 11) % 16]);
    return buf;
}

struct msg {
    struct features f;
    struct adapt_example ex;
};

static void
msg_make(const struct model *m, struct msg *x, char *text, int spam)
{
    features_init(&x->f);
    assert_int_equal(features_extract(text, strlen(text), &x->f, NULL, NULL), 0);
    free(text);
    memset(&x->ex, 0, sizeof(x->ex));
    x->ex.ids = x->f.ids;
    x->ex.n = (uint32_t) x->f.n;
    x->ex.spam = (uint8_t) spam;
    adapt_represent(m, &x->ex);
}

struct world {
    struct model m;
    struct msg taught[N_TAUGHT], res[N_RES], news[3], others[3], forge[3];
    struct user_model um;
};

static double
urand(uint64_t *s)
{
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return ((double) (*s >> 11) + 0.5) / 9007199254740992.0;
}

static struct world *
world_new(int taught_spam)
{
    struct world *w = calloc(1, sizeof(*w));
    struct net_dims d = { 10, 8, 4, HID };
    uint64_t s = 7;
    int r = 0;

    assert_non_null(w);
    assert_int_equal(net_alloc(&w->m.net, &d, 3), 0);
    for (size_t i = 0; i < ((size_t) 1 << d.lin_bits); i++)
        w->m.net.lin[i] = (float) (0.2 * (urand(&s) - 0.5));
    w->m.net.head[HID] = 1.0f;
    w->m.threshold = 0.5f;
    for (int k = 0; k < N_TAUGHT; k++)
        msg_make(&w->m, &w->taught[k], newsletter(k, "news@lettermail.example"), taught_spam);
    for (int k = 0; k < N_NEWS_RES; k++)
        msg_make(&w->m, &w->res[r++], newsletter(10 + k, "news@lettermail.example"), 0);
    for (int o = 0; o < N_OTHER; o++)
        for (int k = 0; k < PER_OTHER; k++)
            msg_make(&w->m, &w->res[r++], other(o, k), 0);
    for (int k = 0; k < 3; k++) {
        msg_make(&w->m, &w->news[k], newsletter(40 + k, "news@lettermail.example"), 0);
        msg_make(&w->m, &w->others[k], other(k, 20 + k), 0);
        msg_make(&w->m, &w->forge[k], forged(k), 0);
    }
    w->um.hidden = HID;
    memcpy(w->um.head, w->m.net.head, sizeof(float) * NET_HEAD_LEN(HID));
    w->um.seed = adapt_user_seed("user@example.org");
    w->um.resid_bits = BITS;
    return w;
}

static void
msg_free(struct msg *x)
{
    features_clear(&x->f);
}

static void
world_free(struct world *w)
{
    for (int k = 0; k < N_TAUGHT; k++)
        msg_free(&w->taught[k]);
    for (int k = 0; k < N_RES; k++)
        msg_free(&w->res[k]);
    for (int k = 0; k < 3; k++) {
        msg_free(&w->news[k]);
        msg_free(&w->others[k]);
        msg_free(&w->forge[k]);
    }
    free(w->um.resid_slot);
    free(w->um.resid_w);
    net_release(&w->m.net);
    free(w);
}

static void
fit(struct world *w, struct sendermem_stats *st)
{
    struct adapt_example fb[N_TAUGHT], res[N_RES];

    for (int k = 0; k < N_TAUGHT; k++)
        fb[k] = w->taught[k].ex;
    for (int k = 0; k < N_RES; k++)
        res[k] = w->res[k].ex;
    assert_int_equal(sendermem_fit(&w->m, &w->um, fb, N_TAUGHT, res, N_RES, 0, st), 0);
}

/* The share of the push a message gets: its memory share over the taught
 * messages' mean share (both signed the same way). */
static double
mean_share(const struct user_model *um, const struct msg *x, int n)
{
    double t = 0;

    for (int k = 0; k < n; k++)
        t += adapt_memory_share(um, x[k].ex.ids, x[k].ex.n);
    return t / n;
}

static const struct scase {
    const char *name;
    int spam;               /* taught as */
} scases[] = {
    { "newsletter taught as spam", 1 },
    { "newsletter taught as ham", 0 },
};

/* The untaught issues get most of the taught messages' push, the other
 * senders nothing, the forged From a small part; the taught land beyond the
 * threshold on their side, and the untaught issues too. */
static void
test_one_sender_moves(void **state)
{
    (void) state;
    for (size_t c = 0; c < sizeof(scases) / sizeof(scases[0]); c++) {
        struct world *w = world_new(scases[c].spam);
        struct sendermem_stats st;
        double sign = scases[c].spam ? 1 : -1, taught, news, others, forge;

        fit(w, &st);
        taught = sign * mean_share(&w->um, w->taught, N_TAUGHT);
        news = sign * mean_share(&w->um, w->news, 3);
        others = mean_share(&w->um, w->others, 3);
        forge = sign * mean_share(&w->um, w->forge, 3);
        if (getenv("SENDERMEM_DEBUG") != NULL)
            printf("%s: %u ids, taught %.3f issues %.3f others %.6f forged %.3f\n",
                   scases[c].name, st.n_ids, taught, news, others, forge);
        if (st.n_taught != N_TAUGHT || !(taught > 1))
            fail_msg("%s: got %u taught with memory, push %.3f; want %d, > 1",
                     scases[c].name, st.n_taught, taught, N_TAUGHT);
        if (!(news >= 0.6 * taught))
            fail_msg("%s: untaught issues got %.3f of the push %.3f; want >= 60%%",
                     scases[c].name, news, taught);
        if (!(fabs(others) <= 1e-6))
            fail_msg("%s: other senders' memory got %.6f, want 0", scases[c].name, others);
        if (!(forge <= 0.25 * taught))
            fail_msg("%s: forged From got %.3f of the push %.3f; want <= 25%%",
                     scases[c].name, forge, taught);
        {
            /* the store's blob keeps the memory (its slots are valid there) */
            size_t len;
            void *blob = user_model_encode(&w->um, &len);
            struct user_model *back = blob != NULL ? user_model_decode(blob, len) : NULL;
            double got = back != NULL ? sign * mean_share(back, w->news, 3) : -1;

            free(blob);
            user_model_free(back);
            if (fabs(got - news) > 1e-6 * (1 + news))
                fail_msg("%s: decoded blob's memory got %.6f, want %.6f", scases[c].name, got,
                         news);
        }
        for (int k = 0; k < 3; k++) {
            double l = adapt_logit(&w->m, &w->um, w->news[k].ex.h, w->news[k].ex.z,
                                   w->news[k].ex.ids, w->news[k].ex.n);

            if (!(sign * l > 0))
                fail_msg("%s: untaught issue %d got logit %+.3f, want %s 0", scases[c].name,
                         k, l, scases[c].spam ? ">" : "<");
        }
        world_free(w);
    }
}

/* Labels of both classes on the same ids mark nothing; too little observed
 * mail marks nothing; a second fit replaces the first's weights. */
static void
test_no_memory_cases(void **state)
{
    struct world *w = world_new(1);
    struct adapt_example fb[N_TAUGHT], res[N_RES];
    struct sendermem_stats st;
    double first, second;

    (void) state;
    for (int k = 0; k < N_TAUGHT; k++) {
        fb[k] = w->taught[k].ex;
        fb[k].spam = k % 2;
    }
    for (int k = 0; k < N_RES; k++)
        res[k] = w->res[k].ex;
    assert_int_equal(sendermem_fit(&w->m, &w->um, fb, N_TAUGHT, res, N_RES, 0, &st), 0);
    /* the newsletter's common ids are in both classes: only ids of one
     * class's issues may be marked, and no other sender's */
    if (fabs(mean_share(&w->um, w->others, 3)) > 1e-6)
        fail_msg("mixed labels: other senders got %.6f, want 0",
                 mean_share(&w->um, w->others, 3));
    for (int k = 0; k < N_TAUGHT; k++)
        fb[k].spam = 1;
    assert_int_equal(sendermem_fit(&w->m, &w->um, fb, N_TAUGHT, res, SENDERMEM_RES_MIN - 1,
                                   0, &st), 0);
    if (st.n_ids != 0)
        fail_msg("reservoir of %d: got %u ids marked, want 0", SENDERMEM_RES_MIN - 1,
                 st.n_ids);
    assert_int_equal(sendermem_fit(&w->m, &w->um, fb, N_TAUGHT, res, N_RES, 0, &st), 0);
    first = mean_share(&w->um, w->news, 3);
    {
        /* five spams of five senders sharing a few words: the words' holders
         * are not alike, so nothing is marked (another sender's mail with
         * those words keeps its score) */
        struct world *v = world_new(1);
        struct msg five[5];
        struct adapt_example f5[5];

        for (int k = 0; k < 5; k++) {
            msg_make(&v->m, &five[k], other(3 + k % 5, 30 + k), 1);
            f5[k] = five[k].ex;
        }
        assert_int_equal(sendermem_fit(&v->m, &v->um, f5, 5, res, N_RES, 0, &st), 0);
        if (st.n_ids != 0 || fabs(mean_share(&v->um, v->others, 3)) > 1e-6)
            fail_msg("five senders: got %u ids marked, other mail %.6f; want 0, 0", st.n_ids,
                     mean_share(&v->um, v->others, 3));
        for (int k = 0; k < 5; k++)
            msg_free(&five[k]);
        world_free(v);
    }
    assert_int_equal(sendermem_fit(&w->m, &w->um, fb, N_TAUGHT, res, N_RES, 0, &st), 0);
    second = mean_share(&w->um, w->news, 3);
    if (fabs(first - second) > 1e-4 * (1 + fabs(first)))
        fail_msg("refit: got %.6f then %.6f, want the same", first, second);
    world_free(w);
}

/* Memory slots lie above every token slot and below every learned slot. */
static void
test_slot_range(void **state)
{
    static const uint32_t ids[] = { 0, 1, 0x3fffffffu, 0x40000000u, 0x7fffffffu, 0xffffffffu,
                                    12345, 987654321 };
    uint32_t seed = adapt_user_seed("user@example.org");

    (void) state;
    for (size_t k = 0; k < sizeof(ids) / sizeof(ids[0]); k++) {
        uint32_t m = adapt_memory_slot(ids[k], seed);

        if (m < ADAPT_MEMORY_BIT || m >= ADAPT_LEARNED_BIT)
            fail_msg("id %u: got memory slot %#x, want in [%#x, %#x)", ids[k], m,
                     ADAPT_MEMORY_BIT, ADAPT_LEARNED_BIT);
    }
}

/* sendermem_may_mark on hand-made labels: an id in two labels of one class
 * and none of the other is a candidate; then sendermem_fit, given the
 * world's reservoir, marks nothing whenever it says 0. */
static const uint32_t mk_a[] = { 1, 2, 3 }, mk_b[] = { 2, 3, 4 }, mk_c[] = { 5, 6 },
    mk_d[] = { 3, 7 };
static const struct mkcase {
    const char *name;
    const uint32_t *ids[3];
    uint32_t n[3];
    uint8_t spam[3];
    size_t n_fb;
    int want;
} mk_cases[] = {
    { "one label", { mk_a }, { 3 }, { 1 }, 1, 0 },
    { "two spams sharing 2,3", { mk_a, mk_b }, { 3, 3 }, { 1, 1 }, 2, 1 },
    { "two hams sharing 2,3", { mk_a, mk_b }, { 3, 3 }, { 0, 0 }, 2, 1 },
    { "shared ids in both classes", { mk_a, mk_b }, { 3, 3 }, { 1, 0 }, 2, 0 },
    { "two spams sharing nothing", { mk_a, mk_c }, { 3, 2 }, { 1, 1 }, 2, 0 },
    { "3 in two spams and a ham, 2 in one spam", { mk_a, mk_d, mk_b }, { 3, 2, 3 },
      { 1, 1, 0 }, 3, 0 },
    { "3 in two spams, the ham elsewhere", { mk_a, mk_d, mk_c }, { 3, 2, 2 },
      { 1, 1, 0 }, 3, 1 },
};

static void
test_may_mark(void **state)
{
    struct world *w = world_new(1);
    struct adapt_example res[N_RES];
    struct sendermem_stats st;

    (void) state;
    for (int k = 0; k < N_RES; k++)
        res[k] = w->res[k].ex;
    for (size_t c = 0; c < sizeof(mk_cases) / sizeof(mk_cases[0]); c++) {
        const struct mkcase *t = &mk_cases[c];
        struct adapt_example fb[3];
        int got;

        memset(fb, 0, sizeof(fb));
        for (size_t j = 0; j < t->n_fb; j++) {
            fb[j].ids = t->ids[j];
            fb[j].n = t->n[j];
            fb[j].spam = t->spam[j];
        }
        got = sendermem_may_mark(fb, t->n_fb);
        if (got != t->want)
            fail_msg("%s: got %d, want %d", t->name, got, t->want);
    }
    /* the world's labels: five issues of the newsletter taught as spam have
     * candidates; one issue taught spam and one ham cannot (no id is in two
     * labels of one class), and the fit then marks nothing */
    {
        struct adapt_example fb[N_TAUGHT];

        for (int k = 0; k < N_TAUGHT; k++) {
            fb[k] = w->taught[k].ex;
            fb[k].spam = 1;
        }
        if (sendermem_may_mark(fb, N_TAUGHT) != 1)
            fail_msg("five issues as spam: got no candidate, want some");
        fb[1].spam = 0;
        if (sendermem_may_mark(fb, 2) != 0)
            fail_msg("one spam, one ham: got a candidate, want none");
        assert_int_equal(sendermem_fit(&w->m, &w->um, fb, 2, res, N_RES, 0, &st), 0);
        if (st.n_ids != 0)
            fail_msg("one spam, one ham: got %u ids marked, want 0", st.n_ids);
    }
    world_free(w);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_sender_moves),
        cmocka_unit_test(test_no_memory_cases),
        cmocka_unit_test(test_slot_range),
        cmocka_unit_test(test_may_mark),
    };

    if (features_global_init() != 0)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
