/*
 * clock.h - the monotonic clock in seconds, for elapsed times in logs, reports
 * and progress lines (never for dates: see time(2) for those).
 */
#ifndef SPAMSHIFT_CLOCK_H
#define SPAMSHIFT_CLOCK_H

#include <time.h>

static inline double
clock_seconds(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + ts.tv_nsec / 1e9;
}

#endif
