/* sse.c - incremental Server-Sent Events parser that extracts token usage.
 *
 * Follows the WHATWG "event stream interpretation" rules: lines end at \n,
 * \r\n or a lone \r; a line starting with ':' is a comment; "field: value"
 * drops one space after the colon; "data" lines are joined with '\n'; a blank
 * line dispatches the event if it had any data. Only what the relay needs is
 * kept ("id" and "retry" are ignored).
 *
 * Every decision depends only on the bytes seen, never on where the chunks
 * were cut: a line is oversize when its whole length exceeds SSE_MAX_EVENT,
 * whether it arrived in one piece or in many. tests/fuzz/fuzz_sse.c checks
 * this by feeding the same stream whole, split and one byte at a time. */
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <json-c/json.h>
#include "sse.h"
#include "tokest.h"

/* Nesting allowed in an upstream JSON payload. Usage sits at depth 3; the
 * limit only has to be generous enough not to lose a whole response body. */
#define SSE_JSON_DEPTH 128

long long usage_add(long long a, long long b)
{
	if (a < 0)
		a = 0;
	if (b < 0)
		b = 0;
	if (a > LLONG_MAX - b)
		return LLONG_MAX;
	return a + b;
}

/* prompt = input + cache_creation + cache_read (Anthropic reports cache
 * tokens apart from input_tokens; OpenAI has them inside prompt_tokens). */
long long usage_prompt(const struct usage *u)
{
	return usage_add(usage_add(u->input, u->cache_creation), u->cache_read);
}

/* completion = output. */
long long usage_completion(const struct usage *u)
{
	return u->output;
}

/* The reported total when it is larger (it may count tokens the parts do
 * not name), else prompt + completion. */
long long usage_total(const struct usage *u)
{
	long long sum = usage_add(usage_prompt(u), usage_completion(u));

	return u->total > sum ? u->total : sum;
}

/* Reads a non-negative token count from a JSON number into *v. Returns 0
 * for anything else (null, strings, negatives, NaN) so garbage from an
 * upstream can never lower or corrupt a count. Borrows `o`. */
static int get_count(struct json_object *o, long long *v)
{
	double d;
	int64_t i;

	switch (json_object_get_type(o)) {
	case json_type_int:
		/* json-c saturates out-of-range integers to INT64_MIN/MAX */
		i = json_object_get_int64(o);
		if (i < 0)
			return 0;
		*v = (long long)i;
		return 1;
	case json_type_double:
		d = json_object_get_double(o);
		/* the comparisons are false for NaN; 9.2e18 keeps the cast
		 * inside long long's range */
		if (!(d >= 0.0 && d < 9.2e18))
			return 0;
		*v = (long long)d;
		return 1;
	default:
		return 0;
	}
}

/* Merges one "usage" object into *u, field by field keeping the maximum.
 * Both OpenAI and Anthropic names map onto the same fields. Returns 1 if
 * any known field was present. Borrows `uo`. */
static int merge_usage(struct json_object *uo, struct usage *u)
{
	static const struct {
		const char *key;
		size_t off;
	} map[] = {
		{ "prompt_tokens", offsetof(struct usage, input) },
		{ "input_tokens", offsetof(struct usage, input) },
		{ "completion_tokens", offsetof(struct usage, output) },
		{ "output_tokens", offsetof(struct usage, output) },
		{ "cache_creation_input_tokens",
		  offsetof(struct usage, cache_creation) },
		{ "cache_read_input_tokens", offsetof(struct usage, cache_read) },
		{ "total_tokens", offsetof(struct usage, total) },
	};
	struct json_object *v;
	long long n, *field;
	size_t i;
	int any = 0;

	for (i = 0; i < sizeof map / sizeof map[0]; i++) {
		if (!json_object_object_get_ex(uo, map[i].key, &v) ||
		    !get_count(v, &n))
			continue;
		field = (long long *)(void *)((char *)u + map[i].off);
		/* max, never sum: some upstreams repeat cumulative usage
		 * in every chunk */
		if (n > *field)
			*field = n;
		any = 1;
	}
	if (any)
		u->found = 1;
	return any;
}

/* Merges the usage of a parsed payload (top-level "usage", Anthropic's
 * "message"."usage" or the Responses API's "response"."usage") into *u. Returns 1 if any was found. Borrows `obj`. */
static int usage_from_obj(struct json_object *obj, struct usage *u)
{
	struct json_object *uo, *msg;
	int found = 0;

	if (!json_object_is_type(obj, json_type_object))
		return 0;
	if (json_object_object_get_ex(obj, "usage", &uo) &&
	    json_object_is_type(uo, json_type_object))
		found |= merge_usage(uo, u);
	if (json_object_object_get_ex(obj, "message", &msg) &&
	    json_object_is_type(msg, json_type_object) &&
	    json_object_object_get_ex(msg, "usage", &uo) &&
	    json_object_is_type(uo, json_type_object))
		found |= merge_usage(uo, u);
	/* OpenAI Responses API streams: response.completed (and
	 * response.incomplete/failed) carry it under "response" */
	if (json_object_object_get_ex(obj, "response", &msg) &&
	    json_object_is_type(msg, json_type_object) &&
	    json_object_object_get_ex(msg, "usage", &uo) &&
	    json_object_is_type(uo, json_type_object))
		found |= merge_usage(uo, u);
	return found;
}

/* Parses exactly `len` bytes of JSON (not NUL-terminated) that must hold one
 * value followed only by whitespace. Returns a new object the caller owns
 * (json_object_put), or NULL when the text is not such a value. */
static struct json_object *parse_json(const char *s, size_t len)
{
	struct json_tokener *tok;
	struct json_object *obj = NULL;
	size_t end;

	/* json-c takes an int length; payloads are capped far below this */
	if (len == 0 || len > INT_MAX)
		return NULL;
	tok = json_tokener_new_ex(SSE_JSON_DEPTH);
	if (!tok)
		return NULL;
	obj = json_tokener_parse_ex(tok, s, (int)len);
	if (json_tokener_get_error(tok) != json_tokener_success) {
		json_object_put(obj);
		obj = NULL;
		goto out;
	}
	for (end = json_tokener_get_parse_end(tok); end < len; end++) {
		if (s[end] != ' ' && s[end] != '\t' && s[end] != '\n' &&
		    s[end] != '\r') {
			json_object_put(obj);
			obj = NULL;
			goto out;
		}
	}
out:
	json_tokener_free(tok);
	return obj;
}

/* Reads exactly len bytes of json (borrowed, not NUL-terminated) and merges
 * its usage into the caller's *u. */
int usage_from_json(const char *json, size_t len, struct usage *u)
{
	struct json_object *obj = parse_json(json, len);
	int found;

	if (!obj)
		return 0;
	found = usage_from_obj(obj, u);
	json_object_put(obj);
	return found;
}

/* Zeroes the caller's parser; both buffers are capped at SSE_MAX_EVENT. */
void sse_init(struct sse_parser *p)
{
	memset(p, 0, sizeof *p);
	buf_init(&p->line, SSE_MAX_EVENT);
	buf_init(&p->data, SSE_MAX_EVENT);
	buf_init(&p->tail, 2 * SSE_TAIL);
}

/* Frees the buffers the parser owns; the results fields stay readable. */
void sse_free(struct sse_parser *p)
{
	buf_free(&p->line);
	buf_free(&p->data);
	buf_free(&p->tail);
}

/* Keeps the last SSE_TAIL bytes of what an oversize event loses. */
static void tail_add(struct sse_parser *p, const char *s, size_t len)
{
	size_t keep;

	if (len >= SSE_TAIL) {
		buf_reset(&p->tail);
		buf_append(&p->tail, s + len - SSE_TAIL, SSE_TAIL);
		return;
	}
	keep = SSE_TAIL - len;
	if (p->tail.len + len > p->tail.max && p->tail.len > keep)
		buf_consume(&p->tail, p->tail.len - keep);
	buf_append(&p->tail, s, len);
}

/* The end of the JSON object whose '{' is at s[i], or 0 if it does not
 * end inside len (string-aware, so braces in text do not count). */
static size_t tail_object_end(const char *s, size_t len, size_t i)
{
	int depth = 0, in_str = 0;

	for (; i < len; i++) {
		if (in_str) {
			if (s[i] == '\\')
				i++;
			else if (s[i] == '"')
				in_str = 0;
		} else if (s[i] == '"') {
			in_str = 1;
		} else if (s[i] == '{') {
			depth++;
		} else if (s[i] == '}' && --depth == 0) {
			return i + 1;
		}
	}
	return 0;
}

/* Merges every whole "usage":{...} object found in the tail of an
 * oversize event (see sse.h). */
int usage_from_tail(const char *s, size_t len, struct usage *u)
{
	size_t i = 0, j, end;
	struct json_object *o;
	const char *hit;
	int found = 0;

	while (s && i < len &&
	       (hit = memmem(s + i, len - i, "\"usage\"", 7)) != NULL) {
		i = (size_t)(hit - s) + 7;
		if (hit > s && hit[-1] == '\\')
			continue;
		for (j = i; j < len && (s[j] == ' ' || s[j] == ':' || s[j] == '\t' ||
					s[j] == '\n' || s[j] == '\r'); j++)
			;
		if (j >= len || s[j] != '{' || !(end = tail_object_end(s, len, j)))
			continue;
		o = parse_json(s + j, end - j);
		if (o) {
			found |= merge_usage(o, u);
			json_object_put(o);
		}
	}
	return found;
}

static void tail_usage(struct sse_parser *p)
{
	/* only the last SSE_TAIL bytes, however the chunks were cut (the
	 * buffer may hold up to twice that) */
	size_t skip = p->tail.len > SSE_TAIL ? p->tail.len - SSE_TAIL : 0;

	usage_from_tail(p->tail.data ? p->tail.data + skip : NULL,
			p->tail.len - skip, &p->usage);
}

/* Forgets the event being built (after dispatch or when it is dropped). */
static void event_reset(struct sse_parser *p)
{
	buf_reset(&p->data);
	buf_reset(&p->tail);
	p->event[0] = '\0';
	p->has_data = 0;
	p->skip_event = 0;
}

/* Marks the current event as lost (a line or its data was too large). The
 * event is counted once in `oversize`, whatever else it loses, and its data
 * memory is released at once so the bound holds while the rest streams by. */
static void event_drop(struct sse_parser *p)
{
	if (!p->skip_event)
		p->oversize++;
	p->skip_event = 1;
	if (p->data.len)
		tail_add(p, p->data.data, p->data.len);
	buf_free(&p->data);
}

/* Adds the estimate of one generated text member of o (borrowed). */
static void text_add(struct sse_parser *p, struct json_object *o, const char *key)
{
	struct json_object *v;

	if (json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string))
		p->text_est = usage_add(p->text_est,
			tokest_text(json_object_get_string(v),
				    (size_t)json_object_get_string_len(v)));
}

/* The generated text an event carries, for the estimate used when the
 * usage at the end is never read: OpenAI chat/completions choices
 * (delta.content, delta.reasoning_content, text), Anthropic's delta
 * (text, thinking, partial_json) and the Responses API's "delta". */
static void event_text(struct sse_parser *p, struct json_object *obj)
{
	struct json_object *c, *e, *d;
	size_t i, n;

	if (json_object_object_get_ex(obj, "choices", &c) &&
	    json_object_is_type(c, json_type_array)) {
		n = json_object_array_length(c);
		for (i = 0; i < n && i < 16; i++) {
			e = json_object_array_get_idx(c, i);
			if (!json_object_is_type(e, json_type_object))
				continue;
			text_add(p, e, "text");
			if (json_object_object_get_ex(e, "delta", &d) &&
			    json_object_is_type(d, json_type_object)) {
				text_add(p, d, "content");
				text_add(p, d, "reasoning_content");
			}
		}
	}
	if (json_object_object_get_ex(obj, "delta", &d)) {
		if (json_object_is_type(d, json_type_object)) {
			text_add(p, d, "text");
			text_add(p, d, "thinking");
			text_add(p, d, "partial_json");
		} else {
			text_add(p, obj, "delta");
		}
	}
}

/* Keeps the first Responses API id ("response"."id"). */
static void event_resp_id(struct sse_parser *p, struct json_object *obj)
{
	struct json_object *r, *id;

	if (p->resp_id[0] || !json_object_object_get_ex(obj, "response", &r) ||
	    !json_object_object_get_ex(r, "id", &id) ||
	    !json_object_is_type(id, json_type_string) ||
	    (size_t)json_object_get_string_len(id) >= sizeof(p->resp_id))
		return;
	memcpy(p->resp_id, json_object_get_string(id),
	       (size_t)json_object_get_string_len(id) + 1);
}

/* Looks at a complete event's name and data for usage, [DONE], and errors.
 * The data is p->data (NUL-terminated by buf, but its length is what
 * counts). */
static void event_handle(struct sse_parser *p)
{
	struct json_object *obj, *v;
	const char *type;

	if (strcmp(p->event, "error") == 0)
		p->error_event = 1;
	else if (strcmp(p->event, "message_stop") == 0)
		p->done = 1;
	if (p->data.len == 6 && memcmp(p->data.data, "[DONE]", 6) == 0) {
		p->done = 1;
		return;
	}
	obj = parse_json(p->data.data, p->data.len);
	if (!obj)
		return;
	if (json_object_is_type(obj, json_type_object)) {
		usage_from_obj(obj, &p->usage);
		event_text(p, obj);
		event_resp_id(p, obj);
		/* OpenAI streams report a failure as {"error": {...}}; a null
		 * "error" member is not one */
		if (json_object_object_get_ex(obj, "error", &v) && v)
			p->error_event = 1;
		if (json_object_object_get_ex(obj, "type", &v) &&
		    json_object_is_type(v, json_type_string)) {
			type = json_object_get_string(v);
			if (strcmp(type, "error") == 0)
				p->error_event = 1;
			else if (strcmp(type, "message_stop") == 0)
				p->done = 1;
		}
	}
	json_object_put(obj);
}

/* A blank line ended at stream offset `end`: dispatch the event if it had
 * data. A dropped (oversize) event is complete too, so it moves event_end
 * but is not counted in `events`. */
static void event_end(struct sse_parser *p, unsigned long long end)
{
	unsigned long long start = p->event_end;

	if (p->skip_event) {
		p->event_end = end;
		tail_usage(p);
	} else if (p->has_data) {
		p->events++;
		p->event_end = end;
		event_handle(p);
		if (p->on_event)
			p->on_event(p->on_event_ctx, start, end, p->data.data,
				    p->data.len);
	}
	/* per the SSE spec a blank line without data dispatches nothing but
	 * still clears the event name */
	event_reset(p);
}

/* Handles one complete line (without its line end) of `len` bytes that
 * ended at stream offset `end` (just past its terminator). Borrows `s`. */
static void line_handle(struct sse_parser *p, const char *s, size_t len,
			unsigned long long end)
{
	const char *colon, *val;
	size_t flen, vlen, need;

	if (len == 0) {
		event_end(p, end);
		return;
	}
	if (s[0] == ':')
		return; /* comment, e.g. keep-alive ": ping" */
	colon = memchr(s, ':', len);
	if (colon) {
		flen = (size_t)(colon - s);
		val = colon + 1;
		vlen = len - flen - 1;
		if (vlen && *val == ' ') {
			val++;
			vlen--;
		}
	} else {
		flen = len;
		val = s + len;
		vlen = 0;
	}
	if (flen == 4 && memcmp(s, "data", 4) == 0) {
		if (p->skip_event) {
			tail_add(p, val, vlen);
			return;
		}
		/* lines after the first are joined with '\n' */
		need = vlen + (p->has_data ? 1 : 0);
		if (need > SSE_MAX_EVENT - p->data.len ||
		    (p->has_data && buf_append(&p->data, "\n", 1)) ||
		    buf_append(&p->data, val, vlen)) {
			event_drop(p);
			tail_add(p, val, vlen);
			return;
		}
		p->has_data = 1;
	} else if (flen == 5 && memcmp(s, "event", 5) == 0) {
		/* names longer than the field are truncated; no name the
		 * relay looks for is anywhere near that long. A name with a
		 * NUL in it is kept as unnamed, so "error\0x" is not taken
		 * for "error" by the strcmp in event_handle(). */
		if (vlen >= sizeof p->event)
			vlen = sizeof p->event - 1;
		if (memchr(val, '\0', vlen))
			vlen = 0;
		memcpy(p->event, val, vlen);
		p->event[vlen] = '\0';
	}
}

/* The line being carried in p->line (if any) plus `len` more bytes at `s`
 * ended at stream offset `end`. Lines wholly inside one chunk are handled in
 * place without copying. Borrows `s`. */
static void line_finish(struct sse_parser *p, const char *s, size_t len,
			unsigned long long end)
{
	if (p->skip_line) {
		/* the oversize line was already counted and its event dropped */
		tail_add(p, s, len);
		p->skip_line = 0;
		return;
	}
	if (len > SSE_MAX_EVENT - p->line.len) {
		event_drop(p);
		if (p->line.len)
			tail_add(p, p->line.data, p->line.len);
		tail_add(p, s, len);
		buf_free(&p->line);
		return;
	}
	if (p->line.len == 0) {
		line_handle(p, s, len, end);
		return;
	}
	if (buf_append(&p->line, s, len)) {
		event_drop(p);
		tail_add(p, p->line.data, p->line.len);
		tail_add(p, s, len);
		buf_free(&p->line);
		return;
	}
	line_handle(p, p->line.data, p->line.len, end);
	buf_reset(&p->line);
}

/* Keeps the unterminated tail of a chunk for the next feed, or starts
 * skipping the line once it is known to be oversize. Borrows `s`. */
static void line_carry(struct sse_parser *p, const char *s, size_t len)
{
	if (p->skip_line) {
		tail_add(p, s, len);
		return;
	}
	if (len > SSE_MAX_EVENT - p->line.len || buf_append(&p->line, s, len)) {
		/* counted now, when it is known, so the result does not
		 * depend on whether the line end ever arrives */
		event_drop(p);
		if (p->line.len)
			tail_add(p, p->line.data, p->line.len);
		tail_add(p, s, len);
		buf_free(&p->line);
		p->skip_line = 1;
	}
}

/* Scans the borrowed chunk line by line; a CR that ended the previous chunk
 * is remembered so the LF of a split CRLF is not taken for a blank line. */
void sse_feed(struct sse_parser *p, const char *data, size_t n)
{
	unsigned long long base = p->fed;
	size_t i = 0, j;

	while (i < n) {
		if (p->last_cr) {
			p->last_cr = 0;
			if (data[i] == '\n') {
				/* the LF of a CRLF whose CR already ended the
				 * line (the CR cannot wait: the LF may never
				 * come). If that line dispatched an event,
				 * event_end moves past the whole CRLF, so the
				 * bytes after it start a fresh line. */
				if (p->event_end == base + i)
					p->event_end++;
				i++;
				continue;
			}
		}
		for (j = i; j < n && data[j] != '\n' && data[j] != '\r'; j++)
			;
		if (j == n) {
			line_carry(p, data + i, n - i);
			break;
		}
		line_finish(p, data + i, j - i, base + j + 1);
		p->last_cr = data[j] == '\r';
		i = j + 1;
	}
	p->fed = base + n;
}
