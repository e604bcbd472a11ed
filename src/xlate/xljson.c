/* xljson.c - the translation module's own toolkit (xlpriv.h): notes,
 * parsing and serialising, json-c getters and setters. Below the three
 * translators (xlreq.c, xlresp.c, xsse.c) and the dispatcher (xlate.c),
 * so none of them calls another through it. */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <json-c/json.h>
#include "xlate.h"
#include "xlpriv.h"

/* Appends "; text" (or the first "text") unless the very same note is
 * already there: a request with 40 cache_control blocks logs it once. */
void xlate_note_add(struct xlate_note *n, const char *fmt, ...)
{
	char one[160];
	va_list ap;
	int w;
	size_t room;

	if (!n)
		return;
	va_start(ap, fmt);
	w = vsnprintf(one, sizeof one, fmt, ap);
	va_end(ap);
	if (w < 0)
		return;
	if (n->len && strstr(n->text, one))
		return;
	n->count++;
	room = sizeof n->text - n->len;
	if (room < 5)
		return;
	w = snprintf(n->text + n->len, room, "%s%s", n->len ? "; " : "", one);
	if (w < 0 || (size_t)w >= room) {
		/* full: end in "..." so the log shows it was cut */
		memcpy(n->text + sizeof n->text - 4, "...", 4);
		n->len = sizeof n->text - 1;
		return;
	}
	n->len += (size_t)w;
}

static int is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Strict, UTF-8 checked, depth-limited parse of exactly len bytes. */
struct json_object *xlate_parse(const char *s, size_t len)
{
	struct json_tokener *tok;
	struct json_object *obj = NULL;
	enum json_tokener_error e;
	size_t end;

	if (!s || len == 0 || len > INT_MAX)
		return NULL;
	tok = json_tokener_new_ex(FMT_MAX_DEPTH);
	if (!tok)
		return NULL;
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT |
				    JSON_TOKENER_VALIDATE_UTF8);
	obj = json_tokener_parse_ex(tok, s, (int)len);
	e = json_tokener_get_error(tok);
	end = json_tokener_get_parse_end(tok);
	if (e == json_tokener_continue) {
		/* a bare number needs an end mark (our own NUL, see fmt.c) */
		obj = json_tokener_parse_ex(tok, "", 1);
		e = json_tokener_get_error(tok);
		end = len;
	}
	if (e != json_tokener_success) {
		json_object_put(obj);
		obj = NULL;
		goto out;
	}
	for (; end < len; end++) {
		if (!is_ws(s[end])) {
			json_object_put(obj);
			obj = NULL;
			goto out;
		}
	}
out:
	json_tokener_free(tok);
	return obj;
}

enum relay_err xlate_dump(struct json_object *o, struct buf *out)
{
	size_t n;
	const char *s = json_object_to_json_string_length(
		o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &n);

	if (!s)
		return RE_ENOMEM;
	return buf_append(out, s, n);
}

/* ---- small json-c helpers shared by xlreq.c, xlresp.c, xsse.c ---- */

struct json_object *xl_get(struct json_object *o, const char *key)
{
	struct json_object *v = NULL;

	if (!o || !json_object_is_type(o, json_type_object))
		return NULL;
	if (!json_object_object_get_ex(o, key, &v))
		return NULL;
	return v;
}

const char *xl_str(struct json_object *o, const char *key)
{
	struct json_object *v = xl_get(o, key);

	if (!v || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

int xl_is(struct json_object *o, enum json_type t)
{
	return o && json_object_is_type(o, t);
}

int xl_streq(const char *a, const char *b)
{
	return a && b && strcmp(a, b) == 0;
}

long long xl_int(struct json_object *o, const char *key)
{
	struct json_object *v = xl_get(o, key);

	if (!v || !(json_object_is_type(v, json_type_int) ||
		    json_object_is_type(v, json_type_double)))
		return 0;
	return (long long)json_object_get_int64(v);
}

long long xl_count(struct json_object *o, const char *key)
{
	long long v = xl_int(o, key);

	return v < 0 ? 0 : v;
}

/* Adds key -> v to o; v is taken over (freed here if o refuses it). */
int xl_add(struct json_object *o, const char *key, struct json_object *v)
{
	if (json_object_object_add(o, key, v) != 0) {
		json_object_put(v);
		return -1;
	}
	return 0;
}

/* Adds a borrowed value, sharing it by reference count. */
int xl_add_ref(struct json_object *o, const char *key, struct json_object *v)
{
	return xl_add(o, key, json_object_get(v));
}

struct json_object *xl_first(struct json_object *arr)
{
	if (!xl_is(arr, json_type_array) || json_object_array_length(arr) == 0)
		return NULL;
	return json_object_array_get_idx(arr, 0);
}

int xl_push(struct json_object *arr, struct json_object *v)
{
	if (json_object_array_add(arr, v) != 0) {
		json_object_put(v);
		return -1;
	}
	return 0;
}

/* Joins the text of a string or of an array of {type:"text",text} blocks
 * (or OpenAI text parts) into b, separated by sep. Non-text parts are left
 * out and counted in *skipped (may be NULL). */
enum relay_err xl_join_text(struct json_object *c, const char *sep,
			    struct buf *b, int *skipped)
{
	size_t i, n;
	enum relay_err rc;

	if (xl_is(c, json_type_string))
		return buf_puts(b, json_object_get_string(c));
	if (!xl_is(c, json_type_array))
		return RE_OK;
	n = json_object_array_length(c);
	for (i = 0; i < n; i++) {
		struct json_object *p = json_object_array_get_idx(c, i);
		const char *t = xl_str(p, "text");

		if (!t || !xl_streq(xl_str(p, "type"), "text")) {
			if (skipped)
				(*skipped)++;
			continue;
		}
		if (b->len && (rc = buf_puts(b, sep)) != RE_OK)
			return rc;
		if ((rc = buf_puts(b, t)) != RE_OK)
			return rc;
	}
	return RE_OK;
}

struct json_object *xl_buf_string(const struct buf *b)
{
	return json_object_new_string_len(b->len ? b->data : "", (int)b->len);
}
