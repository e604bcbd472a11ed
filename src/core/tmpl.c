/* tmpl.c - @@key@@ templates, escaped at output time. See tmpl.h. */
#include <string.h>
#include "tmpl.h"

/* 1 if c may appear in a placeholder name. Deliberately narrow (no spaces,
 * no '@', no markup) so that ordinary text such as "a@@b" or an e-mail
 * address near "@@" is never mistaken for a placeholder. */
static int tmpl_name_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
}

/* Appends s[0..n) with the five HTML special characters as entities.
 * Unescaped runs are copied in one append each, so a long plain value costs
 * one memcpy. The caller owns s and out. */
enum relay_err tmpl_escape_html(const char *s, size_t n, struct buf *out)
{
	enum relay_err rc;
	size_t i, run = 0;

	for (i = 0; i < n; i++) {
		const char *ent;

		switch (s[i]) {
		case '&': ent = "&amp;"; break;
		case '<': ent = "&lt;"; break;
		case '>': ent = "&gt;"; break;
		case '"': ent = "&quot;"; break;
		/* &#39; rather than &apos;, which HTML 4 does not know */
		case '\'': ent = "&#39;"; break;
		default: continue;
		}
		if (i > run && (rc = buf_append(out, s + run, i - run)) != RE_OK)
			return rc;
		if ((rc = buf_puts(out, ent)) != RE_OK)
			return rc;
		run = i + 1;
	}
	return buf_append(out, s + run, n - run);
}

/* Appends s[0..n) escaped for a JS string literal inside HTML (see tmpl.h).
 * \uXXXX is used for everything, even quotes and backslash, because it is
 * valid in JS and JSON strings alike, whatever the quote character. The
 * caller owns s and out. */
enum relay_err tmpl_escape_js(const char *s, size_t n, struct buf *out)
{
	static const char hex[] = "0123456789ABCDEF";
	enum relay_err rc;
	size_t i, run = 0;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		unsigned code;
		size_t skip = 1;
		char esc[6];

		if (c < 0x20 || c == 0x7f || c == '\\' || c == '"' || c == '\'' ||
		    c == '<' || c == '>' || c == '&' || c == '/' || c == '`') {
			code = c;
		} else if (c == 0xe2 && n - i >= 3 && (unsigned char)s[i + 1] == 0x80 &&
			   ((unsigned char)s[i + 2] == 0xa8 ||
			    (unsigned char)s[i + 2] == 0xa9)) {
			/* U+2028/U+2029 end a line in JS before ES2019 */
			code = 0x2000u | ((unsigned char)s[i + 2] ^ 0x80u);
			skip = 3;
		} else {
			continue;
		}
		if (i > run && (rc = buf_append(out, s + run, i - run)) != RE_OK)
			return rc;
		esc[0] = '\\';
		esc[1] = 'u';
		esc[2] = hex[(code >> 12) & 0xf];
		esc[3] = hex[(code >> 8) & 0xf];
		esc[4] = hex[(code >> 4) & 0xf];
		esc[5] = hex[code & 0xf];
		if ((rc = buf_append(out, esc, sizeof(esc))) != RE_OK)
			return rc;
		i += skip - 1;
		run = i + 1;
	}
	return buf_append(out, s + run, n - run);
}

/* The first variable called name[0..n), or NULL. */
static const struct tmpl_var *tmpl_find(const struct tmpl_var *vars,
					size_t nvars, const char *name, size_t n)
{
	size_t k;

	for (k = 0; k < nvars; k++)
		if (vars[k].name && strlen(vars[k].name) == n &&
		    memcmp(vars[k].name, name, n) == 0)
			return &vars[k];
	return NULL;
}

/* Appends one variable's value, escaped as the variable asks. An unknown
 * mode is treated as TMPL_HTML: failing safe beats failing open. */
static enum relay_err tmpl_emit(const struct tmpl_var *v, struct buf *out)
{
	size_t n;

	if (!v->value)
		return RE_OK;
	n = strlen(v->value);
	switch (v->esc) {
	case TMPL_RAW:
		return buf_append(out, v->value, n);
	case TMPL_JS_STRING:
		return tmpl_escape_js(v->value, n, out);
	case TMPL_HTML:
	default:
		return tmpl_escape_html(v->value, n, out);
	}
}

/* See tmpl.h. Literal text is copied in runs between placeholders; every
 * index is checked against len before it is read, so the text need not be
 * NUL-terminated. */
enum relay_err tmpl_render(const char *text, size_t len,
			   const struct tmpl_var *vars, size_t nvars,
			   struct buf *out, size_t *unknown)
{
	enum relay_err rc = RE_OK;
	size_t i = 0, lit = 0, nunknown = 0;

	while (i < len) {
		const char *at = memchr(text + i, '@', len - i);
		const struct tmpl_var *v;
		size_t a, start, j;

		if (!at)
			break;
		a = (size_t)(at - text);
		i = a + 1;
		if (i >= len || text[i] != '@')
			continue;
		/* "@@" at a: a name, then "@@"? (one '@' of a longer run of
		 * them may still open a placeholder, so only step by one) */
		start = a + 2;
		for (j = start; j < len && j - start <= TMPL_NAME_MAX &&
		     tmpl_name_char((unsigned char)text[j]); j++)
			;
		if (j == start || j - start > TMPL_NAME_MAX || len - j < 2 ||
		    text[j] != '@' || text[j + 1] != '@')
			continue;
		if (a > lit && (rc = buf_append(out, text + lit, a - lit)) != RE_OK)
			goto out;
		v = tmpl_find(vars, nvars, text + start, j - start);
		if (v)
			rc = tmpl_emit(v, out);
		else
			nunknown++;
		if (rc != RE_OK)
			goto out;
		i = lit = j + 2;
	}
	if (len > lit)
		rc = buf_append(out, text + lit, len - lit);
out:
	if (unknown)
		*unknown = nunknown;
	return rc;
}
