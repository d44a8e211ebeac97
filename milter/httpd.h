/*
 * httpd.h - the metrics_listen endpoint: a minimal HTTP/1.0 and 1.1 server on
 * one thread that answers GET (and HEAD) /metrics with a page made by a
 * callback, and nothing else (404 for another path, 405 for another method,
 * 400 for a malformed or oversized request).  Every connection is closed after
 * its answer.
 *
 * One thread multiplexes every client with poll(): a request is at most
 * HTTPD_MAX_REQUEST bytes and must arrive, and its answer leave, within
 * HTTPD_TIMEOUT_MS of the connection, so a slow or idle client costs a slot,
 * never the thread; past HTTPD_MAX_CLIENTS at once new connections get 503.
 */
#ifndef SPAMSHIFT_MILTER_HTTPD_H
#define SPAMSHIFT_MILTER_HTTPD_H

#include <stddef.h>

#include <glib.h>

#define HTTPD_MAX_REQUEST 4096
#define HTTPD_TIMEOUT_MS 5000
#define HTTPD_MAX_CLIENTS 32

/* Appends the page's body (text/plain; version=0.0.4) to out.  Called on the
 * server's thread for each GET. */
typedef void httpd_page_fn(GString *out);

/* Bind and listen on spec ("127.0.0.1:PORT", "[::1]:PORT"; see
 * conf_parse_listen()).  Returns the socket, or -1 with the reason in err.
 * Call before dropping privileges if the port needs them; *bound gets the
 * address actually bound ("127.0.0.1:43117" for port 0). */
int httpd_listen(const char *spec, char *bound, size_t boundlen, char *err, size_t errlen);

/* Serve fd (from httpd_listen(), owned from now on) on a new thread with page.
 * Returns 0, or -1 with the reason in err (fd closed). */
int httpd_start(int fd, httpd_page_fn *page, char *err, size_t errlen);

/* Stop the thread and close every socket; a no-op when not started. */
void httpd_stop(void);

/* For tests: the answer to one complete request text (status line, headers
 * and, for GET /metrics, the page) into out; returns the status code. */
int httpd_answer(const char *req, size_t len, httpd_page_fn *page, GString *out);

#endif
