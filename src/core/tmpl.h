/* tmpl.h - text templates with @@key@@ placeholders (after kcgi's
 * khttp_template), escaped at output time.
 *
 * A placeholder is "@@", a name of 1..TMPL_NAME_MAX characters from
 * [A-Za-z0-9_.-], then "@@". Anything else that contains "@@" is literal
 * text. Each variable says how its value is escaped, so a template author
 * cannot forget it: TMPL_HTML for every value that came from outside,
 * TMPL_RAW only for fragments built by code that escaped its own values.
 *
 * The renderer never reads past `len`, never allocates except through the
 * caller's capped struct buf, and keeps no state between calls. */
#ifndef RELAY_TMPL_H
#define RELAY_TMPL_H

#include <stddef.h>
#include "buf.h"
#include "err.h"

#define TMPL_NAME_MAX 64

enum tmpl_esc {
	TMPL_HTML,       /* & < > " ' become entities: text and quoted attributes */
	TMPL_RAW,        /* copied unchanged: trusted, pre-escaped HTML only */
	TMPL_JS_STRING   /* inside a '...' or "..." JS/JSON string literal in a
			  * <script>: see tmpl_escape_js() */
};

struct tmpl_var {
	const char *name;    /* placeholder name without the @@ */
	const char *value;   /* NUL-terminated; NULL renders as empty */
	enum tmpl_esc esc;
};

/* Renders text[0..len) into `out` (appending), replacing each placeholder by
 * the value of the first variable with that name, escaped as it asks.
 * A placeholder with no variable renders as nothing and is counted in
 * *unknown (if unknown is not NULL; it is set, not added to).
 * Returns RE_OK, RE_ETOOBIG when out's cap was reached (out then holds a
 * truncated page the caller must not send), or RE_ENOMEM.
 * The caller owns `out` and everything the arguments point to. */
enum relay_err tmpl_render(const char *text, size_t len,
			   const struct tmpl_var *vars, size_t nvars,
			   struct buf *out, size_t *unknown);

/* Appends s[0..n) to out with & < > " ' replaced by &amp; &lt; &gt;
 * &quot; &#39;. Other bytes (including NUL and UTF-8) pass unchanged. */
enum relay_err tmpl_escape_html(const char *s, size_t n, struct buf *out);

/* Appends s[0..n) to out escaped for the inside of a JavaScript (or JSON)
 * string literal that sits in an HTML <script> element or attribute: each of
 * \ " ' < > & / `, every byte below 0x20, 0x7f and U+2028/U+2029 becomes a
 * \uXXXX escape, so a value can end neither the string nor the script. */
enum relay_err tmpl_escape_js(const char *s, size_t n, struct buf *out);

/* The templates/ files compiled into every binary (tools/embed-templates.sh
 * writes them to build/templates.c). tmpl_files[tmpl_file_count] is a
 * {NULL, NULL, 0} terminator. The bytes are static and NUL-terminated
 * (the NUL is not counted in len). */
struct tmpl_file {
	const char *name;            /* file name without folder: "docs.html" */
	const unsigned char *data;
	size_t len;
};
extern const struct tmpl_file tmpl_files[];
extern const size_t tmpl_file_count;

#endif
