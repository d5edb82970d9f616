/* SPDX-License-Identifier: ISC */
/* clock.h: a monotonic clock for timings and timeouts. */
#ifndef UTIL_CLOCK_H
#define UTIL_CLOCK_H

/* Milliseconds of CLOCK_MONOTONIC (an arbitrary origin); any thread. */
double clock_ms(void);

#endif
