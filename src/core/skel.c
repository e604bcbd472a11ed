/* skel.c - user name skeletons. See skel.h. */
#include <string.h>
#include "skel.h"

struct skel_pair {
	unsigned cp;
	char to;
};

/* Capitals that look like a Latin capital whose small letter does not
 * look like the Latin small one (Greek Nu is N, its nu looks like v):
 * looked up before folding. */
static const struct skel_pair skel_caps[] = {
	{ 0x0391, 'a' }, { 0x0392, 'b' }, { 0x0395, 'e' }, { 0x0396, 'z' },
	{ 0x0397, 'h' }, { 0x0399, 'i' }, { 0x039A, 'k' }, { 0x039C, 'm' },
	{ 0x039D, 'n' }, { 0x039F, 'o' }, { 0x03A1, 'p' }, { 0x03A4, 't' },
	{ 0x03A5, 'y' }, { 0x03A7, 'x' },
	{ 0x0410, 'a' }, { 0x0412, 'b' }, { 0x0415, 'e' }, { 0x041A, 'k' },
	{ 0x041C, 'm' }, { 0x041D, 'h' }, { 0x041E, 'o' }, { 0x0420, 'p' },
	{ 0x0421, 'c' }, { 0x0422, 't' }, { 0x0423, 'y' }, { 0x0425, 'x' },
	{ 0x0405, 's' }, { 0x0406, 'i' }, { 0x0408, 'j' }, { 0x0500, 'd' },
	{ 0x04C0, 'l' },
};

/* Look-alikes of a Latin letter (after case folding). */
static const struct skel_pair skel_map[] = {
	/* Greek */
	{ 0x03B1, 'a' }, { 0x03B2, 'b' }, { 0x03B5, 'e' }, { 0x03B6, 'z' },
	{ 0x03B7, 'h' }, { 0x03B9, 'i' }, { 0x03BA, 'k' }, { 0x03BC, 'm' },
	{ 0x03BD, 'v' }, { 0x03BF, 'o' }, { 0x03C1, 'p' }, { 0x03C4, 't' },
	{ 0x03C5, 'u' }, { 0x03C7, 'x' },
	/* Cyrillic */
	{ 0x0430, 'a' }, { 0x0432, 'b' }, { 0x0435, 'e' }, { 0x043A, 'k' },
	{ 0x043C, 'm' }, { 0x043D, 'h' }, { 0x043E, 'o' }, { 0x0440, 'p' },
	{ 0x0441, 'c' }, { 0x0442, 't' }, { 0x0443, 'y' }, { 0x0445, 'x' },
	{ 0x0455, 's' }, { 0x0456, 'i' }, { 0x0458, 'j' }, { 0x04BB, 'h' },
	{ 0x04CF, 'l' }, { 0x0501, 'd' }, { 0x051B, 'q' }, { 0x051D, 'w' },
	/* Latin */
	{ 0x0131, 'i' }, { 0x0261, 'g' },
};

/* Case folding by offset (the look-alike capitals are skel_caps'). */
static unsigned skel_fold(unsigned cp)
{
	if (cp >= 'A' && cp <= 'Z')
		return cp + 32;
	if ((cp >= 0xC0 && cp <= 0xDE && cp != 0xD7) ||
	    (cp >= 0x0391 && cp <= 0x03A9 && cp != 0x03A2 && cp != 0x03A5) ||
	    (cp >= 0x0410 && cp <= 0x042F))
		return cp + 32;
	if (cp >= 0x0400 && cp <= 0x040F)
		return cp + 80;
	if ((cp >= 0x0500 && cp <= 0x052F && !(cp & 1)) || cp == 0x04BA)
		return cp + 1;
	if (cp == 0x04C0)
		return 0x04CF;
	if (cp >= 0xFF01 && cp <= 0xFF5E)             /* fullwidth ASCII */
		return skel_fold(cp - 0xFF01 + 0x21);
	return cp;
}

/* cp's Latin look-alike in the table, else cp. */
static unsigned skel_look(const struct skel_pair *t, size_t n, unsigned cp)
{
	for (size_t i = 0; i < n; i++)
		if (t[i].cp == cp)
			return (unsigned char)t[i].to;
	return cp;
}

static int skel_invisible(unsigned cp)
{
	return cp == 0xAD || cp == 0x034F || cp == 0x180E || cp == 0xFEFF ||
	       (cp >= 0x0300 && cp <= 0x036F) || (cp >= 0x200B && cp <= 0x200F) ||
	       (cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2060 && cp <= 0x2064);
}

/* One code point from *p (strict UTF-8: no overlongs, no surrogates);
 * -1 on a bad sequence. */
static long skel_decode(const unsigned char **p)
{
	const unsigned char *s = *p;
	unsigned cp, n, min;

	if (s[0] < 0x80) {
		*p = s + 1;
		return s[0];
	}
	if (s[0] >= 0xC2 && s[0] <= 0xDF)
		n = 1, cp = s[0] & 0x1F, min = 0x80;
	else if (s[0] >= 0xE0 && s[0] <= 0xEF)
		n = 2, cp = s[0] & 0x0F, min = 0x800;
	else if (s[0] >= 0xF0 && s[0] <= 0xF4)
		n = 3, cp = s[0] & 0x07, min = 0x10000;
	else
		return -1;
	for (unsigned i = 1; i <= n; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return -1;      /* also stops at the NUL */
		cp = cp << 6 | (s[i] & 0x3F);
	}
	if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
		return -1;
	*p = s + n + 1;
	return (long)cp;
}

/* Appends cp as UTF-8; -1 when it does not fit (with the NUL). */
static int skel_put(char *out, size_t outlen, size_t *len, unsigned cp)
{
	unsigned char b[4];
	size_t n;

	if (cp < 0x80)
		b[0] = (unsigned char)cp, n = 1;
	else if (cp < 0x800)
		b[0] = (unsigned char)(0xC0 | cp >> 6), b[1] = (unsigned char)(0x80 | (cp & 0x3F)),
		n = 2;
	else if (cp < 0x10000)
		b[0] = (unsigned char)(0xE0 | cp >> 12),
		b[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3F)),
		b[2] = (unsigned char)(0x80 | (cp & 0x3F)), n = 3;
	else
		b[0] = (unsigned char)(0xF0 | cp >> 18),
		b[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3F)),
		b[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3F)),
		b[3] = (unsigned char)(0x80 | (cp & 0x3F)), n = 4;
	if (*len + n + 1 > outlen)
		return -1;
	memcpy(out + *len, b, n);
	*len += n;
	out[*len] = '\0';
	return 0;
}

int skel_name(const char *in, char *out, size_t outlen)
{
	const unsigned char *p = (const unsigned char *)in;
	size_t len = 0;

	if (!outlen)
		return -1;
	out[0] = '\0';
	while (*p) {
		long d = skel_decode(&p);
		unsigned cp;

		if (d < 0)
			return -1;
		cp = skel_look(skel_caps, sizeof(skel_caps) / sizeof(skel_caps[0]),
			       (unsigned)d);
		cp = skel_fold(cp);
		if (skel_invisible(cp))
			continue;
		cp = skel_look(skel_map, sizeof(skel_map) / sizeof(skel_map[0]), cp);
		if (cp == '0')
			cp = 'o';
		else if (cp == '1' || cp == '|')
			cp = 'l';
		if (skel_put(out, outlen, &len, cp))
			return -1;
	}
	return 0;
}
