/* allow.c - a model allow-list (allow.h). */
#include <string.h>
#include "allow.h"

int allow_model(const char *list, int set, const char *model)
{
	const char *p = list, *e, *s;
	size_t n = strlen(model);

	if (!set)
		return 1;
	while (p && *p) {
		e = strchr(p, ',');
		if (!e)
			e = p + strlen(p);
		s = p;
		while (s < e && (*s == ' ' || *s == '\t'))
			s++;
		while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
			e--;
		if ((e - s == 1 && *s == '*') ||
		    ((size_t)(e - s) == n && n && memcmp(s, model, n) == 0))
			return 1;
		p = strchr(p, ',');
		if (p)
			p++;
	}
	return 0;
}
