/* qs.c - query string lookup without allocation.
 *
 * The query string is read in place, one '&'-separated pair at a time; keys
 * are decoded on the fly while being compared, values straight into the
 * caller's buffer. Nothing past the terminating NUL of qs is ever read: a
 * %-escape is checked byte by byte, so "%" or "%4" at the very end stops
 * before the NUL. */
#include <limits.h>
#include <string.h>
#include "qs.h"

/* Value of one hex digit, or -1. */
static int hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/* Decodes one byte of [*pp, end) (*pp < end): '+' is a space, %XX a byte.
 * Returns the byte (0..255) and advances *pp, or -2 on a bad escape. */
static int dec_byte(const char **pp, const char *end)
{
	const char *p = *pp;
	int hi, lo;

	if (*p == '+') {
		*pp = p + 1;
		return ' ';
	}
	if (*p != '%') {
		*pp = p + 1;
		return (unsigned char)*p;
	}
	/* p[1] is checked before p[2] is read: end is at most the NUL */
	if (end - p < 3 || (hi = hexval(p[1])) < 0 || (lo = hexval(p[2])) < 0)
		return -2;
	*pp = p + 3;
	return hi * 16 + lo;
}

/* 1 if the encoded key [p, end) decodes exactly to key. A key with a bad
 * escape or a %00 matches nothing: it cannot equal a C string. */
static int key_matches(const char *p, const char *end, const char *key)
{
	const unsigned char *k = (const unsigned char *)key;

	while (p < end) {
		int ch = dec_byte(&p, end);

		if (ch <= 0 || *k == '\0' || ch != *k)
			return 0;
		k++;
	}
	return *k == '\0';
}

/* See qs.h. qs and key are borrowed; out (caller's, outlen bytes) gets the
 * value. On -2 out holds "" (when outlen > 0); on -1 it is untouched. */
int qs_get(const char *qs, const char *key, char *out, size_t outlen)
{
	const char *s = qs, *e, *eq, *p;
	size_t o = 0;

	if (!qs || !key)
		return -1;
	while (*s) {
		for (e = s; *e && *e != '&'; e++)
			;
		eq = memchr(s, '=', (size_t)(e - s));
		if (e > s && key_matches(s, eq ? eq : e, key))
			goto found;
		s = *e ? e + 1 : e;
	}
	return -1;
found:
	for (p = eq ? eq + 1 : e; p < e;) {
		int ch = dec_byte(&p, e);

		if (ch <= 0 || o + 1 >= outlen || o >= INT_MAX)
			goto bad;
		out[o++] = (char)ch;
	}
	if (outlen == 0)
		return -2;
	out[o] = '\0';
	return (int)o;
bad:
	if (outlen)
		out[0] = '\0';
	return -2;
}
