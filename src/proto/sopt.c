/* sopt.c - the include_usage splice (see sopt.h).
 *
 * json-c decides what the body means (is stream_options there, is
 * include_usage true); a small scanner finds where those members sit in
 * the text. The two must agree: the scanner compares keys decoded as
 * json-c decodes them (jkeys.h: "stream_\u006fptions" is stream_options),
 * and for duplicate keys json-c keeps the last one, so the scanner does
 * too. When the scanner still cannot follow the text (a body that is JSON
 * only to json-c's lenient mode: comments, single quotes), the body is
 * written anew from json-c's object with include_usage set: a body that
 * hides usage from the relay is never sent as it is (issue 25 point 3). */
#include <string.h>
#include <json-c/json.h>
#include "jkeys.h"
#include "sopt.h"

/* Nesting the scanner follows; deeper bodies are not edited. */
#define SOPT_DEPTH 64

static size_t sopt_ws(const char *s, size_t len, size_t i)
{
	while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
		i++;
	return i;
}

/* s[i] is '"': returns the index just past the closing quote, or 0. */
static size_t sopt_string(const char *s, size_t len, size_t i)
{
	for (i++; i < len; i++) {
		if (s[i] == '\\') {
			i++;
			continue;
		}
		if (s[i] == '"')
			return i + 1;
	}
	return 0;
}

/* Skips one value starting at s[i] (no leading space); returns the index
 * just past it, or 0 when the text is not what json-c accepted. */
static size_t sopt_value(const char *s, size_t len, size_t i)
{
	int depth = 0;

	if (i >= len)
		return 0;
	if (s[i] == '"')
		return sopt_string(s, len, i);
	if (s[i] != '{' && s[i] != '[') {
		while (i < len && !strchr(",}] \t\r\n", s[i]))
			i++;
		return i;
	}
	for (; i < len; i++) {
		if (s[i] == '"') {
			i = sopt_string(s, len, i);
			if (!i)
				return 0;
			i--;
		} else if (s[i] == '{' || s[i] == '[') {
			if (++depth > SOPT_DEPTH)
				return 0;
		} else if (s[i] == '}' || s[i] == ']') {
			if (--depth == 0)
				return i + 1;
		}
	}
	return 0;
}

/* In the object whose '{' is at s[open], finds the last member whose
 * decoded key is `key`: its value's span [*vs, *ve). 1 found, 0 not, -1 bad. */
static int sopt_member(const char *s, size_t len, size_t open, const char *key,
		       size_t *vs, size_t *ve)
{
	size_t i = sopt_ws(s, len, open + 1), k;
	int found = 0;

	if (i < len && s[i] == '}')
		return 0;
	while (i < len) {
		if (s[i] != '"' || !(k = sopt_string(s, len, i)))
			return -1;
		int match = jkeys_key_is(s, len, i, key);
		i = sopt_ws(s, len, k);
		if (i >= len || s[i] != ':')
			return -1;
		i = sopt_ws(s, len, i + 1);
		k = sopt_value(s, len, i);
		if (!k)
			return -1;
		if (match) {
			*vs = i;
			*ve = k;
			found = 1;
		}
		i = sopt_ws(s, len, k);
		if (i < len && s[i] == '}')
			return found;
		if (i >= len || s[i] != ',')
			return -1;
		i = sopt_ws(s, len, i + 1);
	}
	return -1;
}

/* out = body with [from, to) replaced by `ins`. */
static int sopt_edit(const char *s, size_t len, size_t from, size_t to,
		     const char *ins, struct buf *out)
{
	return buf_append(out, s, from) || buf_puts(out, ins) ||
		buf_append(out, s + to, len - to) ? -1 : 0;
}

/* Inserts a member right after the '{' at s[open] (with a comma unless
 * that object is empty). */
static int sopt_insert(const char *s, size_t len, size_t open,
		       const char *member, struct buf *out)
{
	size_t i = sopt_ws(s, len, open + 1);

	if (buf_append(out, s, open + 1) || buf_puts(out, member) ||
	    (i < len && s[i] != '}' && buf_puts(out, ",")) ||
	    buf_append(out, s + open + 1, len - open - 1))
		return -1;
	return 0;
}

/* The client's stream_options (o) says include_usage: true? */
static int sopt_client_asked(struct json_object *o)
{
	struct json_object *so, *iu;

	return json_object_object_get_ex(o, "stream_options", &so) &&
		json_object_object_get_ex(so, "include_usage", &iu) &&
		json_object_is_type(iu, json_type_boolean) &&
		json_object_get_boolean(iu);
}

/* Edits the text once the meaning is known; 0 or -1. */
static int sopt_rewrite(const char *s, size_t len, struct json_object *o,
			struct buf *out)
{
	size_t open = sopt_ws(s, len, 0), vs = 0, ve = 0, is, ie;
	struct json_object *so;
	int r;

	if (open >= len || s[open] != '{')
		return -1;
	if (!json_object_object_get_ex(o, "stream_options", &so))
		return sopt_insert(s, len, open,
				   "\"stream_options\":{\"include_usage\":true}", out);
	if (sopt_member(s, len, open, "stream_options", &vs, &ve) != 1)
		return -1;
	if (!json_object_is_type(so, json_type_object))
		return sopt_edit(s, len, vs, ve, "{\"include_usage\":true}", out);
	if (s[vs] != '{')
		return -1;
	if (!json_object_object_get_ex(so, "include_usage", NULL))
		return sopt_insert(s, len, vs, "\"include_usage\":true", out);
	r = sopt_member(s, len, vs, "include_usage", &is, &ie);
	if (r != 1)
		return -1;
	return sopt_edit(s, len, is, ie, "true", out);
}

/* Parses body as one JSON object (strict or not); NULL otherwise. The
 * caller owns the result. */
static struct json_object *sopt_parse(const char *body, size_t len, int strict)
{
	struct json_tokener *tok = json_tokener_new_ex(SOPT_DEPTH);
	struct json_object *o;

	if (!tok)
		return NULL;
	if (strict)
		json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	o = json_tokener_parse_ex(tok, body, (int)len);
	if (json_tokener_get_error(tok) != json_tokener_success ||
	    sopt_ws(body, len, json_tokener_get_parse_end(tok)) != len ||
	    !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		o = NULL;
	}
	json_tokener_free(tok);
	return o;
}

/* out = json-c's object o written anew with include_usage true (the
 * client's spacing and escapes are lost, its meaning is kept). */
static int sopt_reserialize(struct json_object *o, struct buf *out)
{
	struct json_object *so = NULL;
	const char *txt;

	if (!json_object_object_get_ex(o, "stream_options", &so) ||
	    !json_object_is_type(so, json_type_object)) {
		so = json_object_new_object();
		if (!so || json_object_object_add(o, "stream_options", so))
			return -1;
	}
	if (json_object_object_add(so, "include_usage", json_object_new_boolean(1)))
		return -1;
	txt = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
					     JSON_C_TO_STRING_NOSLASHESCAPE);
	buf_reset(out);
	return txt && !buf_puts(out, txt) ? 0 : -1;
}

enum sopt_result sopt_splice(const char *body, size_t len, struct buf *out)
{
	struct json_object *o;
	enum sopt_result res = SOPT_UNSURE;

	if (len == 0 || len > 0x7fffffff || memchr(body, '\0', len))
		return SOPT_UNSURE;
	/* Strict first: the scanner knows plain JSON only (json-c's lenient
	 * mode also takes comments and single quotes). */
	o = sopt_parse(body, len, 1);
	if (o && sopt_client_asked(o)) {
		res = SOPT_ASKED;
		goto out;
	}
	if (o && sopt_rewrite(body, len, o, out) == 0) {
		res = SOPT_ADDED;
		goto out;
	}
	buf_reset(out);
	if (!o)
		o = sopt_parse(body, len, 0);
	if (o && sopt_client_asked(o))
		res = SOPT_ASKED;
	else if (o && sopt_reserialize(o, out) == 0)
		res = SOPT_ADDED;
out:
	if (res != SOPT_ADDED)
		buf_reset(out);
	json_object_put(o);
	return res;
}

int sopt_usage_only(const char *json, size_t len)
{
	struct json_tokener *tok;
	struct json_object *o, *c, *u;
	int r = 0;

	if (len == 0 || len > 0x7fffffff)
		return 0;
	tok = json_tokener_new_ex(SOPT_DEPTH);
	if (!tok)
		return 0;
	o = json_tokener_parse_ex(tok, json, (int)len);
	if (json_tokener_get_error(tok) == json_tokener_success &&
	    json_object_object_get_ex(o, "choices", &c) &&
	    json_object_is_type(c, json_type_array) &&
	    json_object_array_length(c) == 0 &&
	    json_object_object_get_ex(o, "usage", &u) &&
	    json_object_is_type(u, json_type_object))
		r = 1;
	json_object_put(o);
	json_tokener_free(tok);
	return r;
}

int sopt_top_member(const char *body, size_t len, const char *key,
		    size_t *vs, size_t *ve)
{
	size_t open = sopt_ws(body, len, 0);

	if (open >= len || body[open] != '{')
		return -1;
	return sopt_member(body, len, open, key, vs, ve);
}
