/* xrsse.c - Chat Completions chunks -> Responses API events (xlrs.h). */
#include <stdio.h>
#include <string.h>
#include <json-c/json.h>
#include "xlrs.h"
#include "xlpriv.h"

/* kinds of the open text item */
enum { XR_NONE, XR_MSG, XR_RS };

void xrsse_init(struct xrsse *x, const struct xlate_opts *o,
		const struct xlate_info *info)
{
	int i;

	memset(x, 0, sizeof *x);
	if (o)
		x->o = *o;
	if (info)
		snprintf(x->model, sizeof x->model, "%s", info->model);
	snprintf(x->id, sizeof x->id, "resp_xlate");
	buf_init(&x->text, XRSSE_HOLD_MAX);
	for (i = 0; i < XRSSE_MAX_TOOLS; i++) {
		x->tools[i].index = -1;
		buf_init(&x->tools[i].args, XRSSE_HOLD_MAX);
	}
	x->items = json_object_new_array();
	sse_init(&x->p);
}

void xrsse_free(struct xrsse *x)
{
	int i;

	buf_free(&x->text);
	for (i = 0; i < XRSSE_MAX_TOOLS; i++)
		buf_free(&x->tools[i].args);
	json_object_put(x->items);
	x->items = NULL;
	sse_free(&x->p);
}

/* "event: type\ndata: {...,"type","sequence_number"}\n\n"; ev released. */
static enum relay_err emit(struct xrsse *x, struct buf *out, const char *type,
			   struct json_object *ev)
{
	enum relay_err rc;

	if (!ev)
		return RE_ENOMEM;
	xl_add(ev, "type", json_object_new_string(type));
	xl_add(ev, "sequence_number", json_object_new_int64(x->seq++));
	rc = buf_printf(out, "event: %s\ndata: ", type);
	if (rc == RE_OK)
		rc = xlate_dump(ev, out);
	if (rc == RE_OK)
		rc = buf_append(out, "\n\n", 2);
	json_object_put(ev);
	return rc;
}

/* {"item_id": id, "output_index": i} as the start of an event. */
static struct json_object *at(const char *id, int index)
{
	struct json_object *o = json_object_new_object();

	if (!o)
		return NULL;
	xl_add(o, "item_id", json_object_new_string(id));
	xl_add(o, "output_index", json_object_new_int(index));
	return o;
}

/* The items done so far in output order (a new array). */
static struct json_object *done_items(struct xrsse *x)
{
	struct json_object *a = json_object_new_array(), *it;
	size_t i, n = json_object_array_length(x->items);

	for (i = 0; i < n && a; i++)
		if ((it = json_object_array_get_idx(x->items, i)))
			xl_push(a, json_object_get(it));
	return a;
}

/* response.created / in_progress / completed / incomplete / failed. */
static enum relay_err emit_response(struct xrsse *x, struct buf *out,
				    const char *type, const char *status,
				    struct json_object *error)
{
	struct json_object *ev = json_object_new_object(), *r;
	int final = !xl_streq(status, "in_progress");

	r = xlrs_envelope(x->id, x->o.now, x->model, status, x->finish,
			  final ? done_items(x) : json_object_new_array(),
			  final ? xlrs_usage_obj(x->in, x->out, x->cached, x->reasoning) : NULL);
	if (!ev || !r) {
		json_object_put(ev);
		json_object_put(r);
		json_object_put(error);
		return RE_ENOMEM;
	}
	if (error)
		xl_add(r, "error", error);
	xl_add(ev, "response", r);
	return emit(x, out, type, ev);
}

static enum relay_err start(struct xrsse *x, struct json_object *chunk,
			    struct buf *out)
{
	enum relay_err rc;

	if (x->started)
		return RE_OK;
	x->started = 1;
	if (xl_str(chunk, "id"))
		snprintf(x->id, sizeof x->id, "resp_%.150s", xl_str(chunk, "id"));
	if (!x->model[0] && xl_str(chunk, "model"))
		snprintf(x->model, sizeof x->model, "%s", xl_str(chunk, "model"));
	if (xl_int(chunk, "created") > 0)
		x->o.now = xl_int(chunk, "created");
	rc = emit_response(x, out, "response.created", "in_progress", NULL);
	if (rc == RE_OK)
		rc = emit_response(x, out, "response.in_progress", "in_progress", NULL);
	return rc;
}

/* The id of output item i of kind prefix ("msg", "rs"). */
static void item_id(const struct xrsse *x, const char *prefix, int i,
		    char *out, size_t cap)
{
	const char *tail = strncmp(x->id, "resp_", 5) == 0 ? x->id + 5 : x->id;

	snprintf(out, cap, "%s_%d_%.140s", prefix, i, tail);
}

static void keep_item(struct xrsse *x, int index, struct json_object *it)
{
	if (json_object_array_put_idx(x->items, (size_t)index, json_object_get(it)))
		json_object_put(it);
}

/* Closes the open message or reasoning item with its done events. */
static enum relay_err close_text(struct xrsse *x, struct buf *out)
{
	struct json_object *ev, *part, *it;
	int rs = x->open == XR_RS, i = x->open_index;
	char id[200];
	enum relay_err rc;

	if (x->open == XR_NONE)
		return RE_OK;
	x->open = XR_NONE;
	item_id(x, rs ? "rs" : "msg", i, id, sizeof id);
	ev = at(id, i);
	xl_add(ev, rs ? "summary_index" : "content_index", json_object_new_int(0));
	xl_add(ev, "text", xl_buf_string(&x->text));
	rc = emit(x, out, rs ? "response.reasoning_summary_text.done" :
		  "response.output_text.done", ev);
	it = xlrs_text_item(rs ? "reasoning" : "message", id,
			    x->text.len ? x->text.data : "", x->text.len);
	buf_reset(&x->text);
	if (!it)
		return RE_ENOMEM;
	part = xl_first(xl_get(it, rs ? "summary" : "content"));
	ev = at(id, i);
	xl_add(ev, rs ? "summary_index" : "content_index", json_object_new_int(0));
	xl_add(ev, "part", json_object_get(part));
	if (rc == RE_OK)
		rc = emit(x, out, rs ? "response.reasoning_summary_part.done" :
			  "response.content_part.done", ev);
	else
		json_object_put(ev);
	keep_item(x, i, it);
	ev = json_object_new_object();
	xl_add(ev, "output_index", json_object_new_int(i));
	xl_add(ev, "item", it);
	if (rc == RE_OK)
		rc = emit(x, out, "response.output_item.done", ev);
	else
		json_object_put(ev);
	return rc;
}

/* Opens a message (XR_MSG) or reasoning (XR_RS) item unless one of that
 * kind is open. */
static enum relay_err open_text(struct xrsse *x, int kind, struct buf *out)
{
	struct json_object *ev, *it, *part;
	int rs = kind == XR_RS;
	char id[200];
	enum relay_err rc;

	if (x->open == kind)
		return RE_OK;
	if ((rc = close_text(x, out)) != RE_OK)
		return rc;
	x->open = kind;
	x->open_index = x->nout++;
	item_id(x, rs ? "rs" : "msg", x->open_index, id, sizeof id);
	it = json_object_new_object();
	xl_add(it, "id", json_object_new_string(id));
	xl_add(it, "type", json_object_new_string(rs ? "reasoning" : "message"));
	if (rs) {
		xl_add(it, "summary", json_object_new_array());
	} else {
		xl_add(it, "status", json_object_new_string("in_progress"));
		xl_add(it, "role", json_object_new_string("assistant"));
		xl_add(it, "content", json_object_new_array());
	}
	ev = json_object_new_object();
	xl_add(ev, "output_index", json_object_new_int(x->open_index));
	xl_add(ev, "item", it);
	if ((rc = emit(x, out, "response.output_item.added", ev)) != RE_OK)
		return rc;
	part = json_object_new_object();
	xl_add(part, "type", json_object_new_string(rs ? "summary_text" : "output_text"));
	if (!rs)
		xl_add(part, "annotations", json_object_new_array());
	xl_add(part, "text", json_object_new_string(""));
	ev = at(id, x->open_index);
	xl_add(ev, rs ? "summary_index" : "content_index", json_object_new_int(0));
	xl_add(ev, "part", part);
	return emit(x, out, rs ? "response.reasoning_summary_part.added" :
		    "response.content_part.added", ev);
}

static enum relay_err text_delta(struct xrsse *x, int kind, struct json_object *d,
				 struct buf *out)
{
	const char *s = json_object_get_string(d);
	size_t n = (size_t)json_object_get_string_len(d);
	struct json_object *ev;
	char id[200];
	enum relay_err rc;

	if (!n)
		return RE_OK;
	if ((rc = open_text(x, kind, out)) != RE_OK)
		return rc;
	if (buf_append(&x->text, s, n) != RE_OK)
		x->dropped++;   /* past the hold cap: the delta still goes out */
	item_id(x, kind == XR_RS ? "rs" : "msg", x->open_index, id, sizeof id);
	ev = at(id, x->open_index);
	xl_add(ev, kind == XR_RS ? "summary_index" : "content_index", json_object_new_int(0));
	xl_add_ref(ev, "delta", d);
	if (kind == XR_MSG)
		xl_add(ev, "logprobs", json_object_new_array());
	return emit(x, out, kind == XR_RS ? "response.reasoning_summary_text.delta" :
		    "response.output_text.delta", ev);
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

/* The tool of Chat index ti (a new one when its id is new), or NULL. */
static struct xrsse_tool *find_tool(struct xrsse *x, int ti, const char *cid,
				    int *fresh)
{
	unsigned h = id_hash(cid);
	int i;

	*fresh = 0;
	for (i = x->ntools - 1; i >= 0; i--)
		if (x->tools[i].index == ti) {
			if (!h || x->tools[i].id_hash == h)
				return &x->tools[i];
			break;   /* a new id at a used index: a new call */
		}
	if (x->ntools >= XRSSE_MAX_TOOLS)
		return NULL;
	*fresh = 1;
	x->tools[x->ntools].index = ti;
	x->tools[x->ntools].id_hash = h;
	return &x->tools[x->ntools++];
}

static enum relay_err tool_open(struct xrsse *x, struct xrsse_tool *t,
				struct json_object *tc, struct buf *out)
{
	struct json_object *ev, *it;
	const char *name = xl_str(xl_get(tc, "function"), "name");
	enum relay_err rc;
	char id[160];

	if ((rc = close_text(x, out)) != RE_OK)
		return rc;
	t->out_index = x->nout++;
	if (xl_str(tc, "id"))
		snprintf(t->call_id, sizeof t->call_id, "%s", xl_str(tc, "id"));
	else
		snprintf(t->call_id, sizeof t->call_id, "call_%d", t->out_index);
	snprintf(t->name, sizeof t->name, "%s", name ? name : "");
	snprintf(id, sizeof id, "fc_%s", t->call_id);
	it = json_object_new_object();
	xl_add(it, "id", json_object_new_string(id));
	xl_add(it, "type", json_object_new_string("function_call"));
	xl_add(it, "status", json_object_new_string("in_progress"));
	xl_add(it, "arguments", json_object_new_string(""));
	xl_add(it, "call_id", json_object_new_string(t->call_id));
	xl_add(it, "name", json_object_new_string(t->name));
	ev = json_object_new_object();
	xl_add(ev, "output_index", json_object_new_int(t->out_index));
	xl_add(ev, "item", it);
	return emit(x, out, "response.output_item.added", ev);
}

static enum relay_err tool_delta(struct xrsse *x, struct json_object *tc,
				 struct buf *out)
{
	struct json_object *args = xl_get(xl_get(tc, "function"), "arguments"), *ev;
	struct xrsse_tool *t;
	long long ti = xl_int(tc, "index");
	int fresh;
	char id[160];
	enum relay_err rc;

	if (ti < 0 || ti > 1000000 || !(t = find_tool(x, (int)ti, xl_str(tc, "id"), &fresh))) {
		x->dropped++;
		return RE_OK;
	}
	if (fresh && (rc = tool_open(x, t, tc, out)) != RE_OK)
		return rc;
	if (!t->name[0] && xl_str(xl_get(tc, "function"), "name"))
		snprintf(t->name, sizeof t->name, "%s", xl_str(xl_get(tc, "function"), "name"));
	if (!xl_is(args, json_type_string) || !json_object_get_string_len(args))
		return RE_OK;
	if (buf_append(&t->args, json_object_get_string(args),
		       (size_t)json_object_get_string_len(args)) != RE_OK)
		x->dropped++;
	snprintf(id, sizeof id, "fc_%s", t->call_id);
	ev = at(id, t->out_index);
	xl_add_ref(ev, "delta", args);
	return emit(x, out, "response.function_call_arguments.delta", ev);
}

static enum relay_err tools_close(struct xrsse *x, struct buf *out)
{
	struct json_object *ev, *it;
	enum relay_err rc = RE_OK;
	char id[160];
	int i;

	for (i = 0; i < x->ntools && rc == RE_OK; i++) {
		struct xrsse_tool *t = &x->tools[i];

		snprintf(id, sizeof id, "fc_%s", t->call_id);
		ev = at(id, t->out_index);
		xl_add(ev, "arguments", xl_buf_string(&t->args));
		rc = emit(x, out, "response.function_call_arguments.done", ev);
		it = xlrs_call_item(t->call_id, t->name, t->args.len ? t->args.data : "",
				    t->args.len);
		if (!it)
			return RE_ENOMEM;
		keep_item(x, t->out_index, it);
		ev = json_object_new_object();
		xl_add(ev, "output_index", json_object_new_int(t->out_index));
		xl_add(ev, "item", it);
		if (rc == RE_OK)
			rc = emit(x, out, "response.output_item.done", ev);
		else
			json_object_put(ev);
	}
	x->ntools = 0;
	return rc;
}

static void take_usage(struct xrsse *x, struct json_object *u)
{
	long long p, c;

	if (!xl_is(u, json_type_object))
		return;
	p = xl_count(u, "prompt_tokens");
	c = xl_count(xl_get(u, "prompt_tokens_details"), "cached_tokens");
	if (p > x->in)
		x->in = p;
	if ((c > p ? p : c) > x->cached)
		x->cached = c > p ? p : c;
	if (xl_count(u, "completion_tokens") > x->out)
		x->out = xl_count(u, "completion_tokens");
	c = xl_count(xl_get(u, "completion_tokens_details"), "reasoning_tokens");
	if (c > x->reasoning)
		x->reasoning = c;
}

/* The static spelling of a finish_reason. */
static const char *finish_static(const char *f)
{
	static const char *const known[] = { "stop", "length", "tool_calls",
		"content_filter", "function_call" };
	size_t i;

	for (i = 0; i < sizeof known / sizeof known[0]; i++)
		if (xl_streq(f, known[i]))
			return known[i];
	return "stop";
}

static enum relay_err chunk(struct xrsse *x, struct json_object *j, struct buf *out)
{
	struct json_object *ch = xl_first(xl_get(j, "choices"));
	struct json_object *d = xl_get(ch, "delta"), *v, *tcs;
	enum relay_err rc = start(x, j, out);
	size_t i, n;

	take_usage(x, xl_get(j, "usage"));
	if (rc || !xl_is(ch, json_type_object))
		return rc;
	v = xl_get(d, "reasoning_content");
	if (!xl_is(v, json_type_string))
		v = xl_get(d, "reasoning");
	if (xl_is(v, json_type_string) && (rc = text_delta(x, XR_RS, v, out)) != RE_OK)
		return rc;
	v = xl_get(d, "content");
	if (xl_is(v, json_type_string) && (rc = text_delta(x, XR_MSG, v, out)) != RE_OK)
		return rc;
	tcs = xl_get(d, "tool_calls");
	n = xl_is(tcs, json_type_array) ? json_object_array_length(tcs) : 0;
	for (i = 0; i < n && rc == RE_OK; i++)
		rc = tool_delta(x, json_object_array_get_idx(tcs, i), out);
	if (xl_str(ch, "finish_reason"))
		x->finish = finish_static(xl_str(ch, "finish_reason"));
	return rc;
}

/* An upstream error in the stream: response.failed, nothing after it. */
static enum relay_err failed(struct xrsse *x, struct json_object *j, struct buf *out)
{
	struct json_object *e = xl_get(j, "error"), *err = json_object_new_object();
	const char *msg = xl_is(e, json_type_string) ? json_object_get_string(e) :
		xl_str(e, "message");
	const char *code = xl_str(e, "code") ? xl_str(e, "code") : xl_str(e, "type");
	enum relay_err rc = start(x, j, out);

	x->finished = x->errored = 1;
	xl_add(err, "code", json_object_new_string(code ? code : "server_error"));
	xl_add(err, "message", json_object_new_string(msg ? msg : "upstream error"));
	if (rc) {
		json_object_put(err);
		return rc;
	}
	return emit_response(x, out, "response.failed", "failed", err);
}

enum relay_err xrsse_end(struct xrsse *x, struct buf *out)
{
	enum relay_err rc;
	const char *st;

	if (x->finished)
		return RE_OK;
	if ((rc = start(x, NULL, out)) != RE_OK)
		return rc;
	x->finished = 1;
	if ((rc = close_text(x, out)) != RE_OK || (rc = tools_close(x, out)) != RE_OK)
		return rc;
	st = xlrs_status(x->finish);
	return emit_response(x, out, xl_streq(st, "incomplete") ? "response.incomplete" :
			     "response.completed", st, NULL);
}

enum relay_err xrsse_event(struct xrsse *x, const char *name, const char *data,
			   size_t len, struct buf *out)
{
	struct json_object *j;
	enum relay_err rc;

	if (x->finished)
		return RE_OK;
	while (len && (data[len - 1] == ' ' || data[len - 1] == '\n'))
		len--;
	if (len == 6 && memcmp(data, "[DONE]", 6) == 0)
		return xrsse_end(x, out);
	j = xlate_parse(data, len);
	if (!xl_is(j, json_type_object)) {
		json_object_put(j);
		x->dropped++;
		return RE_OK;
	}
	if (xl_streq(name, "error") || xl_get(j, "error"))
		rc = failed(x, j, out);
	else
		rc = chunk(x, j, out);
	json_object_put(j);
	return rc;
}

static void on_event(void *ctx, unsigned long long s, unsigned long long e,
		     const char *data, size_t len)
{
	struct xrsse *x = ctx;

	(void)s;
	(void)e;
	if (x->err == RE_OK)
		x->err = xrsse_event(x, x->p.event, data, len, x->sink);
}

enum relay_err xrsse_feed(struct xrsse *x, const char *data, size_t n,
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

/* ---- a whole answer as a stream ---- */

/* The events of one finished item (added, its parts and deltas, done). */
static enum relay_err replay_item(struct xrsse *x, struct json_object *it,
				  int i, struct buf *out)
{
	const char *t = xl_str(it, "type");
	struct json_object *part, *ev;
	int rs = xl_streq(t, "reasoning");
	enum relay_err rc;

	if (xl_streq(t, "function_call")) {
		struct json_object *tc = json_object_new_object(), *f = json_object_new_object();

		xl_add_ref(tc, "id", xl_get(it, "call_id"));
		xl_add_ref(f, "name", xl_get(it, "name"));
		xl_add_ref(f, "arguments", xl_get(it, "arguments"));
		xl_add(tc, "function", f);
		xl_add(tc, "index", json_object_new_int(i));
		rc = tool_delta(x, tc, out);
		json_object_put(tc);
		return rc == RE_OK ? tools_close(x, out) : rc;
	}
	part = xl_first(xl_get(it, rs ? "summary" : "content"));
	if (!rs && !xl_streq(t, "message"))
		return RE_OK;
	ev = json_object_new_string(xl_str(part, "text") ? xl_str(part, "text") : "");
	rc = open_text(x, rs ? XR_RS : XR_MSG, out);
	if (rc == RE_OK)
		rc = text_delta(x, rs ? XR_RS : XR_MSG, ev, out);
	json_object_put(ev);
	return rc == RE_OK ? close_text(x, out) : rc;
}

enum relay_err xrsse_from_answer(struct json_object *ans, struct buf *out)
{
	struct xrsse x;
	struct json_object *output = xl_get(ans, "output"), *u = xl_get(ans, "usage");
	struct xlate_info info;
	enum relay_err rc;
	size_t i, n;

	memset(&info, 0, sizeof info);
	snprintf(info.model, sizeof info.model, "%s", xl_str(ans, "model") ? xl_str(ans, "model") : "");
	xrsse_init(&x, NULL, &info);
	x.o.now = xl_int(ans, "created_at");
	x.started = 1;
	snprintf(x.id, sizeof x.id, "%s", xl_str(ans, "id") ? xl_str(ans, "id") : "resp_xlate");
	rc = emit_response(&x, out, "response.created", "in_progress", NULL);
	if (rc == RE_OK)
		rc = emit_response(&x, out, "response.in_progress", "in_progress", NULL);
	n = xl_is(output, json_type_array) ? json_object_array_length(output) : 0;
	for (i = 0; i < n && rc == RE_OK; i++)
		rc = replay_item(&x, json_object_array_get_idx(output, i), (int)i, out);
	x.in = xl_count(u, "input_tokens");
	x.out = xl_count(u, "output_tokens");
	x.cached = xl_count(xl_get(u, "input_tokens_details"), "cached_tokens");
	x.reasoning = xl_count(xl_get(u, "output_tokens_details"), "reasoning_tokens");
	if (xl_streq(xl_str(ans, "status"), "incomplete"))
		x.finish = xl_streq(xl_str(xl_get(ans, "incomplete_details"), "reason"),
				    "content_filter") ? "content_filter" : "length";
	if (rc == RE_OK)
		rc = xrsse_end(&x, out);
	xrsse_free(&x);
	return rc;
}
