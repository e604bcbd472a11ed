/* hdrpass.c - the upstream response header allow-list. */
#include <string.h>
#include <strings.h>
#include "hdrpass.h"

/* 1 if the n bytes at s start with the lower-case prefix p, ignoring case. */
static int hp_prefix(const char *s, size_t n, const char *p)
{
	size_t m = strlen(p);

	return n >= m && strncasecmp(s, p, m) == 0;
}

/* 1 if the n bytes at s are exactly the word w, ignoring case. */
static int hp_is(const char *s, size_t n, const char *w)
{
	return strlen(w) == n && strncasecmp(s, w, n) == 0;
}

int hdrpass_allowed(const char *name, size_t n)
{
	return hp_is(name, n, "retry-after") || hp_is(name, n, "retry-after-ms") ||
	       hp_is(name, n, "x-request-id") || hp_is(name, n, "request-id") ||
	       (hp_prefix(name, n, "anthropic-ratelimit-") && n > 20) ||
	       (hp_prefix(name, n, "x-ratelimit-") && n > 12);
}

int hdrpass_is_own(const char *name, size_t n)
{
	return hp_is(name, n, "x-ratelimit-limit-requests") ||
	       hp_is(name, n, "x-ratelimit-remaining-requests") ||
	       hp_is(name, n, "x-ratelimit-remaining-tokens") ||
	       hp_is(name, n, "x-ratelimit-reset-requests");
}

/* 1 for a byte allowed in a header name (RFC 9110 token). */
static int hp_tchar(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* The borrowed line is parsed in place; out belongs to the caller. */
int hdrpass_add(char *out, size_t cap, size_t *len, const char *line, size_t n)
{
	size_t i, nl, vs, ve, need;

	if (!cap || *len >= cap)
		return 0;
	/* strip the line end curl hands over */
	while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		n--;
	for (nl = 0; nl < n && hp_tchar((unsigned char)line[nl]); nl++)
		;
	if (nl == 0 || nl >= n || line[nl] != ':' || !hdrpass_allowed(line, nl))
		return 0;
	for (vs = nl + 1; vs < n && (line[vs] == ' ' || line[vs] == '\t'); vs++)
		;
	for (ve = n; ve > vs && (line[ve - 1] == ' ' || line[ve - 1] == '\t'); ve--)
		;
	if (ve == vs)
		return 0;
	for (i = vs; i < ve; i++)
		if ((unsigned char)line[i] < 0x20 && line[i] != '\t')
			return 0;    /* a CR, LF or NUL inside: drop it whole */
		else if ((unsigned char)line[i] == 0x7f)
			return 0;
	need = nl + 2 + (ve - vs) + 2;
	if (need >= cap - *len)
		return 0;
	for (i = 0; i < nl; i++) {
		char c = line[i];
		out[*len + i] = (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
	}
	*len += nl;
	memcpy(out + *len, ": ", 2);
	*len += 2;
	memcpy(out + *len, line + vs, ve - vs);
	*len += ve - vs;
	memcpy(out + *len, "\r\n", 2);
	*len += 2;
	out[*len] = '\0';
	return 1;
}

/* Both buffers are the caller's; `in` is NUL-terminated. */
size_t hdrpass_copy(char *out, size_t cap, const char *in, int drop_own)
{
	size_t len = 0;
	const char *p = in, *eol, *colon;

	if (!cap)
		return 0;
	out[0] = '\0';
	while (*p) {
		eol = strstr(p, "\r\n");
		if (!eol)
			break;
		colon = memchr(p, ':', (size_t)(eol - p));
		if (!(drop_own && colon && hdrpass_is_own(p, (size_t)(colon - p))))
			hdrpass_add(out, cap, &len, p, (size_t)(eol + 2 - p));
		p = eol + 2;
	}
	return len;
}
