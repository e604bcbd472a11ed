/* csvg.h - server-rendered inline SVG bar charts for the console (no
 * script, no external resource: works under the strict CSP). */
#ifndef RELAY_CSVG_H
#define RELAY_CSVG_H

#include <stddef.h>
#include "buf.h"
#include "err.h"

/* One bar: a label under it (e.g. "12-01") and up to two stacked values,
 * `a` (main series) and `b` (drawn over a's bar, e.g. errors; b <= a is
 * not required, the taller one sets the scale). */
struct csvg_bar {
	const char *label;   /* borrowed; escaped on output; NULL = none */
	long long a, b;
};

/* Appends an <svg> element with n bars (n <= 400) to out: title (escaped,
 * also the accessible name), a y axis with the maximum, every bar with a
 * <title> tooltip "label: a (b)". Negative values count as 0. Returns
 * RE_OK, RE_EINVAL for n > 400, or the buffer's error. The caller owns
 * everything. */
enum relay_err csvg_bars(struct buf *out, const char *title,
			 const char *a_name, const char *b_name,
			 const struct csvg_bar *bars, size_t n);

#endif
