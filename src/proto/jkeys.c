/* jkeys.c - JSON member names decoded as json-c does (see jkeys.h). */
#include <string.h>
#include "jkeys.h"

/* Nesting jkeys_value follows; deeper values are "not followed". */
#define JKEYS_DEPTH 128

static size_t jk_ws(const char *s, size_t len, size_t i)
{
	while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
		i++;
	return i;
}

static int jk_hex4(const char *s, size_t len, size_t i, unsigned *v)
{
	unsigned r = 0;

	if (i + 4 > len)
		return -1;
	for (size_t k = i; k < i + 4; k++) {
		char c = s[k];
		r <<= 4;
		if (c >= '0' && c <= '9')
			r |= (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			r |= (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			r |= (unsigned)(c - 'A' + 10);
		else
			return -1;
	}
	*v = r;
	return 0;
}

/* Appends code point cp as UTF-8; sets *stop at a NUL (json-c's keys end
 * there). */
static void jk_put(char *out, size_t cap, size_t *n, unsigned cp, int *stop)
{
	unsigned char b[4];
	size_t k = 0;

	if (cp == 0) {
		*stop = 1;
		return;
	}
	if (cp < 0x80) {
		b[k++] = (unsigned char)cp;
	} else if (cp < 0x800) {
		b[k++] = (unsigned char)(0xC0 | (cp >> 6));
		b[k++] = (unsigned char)(0x80 | (cp & 0x3F));
	} else if (cp < 0x10000) {
		b[k++] = (unsigned char)(0xE0 | (cp >> 12));
		b[k++] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
		b[k++] = (unsigned char)(0x80 | (cp & 0x3F));
	} else {
		b[k++] = (unsigned char)(0xF0 | (cp >> 18));
		b[k++] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
		b[k++] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
		b[k++] = (unsigned char)(0x80 | (cp & 0x3F));
	}
	for (size_t j = 0; j < k; j++) {
		if (*n + 1 >= cap) {
			*n = cap;
			return;
		}
		out[(*n)++] = (char)b[j];
	}
}

/* The escape at s[i] (its backslash); the index after it, or 0. */
static size_t jk_escape(const char *s, size_t len, size_t i, unsigned *cp)
{
	static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
	const char *p;
	unsigned lo;

	if (i + 1 >= len)
		return 0;
	if (s[i + 1] != 'u') {
		p = s[i + 1] ? strchr(from, s[i + 1]) : NULL;
		if (!p)
			return 0;
		*cp = (unsigned char)to[p - from];
		return i + 2;
	}
	if (jk_hex4(s, len, i + 2, cp))
		return 0;
	i += 6;
	/* a high surrogate followed by a low one is one code point */
	if (*cp >= 0xD800 && *cp < 0xDC00 && i + 1 < len && s[i] == '\\' &&
	    s[i + 1] == 'u' && !jk_hex4(s, len, i + 2, &lo) &&
	    lo >= 0xDC00 && lo < 0xE000) {
		*cp = 0x10000 + ((*cp - 0xD800) << 10) + (lo - 0xDC00);
		i += 6;
	}
	return i;
}

size_t jkeys_string(const char *s, size_t len, size_t i, char *out, size_t cap,
		    size_t *n)
{
	int stop = 0, raw;
	unsigned cp;

	*n = 0;
	for (i++; i < len; ) {
		if (s[i] == '"')
			break;
		raw = s[i] != '\\';
		if (!raw) {
			i = jk_escape(s, len, i, &cp);
			if (!i)
				return 0;
		} else {
			cp = (unsigned char)s[i++];
			if (cp < 0x20)
				return 0;     /* a raw control byte: not JSON */
		}
		if (stop || *n >= cap)
			continue;
		if (raw && cp >= 0x80) {
			/* raw UTF-8 bytes pass as they are */
			if (*n + 1 >= cap)
				*n = cap;
			else
				out[(*n)++] = (char)cp;
		} else {
			jk_put(out, cap, n, cp, &stop);
		}
	}
	if (i >= len)
		return 0;
	if (cap)
		out[*n < cap ? *n : cap - 1] = '\0';
	return i + 1;
}

/* The index just past the string at s[i] (no decoding), or 0. */
static size_t jk_skip_string(const char *s, size_t len, size_t i)
{
	for (i++; i < len; i++) {
		if (s[i] == '\\')
			i++;
		else if (s[i] == '"')
			return i + 1;
	}
	return 0;
}

size_t jkeys_value(const char *s, size_t len, size_t i)
{
	int depth = 0;

	if (i >= len)
		return 0;
	if (s[i] == '"')
		return jk_skip_string(s, len, i);
	if (s[i] != '{' && s[i] != '[') {
		size_t st = i;
		while (i < len && !strchr(",}] \t\r\n", s[i]) && s[i])
			i++;
		return i > st ? i : 0;
	}
	for (; i < len; i++) {
		if (s[i] == '"') {
			i = jk_skip_string(s, len, i);
			if (!i)
				return 0;
			i--;
		} else if (s[i] == '{' || s[i] == '[') {
			if (++depth > JKEYS_DEPTH)
				return 0;
		} else if (s[i] == '}' || s[i] == ']') {
			if (--depth == 0)
				return i + 1;
		}
	}
	return 0;
}

int jkeys_key_is(const char *s, size_t len, size_t i, const char *name)
{
	char k[JKEYS_NAME_MAX + 1];
	size_t n;

	if (i >= len || s[i] != '"' || !jkeys_string(s, len, i, k, sizeof(k), &n))
		return 0;
	return n < sizeof(k) && strcmp(k, name) == 0;
}

/* The deciding keys; stream_options' include_usage is counted apart. */
static const char *const jk_names[] = {
	"model", "stream", "stream_options", "previous_response_id", "background"
};
#define JK_N (sizeof(jk_names) / sizeof(jk_names[0]))
#define JK_SO 2                 /* jk_names[JK_SO] is stream_options */
#define JK_NONE ((size_t)-1)    /* track no value's span */

/* Counts the members of the object at s[open] per name (seen[], sized
 * like names); the span of the last value of names[track] goes to
 * vs and ve. 0, or -1 when the object cannot be followed. */
static int jk_count(const char *s, size_t len, size_t open, const char *const *names,
		    size_t nn, int *seen, size_t track, size_t *vs, size_t *ve)
{
	char k[JKEYS_NAME_MAX + 1];
	size_t i = jk_ws(s, len, open + 1), e, n, j, hit;

	if (i < len && s[i] == '}')
		return 0;
	while (i < len) {
		if (s[i] != '"' || !(e = jkeys_string(s, len, i, k, sizeof(k), &n)))
			return -1;
		for (hit = nn, j = 0; n < sizeof(k) && j < nn; j++)
			if (strcmp(k, names[j]) == 0)
				hit = j;
		i = jk_ws(s, len, e);
		if (i >= len || s[i] != ':')
			return -1;
		i = jk_ws(s, len, i + 1);
		if (!(e = jkeys_value(s, len, i)))
			return -1;
		if (hit < nn) {
			seen[hit]++;
			if (hit == track) {
				*vs = i;
				*ve = e;
			}
		}
		i = jk_ws(s, len, e);
		if (i < len && s[i] == '}')
			return 0;
		if (i >= len || s[i] != ',')
			return -1;
		i = jk_ws(s, len, i + 1);
	}
	return -1;
}

const char *jkeys_dup(const char *body, size_t len)
{
	static const char *const inner[] = { "include_usage" };
	int seen[JK_N] = { 0 }, iseen[1] = { 0 };
	size_t open = jk_ws(body, len, 0), vs = 0, ve = 0, j, us, ue;

	if (open >= len || body[open] != '{' ||
	    jk_count(body, len, open, jk_names, JK_N, seen, JK_SO, &vs, &ve))
		return NULL;
	for (j = 0; j < JK_N; j++)
		if (seen[j] > 1)
			return jk_names[j];
	if (seen[JK_SO] == 1 && body[vs] == '{' &&
	    jk_count(body, ve, vs, inner, 1, iseen, JK_NONE, &us, &ue) == 0 && iseen[0] > 1)
		return "stream_options.include_usage";
	return NULL;
}
