/* fuzz_tmpl.c - libFuzzer target for tmpl_render.
 *
 * Input layout: byte 0 = output cap (x 16 bytes; 255 = 1 MiB), the rest is
 * the template, copied into an exactly-sized heap block with no NUL after
 * it so ASan sees any read past len.
 *
 * Checks, with a few fixed variables whose values are hostile ("<x>",
 * quotes, "</script>"):
 *  - no < > " ' comes out of a TMPL_HTML or TMPL_JS_STRING value: each of
 *    them appears in the output exactly as often as in the template text
 *    (so "<x>" can only appear where the template's own bytes spell it,
 *    e.g. "<x@@nul@@>", never from the value "<x>");
 *  - the output equals that of a naive reference renderer written
 *    independently below (or is a prefix of it when the cap was hit);
 *  - the cap is never exceeded and the unknown count matches. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "tmpl.h"

#define CHECK(x) do { if (!(x)) abort(); } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct tmpl_var vars[] = {
	{ "v", "<x>\"'&", TMPL_HTML },
	{ "name", "a<b", TMPL_HTML },
	{ "raw", "RAW-ok", TMPL_RAW },          /* trusted: no specials */
	{ "js", "</script>'\"\\", TMPL_JS_STRING },
	{ "nul", NULL, TMPL_HTML },
};
#define NVARS (sizeof(vars) / sizeof(vars[0]))

/* Appends s to the reference output at *o (room is guaranteed). */
static void ref_put(char **o, const char *s)
{
	size_t n = strlen(s);

	memcpy(*o, s, n);
	*o += n;
}

/* Reference escaping, one character at a time. */
static void ref_value(char **o, const struct tmpl_var *v)
{
	const char *s;

	if (!v->value)
		return;
	for (s = v->value; *s; s++) {
		char c = *s, one[2] = { c, 0 }, u[8];

		if (v->esc == TMPL_RAW) {
			ref_put(o, one);
		} else if (v->esc == TMPL_JS_STRING) {
			if (strchr("\\\"'<>&/`", c)) {
				static const char hex[] = "0123456789ABCDEF";
				memcpy(u, "\\u00", 4);
				u[4] = hex[(unsigned char)c >> 4];
				u[5] = hex[c & 0xf];
				u[6] = 0;
				ref_put(o, u);
			} else {
				ref_put(o, one);
			}
		} else {
			ref_put(o, c == '&' ? "&amp;" : c == '<' ? "&lt;" :
				c == '>' ? "&gt;" : c == '"' ? "&quot;" :
				c == '\'' ? "&#39;" : one);
		}
	}
}

/* 1 if c is a name character, spelled out differently from tmpl.c. */
static int ref_namec(unsigned char c)
{
	return c && strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
			   "0123456789_.-", c) != NULL;
}

/* Naive renderer: at each position, a complete placeholder or one byte.
 * Returns the output length; *unknown gets the unknown count. */
static size_t ref_render(const char *t, size_t n, char *out, size_t *unknown)
{
	char *o = out;
	size_t i = 0, k, nl, m;

	*unknown = 0;
	while (i < n) {
		if (i + 1 < n && t[i] == '@' && t[i + 1] == '@') {
			for (k = i + 2; k < n && ref_namec((unsigned char)t[k]); k++)
				;
			nl = k - (i + 2);
			if (nl >= 1 && nl <= TMPL_NAME_MAX && k + 1 < n &&
			    t[k] == '@' && t[k + 1] == '@') {
				for (m = 0; m < NVARS; m++)
					if (strlen(vars[m].name) == nl &&
					    memcmp(vars[m].name, t + i + 2, nl) == 0)
						break;
				if (m < NVARS)
					ref_value(&o, &vars[m]);
				else
					(*unknown)++;
				i = k + 2;
				continue;
			}
		}
		*o++ = t[i++];
	}
	return (size_t)(o - out);
}

/* Number of bytes equal to c in p[0..n). */
static size_t count(const char *p, size_t n, char c)
{
	size_t k = 0;

	while (n--)
		k += *p++ == c;
	return k;
}

/* Renders the input and checks it against the invariants above. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf out;
	size_t n, max, unknown = 0, ref_unknown, ref_len;
	char *t, *ref;
	enum relay_err rc;

	if (size < 1)
		return 0;
	max = data[0] == 255 ? (size_t)1 << 20 : (size_t)data[0] * 16;
	n = size - 1;
	t = malloc(n ? n : 1);
	/* each 5-byte "@@js@@" can become 66 bytes: 16x covers every case */
	ref = malloc(n * 16 + 16);
	CHECK(t && ref);
	if (n)
		memcpy(t, data + 1, n);
	buf_init(&out, max);
	rc = tmpl_render(t, n, vars, NVARS, &out, &unknown);
	ref_len = ref_render(t, n, ref, &ref_unknown);
	CHECK(rc == RE_OK || rc == RE_ETOOBIG);
	CHECK(out.len <= max);
	CHECK(out.len == 0 || out.data[out.len] == '\0');
	if (rc == RE_OK) {
		CHECK(out.len == ref_len);
		CHECK(unknown == ref_unknown);
		CHECK(count(out.data ? out.data : "", out.len, '<') == count(t, n, '<'));
		CHECK(count(out.data ? out.data : "", out.len, '>') == count(t, n, '>'));
		CHECK(count(out.data ? out.data : "", out.len, '"') == count(t, n, '"'));
		CHECK(count(out.data ? out.data : "", out.len, '\'') == count(t, n, '\''));
	} else {
		CHECK(ref_len > max);
	}
	/* what was written is always the start of the right answer */
	CHECK(out.len <= ref_len);
	CHECK(out.len == 0 || memcmp(out.data, ref, out.len) == 0);
	buf_free(&out);
	free(ref);
	free(t);
	return 0;
}
