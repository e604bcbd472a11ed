/* bmatch.c - the pure string work of the pool (see bmatch.h). */
#include <stdio.h>
#include <string.h>
#include <json-c/json.h>
#include "bmatch.h"
#include "resp.h"
#include "sopt.h"

unsigned bmatch_lock_backend(const char *prefix, const char *lock)
{
	size_t n = strlen(prefix);
	const char *p, *colon;
	unsigned long id = 0;

	if (!lock || strncmp(lock, prefix, n) != 0 || strncmp(lock + n, ":slot:", 6) != 0)
		return 0;
	p = lock + n + 6;
	colon = strchr(p, ':');
	if (!colon)
		return 0;
	for (; p < colon && *p >= '0' && *p <= '9'; p++)
		id = id * 10 + (unsigned long)(*p - '0');
	return (unsigned)id;
}

int bmatch_glob(const char *pat, size_t n, const char *s)
{
	const char *star = NULL, *ss = s;
	size_t i = 0, si = 0;

	/* the classic backtracking match: at most one star remembered */
	while (*s) {
		if (i < n && pat[i] == '*') {
			star = pat + i++;
			ss = s;
			si = i;
		} else if (i < n && pat[i] == *s) {
			i++;
			s++;
		} else if (star) {
			i = si;
			s = ++ss;
		} else {
			return 0;
		}
	}
	while (i < n && pat[i] == '*')
		i++;
	return i == n;
}

int bmatch_list(const char *list, int map, const char *model,
			char *target, size_t cap)
{
	const char *p = list, *e, *eq, *a, *z;

	while (p && *p) {
		e = strchr(p, ',');
		if (!e)
			e = p + strlen(p);
		eq = map ? memchr(p, '=', (size_t)(e - p)) : NULL;
		a = p;
		z = eq ? eq : e;
		while (a < z && (*a == ' ' || *a == '\t'))
			a++;
		while (z > a && (z[-1] == ' ' || z[-1] == '\t'))
			z--;
		if (z > a && (!map || eq) && bmatch_glob(a, (size_t)(z - a), model)) {
			if (target && eq) {
				const char *t = eq + 1, *te = e;
				while (t < te && (*t == ' ' || *t == '\t'))
					t++;
				while (te > t && (te[-1] == ' ' || te[-1] == '\t'))
					te--;
				snprintf(target, cap, "%.*s", (int)(te - t), t);
			}
			return 1;
		}
		p = *e ? e + 1 : e;
	}
	return 0;
}

int bmatch_splice_model(const char *body, size_t len, const char *model, struct buf *out)
{
	struct json_object *s;
	size_t vs = 0, ve = 0;
	int rc = -1;

	if (sopt_top_member(body, len, "model", &vs, &ve) != 1 || body[vs] != '"')
		return -1;
	s = json_object_new_string(model);
	if (!s)
		return -1;
	if (!buf_append(out, body, vs) &&
	    !buf_puts(out, json_object_to_json_string_ext(s, RESP_JSON_FLAGS)) &&
	    !buf_append(out, body + ve, len - ve))
		rc = 0;
	json_object_put(s);
	return rc;
}
