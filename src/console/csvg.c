/* csvg.c - inline SVG bar charts. See csvg.h.
 *
 * Geometry is integer arithmetic in a fixed 640x200 viewBox (the browser
 * scales it), so the output is deterministic and easy to test. Every text
 * that came from data goes through tmpl_escape_html. */
#include "csvg.h"
#include "tmpl.h"

#define CSVG_W 640
#define CSVG_H 200
#define CSVG_LEFT 48     /* room for the y axis labels */
#define CSVG_BOTTOM 24   /* room for the x labels */
#define CSVG_TOP 10
#define CSVG_MAXBARS 400

/* Appends an escaped NUL-terminated string (NULL = nothing). */
static enum relay_err csvg_text(struct buf *out, const char *s)
{
	size_t n = 0;

	if (!s)
		return RE_OK;
	while (s[n])
		n++;
	return tmpl_escape_html(s, n, out);
}

/* The bars themselves; split from csvg_bars to keep each part short. */
static enum relay_err csvg_draw(struct buf *out, const char *a_name,
				const char *b_name, const struct csvg_bar *bars,
				size_t n, long long max)
{
	long long plot_h = CSVG_H - CSVG_TOP - CSVG_BOTTOM;
	long long slot = (CSVG_W - CSVG_LEFT) / (long long)(n ? n : 1);
	long long bw = slot > 3 ? slot - 2 : 1;
	size_t i, every = n > 15 ? (n + 9) / 10 : 1;   /* at most ~10 labels */
	enum relay_err rc = RE_OK;

	for (i = 0; i < n && !rc; i++) {
		long long a = bars[i].a > 0 ? bars[i].a : 0;
		long long b = bars[i].b > 0 ? bars[i].b : 0;
		long long ha = max ? a * plot_h / max : 0;
		long long hb = max ? b * plot_h / max : 0;
		long long x = CSVG_LEFT + (long long)i * slot + 1;

		rc = buf_printf(out, "<g class=\"bar\"><title>");
		if (!rc) rc = csvg_text(out, bars[i].label);
		if (!rc) rc = buf_printf(out, ": %lld ", a);
		if (!rc) rc = csvg_text(out, a_name);
		if (!rc && b_name) {
			rc = buf_printf(out, ", %lld ", b);
			if (!rc) rc = csvg_text(out, b_name);
		}
		if (!rc) rc = buf_printf(out, "</title><rect class=\"a\" x=\"%lld\" y=\"%lld\""
					 " width=\"%lld\" height=\"%lld\" fill=\"#4a7bd0\"/>",
					 x, CSVG_H - CSVG_BOTTOM - ha, bw, ha);
		if (!rc && b_name && hb)
			rc = buf_printf(out, "<rect class=\"b\" x=\"%lld\" y=\"%lld\" width=\"%lld\""
					" height=\"%lld\" fill=\"#d04a4a\"/>",
					x, CSVG_H - CSVG_BOTTOM - hb, bw, hb);
		if (!rc && bars[i].label && (i % every == 0 || i == n - 1)) {
			rc = buf_printf(out, "<text x=\"%lld\" y=\"%d\" font-size=\"10\""
					" text-anchor=\"middle\">", x + bw / 2, CSVG_H - 8);
			if (!rc) rc = csvg_text(out, bars[i].label);
			if (!rc) rc = buf_puts(out, "</text>");
		}
		if (!rc) rc = buf_puts(out, "</g>");
	}
	return rc;
}

/* See csvg.h. */
enum relay_err csvg_bars(struct buf *out, const char *title,
			 const char *a_name, const char *b_name,
			 const struct csvg_bar *bars, size_t n)
{
	long long max = 0;
	enum relay_err rc;
	size_t i;

	if (n > CSVG_MAXBARS)
		return RE_EINVAL;
	for (i = 0; i < n; i++) {
		if (bars[i].a > max) max = bars[i].a;
		if (bars[i].b > max) max = bars[i].b;
	}
	rc = buf_printf(out, "<svg class=\"chart\" xmlns=\"http://www.w3.org/2000/svg\""
			" viewBox=\"0 0 %d %d\" role=\"img\" aria-label=\"", CSVG_W, CSVG_H);
	if (!rc) rc = csvg_text(out, title);
	if (!rc) rc = buf_puts(out, "\"><title>");
	if (!rc) rc = csvg_text(out, title);
	if (!rc) rc = buf_printf(out, "</title><line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\""
				 " stroke=\"#888\"/><line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\""
				 " stroke=\"#888\"/><text x=\"%d\" y=\"%d\" font-size=\"10\""
				 " text-anchor=\"end\">%lld</text><text x=\"%d\" y=\"%d\""
				 " font-size=\"10\" text-anchor=\"end\">0</text>",
				 CSVG_LEFT, CSVG_TOP, CSVG_LEFT, CSVG_H - CSVG_BOTTOM,
				 CSVG_LEFT, CSVG_H - CSVG_BOTTOM, CSVG_W, CSVG_H - CSVG_BOTTOM,
				 CSVG_LEFT - 4, CSVG_TOP + 8, max,
				 CSVG_LEFT - 4, CSVG_H - CSVG_BOTTOM);
	if (!rc) rc = csvg_draw(out, a_name, b_name, bars, n, max);
	if (!rc) rc = buf_puts(out, "</svg>");
	return rc;
}
