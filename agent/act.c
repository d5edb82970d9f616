/* SPDX-License-Identifier: ISC */
/* act.c: screenshot pixels -> CSS pixels for Input.dispatchMouseEvent. */
#include "config.h"

#include <math.h>

#include "agent/act.h"

int
act_to_css(double x, double y, int w, int h, double dpr, double *cx, double *cy,
           struct err *e)
{
	if (!(dpr > 0) || !isfinite(dpr) || w <= 0 || h <= 0)
		return err_set(e, "bad screenshot geometry %dx%d at ratio %g",
		               w, h, dpr);
	if (!isfinite(x) || !isfinite(y) || x < 0 || y < 0 || x > w || y > h)
		return err_set(e,
		               "point (%g, %g) lies outside the %dx%d "
		               "screenshot",
		               x, y, w, h);
	*cx = x / dpr;
	*cy = y / dpr;
	return 0;
}
