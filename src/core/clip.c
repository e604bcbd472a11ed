/* clip.c - cutting a string at a character boundary (see clip.h). */
#include <string.h>
#include "clip.h"

size_t clip_utf8(const char *s, size_t n)
{
	size_t len = strlen(s);

	if (len <= n)
		return len;
	while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
		n--;
	return n;
}
