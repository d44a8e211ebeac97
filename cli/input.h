/*
 * input.h - where the commands' messages come from: message files, directories
 * (recursively, which covers Maildir cur/ and new/), mbox files, TREC index files
 * and standard input.
 *
 * Work is split in two steps so that a command can read and extract in parallel
 * yet keep a deterministic order: input_collect() lists the sources (files, in
 * sorted order), input_read() yields the messages of one source.
 */
#ifndef SPAMSHIFT_INPUT_H
#define SPAMSHIFT_INPUT_H

#include <stddef.h>

#define INPUT_LABEL_NONE  (-1)
#define INPUT_LABEL_HAM   0
#define INPUT_LABEL_SPAM  1

struct input_source {
    char *path;             /* "-" for standard input */
    int label;              /* INPUT_LABEL_* */
};

struct input_list {
    struct input_source *v;
    size_t n, cap;
    size_t skipped;         /* directory entries skipped as not mail (see input.c) */
    size_t errors;          /* paths that could not be listed; each was reported */
};

/* Append the sources under path with label.  A directory is walked recursively in
 * name order; hidden entries and files whose names end in .json, .gz, .bz2, .xz,
 * .zip or .tar are skipped and counted.  A path that does not exist is reported on
 * stderr and counted in errors.  Returns 0, or -1 on allocation failure. */
int input_collect(struct input_list *l, const char *path, int label);

/* Append the sources named by a TREC-style index ("spam ../data/inmail.1" per
 * line; paths relative to the index file's directory).  A bad line is reported
 * with its line number and counted in errors. */
int input_collect_index(struct input_list *l, const char *index_path);

/* Append the sources named by a command's arguments argv[1..argc) with label,
 * or standard input ("-") when there are none.  Returns 0, or -1 on allocation
 * failure. */
int input_collect_args(struct input_list *l, int argc, char **argv, int label);

void input_list_free(struct input_list *l);

/* Called once per message; name is the source path, or "path:N" for the N-th
 * message (from 1) of an mbox holding more than one.  buf is valid only during the
 * call.  A non-zero return stops the walk and is returned by input_read(). */
typedef int (*input_fn)(void *arg, const char *name, const char *buf, size_t len);

/* Read one source and call fn for each of its messages: a file whose first line
 * starts with "From " is an mbox (split on "From " lines after a blank line; a
 * one-message mbox yields one message named by the path), anything else is one
 * message.  Returns 0, the callback's non-zero value, or -1 if the source could
 * not be read (reported on stderr, naming the file). */
int input_read(const struct input_source *src, input_fn fn, void *arg);

/* Read the first message of src into *buf (a malloc'd copy of *len bytes; the
 * caller frees it, also on failure) and count the messages in *n, stopping at
 * the second: *n is 0 (none), 1, or 2 (more than one).  For the commands that
 * take one message (explain, trec).  Returns 0, -1 if the source could not be
 * read (reported on stderr, naming the file) or -2 when memory ran out. */
int input_read_first(const struct input_source *src, char **buf, size_t *len, int *n);

#endif
