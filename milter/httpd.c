/*
 * httpd.c - the metrics_listen endpoint; see httpd.h.
 *
 * Each client is a slot with its request buffer, its answer and a deadline
 * set at accept; the thread polls the listening socket, a pipe that
 * httpd_stop() writes to, and the slots, and closes a slot whose deadline
 * passed whatever it was doing.  Answers are small (a few kilobytes) and are
 * written without blocking; a client that does not read them times out.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <glib.h>

#include "conf.h"
#include "httpd.h"
#include "log.h"

struct httpd_client {
    int fd;                     /* -1: a free slot */
    char req[HTTPD_MAX_REQUEST];
    size_t len;
    GString *out;               /* the answer, once the request is read */
    size_t off;                 /* bytes of out sent */
    gint64 deadline;            /* monotonic us */
};

static struct {
    int fd;
    int wake[2];
    httpd_page_fn *page;
    pthread_t thread;
    int running;
    struct httpd_client client[HTTPD_MAX_CLIENTS];
} httpd = { .fd = -1, .wake = { -1, -1 } };

int
httpd_listen(const char *spec, char *bound, size_t boundlen, char *err, size_t errlen)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    char host[INET6_ADDRSTRLEN + 1], addr[INET6_ADDRSTRLEN];
    const char *why;
    unsigned port;
    int fd, one = 1, v6;

    if ((why = conf_parse_listen(spec, host, sizeof(host), &port)) != NULL) {
        snprintf(err, errlen, "metrics_listen = %s: %s", spec, why);
        return -1;
    }
    memset(&ss, 0, sizeof(ss));
    v6 = strchr(host, ':') != NULL;
    if (v6) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)port);
        inet_pton(AF_INET6, host, &s6->sin6_addr);
        sl = sizeof(*s6);
    } else {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)port);
        inet_pton(AF_INET, host, &s4->sin_addr);
        sl = sizeof(*s4);
    }
    if ((fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)) < 0) {
        snprintf(err, errlen, "metrics_listen = %s: socket: %s", spec, strerror(errno));
        return -1;
    }
    (void) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (v6)
        (void) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&ss, sl) != 0 || listen(fd, 16) != 0) {
        snprintf(err, errlen, "metrics_listen = %s: %s", spec, strerror(errno));
        close(fd);
        return -1;
    }
    sl = sizeof(ss);
    getsockname(fd, (struct sockaddr *)&ss, &sl);
    if (v6)
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, addr, sizeof(addr));
    else
        inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, addr, sizeof(addr));
    snprintf(bound, boundlen, v6 ? "[%s]:%u" : "%s:%u", addr,
             (unsigned)ntohs(v6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                             : ((struct sockaddr_in *)&ss)->sin_port));
    return fd;
}

/* The status line and headers of an answer with body (may be empty). */
static int
httpd_reply(GString *out, int code, const char *reason, const char *extra, const char *body,
            const char *type, int head_only)
{
    size_t blen = strlen(body);

    g_string_append_printf(out, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\n"
                           "Content-Length: %zu\r\nConnection: close\r\n%s\r\n",
                           code, reason, type, blen, extra);
    if (!head_only)
        g_string_append(out, body);
    return code;
}

static int
httpd_error(GString *out, int code, const char *reason, const char *extra)
{
    char body[128];

    snprintf(body, sizeof(body), "%d %s\n", code, reason);
    return httpd_reply(out, code, reason, extra, body, "text/plain; charset=utf-8", 0);
}

int
httpd_answer(const char *req, size_t len, httpd_page_fn *page, GString *out)
{
    const char *eol = memchr(req, '\n', len), *sp1, *sp2;
    char method[16], target[256], version[16];
    size_t n;
    int head;

    if (eol == NULL)
        return httpd_error(out, 400, "Bad Request", "");
    n = (size_t)(eol - req);
    if (n > 0 && req[n - 1] == '\r')
        n--;
    /* METHOD SP TARGET SP HTTP/1.x, nothing else on the line */
    if ((sp1 = memchr(req, ' ', n)) == NULL
        || (sp2 = memchr(sp1 + 1, ' ', n - (size_t)(sp1 + 1 - req))) == NULL
        || (size_t)(sp1 - req) == 0 || (size_t)(sp1 - req) >= sizeof(method)
        || (size_t)(sp2 - sp1 - 1) == 0 || (size_t)(sp2 - sp1 - 1) >= sizeof(target)
        || n - (size_t)(sp2 + 1 - req) >= sizeof(version))
        return httpd_error(out, 400, "Bad Request", "");
    memcpy(method, req, (size_t)(sp1 - req));
    method[sp1 - req] = '\0';
    memcpy(target, sp1 + 1, (size_t)(sp2 - sp1 - 1));
    target[sp2 - sp1 - 1] = '\0';
    memcpy(version, sp2 + 1, n - (size_t)(sp2 + 1 - req));
    version[n - (size_t)(sp2 + 1 - req)] = '\0';
    if (strcmp(version, "HTTP/1.0") != 0 && strcmp(version, "HTTP/1.1") != 0)
        return httpd_error(out, 400, "Bad Request", "");
    for (const char *p = method; *p; p++)
        if (!g_ascii_isupper(*p))
            return httpd_error(out, 400, "Bad Request", "");
    head = strcmp(method, "HEAD") == 0;
    if (!head && strcmp(method, "GET") != 0)
        return httpd_error(out, 405, "Method Not Allowed", "Allow: GET, HEAD\r\n");
    if (strcmp(target, "/metrics") != 0 && !g_str_has_prefix(target, "/metrics?"))
        return httpd_error(out, 404, "Not Found", "");
    {
        GString *body = g_string_sized_new(4096);
        int code;

        page(body);
        code = httpd_reply(out, 200, "OK", "", body->str, "text/plain; version=0.0.4; "
                           "charset=utf-8", head);
        g_string_free(body, TRUE);
        return code;
    }
}

static void
httpd_close(struct httpd_client *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    c->len = 0;
    c->off = 0;
    if (c->out != NULL)
        g_string_free(c->out, TRUE);
    c->out = NULL;
}

/* A whole request head is in c->req: the blank line that ends it. */
static int
httpd_complete(const struct httpd_client *c)
{
    return g_strstr_len(c->req, (gssize)c->len, "\r\n\r\n") != NULL
        || g_strstr_len(c->req, (gssize)c->len, "\n\n") != NULL;
}

/* Read what the client sent; once the request is whole (or too large) make
 * the answer. */
static void
httpd_read(struct httpd_client *c)
{
    ssize_t r = recv(c->fd, c->req + c->len, sizeof(c->req) - c->len, 0);

    if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
        httpd_close(c);
        return;
    }
    if (r < 0)
        return;
    c->len += (size_t)r;
    c->out = g_string_sized_new(8192);
    if (httpd_complete(c))
        httpd_answer(c->req, c->len, httpd.page, c->out);
    else if (c->len == sizeof(c->req))
        httpd_error(c->out, 400, "Bad Request", "");   /* larger than HTTPD_MAX_REQUEST */
    else {
        g_string_free(c->out, TRUE);
        c->out = NULL;
    }
}

static void
httpd_write(struct httpd_client *c)
{
    ssize_t w = send(c->fd, c->out->str + c->off, c->out->len - c->off, MSG_NOSIGNAL);

    if (w < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (w < 0) {
        httpd_close(c);
        return;
    }
    c->off += (size_t)w;
    if (c->off == c->out->len) {
        shutdown(c->fd, SHUT_WR);
        httpd_close(c);
    }
}

static void
httpd_accept(void)
{
    static const char busy[] = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n"
                               "Connection: close\r\n\r\n";
    int fd = accept4(httpd.fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

    if (fd < 0)
        return;
    for (size_t i = 0; i < HTTPD_MAX_CLIENTS; i++) {
        struct httpd_client *c = &httpd.client[i];

        if (c->fd < 0) {
            c->fd = fd;
            c->deadline = g_get_monotonic_time() + (gint64)HTTPD_TIMEOUT_MS * 1000;
            return;
        }
    }
    (void) !send(fd, busy, sizeof(busy) - 1, MSG_NOSIGNAL);
    close(fd);
}

static void *
httpd_main(void *arg)
{
    struct pollfd pfd[HTTPD_MAX_CLIENTS + 2];
    int slot[HTTPD_MAX_CLIENTS + 2];

    (void)arg;
    for (;;) {
        gint64 now = g_get_monotonic_time(), next = now + (gint64)HTTPD_TIMEOUT_MS * 1000;
        nfds_t n = 2;
        int timeout;

        pfd[0] = (struct pollfd){ .fd = httpd.wake[0], .events = POLLIN };
        pfd[1] = (struct pollfd){ .fd = httpd.fd, .events = POLLIN };
        for (int i = 0; i < HTTPD_MAX_CLIENTS; i++) {
            struct httpd_client *c = &httpd.client[i];

            if (c->fd >= 0 && now >= c->deadline)
                httpd_close(c);         /* too slow: dropped whatever it was doing */
            if (c->fd < 0)
                continue;
            next = MIN(next, c->deadline);
            slot[n] = i;
            pfd[n++] = (struct pollfd){ .fd = c->fd, .events = c->out != NULL ? POLLOUT : POLLIN };
        }
        timeout = (int)MAX((next - now + 999) / 1000, 1);
        if (poll(pfd, n, timeout) < 0) {
            if (errno == EINTR)
                continue;
            log_err("metrics_listen: poll: %s; the metrics endpoint stops", strerror(errno));
            break;
        }
        if (pfd[0].revents != 0)
            break;
        for (nfds_t k = 2; k < n; k++) {
            struct httpd_client *c = &httpd.client[slot[k]];

            if (pfd[k].revents == 0)
                continue;
            if (c->out == NULL)
                httpd_read(c);
            if (c->fd >= 0 && c->out != NULL)
                httpd_write(c);
        }
        if (pfd[1].revents & POLLIN)
            httpd_accept();
    }
    return NULL;
}

int
httpd_start(int fd, httpd_page_fn *page, char *err, size_t errlen)
{
    for (size_t i = 0; i < HTTPD_MAX_CLIENTS; i++)
        httpd.client[i].fd = -1;
    httpd.fd = fd;
    httpd.page = page;
    if (pipe2(httpd.wake, O_CLOEXEC) != 0
        || pthread_create(&httpd.thread, NULL, httpd_main, NULL) != 0) {
        snprintf(err, errlen, "metrics_listen: cannot start the metrics thread");
        close(fd);
        httpd.fd = -1;
        return -1;
    }
    httpd.running = 1;
    return 0;
}

void
httpd_stop(void)
{
    if (!httpd.running)
        return;
    (void) !write(httpd.wake[1], "x", 1);
    pthread_join(httpd.thread, NULL);
    httpd.running = 0;
    for (size_t i = 0; i < HTTPD_MAX_CLIENTS; i++)
        httpd_close(&httpd.client[i]);
    close(httpd.fd);
    close(httpd.wake[0]);
    close(httpd.wake[1]);
    httpd.fd = httpd.wake[0] = httpd.wake[1] = -1;
}
