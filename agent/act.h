/* SPDX-License-Identifier: ISC */
/*
 * act.h: turning pointd's answers into input events.  pointd answers in
 * pixels of the screenshot it was sent; Chromium's Input.dispatchMouseEvent
 * takes CSS pixels of the viewport.  A screenshot from Page.captureScreenshot
 * has devicePixelRatio device pixels per CSS pixel, so the mapping divides
 * by that ratio.  Pure functions.
 */
#ifndef AGENT_ACT_H
#define AGENT_ACT_H

#include "util/err.h"

/*
 * Map the point (x, y), in pixels of a w x h screenshot taken at device
 * pixel ratio dpr, to CSS pixels (*cx, *cy).  A point outside the image
 * or a non-positive ratio or size is an error (pointd never sends one, so
 * it means a protocol mix-up and nothing is clicked).
 */
int act_to_css(double x, double y, int w, int h, double dpr, double *cx,
               double *cy, struct err *e);

#endif
