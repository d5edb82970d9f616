/* SPDX-License-Identifier: ISC */
/* clock.c: CLOCK_MONOTONIC in milliseconds. */
#include "config.h"

#include <time.h>

#include "util/clock.h"

double
clock_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}
