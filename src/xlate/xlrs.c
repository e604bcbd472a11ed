/* xlrs.c - Responses API <-> Chat Completions, requests and non-stream
 * answers (xlrs.h). */
#include <stdio.h>
#include <string.h>
#include <json-c/json.h>
#include "xlrs.h"
#include "xlpriv.h"

/* Sets why (if room) and returns RE_EINVAL. */
static enum relay_err refuse(char *why, size_t whylen, const char *msg,
			     const char *arg)
{
	if (why && whylen)
		snprintf(why, whylen, msg, arg ? arg : "");
	return RE_EINVAL;
}

static struct json_object *chat_msg(const char *role)
{
	struct json_object *m = json_object_new_object();

	if (m)
		xl_add(m, "role", json_object_new_string(role));
	return m;
}

/* One content part of a Responses message as a Chat part (new object), or
 * NULL with *bad = 1 when the part cannot be expressed. */
static struct json_object *rq_part(struct json_object *p, struct xlate_note *n,
				   int *bad)
{
	const char *t = xl_str(p, "type");
	struct json_object *o, *iu;

	if (xl_streq(t, "input_text") || xl_streq(t, "output_text") ||
	    xl_streq(t, "text") || xl_streq(t, "summary_text")) {
		o = json_object_new_object();
		xl_add(o, "type", json_object_new_string("text"));
		xl_add_ref(o, "text", xl_get(p, "text"));
		return o;
	}
	if (xl_streq(t, "input_image") && xl_str(p, "image_url")) {
		o = json_object_new_object();
		iu = json_object_new_object();
		xl_add(o, "type", json_object_new_string("image_url"));
		xl_add_ref(iu, "url", xl_get(p, "image_url"));
		if (xl_str(p, "detail"))
			xl_add_ref(iu, "detail", xl_get(p, "detail"));
		xl_add(o, "image_url", iu);
		return o;
	}
	if (xl_streq(t, "refusal")) {
		xlate_note_add(n, "dropped refusal part");
		return NULL;
	}
	*bad = 1;
	return NULL;
}

/* The content of a Responses message (string or parts) as Chat content:
 * a string for system and assistant turns (what every chat backend takes),
 * parts for user turns. */
static enum relay_err rq_content(struct json_object *c, int as_string,
				 struct xlate_note *n, struct json_object **out,
				 char *why, size_t whylen)
{
	struct json_object *arr, *p;
	struct buf b;
	size_t i, len;
	int bad = 0;
	enum relay_err rc = RE_OK;

	*out = NULL;
	if (xl_is(c, json_type_string)) {
		*out = json_object_get(c);
		return RE_OK;
	}
	if (!xl_is(c, json_type_array))
		return refuse(why, whylen, "input: a message's content must be a string or an array%s", NULL);
	arr = json_object_new_array();
	len = json_object_array_length(c);
	for (i = 0; i < len && !bad; i++) {
		p = rq_part(json_object_array_get_idx(c, i), n, &bad);
		if (p)
			xl_push(arr, p);
	}
	if (bad) {
		json_object_put(arr);
		p = json_object_array_get_idx(c, i - 1);
		return refuse(why, whylen, "input: content part type `%.60s` cannot be sent to a chat-only backend",
			      xl_str(p, "type") ? xl_str(p, "type") : "?");
	}
	if (!as_string) {
		*out = arr;
		return RE_OK;
	}
	buf_init(&b, XL_TEXT_MAX);
	bad = 0;
	rc = xl_join_text(arr, "\n", &b, &bad);
	if (bad)
		xlate_note_add(n, "dropped non-text parts of a system/assistant turn");
	if (rc == RE_OK)
		*out = xl_buf_string(&b);
	buf_free(&b);
	json_object_put(arr);
	return rc == RE_OK && !*out ? RE_ENOMEM : rc;
}

/* The assistant message at the end of msgs that function calls can join,
 * or a new one appended. Borrowed. */
static struct json_object *rq_assistant(struct json_object *msgs)
{
	size_t n = json_object_array_length(msgs);
	struct json_object *last = n ? json_object_array_get_idx(msgs, n - 1) : NULL;
	struct json_object *m;

	if (last && xl_streq(xl_str(last, "role"), "assistant"))
		return last;
	m = chat_msg("assistant");
	xl_add(m, "content", NULL);
	if (xl_push(msgs, m))
		return NULL;
	return m;
}

static enum relay_err rq_function_call(struct json_object *it,
				       struct json_object *msgs,
				       char *why, size_t whylen)
{
	struct json_object *m = rq_assistant(msgs), *tcs, *tc, *f;
	const char *args = xl_str(it, "arguments");

	if (!xl_str(it, "call_id") || !xl_str(it, "name"))
		return refuse(why, whylen, "input: a function_call item needs call_id and name%s", NULL);
	if (!m)
		return RE_ENOMEM;
	tcs = xl_get(m, "tool_calls");
	if (!xl_is(tcs, json_type_array)) {
		tcs = json_object_new_array();
		xl_add(m, "tool_calls", tcs);
	}
	tc = json_object_new_object();
	f = json_object_new_object();
	xl_add_ref(tc, "id", xl_get(it, "call_id"));
	xl_add(tc, "type", json_object_new_string("function"));
	xl_add_ref(f, "name", xl_get(it, "name"));
	xl_add(f, "arguments", json_object_new_string(args ? args : "{}"));
	xl_add(tc, "function", f);
	return xl_push(tcs, tc) ? RE_ENOMEM : RE_OK;
}

static enum relay_err rq_function_output(struct json_object *it,
					 struct json_object *msgs,
					 struct xlate_note *n,
					 char *why, size_t whylen)
{
	struct json_object *m, *c = NULL, *o = xl_get(it, "output");
	enum relay_err rc;

	if (!xl_str(it, "call_id"))
		return refuse(why, whylen, "input: a function_call_output item needs call_id%s", NULL);
	if (xl_is(o, json_type_string) || xl_is(o, json_type_array)) {
		rc = rq_content(o, 1, n, &c, why, whylen);
		if (rc)
			return rc;
	} else {
		c = json_object_new_string(o ? json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN) : "");
	}
	m = chat_msg("tool");
	xl_add_ref(m, "tool_call_id", xl_get(it, "call_id"));
	xl_add(m, "content", c);
	return xl_push(msgs, m) ? RE_ENOMEM : RE_OK;
}

/* One input item appended to msgs as Chat messages. */
static enum relay_err rq_item(struct json_object *it, struct json_object *msgs,
			      struct xlate_note *n, char *why, size_t whylen)
{
	const char *t = xl_str(it, "type"), *role = xl_str(it, "role");
	struct json_object *m, *c = NULL;
	enum relay_err rc;
	int sys;

	if (!xl_is(it, json_type_object))
		return refuse(why, whylen, "input: every item must be an object%s", NULL);
	if (xl_streq(t, "function_call"))
		return rq_function_call(it, msgs, why, whylen);
	if (xl_streq(t, "function_call_output"))
		return rq_function_output(it, msgs, n, why, whylen);
	if (xl_streq(t, "reasoning")) {
		xlate_note_add(n, "dropped reasoning items");
		return RE_OK;
	}
	if (t && !xl_streq(t, "message"))
		return refuse(why, whylen, "input: item type `%.60s` cannot be sent to a chat-only backend", t);
	if (!xl_streq(role, "user") && !xl_streq(role, "assistant") &&
	    !xl_streq(role, "system") && !xl_streq(role, "developer"))
		return refuse(why, whylen, "input: a message's role must be user, assistant, system or developer%s", NULL);
	/* developer is the Responses name of the system turn; chat-only
	 * providers mostly know only "system" */
	sys = !xl_streq(role, "user") && !xl_streq(role, "assistant");
	rc = rq_content(xl_get(it, "content"), !xl_streq(role, "user"), n, &c,
			why, whylen);
	if (rc)
		return rc;
	m = chat_msg(sys ? "system" : role);
	xl_add(m, "content", c);
	return xl_push(msgs, m) ? RE_ENOMEM : RE_OK;
}

static enum relay_err rq_messages(struct json_object *in, struct json_object *req,
				  struct xlate_note *n, char *why, size_t whylen)
{
	struct json_object *msgs = json_object_new_array(), *m;
	struct json_object *input = xl_get(in, "input");
	enum relay_err rc = RE_OK;
	size_t i, len;

	if (!msgs)
		return RE_ENOMEM;
	xl_add(req, "messages", msgs);
	if (xl_str(in, "instructions") && *xl_str(in, "instructions")) {
		m = chat_msg("system");
		xl_add_ref(m, "content", xl_get(in, "instructions"));
		xl_push(msgs, m);
	}
	if (xl_is(input, json_type_string)) {
		m = chat_msg("user");
		xl_add_ref(m, "content", input);
		return xl_push(msgs, m) ? RE_ENOMEM : RE_OK;
	}
	if (!xl_is(input, json_type_array))
		return refuse(why, whylen, "input: a string or an array of items is required%s", NULL);
	len = json_object_array_length(input);
	for (i = 0; i < len && rc == RE_OK; i++)
		rc = rq_item(json_object_array_get_idx(input, i), msgs, n, why, whylen);
	if (rc == RE_OK && json_object_array_length(msgs) == 0)
		rc = refuse(why, whylen, "input: no message to send%s", NULL);
	return rc;
}

/* Appends function tool t as a Chat tool to out. */
static void rq_fn_tool(struct json_object *out, struct json_object *t)
{
	struct json_object *f = json_object_new_object(), *w;

	xl_add_ref(f, "name", xl_get(t, "name"));
	if (xl_get(t, "description"))
		xl_add_ref(f, "description", xl_get(t, "description"));
	if (xl_get(t, "parameters"))
		xl_add_ref(f, "parameters", xl_get(t, "parameters"));
	else
		xl_add(f, "parameters", json_tokener_parse("{\"type\":\"object\",\"properties\":{}}"));
	if (xl_is(xl_get(t, "strict"), json_type_boolean))
		xl_add_ref(f, "strict", xl_get(t, "strict"));
	w = json_object_new_object();
	xl_add(w, "type", json_object_new_string("function"));
	xl_add(w, "function", f);
	xl_push(out, w);
}

/* Adds type ty to the list of refused tool types in bad. */
static void rq_bad_tool(char *bad, size_t cap, const char *ty)
{
	size_t bl = strlen(bad);

	if (!strstr(bad, ty) && bl + strlen(ty) + 3 < cap)
		snprintf(bad + bl, cap - bl, "%s%s", bl ? ", " : "", ty);
}

/* Function tools as Chat tools, and the function tools of a `namespace`
 * group (Codex's sub-agent tools) flattened with a note; every other
 * tool type (built-in tools a chat backend cannot run) is named in why. */
static enum relay_err rq_tools(struct json_object *in, struct json_object *req,
			       struct xlate_note *n, char *why, size_t whylen)
{
	struct json_object *tools = xl_get(in, "tools"), *out, *t, *sub;
	char bad[200] = "";
	size_t i, k, len;

	if (!xl_is(tools, json_type_array) || !json_object_array_length(tools))
		return RE_OK;
	out = json_object_new_array();
	len = json_object_array_length(tools);
	for (i = 0; i < len; i++) {
		t = json_object_array_get_idx(tools, i);
		if (xl_streq(xl_str(t, "type"), "function") && xl_str(t, "name")) {
			rq_fn_tool(out, t);
			continue;
		}
		sub = xl_get(t, "tools");
		if (!xl_streq(xl_str(t, "type"), "namespace") || !xl_is(sub, json_type_array)) {
			rq_bad_tool(bad, sizeof bad, xl_str(t, "type") ? xl_str(t, "type") : "?");
			continue;
		}
		xlate_note_add(n, "flattened namespace tools");
		for (k = 0; k < json_object_array_length(sub); k++) {
			struct json_object *st = json_object_array_get_idx(sub, k);

			if (xl_streq(xl_str(st, "type"), "function") && xl_str(st, "name"))
				rq_fn_tool(out, st);
			else
				rq_bad_tool(bad, sizeof bad, xl_str(st, "type") ? xl_str(st, "type") : "?");
		}
	}
	if (bad[0]) {
		json_object_put(out);
		return refuse(why, whylen, "tools: built-in tools cannot run on a chat-only backend: %s", bad);
	}
	xl_add(req, "tools", out);
	return RE_OK;
}

static enum relay_err rq_tool_choice(struct json_object *in, struct json_object *req,
				     char *why, size_t whylen)
{
	struct json_object *tc = xl_get(in, "tool_choice"), *o, *f;

	if (!tc)
		return RE_OK;
	if (xl_is(tc, json_type_string)) {
		xl_add_ref(req, "tool_choice", tc);
		return RE_OK;
	}
	if (xl_streq(xl_str(tc, "type"), "function") && xl_str(tc, "name")) {
		o = json_object_new_object();
		f = json_object_new_object();
		xl_add(o, "type", json_object_new_string("function"));
		xl_add_ref(f, "name", xl_get(tc, "name"));
		xl_add(o, "function", f);
		xl_add(req, "tool_choice", o);
		return RE_OK;
	}
	return refuse(why, whylen, "tool_choice of type `%.60s` cannot be sent to a chat-only backend",
		      xl_str(tc, "type") ? xl_str(tc, "type") : "?");
}

/* text.format -> response_format. */
static void rq_format(struct json_object *in, struct json_object *req,
		      struct xlate_note *n)
{
	struct json_object *text = xl_get(in, "text");
	struct json_object *f = xl_get(text, "format"), *rf, *js;
	const char *t = xl_str(f, "type");
	static const char *const keys[] = { "name", "schema", "strict", "description" };
	size_t i;

	if (xl_get(text, "verbosity"))
		xlate_note_add(n, "dropped text.verbosity");
	if (!t || xl_streq(t, "text"))
		return;
	rf = json_object_new_object();
	xl_add(rf, "type", json_object_new_string(t));
	if (xl_streq(t, "json_schema")) {
		js = json_object_new_object();
		for (i = 0; i < sizeof keys / sizeof keys[0]; i++)
			if (xl_get(f, keys[i]))
				xl_add_ref(js, keys[i], xl_get(f, keys[i]));
		xl_add(rf, "json_schema", js);
	}
	xl_add(req, "response_format", rf);
}

/* The plain settings: copied, renamed or dropped with a note. */
static void rq_settings(struct json_object *in, struct json_object *req,
			const struct xlate_opts *o, struct xlate_note *n)
{
	static const char *const same[] = { "temperature", "top_p",
		"parallel_tool_calls", "user" };
	static const char *const drop[] = { "metadata", "include", "truncation",
		"prompt_cache_key", "service_tier", "safety_identifier",
		"max_tool_calls", "top_logprobs", "prompt" };
	struct json_object *r = xl_get(in, "reasoning"), *so;
	size_t i;

	for (i = 0; i < sizeof same / sizeof same[0]; i++)
		if (xl_get(in, same[i]))
			xl_add_ref(req, same[i], xl_get(in, same[i]));
	for (i = 0; i < sizeof drop / sizeof drop[0]; i++)
		if (xl_get(in, drop[i]))
			xlate_note_add(n, "dropped %s", drop[i]);
	if (xl_get(in, "max_output_tokens"))
		xl_add_ref(req, "max_tokens", xl_get(in, "max_output_tokens"));
	if (xl_str(r, "effort")) {
		if (o && o->reasoning_effort)
			xl_add_ref(req, "reasoning_effort", xl_get(r, "effort"));
		else
			xlate_note_add(n, "dropped reasoning.effort");
	}
	if (xl_get(r, "summary"))
		xlate_note_add(n, "dropped reasoning.summary");
	if (fmt_is_stream(in)) {
		xl_add(req, "stream", json_object_new_boolean(1));
		/* the usage chunk: response.completed needs it */
		so = json_object_new_object();
		xl_add(so, "include_usage", json_object_new_boolean(1));
		xl_add(req, "stream_options", so);
	}
}

enum relay_err xlrs_request(struct json_object *in, const struct xlate_opts *o,
			    struct json_object **out, struct xlate_info *info,
			    struct xlate_note *n, char *why, size_t whylen)
{
	struct json_object *req;
	enum relay_err rc;

	*out = NULL;
	if (why && whylen)
		why[0] = '\0';
	if (!xl_is(in, json_type_object))
		return refuse(why, whylen, "request body must be a JSON object%s", NULL);
	if (!xl_str(in, "model"))
		return refuse(why, whylen, "model: a string is required%s", NULL);
	if (xl_get(in, "previous_response_id") && !xl_is(xl_get(in, "previous_response_id"), json_type_null))
		return refuse(why, whylen, "previous_response_id is not available for this model: its backend "
			      "serves only Chat Completions; send the whole conversation in input%s", NULL);
	if (xl_get(in, "conversation"))
		return refuse(why, whylen, "conversation is not available for this model: its backend serves "
			      "only Chat Completions%s", NULL);
	req = json_object_new_object();
	if (!req)
		return RE_ENOMEM;
	xl_add_ref(req, "model", xl_get(in, "model"));
	rc = rq_messages(in, req, n, why, whylen);
	if (rc == RE_OK)
		rc = rq_tools(in, req, n, why, whylen);
	if (rc == RE_OK)
		rc = rq_tool_choice(in, req, why, whylen);
	if (rc) {
		json_object_put(req);
		return rc;
	}
	rq_format(in, req, n);
	rq_settings(in, req, o, n);
	if (info) {
		memset(info, 0, sizeof *info);
		info->stream = fmt_is_stream(in);
		info->include_usage = 1;
		snprintf(info->model, sizeof info->model, "%s", xl_str(in, "model"));
	}
	*out = req;
	return RE_OK;
}

/* ================= the answer ================= */

/* The Responses usage object for Chat usage u (a new object). */
static struct json_object *rs_usage(long long in, long long out, long long cached,
				    long long reasoning)
{
	struct json_object *u = json_object_new_object(), *d;

	if (!u)
		return NULL;
	xl_add(u, "input_tokens", json_object_new_int64(in));
	d = json_object_new_object();
	xl_add(d, "cached_tokens", json_object_new_int64(cached));
	xl_add(u, "input_tokens_details", d);
	xl_add(u, "output_tokens", json_object_new_int64(out));
	d = json_object_new_object();
	xl_add(d, "reasoning_tokens", json_object_new_int64(reasoning));
	xl_add(u, "output_tokens_details", d);
	xl_add(u, "total_tokens", json_object_new_int64(in + out));
	return u;
}

/* The helpers below are shared with xrsse.c (xlpriv.h). */
struct json_object *xlrs_usage_obj(long long in, long long out, long long cached,
				   long long reasoning)
{
	return rs_usage(in, out, cached, reasoning);
}

/* The response object around output (taken over). finish is the Chat
 * finish_reason (NULL = none yet: in_progress). */
struct json_object *xlrs_envelope(const char *id, long long created, const char *model,
				  const char *status, const char *finish,
				  struct json_object *output, struct json_object *usage)
{
	struct json_object *r = json_object_new_object(), *inc = NULL;

	if (!r) {
		json_object_put(output);
		json_object_put(usage);
		return NULL;
	}
	xl_add(r, "id", json_object_new_string(id));
	xl_add(r, "object", json_object_new_string("response"));
	xl_add(r, "created_at", json_object_new_int64(created));
	xl_add(r, "status", json_object_new_string(status));
	xl_add(r, "error", NULL);
	if (xl_streq(status, "incomplete")) {
		inc = json_object_new_object();
		xl_add(inc, "reason", json_object_new_string(
			       xl_streq(finish, "content_filter") ? "content_filter" :
			       "max_output_tokens"));
	}
	xl_add(r, "incomplete_details", inc);
	xl_add(r, "model", json_object_new_string(model ? model : ""));
	xl_add(r, "output", output ? output : json_object_new_array());
	xl_add(r, "parallel_tool_calls", json_object_new_boolean(1));
	xl_add(r, "tool_choice", json_object_new_string("auto"));
	xl_add(r, "tools", json_object_new_array());
	xl_add(r, "usage", usage);
	return r;
}

/* Responses status for a Chat finish_reason. */
const char *xlrs_status(const char *finish)
{
	return xl_streq(finish, "length") || xl_streq(finish, "content_filter") ?
		"incomplete" : "completed";
}

static struct json_object *rs_text_item(const char *type, const char *id,
					const char *text, size_t len)
{
	struct json_object *it = json_object_new_object(), *c, *p;

	xl_add(it, "id", json_object_new_string(id));
	xl_add(it, "type", json_object_new_string(type));
	c = json_object_new_array();
	p = json_object_new_object();
	if (xl_streq(type, "reasoning")) {
		xl_add(p, "type", json_object_new_string("summary_text"));
		xl_add(p, "text", json_object_new_string_len(text, (int)len));
		xl_push(c, p);
		xl_add(it, "summary", c);
		return it;
	}
	xl_add(it, "status", json_object_new_string("completed"));
	xl_add(it, "role", json_object_new_string("assistant"));
	xl_add(p, "type", json_object_new_string("output_text"));
	xl_add(p, "annotations", json_object_new_array());
	xl_add(p, "text", json_object_new_string_len(text, (int)len));
	xl_push(c, p);
	xl_add(it, "content", c);
	return it;
}

struct json_object *xlrs_text_item(const char *type, const char *id,
				   const char *text, size_t len)
{
	return rs_text_item(type, id, text, len);
}

struct json_object *xlrs_call_item(const char *call_id, const char *name,
				   const char *args, size_t len)
{
	struct json_object *it = json_object_new_object();
	char id[160];

	snprintf(id, sizeof id, "fc_%s", call_id);
	xl_add(it, "id", json_object_new_string(id));
	xl_add(it, "type", json_object_new_string("function_call"));
	xl_add(it, "status", json_object_new_string("completed"));
	xl_add(it, "arguments", json_object_new_string_len(args, (int)len));
	xl_add(it, "call_id", json_object_new_string(call_id));
	xl_add(it, "name", json_object_new_string(name));
	return it;
}

static void rs_calls(struct json_object *msg, struct json_object *output)
{
	struct json_object *tcs = xl_get(msg, "tool_calls"), *tc, *f;
	const char *args;
	char gen[32];
	size_t i, len;

	if (!xl_is(tcs, json_type_array))
		return;
	len = json_object_array_length(tcs);
	for (i = 0; i < len; i++) {
		tc = json_object_array_get_idx(tcs, i);
		f = xl_get(tc, "function");
		args = xl_str(f, "arguments");
		snprintf(gen, sizeof gen, "call_%zu", i);
		xl_push(output, xlrs_call_item(xl_str(tc, "id") ? xl_str(tc, "id") : gen,
					       xl_str(f, "name") ? xl_str(f, "name") : "",
					       args ? args : "", args ? strlen(args) : 0));
	}
}

enum relay_err xlrs_response(struct json_object *in, const struct xlate_opts *o,
			     const struct xlate_info *info,
			     struct json_object **out, struct xlate_note *n)
{
	struct json_object *ch, *msg, *output, *u, *res;
	const char *finish, *text, *rs, *cid = xl_str(in, "id");
	char id[200], iid[200];
	long long pt, cached;

	(void)n;
	*out = NULL;
	ch = xl_first(xl_get(in, "choices"));
	if (!xl_is(xl_get(in, "choices"), json_type_array) || !xl_is(ch, json_type_object))
		return RE_EINVAL;
	msg = xl_get(ch, "message");
	finish = xl_str(ch, "finish_reason");
	snprintf(id, sizeof id, "resp_%.150s", cid ? cid : "xlate");
	output = json_object_new_array();
	rs = xl_str(msg, "reasoning_content");
	if (rs && *rs) {
		snprintf(iid, sizeof iid, "rs_%.150s", cid ? cid : "xlate");
		xl_push(output, rs_text_item("reasoning", iid, rs, strlen(rs)));
	}
	text = xl_str(msg, "content");
	if ((text && *text) || !xl_is(xl_get(msg, "tool_calls"), json_type_array)) {
		snprintf(iid, sizeof iid, "msg_%.150s", cid ? cid : "xlate");
		xl_push(output, rs_text_item("message", iid, text ? text : "",
					     text ? strlen(text) : 0));
	}
	rs_calls(msg, output);
	u = xl_get(in, "usage");
	pt = xl_count(u, "prompt_tokens");
	cached = xl_count(xl_get(u, "prompt_tokens_details"), "cached_tokens");
	res = xlrs_envelope(id, xl_int(in, "created") ? xl_int(in, "created") : o ? o->now : 0,
			    info && info->model[0] ? info->model : xl_str(in, "model"),
			    xlrs_status(finish), finish, output,
			    rs_usage(pt, xl_count(u, "completion_tokens"), cached > pt ? pt : cached,
				     xl_count(xl_get(u, "completion_tokens_details"),
					      "reasoning_tokens")));
	if (!res)
		return RE_ENOMEM;
	*out = res;
	return RE_OK;
}

enum relay_err xlrs_request_text(const char *body, size_t len,
				 const struct xlate_opts *o, struct buf *out,
				 struct xlate_info *info, struct xlate_note *n,
				 char *why, size_t whylen)
{
	struct json_object *in = xlate_parse(body, len), *res = NULL;
	enum relay_err rc;

	if (!xl_is(in, json_type_object)) {
		json_object_put(in);
		return refuse(why, whylen, "request body is not a JSON object%s", NULL);
	}
	rc = xlrs_request(in, o, &res, info, n, why, whylen);
	if (rc == RE_OK)
		rc = xlate_dump(res, out);
	json_object_put(res);
	json_object_put(in);
	return rc;
}

enum relay_err xlrs_response_text(const char *body, size_t len,
				  const struct xlate_opts *o,
				  const struct xlate_info *info,
				  struct buf *out, struct xlate_note *n)
{
	struct json_object *in = xlate_parse(body, len), *res = NULL;
	enum relay_err rc;

	if (!xl_is(in, json_type_object)) {
		json_object_put(in);
		return RE_EINVAL;
	}
	rc = xlrs_response(in, o, info, &res, n);
	if (rc == RE_OK)
		rc = xlate_dump(res, out);
	json_object_put(res);
	json_object_put(in);
	return rc;
}
