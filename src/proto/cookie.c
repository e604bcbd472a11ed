/* cookie.c - Cookie header lookup and the Set-Cookie line. See cookie.h. */
#include <stdio.h>
#include <string.h>
#include "cookie.h"

/* 1 if c may appear in a cookie value (RFC 6265 cookie-octet). */
static int cookie_octet(unsigned char c)
{
	return c == 0x21 || (c >= 0x23 && c <= 0x2b) || (c >= 0x2d && c <= 0x3a) ||
	       (c >= 0x3c && c <= 0x5b) || (c >= 0x5d && c <= 0x7e);
}

/* 1 if s is 1.. characters of [A-Za-z0-9_-]: what we ever set. */
static int cookie_token_ok(const char *s)
{
	size_t n = strlen(s);

	return n > 0 && strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
			       "0123456789_-") == n;
}

/* See cookie.h. The header is walked pair by pair; a pair is split at its
 * first '=', names are compared exactly (cookie names are case-sensitive),
 * optional whitespace around pairs is skipped. */
int cookie_get(const char *header, const char *name, char *out, size_t outlen)
{
	const char *p = header, *e, *eq, *v, *ve;
	size_t nlen, vlen, i;

	if (!header || !name)
		return -1;
	nlen = strlen(name);
	while (*p) {
		while (*p == ' ' || *p == '\t' || *p == ';')
			p++;
		if (!*p)
			break;
		for (e = p; *e && *e != ';'; e++)
			;
		eq = memchr(p, '=', (size_t)(e - p));
		if (eq && (size_t)(eq - p) == nlen && memcmp(p, name, nlen) == 0)
			goto found;
		p = e;
	}
	return -1;
found:
	v = eq + 1;
	ve = e;
	while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
		ve--;
	if (ve - v >= 2 && v[0] == '"' && ve[-1] == '"') {
		v++;
		ve--;
	}
	vlen = (size_t)(ve - v);
	if (vlen + 1 > outlen)
		goto bad;
	for (i = 0; i < vlen; i++)
		if (!cookie_octet((unsigned char)v[i]))
			goto bad;
	memcpy(out, v, vlen);
	out[vlen] = '\0';
	return (int)vlen;
bad:
	if (outlen)
		out[0] = '\0';
	return -2;
}

/* See cookie.h. The caller owns out. */
int cookie_set_line(char *out, size_t outlen, const char *name,
		    const char *value, long max_age, int secure)
{
	int n;

	if (!cookie_token_ok(name) || (*value && !cookie_token_ok(value)) ||
	    max_age < 0)
		return -1;
	n = snprintf(out, outlen, "Set-Cookie: %s=%s; Path=/; HttpOnly;"
		     " SameSite=Strict; Max-Age=%ld%s\r\n", name, value, max_age,
		     secure ? "; Secure" : "");
	return n < 0 || (size_t)n >= outlen ? -1 : 0;
}
