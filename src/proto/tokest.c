/* tokest.c - local token estimate. */
#include <limits.h>
#include <string.h>
#include <json-c/json.h>
#include "fmt.h"
#include "tokest.h"

long long tokest_text(const char *s, size_t n)
{
	long long ascii = 0, other = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x80)
			ascii++;
		else if ((c & 0xC0) != 0x80)
			other++;      /* the lead byte of a UTF-8 sequence */
	}
	return (ascii + 3) / 4 + other;
}

/* Sums over the borrowed value o; `key` is the member name it sits under
 * (NULL in arrays). Recursion is bounded by the parser's depth limit. */
static long long tokest_walk(struct json_object *o, const char *key)
{
	long long t = 0;
	size_t i, n;

	switch (json_object_get_type(o)) {
	case json_type_string:
		if (key && strcmp(key, "model") == 0)
			return 0;
		return tokest_text(json_object_get_string(o),
				   (size_t)json_object_get_string_len(o));
	case json_type_array:
		n = json_object_array_length(o);
		for (i = 0; i < n; i++)
			t += tokest_walk(json_object_array_get_idx(o, i), NULL);
		return t;
	case json_type_object: {
		json_object_object_foreach(o, k, v)
			t += tokest_walk(v, k);
		return t + 3;
	}
	default:
		return 0;
	}
}

long long tokest_count(const char *body, size_t len)
{
	struct json_tokener *tok;
	struct json_object *o;
	long long t = -1;

	if (!body || len == 0 || len > INT_MAX)
		return -1;
	tok = json_tokener_new_ex(FMT_MAX_DEPTH);
	if (!tok)
		return -1;
	o = json_tokener_parse_ex(tok, body, (int)len);
	if (json_tokener_get_error(tok) == json_tokener_success &&
	    json_object_is_type(o, json_type_object))
		t = tokest_walk(o, NULL);
	json_object_put(o);
	json_tokener_free(tok);
	return t;
}
