/*
 * sorted.h - the position of a value in a sorted array of uint32_t (the
 * residual slots of a user model, the sender memory's candidate ids).
 */
#ifndef SPAMSHIFT_SORTED_H
#define SPAMSHIFT_SORTED_H

#include <stddef.h>
#include <stdint.h>

/* The index of x in v[0..n) (ascending, no duplicates), or -1. */
static inline long
sorted_u32_find(const uint32_t *v, size_t n, uint32_t x)
{
    size_t lo = 0, hi = n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (v[mid] < x)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && v[lo] == x ? (long) lo : -1;
}

#endif
