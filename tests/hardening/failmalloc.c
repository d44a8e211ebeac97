/*
 * failmalloc.c - LD_PRELOAD allocation failer for fault-injection tests
 * (tests/hardening/failmalloc.sh): with FAILMALLOC_AT=N in the environment the
 * N-th call (1-based) of malloc/calloc/realloc made directly by the program's
 * own code (the main executable, where libmodel/libadapt/libmilter are linked
 * in) returns NULL with errno ENOMEM, and with FAILMALLOC_ALL=1 every such call
 * from the N-th on does.  Allocations by the shared libraries (GLib, GMime,
 * libxml2, SQLite) are never failed: GLib aborts on a failed allocation by
 * design (g_malloc), which would say nothing about spamshift's own checks.
 * FAILMALLOC_TRACE=1 prints the failing call's stack.  Without FAILMALLOC_AT it only counts, and prints the count at exit when
 * FAILMALLOC_COUNT=1 (to size a sweep).  Calls are forwarded with dlsym
 * (RTLD_NEXT); calloc during dlsym's own start-up is served from a static
 * buffer.  Not thread-exact (the counter is atomic, the order between threads
 * is whatever the scheduler makes it).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <link.h>
#include <errno.h>
#include <execinfo.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *(*real_malloc)(size_t);
static void *(*real_calloc)(size_t, size_t);
static void *(*real_realloc)(void *, size_t);
static atomic_ulong calls;
static unsigned long fail_at;
static int fail_all, inited, in_init;
static char boot[4096];
static size_t boot_used;
static uintptr_t exe_lo[8], exe_hi[8];
static int exe_n;

/* The load segments of the main executable: dl_iterate_phdr reports it first. */
static int
find_exe(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void) size;
    (void) arg;
    for (int i = 0; i < info->dlpi_phnum && exe_n < 8; i++) {
        if (info->dlpi_phdr[i].p_type != PT_LOAD)
            continue;
        exe_lo[exe_n] = info->dlpi_addr + info->dlpi_phdr[i].p_vaddr;
        exe_hi[exe_n] = exe_lo[exe_n] + info->dlpi_phdr[i].p_memsz;
        exe_n++;
    }
    return 1;                   /* only the first object */
}

static int
from_exe(const void *caller)
{
    uintptr_t a = (uintptr_t) caller;

    for (int i = 0; i < exe_n; i++)
        if (a >= exe_lo[i] && a < exe_hi[i])
            return 1;
    return 0;
}

static void
count_at_exit(void)
{
    fprintf(stderr, "failmalloc: %lu allocations by the program\n", (unsigned long) atomic_load(&calls));
}

static void
init(void)
{
    const char *v;

    if (inited || in_init)
        return;
    in_init = 1;
    real_malloc = dlsym(RTLD_NEXT, "malloc");
    real_calloc = dlsym(RTLD_NEXT, "calloc");
    real_realloc = dlsym(RTLD_NEXT, "realloc");
    if ((v = getenv("FAILMALLOC_AT")) != NULL)
        fail_at = strtoul(v, NULL, 10);
    fail_all = getenv("FAILMALLOC_ALL") != NULL;
    if (getenv("FAILMALLOC_COUNT") != NULL)
        atexit(count_at_exit);
    dl_iterate_phdr(find_exe, NULL);
    inited = 1;
    in_init = 0;
}

static int
should_fail(const void *caller)
{
    unsigned long n;

    if (!from_exe(caller))
        return 0;
    n = atomic_fetch_add(&calls, 1) + 1;
    if (fail_at != 0 && n == fail_at && getenv("FAILMALLOC_TRACE") != NULL) {
        void *bt[16];           /* which allocation failed (addr2line the frames) */

        backtrace_symbols_fd(bt, backtrace(bt, 16), 2);
    }

    if (fail_at == 0)
        return 0;
    return n == fail_at || (fail_all && n > fail_at);
}

void *
malloc(size_t n)
{
    init();
    if (real_malloc == NULL)
        return NULL;
    if (should_fail(__builtin_return_address(0))) {
        errno = ENOMEM;
        return NULL;
    }
    return real_malloc(n);
}

void *
calloc(size_t n, size_t size)
{
    if (!inited) {
        /* dlsym may calloc before real_calloc is known */
        size_t want = n * size;
        void *p;

        if (in_init) {
            if (want > sizeof(boot) - boot_used)
                return NULL;
            p = boot + boot_used;
            boot_used += (want + 15) & ~(size_t) 15;
            return p;
        }
        init();
    }
    if (should_fail(__builtin_return_address(0))) {
        errno = ENOMEM;
        return NULL;
    }
    return real_calloc(n, size);
}

void *
realloc(void *p, size_t n)
{
    init();
    if (should_fail(__builtin_return_address(0))) {
        errno = ENOMEM;
        return NULL;
    }
    return real_realloc(p, n);
}

void
free(void *p)
{
    static void (*real_free)(void *);

    if ((char *) p >= boot && (char *) p < boot + sizeof(boot))
        return;
    if (real_free == NULL)
        real_free = dlsym(RTLD_NEXT, "free");
    real_free(p);
}
