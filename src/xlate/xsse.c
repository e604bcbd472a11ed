/* xsse.c - incremental stream translator (xsse.h). */
#include <stdio.h>
#include <string.h>
#include <json-c/json.h>
#include "xsse.h"
#include "xlpriv.h"

/* kinds of the open Anthropic content block */
enum { XK_NONE, XK_TEXT, XK_THINKING, XK_TOOL };

static void copy_str(char *dst, size_t cap, const char *s)
{
	snprintf(dst, cap, "%s", s ? s : "");
}

void xsse_init(struct xsse *x, enum fmt_kind upstream,
	       const struct xlate_opts *o, const struct xlate_info *info)
{
	int i;

	memset(x, 0, sizeof *x);
	x->upstream = upstream;
	if (o)
		x->o = *o;
	if (info) {
		x->include_usage = info->include_usage;
		copy_str(x->model, sizeof x->model, info->model);
	}
	x->block = -1;
	x->cur_block = -1;
	x->cur_tool = -1;
	for (i = 0; i < XSSE_MAX_TOOLS; i++)
		x->tool_block[i] = -1;
	sse_init(&x->p);
}

void xsse_free(struct xsse *x)
{
	sse_free(&x->p);
}

/* "event: name\ndata: <json>\n\n"; ev is released here. */
static enum relay_err emit_a(struct buf *out, const char *name,
			     struct json_object *ev)
{
	enum relay_err rc;

	if (!ev)
		return RE_ENOMEM;
	rc = buf_printf(out, "event: %s\ndata: ", name);
	if (rc == RE_OK)
		rc = xlate_dump(ev, out);
	if (rc == RE_OK)
		rc = buf_append(out, "\n\n", 2);
	json_object_put(ev);
	return rc;
}

/* "data: <json>\n\n"; ev is released here. */
static enum relay_err emit_o(struct buf *out, struct json_object *ev)
{
	enum relay_err rc;

	if (!ev)
		return RE_ENOMEM;
	rc = buf_append(out, "data: ", 6);
	if (rc == RE_OK)
		rc = xlate_dump(ev, out);
	if (rc == RE_OK)
		rc = buf_append(out, "\n\n", 2);
	json_object_put(ev);
	return rc;
}

/* {"type": type} as a start for an event object. */
static struct json_object *typed(const char *type)
{
	struct json_object *o = json_object_new_object();

	if (o)
		xl_add(o, "type", json_object_new_string(type));
	return o;
}

/* Upstream usage (either format) into x, keeping the maximum per field:
 * repeated cumulative counts must not add up. */
static void take_usage(struct xsse *x, struct json_object *u)
{
	long long v;

	if (!xl_is(u, json_type_object))
		return;
	if (x->upstream == FMT_OPENAI) {
		long long p = xl_count(u, "prompt_tokens");
		long long c = xl_count(xl_get(u, "prompt_tokens_details"),
				       "cached_tokens");

		if (c > p)
			c = p;
		if (p - c > x->in)
			x->in = p - c;
		if (c > x->cr)
			x->cr = c;
		v = xl_int(u, "completion_tokens");
	} else {
		if ((v = xl_int(u, "input_tokens")) > x->in)
			x->in = v;
		if ((v = xl_int(u, "cache_creation_input_tokens")) > x->cc)
			x->cc = v;
		if ((v = xl_int(u, "cache_read_input_tokens")) > x->cr)
			x->cr = v;
		v = xl_int(u, "output_tokens");
	}
	if (v > x->out)
		x->out = v;
}

/* ================= OpenAI upstream -> Anthropic client ================= */

static enum relay_err oa_start(struct xsse *x, struct json_object *chunk,
			       struct buf *out)
{
	struct json_object *ev, *m, *u;

	if (x->started)
		return RE_OK;
	x->started = 1;
	if (xl_str(chunk, "id"))
		copy_str(x->id, sizeof x->id, xl_str(chunk, "id"));
	if (xl_str(chunk, "model"))
		copy_str(x->model, sizeof x->model, xl_str(chunk, "model"));
	ev = typed("message_start");
	m = typed("message");
	u = json_object_new_object();
	if (!ev || !m || !u) {
		json_object_put(ev);
		json_object_put(m);
		json_object_put(u);
		return RE_ENOMEM;
	}
	xl_add(m, "id", json_object_new_string(x->id[0] ? x->id : "msg_xlate"));
	xl_add(m, "role", json_object_new_string("assistant"));
	xl_add(m, "model", json_object_new_string(x->model));
	xl_add(m, "content", json_object_new_array());
	xl_add(m, "stop_reason", NULL);
	xl_add(m, "stop_sequence", NULL);
	/* OpenAI reports usage only at the end: message_delta carries it */
	xl_add(u, "input_tokens", json_object_new_int64(0));
	xl_add(u, "output_tokens", json_object_new_int64(0));
	xl_add(m, "usage", u);
	xl_add(ev, "message", m);
	return emit_a(out, "message_start", ev);
}

static enum relay_err oa_close(struct xsse *x, struct buf *out)
{
	struct json_object *ev;

	if (x->block < 0)
		return RE_OK;
	ev = typed("content_block_stop");
	if (ev)
		xl_add(ev, "index", json_object_new_int(x->block));
	x->block = -1;
	x->kind = XK_NONE;
	return emit_a(out, "content_block_stop", ev);
}

/* Opens a text or thinking block (closing another kind first). */
static enum relay_err oa_open(struct xsse *x, int kind, struct buf *out)
{
	struct json_object *ev, *cb;
	enum relay_err rc;

	if (x->block >= 0 && x->kind == kind)
		return RE_OK;
	if ((rc = oa_close(x, out)) != RE_OK)
		return rc;
	ev = typed("content_block_start");
	cb = typed(kind == XK_TEXT ? "text" : "thinking");
	if (!ev || !cb) {
		json_object_put(ev);
		json_object_put(cb);
		return RE_ENOMEM;
	}
	if (kind == XK_TEXT) {
		xl_add(cb, "text", json_object_new_string(""));
	} else {
		xl_add(cb, "thinking", json_object_new_string(""));
		xl_add(cb, "signature", json_object_new_string(""));
	}
	x->block = x->nblocks++;
	x->kind = kind;
	xl_add(ev, "index", json_object_new_int(x->block));
	xl_add(ev, "content_block", cb);
	return emit_a(out, "content_block_start", ev);
}

/* content_block_delta at `index` with delta {type: dtype, field: value}. */
static enum relay_err oa_delta(struct buf *out, int index, const char *dtype,
			       const char *field, struct json_object *value)
{
	struct json_object *ev = typed("content_block_delta");
	struct json_object *d = typed(dtype);

	if (!ev || !d) {
		json_object_put(ev);
		json_object_put(d);
		return RE_ENOMEM;
	}
	xl_add_ref(d, field, value);
	xl_add(ev, "index", json_object_new_int(index));
	xl_add(ev, "delta", d);
	return emit_a(out, "content_block_delta", ev);
}

/* FNV-1a of a call id (0 for none). */
static unsigned id_hash(const char *s)
{
	unsigned h = 2166136261u;

	if (!s)
		return 0;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h | 1;
}

/* Opens the tool_use block of OpenAI tool call `ti`. */
static enum relay_err oa_tool_open(struct xsse *x, int ti,
				   struct json_object *tc, struct buf *out)
{
	struct json_object *ev, *cb;
	const char *id = xl_str(tc, "id");
	const char *name = xl_str(xl_get(tc, "function"), "name");
	char gen[32];
	enum relay_err rc;

	if ((rc = oa_close(x, out)) != RE_OK)
		return rc;
	if (!id) {
		snprintf(gen, sizeof gen, "call_%d", ti);
		id = gen;
	}
	ev = typed("content_block_start");
	cb = typed("tool_use");
	if (!ev || !cb) {
		json_object_put(ev);
		json_object_put(cb);
		return RE_ENOMEM;
	}
	xl_add(cb, "id", json_object_new_string(id));
	xl_add(cb, "name", json_object_new_string(name ? name : ""));
	xl_add(cb, "input", json_object_new_object());
	x->block = x->nblocks++;
	x->kind = XK_TOOL;
	x->tool_block[ti] = x->block;
	x->tool_id[ti] = id_hash(xl_str(tc, "id"));
	xl_add(ev, "index", json_object_new_int(x->block));
	xl_add(ev, "content_block", cb);
	return emit_a(out, "content_block_start", ev);
}

/* delta.tool_calls: a call's first fragment (id, name) opens its block;
 * argument fragments go out as input_json_delta at once. */
static enum relay_err oa_tools(struct xsse *x, struct json_object *calls,
			       struct buf *out)
{
	size_t i, n = json_object_array_length(calls);
	enum relay_err rc;

	for (i = 0; i < n; i++) {
		struct json_object *tc = json_object_array_get_idx(calls, i);
		struct json_object *f = xl_get(tc, "function");
		struct json_object *args = xl_get(f, "arguments");
		long long ti = xl_get(tc, "index") ? xl_int(tc, "index") :
						     (long long)i;

		if (ti < 0 || ti >= XSSE_MAX_TOOLS) {
			x->dropped++;
			continue;
		}
		if ((x->tool_block[ti] < 0 ||
		     (xl_str(tc, "id") &&
		      id_hash(xl_str(tc, "id")) != x->tool_id[ti])) &&
		    (rc = oa_tool_open(x, (int)ti, tc, out)) != RE_OK)
			return rc;
		if (xl_is(args, json_type_string) &&
		    json_object_get_string_len(args) &&
		    (rc = oa_delta(out, x->tool_block[ti], "input_json_delta",
				   "partial_json", args)) != RE_OK)
			return rc;
	}
	return RE_OK;
}

static enum relay_err oa_finish(struct xsse *x, struct buf *out)
{
	struct json_object *ev, *d, *u;
	enum relay_err rc;

	if (x->finished)
		return RE_OK;
	if ((rc = oa_start(x, NULL, out)) != RE_OK ||
	    (rc = oa_close(x, out)) != RE_OK)
		return rc;
	x->finished = 1;
	ev = typed("message_delta");
	d = json_object_new_object();
	u = json_object_new_object();
	if (!ev || !d || !u) {
		json_object_put(ev);
		json_object_put(d);
		json_object_put(u);
		return RE_ENOMEM;
	}
	xl_add(d, "stop_reason", json_object_new_string(x->stop ? x->stop :
								  "end_turn"));
	xl_add(d, "stop_sequence", NULL);
	xl_add(u, "input_tokens", json_object_new_int64(x->in));
	xl_add(u, "output_tokens", json_object_new_int64(x->out));
	xl_add(u, "cache_creation_input_tokens", json_object_new_int64(0));
	xl_add(u, "cache_read_input_tokens", json_object_new_int64(x->cr));
	xl_add(ev, "delta", d);
	xl_add(ev, "usage", u);
	if ((rc = emit_a(out, "message_delta", ev)) != RE_OK)
		return rc;
	return emit_a(out, "message_stop", typed("message_stop"));
}

/* An upstream error (either format's shape) -> the client's error event. */
static enum relay_err emit_error(struct xsse *x, const char *data, size_t len,
				 struct buf *out)
{
	struct json_object *e = NULL;
	enum relay_err rc;

	rc = xlate_error(x->upstream == FMT_OPENAI ? FMT_ANTHROPIC : FMT_OPENAI,
			 500, data, len, &e);
	if (rc)
		return rc;
	x->errored = 1;
	x->finished = 1;
	if (x->upstream == FMT_OPENAI)
		return emit_a(out, "error", e);
	return emit_o(out, e);
}

static enum relay_err oa_chunk(struct xsse *x, struct json_object *j,
			       struct buf *out)
{
	struct json_object *ch = xl_get(j, "choices"), *c0, *d, *v;
	const char *fin;
	enum relay_err rc;

	take_usage(x, xl_get(j, "usage"));
	if (!xl_is(ch, json_type_array) || !json_object_array_length(ch))
		return RE_OK; /* the usage-only chunk */
	if ((rc = oa_start(x, j, out)) != RE_OK)
		return rc;
	c0 = json_object_array_get_idx(ch, 0);
	d = xl_get(c0, "delta");
	v = xl_get(d, "reasoning_content");
	if (!xl_is(v, json_type_string))
		v = xl_get(d, "reasoning");
	if (xl_is(v, json_type_string) && json_object_get_string_len(v)) {
		if ((rc = oa_open(x, XK_THINKING, out)) != RE_OK ||
		    (rc = oa_delta(out, x->block, "thinking_delta", "thinking",
				   v)) != RE_OK)
			return rc;
	}
	v = xl_get(d, "content");
	if (xl_is(v, json_type_string) && json_object_get_string_len(v)) {
		if ((rc = oa_open(x, XK_TEXT, out)) != RE_OK ||
		    (rc = oa_delta(out, x->block, "text_delta", "text", v)) !=
			    RE_OK)
			return rc;
	}
	v = xl_get(d, "tool_calls");
	if (xl_is(v, json_type_array) && (rc = oa_tools(x, v, out)) != RE_OK)
		return rc;
	fin = xl_str(c0, "finish_reason");
	if (fin) {
		x->stop = xl_finish_to_stop(fin);
		return oa_close(x, out);
	}
	return RE_OK;
}

/* ================= Anthropic upstream -> OpenAI client ================= */

/* A chat.completion.chunk with choices[0] = {index, delta, logprobs,
 * finish_reason}; delta (taken over) may be NULL for {}. */
static struct json_object *ao_chunk(struct xsse *x, struct json_object *delta,
				    const char *finish)
{
	struct json_object *c = json_object_new_object();
	struct json_object *arr = json_object_new_array();
	struct json_object *c0 = json_object_new_object();

	if (!delta)
		delta = json_object_new_object();
	if (!c || !arr || !c0 || !delta) {
		json_object_put(c);
		json_object_put(arr);
		json_object_put(c0);
		json_object_put(delta);
		return NULL;
	}
	xl_add(c, "id", json_object_new_string(x->id));
	xl_add(c, "object", json_object_new_string("chat.completion.chunk"));
	xl_add(c, "created", json_object_new_int64(x->o.now));
	xl_add(c, "model", json_object_new_string(x->model));
	xl_add(c0, "index", json_object_new_int(0));
	xl_add(c0, "delta", delta);
	xl_add(c0, "logprobs", NULL);
	xl_add(c0, "finish_reason", finish ? json_object_new_string(finish)
					   : NULL);
	xl_push(arr, c0);
	xl_add(c, "choices", arr);
	return c;
}

/* delta {key: value} with value shared. */
static struct json_object *delta1(const char *key, struct json_object *v)
{
	struct json_object *d = json_object_new_object();

	if (d)
		xl_add_ref(d, key, v);
	return d;
}

static enum relay_err ao_start(struct xsse *x, struct json_object *msg,
			       struct buf *out)
{
	struct json_object *d;

	if (xl_str(msg, "id"))
		copy_str(x->id, sizeof x->id, xl_str(msg, "id"));
	if (xl_str(msg, "model"))
		copy_str(x->model, sizeof x->model, xl_str(msg, "model"));
	take_usage(x, xl_get(msg, "usage"));
	if (x->started)
		return RE_OK;
	x->started = 1;
	if (!(d = json_object_new_object()))
		return RE_ENOMEM;
	xl_add(d, "role", json_object_new_string("assistant"));
	xl_add(d, "content", json_object_new_string(""));
	return emit_o(out, ao_chunk(x, d, NULL));
}

/* tool_calls:[{index, id?, type?, function:{name?, arguments}}] */
static struct json_object *ao_tool_delta(int ti, const char *id,
					 const char *name,
					 struct json_object *args)
{
	struct json_object *d = json_object_new_object();
	struct json_object *arr = json_object_new_array();
	struct json_object *tc = json_object_new_object();
	struct json_object *f = json_object_new_object();

	if (!d || !arr || !tc || !f) {
		json_object_put(d);
		json_object_put(arr);
		json_object_put(tc);
		json_object_put(f);
		return NULL;
	}
	xl_add(tc, "index", json_object_new_int(ti));
	if (id) {
		xl_add(tc, "id", json_object_new_string(id));
		xl_add(tc, "type", json_object_new_string("function"));
		xl_add(f, "name", json_object_new_string(name ? name : ""));
	}
	if (args)
		xl_add_ref(f, "arguments", args);
	else
		xl_add(f, "arguments", json_object_new_string(""));
	xl_add(tc, "function", f);
	xl_push(arr, tc);
	xl_add(d, "tool_calls", arr);
	return d;
}

static enum relay_err ao_block_start(struct xsse *x, struct json_object *j,
				     struct buf *out)
{
	struct json_object *cb = xl_get(j, "content_block");
	const char *t = xl_str(cb, "type");

	x->cur_block = xl_int(j, "index");
	x->cur_tool = -1;
	if (xl_streq(t, "tool_use")) {
		x->cur_tool = x->ntools++;
		return emit_o(out, ao_chunk(x, ao_tool_delta(
						       x->cur_tool,
						       xl_str(cb, "id") ?
							       xl_str(cb, "id") :
							       "",
						       xl_str(cb, "name"), NULL),
					    NULL));
	}
	if (xl_streq(t, "text") && xl_str(cb, "text") &&
	    *xl_str(cb, "text"))
		return emit_o(out, ao_chunk(x, delta1("content",
						      xl_get(cb, "text")),
					    NULL));
	if (!xl_streq(t, "text") && !xl_streq(t, "thinking"))
		x->dropped++; /* server tools, redacted thinking: no place */
	return RE_OK;
}

static enum relay_err ao_block_delta(struct xsse *x, struct json_object *j,
				     struct buf *out)
{
	struct json_object *d = xl_get(j, "delta");
	const char *t = xl_str(d, "type");

	if (xl_streq(t, "text_delta") && xl_get(d, "text"))
		return emit_o(out, ao_chunk(x, delta1("content",
						      xl_get(d, "text")),
					    NULL));
	if (xl_streq(t, "thinking_delta") && xl_get(d, "thinking"))
		return emit_o(out, ao_chunk(x, delta1("reasoning_content",
						      xl_get(d, "thinking")),
					    NULL));
	if (xl_streq(t, "input_json_delta") &&
	    xl_is(xl_get(d, "partial_json"), json_type_string)) {
		if (x->cur_tool < 0 || xl_int(j, "index") != x->cur_block) {
			x->dropped++;
			return RE_OK;
		}
		if (!json_object_get_string_len(xl_get(d, "partial_json")))
			return RE_OK;
		return emit_o(out, ao_chunk(x, ao_tool_delta(
						       x->cur_tool, NULL, NULL,
						       xl_get(d, "partial_json")),
					    NULL));
	}
	/* signature_delta, citations_delta: nothing in OpenAI's shape */
	return RE_OK;
}

static enum relay_err ao_finish(struct xsse *x, struct buf *out)
{
	struct json_object *c, *u;
	enum relay_err rc;

	if (x->finished)
		return RE_OK;
	x->finished = 1;
	if (!x->stop) {
		/* ended without message_delta: still tell the client why */
		x->stop = "stop";
		if ((rc = emit_o(out, ao_chunk(x, NULL, x->stop))) != RE_OK)
			return rc;
	}
	if (x->include_usage) {
		c = ao_chunk(x, NULL, NULL);
		u = xl_usage_a2o(x->in, x->out, x->cc, x->cr);
		if (!c || !u) {
			json_object_put(c);
			json_object_put(u);
			return RE_ENOMEM;
		}
		json_object_array_del_idx(xl_get(c, "choices"), 0, 1);
		xl_add(c, "usage", u);
		if ((rc = emit_o(out, c)) != RE_OK)
			return rc;
	}
	return buf_puts(out, "data: [DONE]\n\n");
}

static enum relay_err ao_event(struct xsse *x, const char *type,
			       struct json_object *j, struct buf *out)
{
	enum relay_err rc;

	if (xl_streq(type, "message_start"))
		return ao_start(x, xl_get(j, "message"), out);
	if (!x->started && !xl_streq(type, "ping") &&
	    (rc = ao_start(x, NULL, out)) != RE_OK)
		return rc;
	if (xl_streq(type, "content_block_start"))
		return ao_block_start(x, j, out);
	if (xl_streq(type, "content_block_delta"))
		return ao_block_delta(x, j, out);
	if (xl_streq(type, "content_block_stop")) {
		x->cur_tool = -1;
		return RE_OK;
	}
	if (xl_streq(type, "message_delta")) {
		take_usage(x, xl_get(j, "usage"));
		if (!xl_str(xl_get(j, "delta"), "stop_reason"))
			return RE_OK;
		x->stop = xl_stop_to_finish(xl_str(xl_get(j, "delta"),
						   "stop_reason"));
		return emit_o(out, ao_chunk(x, NULL, x->stop));
	}
	if (xl_streq(type, "message_stop"))
		return ao_finish(x, out);
	if (!xl_streq(type, "ping"))
		x->dropped++;
	return RE_OK;
}

/* ============ a whole answer as a stream (xsse_from_answer) ============ */

/* The empty shell of a content block for its content_block_start. */
static struct json_object *block_shell(struct json_object *b)
{
	const char *t = xl_str(b, "type");
	struct json_object *s = typed(t ? t : "text");

	if (!s)
		return NULL;
	if (xl_streq(t, "tool_use")) {
		xl_add_ref(s, "id", xl_get(b, "id"));
		xl_add_ref(s, "name", xl_get(b, "name"));
		xl_add(s, "input", json_object_new_object());
	} else if (xl_streq(t, "thinking")) {
		xl_add(s, "thinking", json_object_new_string(""));
		xl_add(s, "signature", json_object_new_string(""));
	} else {
		xl_add(s, "text", json_object_new_string(""));
	}
	return s;
}

/* One block: start, its whole content as one delta, stop. */
static enum relay_err answer_block(struct json_object *b, int i,
				   struct buf *out)
{
	const char *t = xl_str(b, "type");
	struct json_object *ev = typed("content_block_start"), *v;
	enum relay_err rc;

	if (!ev)
		return RE_ENOMEM;
	xl_add(ev, "index", json_object_new_int(i));
	xl_add(ev, "content_block", block_shell(b));
	if ((rc = emit_a(out, "content_block_start", ev)) != RE_OK)
		return rc;
	if (xl_streq(t, "tool_use")) {
		v = json_object_new_string(json_object_to_json_string_ext(
			xl_get(b, "input"), JSON_C_TO_STRING_PLAIN |
				JSON_C_TO_STRING_NOSLASHESCAPE));
		rc = v ? oa_delta(out, i, "input_json_delta", "partial_json", v) :
			 RE_ENOMEM;
		json_object_put(v);
	} else if (xl_streq(t, "thinking")) {
		rc = oa_delta(out, i, "thinking_delta", "thinking",
			      xl_get(b, "thinking"));
	} else {
		rc = oa_delta(out, i, "text_delta", "text", xl_get(b, "text"));
	}
	if (rc)
		return rc;
	ev = typed("content_block_stop");
	if (ev)
		xl_add(ev, "index", json_object_new_int(i));
	return emit_a(out, "content_block_stop", ev);
}

static enum relay_err answer_anthropic(struct json_object *a, struct buf *out)
{
	struct json_object *ev = typed("message_start"), *m, *u, *c, *d, *ua;
	size_t i, n;
	enum relay_err rc;

	m = json_object_new_object();
	u = json_object_new_object();
	if (!ev || !m || !u) {
		json_object_put(ev);
		json_object_put(m);
		json_object_put(u);
		return RE_ENOMEM;
	}
	json_object_object_foreach(a, k, v) {
		if (!strcmp(k, "content"))
			xl_add(m, k, json_object_new_array());
		else if (!strcmp(k, "stop_reason") || !strcmp(k, "stop_sequence"))
			xl_add(m, k, NULL);
		else if (strcmp(k, "usage"))
			xl_add_ref(m, k, v);
	}
	/* the input counts are known up front; the output ones at the end */
	ua = xl_get(a, "usage");
	if (xl_is(ua, json_type_object)) {
		json_object_object_foreach(ua, uk, uv) {
			xl_add(u, uk, strcmp(uk, "output_tokens") ?
					      json_object_get(uv) :
					      json_object_new_int(0));
		}
	}
	xl_add(m, "usage", u);
	xl_add(ev, "message", m);
	if ((rc = emit_a(out, "message_start", ev)) != RE_OK)
		return rc;
	c = xl_get(a, "content");
	n = xl_is(c, json_type_array) ? json_object_array_length(c) : 0;
	for (i = 0; i < n; i++)
		if ((rc = answer_block(json_object_array_get_idx(c, i), (int)i,
				       out)) != RE_OK)
			return rc;
	ev = typed("message_delta");
	d = json_object_new_object();
	if (!ev || !d) {
		json_object_put(ev);
		json_object_put(d);
		return RE_ENOMEM;
	}
	xl_add_ref(d, "stop_reason", xl_get(a, "stop_reason"));
	xl_add_ref(d, "stop_sequence", xl_get(a, "stop_sequence"));
	xl_add(ev, "delta", d);
	xl_add_ref(ev, "usage", xl_get(a, "usage"));
	if ((rc = emit_a(out, "message_delta", ev)) != RE_OK)
		return rc;
	return emit_a(out, "message_stop", typed("message_stop"));
}

/* A chunk like the answer (id, created, model) with choices[0] = {index,
 * delta, logprobs, finish_reason}; delta taken over. */
static struct json_object *answer_chunk(struct json_object *a,
					struct json_object *delta,
					struct json_object *finish)
{
	struct xsse x;

	memset(&x, 0, sizeof x);
	copy_str(x.id, sizeof x.id, xl_str(a, "id"));
	copy_str(x.model, sizeof x.model, xl_str(a, "model"));
	x.o.now = xl_int(a, "created");
	return ao_chunk(&x, delta, xl_is(finish, json_type_string) ?
					   json_object_get_string(finish) : NULL);
}

static enum relay_err answer_openai(struct json_object *a, int usage,
				    struct buf *out)
{
	struct json_object *c0 = json_object_array_get_idx(
		xl_get(a, "choices"), 0);
	struct json_object *msg = xl_get(c0, "message"), *d, *calls, *c;
	enum relay_err rc;
	size_t i, n;

	if (!(d = json_object_new_object()))
		return RE_ENOMEM;
	xl_add(d, "role", json_object_new_string("assistant"));
	xl_add(d, "content", json_object_new_string(""));
	if ((rc = emit_o(out, answer_chunk(a, d, NULL))) != RE_OK)
		return rc;
	if (xl_str(msg, "reasoning_content") &&
	    (rc = emit_o(out, answer_chunk(a, delta1("reasoning_content",
			xl_get(msg, "reasoning_content")), NULL))) != RE_OK)
		return rc;
	if (xl_str(msg, "content") &&
	    (rc = emit_o(out, answer_chunk(a, delta1("content",
			xl_get(msg, "content")), NULL))) != RE_OK)
		return rc;
	calls = xl_get(msg, "tool_calls");
	n = xl_is(calls, json_type_array) ? json_object_array_length(calls) : 0;
	if (n) {
		struct json_object *arr = json_object_new_array();

		for (i = 0; arr && i < n; i++) {
			c = json_object_array_get_idx(calls, i);
			/* a chunk's tool call carries its index */
			struct json_object *cp = NULL;

			if (json_object_deep_copy(c, &cp, NULL) == 0)
				c = cp;
			else
				c = NULL;
			if (c)
				xl_add(c, "index", json_object_new_int((int)i));
			xl_push(arr, c);
		}
		d = json_object_new_object();
		if (!arr || !d) {
			json_object_put(arr);
			json_object_put(d);
			return RE_ENOMEM;
		}
		xl_add(d, "tool_calls", arr);
		if ((rc = emit_o(out, answer_chunk(a, d, NULL))) != RE_OK)
			return rc;
	}
	if ((rc = emit_o(out, answer_chunk(a, NULL, xl_get(c0, "finish_reason"))))
	    != RE_OK)
		return rc;
	if (usage) {
		c = answer_chunk(a, NULL, NULL);
		if (!c)
			return RE_ENOMEM;
		json_object_array_del_idx(xl_get(c, "choices"), 0, 1);
		xl_add_ref(c, "usage", xl_get(a, "usage"));
		if ((rc = emit_o(out, c)) != RE_OK)
			return rc;
	}
	return buf_puts(out, "data: [DONE]\n\n");
}

enum relay_err xsse_from_answer(enum fmt_kind client, struct json_object *ans,
				int include_usage, struct buf *out)
{
	if (!xl_is(ans, json_type_object))
		return RE_EINVAL;
	if (client == FMT_ANTHROPIC)
		return answer_anthropic(ans, out);
	return answer_openai(ans, include_usage, out);
}

/* ============================== entry ============================== */

enum relay_err xsse_event(struct xsse *x, const char *name, const char *data,
			  size_t len, struct buf *out)
{
	struct json_object *j;
	enum relay_err rc;
	const char *type;

	if (x->finished)
		return RE_OK; /* nothing may follow the end or an error */
	if (len == 6 && memcmp(data, "[DONE]", 6) == 0)
		return x->upstream == FMT_OPENAI ? oa_finish(x, out) : RE_OK;
	j = xlate_parse(data, len);
	if (!xl_is(j, json_type_object)) {
		json_object_put(j);
		x->dropped++;
		return RE_OK;
	}
	type = xl_str(j, "type");
	if (xl_streq(name, "error") || xl_streq(type, "error") ||
	    (xl_get(j, "error") && x->upstream == FMT_OPENAI))
		rc = emit_error(x, data, len, out);
	else if (x->upstream == FMT_OPENAI)
		rc = oa_chunk(x, j, out);
	else
		rc = ao_event(x, type ? type : name, j, out);
	json_object_put(j);
	return rc;
}

/* sse.c calls this for every complete event; its name is still in the
 * parser (it is cleared after the callback). */
static void on_event(void *ctx, unsigned long long start,
		     unsigned long long end, const char *data, size_t len)
{
	struct xsse *x = ctx;

	(void)start;
	(void)end;
	if (x->err == RE_OK)
		x->err = xsse_event(x, x->p.event, data, len, x->sink);
}

enum relay_err xsse_feed(struct xsse *x, const char *data, size_t n,
			 struct buf *out)
{
	unsigned long lost = x->p.oversize;

	x->p.on_event = on_event;
	x->p.on_event_ctx = x;
	x->sink = out;
	x->err = RE_OK;
	sse_feed(&x->p, data, n);
	x->dropped += x->p.oversize - lost;
	x->sink = NULL;
	return x->err;
}

enum relay_err xsse_end(struct xsse *x, struct buf *out)
{
	if (x->finished)
		return RE_OK;
	if (x->upstream == FMT_OPENAI)
		return oa_finish(x, out);
	return ao_finish(x, out);
}
